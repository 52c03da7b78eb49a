"""Text people typed, checked and quoted back. No Slack here: the services use
these for their messages, and Slack's own escaping happens in ``blocks/``."""

from __future__ import annotations

# Characters of someone's input that a message repeats: an id or a word fits, a 50,000-character paste does not.
ECHO_LIMIT = 40


def echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` as a message quotes it back: on one line, cut to ``limit``
    characters with an ellipsis, and with any character that cannot be sent as
    UTF-8 (a lone surrogate) replaced, so the message itself can always be sent."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return as_text(flat)


def as_text(text: str) -> str:
    """``text`` with any lone surrogate replaced by ``?``: what can be stored and sent."""
    return text.encode("utf-8", "replace").decode("utf-8")


def is_text(text: str) -> bool:
    """False when ``text`` holds a lone surrogate (``"\\ud800"``, which JSON can
    carry): it cannot be stored or sent as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
