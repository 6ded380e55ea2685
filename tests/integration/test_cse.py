"""CSE risk through Redis: flags on change, de-escalation when a tick passes an expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mash._config.settings import DEFAULT_SCORING, Settings
from mash._ops.status import open_episodes
from mash._runtime.hub import Hub
from mash.consumers import cse
from mash.schemas import CSEFlag, CSELevel, DeadLetter, parse_event_data
from tests.factories import settle

T = datetime(2014, 1, 6, 10, tzinfo=UTC)


def ev(type_: str, at: datetime, child: str, **fields: object) -> object:
    return parse_event_data(
        {
            "event_id": f"{type_}.{child}.{at.isoformat()}",
            "type": type_,
            "occurred_at": at.isoformat(),
            "recorded_at": at.isoformat(),
            "child_id": child,
            "agency": "police",
            **fields,
        }
    )


async def test_flags_rise_and_fall_with_event_time(settings: Settings) -> None:
    async with Hub(settings, [cse.build(DEFAULT_SCORING)]) as hub:
        await hub.publish(
            [  # type: ignore[list-item]
                ev("missing.started", T, "K1", missing_id="K1-M1"),
                ev(
                    "missing.returned",
                    T + timedelta(hours=6),
                    "K1",
                    missing_id="K1-M1",
                    with_adults=True,
                ),
                ev("missing.started", T, "K2", missing_id="K2-M1"),
                ev("missing.returned", T, "K3", missing_id="K3-NONE"),
            ]
        )
        await settle(hub, at=T + timedelta(hours=6))
        # missing_with_adults counts 180 days: a watermark just before changes nothing, one
        # after brings K1 back to none, at the instant the window closed.
        await settle(hub, at=T + timedelta(days=180, hours=5))
        assert len([e for e in await hub.read("cse") if isinstance(e, CSEFlag)]) == 1
        await settle(hub, at=T + timedelta(days=181))
        flags = [e for e in await hub.read("cse") if isinstance(e, CSEFlag)]
        assert [(f.child_id, f.level, f.occurred_at) for f in flags] == [
            ("K1", CSELevel.HIGH, T + timedelta(hours=6)),
            ("K1", CSELevel.NONE, T + timedelta(days=180, hours=6)),
        ]
        dead = [e for e in await hub.read("dlq") if isinstance(e, DeadLetter)]
        assert [(d.reason, d.source_id) for d in dead] == [
            ("unknown_episode", f"missing.returned.K3.{T.isoformat()}")
        ]
        assert [child for child, _ in await open_episodes(hub)] == ["K2"]
        assert await hub.redis.zcard(hub.keys.due(0)) == 0
