"""Text that goes into Slack mrkdwn."""

from __future__ import annotations


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters, so user
    or file text like ``<!channel>`` shows literally and pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """The inverse of ``escape``: text as Slack sent it (a slash command's text is
    escaped this way) back to what the person typed. ``&amp;`` goes last, so an
    escaped ``&amp;lt;`` becomes ``&lt;``, as typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
