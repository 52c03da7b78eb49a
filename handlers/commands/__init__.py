"""Slash command listeners."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.commands.opsbot import opsbot_command

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.app import Services


def register(app: App, services: Services) -> None:
    # Services are bound here rather than put in Bolt's context: lazy listeners
    # deep-copy the context, and the store must not be copied.
    def opsbot(ack: Ack, command: dict) -> None:
        opsbot_command(ack=ack, command=command, services=services)

    app.command("/opsbot")(opsbot)
