"""Who may do what: one table, checked in one place by every entry point.

The crew is the organisation the bot is installed in: its workspace or, on
Enterprise Grid, any workspace of the same organisation (or, when OPSBOT_CREW
is set, the people it names). Someone of another organisation who reaches the
bot through a shared (Slack Connect) channel is a stranger, refused like anyone
without a role, unless OPSBOT_ADMINS or OPSBOT_CREW names them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(Enum):
    CREW = "crew"
    ADMIN = "admin"


# action -> the role it needs. Every Slack listener and HTTP route names one of these.
PERMISSIONS: dict[str, Role] = {
    "help": Role.CREW,
    "events.read": Role.CREW,
    "links.read": Role.CREW,
    "summary.read": Role.CREW,
    "payment.log": Role.CREW,
    "payment.void": Role.ADMIN,
    "paylink.create": Role.ADMIN,
    "deploy.run": Role.ADMIN,
    "deploy.history": Role.ADMIN,
    "deploy.rollback": Role.ADMIN,
    "stripe.assign": Role.ADMIN,
    "payments.find": Role.CREW,
    "payments.export": Role.ADMIN,
}

_DOING = {
    "help": "read the help",
    "events.read": "see events",
    "links.read": "see the ops links",
    "summary.read": "see the summary",
    "payment.log": "log payments",
    "payment.void": "void payments",
    "paylink.create": "make payment links",
    "deploy.run": "deploy sites",
    "deploy.history": "read the deploy history",
    "deploy.rollback": "roll sites back",
    "stripe.assign": "assign Stripe payments to events",
    "payments.find": "search payments",
    "payments.export": "export the ledger",
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
    ("command", "/links"): "links.read",
    ("command", "/paylink"): "paylink.create",
    ("command", "/deploy"): "deploy.run",
    ("command", "/deploy SITE history"): "deploy.history",
    ("command", "/deploy SITE rollback"): "deploy.rollback",
    ("command", "/opsbot"): "help",
    ("command", "/opsbot help"): "help",
    ("command", "/opsbot summary"): "summary.read",
    ("command", "/opsbot void"): "payment.void",
    ("command", "/opsbot assign"): "stripe.assign",
    ("command", "/opsbot find"): "payments.find",
    ("command", "/opsbot export"): "payments.export",
    ("view", "log_payment"): "payment.log",
    ("suggestion", "event"): "payment.log",  # the payment form's event search
    ("action", "payment_void"): "payment.void",
    ("action", "payment_void_refund"): "payment.void",
    ("action", "payment_void_only"): "payment.void",
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
    ("route", "GET /api/payments"): "payments.export",
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


@dataclass(frozen=True)
class Affiliation:
    """Where a Slack user (or the bot) belongs: a workspace and, on Enterprise Grid, its organisation."""

    team_id: str | None
    enterprise_id: str | None = None

    def same_organisation(self, home: Affiliation) -> bool:
        """True for the bot's own workspace, and on Enterprise Grid for any workspace of its organisation."""
        if self.team_id and self.team_id == home.team_id:
            return True
        return bool(home.enterprise_id) and home.enterprise_id in (self.enterprise_id, self.team_id)


class Refusal(Exception):
    """A user asked for something their role does not allow; the message names who can.
    ``outsider`` marks someone of another organisation (a Slack Connect channel)."""

    def __init__(self, action: str, user_id: str, needed: Role, message: str, *, outsider: bool = False):
        super().__init__(message)
        self.action, self.user_id, self.needed, self.message = action, user_id, needed, message
        self.outsider = outsider


class Access:
    def __init__(self, admins: frozenset[str] = frozenset(), crew: frozenset[str] = frozenset()):
        self.admins = admins  # OPSBOT_ADMINS
        self.crew = crew  # OPSBOT_CREW; empty: everyone in the workspace is crew

    def named(self, user_id: str) -> bool:
        """Named in OPSBOT_ADMINS or OPSBOT_CREW: a role whatever organisation they are in."""
        return user_id in self.admins or user_id in self.crew

    def roles(self, user_id: str, *, outsider: bool = False) -> set[Role]:
        """The roles of ``user_id``; an ``outsider`` (of another organisation) has
        only the roles OPSBOT_ADMINS and OPSBOT_CREW name them for."""
        roles = set()
        if user_id in self.admins:
            roles |= {Role.ADMIN, Role.CREW}
        if user_id in self.crew or (not self.crew and not outsider):
            roles.add(Role.CREW)
        return roles

    def is_admin(self, user_id: str) -> bool:
        return Role.ADMIN in self.roles(user_id)

    def can(self, user_id: str, action: str) -> bool:
        return PERMISSIONS[action] in self.roles(user_id)

    def check(self, user_id: str, action: str, *, outsider: bool = False) -> None:
        """Raise Refusal (with a message that names who can) unless user_id may do action."""
        needed = PERMISSIONS[action]
        if needed in self.roles(user_id, outsider=outsider):
            return
        doing = _DOING[action]
        if outsider and not self.named(user_id):
            message = (f"You are not in this workspace's organisation (you reached opsbot through a channel shared "
                       f"with another one), so you cannot {doing} here. If you are crew, ask an admin to add your "
                       "Slack user ID to OPSBOT_CREW.")
            raise Refusal(action, user_id, needed, message, outsider=True)
        if needed is Role.ADMIN:
            if self.admins:
                names = ", ".join(f"<@{a}>" for a in sorted(self.admins))
                message = f"Only admins can {doing}. Ask one of: {names}."
            else:
                message = f"Only admins can {doing}, and none is set: add Slack user IDs to OPSBOT_ADMINS."
        else:
            message = f"Only crew can {doing}. Ask an admin to add you to OPSBOT_CREW."
        raise Refusal(action, user_id, needed, message)
