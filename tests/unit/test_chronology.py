"""A child's chronology is a pure function of the events: every one about the child, in event
time, decisions with reasons, flags with indicators, clocks with deadlines, London time."""

from __future__ import annotations

from datetime import timedelta

from mash._report.chronology import chronology, to_dict, to_text
from tests.factories import T0, contact, event


def story() -> list[object]:
    later = T0 + timedelta(hours=2)
    return [
        # Out of order on purpose: the chronology is in event time, not arrival order.
        event(
            "cse.flag", later, child="C1", agency="mash", level="medium", previous_level="none",
            indicators=["missing_repeat", "older_partner"],
        ),
        contact(children=("C1", "C2"), concerns=("16A", "3B")),
        event(
            "screening.decided", T0, child="C1", agency="mash", contact_id="c1", level=3,
            rag="amber", outcome="section17_assessment",
            decision_due=(T0 + timedelta(days=1)).isoformat(), thresholds="default",
            reasons=[{"id": "L3-NEGLECT", "level": 3, "text": "Neglect affecting health"}],
        ),
        event(
            "timescale.started", T0, child="C1", agency="mash", clock="assessment",
            clock_id="assessment.C1", deadline=(T0 + timedelta(days=60)).isoformat(),
        ),
        event(
            "timescale.breached", T0 + timedelta(days=61), child="C1", agency="mash",
            clock="assessment", clock_id="assessment.C1", started_at=T0.isoformat(),
            deadline=(T0 + timedelta(days=60)).isoformat(),
        ),
        event("missing.started", later, child="C2", missing_id="M1"),  # another child's
    ]  # fmt: skip


def test_every_event_about_the_child_in_event_time_with_its_detail() -> None:
    entries = chronology("C1", story())  # type: ignore[arg-type]
    kinds = [e.kind for e in entries]
    assert kinds == ["contact", "decision", "clock started", "CSE flag", "clock breached"]
    contact_entry, decision, started, flag, breached = entries
    assert contact_entry.what == "Contact from 2A Schools (school)"
    assert "concerns: 16A neglect; 3B domestic abuse: parent or carer" in contact_entry.details
    assert "also names: C2" in contact_entry.details
    assert "level 3 targeted, amber, section 17 assessment" in decision.what
    assert "reason L3-NEGLECT (level 3): Neglect affecting health" in decision.details
    assert started.details[0] == "deadline 2014-03-07 09:00 GMT"
    assert flag.what == "CSE flag: no risk → medium"
    assert flag.details == ("repeatedly missing", "older boyfriend or girlfriend")
    assert breached.what.startswith("Clock breached: assessment within 45 working days")


def test_a_household_contact_is_in_each_named_childs_chronology() -> None:
    entries = chronology("C2", story())  # type: ignore[arg-type]
    assert [e.kind for e in entries] == ["contact", "missing"]
    assert "also names: C1" in entries[0].details


def test_times_are_london_time_and_labelled() -> None:
    summer = contact(at=T0.replace(month=7))
    (entry,) = chronology("C1", [summer])
    assert to_dict("C1", [entry])["entries"][0]["at_london"] == "2014-07-06 10:00 BST"
    assert "2014-07-06 10:00 BST  contact" in to_text("C1", [entry])
