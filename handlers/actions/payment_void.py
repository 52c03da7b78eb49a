"""The Void button on a payment's audit line (``payment_void``), admins only.

The role is checked when the button is pressed (by the permission middleware,
handlers/access_middleware.py), not when it was drawn: the button is on a
channel message everyone sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.failures import problem
from blocks.receipts import void_receipt
from bot.core.ledger import LedgerError

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
    try:
        result = services.ledger.void_payment(str(action.get("value", "")), by=user,
                                              message=(channel, ts) if channel and ts else None)
    except LedgerError as exc:
        respond(text=problem(" ".join(exc.errors.values())), response_type="ephemeral", replace_original=False)
        return
    respond(text=void_receipt(result), response_type="ephemeral", replace_original=False)
