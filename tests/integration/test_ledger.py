"""The ledger service's rules, on the in-memory store and on both real stores."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.catalog import load_catalog
from bot.core.ledger import KeyReused, Ledger, LedgerError, UnknownEvent

EVENTS = Path(__file__).resolve().parents[2] / "events.json"
CREW_TZ = ZoneInfo("America/Los_Angeles")
JADA = "2026-05-23-jada-charter"  # $1,560.00 total


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(datetime(2026, 5, 20, 17, 0, tzinfo=UTC))


@pytest.fixture
def ledger(store, clock):
    return Ledger(store, load_catalog(EVENTS), CREW_TZ, clock=clock)


def record(ledger, amount="100", *, key, event=JADA, patron="Ana Ruiz", method="cash", notes=""):
    return ledger.record_payment(event_id=event, patron=patron, amount=amount, method=method, notes=notes,
                                 logged_by="U0CREW0001", idempotency_key=key)


def test_record_payment_returns_the_new_balance(ledger):
    result = record(ledger, "$1,000.00", key="k1", notes="deposit, check #1042")
    assert result.replayed is False
    assert result.payment.amount_cents == 100_000
    assert result.payment.notes == "deposit, check #1042"
    assert (result.status.paid_cents, result.status.total_cents, result.status.balance_cents) == (
        100_000, 156_000, 56_000)
    assert result.status.cleared is False
    last = record(ledger, "560", key="k2")
    assert last.status.balance_cents == 0 and last.status.cleared is True
    assert ledger.status(JADA).payment_count == 2


def test_every_bad_field_is_reported_at_once(ledger):
    with pytest.raises(LedgerError) as refused:
        ledger.record_payment(event_id="no-such-event", patron="   ", amount="12.345", method="bitcoin",
                              notes="x" * 501, logged_by="U1", idempotency_key="k")
    errors = refused.value.errors
    assert set(errors) == {"event", "patron", "amount", "method", "notes"}
    assert "no event 'no-such-event'" in errors["event"]
    assert errors["patron"] == "Enter the patron's name."
    assert "more than two decimals" in errors["amount"]
    assert "'bitcoin' is not a payment method" in errors["method"]
    assert "501 characters; the limit is 500" in errors["notes"]
    assert ledger.store.event_payments(JADA) == []


@pytest.mark.parametrize("amount, message", [
    ("-5", "positive"), ("0", "more than $0.00"), ("1e3", "not a dollar amount"), ("nan", "not a dollar amount"),
    ("", "Enter the amount"), ("1000001", "limit"),
])
def test_refused_amounts(ledger, amount, message):
    with pytest.raises(LedgerError) as refused:
        record(ledger, amount, key="k")
    assert message in refused.value.errors["amount"]


def test_patron_limits_and_whitespace(ledger):
    with pytest.raises(LedgerError) as refused:
        record(ledger, patron="x" * 101, key="k")
    assert "101 characters; the limit is 100" in refused.value.errors["patron"]
    result = record(ledger, patron="  Ana \n  Ruiz ", key="k2")
    assert result.payment.patron == "Ana Ruiz"


def test_method_is_case_insensitive_and_stripe_is_reserved(ledger):
    assert record(ledger, method="Venmo", key="k1").payment.method == "venmo"
    with pytest.raises(LedgerError) as refused:
        record(ledger, method="stripe", key="k2")
    assert "cash, card, check, venmo, zelle" in refused.value.errors["method"]


def test_over_the_balance_says_by_how_much(ledger):
    record(ledger, "1,500", key="k1")
    with pytest.raises(LedgerError) as refused:
        record(ledger, "100", key="k2")
    assert refused.value.errors["amount"] == (
        "$100.00 is $40.00 more than the balance: $60.00 is still owed on JADA Charter ($1,560.00 total).")
    record(ledger, "60", key="k3")
    with pytest.raises(LedgerError) as refused:
        record(ledger, "1", key="k4")
    assert refused.value.errors["amount"] == "JADA Charter is already paid in full ($1,560.00); nothing is owed."


def test_same_key_twice_records_once(ledger):
    first = record(ledger, "250", key="V123")
    again = record(ledger, "250", key="V123")
    assert again.replayed is True
    assert again.payment == first.payment
    assert ledger.status(JADA).paid_cents == 25_000
    assert len(ledger.event_payments(JADA)) == 1


def test_same_key_with_another_payment_is_refused_and_records_nothing(ledger):
    first = record(ledger, "250", key="api:page-1", notes="deposit")
    for other in ({"amount": "260"}, {"patron": "Bo Chen"}, {"method": "venmo"}, {"notes": "balance"},
                  {"event": "2027-01-16-whale-watch-charter"}, {"amount": "not money"}, {"event": "nope"}):
        with pytest.raises(KeyReused) as refused:
            record(ledger, **{"amount": "250", "notes": "deposit", **other}, key="api:page-1")
        assert refused.value.first == first.payment
        assert refused.value.errors == {"idempotency_key": (
            f"This request's key was already used for another payment ({first.payment.payment_id}: $250.00 on "
            f"{JADA}); nothing new was recorded.")}
    # The same payment as typed another way: the event's short name, a dollar sign, extra spaces, capitals.
    again = record(ledger, "$250.00", key="api:page-1", event="jada", patron=" Ana  Ruiz ", method="CASH",
                   notes="deposit ")
    assert again.replayed is True and again.payment == first.payment
    assert ledger.status(JADA).paid_cents == 25_000
    assert len(ledger.event_payments(JADA)) == 1


def test_lone_surrogates_are_refused_by_field(ledger):
    with pytest.raises(LedgerError) as refused:
        record(ledger, key="k", patron="Ana \ud800", notes="\udfff")
    assert set(refused.value.errors) == {"patron", "notes"}
    assert ledger.status(JADA).payment_count == 0


def test_void_reverses_and_is_idempotent(ledger, clock):
    paid = record(ledger, "300", key="k1").payment
    clock.now += timedelta(minutes=3)
    result = ledger.void_payment(paid.payment_id, by="U0ADMIN0001")
    assert result.replayed is False
    assert result.payment.amount_cents == -30_000
    assert result.payment.voids == paid.payment_id
    assert result.payment.logged_by == "U0ADMIN0001"
    assert result.status.paid_cents == 0 and result.status.payment_count == 0
    again = ledger.void_payment(paid.payment_id, by="U0ADMIN0001")
    assert again.replayed is True and again.payment == result.payment
    assert ledger.status(JADA).paid_cents == 0
    with pytest.raises(LedgerError, match="is itself a void"):
        ledger.void_payment(result.payment.payment_id, by="U0ADMIN0001")
    with pytest.raises(LedgerError, match="There is no payment 'pay_nothing'"):
        ledger.void_payment("pay_nothing", by="U0ADMIN0001")


def test_a_void_makes_room_for_a_new_payment(ledger):
    full = record(ledger, "1560", key="k1").payment
    ledger.void_payment(full.payment_id, by="U0ADMIN0001")
    assert record(ledger, "1560", key="k2").status.cleared is True


def test_stripe_money_is_recorded_past_the_total(ledger):
    record(ledger, "1560", key="k1")
    result = ledger.record_stripe_payment(event_id=JADA, patron="Bea Chan", amount_cents=12_500,
                                          notes="cs_test_1", idempotency_key="evt_1")
    assert result.payment.method == "stripe" and result.payment.logged_by == "stripe"
    assert result.status.balance_cents == -12_500
    with pytest.raises(UnknownEvent):
        ledger.record_stripe_payment(event_id="nope", patron="x", amount_cents=1, notes="", idempotency_key="e2")


def test_day_is_the_crew_days_not_utc(ledger, clock):
    # 2026-05-21 02:30 UTC is still the evening of 2026-05-20 in San Diego.
    clock.now = datetime(2026, 5, 21, 2, 30, tzinfo=UTC)
    evening = record(ledger, "10", key="k1").payment
    assert evening.day == "2026-05-20"
    clock.now = datetime(2026, 5, 21, 8, 0, tzinfo=UTC)
    morning = record(ledger, "10", key="k2").payment
    assert morning.day == "2026-05-21"
    assert [p.payment_id for p in ledger.day_payments(date(2026, 5, 20))] == [evening.payment_id]
    assert [p.payment_id for p in ledger.day_payments(date(2026, 5, 21))] == [morning.payment_id]


def test_list_events_upcoming_first_then_past_when_asked(ledger, clock):
    clock.now = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    upcoming = [s.event.id for s in ledger.list_events()]
    assert upcoming == [
        "2026-12-05-holiday-lights-charter", "2026-12-12-birthday-afternoon", "2026-12-12-birthday-sail",
        "2027-01-16-whale-watch-charter",
    ]
    everything = [s.event.id for s in ledger.list_events(include_past=True)]
    assert everything == upcoming + [JADA, "gipsykings"]


def test_an_events_page_shows_the_first_events_and_sums_what_the_rest_owe(ledger, clock):
    clock.now = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    ledger.record_payment(event_id="2026-12-12-birthday-sail", patron="Ana Ruiz", amount="100", method="cash",
                          notes="", logged_by="U0CREW0001", idempotency_key="page-1")
    every = ledger.list_events(include_past=True)
    for room in (0, 2, len(every), len(every) + 3):
        page = ledger.events_page(include_past=True, room=room)
        assert page.shown == tuple(every[:room])
        assert page.hidden == max(len(every) - room, 0)
        assert page.hidden_owed_cents == sum(max(s.balance_cents, 0) for s in every[room:])
        assert page.owed_cents == sum(max(s.balance_cents, 0) for s in every)


def test_unknown_event_reads(ledger):
    with pytest.raises(UnknownEvent):
        ledger.status("nope")
    with pytest.raises(UnknownEvent):
        ledger.event_payments("nope")


def test_64_crew_racing_for_the_last_dollars(ledger):
    record(ledger, "1,500", key="deposit")  # $60.00 left
    barrier = threading.Barrier(64)

    def pay(i: int):
        barrier.wait()
        try:
            return record(ledger, "10", key=f"race-{i}")
        except LedgerError as exc:
            return exc

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(pay, range(64)))
    accepted = [r for r in results if not isinstance(r, LedgerError)]
    refused = [r for r in results if isinstance(r, LedgerError)]
    assert len(accepted) == 6
    assert len(refused) == 58
    assert all("already paid in full" in r.errors["amount"] or "more than the balance" in r.errors["amount"]
               for r in refused)
    status = ledger.status(JADA)
    assert (status.paid_cents, status.payment_count, status.cleared) == (156_000, 7, True)


def test_a_retry_after_the_event_cleared_answers_the_first_result(ledger):
    first = record(ledger, "1560", key="V-clear")
    again = record(ledger, "1560", key="V-clear")  # the balance is now 0: a fresh check would refuse it
    assert again.replayed is True and again.payment == first.payment
    assert ledger.replay("V-clear").payment == first.payment
    assert ledger.replay("V-never") is None
