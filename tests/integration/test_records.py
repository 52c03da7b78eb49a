"""The ledger's records past one event or one day (bot/core/records.py), on the in-memory store
and both real stores: what an export, a page of the web API and a search read, that every read
is bounded and indexed, and that the export's totals per event are /events' figures to the cent."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core.catalog import load_catalog
from bot.core.domain import Payment
from bot.core.ledger import Ledger, LedgerError, UnknownEvent
from bot.core.ports import StripeRefund, record_position
from bot.core.records import MAX_RANGE_DAYS, LedgerRecords, Selection, decode_cursor, encode_cursor
from infra.dynamo_store import DynamoStore
from infra.sqlite_store import SqliteStore

EVENTS = Path(__file__).resolve().parents[2] / "events.json"
LA = ZoneInfo("America/Los_Angeles")
JADA = "2026-05-23-jada-charter"
WHALE = "2027-01-16-whale-watch-charter"
GIPSY = "gipsykings"
GONE = "2026-04-01-taken-out"  # has records, but events.json no longer lists it


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Book:
    """A ledger written by hand at chosen moments, and the records service over the same store."""

    def __init__(self, store: Any):
        self.store = store
        self.clock = Clock(datetime(2026, 5, 1, 19, 0, tzinfo=UTC))
        catalog = load_catalog(EVENTS)
        self.ledger = Ledger(store, catalog, LA, clock=self.clock)
        self.records = LedgerRecords(store, catalog, LA, clock=self.clock)
        self._keys = 0

    def at(self, when: datetime) -> Book:
        self.clock.now = when
        return self

    def pay(self, event: str, amount: str, patron: str, *, notes: str = "", method: str = "cash") -> Payment:
        self._keys += 1
        return self.ledger.record_payment(event_id=event, patron=patron, amount=amount, method=method, notes=notes,
                                          logged_by="U0CREW00001", idempotency_key=f"k{self._keys}").payment

    def void(self, payment: Payment) -> Payment:
        return self.ledger.void_payment(payment.payment_id, by="U0ADMIN0001").payment

    def stripe(self, event: str, cents: int, patron: str, session: str) -> Payment:
        return self.ledger.record_stripe_payment(event_id=event, patron=patron, amount_cents=cents, notes=session,
                                                 idempotency_key=f"stripe:{session}").payment

    def gone(self, cents: int, patron: str) -> Payment:
        """A record of an event taken out of events.json since (written as it was, when it was listed)."""
        now = self.clock()
        self._keys += 1
        record = Payment(payment_id=f"pay_gone{self._keys:06d}", event_id=GONE, patron=patron, amount_cents=cents,
                         method="cash", notes="", logged_by="U0CREW00001", recorded_at=now,
                         day=now.astimezone(LA).date().isoformat())
        self.store.record_payment(record, total_cents=1_000_000, idempotency_key=f"k{self._keys}")
        return record


def la(day: int, hour: int, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LA).astimezone(UTC)


@pytest.fixture
def book(store) -> Book:
    return Book(store)


@pytest.fixture
def season(book: Book) -> dict[str, Payment]:
    """Three days of May in the crew's time zone, payments and voids on three listed events and one gone."""
    made = {
        "ana": book.at(la(1, 9)).pay(JADA, "500", "Ana Ruiz", method="venmo"),
        "bo": book.at(la(1, 23, 30)).pay(JADA, "100", "Bo & Co", notes="deposit at the dock"),  # May 2 in UTC
        "gone": book.at(la(2, 8)).gone(4_000, "Old Timer"),
        "ana2": book.at(la(2, 10)).pay(WHALE, "250", "ána  ruiz", notes="second payment"),
        "stripe": book.at(la(2, 12)).stripe(GIPSY, 12_500, "Cy Doe", "cs_test_a1B2c3"),
    }
    made["void"] = book.at(la(3, 11)).void(made["ana"])
    made["cy"] = book.at(la(3, 12)).pay(GIPSY, "75.50", "=cmd|' /C calc'!A0")
    return made


def ids(records) -> list[str]:
    return [getattr(r, "payment_id", None) or r.record_id for r in records]


# -- which records, in what order -------------------------------------------------------------------------------------


