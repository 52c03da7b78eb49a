"""The "Log payment" button on a reminder: opens the payment modal for that event."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.payment_modal import payment_modal

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.container import Services


def open_payment_modal(*, ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any],
                       client: WebClient, respond: Callable[..., Any], services: Services) -> None:
    # The trigger expires in 3 seconds: open the modal right here, before anything slow.
    ack()
    channel = (body.get("channel") or {}).get("id")
    view = payment_modal(services.ledger.list_events(include_past=True), methods=services.catalog.payment_methods,
                         preselect=str(action.get("value", "")), private_metadata=json.dumps({"channel_id": channel}))
    client.views_open(trigger_id=body["trigger_id"], view=view)
