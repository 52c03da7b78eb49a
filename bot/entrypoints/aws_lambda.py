"""The same bot on AWS Lambda: one entry for Slack, Stripe, the web API and the schedules.

- ``POST /slack/events`` goes through a Lambda adapter for Bolt (bot/entrypoints/lambda_slack.py,
  as slack-bolt's own but without boto3): the listener
  acks inside the request, and each lazy listener (Stripe, S3, CloudFront)
  runs in a second, asynchronous invocation of this function.
- Every other route (``/stripe/webhook``, ``/api/...``, ``/healthz``) is served
  by the very WSGI app ``opsbot serve`` runs, through a small event adapter.
- EventBridge Scheduler invokes it with ``{"opsbot_job": "daily-summary"}`` or
  ``{"opsbot_job": "morning-reminders"}``; the jobs are the same functions the
  APScheduler runs, with the same exactly-once claims in the store.
- Announcements (audit lines, receipts, email copies: the outbox) are not sent
  from a thread (Lambda freezes the container once the response is out): a
  request that wrote some rings for an asynchronous invocation,
  ``{"opsbot_job": "deliver", "entries": [...]}``, which delivers those entries
  alone (claimed only as the store holds them: ``Deliverer.deliver``); the same
  job without entries, every minute from EventBridge, drains whatever is due
  (retries, and what a rung invocation left).

Events are Lambda Function URL / API Gateway HTTP API (payload 2.0) or REST API
(payload 1.0) shaped. Services are built once per container, on first use.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bot.bootstrap import build_deliverer, build_services, build_slack_app
from bot.config import Settings, load_settings
from bot.container import Services
from bot.core.outbox import Doorbell, OutboxEntry
from bot.entrypoints.http import (
    ClientAddress,
    UnparsableSlackRequest,
    WsgiApp,
    log_request,
    make_wsgi_app,
    parse_slack_request,
    slack_who_what,
    unsigned_slack_request,
)
from bot.entrypoints.logs import configure_lambda_logging
from bot.entrypoints.startup import pause_collection

if TYPE_CHECKING:
    from bot.core.deliverer import Deliverer
    from bot.entrypoints.lambda_slack import SlackLambdaHandler

log = logging.getLogger("opsbot.lambda")

SCHEDULED_JOBS = ("daily-summary", "morning-reminders")
DELIVER_JOB = "deliver"
DRAIN_SECONDS = 240.0  # of the function's 300 s: what one delivery invocation spends at most
PAYLOAD_BYTES = 128 * 1024  # a rung invocation's entries at most (Lambda takes 256 KB for an asynchronous one)


@dataclass
class LambdaBot:
    """What a container serves with. Slack's requests need only the services and the Slack app: the
    web routes and the outbox's deliverer (its renderings of every announcement) are made the first
    time an invocation needs them (cold start: a container's first request is most often Slack's)."""

    services: Services
    slack: SlackLambdaHandler | None  # None without Slack credentials

    @cached_property
    def wsgi(self) -> WsgiApp:
        """The server's WSGI app: Stripe's webhook, the web API, /healthz."""
        return make_wsgi_app(self.services, None)

    @cached_property
    def client_address(self) -> ClientAddress:
        """Who is asking, for the request log (as the WSGI app tells it)."""
        return ClientAddress(self.services.settings.trusted_proxies, self.services.settings.client_ip_header)

    @cached_property
    def deliverer(self) -> Deliverer:
        return build_deliverer(self.services)


def fetch_secrets(settings: Settings) -> dict[str, str]:
    """The tokens kept in AWS Secrets Manager (a JSON object of variable -> value)."""
    from infra.aws_session import aws_client  # deferred for cold start: only with OPSBOT_SECRETS_ID

    client = aws_client("secretsmanager", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    secret = client.get_secret_value(SecretId=settings.secrets_id)
    values = json.loads(secret["SecretString"])
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise ValueError(f"secret {settings.secrets_id} must be a JSON object of strings")
    return values


class InvokeDeliverer(Doorbell):
    """The doorbell on Lambda: a write that announced something asks for an asynchronous
    invocation of this function to deliver it (the container is frozen once the answer
    is out, so no thread here could)."""

    def __init__(self, function_name: str, client: Callable[[], Any]):
        super().__init__()
        self.function_name = function_name
        self.client = client

    def ring(self, entries: Sequence[OutboxEntry] = ()) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        super().ring(entries)
        try:
            self.client().invoke(FunctionName=self.function_name, InvocationType="Event",
                                 Payload=deliver_payload(entries))
        except (BotoCoreError, ClientError):
            # The entry is safe in the outbox: the schedule's next run (every minute) delivers it.
            log.warning("could not invoke %s to deliver the outbox; the minute schedule will", self.function_name,
                        exc_info=True)


def build_lambda_bot(settings: Settings | None = None, *, lambda_client: Any = None) -> LambdaBot:
    resume_collection = pause_collection()  # nothing built here is garbage: see bot/entrypoints/startup.py
    try:
        bot = _build_lambda_bot(settings, lambda_client)
        resume_collection(started=True)
        return bot
    finally:
        resume_collection()


def _build_lambda_bot(settings: Settings | None, lambda_client: Any) -> LambdaBot:
    settings = settings or load_settings(env_file=None)
    configure_lambda_logging(settings.log_level)
    if settings.secrets_id:
        settings = load_settings(env_file=None, overrides=fetch_secrets(settings))
    clients: dict[str, Any] = {"lambda": lambda_client} if lambda_client is not None else {}
    clients_lock = threading.Lock()

    def lambda_api() -> Any:
        """The container's Lambda client (the outbox's doorbell and Bolt's lazy listeners), made at first use."""
        with clients_lock:
            if "lambda" not in clients:
                from infra.aws_session import aws_client  # deferred for cold start: at the first ring

                clients["lambda"] = aws_client("lambda", region_name=settings.aws_region)
            return clients["lambda"]

    doorbell = Doorbell()
    if settings.lambda_function_name:
        doorbell = InvokeDeliverer(settings.lambda_function_name, lambda_api)
    elif settings.audit_channel or settings.email:
        raise ValueError("AWS_LAMBDA_FUNCTION_NAME is not set: on Lambda the outbox (audit lines, email copies) is "
                         "delivered by invoking the function itself")
    services = build_services(settings, doorbell=doorbell)
    slack = None
    if settings.slack_configured:
        from bot.entrypoints.lambda_slack import SlackLambdaHandler  # deferred for cold start: slack_bolt with Slack

        # No auth.test at cold start: Slack's 3 seconds are for the first request.
        slack = SlackLambdaHandler(build_slack_app(services, token_verification_enabled=False), lambda_api)
    return LambdaBot(services, slack)


