"""The Slack Web API stand-in for the benchmarks: the one local Slack (infra/local_slack/web_api.py,
as strict as Slack: Block Kit's limits, files_upload_v2, scopes, Slack's pacing), run in its own
process so the Slack side's CPU is not counted against the bot (in production Slack is another
machine). It keeps no recording of the calls, only counts per method (what it accepted; a refused
call is counted as ``"<method> refused"``), and ``GET /__bench__/counts`` returns them, so the bench
can wait until every lazy listener has posted its message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

from infra.local_slack.web_api import RESPONSE_URL_METHOD, SlackApiStandIn, SlackCall, SlackIdentity

TEAM_ID = "T0BENCH0001"
BOT_USER_ID = "U0BOTBENCH1"
BENCH_IDENTITY = SlackIdentity(team_id=TEAM_ID, team_domain="opsbot-bench", team_name="Opsbot Bench",
                               bot_user_id=BOT_USER_ID, bot_id="B0BOTBENCH1", app_id="A0APPBENCH1")
COUNTS_PATH = "/__bench__/counts"


class CountingSlack:
    """The local Slack with counts of what it answered: per method accepted, ``post attempts`` (every
    chat.postMessage, accepted or refused), ``ratelimited`` (refused by Slack's pacing) and
    ``announced`` (the records the accepted messages name: a digest names many in its metadata)."""

    def __init__(self, pace: float | None = None) -> None:
        """``pace``: seconds between two chat.postMessage in one channel, as Slack allows (about one a
        second); a post sooner is refused with 429 and Retry-After, as Slack refuses it. None: no limit."""
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.slack = SlackApiStandIn(BENCH_IDENTITY, observer=self.count, keep_calls=False,
                                     extra_routes={COUNTS_PATH: self.snapshot})
        if pace is not None:
            self.slack.pace_channels(1.0 / pace)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def count(self, call: SlackCall) -> None:
        answer = call.response if isinstance(call.response, dict) else {}
        accepted = call.status == 200 and (call.method == RESPONSE_URL_METHOD or bool(answer.get("ok")))
        with self._lock:
            if call.method == "chat.postMessage":
                self.counts["post attempts"] += 1
            if call.status == 429:
                self.counts["ratelimited"] += 1
            elif not accepted:
                self.counts[f"{call.method} refused"] += 1
            else:
                self.counts[call.method] += 1
                if call.method == "chat.postMessage":
                    payload = (call.params.get("metadata") or {}).get("event_payload") or {}
                    self.counts["announced"] += int(payload.get("records", 1))


def serve_forever(port_file: str, pace: float | None = None) -> None:
    from bench.common import publish_port

    counting = CountingSlack(pace)
    counting.slack.start()
    publish_port(port_file, int(counting.slack.root_url.rsplit(":", 1)[1]))
    threading.Event().wait()  # the stand-in serves from its own thread until the process is terminated


class SlackStandInProcess:
    """The stand-in in a subprocess on 127.0.0.1; ``base_url`` is the Web API base (ends in ``/api/``)."""

    def __init__(self, pace: float | None = None) -> None:
        """``pace``: rate-limit chat.postMessage per channel like Slack (see make_server)."""
        from bench.common import REPO, wait_for_port_file

        self.dir = tempfile.mkdtemp(prefix="opsbot-bench-slack-")
        port_file = Path(self.dir) / "port"
        code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from bench.slack_standin import serve_forever; "
                f"serve_forever({str(port_file)!r}, {pace!r})")
        self.process = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.root_url = f"http://127.0.0.1:{wait_for_port_file(port_file, self.process, 'the Slack stand-in')}"
        self.base_url = self.root_url + "/api/"

    def counts(self) -> Counter[str]:
        with urllib.request.urlopen(self.root_url + "/__bench__/counts", timeout=10) as answer:
            return Counter(json.loads(answer.read()))

    def wait_for(self, expected: dict[str, int], timeout: float = 120) -> Counter[str]:
        """Wait until the stand-in has seen at least ``expected`` calls per method; the counts.
        Raises RuntimeError naming what arrived when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.counts()
            if all(counts[m] >= n for m, n in expected.items()):
                return counts
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot's messages did not all arrive: expected {expected}, got {dict(counts)}")
            time.sleep(0.02)  # another process's progress: polled, with a deadline

    def close(self) -> None:
        import shutil

        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> SlackStandInProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
