"""The ledger's records read past one event or one day: the export (``opsbot export``,
``/opsbot export``), the web API's pages (``GET /api/payments``) and search (``/opsbot find``).

Every read is bounded and goes through an index, on both stores:

- one event (``--event``): that event's records (its DynamoDB partition; SQLite's
  payments_by_event index), from the first day asked for;
- a date range without an event: the day index, one query a day, at most
  ``MAX_RANGE_DAYS`` days (every record of those days, an event no longer in
  events.json included);
- otherwise, every event in events.json that has records (one batch read of the
  events' totals says which), one query each, merged in time order.

No read scans the whole table. Records come in time order (``record_position``), a
page at a time: memory holds a page, never the ledger. A reversal is any record with
``voids`` set (a void, a Stripe refund: negative; a failed refund's cents put back: positive),
exported as a row of its own."""

from __future__ import annotations

import base64
import binascii
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain, islice
from zoneinfo import ZoneInfo

from bot.core.catalog import Catalog, EventNotFound, is_event_id
from bot.core.domain import Event, Payment
from bot.core.ledger import Clock, LedgerError, UnknownEvent, unlisted_event, utc_now
from bot.core.patrons import PatronTotal, patron_key, patron_totals
from bot.core.ports import Store, record_position
from bot.core.user_text import echo

ALL = "all"
MAX_RANGE_DAYS = 366  # a date range without an event reads the day index one day at a time: a year at most
READ_CHUNK = 500  # records per store read while streaming
PAGE_DEFAULT = 100
PAGE_MAX = 500


@dataclass(frozen=True)
class Selection:
    """Which records: one event's (or every listed event's, ``event`` None), within the days
    ``first_day``..``last_day`` (either end open)."""

    event: Event | None = None
    first_day: date | None = None
    last_day: date | None = None

    def holds(self, day: str) -> bool:
        return ((self.first_day is None or day >= self.first_day.isoformat())
                and (self.last_day is None or day <= self.last_day.isoformat()))


@dataclass(frozen=True)
class ExportRow:
    """One ledger record as the export and the web API give it (the CSV's columns, typed)."""

    record_id: str
    time: datetime  # in the crew time zone
    day: str
    event_id: str
    event_title: str
    patron: str
    amount_cents: int  # negative for a reversal
    method: str
    notes: str
    logged_by: str
    source: str  # slack | api | stripe
    reverses: str  # the payment a reversal takes back; "" for a payment
    stripe_id: str  # the Stripe object a record came from (a Checkout Session cs_…, a refund re_…); else ""
    kind: str  # payment | void | refund | refund_failed

    @property
    def is_reversal(self) -> bool:
        return bool(self.reverses)


@dataclass(frozen=True)
class ExportTally:
    """What an export holds: its rows, split into payments and reversals, and the net."""

    payments: int = 0
    payments_cents: int = 0
    reversals: int = 0
    reversals_cents: int = 0  # voids and refunds (negative) less failed refunds' cents put back

    @property
    def rows(self) -> int:
        return self.payments + self.reversals

    @property
    def net_cents(self) -> int:
        return self.payments_cents + self.reversals_cents

    def add(self, row: ExportRow) -> ExportTally:
        if row.is_reversal:
            return ExportTally(self.payments, self.payments_cents, self.reversals + 1,
                               self.reversals_cents + row.amount_cents)
        return ExportTally(self.payments + 1, self.payments_cents + row.amount_cents, self.reversals,
                           self.reversals_cents)


@dataclass(frozen=True)
class Export:
    selection: Selection
    rows: tuple[ExportRow, ...]
    tally: ExportTally


@dataclass(frozen=True)
class RecordPage:
    rows: tuple[ExportRow, ...]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True)
