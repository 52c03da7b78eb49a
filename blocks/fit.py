"""Fitting what the bot says into Block Kit's limits, whatever the data.

Slack refuses a message or view past its documented limits (``invalid_blocks``;
a response_url message is then never shown), so every builder under blocks/
goes through these helpers: names are shortened where they are shown (never
where they are stored), lists are cut with "…and N more", and lengths are
counted as Slack counts them, after escaping (``&`` is sent as ``&amp;``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from blocks.mrkdwn import escape, shorten

# Slack's limits that data can reach (docs.slack.dev/reference/block-kit: blocks, block elements, composition
# objects, views). The bot's own fixed words (button labels, titles, ids as values) are far inside the others.
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000  # also any text object, a context element's included
HEADER_TEXT = 150
CONFIRM_TEXT = 300
OPTION_TEXT = 75
SELECT_OPTIONS = 100

# What this bot shows of a name in one line of a list: enough to recognise, short enough for a phone.
NAME_SHOWN = 80
# ... and in a line about one record: a whole patron (100 characters, 500 once escaped); longer titles cut.
RECORD_NAME = 500
# A notification's fallback text: one glance, far below Slack's 40,000.
FALLBACK_TEXT = 3000

ELLIPSIS = "…"
_ESCAPED_LENGTH = {"&": 5, "<": 4, ">": 4}


def escaped_length(text: str) -> int:
    """How many characters ``text`` takes once escaped for mrkdwn."""
    return len(text) + sum(_ESCAPED_LENGTH.get(c, 1) - 1 for c in text if c in _ESCAPED_LENGTH)


def mrkdwn(text: str, limit: int) -> str:
    """``text`` (plain) escaped for mrkdwn in at most ``limit`` characters: the
    plain text is cut before it is escaped, so no ``&amp;`` is ever split, and
    the cut is marked with an ellipsis."""
    if escaped_length(text) <= limit:
        return escape(text)
    room, used = limit - len(ELLIPSIS), 0
    for i, char in enumerate(text):
        used += _ESCAPED_LENGTH.get(char, 1)
        if used > room:
            return escape(text[:i]) + ELLIPSIS
    return escape(text)  # not reached: the whole text was longer than the limit


def name(text: str, limit: int = NAME_SHOWN) -> str:
    """A user's or the file's name for a mrkdwn line: escaped, at most ``limit``."""
    return mrkdwn(" ".join(text.split()), limit)


def plain(text: str, limit: int) -> str:
    """Text for a plain_text object (a header, a button, an option): never escaped, only shortened."""
    return shorten(text, limit)


def fallback(text: str) -> str:
    """A message's notification text (``text`` beside the blocks, read as mrkdwn): escaped and short."""
    return mrkdwn(text, FALLBACK_TEXT)


def clip(text: str, limit: int = SECTION_TEXT) -> str:
    """An already escaped mrkdwn text cut to ``limit`` as a last resort, never
    inside an entity. Builders keep their parts short; this only guards the sum."""
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    entity = text.rfind("&", max(cut - 5, 0), cut)
    if entity != -1 and ";" not in text[entity:cut]:
        cut = entity
    return text[:cut] + ELLIPSIS


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def joined(lines: Sequence[str], limit: int = SECTION_TEXT, *,
           more: Callable[[int], str] = lambda n: f"{ELLIPSIS}and {n} more", left_out: int = 0) -> str:
    """Lines (mrkdwn) joined by newlines within ``limit``. When they do not all
    fit (or ``left_out`` more were never given), as many as fit are kept and a
    last line, ``more(hidden)``, says how many are not shown."""
    kept: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        line = clip(line, limit)
        rest = len(lines) - i - 1 + left_out
        tail = more(rest) if rest else ""
        if size + len(line) + (1 + len(tail) if tail else 0) > limit:
            return "\n".join([*kept, clip(more(len(lines) - i + left_out), limit)])
        kept.append(line)
        size += len(line) + 1
    if left_out:
        kept.append(clip(more(left_out), limit))
    return "\n".join(kept)


def chunked(lines: Sequence[str], limit: int = SECTION_TEXT) -> list[str]:
    """Lines (mrkdwn) grouped into texts of at most ``limit`` each, in order (one section each)."""
    chunks: list[list[str]] = [[]]
    size = 0
    for line in (clip(line, limit) for line in lines):
        if chunks[-1] and size + 1 + len(line) > limit:
            chunks.append([])
            size = 0
        size += len(line) + (1 if chunks[-1] else 0)
        chunks[-1].append(line)
    return ["\n".join(chunk) for chunk in chunks if chunk]


def cut(items: Sequence[Any], room: int) -> tuple[Sequence[Any], int]:
    """(the first items that fit in ``room``, how many are left out)."""
    room = max(room, 0)
    return items[:room], max(len(items) - room, 0)


def section(text: str, **kwargs: Any) -> SectionBlock:
    """A section of mrkdwn, held to Slack's 3,000 characters."""
    return SectionBlock(text=MarkdownTextObject(text=clip(text)), **kwargs)


def section_dict(text: str) -> dict[str, Any]:
    """``section(text).to_dict()`` without building the object: a list of many lines (``/events``
    shows 48) spent most of its time in slack_sdk's validation of each."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}


def context(text: str) -> ContextBlock:
    """A context line of mrkdwn, held to a text object's 3,000 characters."""
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text))])
