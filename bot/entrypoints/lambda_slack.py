"""Slack requests on AWS Lambda: slack-bolt's Lambda adapter (slack_bolt.adapter.aws_lambda),
without the boto3 its lazy listener runner imports (about 20 ms of the first request) and without
OAuth (opsbot is one workspace, one bot token).

As Bolt's: a POST event becomes a BoltRequest whose context carries the function's name, its
invoked ARN and the event (``aws_lambda_function_name``, ``aws_lambda_invoked_function_arn``,
``lambda_request``); Bolt's answer becomes a Lambda proxy response. Each lazy listener runs in an
asynchronous invocation of this function (InvocationType ``Event``) carrying the same event with
the headers Bolt's ``App.dispatch`` reads to run that listener alone
(``x-slack-bolt-lazy-only``, ``x-slack-bolt-lazy-function-name``). The Lambda client is the
container's own (the one the outbox's doorbell rings with), made on first use."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.lazy_listener import LazyListenerRunner

log = logging.getLogger("opsbot.lambda")

LAZY_ONLY = "x-slack-bolt-lazy-only"
LAZY_FUNCTION_NAME = "x-slack-bolt-lazy-function-name"


class LazyInvocations(LazyListenerRunner):
    """Bolt's lazy listener runner on Lambda: ``start`` invokes the function again, asynchronously,
    for that one listener; ``run`` (Bolt's, inherited) runs it in that invocation."""

    def __init__(self, lambda_client: Callable[[], Any], logger: logging.Logger = log):
        self.lambda_client = lambda_client
        self.logger = logger

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        event: dict[str, Any] = request.context["lambda_request"]
        lazy_event = {**event, "headers": {**(event.get("headers") or {}), LAZY_ONLY: "1",
                                           LAZY_FUNCTION_NAME: request.lazy_function_name}}
        answer = self.lambda_client().invoke(FunctionName=request.context["aws_lambda_invoked_function_arn"],
                                             InvocationType="Event", Payload=json.dumps(lazy_event))
        self.logger.info("lazy listener %s: invocation %s", request.lazy_function_name, answer.get("StatusCode"))


class SlackLambdaHandler:
    """``handle(event, context)``: one Slack request (or one lazy listener's invocation) through ``app``."""

    def __init__(self, app: App, lambda_client: Callable[[], Any]):
        self.app = app
        app.listener_runner.lazy_listener_runner = LazyInvocations(lambda_client)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_context = event.get("requestContext") or {}
        method = (request_context.get("http") or {}).get("method") or request_context.get("httpMethod")
        if method != "POST":  # Bolt answers GET only for an OAuth flow, which opsbot has not
            return {"statusCode": 404, "body": "Not Found", "headers": {}}
        request = bolt_request(event, {
            "aws_lambda_function_name": context.function_name,
            "aws_lambda_invoked_function_arn": context.invoked_function_arn,
            "lambda_request": event,
        })
        return proxy_response(self.app.dispatch(request))


def bolt_request(event: dict[str, Any], context: dict[str, Any]) -> BoltRequest:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return BoltRequest(body=body, query=event.get("queryStringParameters") or {},
                       headers=dict(event.get("headers") or {}), context=context)


def proxy_response(response: BoltResponse) -> dict[str, Any]:
    return {"statusCode": response.status, "body": response.body, "headers": response.first_headers()}
