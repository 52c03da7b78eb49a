"""``/opsbot help|summary|void PAYMENT_ID``.

The reply is the ack itself (``process_before_response=True`` makes the ack body
the HTTP response), so help needs no Web API call."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from blocks.failures import problem
from blocks.fit import name
from blocks.help import help_blocks, help_text
from blocks.receipts import void_receipt
from blocks.summary import summary_blocks
from bot.help import visible_commands
from bot.ledger import LedgerError
from bot.summary import build_summary
from handlers.commands.stripe_assign import announce_assign, assign_reply
from handlers.slack_text import command_text

if TYPE_CHECKING:
    from bot.app import Services


def help_reply(*, is_admin: bool, unknown_subcommand: str | None = None) -> dict[str, Any]:
    """The commands this person may run (admins also see the admin ones), one example each."""
    entries = visible_commands(is_admin=is_admin)
    return {
        "response_type": "ephemeral",
        "blocks": help_blocks(entries, unknown_subcommand=unknown_subcommand),
        "text": help_text(entries, unknown_subcommand=unknown_subcommand),
    }


def opsbot_reply(text: str | None, *, services: Services | None, user: str | None = None) -> dict[str, Any]:
    """The ack payload for ``/opsbot <text>``: keyword arguments for ``ack()``.
    Without a user (or services) the help is the crew's."""
    is_admin = services is not None and user is not None and services.access.is_admin(user)
    words = (text or "").split()
    subcommand = words[0].lower() if words else "help"
    if subcommand == "help":
        return help_reply(is_admin=is_admin)
    return help_reply(is_admin=is_admin, unknown_subcommand=words[0])


VOID_USAGE = "Usage: `/opsbot void PAYMENT_ID` — the id is on the payment's audit line, like `pay_k7m2x9q4ab`."


def void_reply(words: list[str], user: str, *, services: Services) -> dict[str, Any]:
    if len(words) != 1:
        return _ephemeral(VOID_USAGE)
    try:
        result = services.ledger.void_payment(words[0], by=user)
    except LedgerError as exc:
        return _ephemeral(problem(" ".join(exc.errors.values())))
    return _ephemeral(void_receipt(result))


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def opsbot_command(*, ack: Callable[..., Any], command: dict[str, Any], services: Services) -> None:
    words = command_text(command).split()
    if words and words[0].lower() == "void":
        ack(**void_reply(words[1:], command["user_id"], services=services))
        return
    if words and words[0].lower() == "summary":
        ack(**summary_reply(words[1:], command["user_id"], services=services))
        return
    if words and words[0].lower() == "assign":
        ack(**assign_reply(words[1:], command["user_id"], services=services))
        return
    ack(**opsbot_reply(command_text(command), services=services, user=command.get("user_id")))


SUMMARY_USAGE = "Usage: `/opsbot summary [YYYY-MM-DD]` — today's payments, or another day's."


def summary_reply(words: list[str], user: str, *, services: Services) -> dict[str, Any]:
    if len(words) > 1:
        return _ephemeral(SUMMARY_USAGE)
    day = services.ledger.today()
    if words:
        try:
            day = date.fromisoformat(words[0]) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", words[0]) else None
        except ValueError:
            day = None
        if day is None:
            return _ephemeral(f"'{name(words[0], 20)}' is not a date like 2026-11-21. {SUMMARY_USAGE}")
    text, blocks = summary_blocks(build_summary(services.ledger, day))
    return {"response_type": "ephemeral", "text": text, "blocks": blocks}


def announce_opsbot(*, command: dict[str, Any], services: Services) -> None:
    """After the ack: a void's audit lines (posted once, however often it is asked)."""
    words = command_text(command).split()
    if words and words[0].lower() == "assign":
        announce_assign(words[1:], command["user_id"], services=services)
    if len(words) == 2 and words[0].lower() == "void":
        result = services.ledger.find_void(words[1])
        if result is not None:
            services.audit.payment_voided(result)
