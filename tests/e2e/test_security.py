"""The security matrix: every admin action tried by crew through every path, the
permission table's coverage, and user text that must not become markup."""

from __future__ import annotations

import json
from typing import Any

import pytest

import handlers
from bot.core.access import ENTRY_POINTS, PERMISSIONS, PUBLIC, Role
from bot.entrypoints.http import default_routes
from infra.local_slack.payloads import block_action, form, payment_state, view_submission
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.slack_bot import CREW, Bot

JADA = "2026-05-23-jada-charter"


class RecordingApp:
    """Stands in for the Bolt App at registration: records what each register() wires."""

    def __init__(self) -> None:
        self.entries: set[tuple[str, str]] = set()
        self.middleware_count = 0
        self.error_handlers = 0

    def _record(self, kind: str, name: Any):
        if not isinstance(name, str):
            raise AssertionError(f"{kind} listener with a non-literal matcher {name!r}: the table cannot cover it")
        self.entries.add((kind, name))

        def decorator(*args, **kwargs):
            return args[0] if args else None

        return decorator

    def command(self, name, *a, **k):
        return self._record("command", name)

    def action(self, name, *a, **k):
        return self._record("action", name)

    def view(self, name, *a, **k):
        return self._record("view", name)

    def event(self, name, *a, **k):
        return self._record("event", name)

    def block_suggestion(self, name, *a, **k):
        return self._record("suggestion", name)

    def middleware(self, func):
        self.middleware_count += 1
        return func

    def error(self, func):
        # What a failing listener answers (handlers/errors.py): not an entry point, nothing to permit.
        self.error_handlers += 1
        return func

    def __getattr__(self, name):
        raise AssertionError(f"register() used App.{name}: teach this test (and the permission table) about it")


def test_every_listener_and_route_is_in_the_permission_table(services):
    app = RecordingApp()
    handlers.register(app, services)
    assert app.middleware_count == 1  # the permission check itself
    assert app.error_handlers == 1
    missing = {entry for entry in app.entries if entry not in ENTRY_POINTS}
    assert missing == set(), f"listeners without a permission entry: {missing}"
    routes = {("route", f"{method} {path}") for path, methods in default_routes(services, None).items()
              for method in methods}
    assert routes - set(ENTRY_POINTS) == set(), "routes without a permission entry"
    # Every action named in the table has a role, and every role-less entry authenticates otherwise.
    assert {a for a in ENTRY_POINTS.values() if a != PUBLIC} <= set(PERMISSIONS)
    assert {k for k, a in ENTRY_POINTS.items() if a == PUBLIC} == {
        ("route", "POST /slack/events"), ("route", "POST /stripe/webhook"), ("route", "GET /healthz")}


def test_the_admin_only_actions_are_the_ones_the_issue_names():
    admin = {a for a, role in PERMISSIONS.items() if role is Role.ADMIN}
    assert admin == {"paylink.create", "deploy.run", "deploy.history", "deploy.rollback", "payment.void",
                     "stripe.assign", "payments.export"}
    # Searching payments is for the crew (issue 20): the export, every record of the ledger, is not.
    assert PERMISSIONS["payments.find"] is Role.CREW


# -- every admin path tried by crew -------------------------------------------------------------------------------

ADMIN_COMMANDS = [
    ("/paylink", "1560 JADA deposit --event jada"),
    ("/deploy", "birthday"),
    ("/deploy", "birthday staging"),
    ("/deploy", "birthday history"),
    ("/deploy", "birthday rollback"),
    ("/opsbot", "void pay_abcdefghij"),
    ("/opsbot", "assign cs_test_123 jada"),
    ("/opsbot", "export all"),
]


@pytest.mark.parametrize("command, text", ADMIN_COMMANDS)
def test_crew_is_refused_every_admin_command(bot: Bot, command, text):
    reply = bot.command(command, text)
    assert reply.status == 200
    assert reply.json()["response_type"] == "ephemeral"
    assert reply.json()["text"].startswith("Only admins can ")
    assert reply.json()["text"].endswith(f"Ask one of: <@{ADMIN_USER}>.")
    bot.lazies.wait_idle()
    words = text.split()
    sub = words[0] if command == "/opsbot" else f"SITE {words[1]}" if words[1:] in (["history"], ["rollback"]) else ""
    refusals = [c.params["text"] for c in bot.audit_posts()]
    assert refusals == [f":no_entry: <@{CREW}> was refused `command {command}{' ' + sub if sub else ''}`: "
                        "it needs the admin role."]
    assert bot.services.ledger.list_events(include_past=True)[0].payment_count == 0


ADMIN_BUTTONS = ["payment_void", "deploy_confirm", "deploy_cancel", "home_deploy"]


@pytest.mark.parametrize("action_id", ADMIN_BUTTONS)
def test_crew_is_refused_every_forged_admin_button(bot: Bot, action_id):
    body = block_action(action_id, "dep_or_pay_123", user_id=CREW, channel_id=AUDIT_CHANNEL,
                        response_url=bot.slack_api.response_url("actions/forged"))
    reply = bot.send(body)
    assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()
    [told] = bot.slack_api.calls("response_url")
    assert told.params["text"].startswith("Only admins can ")
    assert told.params["response_type"] == "ephemeral"
    assert bot.slack_api.calls("chat.update") == []
    assert len(bot.audit_posts()) == 1  # the refusal line, nothing else


