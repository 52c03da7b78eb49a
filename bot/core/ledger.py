"""The ledger service: every entry point records and reads payments through here."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.core.catalog import Catalog, EventNotFound
from bot.core.domain import (
    NOTES_MAX,
    PATRON_MAX,
    REFUND,
    REFUND_FAILED,
    STRIPE_METHOD,
    VOID,
    Event,
    EventOverview,
    EventsPage,
    EventStatus,
    EventTotals,
    Payment,
    RecordOutcome,
    request_fingerprint,
)
from bot.core.money import AmountError, format_cents, parse_amount
from bot.core.outbox import Announced, Announcer
from bot.core.ports import (
    IdempotencyConflict,
    NothingLeft,
    OverTotal,
    PaymentNotFound,
    Store,
    StripeRefund,
    refund_failed_key,
    refund_key,
    void_key,
)
from bot.core.user_text import as_text, echo, is_text

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed on a phone


def new_record_id(prefix: str = "pay") -> str:
    # Short enough to type in `/opsbot void pay_...` on a phone, long enough not to collide: 10 characters
    # of 31 from one draw of 64 random bits (31**10 < 2**64; ten draws cost three times as much).
    n = int.from_bytes(secrets.token_bytes(8), "big")
    chars = []
    for _ in range(10):
        n, digit = divmod(n, len(ID_ALPHABET))
        chars.append(ID_ALPHABET[digit])
    return prefix + "_" + "".join(chars)


class LedgerError(Exception):
    """A request the ledger refuses. ``errors`` maps input field -> message
    (fields: event, patron, amount, method, notes, payment)."""

    def __init__(self, errors: dict[str, str], *, unknown_event: bool = False):
        super().__init__("; ".join(errors.values()))
        self.errors = errors
        self.unknown_event = unknown_event  # the event named is not in events.json


class KeyReused(LedgerError):
    """The write's idempotency key was already used for another payment; nothing was written."""

    def __init__(self, first: Payment, key: str):
        super().__init__({"idempotency_key": (
            f"This request's key was already used for another payment ({first.payment_id}: "
            f"{format_cents(first.amount_cents)} on {first.event_id}); nothing new was recorded.")})
        self.first = first
        self.key = key


class UnknownEvent(LedgerError):
    def __init__(self, event_id: str, message: str | None = None):
        message = message or f"There is no event '{echo(event_id)}'. Run /events to see the event ids."
        super().__init__({"event": message}, unknown_event=True)
        self.event_id = event_id


@dataclass(frozen=True)
class LedgerResult:
    payment: Payment
    status: EventStatus  # the event right after this write
    replayed: bool = False  # the same idempotency key was seen before: nothing new was written


@dataclass(frozen=True)
class PaymentInput:
    event: Event
    patron: str
    amount_cents: int
    method: str
    notes: str


