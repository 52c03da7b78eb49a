"""Block action listeners (buttons). Each imports its module the first time it runs (cold start, as
handlers/commands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.ids import CANCEL_ACTION, CONFIRM_ACTION, REMINDER_ACTION, VOID_ACTION, VOID_ONLY_ACTION, VOID_REFUND_ACTION
from handlers.lazy import after_ack

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.container import Services


def register(app: App, services: Services) -> None:
    def ack_void(ack: Ack) -> None:
        from handlers.actions.payment_void import acknowledge  # on first use (cold start)

        acknowledge(ack=ack)

    @after_ack
    def run_void(body: dict, action: dict, respond) -> None:
        from handlers.actions.payment_void import void_from_button  # on first use (cold start)

        void_from_button(body=body, action=action, respond=respond, services=services)

    app.action(VOID_ACTION)(ack=ack_void, lazy=[run_void])

    @after_ack
    def run_void_refund(body: dict, action: dict, respond) -> None:
        from handlers.actions.payment_void import void_as_chosen  # on first use (cold start)

        void_as_chosen(body=body, action=action, respond=respond, services=services, refund=True)

    @after_ack
    def run_void_only(body: dict, action: dict, respond) -> None:
        from handlers.actions.payment_void import void_as_chosen  # on first use (cold start)

        void_as_chosen(body=body, action=action, respond=respond, services=services, refund=False)

    app.action(VOID_REFUND_ACTION)(ack=ack_void, lazy=[run_void_refund])
    app.action(VOID_ONLY_ACTION)(ack=ack_void, lazy=[run_void_only])

    def log_payment_for_event(ack: Ack, body: dict, action: dict, client: WebClient, respond) -> None:
        from handlers.actions.reminder import open_payment_modal  # on first use (cold start)

        open_payment_modal(ack=ack, body=body, action=action, client=client, respond=respond, services=services)

    app.action(REMINDER_ACTION)(log_payment_for_event)

    def ack_decision(ack: Ack) -> None:
        ack()

    @after_ack
    def run_decision(body: dict, action: dict, respond) -> None:
        from handlers.actions.deploy_buttons import decide_from_button  # on first use (cold start)

        decide_from_button(body=body, action=action, respond=respond, services=services)

    app.action(CONFIRM_ACTION)(ack=ack_decision, lazy=[run_decision])
    app.action(CANCEL_ACTION)(ack=ack_decision, lazy=[run_decision])
