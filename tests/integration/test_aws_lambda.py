"""The same bot on Lambda: Function URL / HTTP API events, lazy listeners as a
second invocation, EventBridge schedules, secrets from Secrets Manager, and the
SAM template's least-privilege IAM."""

from __future__ import annotations

import base64
import json
import re
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import bcrypt
import boto3
import pytest
import yaml

from bench.round_trips_bench import RequestCounter
from bot.config import load_settings
from bot.core.outbox import AUDIT, PAYMENT_RECORDED, OutboxEntry, new_entry
from bot.entrypoints.aws_lambda import build_lambda_bot, deliver_payload, handle
from infra.local_slack.payloads import payment_state, view_submission
from infra.local_slack.signing import signed_headers, slash_command_body
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL, REPO, SIGNING_SECRET

JADA = "2026-05-23-jada-charter"
PASS_HASH = bcrypt.hashpw(b"lambda-pass", bcrypt.gensalt(4)).decode()
CONTEXT = SimpleNamespace(function_name="opsbot-opsbot",
                          invoked_function_arn="arn:aws:lambda:us-west-2:123456789012:function:opsbot-opsbot")


FUNCTION_NAME = "opsbot-opsbot"  # AWS_LAMBDA_FUNCTION_NAME, which Lambda sets


class FakeLambda:
    """Records the asynchronous self-invocations: Bolt's for lazy listeners (to the invoked
    function's ARN) and the outbox's for delivering what a request announced (to its name)."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:  # noqa: N803
        self.invocations.append({"function": FunctionName, "type": InvocationType, "event": json.loads(Payload)})
        return {"StatusCode": 202}

    def run_all(self, bot) -> list[dict[str, Any]]:
        """Deliver the recorded invocations, as Lambda would, until none are left."""
        results = []
        while self.invocations:
            invocation = self.invocations.pop(0)
            assert invocation["function"] in (CONTEXT.invoked_function_arn, FUNCTION_NAME)
            assert invocation["type"] == "Event"
            results.append(handle(bot, invocation["event"], CONTEXT))
        return results


def http_event(method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A Lambda Function URL / HTTP API (payload 2.0) event."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {k.lower(): v for k, v in {"host": "abc.lambda-url.us-west-2.on.aws", **(headers or {})}.items()},
        "requestContext": {"accountId": "anonymous", "apiId": "abc", "domainName": "abc.lambda-url.us-west-2.on.aws",
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.9", "userAgent": "Slackbot 1.0"},
                           "requestId": uuid.uuid4().hex, "routeKey": "$default", "stage": "$default"},
        "body": body, "isBase64Encoded": False,
    }


def slack_event(body: str) -> dict[str, Any]:
    return http_event("POST", "/slack/events", body, signed_headers(body, SIGNING_SECRET))


@pytest.fixture
def lambda_bot(make_settings, slack_api, moto_endpoint):
    settings = make_settings(OPSBOT_STORE=f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}", AWS_ENDPOINT_URL=moto_endpoint,
                             AWS_REGION="us-west-2", AWS_LAMBDA_FUNCTION_NAME=FUNCTION_NAME,
                             ADMIN_PASS_HASH=PASS_HASH)
    fake = FakeLambda()
    bot = build_lambda_bot(settings, lambda_client=fake)
    bot.services.store.init_schema()
    return bot, fake


def test_a_one_line_payment_is_acked_then_announced_by_a_second_invocation(lambda_bot, slack_api):
    bot, invocations = lambda_bot
    response = handle(bot, slack_event(slash_command_body("/log-payment", "jada 500 venmo Ana Ruiz")), CONTEXT)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["text"].startswith("Recorded: $500.00 (venmo) from Ana Ruiz for JADA Charter")
    assert slack_api.calls("chat.postMessage") == []  # nothing slow happened inside the request
    [deliver] = invocations.invocations  # the write rang for the outbox's deliverer, with what it announced
    [payment] = bot.services.ledger.event_payments(JADA)
    assert (deliver["function"], deliver["event"]["opsbot_job"]) == (FUNCTION_NAME, "deliver")
    assert [e["entry_id"] for e in deliver["event"]["entries"]] == [f"{payment.payment_id}:audit"]
    store_requests = RequestCounter(bot.services.store._client)
    assert invocations.run_all(bot) == [{"job": "deliver", "settled": 1}]
    assert store_requests.take() == ["UpdateItem", "UpdateItem"]  # its claim and its settle: no look at the lanes
    [audit] = slack_api.calls("chat.postMessage")
    assert audit.params["channel"] == AUDIT_CHANNEL
    assert "*$500.00* (venmo) from *Ana Ruiz* for *JADA Charter*" in audit.params["blocks"][0]["text"]["text"]
    assert bot.services.ledger.status(JADA).paid_cents == 50_000
    # The minute schedule's run (or Lambda retrying the invocation) finds nothing more to send.
    assert handle(bot, {"opsbot_job": "deliver"}, CONTEXT) == {"job": "deliver", "settled": 0}
    assert len(slack_api.calls("chat.postMessage")) == 1


def test_a_view_submission_on_lambda(lambda_bot, slack_api):
    bot, invocations = lambda_bot
    opened = handle(bot, slack_event(slash_command_body("/log-payment", "jada")), CONTEXT)
    assert (opened["statusCode"], opened["body"]) == (200, "")
    view = slack_api.wait_for("views.open").params["view"]
    state = payment_state(event=JADA, patron="Bo", amount="60", method="cash")
    submitted = handle(bot, slack_event(view_submission(view, state, view_id="V0LAMBDA001")), CONTEXT)
    assert (submitted["statusCode"], submitted["body"]) == (200, "")
    while not any(i["event"].get("opsbot_job") for i in invocations.invocations):  # Bolt's lazy listener first
        handle(bot, invocations.invocations.pop(0)["event"], CONTEXT)
    store_requests = RequestCounter(bot.services.store._client)
    assert invocations.run_all(bot) == [{"job": "deliver", "settled": 2}]
    # Both claimed in one request, the receipt marked under way before its call, both settled in one.
    assert store_requests.take() == ["TransactWriteItems", "UpdateItem", "TransactWriteItems"]
    assert bot.services.ledger.status(JADA).paid_cents == 6_000
    assert len(slack_api.calls("chat.postMessage")) == 1
    assert slack_api.calls("chat.postEphemeral")[0].params["text"].startswith("Recorded: $60.00 (cash) from Bo")


class Crash(BaseException):
    """The invocation dies here (Lambda's time runs out, the container is killed): nothing after it runs."""


def test_a_rung_invocation_that_dies_after_posting_leaves_the_rest_to_the_drain_and_posts_once(
        lambda_bot, slack_api, monkeypatch):
    bot, invocations = lambda_bot
    opened = handle(bot, slack_event(slash_command_body("/log-payment", "jada")), CONTEXT)
    assert opened["statusCode"] == 200
    view = slack_api.wait_for("views.open").params["view"]
    state = payment_state(event=JADA, patron="Bo", amount="60", method="cash")
    handle(bot, slack_event(view_submission(view, state, view_id="V0LAMBDA002")), CONTEXT)
    while not any(i["event"].get("opsbot_job") for i in invocations.invocations):
        handle(bot, invocations.invocations.pop(0)["event"], CONTEXT)
    [rung] = [i["event"] for i in invocations.invocations]
    post = bot.deliverer.notifier.post

    def posted_then_died(*args, **kwargs):
        post(*args, **kwargs)
        raise Crash

    monkeypatch.setattr(bot.deliverer.notifier, "post", posted_then_died)
    with pytest.raises(Crash):
        handle(bot, rung, CONTEXT)
    monkeypatch.undo()
    assert len(slack_api.calls("chat.postMessage")) == 1 and slack_api.calls("chat.postEphemeral") == []
    # Lambda retries the invocation: the entries are claimed already, it sends nothing.
    assert handle(bot, rung, CONTEXT) == {"job": "deliver", "settled": 0}
    # The minute schedule's drain, once the claims' lease has run out: the line is found in the channel
    # (its claim id in the message's metadata), not posted again; the receipt goes out once.
    assert handle(bot, {"opsbot_job": "deliver"}, CONTEXT) == {"job": "deliver", "settled": 0}  # still leased
    later = bot.deliverer.clock() + bot.deliverer.policy.lease + timedelta(seconds=1)
    monkeypatch.setattr(bot.deliverer, "clock", lambda: later)
    assert handle(bot, {"opsbot_job": "deliver"}, CONTEXT) == {"job": "deliver", "settled": 2}
    assert len(slack_api.calls("chat.postMessage")) == 1
    assert len(slack_api.calls("chat.postEphemeral")) == 1
    [payment] = bot.services.ledger.event_payments(JADA)
    assert bot.services.store.get_entry(f"{payment.payment_id}:audit").result["ts"] == \
        slack_api.calls("chat.postMessage")[0].response["ts"]


def test_a_deliver_payload_says_nothing_the_store_does_not_hold(lambda_bot, slack_api):
    bot, invocations = lambda_bot
    handle(bot, slack_event(slash_command_body("/log-payment", "jada 500 venmo Ana Ruiz")), CONTEXT)
    [rung] = [i["event"] for i in invocations.invocations]
    [line] = rung["entries"]
    forged = {**line, "facts": {**line["facts"], "payment": {**line["facts"]["payment"], "patron": "Mallory"}}}
    # Anyone able to invoke the function: other facts under a real entry's id, an entry the store never
    # held, or a payload that is not one, post nothing of theirs.
    assert handle(bot, {"opsbot_job": "deliver", "entries": [forged]}, CONTEXT) == {"job": "deliver", "settled": 0}
    unknown = {**line, "entry_id": "pay_x:audit", "record_id": "pay_x"}
    assert handle(bot, {"opsbot_job": "deliver", "entries": [unknown]}, CONTEXT) == {"job": "deliver", "settled": 0}
    assert slack_api.calls("chat.postMessage") == []
    # An unreadable payload is a plain drain: the real entry goes out, as the store holds it.
    assert handle(bot, {"opsbot_job": "deliver", "entries": "nonsense"}, CONTEXT) == {"job": "deliver", "settled": 1}
    [posted] = slack_api.calls("chat.postMessage")
    assert "Ana Ruiz" in posted.params["text"] and "Mallory" not in str(posted.params)
    assert handle(bot, rung, CONTEXT) == {"job": "deliver", "settled": 0}  # delivered: the real payload is spent


def test_announcements_too_big_to_carry_are_left_to_a_drain():
    entries = [new_entry(f"pay_{i:04d}", PAYMENT_RECORDED, AUDIT, {"channel": AUDIT_CHANNEL, "notes": "x" * 1_000},
                         datetime.now(UTC)) for i in range(200)]
    assert json.loads(deliver_payload(entries)) == {"opsbot_job": "deliver"}
    assert json.loads(deliver_payload([])) == {"opsbot_job": "deliver"}
    carried = json.loads(deliver_payload(entries[:3]))["entries"]
    assert [OutboxEntry.from_dict(e) for e in carried] == entries[:3]


def test_unsigned_slack_requests_are_refused_on_lambda_too(lambda_bot):
    bot, _ = lambda_bot
    event = http_event("POST", "/slack/events", slash_command_body("/log-payment", "jada 5 cash X"),
                       {"Content-Type": "application/x-www-form-urlencoded"})
    assert handle(bot, event, CONTEXT)["statusCode"] == 401
    assert bot.services.ledger.status(JADA).payment_count == 0


def test_a_timestamp_that_is_not_whole_seconds_is_unsigned_on_lambda_too(lambda_bot, caplog):
    bot, invocations = lambda_bot
    body = slash_command_body("/log-payment", "jada 5 cash X")
    headers = {**signed_headers(body, SIGNING_SECRET), "X-Slack-Request-Timestamp": "17e8"}
    reply = handle(bot, http_event("POST", "/slack/events", body, headers), CONTEXT)
    assert (reply["statusCode"], json.loads(reply["body"])) == (401, {"status": "error", "error": "invalid request"})
    assert invocations.invocations == []
    assert bot.services.ledger.status(JADA).payment_count == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_garbage_is_401_unsigned_and_400_signed_on_lambda_too_never_an_invocation_error(lambda_bot, caplog):
    """As the server answers it (tests/e2e/test_http.py): Bolt parses before it verifies, and a body
    Bolt cannot parse must not fail the invocation (the Function URL would answer 502)."""
    bot, invocations = lambda_bot
    not_a_payload = "payload=%5B1%2C2%5D"  # payload=[1,2]
    stamped = {**signed_headers(not_a_payload, SIGNING_SECRET), "X-Slack-Signature": "v0=" + "0" * 64}
    reply = handle(bot, http_event("POST", "/slack/events", not_a_payload, stamped), CONTEXT)
    assert (reply["statusCode"], json.loads(reply["body"])) == (401, {"status": "error", "error": "invalid request"})
    signed = handle(bot, http_event("POST", "/slack/events", not_a_payload,
                                    signed_headers(not_a_payload, SIGNING_SECRET)), CONTEXT)
    assert (signed["statusCode"], json.loads(signed["body"])) == (
        400, {"status": "error", "error": "request body is not a Slack payload"})
    # A binary body reaches the function base64-encoded (the Function URL's doing, not the sender's).
    not_utf8 = {**http_event("POST", "/slack/events", base64.b64encode(b"text=\xff\xfe").decode(), stamped),
                "isBase64Encoded": True}
    reply = handle(bot, not_utf8, CONTEXT)
    assert (reply["statusCode"], json.loads(reply["body"])) == (401, {"status": "error", "error": "invalid request"})
    assert invocations.invocations == []
    assert bot.services.ledger.status(JADA).payment_count == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_the_web_api_and_health_on_lambda(lambda_bot, slack_api):
    bot, _ = lambda_bot
    payload = json.dumps({"event_id": JADA, "patron_name": "Cy", "amount": "25", "payment_method": "card"})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer lambda-pass"}
    reply = handle(bot, http_event("POST", "/api/payment/log", payload, headers), CONTEXT)
    assert reply["statusCode"] == 200, reply
    assert json.loads(reply["body"])["status"] == "success"
    wrong = handle(bot, http_event("POST", "/api/payment/log", payload, {"X-Admin-Token": "nope"}), CONTEXT)
    assert wrong["statusCode"] == 401
    health = handle(bot, http_event("GET", "/healthz"), CONTEXT)
    # On Lambda the store is the one part: EventBridge runs the schedule, Slack calls in over HTTP.
    assert (health["statusCode"], json.loads(health["body"])) == (200, {"status": "ok", "parts": {
        "store": {"ok": True, "detail": "answers"}}})
    assert handle(bot, http_event("GET", "/nope"), CONTEXT)["statusCode"] == 404


def test_scheduled_events_post_once(lambda_bot, slack_api):
    bot, _ = lambda_bot
    assert handle(bot, {"opsbot_job": "daily-summary"}, CONTEXT) == {"job": "daily-summary", "posted": True}
    assert handle(bot, {"opsbot_job": "daily-summary"}, CONTEXT) == {"job": "daily-summary", "posted": False}
    [summary] = slack_api.calls("chat.postMessage")
    assert summary.params["text"].startswith("Payments for ")
    with pytest.raises(ValueError, match="unknown scheduled job 'nightly'"):
        handle(bot, {"opsbot_job": "nightly"}, CONTEXT)


def test_tokens_come_from_secrets_manager(make_settings, slack_api, moto_endpoint, tmp_path):
    secrets = boto3.client("secretsmanager", region_name="us-west-2", endpoint_url=moto_endpoint)
    name = f"opsbot/{uuid.uuid4().hex[:8]}"
    secrets.create_secret(Name=name, SecretString=json.dumps({
        "SLACK_BOT_TOKEN": "xoxb-from-secrets", "SLACK_SIGNING_SECRET": SIGNING_SECRET}))
    env = {"OPSBOT_STORE": f"sqlite:///{tmp_path / 'l.db'}", "OPSBOT_EVENTS_FILE": str(REPO / "events.json"),
           "OPSBOT_SLACK_API_URL": slack_api.base_url, "OPSBOT_SECRETS_ID": name, "AWS_REGION": "us-west-2",
           "AWS_ENDPOINT_URL": moto_endpoint, "OPSBOT_AUDIT_CHANNEL": AUDIT_CHANNEL, "OPSBOT_ADMINS": ADMIN_USER,
           "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME}
    bot = build_lambda_bot(load_settings(environ=env, env_file=None), lambda_client=FakeLambda())
    assert bot.services.settings.slack_bot_token == "xoxb-from-secrets"
    assert bot.slack is not None


# -- the template ---------------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, ...) as {"Fn::X": value}."""


def _tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)
TEMPLATE = REPO / "infra" / "template.yaml"


def test_the_package_is_built_by_the_makefile_and_logs_json_at_one_level():
    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass
    function = template["Resources"]["OpsbotFunction"]
    assert function["Metadata"] == {"BuildMethod": "makefile"}
    properties = function["Properties"]
    assert (TEMPLATE.parent / properties["CodeUri"]).resolve() == REPO  # where the Makefile is
    assert "\nbuild-OpsbotFunction:" in (REPO / "Makefile").read_text()
    assert properties["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": {"Ref": "LogLevel"},
                                           "SystemLogLevel": "WARN"}
    assert properties["Environment"]["Variables"]["OPSBOT_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert template["Parameters"]["LogLevel"]["Default"] == "INFO"


def test_every_iam_statement_names_specific_resources():
    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass
    statements = [s for r in template["Resources"].values() for p in r["Properties"].get("Policies", [])
                  for s in p["Statement"]]
    assert {s["Sid"] for s in statements} == {"Ledger", "Secrets", "LazyListeners", "SiteBuckets", "SiteObjects",
                                               "SiteInvalidations", "EmailCopies"}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in a for a in actions), statement["Sid"]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        text = json.dumps(resources)
        assert '"*"' not in text, f"{statement['Sid']} allows every resource"
        assert resources, statement["Sid"]
    lazy = next(s for s in statements if s["Sid"] == "LazyListeners")
    assert lazy["Action"] == "lambda:InvokeFunction"
    assert lazy["Resource"]["Fn::Sub"].endswith(":function:${AWS::StackName}-opsbot")
    function = template["Resources"]["OpsbotFunction"]["Properties"]
    assert function["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-opsbot"}
    # No secret values in the template: the tokens are read from Secrets Manager at start.
    assert not re.search(r"xox[bap]-|sk_(test|live)_|whsec_|\$2b\$", TEMPLATE.read_text())
    env = function["Environment"]["Variables"]
    assert set(env) == {"OPSBOT_STORE", "OPSBOT_SECRETS_ID", "OPSBOT_AUDIT_CHANNEL", "OPSBOT_ADMINS",
                        "OPSBOT_TIMEZONE", "OPSBOT_EVENTS_FILE", "OPSBOT_EMAIL_FROM", "OPSBOT_EMAIL_TO",
                        "OPSBOT_LOG_LEVEL"}
    email = next(s for s in statements if s["Sid"] == "EmailCopies")
    assert email["Resource"]["Fn::Sub"].endswith(":identity/${EmailIdentity}")


def test_the_template_has_the_table_schedules_and_urls():
    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506
    table = template["Resources"]["OpsbotTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "GSI1"
    function = template["Resources"]["OpsbotFunction"]["Properties"]
    assert function["Handler"] == "bot.entrypoints.aws_lambda.handler"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    schedules = {name: e["Properties"] for name, e in function["Events"].items()}
    assert {n: (s.get("ScheduleExpressionTimezone"), json.loads(s["Input"])) for n, s in schedules.items()} == {
        "DailySummary": ({"Ref": "Timezone"}, {"opsbot_job": "daily-summary"}),
        "MorningReminders": ({"Ref": "Timezone"}, {"opsbot_job": "morning-reminders"}),
        "DeliverOutbox": (None, {"opsbot_job": "deliver"}),
    }
    assert schedules["DeliverOutbox"]["ScheduleExpression"] == "rate(1 minute)"  # the outbox's retries
    assert set(template["Outputs"]) >= {"SlackRequestUrl", "StripeWebhookUrl", "WebApiUrl"}


def test_sam_requirements_match_the_package():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    assert [line for line in lines if line and not line.startswith("#")] == project



def test_a_stripe_webhook_on_lambda_records_the_payment_once(make_settings, slack_api, moto_endpoint):
    import stripe

    from tests.fakes.stripe_api import WEBHOOK_SECRET, checkout_session_event

    settings = make_settings(OPSBOT_STORE=f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}", AWS_ENDPOINT_URL=moto_endpoint,
                             AWS_REGION="us-west-2", STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                             AWS_LAMBDA_FUNCTION_NAME=FUNCTION_NAME)
    invocations = FakeLambda()
    bot = build_lambda_bot(settings, lambda_client=invocations)
    bot.services.store.init_schema()
    event = checkout_session_event(session_id="cs_test_lambda", amount_total=26_000, metadata={"event_id": JADA},
                                   name="Dee")
    body = json.dumps(event)
    signed = {"Content-Type": "application/json", "Stripe-Signature":
              stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)}
    for _ in range(2):  # Stripe redelivers
        reply = handle(bot, http_event("POST", "/stripe/webhook", body, signed), CONTEXT)
        assert reply["statusCode"] == 200, reply
    status = bot.services.ledger.status(JADA)
    assert (status.paid_cents, status.payment_count) == (26_000, 1)
    forged = handle(bot, http_event("POST", "/stripe/webhook", body, {"Stripe-Signature": "t=1,v1=00"}), CONTEXT)
    assert forged["statusCode"] == 400
    assert slack_api.calls("chat.postMessage") == []  # Stripe's answers never waited for Slack
    invocations.run_all(bot)
    assert [c.params["text"] for c in slack_api.calls("chat.postMessage")] == [
        "$260.00 (stripe) from Dee for JADA Charter"]


