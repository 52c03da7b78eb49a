"""Who may do what: one table, checked in one place by every entry point."""

from __future__ import annotations

from enum import Enum
from typing import Any

from bot.config import Settings


class Role(Enum):
    CREW = "crew"
    ADMIN = "admin"


# action -> the role it needs. Every Slack listener and HTTP route names one of these.
PERMISSIONS: dict[str, Role] = {
    "help": Role.CREW,
    "events.read": Role.CREW,
    "summary.read": Role.CREW,
    "payment.log": Role.CREW,
    "payment.void": Role.ADMIN,
    "paylink.create": Role.ADMIN,
    "deploy.run": Role.ADMIN,
    "deploy.history": Role.ADMIN,
    "deploy.rollback": Role.ADMIN,
    "stripe.assign": Role.ADMIN,
}

_DOING = {
    "help": "read the help",
    "events.read": "see events",
    "summary.read": "see the summary",
    "payment.log": "log payments",
    "payment.void": "void payments",
    "paylink.create": "make payment links",
    "deploy.run": "deploy sites",
    "deploy.history": "read the deploy history",
    "deploy.rollback": "roll sites back",
    "stripe.assign": "assign Stripe payments to events",
}


# Every way in -> the action it performs. Slack: ("command", "/name") or, for a
# subcommand, ("command", "/name sub"), or ("command", "/name SITE sub") when the
# subcommand follows a site (``/deploy birthday rollback``); ("view", callback_id); ("action",
# action_id); ("event", type). HTTP: ("route", "METHOD /path"). PUBLIC entries
# need no role: they authenticate otherwise (Slack's or Stripe's signature).
PUBLIC = "public"
ENTRY_POINTS: dict[tuple[str, str], str] = {
    ("command", "/log-payment"): "payment.log",
    ("command", "/events"): "events.read",
    ("command", "/paylink"): "paylink.create",
    ("command", "/deploy"): "deploy.run",
    ("command", "/deploy SITE history"): "deploy.history",
    ("command", "/deploy SITE rollback"): "deploy.rollback",
    ("command", "/opsbot"): "help",
    ("command", "/opsbot help"): "help",
    ("command", "/opsbot summary"): "summary.read",
    ("command", "/opsbot void"): "payment.void",
    ("command", "/opsbot assign"): "stripe.assign",
    ("view", "log_payment"): "payment.log",
    ("action", "payment_void"): "payment.void",
    ("action", "reminder_log_payment"): "payment.log",
    ("action", "deploy_confirm"): "deploy.run",
    ("action", "deploy_cancel"): "deploy.run",
    ("action", "home_deploy"): "deploy.run",
    ("event", "app_home_opened"): "events.read",
    ("route", "POST /slack/events"): PUBLIC,
    ("route", "POST /stripe/webhook"): PUBLIC,
    ("route", "GET /healthz"): PUBLIC,
    ("route", "POST /api/payment/log"): "payment.log",
    ("route", "POST /api/log-payment"): "payment.log",
    ("route", "GET /api/events"): "events.read",
}


def entry_action(kind: str, name: str, text: str = "") -> str | None:
    """The action an entry point performs (a subcommand's, when it has its own
    entry), or None when the entry point is not in the table."""
    entry = entry_name(kind, name, text)
    return ENTRY_POINTS.get((kind, entry))


def entry_name(kind: str, name: str, text: str = "") -> str:
    """The table's name for an entry point: ``/opsbot void`` for ``/opsbot void
    pay_1``, ``/deploy SITE rollback`` for ``/deploy birthday rollback``, else ``name``."""
    if kind == "command":
        words = [w.lower() for w in text.split()[:2]]
        candidates = [f"{name} {words[0]}"] if words else []
        if len(words) > 1:
            candidates.append(f"{name} SITE {words[1]}")
        for candidate in candidates:
            if (kind, candidate) in ENTRY_POINTS:
                return candidate
    return name


def slack_entry(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(kind, name, text, user) of a Slack request body."""
    if "command" in body:
        return "command", body["command"], body.get("text") or "", body.get("user_id", "")
    kind = body.get("type", "")
    user = (body.get("user") or {}).get("id", "")
    if kind == "view_submission":
        return "view", (body.get("view") or {}).get("callback_id", ""), "", user
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return "action", actions[0].get("action_id", ""), "", user
    if kind == "event_callback":
        event = body.get("event") or {}
        return "event", event.get("type", ""), "", event.get("user", "")
    return kind or "unknown", "", "", user


class Refusal(Exception):
    """A user asked for something their role does not allow; the message names who can."""

    def __init__(self, action: str, user_id: str, needed: Role, message: str):
        super().__init__(message)
        self.action, self.user_id, self.needed, self.message = action, user_id, needed, message


class Access:
    def __init__(self, settings: Settings):
        self.admins = settings.admins
        self.crew = settings.crew

    def roles(self, user_id: str) -> set[Role]:
        roles = set()
        if user_id in self.admins:
            roles |= {Role.ADMIN, Role.CREW}
        if not self.crew or user_id in self.crew:
            roles.add(Role.CREW)
        return roles

    def is_admin(self, user_id: str) -> bool:
        return Role.ADMIN in self.roles(user_id)

    def can(self, user_id: str, action: str) -> bool:
        return PERMISSIONS[action] in self.roles(user_id)

    def check(self, user_id: str, action: str) -> None:
        """Raise Refusal (with a message that names who can) unless user_id may do action."""
        needed = PERMISSIONS[action]
        if needed in self.roles(user_id):
            return
        doing = _DOING[action]
        if needed is Role.ADMIN:
            if self.admins:
                names = ", ".join(f"<@{a}>" for a in sorted(self.admins))
                message = f"Only admins can {doing}. Ask one of: {names}."
            else:
                message = f"Only admins can {doing}, and none is set: add Slack user IDs to OPSBOT_ADMINS."
        else:
            message = f"Only crew can {doing}. Ask an admin to add you to OPSBOT_CREW."
        raise Refusal(action, user_id, needed, message)
