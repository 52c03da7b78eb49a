"""The Void button on a payment's audit line (``payment_void``), admins only.

The role is checked when the button is pressed (by the permission middleware,
handlers/access_middleware.py), not when it was drawn: the button is on a
channel message everyone sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.failures import problem
from blocks.receipts import void_receipt
from bot.ledger import LedgerError

if TYPE_CHECKING:
    from bot.app import Services


def acknowledge(*, ack: Callable[..., Any]) -> None:
    ack()


def void_from_button(*, body: dict[str, Any], action: dict[str, Any], respond: Callable[..., Any],
                     services: Services) -> None:
    """After the ack: void, update the audit lines, tell the presser."""
    user = body["user"]["id"]
    try:
        result = services.ledger.void_payment(str(action.get("value", "")), by=user)
    except LedgerError as exc:
        respond(text=problem(" ".join(exc.errors.values())), response_type="ephemeral", replace_original=False)
        return
    container = body.get("container") or {}
    message = (container.get("channel_id"), container.get("message_ts"))
    services.audit.payment_voided(result, message=message if all(message) else None)
    respond(text=void_receipt(result), response_type="ephemeral", replace_original=False)
