"""Building valid events with few words, for tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from mash.schemas import ContactReceived, parse_event_data

T0 = datetime(2014, 1, 6, 9, 0, tzinfo=UTC)


def contact_data(
    event_id: str = "c1",
    children: tuple[str, ...] = ("C1",),
    concerns: tuple[str, ...] = ("16A",),
    at: datetime = T0,
    dob: date = date(2008, 1, 1),
    **fields: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": event_id,
        "type": "contact.received",
        "occurred_at": at.isoformat(),
        "recorded_at": at.isoformat(),
        "child_id": children[0],
        "agency": "school",
        "correlation_id": event_id,
        "referral_source": "2A",
        "children": [{"child_id": c, "dob": dob.isoformat(), "sex": "F"} for c in children],
        "concerns": list(concerns),
    }
    data.update(fields)
    return data


def contact(**kwargs: Any) -> ContactReceived:
    event = parse_event_data(contact_data(**kwargs))
    assert isinstance(event, ContactReceived)
    return event


def event(
    type_: str,
    at: datetime,
    child: str | None = "C1",
    agency: str = "police",
    event_id: str | None = None,
    **fields: Any,
) -> Any:
    """Any event, by type and instant; the id defaults to type and instant."""
    data: dict[str, Any] = {
        "event_id": event_id or f"{type_}.{at.isoformat()}",
        "type": type_,
        "occurred_at": at.isoformat(),
        "recorded_at": at.isoformat(),
        "agency": agency,
    }
    if child is not None:
        data["child_id"] = child
    return parse_event_data(data | fields)


def tick(at: datetime) -> Any:
    return event("clock.tick", at, child=None, agency="mash", event_id=f"tick.{at.isoformat()}")


async def settle(
    hub: Any, events: Any = (), at: datetime | None = None, timeout: float = 30
) -> None:
    """Publish `events` and a watermark at `at` (default: the latest instant among them, else
    T0), and wait until every shard of the hub has applied it."""
    from mash._time.clock import tick as watermark

    listed = list(events)
    until = at or max((e.occurred_at for e in listed), default=T0)
    await hub.publish([*listed, watermark(until)])
    await hub.drain(until, timeout=timeout)
