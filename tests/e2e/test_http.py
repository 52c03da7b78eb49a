"""The HTTP server, driven with real (signed) HTTP requests over loopback."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from bot.bootstrap import SlackSetupError, build_services, build_slack_app
from bot.container import Services
from bot.core.health import Part, scheduler_part, socket_mode_part
from bot.core.ports import StoreError
from bot.entrypoints.http import MAX_BODY_BYTES, make_wsgi_app, start_background_server
from infra.local_slack.signing import signed_headers, slash_command_body
from tests.conftest import ADMIN_USER, SIGNING_SECRET
from tests.http_client import get, post

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class UnreachableStore:
    """A store whose backend is down: every call raises StoreError."""

    def __getattr__(self, name: str):
        def down(*args, **kwargs):
            raise StoreError("connection refused")

        return down


class BrokenStore:
    """A store with a bug: ping raises something that is not a StoreError."""

    def ping(self) -> None:
        raise RuntimeError("bug in the store adapter")


@contextmanager
def running(services: Services, slack_app=None) -> Iterator[str]:
    server, base_url = start_background_server(make_wsgi_app(services, slack_app))
    try:
        yield base_url
    finally:
        server.close()


def raw_http(base_url: str, request: bytes) -> bytes:
    """Send bytes exactly as given (no client fixing up headers); return the whole answer."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def help_command(text: str = "help") -> str:
    return slash_command_body("/opsbot", text)


# -- Slack requests ---------------------------------------------------------------------------


def test_signed_opsbot_help_is_answered_with_the_help(app_server, slack_api) -> None:
    body = slash_command_body("/opsbot", "help", user_id=ADMIN_USER)  # an admin: every command
    resp = post(app_server + "/slack/events", body, signed_headers(body, SIGNING_SECRET))
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/json")
    reply = resp.json()
    assert reply["response_type"] == "ephemeral"
    assert reply["blocks"][0]["text"]["text"] == "opsbot commands"
    sections = "\n".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")
    for command in ("/log-payment", "/paylink", "/deploy", "/events", "/opsbot"):
        assert command in sections
        assert command in reply["text"]
    # The ack is the answer: no Web API call beyond the token check at start.
    assert [c.method for c in slack_api.calls()] == ["auth.test"]
    assert slack_api.calls("auth.test")[0].token == "xoxb-test"


def test_unknown_opsbot_subcommand_gets_the_help_with_a_notice(app_server) -> None:
    body = help_command("<!channel> please")
    resp = post(app_server + "/slack/events", body, signed_headers(body, SIGNING_SECRET))
    assert resp.status == 200
    reply = resp.json()
    assert reply["response_type"] == "ephemeral"
    assert reply["blocks"][1]["text"]["text"] == "Unknown subcommand `&lt;!channel&gt;`: here is the help."
    assert "<!channel>" not in resp.text


def test_unsigned_request_is_refused(app_server) -> None:
    resp = post(app_server + "/slack/events", help_command(), FORM)
    assert resp.status == 401
    assert "opsbot commands" not in resp.text


def test_stale_signature_is_refused(app_server) -> None:
    body = help_command()
    six_minutes_ago = int(time.time()) - 6 * 60
    resp = post(app_server + "/slack/events", body, signed_headers(body, SIGNING_SECRET, six_minutes_ago))
    assert resp.status == 401
    assert "opsbot commands" not in resp.text


def test_signature_with_the_wrong_secret_is_refused(app_server) -> None:
    body = help_command()
    resp = post(app_server + "/slack/events", body, signed_headers(body, "not-the-signing-secret"))
    assert resp.status == 401
    assert "opsbot commands" not in resp.text


def test_tampered_body_is_refused(app_server) -> None:
    headers = signed_headers(help_command("help"), SIGNING_SECRET)
    resp = post(app_server + "/slack/events", help_command("void pay_k7m2x9q4ab"), headers)
    assert resp.status == 401


