"""The bot's own log lines on Lambda: the same lines a server writes (a request
line per Slack request with who and what, the schedules, the web API), as JSON
objects, at the level OPSBOT_LOG_LEVEL sets, where the Lambda runtime would have
left the root logger at WARNING and dropped every INFO line."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bot.bootstrap import build_slack_app
from bot.entrypoints.aws_lambda import build_lambda_bot, handle
from bot.entrypoints.http import make_wsgi_app
from bot.entrypoints.logs import JsonLines, configure_lambda_logging, configure_server_logging
from infra.local_slack.signing import slash_command_body
from tests.e2e.test_web_api import call  # a WSGI call without a socket
from tests.integration.test_aws_lambda import CONTEXT, FakeLambda, slack_event


@contextmanager
def runtime_root() -> Iterator[logging.Logger]:
    """The root logger as the Lambda runtime hands it over (WARNING), without pytest's own
    capture handlers (which it adds around each test's body), restored afterwards."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    try:
        yield root
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])


def lambda_bot(make_settings, moto_endpoint, **overrides):
    settings = make_settings(OPSBOT_STORE=f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}", AWS_ENDPOINT_URL=moto_endpoint,
                             AWS_REGION="us-west-2", AWS_LAMBDA_FUNCTION_NAME="opsbot-opsbot", **overrides)
    bot = build_lambda_bot(settings, lambda_client=FakeLambda())
    bot.services.store.init_schema()
    return bot


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_info_lines_reach_the_log_as_json_on_lambda(make_settings, slack_api, moto_endpoint, capsys):
    with runtime_root() as root:
        bot = lambda_bot(make_settings, moto_endpoint)
        assert root.level == logging.INFO  # OPSBOT_LOG_LEVEL's default, not the runtime's WARNING
        reply = handle(bot, slack_event(slash_command_body("/log-payment", "jada 5 cash Ana")), CONTEXT)
        assert reply["statusCode"] == 200
        handle(bot, {"opsbot_job": "daily-summary"}, CONTEXT)
    lines = json_lines(capsys.readouterr().out)
    [request] = [line for line in lines if line["logger"] == "opsbot.requests"]
    assert {k: request[k] for k in ("level", "method", "path", "status", "who", "what", "client")} == {
        "level": "INFO", "method": "POST", "path": "/slack/events", "status": 200, "who": "U0CREW00001",
        "what": "command /log-payment", "client": "203.0.113.9"}
    assert json.loads(request["message"])["what"] == "command /log-payment"  # the server's line, word for word
    assert any(line["logger"] == "opsbot.lambda" and "schedule daily-summary" in line["message"] for line in lines)


def test_the_request_line_is_the_one_a_server_writes(make_settings, slack_api, moto_endpoint, caplog):
    caplog.set_level(logging.INFO, logger="opsbot.requests")
    bot = lambda_bot(make_settings, moto_endpoint)
    body = slash_command_body("/events", "jada")
    handle(bot, slack_event(body), CONTEXT)

    server_app = make_wsgi_app(bot.services, build_slack_app(bot.services, token_verification_enabled=False))
    headers = {k: v for k, v in slack_event(body)["headers"].items() if k != "host"}
    call(server_app, "POST", "/slack/events", body.encode(), headers)
    on_lambda, on_server = [json.loads(r.getMessage()) for r in caplog.records if r.name == "opsbot.requests"]
    for line in (on_lambda, on_server):
        line.pop("ms"), line.pop("client")
    assert on_lambda == on_server == {"method": "POST", "path": "/slack/events", "status": 200,
                                      "who": "U0CREW00001", "what": "command /events"}


def test_one_variable_sets_the_level(make_settings, slack_api, moto_endpoint, capsys):
    with runtime_root() as root:
        bot = lambda_bot(make_settings, moto_endpoint, OPSBOT_LOG_LEVEL="WARN")
        assert root.level == logging.WARNING
        handle(bot, slack_event(slash_command_body("/log-payment", "jada 5 cash Ana")), CONTEXT)
    # (moto's in-process server logs through werkzeug's own INFO logger: not the bot's lines)
    assert [line for line in json_lines(capsys.readouterr().out)
            if line["level"] == "INFO" and line["logger"] != "werkzeug"] == []


def test_the_runtimes_own_handler_is_kept_not_doubled():
    with runtime_root() as root:
        runtime_handler = logging.StreamHandler(io.StringIO())  # stands for the runtime's (JSON when LogFormat is)
        root.addHandler(runtime_handler)
        configure_lambda_logging("DEBUG")
        assert root.handlers == [runtime_handler]
        assert root.level == logging.DEBUG


def test_json_lines_carry_the_error_and_its_trace():
    stream = io.StringIO()
    with runtime_root():
        configure_lambda_logging("INFO", stream)
        try:
            raise ValueError("bad thing")
        except ValueError:
            logging.getLogger("opsbot.test").exception("it failed")
    [line] = json_lines(stream.getvalue())
    assert (line["level"], line["logger"], line["message"], line["errorType"]) == (
        "ERROR", "opsbot.test", "it failed", "ValueError")
    assert "bad thing" in line["stackTrace"]
    assert isinstance(JsonLines(), logging.Formatter)


def test_a_server_logs_at_the_same_level():
    with runtime_root() as root:
        configure_server_logging("DEBUG")
        assert root.level == logging.DEBUG
        configure_server_logging("ERROR")
        assert root.level == logging.ERROR
