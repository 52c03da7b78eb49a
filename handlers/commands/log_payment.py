"""``/log-payment``: alone (or with an event) it opens the payment modal; with
``EVENT AMOUNT METHOD PATRON…`` it records the payment in one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.failures import problem
from blocks.payment_modal import payment_modal
from blocks.receipts import payment_receipt
from bot.core.commands import LOG_PAYMENT_USAGE, UsageError, parse_log_payment
from bot.core.ledger import LedgerError, UnknownEvent
from handlers.slack_text import command_text

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.container import Services


def idempotency_key(command: dict[str, Any]) -> str:
    # Slack sends one trigger_id per invocation; a redelivery of the same request carries the same one.
    return f"cmd:{command['trigger_id']}"


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def log_payment_command(*, ack: Callable[..., Any], command: dict[str, Any], client: WebClient,
                        services: Services) -> None:
    user = command["user_id"]
    try:
        parsed = parse_log_payment(command_text(command))
    except UsageError as exc:
        ack(**_ephemeral(f"{problem(str(exc))} {LOG_PAYMENT_USAGE}"))
        return

    if parsed.opens_form:
        preselect = None
        if parsed.event:
            try:
                preselect = services.ledger.find_event(parsed.event).id
            except UnknownEvent as exc:
                ack(**_ephemeral(f"{problem(exc.errors['event'])} {LOG_PAYMENT_USAGE}"))
                return
        else:
            tied = services.catalog.event_for_channel(command.get("channel_id", ""))
            preselect = tied.id if tied else None
        ack()
        metadata = json.dumps({"channel_id": command.get("channel_id")})
        view = payment_modal(services.ledger.list_events(include_past=True), methods=services.catalog.payment_methods,
                             preselect=preselect, private_metadata=metadata)
        client.views_open(trigger_id=command["trigger_id"], view=view)
        return

    try:
        result = services.ledger.record_payment(
            event_id=parsed.event, patron=parsed.patron, amount=parsed.amount, method=parsed.method, notes="",
            logged_by=user, idempotency_key=idempotency_key(command),
        )
    except LedgerError as exc:
        ack(**_ephemeral(problem(" ".join(exc.errors.values())) + f"\n{LOG_PAYMENT_USAGE}"))
        return
    # The receipt is the answer; the audit line and the email copy were written to the outbox with the payment.
    ack(**_ephemeral(payment_receipt(result)))