_bot: LambdaBot | None = None
_bot_lock = threading.Lock()


def _lambda_bot() -> LambdaBot:
    global _bot
    with _bot_lock:
        if _bot is None:
            _bot = build_lambda_bot()
        return _bot


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function's entry point (``bot.entrypoints.aws_lambda.handler``)."""
    return handle(_lambda_bot(), event, context)


def deliver_payload(entries: Sequence[OutboxEntry]) -> str:
    """The deliver job a write asks for: the entries it announced, unless there are none or they
    would not fit (then the plain drain)."""
    if entries:
        payload = json.dumps({"opsbot_job": DELIVER_JOB, "entries": [e.to_dict() for e in entries]})
        if len(payload) <= PAYLOAD_BYTES:  # ASCII (json.dumps escapes the rest): characters are bytes
            return payload
        log.info("%d announcements are too many to carry: the invocation drains the outbox", len(entries))
    return json.dumps({"opsbot_job": DELIVER_JOB})


def handle(bot: LambdaBot, event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = event.get("opsbot_job")
    if job in (DELIVER_JOB, "email"):  # "email": an invocation queued by the version before the outbox
        return deliver(bot, event, context)
    if job is not None:
        return run_scheduled(bot.services, job)
    path = event.get("rawPath") or event.get("path") or ""
    if path == "/slack/events":
        if bot.slack is None:
            return _proxy_response(503, {"status": "error", "error": "Slack is not configured"})
        return slack_request(bot, event, context)
    return serve_http(bot.wsgi, event)


def slack_request(bot: LambdaBot, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Slack through the Lambda adapter, with the request line a server logs (none for Bolt's
    own second invocation of a lazy listener: a server runs those on a thread, unlogged). A
    request Bolt cannot parse is answered as the server answers it: 401, or 400 when signed."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}
    if headers.get("x-slack-bolt-lazy-only"):
        return bot.slack.handle(event, context)
    started = time.perf_counter()
    method, path, query, _, body, peer = _request_parts(event)
    client = bot.client_address({"REMOTE_ADDR": peer, **_environ_headers(headers)})
    if unsigned_slack_request(headers):
        answer = _proxy_response(401, {"status": "error", "error": "invalid request"})
        log_request(method, path, 401, started, client, {})
        return answer
    try:
        bolt_request = parse_slack_request(bot.services, body, query, headers)
    except UnparsableSlackRequest as refused:
        log_request(method, path, refused.status, started, client, {})
        return _proxy_response(refused.status, {"status": "error", "error": refused.error})
    answer = bot.slack.handle(event, context)
    log_request(method, path, int(answer.get("statusCode", 500)), started, client, slack_who_what(bolt_request))
    return answer


def run_scheduled(services: Services, job: str) -> dict[str, Any]:
    from bot.entrypoints.scheduler import send_daily_summary, send_reminders  # cold start: APScheduler

    jobs: dict[str, Callable[[Services], bool]] = {"daily-summary": send_daily_summary,
                                                   "morning-reminders": send_reminders}
    if job not in jobs:
        raise ValueError(f"unknown scheduled job {job!r}; expected one of {', '.join(SCHEDULED_JOBS)}")
    posted = jobs[job](services)
    log.info(json.dumps({"what": f"schedule {job}", "result": "posted" if posted else "nothing to post"}))
    return {"job": job, "posted": posted}


def deliver(bot: LambdaBot, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The asynchronous invocation a write rang for (its entries), or the minute schedule's (what is
    due), within the function's time (what is left waits for the next run; nothing is lost)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = DRAIN_SECONDS if remaining is None else max(min(remaining() / 1000 - 20, DRAIN_SECONDS), 1.0)
    settled = run_delivery(bot.deliverer, event, budget)
    log.info(json.dumps({"what": "deliver", "settled": settled}))
    return {"job": DELIVER_JOB, "settled": settled}


def run_delivery(deliverer: Deliverer, event: dict[str, Any], budget: float) -> int:
    """The deliver job: the entries the event carries, and nothing else (what they leave is the
    schedule's); without entries, or with some it cannot read, a drain of what is due."""
    carried = event.get("entries")
    if carried is None:
        return deliverer.drain(timeout=budget)
    try:
        if not isinstance(carried, list):
            raise ValueError("entries must be a list")
        entries = [OutboxEntry.from_dict(item) for item in carried]
    except ValueError as exc:
        log.warning("a deliver invocation's entries cannot be read (%s): draining what is due instead", exc)
        return deliverer.drain(timeout=budget)
    return deliverer.deliver(entries, timeout=budget)


# -- HTTP events <-> WSGI ------------------------------------------------------------------------------------


def _request_parts(event: dict[str, Any]) -> tuple[str, str, str, dict[str, str], bytes, str]:
    """(method, path, query, headers, body, client) from a payload 2.0 or 1.0 event."""
    context = event.get("requestContext") or {}
    if "http" in context:  # payload 2.0: Function URL, HTTP API
        method = context["http"].get("method", "GET")
        path = event.get("rawPath") or "/"
        query = event.get("rawQueryString") or ""
        client = context["http"].get("sourceIp", "")
    else:  # payload 1.0: REST API
        method = event.get("httpMethod", "GET")
        path = event.get("path") or "/"
        query = urlencode(event.get("queryStringParameters") or {})
        client = (context.get("identity") or {}).get("sourceIp", "")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    return method.upper(), path, query, headers, body, client


def serve_http(app: WsgiApp, event: dict[str, Any]) -> dict[str, Any]:
    method, path, query, headers, body, client = _request_parts(event)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": client,
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": headers.get("content-type", ""),
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "https", "SERVER_NAME": headers.get("host", "lambda"),
        "SERVER_PORT": "443", **_environ_headers(headers),
    }
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        started["status"], started["headers"] = int(status.split()[0]), response_headers

    payload = b"".join(app(environ, start_response))
    return {
        "statusCode": started["status"],
        "headers": {k: v for k, v in started["headers"]},
        "body": payload.decode("utf-8"),
        "isBase64Encoded": False,
    }


def _environ_headers(headers: dict[str, str]) -> dict[str, str]:
    """Request headers as WSGI names them (HTTP_X_FORWARDED_FOR, ...)."""
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()
            if name not in ("content-type", "content-length")}


def _proxy_response(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload),
            "isBase64Encoded": False}
