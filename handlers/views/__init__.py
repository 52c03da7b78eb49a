"""View submission listeners (modals). Each imports its module the first time it runs (cold start,
as handlers/commands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.ids import CALLBACK_ID

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.container import Services


def register(app: App, services: Services) -> None:
    def submit(ack: Ack, body: dict, view: dict) -> None:
        from handlers.views.log_payment import submit_payment  # on first use (cold start)

        submit_payment(ack=ack, body=body, view=view, services=services)

    app.view(CALLBACK_ID)(submit)
