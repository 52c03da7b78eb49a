"""Slash command listeners.

Each listener imports its module the first time it runs (cold start: a Lambda container's first
request loads its own command's modules, not the deployer's, Stripe's or the exports')."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.lazy import after_ack

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.container import Services


def register(app: App, services: Services) -> None:
    # Services are bound here rather than put in Bolt's context: lazy listeners
    # deep-copy the context, and the store must not be copied.
    # What a payment, a void or an assignment announces is written to the outbox with it: the only
    # work after an ack is /opsbot find's answer and /opsbot export's file, /paylink's link and /deploy's run.
    def opsbot(ack: Ack, command: dict) -> None:
        from handlers.commands.opsbot import opsbot_command  # on first use (cold start)

        opsbot_command(ack=ack, command=command, services=services)

    @after_ack
    def opsbot_after(command: dict, respond, client: WebClient) -> None:
        from handlers.commands.opsbot import announce_opsbot  # on first use (cold start)

        announce_opsbot(command=command, services=services, respond=respond, client=client)

    def log_payment(ack: Ack, command: dict, client: WebClient) -> None:
        from handlers.commands.log_payment import log_payment_command  # on first use (cold start)

        log_payment_command(ack=ack, command=command, client=client, services=services)

    def events(ack: Ack, command: dict) -> None:
        from handlers.commands.events import events_command  # on first use (cold start)

        events_command(ack=ack, command=command, services=services)

    def paylink(ack: Ack, command: dict) -> None:
        from handlers.commands.paylink import paylink_reply  # on first use (cold start)

        ack(**paylink_reply(command, services=services))

    @after_ack
    def paylink_after(command: dict, respond) -> None:
        from handlers.commands.paylink import make_paylink  # on first use (cold start)

        make_paylink(command=command, respond=respond, services=services)

    def deploy(ack: Ack, command: dict) -> None:
        from handlers.commands.deploy import deploy_command  # on first use (cold start)

        deploy_command(ack=ack, command=command, services=services)

    @after_ack
    def deploy_after(command: dict, respond) -> None:
        from handlers.commands.deploy import run_deploy  # on first use (cold start)

        run_deploy(command=command, respond=respond, services=services)

    def links(ack: Ack, command: dict) -> None:
        from handlers.commands.links import links_command  # on first use (cold start)

        links_command(ack=ack, command=command, services=services)

    app.command("/opsbot")(ack=opsbot, lazy=[opsbot_after])
    app.command("/log-payment")(log_payment)
    app.command("/events")(events)
    app.command("/paylink")(ack=paylink, lazy=[paylink_after])
    app.command("/deploy")(ack=deploy, lazy=[deploy_after])
    app.command("/links")(links)
