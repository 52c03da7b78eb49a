"""The Void button on a payment's audit line (``payment_void``), admins only.

The role is checked when the button is pressed (by the permission middleware,
handlers/access_middleware.py), not when it was drawn: the button is on a
channel message everyone sees.

A Stripe payment that can be refunded is not voided at once: the presser is asked
(an ephemeral message with two buttons, the refund's behind a confirm) whether to
refund it in Stripe too (``payment_void_refund``) or void it here only
(``payment_void_only``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.audit import void_refund_question
from blocks.failures import problem
from blocks.receipts import void_receipt
from blocks.refunds import refund_declined, void_later
from bot.core.ledger import LedgerError
from bot.core.refunds import RefundDeclined, VoidLater

if TYPE_CHECKING:
    from bot.container import Services


def acknowledge(*, ack: Callable[..., Any]) -> None:
    ack()


def void_from_button(*, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any],
                     services: Services) -> None:
    """After the ack: void (its line, the strike-through of the payment's line and its email
    copy go to the outbox with it), tell the presser."""
    user = body["user"]["id"]
    container = body.get("container") or {}
    channel, ts = container.get("channel_id"), container.get("message_ts")
    where = (channel, ts) if channel and ts else None
    payment_id = str(action.get("value", ""))
    # Read once: the question's answer and the void's original (the store's write checks it is still so).
    payment = services.ledger.payment(payment_id)
    if payment is not None and services.refunds.should_ask(payment):
        text, blocks = void_refund_question(payment, where)
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
        return
    try:
        result = services.ledger.void_payment(payment_id, by=user, message=where, original=payment)
    except LedgerError as exc:
        respond(text=problem(" ".join(exc.errors.values())), response_type="ephemeral", replace_original=False)
        return
    respond(text=void_receipt(result), response_type="ephemeral", replace_original=False)


def void_as_chosen(*, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any],
                   services: Services, refund: bool) -> None:
    """The answer to the question: void and refund in Stripe, or void here only. The answer replaces
    the question; a refund Stripe refuses says why and changes nothing."""
    user = body["user"]["id"]
    payment_id, *where = str(action.get("value", "")).split("|")
    message = (where[0], where[1]) if len(where) == 2 else None
    try:
        if refund:
            result = services.refunds.refund_and_void(payment_id, by=user, message=message)
        else:
            result = services.ledger.void_payment(payment_id, by=user, message=message)
    except RefundDeclined as declined:
        respond(text=problem(refund_declined(declined)), response_type="ephemeral", replace_original=True)
        return
    except VoidLater as later:
        respond(text=problem(void_later(later)), response_type="ephemeral", replace_original=True)
        return
    except LedgerError as exc:
        respond(text=problem(" ".join(exc.errors.values())), response_type="ephemeral", replace_original=True)
        return
    respond(text=void_receipt(result), response_type="ephemeral", replace_original=True)
