"""The payment modal's submission (``callback_id`` log_payment)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.payment_modal import FIELDS, form_values
from bot.core.ledger import LedgerError

if TYPE_CHECKING:
    from bot.container import Services


def idempotency_key(view: dict[str, Any]) -> str:
    # The view id is the same on every delivery of one modal's submission.
    return f"view:{view['id']}"


def submit_payment(*, ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any],
                   services: Services) -> None:
    """Record the payment; its audit line, email copy and the submitter's receipt (where they ran
    the command, else a direct message) are written to the outbox with it. The ack closes the modal."""
    user = body["user"]["id"]
    values = form_values(view.get("state", {}).get("values", {}))
    try:
        services.ledger.record_payment(
            event_id=values["event"], patron=values["patron"], amount=values["amount"], method=values["method"],
            notes=values["notes"], logged_by=user, idempotency_key=idempotency_key(view),
            receipt_to=(_metadata(view).get("channel_id") or "", user),
        )
    except LedgerError as exc:
        errors = {field if field in FIELDS else "event": message for field, message in exc.errors.items()}
        ack(response_action="errors", errors=errors)
        return
    ack()  # closes the modal


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
