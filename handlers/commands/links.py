"""``/links [GROUP|TEXT]`` (crew): the ops page's links, or those matching."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.links import links_reply
from handlers.slack_text import command_text

if TYPE_CHECKING:
    from bot.container import Services


def links_answer(text: str, *, services: Services) -> dict[str, Any]:
    """The ack payload for ``/links <text>`` (the text as typed)."""
    fallback, blocks = links_reply(services.links.find(text))
    return {"response_type": "ephemeral", "text": fallback, "blocks": blocks}


def links_command(*, ack: Callable[..., Any], command: dict[str, Any], services: Services) -> None:
    ack(**links_answer(command_text(command), services=services))
