"""kill -9 during a stream of payments, five times: after the restart, every
acknowledged payment is announced exactly once.

A real server process (tests/outbox_server.py: what ``opsbot serve`` runs, its
deliverer with the production policy and a two-second lease) takes one-line
payments from four clients; the Slack stand-in paces the ops channel as Slack
does. Five times the server is killed with SIGKILL, then started again on the
same store:

- three times once the clients have had a given number of answers (requests
  are in flight, the deliverer may be anywhere);
- twice at the worst moment for an announcement: Slack has just posted a line
  (or a digest) and the server dies before it hears so. Whoever takes the
  entries over must find that message in the channel's history, not post it
  again.

At the end every payment in the store, acknowledged or caught in flight, is
named exactly once in the ops channel. Marked slow: restarts take seconds."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_settings
from infra import open_store
from infra.local_slack.signing import signed_headers, slash_command_body
from tests.conftest import AUDIT_CHANNEL, BOT_TOKEN, REPO, SIGNING_SECRET
from tests.http_client import post

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")]

KILLS = ("answers", "post", "answers", "post", "answers")
CLIENTS = 4
SEED = 20260916
EVENT_IDS = ("crash-sail-a", "crash-sail-b", "crash-sail-c")
RECEIPT = re.compile(r"^Recorded: .* \(`(pay_[a-z0-9]{10})`\)\. ")
PAYMENT_ID = re.compile(r"\bpay_[a-z0-9]{10}\b")
DELIVERY_LIMIT = 60.0


class Server:
    """One run of the server process."""

    def __init__(self, env: dict[str, str], folder: Path, run: int):
        port_file = folder / f"port-{run}"
        self.log = (folder / f"server-{run}.log").open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "tests.outbox_server", str(port_file)], cwd=REPO,
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not port_file.exists():  # the child writes it (by a rename) once it listens
            assert self.process.poll() is None, f"the server did not start: {self._log_text()}"
            assert time.monotonic() < deadline, "the server did not start within a minute"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port_file.read_text()}/slack/events"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def _log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-3000:]


class Clients:
    """Crew members logging payments as fast as the server answers, until told to stop or the server dies."""

    def __init__(self, url: str, numbers: itertools.count, acked: dict[str, int]):
        self.url, self.numbers, self.acked = url, numbers, acked
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, name=f"crew-{i}") for i in range(CLIENTS)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            n = next(self.numbers)
            cents = 100 + (n * 37) % 900
            body = slash_command_body("/log-payment", f"{EVENT_IDS[n % 3]} {cents // 100}.{cents % 100:02d} cash "
                                                      f"Patron {n}", trigger_id=f"13345224609.{n}.{uuid.uuid4().hex}")
            try:
                reply = post(self.url, body, signed_headers(body, SIGNING_SECRET))
            except (OSError, http.client.HTTPException):
                return  # the server died with this request in flight: not acknowledged
            assert reply.status == 200, reply
            match = RECEIPT.match(reply.json()["text"])
            assert match, reply.json()
            with self.cond:
                self.acked[match.group(1)] = n
                self.cond.notify_all()

    def wait_for_answers(self, count: int, timeout: float = 60) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.acked) >= count, timeout), "the payments stopped"

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


@pytest.fixture(params=["sqlite", "dynamodb"])
def server_env(request, tmp_path, slack_api) -> dict[str, str]:
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"events": [
        {"id": event_id, "title": f"Crash Sail {event_id[-1].upper()}", "date": "2027-03-01", "total": 100_000}
        for event_id in EVENT_IDS], "sites": []}))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
           "OPSBOT_EVENTS_FILE": str(events), "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "OPSBOT_SLACK_API_URL": slack_api.base_url, "OPSBOT_AUDIT_CHANNEL": AUDIT_CHANNEL,
           "OPSBOT_STORE": f"sqlite:///{tmp_path / 'opsbot.db'}"}
    if request.param == "dynamodb":
        env.update(OPSBOT_STORE=f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}", AWS_REGION="us-west-2",
                   AWS_ENDPOINT_URL=request.getfixturevalue("moto_endpoint"), AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true")
    return env


def named(slack_api) -> Counter[str]:
    """How many accepted messages in the ops channel name each payment (a line names its id twice: once)."""
    counts: Counter[str] = Counter()
    for call in slack_api.calls("chat.postMessage"):
        if call.params.get("channel") == AUDIT_CHANNEL and call.status == 200 and call.response.get("ok"):
            texts = [call.params.get("text", "")] + [json.dumps(b) for b in call.params.get("blocks") or []]
            counts.update(set(PAYMENT_ID.findall("\n".join(texts))))
    return counts


def test_five_kills_during_a_stream_of_payments_lose_and_repeat_no_announcement(server_env, slack_api, tmp_path):
    slack_api.pace_channels(1.0)
    rng = random.Random(SEED)
    numbers = itertools.count(1)
    acked: dict[str, int] = {}
    lost_answers = 0
    server = None
    try:
        for run, kill in enumerate(KILLS):
            server = Server(server_env, tmp_path, run)
            clients = Clients(server.url, numbers, acked)
            if kill == "answers":
                clients.wait_for_answers(len(acked) + rng.randint(20, 60))
                server.kill()
            else:
                died = threading.Event()

                def kill_before_the_answer(call, server=server, died=died) -> None:
                    server.kill()  # Slack posted it; the server never hears back
                    died.set()

                clients.wait_for_answers(len(acked) + 10)
                slack_api.after_applying("chat.postMessage", kill_before_the_answer)
                assert died.wait(60), "no message was posted after the hook was set"
                lost_answers += 1
            clients.finish()
        # The last start: more payments, then nothing more is sent.
        server = Server(server_env, tmp_path, len(KILLS))
        clients = Clients(server.url, numbers, acked)
        clients.wait_for_answers(len(acked) + 20)
        clients.finish()

        store = open_store(load_settings(environ=server_env, env_file=None))
        recorded = {p.payment_id for event_id in EVENT_IDS for p in store.event_payments(event_id)}
        assert set(acked) <= recorded  # every answer that said "Recorded" is in the ledger
        deadline = time.monotonic() + DELIVERY_LIMIT
        seen = len(slack_api.calls("chat.postMessage"))
        while set(named(slack_api)) != recorded:
            left = deadline - time.monotonic()
            assert left > 0, f"{len(recorded - set(named(slack_api)))} recorded payments were never announced"
            seen += 1
            slack_api.wait_for("chat.postMessage", count=seen, timeout=left)
        # And the outbox agrees: every entry settled as delivered, those of a killed post only once its
        # lease has run out and the history has shown the post (the last server does that by itself).
        far = datetime.now(UTC) + timedelta(days=2)
        while store.due_entries("slack", far, 1):
            assert time.monotonic() < deadline, f"still to settle: {store.due_entries('slack', far, 5)}"
            with suppress(AssertionError):  # no call in the meantime: look at the store again
                slack_api.wait_for("conversations.history", count=len(slack_api.calls("conversations.history")) + 1,
                                   timeout=0.5)
        assert all(store.get_entry(f"{pid}:audit").state == "delivered" for pid in recorded)
        counts = named(slack_api)
        assert set(counts) == recorded
        repeated = {pid: n for pid, n in counts.items() if n > 1}
        assert repeated == {}, f"announced more than once: {repeated}"
        # The two posts whose answers died with the server were found in the history, not posted again.
        assert lost_answers == 2 and len(slack_api.calls("conversations.history")) >= 2
        posts = [c for c in slack_api.calls("chat.postMessage") if c.status == 200]
        print(f"\n{len(KILLS)} kills; {len(acked)} payments acknowledged, {len(recorded)} recorded "
              f"({len(recorded) - len(acked)} caught in flight); {len(posts)} messages, "
              f"{sum(1 for c in posts if c.params.get('text', '').find('changes in one message') >= 0)} digests; "
              f"{len(slack_api.calls('conversations.history'))} history look-ups after a takeover")
    finally:
        if server is not None:
            server.kill()
