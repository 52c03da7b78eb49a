"""The payment modal's submission (``callback_id`` log_payment)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.payment_modal import FIELDS, form_values
from blocks.receipts import payment_receipt
from bot.ledger import LedgerError
from bot.ports import NotifyError

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)


def idempotency_key(view: dict[str, Any]) -> str:
    # The view id is the same on every delivery of one modal's submission.
    return f"view:{view['id']}"


def submit_payment(*, ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any],
                   services: Services) -> None:
    user = body["user"]["id"]
    values = form_values(view.get("state", {}).get("values", {}))
    try:
        services.ledger.record_payment(
            event_id=values["event"], patron=values["patron"], amount=values["amount"], method=values["method"],
            notes=values["notes"], logged_by=user, idempotency_key=idempotency_key(view),
        )
    except LedgerError as exc:
        errors = {field if field in FIELDS else "event": message for field, message in exc.errors.items()}
        ack(response_action="errors", errors=errors)
        return
    ack()  # closes the modal


def announce_submitted_payment(*, body: dict[str, Any], view: dict[str, Any], services: Services) -> None:
    """After the ack: the audit line, and a receipt for the submitter where they ran the command."""
    result = services.ledger.replay(idempotency_key(view))
    if result is None:  # the submission was refused with field errors
        return
    services.audit.payment_recorded(result)
    user = body["user"]["id"]
    channel = _metadata(view).get("channel_id")
    text = payment_receipt(result)

    def send_receipt() -> None:
        if channel:
            try:
                services.notifier.post_ephemeral(channel, user, text)
                return
            except NotifyError:
                # Not in that channel (or it is gone): the DM always works.
                log.info("could not post the receipt in %s; sending it as a DM", channel)
        services.notifier.direct_message(user, text)

    services.once.run(f"receipt:{result.payment.payment_id}", send_receipt)


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