class Ledger:
    """Records payments and voids. With an ``announcer``, each write carries its
    announcements (audit line, email copy, receipt, update of the voided line) into
    the store's outbox in the same transaction; without one it announces nothing."""

    def __init__(self, store: Store, catalog: Catalog, tz: ZoneInfo, clock: Clock = utc_now,
                 new_id: Callable[[str], str] = new_record_id, announcer: Announcer | None = None):
        self.store = store
        self.catalog = catalog
        self.tz = tz
        self.clock = clock
        self.new_id = new_id
        self.announcer = announcer

    # -- time -----------------------------------------------------------------
    def today(self) -> date:
        return self.clock().astimezone(self.tz).date()

    def day_of(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).date().isoformat()

    # -- validation -------------------------------------------------------------
    def validate(self, *, event_id: str | None, patron: str | None, amount: str | int | float | None,
                 method: str | None, notes: str | None) -> PaymentInput:
        """Check every field at once so a form can show all its errors together. The method is one of
        the crew's (events.json's ``paymentMethods``)."""
        errors: dict[str, str] = {}
        methods = self.catalog.payment_methods
        unknown_event = False
        event = None
        event_id = (event_id or "").strip()
        if not event_id:
            errors["event"] = "Choose an event."
        else:
            try:
                event = self.catalog.find_event(event_id)
            except EventNotFound as exc:
                errors["event"] = exc.message
                unknown_event = True

        patron_text = " ".join((patron or "").split())
        if not patron_text:
            errors["patron"] = "Enter the patron's name."
        elif not is_text(patron_text):
            errors["patron"] = "The patron's name has a broken character (a lone surrogate): type it again."
        elif len(patron_text) > PATRON_MAX:
            errors["patron"] = f"The patron's name is {len(patron_text)} characters; the limit is {PATRON_MAX}."

        amount_cents = 0
        if amount is None or (isinstance(amount, str) and not amount.strip()):
            errors["amount"] = "Enter the amount paid, like 125 or 1,560.00."
        else:
            try:
                amount_cents = parse_amount(amount)
            except AmountError as exc:
                errors["amount"] = str(exc)

        method_text = (method or "").strip().lower()
        if not method_text:
            errors["method"] = f"Choose a payment method: {', '.join(methods)}."
        elif method_text not in methods:
            errors["method"] = f"'{echo(method_text)}' is not a payment method. Use one of: {', '.join(methods)}."

        notes_text = (notes or "").strip()
        if not is_text(notes_text):
            errors["notes"] = "The notes have a broken character (a lone surrogate): type them again."
        elif len(notes_text) > NOTES_MAX:
            errors["notes"] = f"Notes are {len(notes_text)} characters; the limit is {NOTES_MAX}."

        if errors and event is not None and "amount" not in errors:
            # A form shows all its errors at once; a payment with none is checked against the
            # balance by the store's own write (one conditional write, no read before it).
            status = self.status(event.id)
            if amount_cents > status.balance_cents:
                errors["amount"] = over_balance_message(amount_cents, status)

        if errors:
            raise LedgerError(errors, unknown_event=unknown_event)
        assert event is not None
        return PaymentInput(event, patron_text, amount_cents, method_text, notes_text)

    # -- writes -------------------------------------------------------------------
    def record_payment(self, *, event_id: str | None, patron: str | None, amount: str | int | float | None,
                       method: str | None, notes: str | None, logged_by: str, idempotency_key: str,
                       source: str = "slack", receipt_to: tuple[str, str] | None = None) -> LedgerResult:
        """``receipt_to`` = (channel, user): who gets a receipt after the fact (a form; a
        one-liner's receipt is its answer)."""
        # A retry of a write that already happened answers the first result, even if the balance
        # it was checked against has moved since: the store's write finds the key taken and answers
        # the first outcome; a request refused here is looked up first (the event may be gone since).
        try:
            checked = self.validate(event_id=event_id, patron=patron, amount=amount, method=method, notes=notes)
        except LedgerError:
            earlier = self.replay(idempotency_key)
            if earlier is None:
                raise
            if self._fingerprint(event_id, patron, amount, method, notes) != earlier.payment.fingerprint:
                raise KeyReused(earlier.payment, idempotency_key) from None
            return earlier
        return self._append(checked, logged_by=logged_by, idempotency_key=idempotency_key, source=source,
                            receipt_to=receipt_to)

    def _fingerprint(self, event_id: str | None, patron: str | None, amount: str | int | float | None,
                     method: str | None, notes: str | None) -> tuple:
        """The request as it would be recorded (event id resolved, amount in cents), without the
        balance check, to tell a retry of a recorded payment from another payment under the same key."""
        try:
            event_key: str | None = self.catalog.find_event((event_id or "").strip()).id
        except EventNotFound:
            event_key = None  # names no event: not the payment recorded under this key
        try:
            cents = parse_amount(amount) if amount is not None else None
        except AmountError:
            cents = None
        return request_fingerprint(event_key, " ".join((patron or "").split()), cents,
                                   (method or "").strip().lower(), (notes or "").strip())

    def replay(self, idempotency_key: str) -> LedgerResult | None:
        """The result of an earlier write with this key, or None."""
        outcome = self.store.replay(idempotency_key)
        return None if outcome is None else self._result(outcome)

    def record_stripe_payment(self, *, event_id: str, patron: str, amount_cents: int, notes: str,
                              idempotency_key: str, stripe_id: str | None = None,
                              payment_intent: str | None = None) -> LedgerResult:
        """Money that already arrived through Stripe: recorded even past the total, with the Checkout
        Session it came from (``stripe_id``) and its PaymentIntent (how a refund finds it)."""
        event = self.catalog.event(event_id)
        if event is None:
            raise UnknownEvent(event_id)
        # Stripe's text, kept as far as it can be stored: cut to the limits, a broken character replaced.
        checked = PaymentInput(event, as_text(" ".join(patron.split())[:PATRON_MAX]) or "Stripe customer",
                               amount_cents, STRIPE_METHOD, as_text(notes[:NOTES_MAX]))
        return self._append(checked, logged_by="stripe", idempotency_key=idempotency_key, source="stripe",
                            allow_over_total=True, stripe_id=stripe_id, payment_intent=payment_intent)

    def _append(self, checked: PaymentInput, *, logged_by: str, idempotency_key: str, source: str,
                allow_over_total: bool = False, receipt_to: tuple[str, str] | None = None,
                stripe_id: str | None = None, payment_intent: str | None = None) -> LedgerResult:
        now = self.clock()
        payment = Payment(
            payment_id=self.new_id("pay"),
            event_id=checked.event.id,
            patron=checked.patron,
            amount_cents=checked.amount_cents,
            method=checked.method,
            notes=checked.notes,
            logged_by=logged_by,
            recorded_at=now,
            day=self.day_of(now),
            source=source,
            stripe_id=stripe_id,
            payment_intent=payment_intent,
        )
        announcer = self.announcer
        announce = None if announcer is None else Announced(
            lambda outcome: announcer.payment_recorded(outcome, checked.event, receipt_to=receipt_to))
        try:
            outcome = self.store.record_payment(
                payment, total_cents=checked.event.total_cents, idempotency_key=idempotency_key,
                allow_over_total=allow_over_total, announce=announce,
            )
        except OverTotal as exc:
            # Someone else's payment landed between our check and our write.
            status = EventStatus(checked.event, exc.paid_cents, 0)
            raise LedgerError({"amount": over_balance_message(checked.amount_cents, status)}) from None
        except IdempotencyConflict as exc:  # another payment took this key between our replay check and our write
            raise KeyReused(exc.first, idempotency_key) from None
        return self._written(outcome, announce)

    def _written(self, outcome: RecordOutcome, announced: Announced | None) -> LedgerResult:
        if self.announcer is not None and announced is not None and not outcome.replayed:
            self.announcer.ring(announced.entries)  # committed: the deliverer may look now
        return self._result(outcome)

    def _result(self, outcome: RecordOutcome) -> LedgerResult:
        event = self.catalog.event(outcome.payment.event_id) or unlisted_event(outcome.payment.event_id)
        status = EventStatus(event, outcome.totals.paid_cents, outcome.totals.payment_count)
        return LedgerResult(outcome.payment, status, outcome.replayed)

    def void_payment(self, payment_id: str, *, by: str, source: str = "slack",
                     message: tuple[str, str] | None = None, stripe_refund: StripeRefund | None = None,
                     original: Payment | None = None) -> LedgerResult:
        """Reverse what is left of a payment with a new record. Voiding twice returns the first void,
        replayed. ``message`` = (channel, ts): where the payment's line is, when the void comes from its
        button. ``stripe_refund``: the Stripe refund that paid it back (the void carries its id).
        A payment Stripe refunded in full has nothing left to void (LedgerError). ``original``: the payment
        as the caller has just read it (not read again; the store's write checks it is still so)."""
        payment_id = payment_id.strip()
        if original is None or original.payment_id != payment_id:
            original = self.store.get_payment(payment_id)
        if original is None:
            raise LedgerError({"payment": f"There is no payment '{echo(payment_id)}'."})
        if original.is_void:
            raise LedgerError({"payment": f"'{echo(payment_id)}' is itself a void; it cannot be voided."})
        if original.is_reversal:
            raise LedgerError({"payment": f"'{echo(payment_id)}' is a Stripe refund's record; it cannot be voided "
                                          f"(void the payment it refunds, {original.voids})."})
        now = self.clock()
        void = Payment(
            payment_id=self.new_id("void"),
            event_id=original.event_id,
            patron=original.patron,
            amount_cents=-original.amount_cents,
            method=original.method,
            notes=f"void of {original.payment_id}" + (f", refunded in Stripe ({stripe_refund.refund_id})"
                                                      if stripe_refund else ""),
            logged_by=by,
            recorded_at=now,
            day=self.day_of(now),
            source=source,
            kind=VOID,
            voids=original.payment_id,
            stripe_id=stripe_refund.refund_id if stripe_refund else None,
            payment_intent=stripe_refund.payment_intent if stripe_refund else None,
        )
        announcer = self.announcer
        event = self.catalog.event(original.event_id) or unlisted_event(original.event_id)
        announce = None if announcer is None else Announced(
            lambda outcome: announcer.payment_voided(outcome, event, original, message=message))
        try:
            outcome = self.store.void_payment(original.payment_id, void, announce=announce, original=original)
        except PaymentNotFound:
            raise LedgerError({"payment": f"There is no payment '{echo(payment_id)}'."}) from None
        except NothingLeft:
            raise LedgerError({"payment": f"'{echo(payment_id)}' was refunded in full in Stripe: nothing of it is "
                                          "left to void."}) from None
        return self._written(outcome, announce)

    def record_refund(self, original: Payment, refund: StripeRefund, *, failed: bool = False) -> LedgerResult:
        """A Stripe refund of ``original`` (a reversal of its cents), or with ``failed`` the money of a
        recorded refund that Stripe failed or canceled, put back. Once per refund either way (its id is
        the key). Raises the store's PaymentVoided, NothingLeft, PaymentNotFound."""
        now = self.clock()
        record = Payment(
            payment_id=self.new_id("rfl" if failed else "ref"),
            event_id=original.event_id,
            patron=original.patron,
            amount_cents=refund.amount_cents if failed else -refund.amount_cents,
            method=original.method,
            notes=f"{'failed ' if failed else ''}Stripe refund {refund.refund_id} of {original.payment_id}",
            logged_by="stripe",
            recorded_at=now,
            day=self.day_of(now),
            source="stripe",
            kind=REFUND_FAILED if failed else REFUND,
            voids=original.payment_id,
            stripe_id=refund.refund_id,
            payment_intent=refund.payment_intent,
        )
        announcer = self.announcer
        event = self.catalog.event(original.event_id) or unlisted_event(original.event_id)
        announce = None if announcer is None else Announced(
            lambda outcome: announcer.payment_refunded(outcome, event, outcome.acted_on or original))
        key = refund_failed_key(refund.refund_id) if failed else refund_key(refund.refund_id)
        outcome = self.store.refund_payment(original.payment_id, record, idempotency_key=key, announce=announce)
        return self._written(outcome, announce)

    def payment(self, payment_id: str) -> Payment | None:
        return self.store.get_payment(payment_id.strip())

    def find_void(self, payment_id: str) -> LedgerResult | None:
        """The void of ``payment_id``, if it was voided."""
        return self.replay(void_key(payment_id.strip()))

    # -- reads ---------------------------------------------------------------------
    def find_event(self, ref: str) -> Event:
        try:
            return self.catalog.find_event(ref)
        except EventNotFound as exc:
            raise UnknownEvent(ref, exc.message) from None

    def status(self, event_ref: str) -> EventStatus:
        return self.statuses([self.find_event(event_ref)])[0]

    def statuses(self, events: list[Event], totals: Mapping[str, EventTotals] | None = None) -> list[EventStatus]:
        """The events with their totals (``totals``: already read with other things; else read here)."""
        if totals is None:
            totals = self.store.event_totals([e.id for e in events]) if events else {}
        none = EventTotals("")
        return [EventStatus(e, t.paid_cents, t.payment_count) for e in events for t in (totals.get(e.id, none),)]

    def events_page(self, *, include_past: bool = False, room: int) -> EventsPage:
        """``list_events`` for a list that shows the first ``room`` events: their totals, and of the rest only
        their number and what they owe, summed by the store (one more read only when there is a rest)."""
        events = self.catalog.ordered(self.today(), include_past=include_past)
        shown, rest = events[:room], events[room:]
        owed = self.store.owed({e.id: e.total_cents for e in rest}) if rest else 0
        return EventsPage(tuple(self.statuses(shown)), len(rest), owed)

    def list_events(self, *, include_past: bool = False) -> list[EventStatus]:
        """Upcoming (and undated) events soonest first; with include_past, past ones after them."""
        return self.statuses(self.catalog.ordered(self.today(), include_past=include_past))

    def search_events(self, query: str, *, limit: int) -> tuple[list[EventStatus], int]:
        """(the first ``limit`` events matching ``query``, upcoming first, with their
        totals; how many matched in all). See Catalog.search."""
        found = self.catalog.search(query, self.today())
        return self.statuses(found[:limit]), len(found)

    def event_overview(self, event_ref: str, *, recent: int) -> tuple[EventStatus, EventOverview]:
        """The event as ``/events EVENT`` shows it: its status, its ``recent`` newest records and
        each patron's total, read without reading every payment (see Store.event_overview)."""
        event = self.find_event(event_ref)
        overview = self.store.event_overview(event.id, recent=recent)
        return EventStatus(event, overview.totals.paid_cents, overview.totals.payment_count), overview

    def event_payments(self, event_ref: str) -> list[Payment]:
        return self.store.event_payments(self.find_event(event_ref).id)

    def day_payments(self, day: date) -> list[Payment]:
        return self.store.day_payments(day.isoformat())


def over_balance_message(amount_cents: int, status: EventStatus) -> str:
    balance = status.owed_cents
    over = amount_cents - balance
    if balance == 0:
        return (f"{status.event.title} is already paid in full ({format_cents(status.total_cents)}); "
                f"nothing is owed.")
    return (f"{format_cents(amount_cents)} is {format_cents(over)} more than the balance: "
            f"{format_cents(balance)} is still owed on {status.event.title} "
            f"({format_cents(status.total_cents)} total).")


def unlisted_event(event_id: str) -> Event:
    """An event with records that events.json no longer lists: still voidable and exportable."""
    return Event(id=event_id, title=event_id, date=None, total_cents=0)
