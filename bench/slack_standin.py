"""A minimal Slack Web API stand-in for the benchmarks, run in its own process so
the Slack side's CPU is not counted against the bot (in production Slack is
another machine). It answers the methods the bot calls after the ack
(``chat.postMessage``, ``chat.postEphemeral``, ``conversations.open``, ...) as
Slack does and counts them; ``GET /__bench__/counts`` returns the counts, so
the bench can wait until every lazy listener has posted its message.

The test suite's richer stand-in (tests/fakes/slack_api.py) keeps every call in
memory for assertions; the bench needs counts only."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

TEAM_ID = "T0BENCH0001"
BOT_USER_ID = "U0BOTBENCH1"


def _answer(method: str, params: dict[str, Any], ts: str) -> dict[str, Any]:
    if method == "auth.test":
        return {"ok": True, "url": "https://opsbot-bench.slack.com/", "team": "Opsbot Bench", "user": "opsbot",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": "B0BOTBENCH1", "is_enterprise_install": False}
    if method in ("chat.postMessage", "chat.update"):
        return {"ok": True, "channel": params.get("channel", ""), "ts": params.get("ts") or ts,
                "message": {"type": "message", "user": BOT_USER_ID, "text": params.get("text", ""), "ts": ts}}
    if method == "chat.postEphemeral":
        return {"ok": True, "message_ts": ts}
    if method == "conversations.open":
        return {"ok": True, "channel": {"id": "D0BENCH0001"}}
    if method == "views.open":
        return {"ok": True, "view": {"id": "V0BENCH0001"}}
    return {"ok": False, "error": "unknown_method"}


def make_server(pace: float | None = None) -> ThreadingHTTPServer:
    """``pace``: seconds between two chat.postMessage in one channel, as Slack allows (about one a
    second); a post sooner is refused with 429 and Retry-After, as Slack refuses it. None: no limit."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    stamps = itertools.count(1)
    last_post: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # no line per request on stderr
            return

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            body = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/__bench__/counts":
                with lock:
                    self._send(200, dict(counts))
            else:
                self._send(404, {"ok": False, "error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0]
            if path.startswith("/response/"):
                method = "response_url"
            elif path.startswith("/api/"):
                method = path[len("/api/"):]
            else:
                self._send(404, {"ok": False, "error": "not_found"})
                return
            if "json" in (self.headers.get("Content-Type") or ""):
                params = json.loads(raw or b"{}")
            else:
                params = dict(parse_qsl(raw.decode()))
            n = next(stamps)
            with lock:
                channel = str(params.get("channel", ""))
                if method == "chat.postMessage":
                    counts["post attempts"] += 1  # accepted or refused
                if pace is not None and method == "chat.postMessage" and channel in last_post:
                    left = last_post[channel] + pace - time.monotonic()
                    if left > 0:
                        counts["ratelimited"] += 1
                        self._send(429, {"ok": False, "error": "ratelimited"},
                                   {"Retry-After": str(max(1, math.ceil(left)))})
                        return
                if method == "chat.postMessage":
                    last_post[channel] = time.monotonic()
                counts[method] += 1
                if method == "chat.postMessage":
                    # How many records the message announces: a digest names many (its metadata says how many).
                    metadata = params.get("metadata")
                    if isinstance(metadata, str):
                        metadata = json.loads(metadata)
                    payload = (metadata or {}).get("event_payload") or {}
                    counts["announced"] += int(payload.get("records", 1))
            if method == "response_url":
                self._send(200, "ok")
            else:
                self._send(200, _answer(method, params, f"1700000000.{n:06d}"))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def serve_forever(port_file: str, pace: float | None = None) -> None:
    from bench.common import publish_port

    server = make_server(pace)
    publish_port(port_file, server.server_address[1])
    server.serve_forever()


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
