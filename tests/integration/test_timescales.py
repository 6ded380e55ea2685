"""Clocks through Redis: the deadline index, and breaches raised by ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mash._config.settings import DEFAULT_TIMESCALES, Settings
from mash._ops.status import open_clocks
from mash._runtime.hub import Hub
from mash.consumers import timescales
from mash.schemas import TimescaleBreached, parse_event_data
from tests.factories import settle

BACK = datetime(2014, 1, 11, 8, 15, tzinfo=UTC)


def returned(child: str, hours: float) -> object:
    at = BACK + timedelta(hours=hours)
    return parse_event_data(
        {
            "event_id": f"ret.{child}",
            "type": "missing.returned",
            "occurred_at": at.isoformat(),
            "recorded_at": at.isoformat(),
            "child_id": child,
            "agency": "police",
            "missing_id": f"M-{child}",
        }
    )


async def test_ticks_breach_only_the_due_clocks_and_the_index_follows(settings: Settings) -> None:
    async with Hub(settings, [timescales.build(DEFAULT_TIMESCALES)]) as hub:
        await settle(hub, [returned(f"K{i}", hours=i) for i in range(5)])
        index = hub.keys.due(0)
        scores = dict(await hub.redis.zrange(index, 0, -1, withscores=True))
        # Due the first instant after each deadline (72 hours after each return).
        assert {k.decode(): v for k, v in scores.items()} == {
            f"K{i}": (BACK + timedelta(hours=72 + i, microseconds=1)).timestamp() for i in range(5)
        }
        # 73.5 hours after the first return: K0 and K1 are overdue, the others are not.
        await settle(hub, at=BACK + timedelta(hours=73, minutes=30))
        breaches = [e for e in await hub.read("timescales") if isinstance(e, TimescaleBreached)]
        assert sorted((b.child_id, b.occurred_at) for b in breaches) == [
            ("K0", BACK + timedelta(hours=72)),
            ("K1", BACK + timedelta(hours=73)),
        ]
        remaining = {k.decode() for k in await hub.redis.zrange(index, 0, -1)}
        assert remaining == {"K2", "K3", "K4"}
        listed = await open_clocks(hub)
        assert [(child, clock.breached) for child, clock in listed] == [
            ("K0", True),
            ("K1", True),
            ("K2", False),
            ("K3", False),
            ("K4", False),
        ]
        # Another watermark changes nothing more: each breach is raised once.
        await settle(hub, at=BACK + timedelta(hours=73, minutes=31))
        again = [e for e in await hub.read("timescales") if isinstance(e, TimescaleBreached)]
        assert len(again) == 2
