"""``/paylink AMOUNT [DESCRIPTION…] [--event EVENT]`` (admins): a Stripe payment link.

The ack answers at once: a refusal, an input error with the usage, the dry run
when Stripe is not configured, or "Making the payment link…". The Stripe calls
run after the ack; the link is posted in the channel through the command's
response_url (which works in any channel, the bot a member or not), by the
outbox's deliverer, with the link's audit line."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.paylinks import dry_run_text, failure_text, input_error_text, making_text, not_saved_text
from blocks.usage import PAYLINK_USAGE, paylink_problem
from bot.core.paylinks import PaylinkInputError, PaylinkPlan
from bot.core.ports import NotifyError, PaymentsError, StoreError
from handlers.slack_text import command_text

if TYPE_CHECKING:
    from bot.container import Services

log = logging.getLogger("opsbot.paylink")


def request_key(command: dict[str, Any]) -> str:
    # One trigger_id per invocation; Slack's retry of the same request carries the same one.
    return command.get("trigger_id") or f"no-trigger-{uuid.uuid4().hex}"


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def _plan(command: dict[str, Any], services: Services) -> PaylinkPlan:
    paylinks = services.paylinks
    request = paylinks.parse(command_text(command))
    return paylinks.plan(request, created_by=command["user_id"], request_key=request_key(command),
                         reply_url=command.get("response_url"))


def paylink_reply(command: dict[str, Any], *, services: Services) -> dict[str, Any]:
    """The ack payload for ``/paylink <text>``."""
    try:
        plan = _plan(command, services)
    except PaylinkInputError as exc:
        return _ephemeral(input_error_text(paylink_problem(exc), PAYLINK_USAGE))
    if not services.paylinks.configured:
        return _ephemeral(dry_run_text(plan))
    return _ephemeral(making_text(plan))


def make_paylink(*, command: dict[str, Any], respond: Callable[..., Any], services: Services) -> None:
    """After the ack: make the link in Stripe; the link and its audit line are announced with it."""
    paylinks = services.paylinks
    if not paylinks.configured:
        return
    try:
        plan = _plan(command, services)
    except PaylinkInputError:
        return  # the ack said what was wrong
    try:
        paylinks.create(plan)
    except PaymentsError as exc:
        log.warning("/paylink by %s failed: %s", command["user_id"], exc)
        _send(respond, response_type="ephemeral", text=failure_text(exc))
        return
    except StoreError as exc:
        log.error("/paylink by %s: the link could not be saved: %s", command["user_id"], exc)
        _send(respond, response_type="ephemeral", text=not_saved_text())


def _send(respond: Callable[..., Any], **message: Any) -> None:
    response = respond(**message)
    if response.status_code != 200:
        raise NotifyError(f"response_url answered {response.status_code}: {str(response.body)[:200]}")
