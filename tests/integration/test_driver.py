"""The step-by-step test driver: pipe events in, advance event time, read what came out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mash.schemas import ScreeningDecided, TimescaleBreached
from mash.testing import AsyncDriver, Driver
from tests.factories import T0, contact


def test_a_contact_nobody_decides_breaches_its_decision_clock_a_working_day_later(
    redis_url: str,
) -> None:
    with Driver(redis_url, screening="manual") as hub:
        hub.pipe(contact(event_id="c1", at=T0))  # Monday 6 January 2014, 09:00
        assert [e.type for e in hub.take("timescales")] == ["timescale.started"] * 2
        hub.advance(timedelta(hours=12))
        assert hub.take("timescales") == []  # still Monday: due by the end of Tuesday
        hub.advance(timedelta(days=2))
        breaches = [e for e in hub.take("timescales") if isinstance(e, TimescaleBreached)]
        assert [(b.clock, b.occurred_at.isoformat()) for b in breaches] == [
            ("referral_decision", "2014-01-07T23:59:59+00:00")
        ]
        assert hub.now == T0 + timedelta(days=2, hours=12)


async def test_the_async_driver_decides_a_contact_at_its_instant(redis_url: str) -> None:
    async with AsyncDriver(redis_url) as hub:
        await hub.pipe(contact(event_id="c1", at=T0))
        (decision,) = await hub.read("decisions")
        assert isinstance(decision, ScreeningDecided)
        assert decision.contact_id == "c1" and decision.occurred_at == T0


def test_event_time_only_moves_forward(redis_url: str) -> None:
    with Driver(redis_url) as hub:
        hub.pipe(contact(event_id="late", at=T0 + timedelta(days=1)))
        with pytest.raises(ValueError, match="only moves forward"):
            hub.pipe(contact(event_id="early", at=T0))
        with pytest.raises(ValueError, match="cannot go back"):
            hub.advance(T0)
        with pytest.raises(ValueError, match="unknown stream"):
            hub.read("decision")
