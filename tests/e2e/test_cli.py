"""The opsbot command line, run as the operator runs it: ``python -m bot`` in a subprocess."""

from __future__ import annotations

import getpass
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import bcrypt
import pytest

from bot.config import load_settings
from bot.core.ports import SUMMARIES_KEPT
from bot.entrypoints import cli
from infra import open_store
from infra.local_slack.signing import signed_headers, slash_command_body
from infra.sqlite_store import SCHEMA_VERSION
from tests.conftest import PROJECT_VERSION, REPO, SIGNING_SECRET
from tests.http_client import get, post


@pytest.fixture
def cli_env(opsbot_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A clean process environment: only what the bot is configured with, no inherited OPSBOT_*.
    The summary and the reminders are due hours from now: a server started by a test posts neither
    (with the defaults, one started between 18:00 and 20:00 in Los Angeles sent the summary at once)."""
    local_now = datetime.now(ZoneInfo(opsbot_env.get("OPSBOT_TIMEZONE", "America/Los_Angeles")))
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "OPSBOT_SUMMARY_AT": f"{local_now + timedelta(hours=6):%H:%M}",
        "OPSBOT_REMINDER_AT": f"{local_now + timedelta(hours=7):%H:%M}",
        **opsbot_env,
    }


def run_cli(env: dict[str, str], *args: str, cwd: Path, timeout: float = 60,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # cwd is a temp dir: no stray .env is read, and nothing relies on the repo being the cwd.
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, input=stdin, start_new_session=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port (the server under test, once it is up)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True



@contextmanager
def cli_server(env: dict[str, str], command: str, cwd: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start ``opsbot <command>`` on a free port; yield its base URL once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot", command, "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if proc.poll() is not None:
                raise AssertionError(f"opsbot {command} exited with {proc.returncode}: {proc.stderr.read()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"opsbot {command} did not listen on port {port} within 30s")
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)  # the pause between tries; an early exit ends it at once
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def health_once_scheduled(base_url: str):
    """/healthz once the scheduler has started: `serve` starts it on a thread once it listens, so its first
    answers may say "starting" (up: the server answers meanwhile)."""
    return until(lambda: get(base_url + "/healthz"),
                 lambda health: health.json()["parts"]["scheduler"] != {"ok": True, "detail": "starting"},
                 what="the scheduler started")


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


# -- --help ------------------------------------------------------------------------------


def test_help_lists_the_commands(cli_env, tmp_path) -> None:
    result = run_cli(cli_env, "--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "serve", "init-store", "hash-password", "backup", "restore"):
        assert command in result.stdout
    serve_help = run_cli(cli_env, "serve", "--help", cwd=tmp_path)
    assert serve_help.returncode == 0
    assert "--host" in serve_help.stdout and "--port" in serve_help.stdout


def test_help_says_what_each_command_does_and_names_only_files_that_exist() -> None:
    parser = cli.build_parser()
    [commands] = [a for a in parser._subparsers._group_actions if a.dest == "command"]
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    assert set(helps) == set(commands.choices)
    for name, text in helps.items():
        assert text and len(text.split()) >= 5, f"`opsbot {name}` needs a sentence of help, not {text!r}"
    texts = [parser.format_help(), *(sub.format_help() for sub in commands.choices.values())]
    named = {m for text in texts for m in re.findall(r"[\w./-]+\.(?:md|json|yaml|toml|example|txt)\b", text)}
    assert {"README.md", ".env.example"} <= named
    missing = sorted(name for name in named if not (REPO / name).exists())
    assert missing == [], f"--help names files that are not in the repository: {missing}"


def test_version_comes_from_the_package(cli_env, tmp_path) -> None:
    result = run_cli(cli_env, "--version", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"opsbot {PROJECT_VERSION}\n", "")


def test_the_version_without_package_metadata_is_read_from_pyproject(monkeypatch, tmp_path) -> None:
    from importlib import metadata

    from bot import version

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    version.opsbot_version.cache_clear()
    try:
        assert version.opsbot_version() == PROJECT_VERSION
        monkeypatch.setattr(version, "PYPROJECT", tmp_path / "pyproject.toml")
        version.opsbot_version.cache_clear()
        assert version.opsbot_version() == "unknown"
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "opsbot"\nversion = "9.8.7"\n')
        version.opsbot_version.cache_clear()
        assert version.opsbot_version() == "9.8.7"
    finally:
        version.opsbot_version.cache_clear()


def test_no_command_is_a_usage_error(cli_env, tmp_path) -> None:
    result = run_cli(cli_env, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: opsbot" in result.stderr


# -- init-store ------------------------------------------------------------------------------


def test_init_store_twice_succeeds_and_keeps_the_store(cli_env, tmp_path) -> None:
    db = tmp_path / "opsbot.db"
    first = run_cli(cli_env, "init-store", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == (f"SQLite store {db}: created schema version {SCHEMA_VERSION} "
                            "(existing data is kept; safe to run again).\n")
    assert db.is_file()
    second = run_cli(cli_env, "init-store", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"SQLite store {db}: already up to date (existing data is kept; safe to run again).\n"


def test_init_store_builds_the_summaries_a_store_upgraded_from_before_them_lacks(cli_env, tmp_path) -> None:
    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    store = open_store(load_settings(environ=cli_env, env_file=None))
    # As an opsbot from before summaries left it: a deploy and a payment link in their histories, no summaries.
    store.put_record("deploy", "gipsykings", "2026-05-01T10:00:00+00:00#dep_1", {
        "deploy_id": "dep_1", "site": "gipsykings", "target": "staging", "by": "U0ADMIN0001",
        "at": "2026-05-01T10:00:05+00:00", "result": "deployed"})
    link = {"link_id": "plink_1", "url": "https://buy.stripe.com/test_1", "product_id": "prod_1",
            "price_id": "price_1", "amount_cents": 25_000, "product_name": "Deposit", "description": "",
            "event_id": "2026-05-23-jada-charter", "event_title": "JADA Charter", "created_by": "U0ADMIN0001",
            "created_at": "2026-05-01T10:00:00.000000+00:00", "day": "2026-05-01"}
    store.put_record("paylink", link["event_id"], f"{link['created_at']}#plink_1", link)
    store.delete_record(*SUMMARIES_KEPT)
    db = tmp_path / "opsbot.db"
    result = run_cli(cli_env, "init-store", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"SQLite store {db}: already up to date (existing data is kept; safe to run again).",
        f"SQLite store {db}: built the summaries the App Home reads from the histories: the last deploy of 3 "
        "site(s), the newest payment links of 7 group(s)."]
    assert store.get_record("deploy-last", "gipsykings", "last")["record"]["deploy_id"] == "dep_1"
    assert store.get_record("paylink-recent", link["event_id"], "newest")["links"][0]["link"] == link
    assert store.get_record(*SUMMARIES_KEPT) is not None
    assert run_cli(cli_env, "init-store", cwd=tmp_path).stdout == (
        f"SQLite store {db}: already up to date (existing data is kept; safe to run again).\n")


def test_a_store_in_a_missing_folder_is_one_line_until_init_store_makes_the_folder(cli_env, tmp_path) -> None:
    cli_env["OPSBOT_STORE"] = f"sqlite:///{tmp_path}/no/such/folder/opsbot.db"
    line = one_error_line(run_cli(cli_env, "summary", cwd=tmp_path))
    assert line.startswith(f"opsbot: cannot open SQLite store {tmp_path}/no/such/folder/opsbot.db")
    assert not (tmp_path / "no").exists()  # only init-store creates folders
    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    assert (tmp_path / "no" / "such" / "folder" / "opsbot.db").is_file()


# -- bad configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value", "command"), [
    ("OPSBOT_TIMEZONE", "Mars/Olympus", "init-store"),
    ("OPSBOT_STORE", "postgres://x", "init-store"),
    ("OPSBOT_ADMINS", "alice", "serve"),
    ("SLACK_BOT_TOKEN", "xoxp-a-user-token", "serve"),
    ("OPSBOT_SUMMARY_AT", "6pm", "run"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(cli_env, tmp_path, variable, value, command) -> None:
    cli_env[variable] = value
    line = one_error_line(run_cli(cli_env, command, "--port", str(free_port()), cwd=tmp_path)
                          if command != "init-store" else run_cli(cli_env, command, cwd=tmp_path))
    assert line.startswith(f"opsbot: {variable}: ")


def write_events(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "events.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("data", "expected"), [
    (
        {"events": [{"id": "gala", "title": "Gala", "total": 100}, {"id": "gala", "title": "Gala 2", "total": 50}]},
        'events[1] (gala): field "id": duplicate of events[0]',
    ),
    (
        {"events": [{"id": "gala", "title": "Gala", "total": 100, "site": "nowhere"}], "sites": []},
        "events[0] (gala): field \"site\": no site with id 'nowhere' in \"sites\"",
    ),
    (
        {"events": [{"id": "gala", "title": "Gala", "total": "-5"}]},
        'events[0] (gala): field "total": ',
    ),
    (
        {"events": [], "links": {"Stripe": [{"title": "Dashboard", "url": "https://dashboard.stripe.com"},
                                            {"title": "Payouts", "url": "http://dashboard.stripe.com/payouts"}]}},
        'links["Stripe"][1] (Payouts): field "url": \'http://dashboard.stripe.com/payouts\' must start with https://',
    ),
])
def test_a_bad_events_file_is_one_line_naming_file_entry_and_field(cli_env, tmp_path, data, expected) -> None:
    path = write_events(tmp_path, data)
    cli_env["OPSBOT_EVENTS_FILE"] = str(path)
    line = one_error_line(run_cli(cli_env, "serve", "--port", str(free_port()), cwd=tmp_path, timeout=30))
    assert line.startswith(f"opsbot: {path}: {expected}")


def test_a_missing_events_file_says_which_variable_to_set(cli_env, tmp_path) -> None:
    cli_env["OPSBOT_EVENTS_FILE"] = str(tmp_path / "nope.json")
    line = one_error_line(run_cli(cli_env, "serve", "--port", str(free_port()), cwd=tmp_path, timeout=30))
    assert line == f"opsbot: {tmp_path / 'nope.json'}: file not found (set OPSBOT_EVENTS_FILE to its location)"


# -- serve / run -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "run"])
def test_the_server_answers_health_and_slack_then_stops_cleanly(cli_env, tmp_path, slack_api, command) -> None:
    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    with cli_server(cli_env, command, tmp_path) as (base_url, proc):
        health = health_once_scheduled(base_url)
        assert health.status == 200
        assert health.json() == {"status": "ok", "parts": {"store": {"ok": True, "detail": "answers"},
                                                           "scheduler": {"ok": True, "detail": "running (2 jobs)"}}}
        body = slash_command_body("/opsbot", "help")
        reply = post(base_url + "/slack/events", body, signed_headers(body, SIGNING_SECRET))
        assert reply.status == 200
        assert reply.json()["response_type"] == "ephemeral"
        assert "/log-payment" in reply.json()["text"]
        assert post(base_url + "/slack/events", body, {"Content-Type": "application/x-www-form-urlencoded"}
                    ).status == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        log = proc.stderr.read()
    assert f"opsbot listening on {base_url}" in log
    assert "Traceback" not in log
    assert [c.method for c in slack_api.calls()] == ["auth.test"]


def test_the_server_without_slack_still_answers_health(cli_env, tmp_path) -> None:
    del cli_env["SLACK_BOT_TOKEN"], cli_env["SLACK_SIGNING_SECRET"]
    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    with cli_server(cli_env, "serve", tmp_path) as (base_url, proc):
        assert get(base_url + "/healthz").status == 200
        slack = post(base_url + "/slack/events", "command=%2Fopsbot")
        assert slack.status == 503
        assert "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in slack.json()["error"]


def test_the_server_before_init_store_warns_and_reports_unhealthy(cli_env, tmp_path) -> None:
    with cli_server(cli_env, "serve", tmp_path) as (base_url, proc):
        assert get(base_url + "/healthz").status == 503
        proc.terminate()
        proc.wait(timeout=15)
        assert "run `opsbot init-store`" in proc.stderr.read()


def test_a_token_slack_refuses_stops_the_server_at_start(cli_env, tmp_path, slack_api) -> None:
    slack_api.fail_next("auth.test", "invalid_auth")
    result = run_cli(cli_env, "serve", "--port", str(free_port()), cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert "opsbot: SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr


def test_run_with_an_app_token_uses_socket_mode_and_reports_a_refusal(cli_env, tmp_path, slack_api) -> None:
    cli_env["SLACK_APP_TOKEN"] = "xapp-1-A0APP000001-test"
    slack_api.fail_next("apps.connections.open", "invalid_auth")
    result = run_cli(cli_env, "run", cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "opsbot: SLACK_APP_TOKEN: Slack refused the Socket Mode connection (invalid_auth)"
    )
    assert "Traceback" not in result.stderr
    opened = slack_api.calls("apps.connections.open")
    assert [c.token for c in opened] == ["xapp-1-A0APP000001-test"]


def test_a_port_in_use_is_one_line(cli_env, tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(cli_env, "serve", "--port", str(port), cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert f"opsbot: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr


def test_a_bad_port_is_a_usage_error(cli_env, tmp_path) -> None:
    result = run_cli(cli_env, "serve", "--port", "http", cwd=tmp_path)
    assert result.returncode == 2
    assert "'http' is not a port number" in result.stderr


# -- hash-password -------------------------------------------------------------------------------------


@pytest.fixture
def typed(monkeypatch):
    """What the operator types at the password prompts, in order."""
    answers: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        if not answers:
            raise EOFError
        return answers.pop(0)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return answers


def test_hash_password_prints_a_hash_the_settings_accept(typed, capsys) -> None:
    typed.extend(["correct horse battery", "correct horse battery"])
    assert cli.main(["hash-password"]) == 0
    out, err = capsys.readouterr()
    hashed = out.strip()
    assert out.count("\n") == 1 and hashed.startswith("$2b$12$")
    assert bcrypt.checkpw(b"correct horse battery", hashed.encode())
    assert load_settings(environ={"ADMIN_PASS_HASH": hashed}, env_file=None).admin_pass_hash == hashed
    assert "ADMIN_PASS_HASH" in err


@pytest.mark.parametrize(("answers", "message"), [
    (["one password", "another"], "opsbot: the two passwords differ; nothing was hashed"),
    ([""], "opsbot: the password is empty; nothing to hash"),
    (["é" * 37], "opsbot: the password is 74 bytes; bcrypt uses at most 72: choose a shorter one"),
    ([], "opsbot: no password was given (input ended)"),
])
def test_hash_password_refuses_with_one_line(typed, capsys, answers, message) -> None:
    typed.extend(answers)
    assert cli.main(["hash-password"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == message + "\n"


def test_hash_password_works_without_a_terminal_and_without_settings(cli_env, tmp_path) -> None:
    cli_env["OPSBOT_TIMEZONE"] = "Mars/Olympus"  # a broken setting does not stop making its hash
    result = run_cli(cli_env, "hash-password", cwd=tmp_path, stdin="s3cret pass\ns3cret pass\n")
    assert result.returncode == 0, result.stderr
    assert bcrypt.checkpw(b"s3cret pass", result.stdout.strip().encode())


def test_init_store_and_serve_on_dynamodb(cli_env, tmp_path, moto_endpoint) -> None:
    del cli_env["SLACK_BOT_TOKEN"], cli_env["SLACK_SIGNING_SECRET"]
    cli_env.update({
        "OPSBOT_STORE": "dynamodb://opsbot-cli", "AWS_ENDPOINT_URL": moto_endpoint, "AWS_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    })
    with cli_server(cli_env, "serve", tmp_path) as (base_url, proc):
        assert get(base_url + "/healthz").status == 503  # no table yet
    first = run_cli(cli_env, "init-store", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "opsbot-cli" in first.stdout
    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    with cli_server(cli_env, "serve", tmp_path) as (base_url, proc):
        health = health_once_scheduled(base_url)
        assert (health.status, health.json()) == (200, {"status": "ok", "parts": {
            "store": {"ok": True, "detail": "answers"},
            "scheduler": {"ok": True, "detail": "running (0 jobs)"}}})  # no Slack, no email: nothing to send


def test_summary_prints_a_day_and_posts_it_when_asked(cli_env, tmp_path, slack_api) -> None:
    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    printed = run_cli(cli_env, "summary", "--date", "2026-05-20", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == (
        "Payments for Wed May 20, 2026\n=============================\nNo payments logged on Wed May 20.\n"
        "vs. last Wed, May 13: no payments either\n\n"
        "Still owed, next 7 days:\n  JADA Charter (Sat May 23): $1,560.00 of $1,560.00\n")
    posted = run_cli(cli_env, "summary", "--date", "2026-05-20", "--post", cwd=tmp_path)
    assert posted.returncode == 0, posted.stderr
    assert posted.stdout == "Posted the summary for 2026-05-20 to C0AUDIT0001.\n"
    [call] = slack_api.calls("chat.postMessage")
    assert (call.params["channel"], call.params["text"]) == (
        "C0AUDIT0001", "Payments for Wed May 20, 2026: no payments.")


def test_summary_refuses_a_bad_date_and_posting_without_slack(cli_env, tmp_path) -> None:
    bad = run_cli(cli_env, "summary", "--date", "20-05-2026", cwd=tmp_path)
    assert bad.returncode == 2 and "'20-05-2026' is not a date in YYYY-MM-DD form" in bad.stderr
    del cli_env["SLACK_BOT_TOKEN"]
    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    line = one_error_line(run_cli(cli_env, "summary", "--post", cwd=tmp_path))
    assert line == "opsbot: Slack is not configured for posting: set SLACK_BOT_TOKEN and OPSBOT_AUDIT_CHANNEL"


def test_socket_mode_runs_the_http_server_beside_it_for_webhooks_and_health(settings, slack_api) -> None:
    from bot.bootstrap import build_services, build_slack_app

    services = build_services(settings)
    services.store.init_schema()
    app = build_slack_app(services)
    port = free_port()
    seen: dict[str, object] = {}

    class SocketModeStandIn:
        """Where slack_bolt's SocketModeHandler would hold the WebSocket open, look at the HTTP side."""

        def __init__(self, bolt_app, app_token, *, auto_reconnect_enabled):
            seen.update(app=bolt_app, token=app_token, reconnect=auto_reconnect_enabled)
            self.client = self  # slack_sdk's client, as far as health asks

        def is_connected(self):
            return True

        def start(self):
            seen["health"] = get(f"http://127.0.0.1:{port}/healthz").status
            seen["webhook"] = post(f"http://127.0.0.1:{port}/stripe/webhook", "{}").status

    cli.run_socket_mode(services, app, "xapp-1-A0APP000001-test", "127.0.0.1", port, SocketModeStandIn)
    assert seen == {"app": app, "token": "xapp-1-A0APP000001-test", "reconnect": True, "health": 200,
                    "webhook": 400}
    with pytest.raises(OSError):  # the server stopped with the Socket Mode session
        socket.create_connection(("127.0.0.1", port), timeout=1)


# -- the outbox's deliverer: in the server, or as its own process ------------------------------------------------


def _log_a_payment(base_url: str) -> str:
    body = slash_command_body("/log-payment", "jada 25 cash Ana Ruiz", trigger_id="13345224609.1.cli-outbox")
    reply = post(base_url + "/slack/events", body, signed_headers(body, SIGNING_SECRET))
    assert reply.status == 200 and reply.json()["text"].startswith("Recorded: $25.00 (cash) from Ana Ruiz")
    return reply.json()["text"]


def test_serve_delivers_the_outbox_and_a_worker_does_it_for_a_server_that_does_not(cli_env, tmp_path,
                                                                                  slack_api) -> None:
    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    with cli_server(cli_env, "serve", tmp_path) as (base_url, _):
        _log_a_payment(base_url)
        line = slack_api.wait_for("chat.postMessage", timeout=15)  # the server's own deliverer
        assert "*$25.00* (cash) from *Ana Ruiz*" in line.params["blocks"][0]["text"]["text"]

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--no-deliverer"],
                              env=cli_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = None
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            with suppress(subprocess.TimeoutExpired):
                server.wait(timeout=0.05)
        body = slash_command_body("/log-payment", "jada 30 venmo Bo Li", trigger_id="13345224609.2.cli-outbox")
        assert post(f"http://127.0.0.1:{port}/slack/events", body, signed_headers(body, SIGNING_SECRET)).status == 200
        store = open_store(load_settings(environ=cli_env, env_file=None))
        [waiting] = store.due_entries("slack", datetime.now(UTC), 10)  # the server announced, did not send
        assert len(slack_api.calls("chat.postMessage")) == 1
        worker = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=cli_env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = slack_api.wait_for("chat.postMessage", count=2, timeout=30)
        assert "*$30.00* (venmo) from *Bo Li*" in line.params["blocks"][0]["text"]["text"]
        deadline = time.monotonic() + 15
        while store.get_entry(waiting.entry_id).state != "delivered":  # the worker notes it right after Slack's answer
            assert time.monotonic() < deadline, store.get_entry(waiting.entry_id)
            with suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
        assert "Traceback" not in worker.stderr.read()
    finally:
        for proc in (server, worker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_worker_retry_parked_makes_the_parked_announcements_due_again(cli_env, tmp_path) -> None:
    from bot.core.outbox import Announcement, Settled, new_entry

    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    store = open_store(load_settings(environ=cli_env, env_file=None))
    entry = new_entry("pay_k7m2x9q4ab", "payment.recorded", "audit", {"channel": "C0AUDIT0001"},
                      datetime.now(UTC) - timedelta(days=2))
    store.announce(Announcement(None, (entry,)))
    [seen] = store.due_entries("slack", datetime.now(UTC), 1)
    store.claim_entries([seen], holder="t", attempt="t#1:line", now=datetime.now(UTC), lease=timedelta(seconds=30))
    store.settle_entries([Settled(entry.entry_id, "parked", error="not_in_channel")], holder="t",
                         now=datetime.now(UTC))
    result = run_cli(cli_env, "worker", "--retry-parked", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, (
        "1 parked announcement will be tried again now (by this installation's running deliverer, or the next "
        "`opsbot worker`).\n"))
    assert store.parked_entries(10) == []
    assert store.get_entry(entry.entry_id).state == "pending"


# -- schema versions at start-up -------------------------------------------------------------------------------


def test_start_up_upgrades_an_unversioned_ledger_and_refuses_one_from_a_newer_opsbot(cli_env, tmp_path) -> None:
    from tests.integration.test_schema_versions import SHIPPED_SCHEMA, raw, user_version

    db = tmp_path / "opsbot.db"
    with raw(db) as conn:
        conn.executescript(SHIPPED_SCHEMA)
    with cli_server(cli_env, "serve", tmp_path) as (base_url, proc):
        assert get(base_url + "/healthz").status == 200
        proc.terminate()
        proc.wait(timeout=15)
        log = proc.stderr.read()
    assert "store: stamped the unversioned ledger (as first shipped) as schema version 1" in log
    assert user_version(db) == SCHEMA_VERSION

    with raw(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    for command in ("serve", "run", "init-store"):
        args = (command,) if command == "init-store" else (command, "--port", str(free_port()))
        line = one_error_line(run_cli(cli_env, *args, cwd=tmp_path, timeout=30))
        assert line.startswith(f"opsbot: SQLite store {db} has schema version {SCHEMA_VERSION + 1}, newer than this "
                               f"opsbot ({PROJECT_VERSION}) knows: it reads versions up to {SCHEMA_VERSION}.")


# -- health: the Slack connection in Socket Mode ------------------------------------------------------------------


def until(read, ready, *, timeout: float = 30.0, what: str = "the condition"):
    """Read again (a pause of 0.1 s between reads) until ``ready(value)``; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} was not met within {timeout}s; last: {value}")
        threading.Event().wait(0.1)


def test_run_in_socket_mode_reports_the_slack_connection_in_healthz(cli_env, tmp_path, slack_api) -> None:
    from urllib.parse import parse_qsl

    from tests.fakes.socket_mode import SocketModeStandIn

    assert run_cli(cli_env, "init-store", cwd=tmp_path).returncode == 0
    cli_env["SLACK_APP_TOKEN"] = "xapp-1-A0APP000001-test"
    del cli_env["SLACK_SIGNING_SECRET"]  # not needed in Socket Mode
    with SocketModeStandIn() as slack_socket:
        slack_api.script_next("apps.connections.open", 200, {"ok": True, "url": slack_socket.url}, times=50)
        with cli_server(cli_env, "run", tmp_path) as (base_url, proc):
            up = until(lambda: get(base_url + "/healthz"), lambda r: r.status == 200, what="healthz 200")
            assert up.json() == {"status": "ok", "parts": {
                "store": {"ok": True, "detail": "answers"},
                "scheduler": {"ok": True, "detail": "running (2 jobs)"},
                "slack": {"ok": True, "detail": "connected (Socket Mode)"},
            }}

            # A slash command over the socket is answered in its acknowledgement.
            command = dict(parse_qsl(slash_command_body("/opsbot", "help")))
            slack_socket.send_envelope({"envelope_id": "env-help-1", "type": "slash_commands",
                                        "accepts_response_payload": True, "payload": command})
            ack = slack_socket.wait_for_ack("env-help-1")
            assert "/log-payment" in ack["payload"]["text"]

            # Slack's end goes away: the connection is dropped and new ones are refused.
            slack_socket.refuse()
            slack_socket.drop()
            down = until(lambda: get(base_url + "/healthz"), lambda r: r.status == 503, what="healthz 503")
            assert down.json() == {"status": "error", "error": "slack not connected (Socket Mode): reconnecting",
                                   "parts": {"store": {"ok": True, "detail": "answers"},
                                             "scheduler": {"ok": True, "detail": "running (2 jobs)"},
                                             "slack": {"ok": False,
                                                       "detail": "not connected (Socket Mode): reconnecting"}}}
            assert proc.poll() is None  # the bot keeps running and trying

            # Slack is back: the client reconnects by itself, and health says so.
            slack_socket.accept()
            until(lambda: get(base_url + "/healthz"), lambda r: r.status == 200, what="healthz 200 again")
            assert slack_socket.handshakes >= 2  # a new connection, not the old one
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
    assert [c.token for c in slack_api.calls("apps.connections.open")][:1] == ["xapp-1-A0APP000001-test"]