def test_every_listed_event_in_time_order_payments_and_reversals_alike(book, season):
    rows = list(book.records.rows(book.records.select()))
    assert ids(rows) == [season[k].payment_id for k in ("ana", "bo", "ana2", "stripe", "void", "cy")]
    void = rows[4]
    assert (void.amount_cents, void.reverses, void.kind, void.patron) == (-50_000, season["ana"].payment_id, "void",
                                                                          "Ana Ruiz")
    bo = rows[1]
    assert (bo.day, bo.time.isoformat(), bo.event_title) == ("2026-05-01", "2026-05-01T23:30:00-07:00",
                                                            "JADA Charter")
    stripe = rows[3]
    assert (stripe.source, stripe.stripe_id, stripe.logged_by, stripe.method) == (
        "stripe", "cs_test_a1B2c3", "stripe", "stripe")
    assert rows[0].stripe_id == "" and rows[0].source == "slack"


def test_the_export_per_event_is_events_figure_to_the_cent(book, season):
    export = book.records.export(book.records.select())
    per_event: dict[str, int] = defaultdict(int)
    for row in export.rows:
        per_event[row.event_id] += row.amount_cents
    for event in book.ledger.catalog.events:
        assert per_event.get(event.id, 0) == book.ledger.status(event.id).paid_cents, event.id
    assert per_event[JADA] == 10_000 and per_event[GIPSY] == 12_500 + 7_550
    tally = export.tally
    assert (tally.rows, tally.payments, tally.reversals) == (6, 5, 1)
    assert (tally.payments_cents, tally.reversals_cents, tally.net_cents) == (
        50_000 + 10_000 + 25_000 + 12_500 + 7_550, -50_000, 10_000 + 25_000 + 12_500 + 7_550)


def test_one_event_and_its_days_in_the_crew_time_zone(book, season):
    jada = book.records.select(event="jada")
    assert jada.event is not None and jada.event.id == JADA
    assert ids(book.records.records(jada)) == [season[k].payment_id for k in ("ana", "bo", "void")]
    # Bo paid at 23:30 on May 1 in San Diego (06:30 UTC on May 2): a May 1 record, read from midnight there.
    may1 = book.records.select(event="jada", first=date(2026, 5, 1), last=date(2026, 5, 1))
    assert ids(book.records.records(may1)) == [season["ana"].payment_id, season["bo"].payment_id]
    later = book.records.select(event=JADA, first=date(2026, 5, 2))
    assert ids(book.records.records(later)) == [season["void"].payment_id]


def test_a_date_range_is_every_record_of_those_days_an_event_no_longer_listed_included(book, season):
    may2 = book.records.select(first=date(2026, 5, 2), last=date(2026, 5, 2))
    assert ids(book.records.records(may2)) == [season[k].payment_id for k in ("gone", "ana2", "stripe")]
    assert book.records.row(season["gone"]).event_title == GONE  # no title left: its id
    to_may1 = book.records.select(last=date(2026, 5, 1))  # no first day: every listed event, up to May 1
    assert ids(book.records.records(to_may1)) == [season["ana"].payment_id, season["bo"].payment_id]
    assert list(book.records.records(book.records.select(first=date(2026, 6, 1)))) == []


def test_an_event_taken_out_of_events_json_is_found_by_its_exact_id(book, season):
    gone = book.records.select(event=GONE)
    assert gone.event is not None and gone.event.title == GONE
    assert ids(book.records.records(gone)) == [season["gone"].payment_id]
    assert season["gone"].payment_id not in ids(book.records.records(book.records.select()))  # "all": listed ones


def test_what_cannot_be_selected_is_refused_by_field(book, season):
    with pytest.raises(UnknownEvent) as unknown:
        book.records.select(event="nope")
    assert unknown.value.errors == {"event": "There is no event 'nope'. Run /events to see the event ids."}
    with pytest.raises(UnknownEvent):
        book.records.select(event="2026-04")  # part of a gone event's id: only its exact id finds it
    with pytest.raises(LedgerError) as backwards:
        book.records.select(first=date(2026, 5, 3), last=date(2026, 5, 1))
    assert backwards.value.errors == {"from": "The first day (2026-05-03) is after the last (2026-05-01)."}
    with pytest.raises(LedgerError) as too_long:
        book.records.select(first=date(2024, 12, 31), last=date(2026, 1, 1))
    assert too_long.value.errors["from"].startswith("2024-12-31 to 2026-01-01 is 367 days; a date range covers at "
                                                    "most 366 days")
    assert book.records.select(first=date(2025, 1, 1), last=date(2026, 1, 1)).first_day == date(2025, 1, 1)
    year = book.records.select(event=JADA, first=date(2020, 1, 1))  # one event: any range
    assert len(ids(book.records.records(year))) == 3
    assert MAX_RANGE_DAYS == 366
    assert book.records.select(event="ALL") == Selection()


