"""bot/entrypoints/lambda_slack.py: Slack on Lambda as slack-bolt's own adapter does it (the request
context it gives Bolt, lazy listeners as asynchronous invocations, proxy responses), without boto3."""

from __future__ import annotations

import base64
import copy
import json
from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.entrypoints.lambda_slack import SlackLambdaHandler
from infra.local_slack.signing import signed_headers, slash_command_body
from tests.conftest import BOT_TOKEN, SIGNING_SECRET

ARN = "arn:aws:lambda:us-west-2:123456789012:function:opsbot-adapter"
CONTEXT = SimpleNamespace(function_name="opsbot-adapter", invoked_function_arn=ARN)


class RecordingLambda:
    """The Lambda API's Invoke as the runner uses it: keyword arguments only, a JSON payload."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:  # noqa: N803
        if not isinstance(Payload, str):
            raise TypeError("Payload must be JSON text")
        self.invocations.append({"function": FunctionName, "type": InvocationType, "event": json.loads(Payload)})
        return {"StatusCode": 202}


def slack_event(body: str, *, method: str = "POST", base64_body: bool = False) -> dict[str, Any]:
    return {
        "version": "2.0", "rawPath": "/slack/events", "rawQueryString": "",
        "headers": {"host": "abc.lambda-url.us-west-2.on.aws", **signed_headers(body, SIGNING_SECRET)},
        "requestContext": {"http": {"method": method, "path": "/slack/events", "sourceIp": "203.0.113.9"}},
        "body": base64.b64encode(body.encode()).decode() if base64_body else body, "isBase64Encoded": base64_body,
    }


@pytest.fixture
def adapter(slack_api):
    app = App(signing_secret=SIGNING_SECRET, client=WebClient(token=BOT_TOKEN, base_url=slack_api.base_url),
              token_verification_enabled=False, process_before_response=True)
    seen: dict[str, list[Any]] = {"ack": [], "lazy": [], "context": []}

    def acknowledge(ack, body, context):
        seen["ack"].append(body["text"])
        seen["context"].append({k: context.get(k) for k in ("aws_lambda_function_name",
                                                            "aws_lambda_invoked_function_arn")})
        ack("on it")

    def later(body):
        seen["lazy"].append(body["text"])

    app.command("/log-payment")(ack=acknowledge, lazy=[later])
    client = RecordingLambda()
    clients_made = []

    def lambda_client() -> RecordingLambda:
        clients_made.append(client)
        return client

    return SlackLambdaHandler(app, lambda_client), client, seen, clients_made


def test_a_lazy_listener_runs_in_an_asynchronous_invocation_of_the_function(adapter):
    handler, lambda_api, seen, clients_made = adapter
    event = slack_event(slash_command_body("/log-payment", "jada 500 venmo Ana"))
    sent = copy.deepcopy(event)
    answer = handler.handle(event, CONTEXT)
    assert (answer["statusCode"], answer["body"]) == (200, "on it")
    assert answer["headers"]["content-type"].startswith("text/plain")
    assert seen == {"ack": ["jada 500 venmo Ana"], "lazy": [],
                    "context": [{"aws_lambda_function_name": "opsbot-adapter",
                                 "aws_lambda_invoked_function_arn": ARN}]}
    [invocation] = lambda_api.invocations
    assert (invocation["function"], invocation["type"]) == (ARN, "Event")
    lazy_event = invocation["event"]
    assert lazy_event["headers"] == {**sent["headers"], "x-slack-bolt-lazy-only": "1",
                                     "x-slack-bolt-lazy-function-name": "later"}
    assert {k: v for k, v in lazy_event.items() if k != "headers"} == {k: v for k, v in sent.items() if k != "headers"}
    assert event == sent  # the request's own event is left as it came
    # The second invocation runs that listener alone: no second ack, no further invocation.
    again = handler.handle(lazy_event, CONTEXT)
    assert again["statusCode"] == 200
    assert seen["ack"] == ["jada 500 venmo Ana"] and seen["lazy"] == ["jada 500 venmo Ana"]
    assert len(lambda_api.invocations) == 1 and len(clients_made) == 1


def test_a_base64_body_is_decoded(adapter):
    handler, _, seen, _ = adapter
    answer = handler.handle(slack_event(slash_command_body("/log-payment", "jada 5 cash Bo"), base64_body=True),
                            CONTEXT)
    assert answer["statusCode"] == 200 and seen["ack"] == ["jada 5 cash Bo"]


def test_a_forged_request_is_refused_and_starts_nothing(adapter):
    handler, lambda_api, seen, _ = adapter
    event = slack_event(slash_command_body("/log-payment", "jada 500 venmo Ana"))
    event["body"] = slash_command_body("/log-payment", "jada 5000 venmo Ana")
    assert handler.handle(event, CONTEXT)["statusCode"] == 401
    forged_lazy = slack_event(slash_command_body("/log-payment", "jada 1 cash Bo"))
    forged_lazy["headers"].update({"x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": "later",
                                   "x-slack-signature": "v0=" + "0" * 64})
    assert handler.handle(forged_lazy, CONTEXT)["statusCode"] == 401
    assert seen["ack"] == seen["lazy"] == [] and lambda_api.invocations == []


@pytest.mark.parametrize("event", [
    {"rawPath": "/slack/events", "headers": {}, "requestContext": {"http": {"method": "GET"}}},
    {"rawPath": "/slack/events", "headers": {}},
])
def test_what_is_not_a_post_is_not_found(adapter, event):
    handler, lambda_api, seen, _ = adapter
    assert handler.handle(event, CONTEXT) == {"statusCode": 404, "body": "Not Found", "headers": {}}
    assert seen["ack"] == [] and lambda_api.invocations == []
