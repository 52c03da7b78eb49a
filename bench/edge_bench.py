"""The edge under abuse: Slack's acks while 1,000 idle and half-open connections
are held open, and while a password guesser floods the web API with wrong admin
tokens from 50 addresses; each against the same acks with no such load, in the
same run.

    .venv/bin/python bench/edge_bench.py                  # 1,000 connections, 300 acks per case
    .venv/bin/python bench/edge_bench.py --held 200 --acks 50   # a quick look

Three processes on 127.0.0.1, as in bench/ack_bench.py: the bot (``build_services``
+ ``build_slack_app`` on ``create_server``, the server ``opsbot serve`` runs, with
``ADMIN_PASS_HASH`` at bcrypt's 12 rounds and ``OPSBOT_TRUSTED_PROXIES=127.0.0.1``,
as behind a reverse proxy), the Slack Web API stand-in, and this process. Acks
are one-line payments (``/log-payment … 12.34 venmo Patron 17``), one at a time,
each a new connection, timed from connect to the last byte; every one a real
payment, checked in the store at the end.

- quiet: the acks with nothing else going on (the baseline of both cases);
- held: 1,000 connections opened (half send nothing, half half a request line
  and then nothing), the first ack sent right after the last one opened, the
  rest after it; the server's resident memory before and while they are held;
- flood: 50 threads, each a different address in X-Forwarded-For, post wrong
  tokens to ``/api/payment/log`` without pause (a new connection each) while
  the acks run; how many were checked with bcrypt (answered 401, the rest 429)
  and the CPU that cost, against the share of one core the gate allows.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ack_bench import BotProcess, Case, Load, _recorded  # noqa: E402
from bench.common import BENCH_EVENT, Row, percentile, print_table, publish_port, write_bench_events  # noqa: E402
from bench.slack_standin import SlackStandInProcess  # noqa: E402

COMMAND = ".venv/bin/python bench/edge_bench.py"
GUESSERS = 50
ACK_LIMIT = 3.0  # Slack's
PASSWORD = "bench admin password"


def serve_bot(folder: str) -> None:
    """Run in the bot process: opsbot on the server ``opsbot serve`` uses, until killed."""
    import logging

    from bot.bootstrap import build_deliverer, build_services, build_slack_app
    from bot.config import load_settings
    from bot.entrypoints.http import create_server, make_wsgi_app

    work = Path(folder)
    config = json.loads((work / "config.json").read_text())
    logging.basicConfig(level=logging.INFO, filename=str(work / "server.log"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = build_services(load_settings(environ=config["env"], env_file=None))
    services.store.init_schema()
    server = create_server(make_wsgi_app(services, build_slack_app(services)), "127.0.0.1", 0)
    threading.Thread(target=server.run, name="opsbot-http", daemon=True).start()
    build_deliverer(services).start()  # the outbox's deliverer, as serve runs it
    publish_port(work / "ports", server.effective_port)
    threading.Event().wait()  # serve until the parent terminates us


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc")


def open_connections(port: int, count: int) -> list[socket.socket]:
    held = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: opsbot\r\nContent-Le")
        held.append(sock)
    return held


def guess(port: int, n: int, i: int) -> int:
    body = json.dumps({"event_id": BENCH_EVENT, "patron_name": "X", "amount": "1", "payment_method": "cash"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/payment/log", body=body, headers={
            "Content-Type": "application/json", "X-Admin-Token": f"guess-{n}-{i}",
            "X-Forwarded-For": f"203.0.113.{n}", "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@dataclass
class Result:
    held: int
    quiet: list[float] = field(default_factory=list)
    with_held: list[float] = field(default_factory=list)  # the first one sent right after the last connection opened
    flood: list[float] = field(default_factory=list)
    rss_before: float = 0.0
    rss_held: float = 0.0
    guesses: Counter[int] = field(default_factory=Counter)  # HTTP status -> count
    flood_seconds: float = 0.0
    bot_cpu_flood: float | None = None
    check_cpu: float = 0.0  # CPU seconds of one bcrypt check of this hash, measured here
    payments_sent: int = 0
    payments_recorded: int = 0
    paid_cents_expected: int = 0
    paid_cents_recorded: int = 0

    @property
    def exact(self) -> bool:
        return (self.payments_recorded, self.paid_cents_recorded) == (self.payments_sent, self.paid_cents_expected)

    @property
    def checks(self) -> int:
        return self.guesses[401]  # a wrong token bcrypt looked at; 429 answers were refused unchecked


def run(held: int = 1_000, acks: int = 300, warmup: int = 20, log: Callable[[str], None] = print) -> Result:
    import bcrypt

    from bot.entrypoints.http import raise_open_file_limit
    from bot.entrypoints.token_checks import BCRYPT_MAX_BYTES

    assert len(PASSWORD) <= BCRYPT_MAX_BYTES
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12))
    raise_open_file_limit(held * 2 + 256)  # this process holds the client ends
    result = Result(held)
    cpu = []
    for n in range(3):
        started = time.thread_time()
        bcrypt.checkpw(f"wrong-{n}".encode(), password_hash)
        cpu.append(time.thread_time() - started)
    result.check_cpu = statistics.median(cpu)

    with ExitStack() as cleanup:  # run backwards: the bot, Slack's stand-in, the folder
        work = Path(tempfile.mkdtemp(prefix="opsbot-bench-edge-"))
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        events = write_bench_events(work)
        slack = SlackStandInProcess()
        cleanup.callback(slack.close)
        bot = BotProcess(work, slack.base_url, events, serve="bench.edge_bench:serve_bot", extra_env={
            "ADMIN_PASS_HASH": password_hash.decode(), "OPSBOT_TRUSTED_PROXIES": "127.0.0.1"})
        cleanup.callback(bot.close)  # closing twice is harmless: it stops a running process only
        port = bot.ports["opsbot"]
        load = Load(bot.ports, slack.root_url + "/response/bench", clients=1)
        case = Case("opsbot one-liner", "opsbot", "one-liner")

        def acks_into(into: list[float], count: int) -> None:
            for _ in range(count):
                load.one(case)
                into.append(case.solo.pop())

        acks_into([], warmup)
        acks_into(result.quiet, acks)
        log(f"  quiet: {acks} acks, p50 {percentile(result.quiet, 0.5) * 1000:.1f} ms")

        result.rss_before = rss_mb(bot.process.pid)
        connections = open_connections(port, held)
        try:
            acks_into(result.with_held, acks)  # well inside the 10 s that half a request may take
            result.rss_held = rss_mb(bot.process.pid)
        finally:
            for sock in connections:
                sock.close()
        log(f"  {held} connections held: first ack {result.with_held[0] * 1000:.0f} ms, "
            f"p50 {percentile(result.with_held, 0.5) * 1000:.1f} ms; RSS {result.rss_before:.0f} -> "
            f"{result.rss_held:.0f} MB")

        stop = threading.Event()
        statuses: list[int] = []

        def guesser(n: int) -> None:
            i = 0
            while not stop.is_set():
                statuses.append(guess(port, n, i))
                i += 1

        threads = [threading.Thread(target=guesser, args=(n,)) for n in range(GUESSERS)]
        cpu_before, started = bot.cpu_seconds(), time.perf_counter()
        for t in threads:
            t.start()
        try:
            acks_into(result.flood, acks)
        finally:
            stop.set()
            for t in threads:
                t.join()
        result.flood_seconds = time.perf_counter() - started
        cpu_after = bot.cpu_seconds()
        result.bot_cpu_flood = None if None in (cpu_before, cpu_after) else cpu_after - cpu_before
        result.guesses = Counter(statuses)
        log(f"  flood: {len(statuses):,} wrong tokens in {result.flood_seconds:.1f} s, {result.checks} checked; "
            f"ack p50 {percentile(result.flood, 0.5) * 1000:.1f} ms, max {max(result.flood) * 1000:.0f} ms")

        slack.wait_for({"announced": len(case.payments)})  # every payment announced: the store is complete
        bot.close()
        result.paid_cents_recorded, result.payments_recorded = _recorded(work / "opsbot.db")
        result.payments_sent, result.paid_cents_expected = len(case.payments), sum(case.payments)
        return result


def rows(result: Result, command: str = COMMAND) -> list[Row]:
    from bot.entrypoints.token_checks import BCRYPT_CPU_SHARE

    quiet = {f: percentile(result.quiet, f) for f in (0.5, 0.99)}
    table = []
    for label, samples in ((f"{result.held:,} idle + half-open connections held", result.with_held),
                           (f"a wrong-token flood from {GUESSERS} addresses", result.flood)):
        for fraction, name in ((0.5, "p50"), (0.99, "p99")):
            figure = percentile(samples, fraction)
            table.append(Row(f"ack: one-liner, {name}, {label}", f"{figure * 1000:.1f} ms",
                             f"no load {quiet[fraction] * 1000:.1f} ms", figure / quiet[fraction],
                             "every ack < 3 s", max(samples) < ACK_LIMIT and result.exact, command))
        table.append(Row(f"ack: one-liner, slowest, {label}", f"{max(samples) * 1000:.0f} ms",
                         f"no load {max(result.quiet) * 1000:.0f} ms", max(samples) / max(result.quiet),
                         "< 3 s", max(samples) < ACK_LIMIT, command))
    grown = result.rss_held - result.rss_before
    table.append(Row(f"server memory holding {result.held:,} connections", f"{result.rss_held:.0f} MB (+{grown:.1f})",
                     f"{result.rss_before:.0f} MB before", result.rss_held / result.rss_before,
                     "bounded: < 64 MB more", grown < 64, command))
    guesses = sum(result.guesses.values())
    spent = result.checks * result.check_cpu
    allowed = BCRYPT_CPU_SHARE * result.flood_seconds + result.check_cpu
    table.append(Row(f"wrong tokens checked with bcrypt, {GUESSERS} addresses, {result.flood_seconds:.0f} s",
                     f"{result.checks} of {guesses:,} ({spent:.1f} s CPU)", f"{guesses:,} (each one, unbounded)",
                     result.checks / guesses if guesses else None,
                     f"≤ {BCRYPT_CPU_SHARE:.0%} of a core", spent <= allowed, command))
    if result.bot_cpu_flood is not None:
        share = result.bot_cpu_flood / result.flood_seconds
        table.append(Row("bot process CPU during the flood (answering every guess included)",
                         f"{share:.0%} of a core", f"{result.checks} checks × {result.check_cpu * 1000:.0f} ms",
                         None, "for the record", None, command))
    return table


def report(result: Result, log: Callable[[str], None] = print) -> None:
    log(f"\n{result.payments_sent} payments acked, {result.payments_recorded} recorded, totals "
        f"{'exact' if result.exact else 'WRONG'}; {sum(result.guesses.values()):,} wrong tokens: "
        f"{dict(sorted(result.guesses.items()))}; one bcrypt check here: {result.check_cpu * 1000:.0f} ms CPU.")
    log(f"{'case':<12} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for name, samples in (("quiet", result.quiet), ("held", result.with_held), ("flood", result.flood)):
        log(f"{name:<12} " + " ".join(f"{percentile(samples, f) * 1000:>6.1f}ms" for f in (0.5, 0.9, 0.99, 1.0)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held", type=int, default=1_000, help="connections held open (1,000)")
    parser.add_argument("--acks", type=int, default=300, help="acks per case (300)")
    args = parser.parse_args(argv)
    result = run(args.held, args.acks)
    report(result)
    print_table(rows(result))
    return 0 if result.exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
