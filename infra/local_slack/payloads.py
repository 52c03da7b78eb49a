"""Interactivity payloads as Slack sends them (form field ``payload`` holding JSON).

Shapes follow slackapi/bolt-python's scenario tests. ``team_id`` / ``enterprise_id``
say where the person belongs: by default the bot's own workspace; another
organisation's for a member of a Slack Connect channel, whose payloads then carry
their side in ``team``, ``user.team_id`` and ``enterprise`` (bolt-python's
test_view_submission.py, "connect_channel_payload")."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from infra.local_slack.signing import DEFAULT_CHANNEL_ID, DEFAULT_USER_ID, VERIFICATION_TOKEN
from infra.local_slack.web_api import TEAM_ID, TEST_IDENTITY, SlackIdentity


def _user(user_id: str, team_id: str, user_name: str = "crew.member") -> dict[str, Any]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _team(team_id: str, enterprise_id: str | None, app: SlackIdentity = TEST_IDENTITY) -> dict[str, Any]:
    domain = app.team_domain if team_id == app.team_id else f"other-{team_id.lower()}"
    team: dict[str, Any] = {"id": team_id, "domain": domain}
    if enterprise_id:
        team |= {"enterprise_id": enterprise_id, "enterprise_name": f"Org {enterprise_id}"}
    return team


def _enterprise(enterprise_id: str | None) -> dict[str, Any] | None:
    return {"id": enterprise_id, "name": f"Org {enterprise_id}"} if enterprise_id else None


def form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def interaction(kind: str, *, user_id: str, trigger_id: str | None, user_name: str = "crew.member",
                team_id: str | None = None, enterprise_id: str | None = None, app: SlackIdentity = TEST_IDENTITY,
                **fields: Any) -> dict[str, Any]:
    """An interactivity payload of ``kind`` (``block_actions``, ``view_submission``, ``block_suggestion``):
    the envelope every one carries (who clicked, in which team, for which app; a ``trigger_id`` where
    Slack gives one) and ``fields``. ``team_id``: the person's team, the app's own by default."""
    team_id = team_id or app.team_id
    payload: dict[str, Any] = {
        "type": kind,
        "user": _user(user_id, team_id, user_name),
        "api_app_id": app.app_id,
        "token": VERIFICATION_TOKEN,
        "team": _team(team_id, enterprise_id, app),
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": False,
    }
    if trigger_id is not None:
        payload["trigger_id"] = trigger_id
    return payload | fields


def payment_state(*, event: str | None, patron: str | None, amount: str | None, method: str | None,
                  notes: str | None = None, event_select: str = "static_select") -> dict[str, Any]:
    """``view.state.values`` for the payment modal, as Slack fills it in: text inputs
    as typed (not escaped), ``null`` for an empty optional one. ``event_select`` is
    the event element's type (``external_select`` when the form searches events)."""
    def select(action: str, value: str | None, kind: str = "static_select") -> dict[str, Any]:
        option = {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value} if value else None
        return {action: {"type": kind, "selected_option": option}}

    def text(action: str, value: str | None) -> dict[str, Any]:
        return {action: {"type": "plain_text_input", "value": value}}

    return {
        "event": select("event", event, event_select),
        "patron": text("patron", patron),
        "amount": text("amount", amount),
        "method": select("method", method),
        "notes": text("notes", notes),
    }


def view_submission(view: dict[str, Any], state_values: dict[str, Any], *, view_id: str,
                    user_id: str = DEFAULT_USER_ID, team_id: str = TEAM_ID, enterprise_id: str | None = None) -> str:
    """The form body of a ``view_submission`` for ``view`` (as views.open sent it)."""
    submitted = {
        **view,
        "id": view_id,
        "team_id": team_id,
        "app_installed_team_id": TEST_IDENTITY.team_id,
        "app_id": TEST_IDENTITY.app_id,
        "bot_id": TEST_IDENTITY.bot_id,
        "root_view_id": view_id,
        "previous_view_id": None,
        "hash": "1700000000.abcdEFGH",
        "state": {"values": state_values},
    }
    return form(interaction("view_submission", user_id=user_id, team_id=team_id, enterprise_id=enterprise_id,
                            trigger_id="13345224609.738474920.submitted", view=submitted, response_urls=[]))


def block_suggestion(view: dict[str, Any], *, action_id: str, block_id: str, value: str, view_id: str,
                     user_id: str = DEFAULT_USER_ID, team_id: str = TEAM_ID, enterprise_id: str | None = None) -> str:
    """The form body of a ``block_suggestion``: what was typed so far (``value``,
    as typed) in an external select of the open ``view``."""
    return form(interaction(
        "block_suggestion", user_id=user_id, team_id=team_id, enterprise_id=enterprise_id, trigger_id=None,
        container={"type": "view", "view_id": view_id}, action_id=action_id, block_id=block_id, value=value,
        view={**view, "id": view_id, "team_id": team_id, "app_installed_team_id": TEST_IDENTITY.team_id,
              "app_id": TEST_IDENTITY.app_id, "bot_id": TEST_IDENTITY.bot_id, "root_view_id": view_id,
              "previous_view_id": None, "hash": "1700000000.abcdEFGH", "state": {"values": {}}}))


def block_action(action_id: str, value: str, *, user_id: str, message: dict[str, Any] | None = None,
                 channel_id: str = DEFAULT_CHANNEL_ID, message_ts: str = "1700000000.000100",
                 response_url: str, block_id: str = "b1", team_id: str = TEAM_ID,
                 enterprise_id: str | None = None) -> str:
    """The form body of a ``block_actions`` click on a button in a channel message."""
    return form(interaction(
        "block_actions", user_id=user_id, team_id=team_id, enterprise_id=enterprise_id,
        trigger_id="13345224609.738474920.clicked",
        container={"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        channel={"id": channel_id, "name": "ops"},
        message=message or {"type": "message", "ts": message_ts, "text": "", "blocks": []},
        state={"values": {}},
        response_url=response_url,
        actions=[{
            "action_id": action_id, "block_id": block_id, "value": value, "type": "button",
            "text": {"type": "plain_text", "text": "Void", "emoji": True}, "style": "danger",
            "action_ts": "1700000001.000200",
        }],
    ))


JSON = {"Content-Type": "application/json"}


def home_opened(user: str, *, tab: str = "home", event_id: str = "Ev0HOME00001", team_id: str | None = None,
                channel: str = "D0HOME00001", app: SlackIdentity = TEST_IDENTITY) -> str:
    """The Events API body (JSON) of ``app_home_opened`` for ``user`` (of ``team_id``: the app's own by
    default) in the app's direct message ``channel`` with them."""
    return json.dumps({
        "token": "verification", "team_id": app.team_id, "api_app_id": app.app_id, "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab,
                  "event_ts": f"{time.time():.6f}",
                  **({"user_team": team_id} if team_id and team_id != app.team_id else {})},
        "authorizations": [{"team_id": app.team_id, "user_id": app.bot_user_id, "is_bot": True}],
    })