def test_garbage_is_401_unsigned_and_400_signed_never_500(app_server) -> None:
    garbage_json = "{not json"
    resp = post(app_server + "/slack/events", garbage_json, {"Content-Type": "application/json"})
    assert resp.status == 401
    not_a_payload = "payload=%5B1%2C2%5D"  # payload=[1,2]
    resp = post(app_server + "/slack/events", not_a_payload, FORM)
    assert resp.status == 401
    resp = post(app_server + "/slack/events", not_a_payload, signed_headers(not_a_payload, SIGNING_SECRET))
    assert resp.status == 400
    assert resp.json() == {"status": "error", "error": "request body is not a Slack payload"}
    not_utf8 = b"text=\xff\xfe"
    resp = post(app_server + "/slack/events", not_utf8, FORM)
    assert resp.status == 401
    ts = int(time.time())
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + not_utf8, hashlib.sha256).hexdigest()
    signed_bytes = {**FORM, "X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}
    resp = post(app_server + "/slack/events", not_utf8, signed_bytes)
    assert resp.status in (400, 401)
    assert resp.json()["status"] == "error"


def test_slack_requests_are_answered_concurrently(app_server) -> None:
    def one(i: int) -> int:
        body = help_command("help")
        return post(app_server + "/slack/events", body, signed_headers(body, SIGNING_SECRET)).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(one, range(16))) == [200] * 16


def test_slack_not_configured_answers_503_saying_what_to_set(make_settings) -> None:
    services = build_services(make_settings(SLACK_BOT_TOKEN=None, SLACK_SIGNING_SECRET=None))
    with running(services, slack_app=None) as base_url:
        body = help_command()
        resp = post(base_url + "/slack/events", body, signed_headers(body, SIGNING_SECRET))
    assert resp.status == 503
    assert resp.json() == {
        "status": "error",
        "error": "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET",
    }


def test_building_the_slack_app_without_credentials_says_what_to_set(make_settings) -> None:
    services = build_services(make_settings(SLACK_SIGNING_SECRET=None))
    with pytest.raises(SlackSetupError, match="set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"):
        build_slack_app(services)


def test_a_token_slack_refuses_fails_at_start_naming_the_variable(services, slack_api) -> None:
    slack_api.fail_next("auth.test", "invalid_auth")
    with pytest.raises(SlackSetupError) as err:
        build_slack_app(services)
    assert str(err.value) == "SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)"


def test_an_unreachable_slack_api_fails_at_start_naming_the_variable(make_settings) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    services = build_services(make_settings(OPSBOT_SLACK_API_URL=f"http://127.0.0.1:{port}/api/"))
    with pytest.raises(SlackSetupError, match=r"^OPSBOT_SLACK_API_URL: cannot reach the Slack API at http://127"):
        build_slack_app(services)


# -- health ---------------------------------------------------------------------------------


STORE_DOWN = {"status": "error", "error": "store unavailable",
              "parts": {"store": {"ok": False, "detail": "unavailable"}}}


def test_healthz_is_ok_when_the_store_answers(app_server) -> None:
    resp = get(app_server + "/healthz")
    assert resp.status == 200
    assert resp.json() == {"status": "ok", "parts": {"store": {"ok": True, "detail": "answers"}}}


def test_healthz_is_503_when_the_store_does_not_answer(settings) -> None:
    with running(build_services(settings, store=UnreachableStore())) as base_url:
        resp = get(base_url + "/healthz")
    assert resp.status == 503
    assert resp.json() == STORE_DOWN


def test_healthz_is_503_before_the_schema_exists(settings) -> None:
    with running(build_services(settings)) as base_url:  # real SQLite store, init-store not run
        resp = get(base_url + "/healthz")
    assert resp.status == 503
    assert resp.json() == STORE_DOWN


class Switch:
    """A part's state, flipped by the test."""

    def __init__(self, up: bool) -> None:
        self.up = up

    def is_connected(self) -> bool:
        return self.up

    @property
    def running(self) -> bool:
        return self.up

    def get_jobs(self) -> list[str]:
        return ["daily-summary", "morning-reminders"]


