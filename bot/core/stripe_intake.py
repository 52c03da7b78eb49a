"""Stripe webhooks in: a paid Checkout Session becomes a ``stripe`` payment on
its event (once, however often Stripe delivers it), its payment link is marked
paid, and its audit line and email copy are written to the outbox with it. A
paid session with no known event is kept (``stripe-unassigned`` / ``-`` /
session id), announced, until an admin assigns it. Refund events go to the
refunds service (bot/refunds.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from bot.core.ledger import Clock, Ledger, LedgerError, LedgerResult, utc_now
from bot.core.outbox import Announcer
from bot.core.paylinks import Paylinks
from bot.core.ports import Store, WebhookRejected
from bot.core.refunds import REFUND_EVENTS, StripeRefunds
from bot.core.user_text import echo

log = logging.getLogger(__name__)

PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
UNASSIGNED = "stripe-unassigned"
_ALL = "-"

# (raw body, Stripe-Signature header) -> the verified event as plain dicts; raises WebhookRejected.
Verifier = Callable[[bytes, "str | None"], dict[str, Any]]


class StripeNotConfigured(Exception):
    """STRIPE_WEBHOOK_SECRET is not set: no event can be verified, so none is accepted."""


class AssignError(Exception):
    """An /opsbot assign that cannot be done; the message says why."""


def payment_key(session_id: str) -> str:
    """The ledger idempotency key of a Checkout Session's payment: one payment per session."""
    return f"stripe:{session_id}"


@dataclass(frozen=True)
class Assigned:
    result: LedgerResult
    session_id: str
    already: bool  # it had been recorded before: nothing changed


