"""The one place every Slack request is checked against the permission table
(bot/core/access.py) before any listener runs. A refused request gets a reply that
names the role needed; the refusal is logged, audited and announced (its line
goes through the outbox: the reply never waits for Slack).

The person's organisation is compared with the bot's own, which Bolt keeps from
``auth.test`` (``context.authorize_result``): someone of another organisation,
in a Slack Connect channel, has no role unless OPSBOT_ADMINS / OPSBOT_CREW names them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.response import BoltResponse

from blocks.mrkdwn import unescape
from bot.core.access import PUBLIC, Affiliation, Refusal, entry_action, entry_name
from bot.core.outbox import announce_refusal
from handlers.slack_requests import slack_affiliation, slack_entry

if TYPE_CHECKING:
    from slack_bolt import App, BoltContext

    from bot.container import Services

log = logging.getLogger("opsbot.access")


def refusal_response(kind: str, message: str, body: dict[str, Any], respond: Callable[..., Any] | None
                     ) -> BoltResponse:
    if kind == "command":
        return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": message}),
                            headers={"content-type": ["application/json"]})
    if kind == "view":
        first_block = next((b.get("block_id") for b in (body.get("view") or {}).get("blocks", [])), "event")
        return BoltResponse(status=200, body=json.dumps({"response_action": "errors",
                                                         "errors": {first_block: message}}),
                            headers={"content-type": ["application/json"]})
    if kind == "action" and respond is not None:
        respond(text=message, response_type="ephemeral", replace_original=False)
    if kind == "suggestion":
        return BoltResponse(status=200, body=json.dumps({"options": []}),
                            headers={"content-type": ["application/json"]})
    return BoltResponse(status=200, body="")


def home_affiliation(context: BoltContext | None) -> Affiliation:
    """The bot's own workspace and organisation, from its auth.test (Bolt's authorize result)."""
    result = context.authorize_result if context is not None else None
    if result is None:
        return Affiliation(None)
    return Affiliation(result.team_id, result.enterprise_id)


def register(app: App, services: Services) -> None:
    @app.middleware
    def check_permission(body: dict, next: Callable[[], None], respond=None,  # noqa: A002 - Bolt's name
                         context: BoltContext | None = None) -> BoltResponse | None:
        kind, name, escaped, user = slack_entry(body)
        text = unescape(escaped)
        action = entry_action(kind, name, text)
        if action is None:
            # Not in the table: refuse rather than guess (the table test keeps it complete).
            log.warning("refused %s %s: not in the permission table", kind, name)
            return BoltResponse(status=404, body="")
        if action == PUBLIC:
            next()
            return None
        affiliation = slack_affiliation(body)
        outsider = not affiliation.same_organisation(home_affiliation(context))
        try:
            services.access.check(user, action, outsider=outsider)
        except Refusal as refusal:
            log.info("refused who=%s team=%s what=%s %s action=%s needs=%s outsider=%s", user,
                     affiliation.team_id, kind, name, action, refusal.needed.value, refusal.outsider)
            if kind in ("event", "suggestion"):
                # Opening the Home tab or typing in a menu is not a request to do anything:
                # show nothing, and keep the audit log for attempts (Slack sends these often).
                return refusal_response(kind, refusal.message, body, respond)
            label = f"{kind} {entry_name(kind, name, text)}"
            announce_refusal(services.store, services.announcer, user_id=refusal.user_id, action=refusal.action,
                             needed=refusal.needed.value, entry_point=label, now=services.clock(),
                             outsider_team=(affiliation.team_id or "unknown") if refusal.outsider else None)
            return refusal_response(kind, refusal.message, body, respond)
        next()
        return None
