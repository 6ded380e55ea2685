"""A reader of a running hub's Redis: a client and the namespace's keys, nothing started.

`mash report` from another shell while a year runs wants one hash and a few keys; building a
hub for it (the broker, its subscribers' declarations, faststream's imports) cost more than
reading them. This connects, reads the namespace's shard count, and closes.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError

from mash._config.settings import Settings, redact_url
from mash._runtime.clients import open_client
from mash._runtime.keys import Keys
from mash.errors import HubUnavailable


class HubReader:
    """`async with HubReader(settings) as hub:` then `hub.redis`, `hub.keys`, as on a Hub."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis: aioredis.Redis = aioredis.Redis()  # replaced on entering
        self.keys = Keys(settings.namespace)

    async def __aenter__(self) -> HubReader:
        secret = self.settings.redis_url
        if secret is None:
            raise HubUnavailable("reading a hub needs its Redis: give --redis-url")
        url = secret.get_secret_value()
        try:
            self.redis, _ = await open_client(url)
        except (RedisError, RedisClusterException, OSError, ValueError, TimeoutError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise HubUnavailable(f"cannot reach Redis at {redact_url(url)}: {why}") from exc
        config: Any = await self.redis.hgetall(self.keys.config())
        self.keys = Keys(
            self.settings.namespace,
            int(config.get(b"shards", b"1")),
            broadcast=config.get(b"team") == b"1",
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.redis.aclose()
