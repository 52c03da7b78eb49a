"""Text as it comes in from Slack.

Slack escapes ``&``, ``<`` and ``>`` in the text it sends (``&amp;``, ``&lt;``,
``&gt;``), a slash command's text included. It is unescaped once, here, where it
enters: the bot stores plain text and escapes once where it writes mrkdwn
(blocks/), never in plain_text objects, Stripe fields or emails' text part.
Text typed into a modal's inputs (and into an external select's search) is
sent as typed and is read as it is."""

from __future__ import annotations

from typing import Any

from blocks.mrkdwn import unescape


def command_text(command: dict[str, Any]) -> str:
    """What the person typed after a slash command, as they typed it."""
    return unescape(command.get("text") or "")
