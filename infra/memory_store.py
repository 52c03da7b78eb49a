"""The in-memory store: the Store port (bot/core/ports.py) in this process's memory, for
service tests that need no file and no server. It keeps the contract the SQLite and
DynamoDB stores keep (tests/integration/test_store_contract.py runs on all three): one lock makes
each write one transaction, a write whose announcement cannot be built writes nothing,
documents and outbox facts go through JSON as they do on disk, and nothing answers
before ``init_schema``. Nothing survives the process."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.domain import REFUND_FAILED, AuditEntry, EventOverview, EventTotals, Payment, RecordOutcome
from bot.core.outbox import (
    AUDIT,
    DELIVERED,
    HELD,
    PARKED,
    PENDING,
    Announce,
    Announcement,
    Claim,
    OutboxEntry,
    Settled,
    entry_id,
    lone_line,
)
from bot.core.patrons import patron_totals
from bot.core.ports import (
    SUMMARIES_KEPT,
    Fold,
    IdempotencyConflict,
    NothingLeft,
    OverTotal,
    PaymentNotFound,
    PaymentVoided,
    RecordKey,
    StoreError,
    record_position,
    refund_key,
    void_key,
)

NAME = "in-memory store"


@dataclass
class _Entry:
    """An outbox entry as stored: its facts and result as JSON text, its lane, when it was parked."""

    entry: OutboxEntry
    lane: str
    facts: str
    result: str | None
    parked_at: str | None = None  # ISO time in UTC, as the SQLite store keeps it

    def read(self) -> OutboxEntry:
        return replace(self.entry, facts=json.loads(self.facts),
                       result=None if self.result is None else json.loads(self.result))


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ready = False
        self._payments: dict[str, Payment] = {}
        self._totals: dict[str, tuple[int, int, int]] = {}  # event id -> (total, paid, count)
        self._keys: dict[str, str] = {}  # idempotency key -> payment id
        self._claims: dict[str, tuple[str, str, float]] = {}  # key -> (holder, "held" | "done", expires at)
        self._records: dict[tuple[str, str], dict[str, str]] = {}  # (collection, group) -> key -> JSON
        self._audit: dict[str, AuditEntry] = {}
        self._outbox: dict[str, _Entry] = {}

    # -- schema -------------------------------------------------------------------------
    def init_schema(self) -> str | None:
        with self._lock:
            if self._ready:
                return None
            self._ready = True
            collection, group, key = SUMMARIES_KEPT
            self._records[(collection, group)] = {key: json.dumps({"kept": True})}
            return "created the in-memory store"

    def upgrade_schema(self) -> str | None:
        return None  # nothing older to bring up to date: it lives as long as the process

    def ping(self) -> None:
        self._require_schema()

    def close(self) -> None:
        """Nothing to close: kept so the store can stand where the others do."""

    def _require_schema(self) -> None:
        if not self._ready:
            raise StoreError(f"{NAME} has no schema: run `opsbot init-store`")

    def _write(self, change: Callable[[], Any]) -> Any:
        with self._lock:
            self._require_schema()
            return change()

    # -- writes ---------------------------------------------------------------------------
    def record_payment(self, payment: Payment, *, total_cents: int, idempotency_key: str,
                       allow_over_total: bool = False, announce: Announce | None = None) -> RecordOutcome:
        def write() -> RecordOutcome:
            replay = self._replay(idempotency_key)
            if replay is not None:
                if replay.payment.fingerprint != payment.fingerprint:
                    raise IdempotencyConflict(idempotency_key, replay.payment)
                return replay
            if payment.payment_id in self._payments:
                raise StoreError(f"{NAME}: payment id {payment.payment_id} is taken")
            _, paid, count = self._totals.get(payment.event_id, (total_cents, 0, 0))
            if not allow_over_total and paid + payment.amount_cents > total_cents:
                raise OverTotal(paid, total_cents)
            paid, count = paid + payment.amount_cents, count + 1
            outcome = RecordOutcome(payment, EventTotals(payment.event_id, paid, count))
            announcement = announce(outcome) if announce is not None else None  # before any change: all or nothing
            self._payments[payment.payment_id] = payment
            self._totals[payment.event_id] = (total_cents, paid, count)
            self._keys[idempotency_key] = payment.payment_id
            if announcement is not None:
                self._announce(announcement)
            return outcome

        return self._write(write)

    def void_payment(self, payment_id: str, void: Payment, *, announce: Announce | None = None,
                     original: Payment | None = None) -> RecordOutcome:
        # ``original`` is looked up again under the lock: a read here costs nothing.
        key = void_key(payment_id)

        def write() -> RecordOutcome:
            original = self._payments.get(payment_id)
            if original is None:
                raise PaymentNotFound(payment_id)
            replay = self._replay(key)
            if replay is not None:
                return replace(replay, acted_on=original)
            if original.left_cents <= 0:
                raise NothingLeft(original, original.amount_cents)
            if void.payment_id in self._payments:
                raise StoreError(f"{NAME}: payment id {void.payment_id} is taken")
            voiding = replace(void, amount_cents=-original.left_cents)  # what Stripe refunded is out already
            return self._act_on(original, replace(original, voided_by=voiding.payment_id), voiding, key, -1,
                                announce)

        return self._write(write)

    def refund_payment(self, payment_id: str, record: Payment, *, idempotency_key: str,
                       announce: Announce | None = None) -> RecordOutcome:
        def write() -> RecordOutcome:
            replay = self._replay(idempotency_key)
            if replay is not None:
                if replay.payment.fingerprint != record.fingerprint:
                    raise IdempotencyConflict(idempotency_key, replay.payment)
                return replace(replay, acted_on=self._payments.get(payment_id))
            original = self._payments.get(payment_id)
            if original is None:
                raise PaymentNotFound(payment_id)
            if original.voided_by is not None:
                raise PaymentVoided(original)
            if record.kind == REFUND_FAILED and (record.stripe_id is None
                                                 or refund_key(record.stripe_id) not in self._keys):
                raise NothingLeft(original, record.amount_cents)  # that refund was never recorded: nothing to give back
            refunded = original.refunded_cents - record.amount_cents
            if not 0 <= refunded <= original.amount_cents:
                raise NothingLeft(original, abs(record.amount_cents))
            if record.payment_id in self._payments:
                raise StoreError(f"{NAME}: payment id {record.payment_id} is taken")
            after = replace(original, refunded_cents=refunded)
            counted = int(after.left_cents > 0) - int(original.left_cents > 0)  # counted while something is left
            return self._act_on(original, after, record, idempotency_key, counted, announce)

        return self._write(write)

    def _act_on(self, original: Payment, after: Payment, record: Payment, key: str, count_delta: int,
                announce: Announce | None) -> RecordOutcome:
        """Write a void's or a refund's record, the payment as it stands after it, the event's totals and the
        announcement (built first: a write whose announcement cannot be built writes nothing)."""
        total, paid, count = self._totals[original.event_id]
        paid, count = paid + record.amount_cents, count + count_delta
        outcome = RecordOutcome(record, EventTotals(original.event_id, paid, count), acted_on=after)
        announcement = announce(outcome) if announce is not None else None
        self._payments[record.payment_id] = record
        self._payments[original.payment_id] = after
        self._totals[original.event_id] = (total, paid, count)
        self._keys[key] = record.payment_id
        if announcement is not None:
            self._announce(announcement)
        return outcome

    def _replay(self, key: str) -> RecordOutcome | None:
        payment_id = self._keys.get(key)
        if payment_id is None:
            return None
        payment = self._payments.get(payment_id)
        if payment is None:
            raise StoreError(f"idempotency key {key} points at missing record {payment_id}")
        _, paid, count = self._totals.get(payment.event_id, (0, 0, 0))
        return RecordOutcome(payment, EventTotals(payment.event_id, paid, count), replayed=True)

    # -- reads ------------------------------------------------------------------------------
    def get_payment(self, payment_id: str) -> Payment | None:
        return self._write(lambda: self._payments.get(payment_id))

    def replay(self, idempotency_key: str) -> RecordOutcome | None:
        return self._write(lambda: self._replay(idempotency_key))

    def stripe_payment(self, payment_intent: str) -> Payment | None:
        def read() -> Payment | None:
            found = [p for p in self._payments.values() if p.payment_intent == payment_intent and not p.is_reversal]
            return min(found, key=record_position) if found else None

        return self._write(read)

    def owed(self, totals: Mapping[str, int]) -> int:
        paid = self.event_totals(totals)
        return sum(max(total - (paid[e].paid_cents if e in paid else 0), 0) for e, total in totals.items())

    def event_totals(self, event_ids: Iterable[str]) -> dict[str, EventTotals]:
        def read() -> dict[str, EventTotals]:
            found = {}
            for event_id in dict.fromkeys(event_ids):
                if event_id in self._totals:
                    _, paid, count = self._totals[event_id]
                    found[event_id] = EventTotals(event_id, paid, count)
            return found

        return self._write(read)

    def event_payments(self, event_id: str, *, after: str | None = None, limit: int | None = None
                       ) -> list[Payment]:
        return self._write(lambda: self._in_order(lambda p: p.event_id == event_id, after, limit))

    def day_payments(self, day: str, *, after: str | None = None, limit: int | None = None) -> list[Payment]:
        return self._write(lambda: self._in_order(lambda p: p.day == day, after, limit))

    def event_overview(self, event_id: str, *, recent: int) -> EventOverview:
        # Summed from the records each time: in memory that costs no round trip, and it is the
        # same figure the other stores keep by every write (the contract compares them).
        def read() -> EventOverview:
            records = self._in_order(lambda p: p.event_id == event_id, None, None)
            _, paid, count = self._totals.get(event_id, (0, 0, 0))
            totals = EventTotals(event_id, paid, count) if event_id in self._totals else EventTotals(event_id)
            return EventOverview(totals, len(records), tuple(records[-recent:] if recent else ()),
                                 tuple(patron_totals(records)))

        return self._write(read)

    def _in_order(self, wanted: Callable[[Payment], bool], after: str | None, limit: int | None) -> list[Payment]:
        """Matching records in record_position order (ISO time, then id), past ``after``, at most ``limit``."""
        start = None if after is None else _position_key(after)
        chosen = sorted((p for p in self._payments.values() if wanted(p)),
                        key=lambda p: _position_key(record_position(p)))
        if start is not None:
            chosen = [p for p in chosen if _position_key(record_position(p)) > start]
        return chosen if limit is None else chosen[:limit]

    # -- claims -----------------------------------------------------------------------------------
    def claim(self, key: str, *, holder: str, now: datetime, lease: timedelta) -> bool:
        def write() -> bool:
            held = self._claims.get(key)
            if held is not None and (held[1] == "done" or held[2] > now.timestamp()):
                return False
            self._claims[key] = (holder, "held", (now + lease).timestamp())
            return True

        return self._write(write)

    def complete_claim(self, key: str, *, holder: str) -> None:
        def write() -> None:
            held = self._claims.get(key)
            if held is not None and held[0] == holder:
                self._claims[key] = (holder, "done", held[2])

        self._write(write)

    def release_claim(self, key: str, *, holder: str) -> None:
        def write() -> None:
            held = self._claims.get(key)
            if held is not None and held[0] == holder and held[1] == "held":
                del self._claims[key]

        self._write(write)

    # -- records --------------------------------------------------------------------------------
    def put_record(self, collection: str, group: str, key: str, data: dict[str, Any], *,
                   if_absent: bool = False, announce: Announcement | None = None, fold: Fold | None = None) -> bool:
        text = json.dumps(data)  # as on disk: what JSON cannot say fails here, before anything is written

        def write() -> bool:
            documents = self._records.setdefault((collection, group), {})
            if if_absent and key in documents:
                return False
            summary = None
            if fold is not None:  # applied to the store as it is before this write
                folded = fold.apply(self._record(*fold.at))
                summary = None if folded is None else json.dumps(folded)
            documents[key] = text
            if summary is not None:
                at_collection, at_group, at_key = fold.at
                self._records.setdefault((at_collection, at_group), {})[at_key] = summary
            if announce:
                self._announce(announce)
            return True

        return self._write(write)

    def get_record(self, collection: str, group: str, key: str) -> dict[str, Any] | None:
        return self._write(lambda: self._record(collection, group, key))

    def _record(self, collection: str, group: str, key: str) -> dict[str, Any] | None:
        text = self._records.get((collection, group), {}).get(key)
        return None if text is None else json.loads(text)

    def read_keys(self, *, events: Iterable[str] = (), records: Sequence[RecordKey] = ()
                  ) -> tuple[dict[str, EventTotals], dict[RecordKey, dict[str, Any]]]:
        def read() -> tuple[dict[str, EventTotals], dict[RecordKey, dict[str, Any]]]:
            found = {at: self._record(*at) for at in records}
            return self.event_totals(events), {at: doc for at, doc in found.items() if doc is not None}

        return self._write(read)

    def list_records(self, collection: str, group: str, *, newest_first: bool = False,
                     limit: int | None = None) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            documents = self._records.get((collection, group), {})
            keys = sorted(documents, reverse=newest_first)
            return [json.loads(documents[k]) for k in (keys if limit is None else keys[:limit])]

        return self._write(read)

    def delete_record(self, collection: str, group: str, key: str) -> None:
        self._write(lambda: self._records.get((collection, group), {}).pop(key, None))

    # -- audit log and announcements ----------------------------------------------------------
    def add_audit(self, entry: AuditEntry) -> None:
        self._write(lambda: self._audit.setdefault(entry.entry_id, entry))

    def day_audit(self, day: str) -> list[AuditEntry]:
        return self._write(lambda: sorted((e for e in self._audit.values() if e.day == day),
                                          key=lambda e: (e.at.isoformat(), e.entry_id)))

    def announce(self, announcement: Announcement) -> None:
        self._write(lambda: self._announce(announcement))

    def _announce(self, announcement: Announcement) -> None:
        stored = [(e, _Entry(replace(e, due_at=None if e.due_at is None else _epoch_time(e.due_at)), e.lane,
                             json.dumps(e.facts), None if e.result is None else json.dumps(e.result)))
                  for e in announcement.entries]  # all encoded before any is kept
        if announcement.audit is not None:
            self._audit.setdefault(announcement.audit.entry_id, announcement.audit)
        for entry, kept in stored:
            self._outbox.setdefault(entry.entry_id, kept)

    # -- the outbox -------------------------------------------------------------------------------
    def due_entries(self, lane: str, now: datetime, limit: int) -> list[OutboxEntry]:
        def read() -> list[OutboxEntry]:
            due = [s for s in self._outbox.values()
                   if s.lane == lane and s.entry.due_at is not None and s.entry.due_at <= now]
            due.sort(key=lambda s: (s.entry.due_at.timestamp(), s.entry.entry_id))
            return [s.read() for s in due[:limit]]

        return self._write(read)

    def claim_entries(self, entries: Sequence[OutboxEntry], *, holder: str, attempt: str, now: datetime,
                      lease: timedelta, under_way: bool = False) -> list[OutboxEntry]:
        def write() -> list[OutboxEntry]:
            taken = []
            for wanted in entries:
                stored = self._outbox.get(wanted.entry_id)
                if stored is None:
                    continue
                current = stored.entry
                if (current.due_at is None or current.due_at > now or current.attempts != wanted.attempts
                        or current.in_doubt != wanted.in_doubt):
                    continue
                stored.entry = replace(current, state=HELD, holder=holder, attempts=current.attempts + 1,
                                       due_at=_epoch_time(now + lease),
                                       attempt=current.attempt if current.in_doubt else attempt,
                                       in_doubt=True if under_way else current.in_doubt)
                taken.append(wanted)
            return taken

        return self._write(write)

    def claim_fresh(self, claims: Sequence[Claim], *, holder: str, now: datetime, lease: timedelta
                    ) -> list[OutboxEntry]:
        def write() -> list[OutboxEntry]:
            taken = []
            for claim in claims:
                wanted, stored = claim.entry, self._outbox.get(claim.entry.entry_id)
                if stored is None or stored.facts != json.dumps(wanted.facts):
                    continue
                current = stored.entry
                if (not current.fresh or current.due_at is None or current.due_at > now
                        or (current.record_id, current.event, current.target, current.created_at.isoformat())
                        != (wanted.record_id, wanted.event, wanted.target, wanted.created_at.isoformat())):
                    continue
                stored.entry = replace(current, state=HELD, holder=holder, attempts=1, due_at=_epoch_time(now + lease),
                                       attempt=claim.attempt, in_doubt=claim.under_way)
                taken.append(wanted)
            return taken

        return self._write(write)

    def mark_in_doubt(self, entry_ids: Sequence[str], *, holder: str, attempt: str) -> None:
        def write() -> None:
            for one in entry_ids:
                stored = self._outbox.get(one)
                if stored is not None and stored.entry.holder == holder and stored.entry.state == HELD:
                    stored.entry = replace(stored.entry, in_doubt=True, attempt=attempt)

        self._write(write)

    def settle_entries(self, settled: Sequence[Settled], *, holder: str, now: datetime,
                       together: bool = False) -> list[str]:
        def write() -> list[str]:
            done = []
            for s in settled:
                stored = self._outbox.get(s.entry_id)
                if stored is None or stored.entry.holder != holder or stored.entry.state != HELD:
                    continue
                if s.state == DELIVERED:
                    stored.result = json.dumps(s.result or {})
                    stored.entry = replace(stored.entry, state=DELIVERED, due_at=None, last_error=None,
                                           in_doubt=False)
                elif s.state == PENDING:
                    assert s.due is not None, "a retry needs its due time"
                    stored.entry = replace(stored.entry, state=PENDING, due_at=_epoch_time(s.due),
                                           last_error=s.error, in_doubt=s.in_doubt)
                else:
                    stored.parked_at = now.astimezone(UTC).isoformat()
                    stored.entry = replace(stored.entry, state=PARKED, due_at=None, last_error=s.error,
                                           in_doubt=s.in_doubt)
                done.append(s.entry_id)
            return done

        return self._write(write)

    def get_entry(self, entry_id: str) -> OutboxEntry | None:
        def read() -> OutboxEntry | None:
            stored = self._outbox.get(entry_id)
            return None if stored is None else stored.read()

        return self._write(read)

    def _parked(self) -> list[_Entry]:
        parked = [s for s in self._outbox.values() if s.parked_at is not None]
        parked.sort(key=lambda s: (s.parked_at, s.entry.entry_id))
        return parked

    def parked_entries(self, limit: int) -> list[OutboxEntry]:
        return self._write(lambda: [s.read() for s in self._parked()[:limit]])

    def requeue_parked(self, now: datetime, limit: int) -> int:
        def write() -> int:
            again = self._parked()[:limit]
            for stored in again:
                stored.parked_at = None
                stored.entry = replace(stored.entry, state=PENDING, due_at=_epoch_time(now), in_doubt=False,
                                       attempts=0)
            return len(again)

        return self._write(write)

    # -- message refs -------------------------------------------------------------------------------
    def message_ref(self, record_id: str) -> tuple[str, str] | None:
        entry = self.get_entry(entry_id(record_id, AUDIT))
        return None if entry is None else lone_line(entry)


def _position_key(position: str) -> tuple[str, str]:
    """A record_position ("<ISO time>#<id>") as the (time, id) pair the stores order by."""
    stamp, _, record_id = position.rpartition("#")
    return stamp, record_id


def _epoch_time(moment: datetime) -> datetime:
    """A due time as the SQLite store reads it back: through its epoch seconds, in UTC."""
    return datetime.fromtimestamp(moment.timestamp(), UTC)