def test_any_reversal_is_a_reversal_whatever_its_kind(book):
    # A Stripe refund (partial) goes through the same rows and totals as a void; a failed one puts its cents back.
    paid = book.at(la(1, 9)).ledger.record_stripe_payment(event_id=JADA, patron="Ana Ruiz", amount_cents=50_000,
                                             notes="cs_test_ana", idempotency_key="stripe:cs_test_ana",
                                             stripe_id="cs_test_ana", payment_intent="pi_test_ana").payment
    book.at(la(1, 10)).ledger.record_refund(paid, StripeRefund("re_test_1", 20_000, "usd", "succeeded", "pi_test_ana",
                                                               "ch_test_ana"))
    book.at(la(1, 11)).ledger.record_refund(paid, StripeRefund("re_test_2", 5_000, "usd", "succeeded", "pi_test_ana",
                                                               "ch_test_ana"))
    book.at(la(1, 12)).ledger.record_refund(paid, StripeRefund("re_test_2", 5_000, "usd", "failed", "pi_test_ana",
                                                               "ch_test_ana"), failed=True)
    export = book.records.export(book.records.select())
    assert [(r.kind, r.amount_cents, r.reverses, r.stripe_id) for r in export.rows] == [
        ("payment", 50_000, "", "cs_test_ana"), ("refund", -20_000, paid.payment_id, "re_test_1"),
        ("refund", -5_000, paid.payment_id, "re_test_2"), ("refund_failed", 5_000, paid.payment_id, "re_test_2")]
    assert (export.tally.reversals, export.tally.net_cents) == (3, 30_000)
    assert sum(r.amount_cents for r in export.rows) == book.ledger.status(JADA).paid_cents
    [ana] = book.records.find("ana").patrons
    assert (ana.total_cents, ana.payments) == (30_000, 1)


