"""A consumer of mash's streams written the way another team would: redis-py and the exported
JSON Schemas only, no mash code.

It reads every event of a hub namespace, checks each against the JSON Schema of its type
(`schemas/json/<type>.json`), and tallies them. Delivery is at least once, so it remembers
the `event_id`s it has handled and ignores a second delivery.

    python examples/external_consumer.py --redis-url redis://localhost:6379/0 --namespace mash
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import redis
from jsonschema import Draft202012Validator

STREAMS = ("contacts", "missing", "casework", "clock", "decisions", "cse", "timescales", "dlq")
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas" / "json"


def validators(folder: Path) -> dict[str, Draft202012Validator]:
    found = {}
    for path in sorted(folder.glob("*.json")):
        schema = json.loads(path.read_text())
        event_type = schema.get("properties", {}).get("type", {}).get("const")
        if event_type:
            found[event_type] = Draft202012Validator(schema)
    return found


def consume(client: redis.Redis, namespace: str, checks: dict[str, Draft202012Validator]) -> int:
    handled: set[str] = set()
    per_type: Counter[str] = Counter()
    invalid = 0
    # A sharded namespace splits every stream but the clock into :0 ... :N-1 (no order
    # across shards; a child's events are all on one).
    shards = int(client.hget(f"mash:{{{namespace}}}:config", "shards") or 1)
    for stream in STREAMS:
        key = f"mash:{{{namespace}}}:{stream}"
        keys = [key] if shards == 1 or stream == "clock" else [f"{key}:{n}" for n in range(shards)]
        for entry_id, fields in (entry for k in keys for entry in client.xrange(k)):
            event = json.loads(fields[b"event"])
            if event["event_id"] in handled:
                continue  # a redelivery: the event id is the idempotency key
            handled.add(event["event_id"])
            validator = checks.get(event.get("type", ""))
            errors = list(validator.iter_errors(event)) if validator else ["unknown type"]
            if errors:
                invalid += 1
                print(f"INVALID {stream} {entry_id.decode()}: {errors[0]}", file=sys.stderr)
            per_type[event.get("type", "?")] += 1
    for event_type, n in sorted(per_type.items()):
        print(f"{event_type} {n}")
    print(f"total {sum(per_type.values())} invalid {invalid}")
    return invalid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--namespace", default="mash")
    parser.add_argument("--schemas", type=Path, default=SCHEMAS)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    return 1 if consume(client, args.namespace, validators(args.schemas)) else 0


if __name__ == "__main__":
    sys.exit(main())
