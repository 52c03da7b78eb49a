"""The running bot, driven the way Slack drives it: signed HTTP requests to the
real server, lazy listeners tracked so a test can wait for them, the outbox
delivered by the deliverer's threads as `opsbot serve` runs them, the Slack Web
API answered by the local stand-in. ``make_bot`` runs on SQLite and on DynamoDB."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from bot.bootstrap import build_deliverer, build_services, build_slack_app
from bot.core.deliverer import Deliverer, DeliveryPolicy
from bot.entrypoints.http import make_wsgi_app, start_background_server
from infra.local_slack.block_kit_limits import (
    message_problems,
    message_text_too_long,
    suggestion_problems,
    view_problems,
)
from infra.local_slack.payloads import JSON, block_action, block_suggestion, home_opened, payment_state, view_submission
from infra.local_slack.signing import DEFAULT_CHANNEL_ID, DEFAULT_USER_ID, signed_headers, slash_command_body
from infra.local_slack.web_api import TEAM_ID
from tests.conftest import AUDIT_CHANNEL, SIGNING_SECRET
from tests.http_client import HttpResult, post

CREW = DEFAULT_USER_ID

# The tests' deliverer: no pacing and no digests (one line per record, as a quiet channel gets), and
# retries within a second. The rate-limit tests use the production policy (DeliveryPolicy()).
TEST_POLICY = DeliveryPolicy(pace=0.0, fold_after=None, backoff=(0.05, 0.1, 0.2, 0.5), idle_poll=0.2,
                             line_wait=0.05, lease=timedelta(seconds=30))


def drain_outbox(services, timeout: float = 10.0) -> int:
    """Deliver what the outbox holds now, in this thread (for a server started without a deliverer)."""
    return build_deliverer(services, policy=TEST_POLICY).drain(timeout)


class LazyTracker(ThreadPoolExecutor):
    """The listener executor: lets a test wait until every lazy listener has run and,
    with a deliverer, until what they and the acks announced is delivered."""

    def __init__(self, deliverer: Deliverer | None = None) -> None:
        super().__init__(max_workers=16, thread_name_prefix="lazy")
        self._cond = threading.Condition()
        self._pending = 0
        self.deliverer = deliverer

    def submit(self, fn, /, *args, **kwargs):
        with self._cond:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future) -> None:
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 20) -> None:
        self._wait_lazies(timeout)
        if self.deliverer is not None:
            assert self.deliverer.wait_idle(timeout), "the outbox still has entries due"
            self._wait_lazies(timeout)

    def _wait_lazies(self, timeout: float) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self._pending == 0, timeout), "lazy listeners still running"


class Bot:
    """The running bot and ways to talk to it like Slack does."""

    def __init__(self, base_url: str, services, slack_api, lazies: LazyTracker):
        self.base_url, self.services, self.slack_api, self.lazies = base_url, services, slack_api, lazies
        self.deliverer = lazies.deliverer
        self._triggers = 0

    def send(self, body: str, headers: dict[str, str] | None = None) -> HttpResult:
        signed = {**signed_headers(body, SIGNING_SECRET), **(headers or {})}
        reply = post(self.base_url + "/slack/events", body, signed)
        check_ack(body, reply)
        return reply

    def command(self, command: str, text: str = "", *, user: str = CREW, trigger: str | None = None,
                channel: str = DEFAULT_CHANNEL_ID, headers: dict[str, str] | None = None, team: str = TEAM_ID,
                enterprise: str | None = None) -> HttpResult:
        """``text`` as the person types it (sent escaped, as Slack sends it); ``team`` /
        ``enterprise``: where they belong (another organisation's in a Slack Connect channel)."""
        if trigger is None:
            self._triggers += 1
            trigger = f"13345224609.738474920.{uuid.uuid4().hex[:12]}"
        body = slash_command_body(command, text, user_id=user, trigger_id=trigger, channel_id=channel,
                                  response_url=self.slack_api.response_url(), team_id=team,
                                  enterprise_id=enterprise)
        return self.send(body, headers)

    def open_modal(self, text: str = "", **kwargs) -> dict[str, Any]:
        before = len(self.slack_api.calls("views.open"))
        reply = self.command("/log-payment", text, **kwargs)
        assert (reply.status, reply.body) == (200, b"")
        return self.slack_api.wait_for("views.open", count=before + 1).params["view"]

    def submit(self, view: dict[str, Any], *, view_id: str | None = None, user: str = CREW, team: str = TEAM_ID,
               enterprise: str | None = None, **fields) -> HttpResult:
        event_select = next((b["element"]["type"] for b in view.get("blocks", []) if b.get("block_id") == "event"),
                            "static_select")
        state = payment_state(**{"notes": None, "event_select": event_select, **fields})
        return self.send(view_submission(view, state, view_id=view_id or f"V{uuid.uuid4().hex[:10].upper()}",
                                         user_id=user, team_id=team, enterprise_id=enterprise))

    def suggest(self, view: dict[str, Any], value: str, *, user: str = CREW, team: str = TEAM_ID,
                enterprise: str | None = None) -> HttpResult:
        """Type ``value`` in the form's event search: Slack's ``block_suggestion``."""
        return self.send(block_suggestion(view, action_id="event", block_id="event", value=value,
                                          view_id=view.get("id") or "V0SEARCH001", user_id=user, team_id=team,
                                          enterprise_id=enterprise))

    def click_void(self, payment_id: str, *, user: str, message_ts: str, channel: str = AUDIT_CHANNEL,
                   team: str = TEAM_ID, enterprise: str | None = None) -> HttpResult:
        body = block_action("payment_void", payment_id, user_id=user, channel_id=channel, message_ts=message_ts,
                            response_url=self.slack_api.response_url("actions/void"), team_id=team,
                            enterprise_id=enterprise)
        return self.send(body)

    def open_home(self, user: str, **headers: str) -> dict[str, Any]:
        """Open the App Home as ``user``; the view the bot published."""
        before = len(self.slack_api.calls("views.publish"))
        reply = self.send(home_opened(user), {**JSON, **headers})
        assert reply.status == 200
        self.lazies.wait_idle()
        call = self.slack_api.wait_for("views.publish", count=before + 1)
        assert call.params["user_id"] == user
        return call.params["view"]

    def audit_posts(self) -> list:
        return [c for c in self.slack_api.calls("chat.postMessage") if c.params["channel"] == AUDIT_CHANNEL]


def check_ack(request_body: str, reply: HttpResult) -> None:
    """Slack reads an acknowledgement as it reads a message or a view: one over
    Block Kit's limits is refused (the person sees an error, not the answer), so a test fails."""
    if reply.status != 200 or not reply.body.strip().startswith(b"{"):
        return
    answer = reply.json()
    kind = _request_kind(request_body)
    if kind == "block_suggestion":
        problems = suggestion_problems(answer)
    elif answer.get("response_action") in ("update", "push"):
        problems = view_problems(answer.get("view"))
    elif "text" in answer or "blocks" in answer:
        problems = message_problems(answer) + (["text: over 40,000 characters"] if message_text_too_long(answer)
                                               else [])
    else:
        problems = []
    assert not problems, f"Slack would refuse this {kind} acknowledgement: {problems}"


def _request_kind(body: str) -> str:
    fields = parse_qs(body)
    if "payload" in fields:
        return str(json.loads(fields["payload"][0]).get("type", "interaction"))
    return "command" if "command" in fields else "request"


@pytest.fixture(params=["sqlite", "dynamodb"])
def make_bot(request, make_settings, slack_api):
    """``make_bot(policy=..., mailer=..., **settings_overrides)`` starts a bot on this test's store kind,
    with its deliverer running (``policy``: the deliverer's; the tests' by default)."""
    started: list[tuple[Any, LazyTracker]] = []

    def make(*, policy: DeliveryPolicy = TEST_POLICY, mailer: Any = None, **overrides: str) -> Bot:
        if request.param == "dynamodb":
            overrides = {"OPSBOT_STORE": f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}",
                         "AWS_ENDPOINT_URL": request.getfixturevalue("moto_endpoint"), "AWS_REGION": "us-west-2",
                         **overrides}
        services = build_services(make_settings(**overrides), mailer=mailer)
        services.store.init_schema()
        deliverer = build_deliverer(services, policy=policy)
        lazies = LazyTracker(deliverer)
        slack_app = build_slack_app(services, listener_executor=lazies)
        server, base_url = start_background_server(make_wsgi_app(services, slack_app))
        deliverer.start()
        started.append((server, lazies))
        return Bot(base_url, services, slack_api, lazies)

    yield make
    for server, lazies in started:
        lazies.wait_idle()
        server.close()
        lazies.shutdown()
        if lazies.deliverer is not None:
            lazies.deliverer.stop()


@pytest.fixture
def bot(make_bot) -> Bot:
    return make_bot()
