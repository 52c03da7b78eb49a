"""What a Slack request body says about who is asking for what: the entry point it names
(for the permission table in bot/core/access.py) and where the person belongs. Read here,
at the edge, so that the core knows nothing of Slack's payload shapes."""

from __future__ import annotations

from typing import Any

from bot.core.access import Affiliation


def slack_entry(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(kind, name, text, user) of a Slack request body (a command's text as Slack sent it, escaped)."""
    if "command" in body:
        return "command", body["command"], body.get("text") or "", body.get("user_id", "")
    kind = body.get("type", "")
    user = (body.get("user") or {}).get("id", "")
    if kind == "view_submission":
        return "view", (body.get("view") or {}).get("callback_id", ""), "", user
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return "action", actions[0].get("action_id", ""), "", user
    if kind == "block_suggestion":
        return "suggestion", body.get("action_id", ""), "", user
    if kind == "event_callback":
        event = body.get("event") or {}
        return "event", event.get("type", ""), "", event.get("user", "")
    return kind or "unknown", "", "", user


def slack_affiliation(body: dict[str, Any]) -> Affiliation:
    """Where the person behind a Slack request belongs, read where each payload type says it:
    a slash command's ``team_id`` / ``enterprise_id`` (where they ran it); an
    interaction's ``user.team_id``, with the organisation of ``team`` when that is
    the user's own team (in a Slack Connect channel it is their side); an event's
    ``event.user_team`` (or ``event.team``, else the workspace the event came from)."""
    if "command" in body:
        return Affiliation(body.get("team_id") or None, body.get("enterprise_id") or None)
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        team = event.get("user_team") or event.get("team") or body.get("team_id") or None
        if team and str(team).startswith("E"):  # a Grid user's team is sometimes the organisation itself
            return Affiliation(team, team)
        return Affiliation(team, body.get("enterprise_id") if team == body.get("team_id") else None)
    team = (body.get("user") or {}).get("team_id") or None
    side = body.get("team") if isinstance(body.get("team"), dict) else {}
    enterprise = None
    if team and side.get("id") == team:
        enterprise = side.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    return Affiliation(team, enterprise)
