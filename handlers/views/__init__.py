"""View submission listeners (modals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.payment_modal import CALLBACK_ID
from handlers.lazy import after_ack
from handlers.views.log_payment import announce_submitted_payment, submit_payment

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.app import Services


def register(app: App, services: Services) -> None:
    def submit(ack: Ack, body: dict, view: dict) -> None:
        submit_payment(ack=ack, body=body, view=view, services=services)

    @after_ack
    def announce(body: dict, view: dict) -> None:
        announce_submitted_payment(body=body, view=view, services=services)

    app.view(CALLBACK_ID)(ack=submit, lazy=[announce])
