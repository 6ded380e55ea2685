"""The runtime: Redis (embedded or given), the consumer edge, the hub, shards, leases, workers."""