# -- pages -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("selection", [{}, {"event": JADA}, {"first": date(2026, 5, 1), "last": date(2026, 5, 3)},
                                       {"last": date(2026, 5, 2)}])
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_pages_put_together_are_the_whole_selection(book, season, selection, limit):
    chosen = book.records.select(**selection)
    whole = ids(book.records.records(chosen))
    pages, cursor = [], None
    for _ in range(20):
        page = book.records.page(chosen, cursor=cursor, limit=limit)
        assert len(page.rows) <= limit
        pages += ids(page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == whole and whole


def test_a_cursor_is_opaque_and_one_not_given_is_refused(book, season):
    position = record_position(season["ana"])
    assert decode_cursor(encode_cursor(position)) == position
    for forged in ("nope!", "x" * 300, encode_cursor("not a position"), encode_cursor("2026-05-01T00:00:00#x"),
                   "%%%"):
        with pytest.raises(LedgerError) as refused:
            book.records.page(book.records.select(), cursor=forged, limit=10)
        assert set(refused.value.errors) == {"cursor"}


# -- search ------------------------------------------------------------------------------------------------------------


def test_find_matches_patron_or_notes_in_any_case_with_or_without_accents_newest_first(book, season):
    found = book.records.find("  ANA  ")
    assert ids(found.records) == [season[k].payment_id for k in ("void", "ana2", "ana")]
    [ana] = found.patrons  # "Ana Ruiz" and "ána  ruiz": one patron, across events
    assert (ana.name, ana.total_cents, ana.payments, ana.records) == ("ána ruiz", 25_000, 1, 3)
    assert found.titles == {JADA: "JADA Charter", WHALE: "Whale Watch Charter"}
    by_notes = book.records.find("dock")
    assert ids(by_notes.records) == [season["bo"].payment_id]
    assert [p.name for p in by_notes.patrons] == ["Bo & Co"]
    assert book.records.find("Ruíz").records == found.records
    assert book.records.find("nobody").records == ()
    assert season["gone"].payment_id not in ids(book.records.find("old timer").records)  # listed events only
    with pytest.raises(LedgerError) as empty:
        book.records.find(" \u0301 ")
    assert set(empty.value.errors) == {"text"}


# -- bounded, indexed reads ----------------------------------------------------------------------------------------


class Recorder:
    """The store's calls (and, on DynamoDB, its client's operations), noted as they are made."""

    def __init__(self, store: Any):
        self.calls: list[str] = []
        self.operations: list[str] = []
        self.statements: list[str] = []
        for method in ("event_payments", "day_payments", "event_totals"):
            real = getattr(store, method)
            setattr(store, method, self._noting(method, real))
        if isinstance(store, DynamoStore):
            client = store._client
            for operation in ("query", "scan", "batch_get_item", "get_item"):
                real = getattr(client, operation)
                setattr(client, operation, self._noting_operation(operation, real))
        if isinstance(store, SqliteStore):
            store._conn().set_trace_callback(self.statements.append)

    def _noting(self, method: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(method)
            return real(*args, **kwargs)
        return call

    def _noting_operation(self, operation: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.operations.append(operation)
            return real(*args, **kwargs)
        return call


def test_reads_go_through_an_index_and_never_scan(book, season):
    noted = Recorder(book.store)
    listed_with_records = 3  # JADA, WHALE, GIPSY of the six listed events
    list(book.records.records(book.records.select()))
    assert noted.calls.count("event_totals") == 1
    assert noted.calls.count("event_payments") == listed_with_records and "day_payments" not in noted.calls
    noted.calls.clear()
    list(book.records.records(book.records.select(first=date(2026, 5, 1), last=date(2026, 5, 3))))
    assert noted.calls == ["day_payments"] * 3  # one query a day
    noted.calls.clear()
    list(book.records.records(book.records.select(event=JADA, first=date(2026, 5, 2))))
    assert noted.calls == ["event_payments"]  # one event: its records, from the first day's midnight
    book.records.find("ana")
    assert "scan" not in noted.operations
    if isinstance(book.store, SqliteStore):
        reads = [s for s in noted.statements if s.lstrip().upper().startswith("SELECT") and "FROM payments" in s]
        assert reads
        conn = sqlite3.connect(book.store.path)
        for statement in set(reads):
            plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
            assert "USING INDEX payments_by_" in plan and "SCAN payments" not in plan, (statement, plan)
        conn.close()


def test_a_page_reads_at_most_a_page_from_each_event(book, season):
    for n in range(12):
        book.at(la(4, 9) + timedelta(minutes=n)).pay(WHALE, "1", f"Patron {n}")
    noted = Recorder(book.store)
    page = book.records.page(book.records.select(), cursor=None, limit=3)
    assert len(page.rows) == 3 and page.next_cursor
    assert noted.calls.count("event_payments") == 3  # one query per listed event with records, each LIMIT 4
    if isinstance(book.store, DynamoStore):
        assert noted.operations.count("query") == 3


def test_the_store_reads_past_a_position_with_a_limit(book, season):
    store = book.store
    jada = store.event_payments(JADA)
    assert [r.payment_id for r in jada] == [season[k].payment_id for k in ("ana", "bo", "void")]
    assert store.event_payments(JADA, after=record_position(jada[0])) == jada[1:]
    assert store.event_payments(JADA, after=record_position(jada[0]), limit=1) == jada[1:2]
    assert store.event_payments(JADA, limit=2) == jada[:2]
    assert store.event_payments(JADA, after=record_position(jada[-1])) == []
    may2 = store.day_payments("2026-05-02")
    assert store.day_payments("2026-05-02", after=record_position(may2[0]), limit=1) == may2[1:2]
    assert store.day_payments("2026-05-02", limit=1) == may2[:1]
    # Positions order records as time does, on both stores: the same sequence however it is read.
    everything = [*store.event_payments(JADA), *store.event_payments(WHALE), *store.event_payments(GIPSY)]
    assert sorted(everything, key=record_position) == sorted(everything, key=lambda r: r.recorded_at)


def test_a_record_at_a_whole_second_sorts_before_one_later_in_that_second(book):
    # isoformat() leaves out a zero microsecond: "…:00+00:00" must still sort before "…:00.000001+00:00".
    first = book.at(la(5, 9)).pay(JADA, "1", "A")
    second = book.at(la(5, 9) + timedelta(microseconds=1)).pay(JADA, "2", "B")
    assert [r.payment_id for r in book.store.event_payments(JADA)] == [first.payment_id, second.payment_id]
    assert book.store.event_payments(JADA, after=record_position(first)) == [second]
    assert replace(first, voided_by=None) == book.store.event_payments(JADA, limit=1)[0]