def test_healthz_names_each_part_and_is_503_when_a_required_one_is_down(services) -> None:
    slack, scheduler = Switch(True), Switch(True)
    services.health.watch("slack", socket_mode_part(slack))
    services.health.watch("scheduler", scheduler_part(scheduler))
    services.health.watch("email", lambda: Part(False, "SES throttled", required=False))
    with running(services) as base_url:
        up = get(base_url + "/healthz")
        assert (up.status, up.json()) == (200, {"status": "ok", "parts": {
            "store": {"ok": True, "detail": "answers"},
            "slack": {"ok": True, "detail": "connected (Socket Mode)"},
            "scheduler": {"ok": True, "detail": "running (2 jobs)"},
            "email": {"ok": False, "detail": "SES throttled", "required": False},  # reported, not a 503
        }})
        slack.up = scheduler.up = False
        down = get(base_url + "/healthz")
    assert down.status == 503
    assert down.json()["error"] == ("slack not connected (Socket Mode): reconnecting; "
                                    "scheduler not running: no daily summary or reminders")
    assert down.json()["parts"]["store"] == {"ok": True, "detail": "answers"}


def test_an_unexpected_error_is_a_500_without_traceback_and_is_logged(settings, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="opsbot.http")
    with running(build_services(settings, store=BrokenStore())) as base_url:
        resp = get(base_url + "/healthz")
    assert resp.status == 500
    assert resp.json() == {"status": "error", "error": "internal error"}
    assert "Traceback" not in resp.text and "bug in the store adapter" not in resp.text
    [record] = [r for r in caplog.records if r.name == "opsbot.http"]
    assert record.exc_info is not None and "bug in the store adapter" in str(record.exc_info[1])
    assert "GET /healthz" in record.getMessage()


# -- routing and request limits --------------------------------------------------------------


def test_unknown_path_is_404_json(app_server) -> None:
    resp = get(app_server + "/wp-login.php")
    assert resp.status == 404
    assert resp.json() == {"status": "error", "error": "no such route: /wp-login.php"}


def test_wrong_method_is_405_with_allow(app_server) -> None:
    resp = get(app_server + "/slack/events")
    assert resp.status == 405
    assert resp.headers["allow"] == "POST"
    assert resp.json()["status"] == "error"
    resp = post(app_server + "/healthz", b"")
    assert resp.status == 405
    assert resp.headers["allow"] == "GET"


def test_a_body_over_1_mib_is_refused_with_413(app_server) -> None:
    resp = post(app_server + "/slack/events", b"x" * (MAX_BODY_BYTES + 1), FORM)
    assert resp.status == 413
    assert resp.json() == {"status": "error", "error": "request body too large: the limit is 1048576 bytes"}
    # A body right at the limit is read (and, unsigned, refused for its signature).
    assert post(app_server + "/slack/events", b"x" * MAX_BODY_BYTES, FORM).status == 401
    # Far over the limit the server answers from the headers alone, without waiting for the body.
    answer = raw_http(app_server, (
        "POST /slack/events HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Length: {100 * MAX_BODY_BYTES}\r\nConnection: close\r\n\r\n"
    ).encode())
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_missing_content_length_is_an_empty_body_not_an_error(app_server) -> None:
    answer = raw_http(app_server, b"POST /slack/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 ")


def test_invalid_content_length_is_400(app_server) -> None:
    answer = raw_http(
        app_server,
        b"POST /slack/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: lots\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize("length", ["lots", "-5", "1e3", "12 34"])
def test_invalid_content_length_is_400_json_under_any_wsgi_server(services, length) -> None:
    app = make_wsgi_app(services, None)
    seen: list[tuple[str, list]] = []
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "CONTENT_LENGTH": length,
               "wsgi.input": io.BytesIO(b"text=help")}
    body = b"".join(app(environ, lambda status, headers: seen.append((status, headers))))
    assert seen[0][0] == "400 Bad Request"
    assert body == b'{"status": "error", "error": "invalid Content-Length header"}'


def test_chunked_request_bodies_are_read(app_server) -> None:
    body = help_command().encode()
    headers = signed_headers(body.decode(), SIGNING_SECRET)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /slack/events HTTP/1.1\r\nHost: localhost\r\n{head}Transfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    answer = raw_http(app_server, request)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"opsbot commands" in answer
