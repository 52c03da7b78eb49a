"""The one place every Slack request is checked against the permission table
(bot/access.py) before any listener runs. A refused request gets a reply that
names the role needed; the refusal is logged and audited."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.response import BoltResponse

from bot.access import PUBLIC, Refusal, entry_action, entry_name, slack_entry

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.app import Services

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
    return BoltResponse(status=200, body="")


def register(app: App, services: Services) -> None:
    @app.middleware
    def check_permission(body: dict, next: Callable[[], None], respond=None) -> BoltResponse | None:  # noqa: A002
        kind, name, text, user = slack_entry(body)
        action = entry_action(kind, name, text)
        if action is None:
            # Not in the table: refuse rather than guess (the table test keeps it complete).
            log.warning("refused %s %s: not in the permission table", kind, name)
            return BoltResponse(status=404, body="")
        if action == PUBLIC:
            next()
            return None
        try:
            services.access.check(user, action)
        except Refusal as refusal:
            log.info("refused who=%s what=%s %s action=%s needs=%s", user, kind, name, action, refusal.needed.value)
            if kind == "event":
                # Opening the Home tab is not a request to do anything: show nothing,
                # and keep the audit log for attempts (Slack also redelivers events).
                return BoltResponse(status=200, body="")
            label = f"{kind} {entry_name(kind, name, text)}"
            services.audit.refused(refusal, label)
            return refusal_response(kind, refusal.message, body, respond)
        next()
        return None
