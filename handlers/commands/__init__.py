"""Slash command listeners."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.commands.deploy import register as register_deploy
from handlers.commands.events import events_command
from handlers.commands.links import register as register_links
from handlers.commands.log_payment import log_payment_command
from handlers.commands.opsbot import announce_opsbot, opsbot_command
from handlers.commands.paylink import register as register_paylink
from handlers.lazy import after_ack

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.container import Services


def register(app: App, services: Services) -> None:
    # Services are bound here rather than put in Bolt's context: lazy listeners
    # deep-copy the context, and the store must not be copied.
    # What a payment, a void or an assignment announces is written to the outbox with it: the only
    # work after an ack is /opsbot find's answer and /opsbot export's file.
    def opsbot(ack: Ack, command: dict) -> None:
        opsbot_command(ack=ack, command=command, services=services)

    @after_ack
    def opsbot_after(command: dict, respond, client: WebClient) -> None:
        announce_opsbot(command=command, services=services, respond=respond, client=client)

    def log_payment(ack: Ack, command: dict, client: WebClient) -> None:
        log_payment_command(ack=ack, command=command, client=client, services=services)

    def events(ack: Ack, command: dict) -> None:
        events_command(ack=ack, command=command, services=services)

    app.command("/opsbot")(ack=opsbot, lazy=[opsbot_after])
    app.command("/log-payment")(log_payment)
    app.command("/events")(events)
    register_paylink(app, services)
    register_deploy(app, services)
    register_links(app, services)