class FindResult:
    """``/opsbot find``: the matching records newest first, and each of their patrons' totals over
    every record read (all events in events.json)."""

    query: str
    records: tuple[Payment, ...]
    patrons: tuple[PatronTotal, ...]
    titles: dict[str, str] = field(default_factory=dict)  # event id -> title, for every record above

    @property
    def total_cents(self) -> int:
        return sum(p.total_cents for p in self.patrons)


class LedgerRecords:
    def __init__(self, store: Store, catalog: Catalog, tz: ZoneInfo, clock: Clock = utc_now):
        self.store = store
        self.catalog = catalog
        self.tz = tz
        self.clock = clock

    # -- what to read ----------------------------------------------------------------------
    def select(self, *, event: str | None = None, first: date | None = None, last: date | None = None) -> Selection:
        """The records an export, a page or a file asks for. Raises UnknownEvent (field ``event``)
        or LedgerError (fields ``from``, ``to``)."""
        if first is not None and last is not None and first > last:
            raise LedgerError({"from": f"The first day ({first.isoformat()}) is after the last ({last.isoformat()})."})
        chosen = None if event is None or event.strip().lower() in ("", ALL) else self._event(event.strip())
        if chosen is None and first is not None:
            end = last or self.today()
            days = (end - first).days + 1
            if days > MAX_RANGE_DAYS:
                raise LedgerError({"from": (
                    f"{first.isoformat()} to {end.isoformat()} is {days:,} days; a date range covers at most "
                    f"{MAX_RANGE_DAYS} days at a time (or give one event, which has no limit).")})
        return Selection(chosen, first, last)

    def _event(self, ref: str) -> Event:
        try:
            return self.catalog.find_event(ref)
        except EventNotFound as exc:
            # An event taken out of events.json still has its records: its exact id finds them.
            if is_event_id(ref) and self.store.event_totals([ref]):
                return unlisted_event(ref)
            raise UnknownEvent(ref, exc.message) from None

    def today(self) -> date:
        return self.clock().astimezone(self.tz).date()

    # -- reading, in time order -----------------------------------------------------------------
    def records(self, selection: Selection, *, after: str | None = None, chunk: int = READ_CHUNK
                ) -> Iterator[Payment]:
        """The selection's records oldest first, past the position ``after``, read ``chunk`` at a time."""
        if selection.event is not None:
            stream = self._event_stream(selection.event.id, self._from_first_day(selection, after), chunk)
        elif selection.first_day is not None:
            days = self._days(selection, after)
            stream = chain.from_iterable(self._day_stream(day, after, chunk) for day in days)
        else:
            ids = [e.id for e in self.catalog.events]
            with_records = self.store.event_totals(ids)  # one batch read; an event without records is not queried
            streams = [self._event_stream(i, after, chunk) for i in ids if i in with_records]
            stream = heapq.merge(*streams, key=record_position)
        last = selection.last_day.isoformat() if selection.last_day else None
        for record in stream:
            if last is not None and record.day > last:
                return  # time order: nothing after this is in the range
            if selection.holds(record.day):
                yield record

    def _event_stream(self, event_id: str, after: str | None, chunk: int) -> Iterator[Payment]:
        while True:
            batch = self.store.event_payments(event_id, after=after, limit=chunk)
            yield from batch
            if len(batch) < chunk:
                return
            after = record_position(batch[-1])

    def _day_stream(self, day: date, after: str | None, chunk: int) -> Iterator[Payment]:
        while True:
            batch = self.store.day_payments(day.isoformat(), after=after, limit=chunk)
            yield from batch
            if len(batch) < chunk:
                return
            after = record_position(batch[-1])

    def _days(self, selection: Selection, after: str | None) -> Iterator[date]:
        assert selection.first_day is not None
        day = selection.first_day
        if after is not None:
            day = max(day, self._day_of_position(after))
        end = selection.last_day or self.today()
        while day <= end:
            yield day
            day += timedelta(days=1)

    def _from_first_day(self, selection: Selection, after: str | None) -> str | None:
        """Where an event's read starts: past ``after``, and not before the first day's midnight in
        the crew time zone (positions are UTC times, so one before midnight sorts before it)."""
        if selection.first_day is None:
            return after
        midnight = datetime.combine(selection.first_day, time(), tzinfo=self.tz).astimezone(UTC)
        start = f"{midnight.isoformat()}#"  # before every record of that moment, whatever its id
        return max(after, start) if after is not None else start

    def _day_of_position(self, position: str) -> date:
        return datetime.fromisoformat(position.rpartition("#")[0]).astimezone(self.tz).date()

    # -- rows --------------------------------------------------------------------------------------
    def row(self, record: Payment) -> ExportRow:
        event = self.catalog.event(record.event_id)
        return ExportRow(
            record_id=record.payment_id, time=record.recorded_at.astimezone(self.tz), day=record.day,
            event_id=record.event_id, event_title=event.title if event else record.event_id,
            patron=record.patron, amount_cents=record.amount_cents, method=record.method, notes=record.notes,
            logged_by=record.logged_by, source=record.source, reverses=record.voids or "",
            stripe_id=stripe_id(record), kind=record.kind,
        )

    def rows(self, selection: Selection) -> Iterator[ExportRow]:
        return (self.row(r) for r in self.records(selection))

    def export(self, selection: Selection) -> Export:
        rows = tuple(self.rows(selection))
        tally = ExportTally()
        for row in rows:
            tally = tally.add(row)
        return Export(selection, rows, tally)

    def page(self, selection: Selection, *, cursor: str | None, limit: int) -> RecordPage:
        """One page of the selection's rows past ``cursor`` (from the page before; None for the first).
        Raises LedgerError (field ``cursor``) for a cursor this service did not give."""
        after = decode_cursor(cursor) if cursor else None
        got = list(islice(self.records(selection, after=after, chunk=limit + 1), limit + 1))
        shown = got[:limit]
        more = len(got) > limit
        return RecordPage(tuple(self.row(r) for r in shown),
                          encode_cursor(record_position(shown[-1])) if more else None)

    # -- search ----------------------------------------------------------------------------------
    def find(self, text: str) -> FindResult:
        """Records whose patron or notes hold ``text`` (compared as patron_key: any case, accents,
        spacing), newest first, across every event in events.json; with the totals of their patrons.
        Raises LedgerError (field ``text``) for a search with nothing to look for."""
        query = patron_key(text)
        if not query:
            raise LedgerError({"text": "Give a name, or words from the notes, to look for."})
        everything = list(self.records(Selection()))
        matches = [r for r in everything if query in patron_key(r.patron) or query in patron_key(r.notes)]
        matches.sort(key=record_position, reverse=True)
        keys = {patron_key(r.patron) for r in matches}
        patrons = tuple(t for t in patron_totals(everything) if t.key in keys)
        titles = {}
        for event_id in {r.event_id for r in matches}:
            event = self.catalog.event(event_id)
            titles[event_id] = event.title if event else event_id
        return FindResult(echo(" ".join(text.split()), 100), tuple(matches), patrons, titles)


def stripe_id(record: Payment) -> str:
    """The Stripe object a record came from: a payment's Checkout Session (cs_…), a refund's id (re_…).
    A Stripe payment recorded before records kept it has the session as its notes."""
    if record.stripe_id:
        return record.stripe_id
    if record.source == "stripe" and not record.is_reversal and record.notes.startswith("cs_"):
        return record.notes
    return ""


def encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The position a cursor stands for; LedgerError (field ``cursor``) for one this API did not give."""
    refused = LedgerError({"cursor": "This cursor is not one the API gave: send next_cursor from the page before, "
                                     "unchanged, or leave it out for the first page."})
    if len(cursor) > 200:
        raise refused
    try:
        position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        stamp, _, record_id = position.rpartition("#")
        moment = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise refused from None
    if moment.tzinfo is None or not record_id:
        raise refused
    return position
