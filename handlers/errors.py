"""What Slack gets when a listener fails before its ack.

Bolt answers an exception with an empty 500, which Slack shows as a bare
failure. When the bot's store failed (unreachable, throttled past the client's
retries), the person is told so instead, in the command's ephemeral reply or
on the form, and the failure is logged with its traceback. Any other error
keeps Bolt's 500 (it is a bug, logged the same way)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltResponse

from blocks.failures import FORM_NOT_SAVED, store_unavailable
from bot.core.ports import StoreError

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.container import Services

log = logging.getLogger("opsbot.errors")


def store_failure_reply(body: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a request whose store write or read failed: a slash command's
    ephemeral text, or field errors on the submitted form. None when the request
    has no way to show text (button clicks answer by response_url after the ack)."""
    if body.get("type") == "view_submission":
        blocks = (body.get("view") or {}).get("blocks") or []
        first_input = next((b.get("block_id") for b in blocks if b.get("type") == "input" and b.get("block_id")), None)
        if first_input is None:
            return None
        return {"response_action": "errors", "errors": {first_input: FORM_NOT_SAVED}}
    if body.get("command"):
        return {"response_type": "ephemeral", "text": store_unavailable(body.get("command"))}
    if body.get("type") == "block_suggestion":
        return {"options": []}  # a menu search: nothing found this time, the next keystroke asks again
    return None


def register(app: App, services: Services) -> None:
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        entry = body.get("command") or body.get("type") or "request"
        if isinstance(error, StoreError):
            log.error("%s failed: the store did not answer: %s", entry, error, exc_info=error)
            reply = store_failure_reply(body)
            if reply is not None:
                return BoltResponse(status=200, body=json.dumps(reply),
                                    headers={"content-type": "application/json;charset=utf-8"})
            return None
        log.error("%s failed", entry, exc_info=error)
        return None

    app.error(on_error)
