"""Block action listeners (buttons)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.audit import VOID_ACTION, VOID_ONLY_ACTION, VOID_REFUND_ACTION
from blocks.summary import REMINDER_ACTION
from handlers.actions.deploy_buttons import register as register_deploy_buttons
from handlers.actions.payment_void import acknowledge, void_as_chosen, void_from_button
from handlers.actions.reminder import open_payment_modal
from handlers.lazy import after_ack

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.container import Services


def register(app: App, services: Services) -> None:
    def ack_void(ack: Ack) -> None:
        acknowledge(ack=ack)

    @after_ack
    def run_void(body: dict, action: dict, respond) -> None:
        void_from_button(body=body, action=action, respond=respond, services=services)

    app.action(VOID_ACTION)(ack=ack_void, lazy=[run_void])

    @after_ack
    def run_void_refund(body: dict, action: dict, respond) -> None:
        void_as_chosen(body=body, action=action, respond=respond, services=services, refund=True)

    @after_ack
    def run_void_only(body: dict, action: dict, respond) -> None:
        void_as_chosen(body=body, action=action, respond=respond, services=services, refund=False)

    app.action(VOID_REFUND_ACTION)(ack=ack_void, lazy=[run_void_refund])
    app.action(VOID_ONLY_ACTION)(ack=ack_void, lazy=[run_void_only])

    def log_payment_for_event(ack: Ack, body: dict, action: dict, client: WebClient, respond) -> None:
        open_payment_modal(ack=ack, body=body, action=action, client=client, respond=respond, services=services)

    app.action(REMINDER_ACTION)(log_payment_for_event)
    register_deploy_buttons(app, services)