class StripeIntake:
    def __init__(self, ledger: Ledger, store: Store, paylinks: Paylinks, announcer: Announcer, *,
                 verify: Verifier | None, clock: Clock = utc_now, refunds: StripeRefunds | None = None):
        self.refunds = refunds or StripeRefunds(ledger, store, None, announcer, clock=clock)
        self.ledger = ledger
        self.store = store
        self.paylinks = paylinks
        self.announcer = announcer
        self.verify = verify
        self.clock = clock

    # -- the webhook -------------------------------------------------------------------------
    def receive(self, raw_body: bytes, signature_header: str | None) -> dict[str, Any]:
        """Verify and handle one delivery; returns the JSON answer. Raises StripeNotConfigured,
        WebhookRejected (nothing recorded) or RefundsUnavailable (nothing recorded: Stripe retries)."""
        if self.verify is None:
            raise StripeNotConfigured("STRIPE_WEBHOOK_SECRET is not set: Stripe events are not accepted")
        event = self.verify(raw_body, signature_header)
        kind = event.get("type")
        if kind in REFUND_EVENTS:
            try:
                return self.refunds.receive(event)
            except ValueError as exc:
                raise WebhookRejected(str(exc)) from None
        if kind not in PAID_EVENTS:
            return {"status": "ignored", "type": kind}
        session = (event.get("data") or {}).get("object")
        if not isinstance(session, dict) or not isinstance(session.get("id"), str):
            raise WebhookRejected(f"{kind} without a Checkout Session")
        payment_status = session.get("payment_status")
        if payment_status != "paid":
            reason = "not paid yet" if payment_status == "unpaid" else f"payment_status is {payment_status}"
            return {"status": "ignored", "type": kind, "reason": reason}
        amount = session.get("amount_total")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return {"status": "ignored", "type": kind, "reason": "nothing was charged"}
        return self._paid(event, session, amount)

    def _paid(self, event: Mapping[str, Any], session: Mapping[str, Any], amount: int) -> dict[str, Any]:
        session_id = session["id"]
        earlier = self.ledger.replay(payment_key(session_id))
        if earlier is not None:  # a redelivery, or a session assigned since: announced when it was recorded
            return {"status": "recorded", "payment_id": earlier.payment.payment_id, "replayed": True}

        details = session.get("customer_details") or {}
        patron = str(details.get("name") or details.get("email") or "Stripe customer")
        metadata = session.get("metadata") or {}
        link_id = session.get("payment_link")
        link = None
        if isinstance(link_id, str):
            link = self.paylinks.mark_paid(link_id, session_id=session_id, amount_cents=amount, paid_at=self.clock())
        event_id = metadata.get("event_id") or (link.event_id if link else None)
        currency = str(session.get("currency") or "usd").lower()

        reason = None
        if currency != "usd":
            reason = f"It was paid in {currency.upper()}, and the ledger is in US dollars."
        elif event_id and self.ledger.catalog.event(str(event_id)) is None:
            reason = f"Its event '{echo(str(event_id))}' is not in events.json."
        if not event_id or reason:
            self._keep_unassigned(event, session, amount=amount, patron=patron, reason=reason)
            return {"status": "unassigned", "session_id": session_id}

        result = self.ledger.record_stripe_payment(event_id=str(event_id), patron=patron, amount_cents=amount,
                                                   notes=session_id, idempotency_key=payment_key(session_id),
                                                   stripe_id=session_id,
                                                   payment_intent=_intent(session.get("payment_intent")))
        return {"status": "recorded", "payment_id": result.payment.payment_id, "replayed": result.replayed}

    def _keep_unassigned(self, event: Mapping[str, Any], session: Mapping[str, Any], *, amount: int, patron: str,
                         reason: str | None) -> None:
        session_id = session["id"]
        details = session.get("customer_details") or {}
        kept = {
            "session_id": session_id, "stripe_event_id": event.get("id"), "amount_cents": amount,
            "currency": session.get("currency"), "patron": patron, "email": details.get("email"),
            "payment_link": session.get("payment_link"), "metadata": session.get("metadata") or {},
            "payment_intent": _intent(session.get("payment_intent")),
            "reason": reason, "received_at": self.clock().astimezone(UTC).isoformat(timespec="seconds"),
        }
        announcement = self.announcer.stripe_unassigned(kept, self.clock())
        if self.store.put_record(UNASSIGNED, _ALL, session_id, kept, if_absent=True, announce=announcement):
            self.announcer.ring(announcement.entries)

    # -- /opsbot assign ------------------------------------------------------------------------
    def unassigned(self) -> list[dict[str, Any]]:
        """Paid sessions still waiting for an event, oldest first."""
        return [r for r in self.store.list_records(UNASSIGNED, _ALL) if not r.get("payment_id")]

    def assign(self, session_id: str, event_ref: str, *, by: str) -> Assigned:
        """Record a kept session on an event. Raises AssignError or UnknownEvent."""
        kept = self.store.get_record(UNASSIGNED, _ALL, session_id)
        if kept is None:
            raise AssignError(f"There is no unassigned Stripe payment '{echo(session_id)}'.")
        earlier = self.ledger.replay(payment_key(session_id))
        if earlier is not None:
            return Assigned(earlier, session_id, already=True)
        event = self.ledger.find_event(event_ref)
        if str(kept.get("currency") or "usd").lower() != "usd":
            raise AssignError(f"'{echo(session_id)}' was paid in {str(kept['currency']).upper()}; "
                              "the ledger is in US dollars, so it cannot be recorded here.")
        try:
            result = self.ledger.record_stripe_payment(
                event_id=event.id, patron=kept["patron"], amount_cents=int(kept["amount_cents"]), notes=session_id,
                idempotency_key=payment_key(session_id), stripe_id=session_id,
                payment_intent=kept.get("payment_intent"))
        except LedgerError as exc:
            raise AssignError(" ".join(exc.errors.values())) from None
        self.store.put_record(UNASSIGNED, _ALL, session_id, {
            **kept, "payment_id": result.payment.payment_id, "assigned_to": event.id, "assigned_by": by,
            "assigned_at": self.clock().astimezone(UTC).isoformat(timespec="seconds"),
        })
        self.refunds.after_assign(kept.get("payment_intent"))
        return Assigned(result, session_id, already=result.replayed)

    def assigned(self, session_id: str) -> LedgerResult | None:
        """The payment a session became, if it was recorded."""
        return self.ledger.replay(payment_key(session_id))



def _intent(value: Any) -> str | None:
    """A Checkout Session's PaymentIntent: an id, or the object when expanded."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value.startswith("pi_") else None