def test_a_deploy_finishes_in_the_lazy_invocation(make_settings, slack_api, moto_endpoint, tmp_path):
    from tests.deploy_sites import SITE_FILES, site_on_moto

    site = site_on_moto(moto_endpoint, tmp_path, SITE_FILES)
    settings = make_settings(OPSBOT_STORE=f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}",
                             AWS_LAMBDA_FUNCTION_NAME=FUNCTION_NAME, **site.env())
    invocations = FakeLambda()
    bot = build_lambda_bot(settings, lambda_client=invocations)
    bot.services.store.init_schema()
    body = slash_command_body("/deploy", "gipsykings staging", user_id=ADMIN_USER,
                              response_url=slack_api.response_url("commands/deploy"))
    acked = handle(bot, slack_event(body), CONTEXT)
    assert acked["statusCode"] == 200
    assert site.listed("_staging/") == []  # nothing was uploaded inside Slack's 3 seconds
    [lazy] = invocations.invocations
    assert lazy["event"]["headers"]["x-slack-bolt-lazy-function-name"]
    invocations.run_all(bot)
    assert len(site.listed("_staging/")) == len(SITE_FILES)
    [done] = [c for c in slack_api.calls("chat.update") if ":white_check_mark:" in c.params["text"]]
    assert done.params["text"].startswith(":white_check_mark: Deployed gipsykings to staging in ")
    assert "8 uploaded, 0 deleted, 0 unchanged" in done.params["text"]
    assert len(site.invalidations()) == 1
    # The deploy's audit line went through the outbox, delivered by the invocation its record rang for.
    [line] = [c for c in slack_api.calls("chat.postMessage") if c.params["channel"] == AUDIT_CHANNEL]
    assert line.params["text"].startswith(f":rocket: <@{ADMIN_USER}> deployed gipsykings to staging: 8 uploaded")
