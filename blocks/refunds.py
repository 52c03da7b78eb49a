"""What opsbot says about Stripe refunds it did not make or could not finish: bot/core/refunds.py raises and
keeps facts (a reason code and its fields), this says them. Plain text: the caller escapes it for mrkdwn
(blocks.failures.problem) or fits it into a line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.money import format_cents
from bot.core.ports import RefundRefused
from bot.core.refunds import (
    KEPT_NOTHING_LEFT,
    KEPT_UNKNOWN_PAYMENT,
    NO_API_KEY,
    NO_PAYMENT_INTENT,
    NOT_STRIPE,
    NOTHING_LEFT,
    REFUSED,
    UNREACHABLE,
    RefundDeclined,
    VoidLater,
)

# Stripe's refusals of a refund, in the crew's words (Stripe's own message follows for the rest).
_REFUSALS = {
    "charge_already_refunded": "Stripe has already refunded all of it.",
    "amount_too_large": "Stripe has already refunded part of it, so the amount asked is more than is left.",
    "charge_disputed": "the patron has disputed the charge with their bank; a disputed charge cannot be refunded.",
    "balance_insufficient": "the Stripe balance is too low to pay the refund.",
    "charge_expired_for_refund": "the charge is too old for Stripe to refund.",
}


def refusal_words(refused: RefundRefused) -> str:
    said = _REFUSALS.get(refused.code or "")
    if said is None and "too old" in refused.message.lower():
        said = _REFUSALS["charge_expired_for_refund"]
    return said or f"Stripe said: {refused.message}"


def refund_declined(declined: RefundDeclined) -> str:
    """Why a refund from Slack did not happen (nothing changed)."""
    payment, reason = declined.payment, declined.reason
    if reason == REFUSED and declined.refused is not None:
        return (f"Stripe did not refund {format_cents(declined.amount_cents)} to {payment.patron}: "
                f"{refusal_words(declined.refused)} Nothing was changed.")
    if reason == UNREACHABLE:
        return (f"Stripe could not be asked to refund {format_cents(declined.amount_cents)} ({declined.error}). "
                "Nothing was changed here; try again in a minute (it will not refund twice).")
    if reason == NOT_STRIPE:
        return f"{payment.payment_id} was not paid through Stripe: there is nothing to refund there."
    if reason == NO_API_KEY:
        return "Stripe's API key is not set (STRIPE_API_KEY), so opsbot cannot refund. Nothing was changed."
    if reason == NO_PAYMENT_INTENT:
        return (f"opsbot does not know the Stripe PaymentIntent of {payment.payment_id} (it was recorded before "
                "opsbot kept it): refund it in Stripe's Dashboard; the refund is recorded here when Stripe "
                "says so. Nothing was changed.")
    if reason != NOTHING_LEFT:
        raise ValueError(f"no words for a declined refund's reason {reason!r}")
    return f"Nothing of {payment.payment_id} is left to refund. Nothing was changed."


def void_later(later: VoidLater) -> str:
    """Stripe made the refund; the ledger did not answer when its void was written."""
    return (f"Stripe is refunding {format_cents(later.refund.amount_cents)} to {later.payment.patron} "
            f"(`{later.refund.refund_id}`), but the ledger did not answer: the void is recorded when "
            "Stripe's refund event arrives, or press the button again (it will not refund twice).")


def kept_reason(kept: Mapping[str, Any]) -> str | None:
    """Why a Stripe refund was kept aside, from its stored reason code (None when it has none)."""
    reason = kept.get("reason")
    if reason == KEPT_UNKNOWN_PAYMENT:
        return ("Stripe names a payment opsbot never recorded (paid elsewhere, or still waiting for an event in "
                "`/opsbot assign`).")
    if reason == KEPT_NOTHING_LEFT:
        return (f"It is {format_cents(int(kept['amount_cents']))} of {kept['payment_id']}, which has "
                f"{format_cents(int(kept['left_cents']))} left in the ledger.")
    if reason is None:
        return None
    raise ValueError(f"no words for a kept refund's reason {reason!r}")
