"""View submission listeners (modals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.payment_modal import CALLBACK_ID
from handlers.views.log_payment import submit_payment

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.container import Services


def register(app: App, services: Services) -> None:
    def submit(ack: Ack, body: dict, view: dict) -> None:
        submit_payment(ack=ack, body=body, view=view, services=services)

    app.view(CALLBACK_ID)(submit)