def test_a_forged_submission_from_someone_outside_the_crew_is_refused_inline(make_bot):
    bot = make_bot(OPSBOT_CREW="U0CREW00001")
    view = bot.open_modal()
    state = payment_state(event=JADA, patron="Ana", amount="10", method="cash")
    reply = bot.send(view_submission(view, state, view_id="V0OUTSIDER1", user_id="U0STRANGER1"))
    assert reply.json() == {"response_action": "errors", "errors": {
        "event": "Only crew can log payments. Ask an admin to add you to OPSBOT_CREW."}}
    bot.lazies.wait_idle()
    assert bot.services.ledger.status(JADA).payment_count == 0
    outsider = bot.command("/log-payment", "jada 10 cash Ana", user="U0STRANGER1")
    assert outsider.json()["text"] == "Only crew can log payments. Ask an admin to add you to OPSBOT_CREW."
    assert bot.command("/events", user="U0STRANGER1").json()["text"] == (
        "Only crew can see events. Ask an admin to add you to OPSBOT_CREW.")


def test_an_unknown_interaction_is_not_run(bot: Bot):
    body = form({"type": "block_actions", "user": {"id": ADMIN_USER}, "actions": [{"action_id": "drop_tables"}],
                 "team": {"id": "T0TEAM00001"}, "api_app_id": "A0APP000001", "container": {}})
    reply = bot.send(body)
    assert reply.status == 404
    assert bot.slack_api.calls() == [c for c in bot.slack_api.calls() if c.method == "auth.test"]


# -- user text never becomes markup ---------------------------------------------------------------------------------

INJECTIONS = ["<!channel>", "<!here|here>", "<@U0VICTIM001>", "<https://evil.example|click me>", "<#C0AUDIT0001>",
              "<!subteam^S0123|@crew>"]


def _slack_text(bot: Bot) -> str:
    return json.dumps([c.params for c in bot.slack_api.calls() if c.method != "auth.test"], ensure_ascii=False)


@pytest.mark.parametrize("evil", INJECTIONS)
def test_injection_in_every_field_that_reaches_slack_is_neutralised(bot: Bot, evil):
    view = bot.open_modal()
    bot.submit(view, event=JADA, patron=f"A {evil}", amount="1", method="cash", notes=f"N {evil}")
    one_line = bot.command("/log-payment", f"jada 1 cash B {evil}")
    bot.lazies.wait_idle()
    payment_id = bot.services.ledger.event_payments(JADA)[0].payment_id
    void = bot.command("/opsbot", f"void {payment_id}", user=ADMIN_USER)
    events = bot.command("/events", "jada")
    summary = bot.command("/opsbot", "summary")
    unknown = bot.command("/opsbot", f"x{evil}")
    bot.lazies.wait_idle()
    replies = json.dumps([r.json() for r in (one_line, void, events, summary, unknown)], ensure_ascii=False)
    for text in (_slack_text(bot), replies):
        assert evil not in text
    assert evil.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in _slack_text(bot)


# -- sizes ------------------------------------------------------------------------------------------------------


def test_oversized_fields_are_refused_with_the_limit(bot: Bot):
    view = bot.open_modal()
    reply = bot.submit(view, event=JADA, patron="p" * 5_000, amount="1" * 40, method="cash", notes="n" * 10_000)
    assert reply.json() == {"response_action": "errors", "errors": {
        "patron": "The patron's name is 5000 characters; the limit is 100.",
        "amount": "Amount is over the $1,000,000.00 limit: check the amount.",
        "notes": "Notes are 10000 characters; the limit is 500.",
    }}
    assert bot.services.ledger.status(JADA).payment_count == 0


def test_an_oversized_slack_body_is_refused_before_it_is_read(bot: Bot):
    reply = bot.send("command=%2Flog-payment&text=" + "x" * (1024 * 1024 + 10))
    assert reply.status == 413
    assert bot.services.ledger.status(JADA).payment_count == 0


def test_no_secret_reaches_the_logs_even_at_debug(make_bot, caplog):
    import bcrypt

    from tests.conftest import BOT_TOKEN, SIGNING_SECRET
    from tests.http_client import post

    password = "hunter2-but-longer"
    caplog.set_level("DEBUG")
    bot = make_bot(ADMIN_PASS_HASH=bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode())
    bot.command("/log-payment", "jada 10 cash Ana")
    bot.lazies.wait_idle()
    api = post(bot.base_url + "/api/payment/log", json.dumps({"event_id": JADA, "patron_name": "Bo", "amount": 5,
                                                              "payment_method": "cash"}),
               {"Content-Type": "application/json", "X-Admin-Token": password})
    assert api.status == 200
    assert post(bot.base_url + "/api/payment/log", "{}", {"X-Admin-Token": "wrong-" + password}).status == 401
    assert caplog.records, "nothing was logged at all"
    for secret in (BOT_TOKEN, SIGNING_SECRET, password):
        assert secret not in caplog.text


@pytest.mark.parametrize("text", ["jada <!channel> cash Ana", "jada 5 <!here> Ana", "<!everyone> 5 cash Ana",
                                  "<!channel>", "jada 5"])
def test_one_line_mistakes_never_echo_markup(bot: Bot, text):
    reply = bot.command("/log-payment", text).json()["text"]
    assert "<!" not in reply
    bot.lazies.wait_idle()
    assert bot.services.ledger.status(JADA).payment_count == 0


def test_other_echoes_are_escaped(bot: Bot):
    assert "<!" not in bot.command("/events", "<!channel>").json()["text"]
    assert "<!" not in bot.command("/opsbot", "void <!channel>", user=ADMIN_USER).json()["text"]
