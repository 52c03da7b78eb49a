"""``/opsbot help|summary|void PAYMENT_ID``.

The reply is the ack itself (``process_before_response=True`` makes the ack body
the HTTP response), so help needs no Web API call."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.help import help_blocks, help_text
from bot.help import COMMANDS

if TYPE_CHECKING:
    from bot.app import Services


def help_reply(*, unknown_subcommand: str | None = None) -> dict[str, Any]:
    return {
        "response_type": "ephemeral",
        "blocks": help_blocks(COMMANDS, unknown_subcommand=unknown_subcommand),
        "text": help_text(COMMANDS, unknown_subcommand=unknown_subcommand),
    }


def opsbot_reply(text: str | None, *, services: Services) -> dict[str, Any]:
    """The ack payload for ``/opsbot <text>``: keyword arguments for ``ack()``."""
    words = (text or "").split()
    subcommand = words[0].lower() if words else "help"
    if subcommand == "help":
        return help_reply()
    return help_reply(unknown_subcommand=words[0])


def opsbot_command(*, ack: Callable[..., Any], command: dict[str, Any], services: Services) -> None:
    ack(**opsbot_reply(command.get("text"), services=services))
