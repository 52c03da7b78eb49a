"""Stripe refunds: Stripe is the source of truth for card money.

A refund event (``charge.refunded``, ``charge.refund.updated``, ``refund.*``) names a
PaymentIntent (or a charge); since API version 2022-11-15 a charge no longer lists its
refunds, so each delivery lists them through the Refunds API and brings the ledger in
line with what Stripe says now, refund by refund:

- a refund that succeeded is one reversal record (kind ``refund``) of the Stripe payment
  it pays back, found by its PaymentIntent; its id is the record's idempotency key, so a
  redelivery, or another event about the same refund, records nothing more;
- a recorded refund that failed or was canceled later puts its cents back once (kind
  ``refund_failed``); one that failed before it was ever recorded changes nothing;
- a refund opsbot made itself when an admin voided the payment (metadata
  ``opsbot_void_of``) is that void: recorded as the void, once, whichever comes first;
- a refund of a payment the ledger does not hold (or cannot take from) is kept aside
  (``stripe-refunds-kept`` / ``-`` / refund id) and announced, never guessed onto an event.

Deliveries about one PaymentIntent take turns (a claim in the store): two of them reading
Stripe at once could otherwise each act on what the other has not written yet. One that
finds the claim held is answered 503, and Stripe delivers it again later.

Refunding from Slack: ``refund_and_void`` asks Stripe for the refund of what is left
(idempotency key per payment and amount), then records the void carrying the refund's id.
A refund Stripe refuses changes nothing and raises why, as a reason code (``RefundDeclined``); blocks/refunds.py
says it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from bot.core.domain import STRIPE_METHOD, Payment
from bot.core.ledger import Clock, Ledger, LedgerError, LedgerResult, utc_now
from bot.core.outbox import Announcer
from bot.core.ports import (
    NothingLeft,
    Payments,
    PaymentsError,
    PaymentVoided,
    RefundRefused,
    Store,
    StoreError,
    StripeRefund,
    refund_key,
    void_key,
)
from bot.core.user_text import echo

log = logging.getLogger(__name__)

REFUND_EVENTS = ("charge.refunded", "charge.refund.updated", "refund.created", "refund.updated", "refund.failed")
KEPT = "stripe-refunds-kept"
_ALL = "-"
VOID_OF = "opsbot_void_of"  # a refund's metadata: the payment opsbot voided when it asked for this refund
VOID_BY = "opsbot_void_by"
SUCCEEDED = "succeeded"
UNDONE = ("failed", "canceled")  # a refund that gave nothing back (or took it back again)
CLAIM_LEASE = timedelta(minutes=2)


class RefundsUnavailable(Exception):
    """Stripe's refunds cannot be read now (no API key, Stripe not reached, another delivery at work on the
    same payment): nothing was recorded; Stripe should deliver the event again later."""


# Why a refund from Slack did not happen (RefundDeclined.reason); blocks/refunds.py says each in words.
NOT_STRIPE = "not_stripe"  # not paid through Stripe (or a reversal): nothing to refund there
NO_API_KEY = "no_api_key"  # STRIPE_API_KEY is not set
NO_PAYMENT_INTENT = "no_payment_intent"  # recorded before opsbot kept a payment's PaymentIntent
NOTHING_LEFT = "nothing_left"  # nothing of the payment is left to refund
REFUSED = "refused"  # Stripe refused the refund (``refused`` holds Stripe's code and message)
UNREACHABLE = "unreachable"  # Stripe could not be asked (``error`` holds why)

# Why a Stripe refund was kept aside (a kept record's "reason"); blocks/refunds.py says each in words.
KEPT_UNKNOWN_PAYMENT = "unknown_payment"  # Stripe names a payment opsbot never recorded
KEPT_NOTHING_LEFT = "nothing_left"  # the payment has less left than the refund (``payment_id``, ``left_cents``)


class RefundDeclined(Exception):
    """A refund from Slack that did not happen: ``reason`` (one of the codes above) and the facts it needs
    (the payment, the amount asked, Stripe's refusal or the error). Nothing changed."""

    def __init__(self, reason: str, payment: Payment, *, amount_cents: int = 0, refused: RefundRefused | None = None,
                 error: str = ""):
        super().__init__(reason)
        self.reason, self.payment, self.amount_cents, self.refused, self.error = \
            reason, payment, amount_cents, refused, error


class VoidLater(Exception):
    """Stripe made the refund, and the ledger did not answer when its void was written: the void is
    recorded when Stripe's refund event arrives (or when the admin asks again)."""

    def __init__(self, payment: Payment, refund: StripeRefund):
        super().__init__(refund.refund_id)
        self.payment, self.refund = payment, refund


@dataclass(frozen=True)
class Applied:
    """What one Stripe refund did to the ledger."""

    refund_id: str
    outcome: str  # refunded | refund_failed | voided | kept | noted | waiting | nothing
    record_id: str | None = None
    replayed: bool = False

    def as_json(self) -> dict[str, Any]:
        said: dict[str, Any] = {"refund_id": self.refund_id, "outcome": self.outcome}
        if self.record_id:
            said.update(record_id=self.record_id, replayed=self.replayed)
        return said


class StripeRefunds:
    def __init__(self, ledger: Ledger, store: Store, payments: Payments | None, announcer: Announcer, *,
                 clock: Clock = utc_now):
        self.ledger = ledger
        self.store = store
        self.payments = payments
        self.announcer = announcer
        self.clock = clock

    # -- the webhook ---------------------------------------------------------------------------
    def receive(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """A verified refund event: the PaymentIntent's refunds, as Stripe lists them now, applied.
        Raises RefundsUnavailable (answer 503: Stripe retries) or ValueError (not a refund event's object)."""
        kind = event.get("type")
        obj = (event.get("data") or {}).get("object")
        if not isinstance(obj, dict):
            raise ValueError(f"{kind} without its object")
        if kind == "charge.refunded":
            if obj.get("object") != "charge":
                raise ValueError(f"{kind} without a charge")
            intent, charge = _ref(obj.get("payment_intent")), _ref(obj.get("id"))
        else:
            refund = StripeRefund.from_object(obj)
            intent, charge = refund.payment_intent, refund.charge
        if intent is None and charge is None:
            return {"status": "ignored", "type": kind, "reason": "the refund names no payment"}
        applied = self.reconcile(payment_intent=intent, charge=charge)
        return {"status": "refunds", "type": kind, "payment_intent": intent,
                "refunds": [a.as_json() for a in applied]}

    def reconcile(self, *, payment_intent: str | None, charge: str | None = None) -> list[Applied]:
        """Bring the ledger in line with every refund Stripe lists for the PaymentIntent (or charge)."""
        if self.payments is None:
            raise RefundsUnavailable("STRIPE_API_KEY is not set: opsbot cannot list the refunds Stripe made")
        claim, holder = f"stripe-refunds:{payment_intent or charge}", uuid.uuid4().hex
        if not self.store.claim(claim, holder=holder, now=self.clock(), lease=CLAIM_LEASE):
            raise RefundsUnavailable(f"another delivery is recording the refunds of {payment_intent or charge}")
        try:
            try:
                refunds = self.payments.list_refunds(payment_intent=payment_intent,
                                                     charge=None if payment_intent else charge)
            except PaymentsError as exc:
                raise RefundsUnavailable(f"Stripe's refunds could not be read: {exc.reason}") from exc
            intent = payment_intent or next((r.payment_intent for r in refunds if r.payment_intent), None)
            original = self._payment_of(intent) if intent else None
            applied = [self._apply(original, refund) for refund in reversed(refunds)]  # oldest first
            if original is not None:
                self._settle_kept([a for a in applied if a.record_id])
            return applied
        finally:
            self.store.release_claim(claim, holder=holder)

    def _settle_kept(self, applied: list[Applied]) -> None:
        """Refunds kept aside before their payment was recorded (a session assigned since), now recorded:
        no longer waiting."""
        for a in applied:
            kept = self.store.get_record(KEPT, _ALL, a.refund_id)
            if kept is not None and not kept.get("record_id"):
                self.store.put_record(KEPT, _ALL, a.refund_id, {**kept, "record_id": a.record_id})

    def after_assign(self, payment_intent: str | None) -> None:
        """A session assigned to an event: refunds Stripe made of it before are recorded now (Stripe sent their
        events while opsbot had no payment to take them from). Best effort: the next refund event does it too."""
        if payment_intent is None or self.payments is None:
            return
        try:
            self.reconcile(payment_intent=payment_intent)
        except RefundsUnavailable as exc:
            log.warning("refunds of %s not looked at after its assignment: %s", payment_intent, exc)

    def _payment_of(self, payment_intent: str) -> Payment | None:
        """The Stripe payment of a PaymentIntent: by the index, else (a payment recorded before payments kept
        their PaymentIntent) by the Checkout Session that made it."""
        found = self.store.stripe_payment(payment_intent)
        if found is not None or self.payments is None:
            return found
        try:
            session_id = self.payments.payment_intent_session(payment_intent)
        except PaymentsError as exc:
            raise RefundsUnavailable(f"Stripe's Checkout Session could not be read: {exc.reason}") from exc
        if session_id is None:
            return None
        earlier = self.ledger.replay(f"stripe:{session_id}")
        return earlier.payment if earlier is not None and earlier.payment.method == STRIPE_METHOD else None

    def _apply(self, original: Payment | None, refund: StripeRefund) -> Applied:
        if refund.status not in (SUCCEEDED, *UNDONE):
            return Applied(refund.refund_id, "waiting")  # pending: the money has not moved yet
        if original is None:
            if refund.status != SUCCEEDED:
                return Applied(refund.refund_id, "nothing")
            return self._keep(refund, KEPT_UNKNOWN_PAYMENT)
        if refund.metadata and refund.metadata.get(VOID_OF) == original.payment_id:
            return self._void_refund(original, refund)
        if refund.status == SUCCEEDED:
            return self._refund(original, refund)
        return self._undo(original, refund)

    def _refund(self, original: Payment, refund: StripeRefund) -> Applied:
        try:
            result = self.ledger.record_refund(original, refund)
        except PaymentVoided:
            return self._note(original, refund, "voided")
        except NothingLeft as exc:
            return self._keep(refund, KEPT_NOTHING_LEFT, payment_id=original.payment_id, left_cents=exc.left_cents)
        return Applied(refund.refund_id, "refunded", result.payment.payment_id, result.replayed)

    def _undo(self, original: Payment, refund: StripeRefund) -> Applied:
        """A refund that failed or was canceled: its cents back, if they were ever taken."""
        if self.store.replay(refund_key(refund.refund_id)) is None:
            return Applied(refund.refund_id, "nothing")  # never recorded: nothing to give back
        try:
            result = self.ledger.record_refund(original, refund, failed=True)
        except (PaymentVoided, NothingLeft):
            return self._note(original, refund, "refund_failed_after_void")
        return Applied(refund.refund_id, "refund_failed", result.payment.payment_id, result.replayed)

    def _void_refund(self, original: Payment, refund: StripeRefund) -> Applied:
        """The refund opsbot asked for when an admin voided the payment: that void (made once, whichever of
        the Slack request and this delivery comes first)."""
        if refund.status != SUCCEEDED:
            voided = self.store.replay(void_key(original.payment_id))
            if voided is None:
                return Applied(refund.refund_id, "nothing")
            return self._note(original, refund, "void_refund_failed")
        try:
            # recorded as the admin's void from Slack, as if their own request had got there first
            result = self.ledger.void_payment(original.payment_id, by=(refund.metadata or {}).get(VOID_BY, "stripe"),
                                              stripe_refund=refund)
        except LedgerError:  # refunded in full by other refunds meanwhile: nothing left for the void
            return self._note(original, refund, "voided")
        return Applied(refund.refund_id, "voided", result.payment.payment_id, result.replayed)

    def _keep(self, refund: StripeRefund, reason: str, **facts: Any) -> Applied:
        """Kept aside with its reason code (and that reason's facts): blocks/refunds.py says it."""
        kept = {"refund_id": refund.refund_id, "amount_cents": refund.amount_cents, "currency": refund.currency,
                "payment_intent": refund.payment_intent, "charge": refund.charge, "reason": reason, **facts,
                "received_at": self.clock().astimezone(UTC).isoformat(timespec="seconds")}
        announcement = self.announcer.stripe_refund_kept(kept, self.clock())
        if self.store.put_record(KEPT, _ALL, refund.refund_id, kept, if_absent=True, announce=announcement):
            self.announcer.ring(announcement.entries)
        return Applied(refund.refund_id, "kept")

    def _note(self, original: Payment, refund: StripeRefund, situation: str) -> Applied:
        note = {"refund_id": refund.refund_id, "payment_id": original.payment_id, "amount_cents": refund.amount_cents,
                "situation": situation}
        announcement = self.announcer.stripe_refund_note(note, self.clock())
        self.store.announce(announcement)  # written once per situation
        self.announcer.ring(announcement.entries)
        return Applied(refund.refund_id, "noted")

    def kept(self) -> list[dict[str, Any]]:
        """Refunds kept aside and still not recorded, oldest first."""
        return [r for r in self.store.list_records(KEPT, _ALL) if not r.get("record_id")]

    # -- from Slack: void and refund ------------------------------------------------------------------
    def refundable(self, payment: Payment) -> bool:
        """A Stripe payment opsbot can refund: paid through Stripe, its PaymentIntent known, something left."""
        return (self.payments is not None and payment.method == STRIPE_METHOD and not payment.is_reversal
                and payment.payment_intent is not None and payment.left_cents > 0)

    def should_ask(self, payment: Payment) -> bool:
        """Whether voiding ``payment`` should ask first whether to refund it in Stripe too."""
        return payment.voided_by is None and self.refundable(payment)

    def refund_and_void(self, payment_id: str, *, by: str, message: tuple[str, str] | None = None) -> LedgerResult:
        """Refund what is left of a Stripe payment in Stripe, then void it in the ledger (the void carries the
        refund's id, and the refund names the void: the webhook that follows changes nothing more).
        Raises RefundDeclined (nothing changed), VoidLater (refunded; the void comes with Stripe's event) or
        LedgerError."""
        payment = self.store.get_payment(payment_id.strip())
        if payment is None:
            raise LedgerError({"payment": f"There is no payment '{echo(payment_id)}'."})
        earlier = self.ledger.find_void(payment.payment_id)
        if earlier is not None:
            return earlier
        if not self.refundable(payment) or self.payments is None:
            raise RefundDeclined(self._why_not(payment), payment)
        left = payment.left_cents
        try:
            refund = self.payments.create_refund(
                payment_intent=str(payment.payment_intent), amount_cents=left,
                metadata={VOID_OF: payment.payment_id, VOID_BY: by},
                # the same payment and amount: the same refund, however often asked (a retry, a double tap)
                idempotency_key=f"opsbot-void-refund:{payment.payment_id}:{left}")
        except RefundRefused as exc:
            raise RefundDeclined(REFUSED, payment, amount_cents=left, refused=exc) from None
        except PaymentsError as exc:
            raise RefundDeclined(UNREACHABLE, payment, amount_cents=left, error=exc.reason) from None
        try:
            return self.ledger.void_payment(payment.payment_id, by=by, message=message, stripe_refund=refund)
        except StoreError as exc:
            log.error("refund %s of %s made, its void not written: %s", refund.refund_id, payment.payment_id, exc)
            raise VoidLater(payment, refund) from None

    def _why_not(self, payment: Payment) -> str:
        if payment.method != STRIPE_METHOD or payment.is_reversal:
            return NOT_STRIPE
        if self.payments is None:
            return NO_API_KEY
        if payment.payment_intent is None:
            return NO_PAYMENT_INTENT
        return NOTHING_LEFT


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None
