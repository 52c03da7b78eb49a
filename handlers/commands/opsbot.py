"""``/opsbot help|summary|find TEXT|void PAYMENT_ID|assign …|export …``.

The reply is the ack itself (``process_before_response=True`` makes the ack body
the HTTP response), so help needs no Web API call."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from blocks.audit import void_refund_question
from blocks.failures import problem
from blocks.fit import name
from blocks.help import help_blocks, help_text
from blocks.receipts import void_receipt
from blocks.summary import summary_blocks
from bot.core.domain import DEFAULT_PAYMENT_METHODS
from bot.core.help import visible_commands
from bot.core.ledger import LedgerError
from bot.core.summary import build_summary
from handlers.commands.export import export_ack, run_export
from handlers.commands.find import find_ack, run_find
from handlers.commands.stripe_assign import assign_reply
from handlers.slack_text import command_text

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.container import Services


def help_reply(*, is_admin: bool, methods: Sequence[str] = DEFAULT_PAYMENT_METHODS,
               unknown_subcommand: str | None = None) -> dict[str, Any]:
    """The commands this person may run (admins also see the admin ones), one example each, and the
    crew's payment methods (events.json's list)."""
    entries = visible_commands(is_admin=is_admin)
    return {
        "response_type": "ephemeral",
        "blocks": help_blocks(entries, methods=methods, unknown_subcommand=unknown_subcommand),
        "text": help_text(entries, methods=methods, unknown_subcommand=unknown_subcommand),
    }


def opsbot_reply(text: str | None, *, services: Services | None, user: str | None = None) -> dict[str, Any]:
    """The ack payload for ``/opsbot <text>``: keyword arguments for ``ack()``.
    Without a user (or services) the help is the crew's."""
    is_admin = services is not None and user is not None and services.access.is_admin(user)
    methods = services.catalog.payment_methods if services is not None else DEFAULT_PAYMENT_METHODS
    words = (text or "").split()
    subcommand = words[0].lower() if words else "help"
    if subcommand == "help":
        return help_reply(is_admin=is_admin, methods=methods)
    return help_reply(is_admin=is_admin, methods=methods, unknown_subcommand=words[0])


VOID_USAGE = "Usage: `/opsbot void PAYMENT_ID` — the id is on the payment's audit line, like `pay_k7m2x9q4ab`."


def void_reply(words: list[str], user: str, *, services: Services) -> dict[str, Any]:
    if len(words) != 1:
        return _ephemeral(VOID_USAGE)
    payment = services.ledger.payment(words[0])
    if payment is not None and services.refunds is not None and services.refunds.should_ask(payment):
        # a Stripe payment: refund it in Stripe too? (the buttons void it)
        text, blocks = void_refund_question(payment, None)
        return {"response_type": "ephemeral", "text": text, "blocks": blocks}
    try:
        result = services.ledger.void_payment(words[0], by=user, original=payment)
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
    if words and words[0].lower() == "find":
        ack(**find_ack(words[1:]))
        return
    if words and words[0].lower() == "export":
        ack(**export_ack(words[1:], services=services))
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


def announce_opsbot(*, command: dict[str, Any], services: Services, respond: Callable[..., Any] | None = None,
                    client: WebClient | None = None) -> None:
    """After the ack: a search's answer, an export's file. (A void's and an assignment's audit
    lines were written to the outbox with them.)"""
    words = command_text(command).split()
    if words and words[0].lower() == "find" and respond is not None:
        run_find(words[1:], respond=respond, services=services)
    if words and words[0].lower() == "export" and respond is not None and client is not None:
        run_export(words[1:], command["user_id"], command.get("trigger_id"), client=client, respond=respond,
                   services=services)
