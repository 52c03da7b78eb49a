"""blocks/refunds.py: the words for the facts bot/core/refunds.py raises and keeps, word for word."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blocks.refunds import kept_reason, refund_declined, void_later
from bot.core.domain import Payment
from bot.core.ports import RefundRefused, StripeRefund
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

PAID = Payment(payment_id="pay_k7m2x9q4ab", event_id="jada", patron="Ana Ruiz", amount_cents=10_000, method="stripe",
               notes="", logged_by="stripe", recorded_at=datetime(2026, 5, 1, tzinfo=UTC), day="2026-05-01",
               source="stripe", stripe_id="cs_test_1", payment_intent="pi_test_1")


@pytest.mark.parametrize(("declined", "said"), [
    (RefundDeclined(REFUSED, PAID, amount_cents=10_000, refused=RefundRefused("charge_disputed", "Disputed.")),
     "Stripe did not refund $100.00 to Ana Ruiz: the patron has disputed the charge with their bank; a disputed "
     "charge cannot be refunded. Nothing was changed."),
    (RefundDeclined(REFUSED, PAID, amount_cents=2_550, refused=RefundRefused(None, "Something odd.")),
     "Stripe did not refund $25.50 to Ana Ruiz: Stripe said: Something odd. Nothing was changed."),
    (RefundDeclined(UNREACHABLE, PAID, amount_cents=10_000, error="Stripe did not answer in 10 s"),
     "Stripe could not be asked to refund $100.00 (Stripe did not answer in 10 s). Nothing was changed here; try "
     "again in a minute (it will not refund twice)."),
    (RefundDeclined(NOT_STRIPE, PAID),
     "pay_k7m2x9q4ab was not paid through Stripe: there is nothing to refund there."),
    (RefundDeclined(NO_API_KEY, PAID),
     "Stripe's API key is not set (STRIPE_API_KEY), so opsbot cannot refund. Nothing was changed."),
    (RefundDeclined(NO_PAYMENT_INTENT, PAID),
     "opsbot does not know the Stripe PaymentIntent of pay_k7m2x9q4ab (it was recorded before opsbot kept it): "
     "refund it in Stripe's Dashboard; the refund is recorded here when Stripe says so. Nothing was changed."),
    (RefundDeclined(NOTHING_LEFT, PAID), "Nothing of pay_k7m2x9q4ab is left to refund. Nothing was changed."),
])
def test_each_declined_refund_says_why(declined, said):
    assert refund_declined(declined) == said


def test_a_reason_without_words_is_an_error_not_a_silence():
    with pytest.raises(ValueError, match="no words"):
        refund_declined(RefundDeclined("made_up", PAID))
    with pytest.raises(ValueError, match="no words"):
        kept_reason({"reason": "made_up"})


def test_a_refund_whose_void_was_not_written_says_it_comes_later():
    refund = StripeRefund(refund_id="re_test_9", amount_cents=10_000, currency="usd", status="succeeded",
                          payment_intent="pi_test_1", charge=None)
    assert void_later(VoidLater(PAID, refund)) == (
        "Stripe is refunding $100.00 to Ana Ruiz (`re_test_9`), but the ledger did not answer: the void is recorded "
        "when Stripe's refund event arrives, or press the button again (it will not refund twice).")


def test_each_kept_reason_is_said_from_its_code():
    assert kept_reason({"reason": KEPT_UNKNOWN_PAYMENT}) == (
        "Stripe names a payment opsbot never recorded (paid elsewhere, or still waiting for an event in "
        "`/opsbot assign`).")
    assert kept_reason({"reason": KEPT_NOTHING_LEFT, "amount_cents": 5_000, "payment_id": "pay_k7m2x9q4ab",
                        "left_cents": 1_250}) == (
        "It is $50.00 of pay_k7m2x9q4ab, which has $12.50 left in the ledger.")
    assert kept_reason({"refund_id": "re_1"}) is None
