from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mash.schemas import (
    EVENT_TYPES,
    STREAMS,
    ContactReceived,
    parse_event,
    parse_event_data,
    to_wire,
)
from mash.schemas.events import range_message
from tests.factories import contact, contact_data


def test_contact_round_trips_through_the_wire() -> None:
    event = contact()
    assert parse_event(to_wire(event)) == event


def test_every_event_type_has_a_stream_and_a_literal_type() -> None:
    assert len(EVENT_TYPES) == 30  # contact.handled: the team's queue
    assert set(STREAMS) == {
        "contacts",
        "missing",
        "casework",
        "queue",
        "clock",
        "decisions",
        "cse",
        "timescales",
        "dlq",
    }
    for name, model in EVENT_TYPES.items():
        assert model.stream in STREAMS
        assert model.model_fields["type"].default == name


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        parse_event_data(contact_data(concens=["16A"]))


def test_unknown_type_is_rejected() -> None:
    data = contact_data()
    data["type"] = "contact.recieved"
    with pytest.raises(ValidationError) as info:
        parse_event_data(data)
    assert info.value.errors()[0]["type"] == "union_tag_invalid"


def test_strict_models_do_not_coerce_numbers_from_text() -> None:
    with pytest.raises(ValidationError):
        parse_event(json.dumps(contact_data(urgent="yes")))


def test_unknown_code_is_rejected() -> None:
    with pytest.raises(ValidationError, match="16X"):
        parse_event_data(contact_data(concerns=("16X",)))


def test_out_of_range_event_time_is_rejected() -> None:
    data = contact_data()
    data["occurred_at"] = "1850-01-01T00:00:00+00:00"
    with pytest.raises(ValidationError) as info:
        parse_event_data(data)
    # The constraint runs in pydantic-core; people read the bound's reason.
    assert range_message(info.value.errors()[0]) == (
        "1850-01-01T00:00:00+00:00 is outside the supported range (1990 to 2099)"
    )


def test_naive_event_time_is_rejected() -> None:
    data = contact_data()
    data["occurred_at"] = "2014-01-01T09:00:00"
    with pytest.raises(ValidationError, match="timezone"):
        parse_event_data(data)


def test_events_are_frozen() -> None:
    event = contact()
    with pytest.raises(ValidationError):
        event.urgent = True  # type: ignore[misc]


def test_contact_child_id_must_be_the_first_child() -> None:
    data = contact_data(children=("C1", "C2"))
    data["child_id"] = "C2"
    with pytest.raises(ValidationError, match="first child"):
        parse_event_data(data)


def test_a_child_named_twice_is_rejected() -> None:
    with pytest.raises(ValidationError, match="named twice"):
        parse_event_data(contact_data(children=("C1", "C1")))


@settings(max_examples=400, deadline=None)
@given(
    instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    offset_minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    days_after=st.integers(270, 290),
    twins=st.booleans(),
)
# Written where it is already the next day (east of London), and the day before (west).
@example(instant=datetime(2014, 1, 10, 23, 30), offset_minutes=300, days_after=281, twins=False)
@example(instant=datetime(2014, 7, 10, 0, 30), offset_minutes=-600, days_after=280, twins=True)
def test_a_birth_up_to_a_full_term_after_the_contacts_london_date_is_accepted(
    instant: datetime, offset_minutes: int, days_after: int, twins: bool
) -> None:
    """The bound is the contact's date in London plus 280 days, however the instant is
    written: the check's shortcut (the date in the instant's own offset, a day's margin)
    accepts and rejects exactly as the rule does, around the bound, in every offset."""
    at = instant.replace(tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset_minutes)))
    london = at.astimezone(ZoneInfo("Europe/London")).date()
    dob = london + timedelta(days=days_after)
    data = contact_data(at=at, dob=dob, children=("C1", "C2") if twins else ("C1",))
    if dob <= london + timedelta(days=280):
        assert isinstance(parse_event_data(data), ContactReceived)
    else:
        with pytest.raises(ValidationError, match="after the contact"):
            parse_event_data(data)


def test_dob_far_after_the_contact_is_rejected_but_unborn_is_allowed() -> None:
    from datetime import date

    assert isinstance(contact(dob=date(2014, 5, 1)), ContactReceived)  # pre-birth contact
    with pytest.raises(ValidationError, match="after the contact"):
        contact(dob=date(2016, 1, 1))
