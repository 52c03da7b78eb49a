"""manifest.json, the Slack app "from an app manifest": its commands and events
are exactly the listeners the Bolt app registers, and its bot scopes exactly
what the Web API methods the code calls need."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.bootstrap import build_slack_app
from bot.entrypoints.doctor import manifest_scopes
from infra.local_slack.signing import signed_headers, slash_command_body
from tests.conftest import ADMIN_USER, REPO, SIGNING_SECRET
from tests.slack_bot import LazyTracker

MANIFEST = json.loads((REPO / "manifest.json").read_text())
CODE_DIRS = ("bot", "handlers", "infra", "blocks")

# The bot scopes each Web API method needs (https://api.slack.com/methods). A method
# the code calls that is not here fails the test below: add it, with its scopes.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "views.open": frozenset(),
    "views.update": frozenset(),
    "views.publish": frozenset(),
    # The doctor reads the ops channel: public channels need channels:read, private ones groups:read.
    "conversations.info": frozenset({"channels:read", "groups:read"}),
    # The deliverer looks for a line an interrupted try may have posted (bot/core/deliverer.py): the
    # ops channel's history, channels:history when it is public, groups:history when private.
    "conversations.history": frozenset({"channels:history", "groups:history"}),
    # Called with the app-level token (connections:write), not the bot token.
    "apps.connections.open": frozenset(),
    # files_upload_v2 (the /opsbot export file) calls both.
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
}
SLASH_COMMAND_SCOPE = "commands"


def registered_listeners(services, monkeypatch) -> dict[str, set[str]]:
    """Build the real app and note every command, event and action it registers."""
    seen: dict[str, set[str]] = {"command": set(), "event": set(), "action": set(), "view": set()}
    for kind in seen:
        real = getattr(App, kind)

        def record(self, name, *args, _kind=kind, _real=real, **kwargs):
            seen[_kind].add(name if isinstance(name, str) else repr(name))
            return _real(self, name, *args, **kwargs)

        monkeypatch.setattr(App, kind, record)
    build_slack_app(services, token_verification_enabled=False)
    return seen


def test_the_manifest_commands_and_events_are_the_registered_listeners(services, monkeypatch):
    seen = registered_listeners(services, monkeypatch)
    commands = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    assert len(commands) == len(set(commands))
    assert set(commands) == seen["command"]
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == seen["event"] == {"app_home_opened"}


def test_each_manifest_command_is_answered_by_the_running_app(services, slack_api):
    lazies = LazyTracker()
    app = build_slack_app(services, listener_executor=lazies)
    from slack_bolt.request import BoltRequest

    texts = {"/log-payment": "jada 5", "/events": "", "/links": "", "/paylink": "", "/deploy": "", "/opsbot": "help"}
    for entry in MANIFEST["features"]["slash_commands"]:
        body = slash_command_body(entry["command"], texts[entry["command"]], user_id=ADMIN_USER,
                                  response_url=slack_api.response_url())
        response = app.dispatch(BoltRequest(body=body, headers=signed_headers(body, SIGNING_SECRET)))
        assert response.status == 200, entry["command"]
        assert json.loads(response.body)["response_type"] == "ephemeral", entry["command"]
    lazies.wait_idle()
    lazies.shutdown()


def web_api_method_names() -> dict[str, list[str]]:
    """WebClient method name -> the Web API methods it calls, read from slack_sdk's own source (a
    helper such as files_upload_v2 calls several through other WebClient methods)."""
    tree = ast.parse(inspect.getsource(WebClient))
    direct: dict[str, str] = {}
    helpers: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for call in ast.walk(node):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                    continue
                if call.func.attr == "api_call" and call.args and isinstance(call.args[0], ast.Constant):
                    direct[node.name] = call.args[0].value
                elif isinstance(call.func.value, ast.Name) and call.func.value.id == "self":
                    helpers.setdefault(node.name, set()).add(call.func.attr)
    names = {name: [method] for name, method in direct.items()}
    for name, called in helpers.items():
        if name not in names and (methods := sorted(direct[c] for c in called if c in direct)):
            names[name] = methods
    return names


def called_web_api_methods() -> dict[str, list[str]]:
    """Web API method -> where the code calls it (client.chat_postMessage(...) or api_call("...", ...))."""
    names = web_api_method_names()
    found: dict[str, list[str]] = {}
    for folder in CODE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                methods: list[str] = []
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    if node.func.attr in names:
                        methods = names[node.func.attr]
                    elif node.func.attr == "api_call" and node.args and isinstance(node.args[0], ast.Constant):
                        methods = [node.args[0].value]
                # infra/probes.py names the method as a string: getattr(client, "auth_test")
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names \
                        and "_" in node.value:
                    methods = names[node.value]
                for method in methods:
                    found.setdefault(method, []).append(f"{Path(path).relative_to(REPO)}:{node.lineno}")
    return found


def test_the_bot_scopes_are_exactly_what_the_called_methods_need():
    called = called_web_api_methods()
    unknown = sorted(set(called) - set(METHOD_SCOPES))
    assert unknown == [], f"add these Web API methods and their scopes to METHOD_SCOPES: {unknown} ({called})"
    # Sanity: the scan sees the calls we know are there.
    assert {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.publish",
            "conversations.info", "auth.test", "files.getUploadURLExternal", "files.completeUploadExternal"
            } <= set(called)
    needed = {SLASH_COMMAND_SCOPE}.union(*(METHOD_SCOPES[m] for m in called))
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed
    assert manifest_scopes() == frozenset(needed)  # what `opsbot doctor` compares the token with
    assert "user" not in MANIFEST["oauth_config"]["scopes"]  # no user token


def test_the_manifest_is_a_v1_socket_mode_app_with_interactivity_and_the_home_tab():
    assert MANIFEST["_metadata"]["major_version"] == 1
    assert set(MANIFEST) == {"_metadata", "display_information", "features", "oauth_config", "settings"}
    display = MANIFEST["display_information"]
    assert display["name"] == "opsbot" and 1 <= len(display["description"]) <= 140
    assert 175 <= len(display["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", display["background_color"])
    features = MANIFEST["features"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["bot_user"]["display_name"] == "opsbot"
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True}  # Socket Mode: no request URL
    assert "request_url" not in settings["event_subscriptions"]
    for entry in features["slash_commands"]:
        assert set(entry) <= {"command", "description", "usage_hint", "should_escape", "url"}
        assert re.fullmatch(r"/[a-z-]{1,31}", entry["command"])
        assert 1 <= len(entry["description"]) <= 2000 and 1 <= len(entry["usage_hint"]) <= 1000
        assert "url" not in entry  # Socket Mode delivers commands over the socket


@pytest.mark.parametrize("command", [c["command"] for c in MANIFEST["features"]["slash_commands"]])
def test_each_command_has_help_with_an_example(command):
    from bot.core.help import COMMANDS

    assert any(h.usage.startswith(command) and h.example.startswith(command) for h in COMMANDS)
