"""Start-up and memory: ``opsbot serve`` against the hand-written floor (bench/bolt_floor.py).

    .venv/bin/python bench/startup_bench.py              # 7 starts of each, taking turns
    .venv/bin/python bench/startup_bench.py --runs 3     # a quick look

Each start is a fresh process, timed from its spawn to the first ``200`` of ``GET /healthz``
(polled every 5 ms); then, after a second with nothing to do, its resident memory (VmRSS).

- **opsbot**: ``python -m bot serve`` as deployed: a SQLite store (made beforehand with
  ``init-store``), the repository's events.json (its three sites: boto3 is not imported
  until a deploy), Slack configured (Bolt's ``auth.test`` at start-up answered by the
  bench's Slack stand-in, another process), the schedule and the outbox's deliverer.
- **floor**: the floor's Bolt app (one SQLite table set, one command, one lazy listener)
  behind waitress with 8 threads, and a ``/healthz`` that asks SQLite ``SELECT 1``.

The two take turns; the figures are medians. Both run with the bytecode cache on
(``PYTHONDONTWRITEBYTECODE`` removed from their environment: the uncounted first start
writes the .pyc files, as an installed server has them). Lambda's first request is the cold-start
bench's row (bench/coldstart_bench.py), run beside this one by ``python -m bench``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, Row, print_table  # noqa: E402
from bench.slack_standin import SlackStandInProcess  # noqa: E402

COMMAND = ".venv/bin/python bench/startup_bench.py"
GOAL_START = 1.5
GOAL_RSS = 1.25
SIGNING_SECRET = "startup-secret"
TOKEN = "xoxb-startup"

FLOOR = """
import sys, sqlite3, threading
sys.path.insert(0, {repo!r})
from pathlib import Path
from waitress import create_server
from slack_bolt.adapter.wsgi import SlackRequestHandler
from bench.bolt_floor import floor_app

db = Path({db!r})
bolt = SlackRequestHandler(floor_app(db, signing_secret={secret!r}, token={token!r}, slack_api_url={slack!r},
                                     audit_channel="C0STARTUP01", event_id="bench-big-night",
                                     event_total_cents=100_000_000))
local = threading.local()

def app(environ, start_response):
    if environ.get("PATH_INFO") == "/healthz":
        if getattr(local, "conn", None) is None:
            local.conn = sqlite3.connect(db)
        local.conn.execute("SELECT 1").fetchone()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{{"ok": true}}']
    return bolt(environ, start_response)

create_server(app, host="127.0.0.1", port={port}, threads=8).run()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Start:
    seconds: float
    rss_kib: int


def start_and_measure(argv: list[str], env: dict[str, str], port: int, idle: float = 1.0,
                      cwd: Path | None = None) -> Start:
    began = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    try:
        deadline = began + 120  # a start that never answers fails the bench instead of hanging it
        while True:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{argv[:3]} did not answer /healthz within 120 s")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet: the exit check below tells a start that failed from a slow one
            if process.poll() is not None:
                raise RuntimeError(f"{argv[:3]} exited: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.005)  # another process starting: polled
        seconds = time.perf_counter() - began
        time.sleep(idle)  # settled: its threads started, nothing to do
        return Start(seconds, rss_kib(process.pid))
    finally:
        process.terminate()
        process.wait(timeout=15)


@dataclass(frozen=True)
class Result:
    opsbot: list[Start]
    floor: list[Start]
    before: list[Start] = field(default_factory=list)  # another checkout's opsbot (``--before``), for the record

    def median(self, which: str, field: str) -> float:
        return statistics.median(getattr(s, field) for s in getattr(self, which))


def run(runs: int = 7, before: Path | None = None) -> Result:
    """``before``: a checkout of an earlier opsbot (with its own .venv) started in the same turns."""
    work = Path(tempfile.mkdtemp(prefix="opsbot-startup-"))
    opsbot: list[Start] = []
    floor: list[Start] = []
    earlier: list[Start] = []
    checkouts = {"opsbot": (REPO, sys.executable)}
    if before is not None:
        checkouts["before"] = (before, str(before / ".venv" / "bin" / "python"))
    try:
        with SlackStandInProcess() as slack:
            cached = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
            env = {**cached, "OPSBOT_STORE": f"sqlite:///{work / 'opsbot.db'}",
                   "OPSBOT_EVENTS_FILE": str(REPO / "events.json"), "SLACK_BOT_TOKEN": TOKEN,
                   "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPSBOT_SLACK_API_URL": slack.base_url,
                   "OPSBOT_AUDIT_CHANNEL": "C0STARTUP01", "OPSBOT_LOG_LEVEL": "WARNING"}
            for name, (repo, python) in checkouts.items():
                subprocess.run([python, "-m", "bot", "init-store"], env={**env, "OPSBOT_STORE": f"sqlite:///"
                               f"{work / name}.db"}, cwd=repo, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            order = ["floor", *checkouts]
            for n in range(runs + 1):  # the first of each is not counted: it writes the .pyc files
                for which in order[n % len(order):] + order[:n % len(order)]:
                    port = free_port()
                    if which == "floor":
                        code = FLOOR.format(repo=str(REPO), db=str(work / f"floor-{n}.db"), secret=SIGNING_SECRET,
                                            token=TOKEN, slack=slack.base_url, port=port)
                        made = start_and_measure([sys.executable, "-c", code], dict(cached), port)
                    else:
                        repo, python = checkouts[which]
                        made = start_and_measure([python, "-m", "bot", "serve", "--port", str(port)],
                                                 {**env, "OPSBOT_STORE": f"sqlite:///{work / which}.db"}, port,
                                                 cwd=repo)
                    if n:
                        {"opsbot": opsbot, "floor": floor, "before": earlier}[which].append(made)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Result(opsbot, floor, earlier)


def rows(result: Result) -> list[Row]:
    start, floor_start = result.median("opsbot", "seconds"), result.median("floor", "seconds")
    rss, floor_rss = result.median("opsbot", "rss_kib"), result.median("floor", "rss_kib")
    made = [
        Row("start-up: `opsbot serve` to its first /healthz", f"{start * 1000:.0f} ms",
            f"floor {floor_start * 1000:.0f} ms", start / floor_start, f"≤ {GOAL_START}×",
            start / floor_start <= GOAL_START, COMMAND),
        Row("memory: `opsbot serve` idle RSS", f"{rss / 1024:.1f} MiB", f"floor {floor_rss / 1024:.1f} MiB",
            rss / floor_rss, f"≤ {GOAL_RSS}×", rss / floor_rss <= GOAL_RSS, COMMAND),
    ]
    if result.before:
        before, before_rss = result.median("before", "seconds"), result.median("before", "rss_kib")
        made += [
            Row("start-up: the earlier checkout's `opsbot serve` (before)", f"{before * 1000:.0f} ms",
                f"floor {floor_start * 1000:.0f} ms", before / floor_start, "for the record", None, COMMAND),
            Row("memory: the earlier checkout's idle RSS (before)", f"{before_rss / 1024:.1f} MiB",
                f"floor {floor_rss / 1024:.1f} MiB", before_rss / floor_rss, "for the record", None, COMMAND),
        ]
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--before", type=Path, help="an earlier checkout (with its .venv) to start in the same turns")
    args = parser.parse_args()
    result = run(args.runs, args.before)
    for which in ("opsbot", "floor", *(["before"] if args.before else [])):
        starts = getattr(result, which)
        print(f"{which}: " + ", ".join(f"{s.seconds * 1000:.0f} ms / {s.rss_kib / 1024:.1f} MiB" for s in starts))
    print_table(rows(result), "Start-up and memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
