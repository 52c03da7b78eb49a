"""Interactivity payloads as Slack sends them (form field ``payload`` holding JSON)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack_api import APP_ID, TEAM_DOMAIN, TEAM_ID
from tests.slack_signing import DEFAULT_CHANNEL_ID, DEFAULT_USER_ID, VERIFICATION_TOKEN


def _user(user_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": "crew.member", "name": "crew.member", "team_id": TEAM_ID}


def form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def payment_state(*, event: str | None, patron: str | None, amount: str | None, method: str | None,
                  notes: str | None = None) -> dict[str, Any]:
    """``view.state.values`` for the payment modal, as Slack fills it in."""
    def select(action: str, value: str | None) -> dict[str, Any]:
        option = {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value} if value else None
        return {action: {"type": "static_select", "selected_option": option}}

    def text(action: str, value: str | None) -> dict[str, Any]:
        return {action: {"type": "plain_text_input", "value": value}}

    return {
        "event": select("event", event),
        "patron": text("patron", patron),
        "amount": text("amount", amount),
        "method": select("method", method),
        "notes": text("notes", notes),
    }


def view_submission(view: dict[str, Any], state_values: dict[str, Any], *, view_id: str,
                    user_id: str = DEFAULT_USER_ID) -> str:
    """The form body of a ``view_submission`` for ``view`` (as views.open sent it)."""
    submitted = {
        **view,
        "id": view_id,
        "team_id": TEAM_ID,
        "app_id": APP_ID,
        "bot_id": "B0BOT000001",
        "root_view_id": view_id,
        "previous_view_id": None,
        "hash": "1700000000.abcdEFGH",
        "state": {"values": state_values},
    }
    return form({
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": _user(user_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": "13345224609.738474920.submitted",
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    })


def block_action(action_id: str, value: str, *, user_id: str, message: dict[str, Any] | None = None,
                 channel_id: str = DEFAULT_CHANNEL_ID, message_ts: str = "1700000000.000100",
                 response_url: str, block_id: str = "b1") -> str:
    """The form body of a ``block_actions`` click on a button in a channel message."""
    return form({
        "type": "block_actions",
        "user": _user(user_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": False},
        "trigger_id": "13345224609.738474920.clicked",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "ops"},
        "message": message or {"type": "message", "ts": message_ts, "text": "", "blocks": []},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{
            "action_id": action_id, "block_id": block_id, "value": value, "type": "button",
            "text": {"type": "plain_text", "text": "Void", "emoji": True}, "style": "danger",
            "action_ts": "1700000001.000200",
        }],
    })
