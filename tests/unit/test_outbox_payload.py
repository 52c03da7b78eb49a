"""An outbox entry as plain JSON (what Lambda's doorbell carries to the invocation it asks for) and back."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.core.domain import EventTotals, Payment, RecordOutcome
from bot.core.outbox import (
    AUDIT,
    HELD,
    PAYMENT_RECORDED,
    RECEIPT,
    Announced,
    Announcement,
    OutboxEntry,
    new_entry,
)

AT = datetime(2026, 12, 5, 18, 30, 15, 123456, tzinfo=UTC)


def an_entry(**changes) -> OutboxEntry:
    facts = {"payment": {"patron": "Zoë & <Ana> \"Ruiz\"", "amount_cents": 12_345, "voids": None},
             "event": {"id": "gala", "title": "Gala ☃"}, "paid_cents": 12_345, "channel": "C0AUDIT0001",
             "user": "U0CREW00001"}
    return replace(new_entry("pay_k7m2x9q4ab", PAYMENT_RECORDED, RECEIPT, facts, AT), **changes)


@pytest.mark.parametrize("entry", [
    an_entry(),
    an_entry(state=HELD, attempts=3, holder="host:1:abc", attempt="host:1:abc#7:line", in_doubt=True,
             due_at=AT + timedelta(seconds=30), last_error="ratelimited", result={"sent": True}),
    an_entry(created_at=AT.astimezone(timezone(timedelta(hours=-8))), due_at=None),
])
def test_an_entry_goes_through_json_and_comes_back_the_same(entry):
    back = OutboxEntry.from_dict(json.loads(json.dumps(entry.to_dict())))
    assert back == entry
    # byte for byte the facts the store keeps (what its claim compares)
    assert json.dumps(back.facts) == json.dumps(entry.facts)
    assert back.created_at.isoformat() == entry.created_at.isoformat()


@pytest.mark.parametrize("broken", [
    None, [], "pay_1:audit", {},
    {**an_entry().to_dict(), "facts": "not a dict"},
    {**an_entry().to_dict(), "attempts": "0"},
    {**an_entry().to_dict(), "attempts": True},
    {**an_entry().to_dict(), "in_doubt": 0},
    {**an_entry().to_dict(), "target": "sms"},
    {**an_entry().to_dict(), "created_at": "yesterday"},
    {**an_entry().to_dict(), "created_at": "2026-12-05T18:30:15"},  # no time zone
    {**an_entry().to_dict(), "entry_id": 7},
    {**an_entry().to_dict(), "holder": ["x"]},
])
def test_anything_else_is_refused_with_a_value_error(broken):
    with pytest.raises(ValueError, match="not an outbox entry"):
        OutboxEntry.from_dict(broken)


def test_only_an_entry_as_its_write_left_it_is_fresh():
    assert an_entry().fresh
    assert not an_entry(attempts=1).fresh
    assert not an_entry(in_doubt=True).fresh
    assert not an_entry(state=HELD).fresh


def test_announced_keeps_what_the_stores_write_built_last():
    def build(outcome: RecordOutcome) -> Announcement:
        facts = {"paid_cents": outcome.totals.paid_cents, "channel": "C0AUDIT0001"}
        return Announcement(None, (new_entry(outcome.payment.payment_id, PAYMENT_RECORDED, AUDIT, facts, AT),))

    announced = Announced(build)
    assert announced.entries == ()
    payment = Payment(payment_id="pay_1", event_id="gala", patron="Ana", amount_cents=100, method="cash", notes="",
                      logged_by="U0CREW00001", recorded_at=AT, day="2026-12-05")
    announced(RecordOutcome(payment, EventTotals("gala", 100, 1)))
    announced(RecordOutcome(payment, EventTotals("gala", 300, 2)))  # tried again under contention
    [entry] = announced.entries
    assert entry.facts["paid_cents"] == 300
