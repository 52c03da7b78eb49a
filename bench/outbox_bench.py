"""Sustained load on the announcement path: 30,000 one-line payments at full speed.

    .venv/bin/python bench/outbox_bench.py                        # 30,000 on SQLite, 600 on DynamoDB (moto)
    .venv/bin/python bench/outbox_bench.py --payments 3000 --dynamo-payments 0   # a quick look

The bot process runs what ``opsbot serve`` runs (bench/edge_bench.py's bot:
build_services + build_slack_app on waitress, the outbox's deliverer threads
with the production policy), and nothing else. The Slack stand-in runs in its own process and
rate-limits ``chat.postMessage`` as Slack does: one message a second per
channel, 429 with Retry-After beyond it. 16 clients send signed one-liners,
each a real payment, as fast as the server answers. Measured:

- how long after the last acknowledgement every payment has been announced
  (the stand-in counts the records each accepted message names: a digest names
  many) — the goal is 5 s;
- the bot process's resident memory (VmRSS) after a warm-up of 1,000 payments
  (all announced) and again once all 30,000 are announced, and its peak
  (VmHWM) — the goal is growth under 20 MiB;
- the acks' p50 and p99 during the stream, and the bot process's CPU per
  payment, after-ack work included.

For the record, the hand-written floor (bench/bolt_floor.py: one SQLite
transaction, the receipt in the ack, one lazy chat.postMessage) takes the same
stream in a process of its own, and DynamoDB (moto's server, one request at a
time) a smaller one. At the end each store must hold exactly the payments sent.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ack_bench import (  # noqa: E402
    AUDIT_CHANNEL,
    BotProcess,
    _recorded,
    amount_cents,
    check_answer,
    one_liner_body,
    send,
)
from bench.ack_bench import Case as AckCase  # noqa: E402
from bench.bolt_floor import floor_app, floor_totals  # noqa: E402
from bench.common import (  # noqa: E402
    AWS_ENV,
    BENCH_EVENT,
    BENCH_EVENT_TOTAL_DOLLARS,
    MotoProcess,
    Row,
    percentile,
    print_table,
    publish_port,
    write_bench_events,
)
from bench.slack_standin import SlackStandInProcess  # noqa: E402
from infra.aws_session import aws_client  # noqa: E402
from infra.dynamo_store import DynamoStore  # noqa: E402

COMMAND = ".venv/bin/python bench/outbox_bench.py"
CLIENTS = 16
WARMUP = 1_000
DELIVERY_GOAL_S = 5.0
RSS_GOAL_MIB = 20.0
SLACK_PACE = 1.0  # seconds between two messages in a channel, as Slack allows


def serve_floor(folder: str) -> None:
    """Run in the floor's process: only the hand-written floor, on its own SQLite file."""
    import json
    import logging

    from bot.bootstrap import build_services
    from bot.config import load_settings
    from bot.entrypoints.http import make_wsgi_app, start_background_server

    work = Path(folder)
    config = json.loads((work / "config.json").read_text())
    logging.basicConfig(level=logging.INFO, filename=str(work / "server.log"))
    settings = load_settings(environ=config["env"], env_file=None)
    app = floor_app(work / "floor.db", signing_secret=settings.slack_signing_secret or "",
                    token=settings.slack_bot_token or "", slack_api_url=settings.slack_api_url,
                    audit_channel=AUDIT_CHANNEL, event_id=BENCH_EVENT,
                    event_total_cents=BENCH_EVENT_TOTAL_DOLLARS * 100)
    # The same HTTP stack as opsbot's (make_wsgi_app on waitress); the services carry the settings only.
    server, _ = start_background_server(make_wsgi_app(build_services(settings), app))
    publish_port(work / "ports", f"0 0 {server.server.effective_port}")
    threading.Event().wait()


@dataclass
class Stream:
    app: str  # "opsbot" or "floor"
    store: str  # "sqlite" or "dynamodb"
    payments: int
    latencies: list[float]
    seconds: float  # from the first request to the last acknowledgement
    delivered_after: float  # seconds from the last acknowledgement until every payment was announced
    rss_before_kib: int
    rss_after_kib: int
    peak_kib: int
    cpu_ms_per_payment: float | None
    exact: bool
    ratelimited: int  # 429s the stand-in answered (Slack's pace refused)
    messages: int  # chat.postMessage calls Slack accepted
    announced: int  # records those messages named (warm-up included)
    sent_total: int  # payments sent, warm-up included
    clients: int

    @property
    def growth_mib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / 1024


def _fire(port: int, numbers: list[int], clients: int, response_url: str) -> list[float]:
    """Send one one-liner per number from ``clients`` threads; the latencies."""
    case = AckCase("opsbot one-liner", "opsbot", "one-liner")
    lock = threading.Lock()
    queue = iter(numbers)
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                n = next(queue, None)
            if n is None:
                return
            took, status, data = send(port, one_liner_body(n, response_url))
            problem = check_answer(case, status, data)
            if problem:
                failures.append(problem)
                return
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=client, name=f"client-{c}") for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} request(s) failed; first: {failures[0]}")
    return latencies


def run_stream(app: str, payments: int, *, store: str = "sqlite", clients: int = CLIENTS, warmup: int = WARMUP,
               log: Callable[[str], None] = print) -> Stream:
    work = Path(tempfile.mkdtemp(prefix=f"opsbot-bench-outbox-{app}-"))
    moto = slack = bot = None
    try:
        events = write_bench_events(work)
        slack = SlackStandInProcess(pace=SLACK_PACE)
        extra: dict[str, str] = {}
        store_url = None
        if store == "dynamodb":
            moto = MotoProcess()
            store_url = f"dynamodb://opsbot-bench-{uuid.uuid4().hex[:8]}"
            extra = {**AWS_ENV, "AWS_ENDPOINT_URL": moto.endpoint}
        # opsbot alone in its process, as `opsbot serve` runs it (bench/edge_bench.py's, the deliverer's threads
        # included), or the floor alone in its own: each process's memory is one bot's.
        serve = "bench.edge_bench:serve_bot" if app == "opsbot" else "bench.outbox_bench:serve_floor"
        bot = BotProcess(work, slack.base_url, events, serve=serve, store=store_url, extra_env=extra)
        port = bot.ports[app]
        response_url = slack.root_url + "/response/bench"
        numbers = iter(range(10**9))
        # opsbot: every payment announced. The floor posts each line once, as its lazy listener does, and
        # Slack's pace refuses most of them: wait until each listener has made its call.
        done = "announced" if app == "opsbot" else "post attempts"
        _fire(port, [next(numbers) for _ in range(warmup)], clients, response_url)
        slack.wait_for({done: warmup}, timeout=600)
        before = bot.memory_kib()
        cpu_before = bot.cpu_seconds()
        sent = [next(numbers) for _ in range(payments)]
        started = time.perf_counter()
        latencies = _fire(port, sent, clients, response_url)
        acked = time.perf_counter()
        counts = slack.wait_for({done: warmup + payments}, timeout=900)
        delivered = time.perf_counter()
        cpu_after = bot.cpu_seconds()
        after = bot.memory_kib()
        all_sent = [amount_cents(n) for n in range(warmup)] + [amount_cents(n) for n in sent]
        bot.close()
        bot = None
        if app == "floor":
            paid, count, rows = floor_totals(work / "floor.db", BENCH_EVENT)
            exact = (paid, count, rows) == (sum(all_sent), len(all_sent), len(all_sent))
        elif store == "sqlite":
            paid, rows = _recorded(work / "opsbot.db")
            exact = (paid, rows) == (sum(all_sent), len(all_sent))
        else:
            exact = _dynamo_exact(store_url or "", extra, sum(all_sent), len(all_sent))
        cpu = None if None in (cpu_before, cpu_after) else (cpu_after - cpu_before) / payments * 1000
        stream = Stream(app, store, payments, latencies, acked - started, delivered - acked,
                        before.get("VmRSS", 0), after.get("VmRSS", 0), after.get("VmHWM", 0), cpu, exact,
                        counts["ratelimited"], counts["chat.postMessage"], counts["announced"], len(all_sent), clients)
        said = ("every one announced" if app == "opsbot" else
                f"{counts['announced']:,} of {warmup + payments:,} lines posted, the rest lost to Slack's 429s, ")
        log(f"  {app} on {store}: {payments:,} payments in {stream.seconds:.1f} s "
            f"({payments / stream.seconds:,.0f}/s), {said} {stream.delivered_after:.2f} s after the last "
            f"ack in {stream.messages:,} messages ({stream.ratelimited} refused with 429); RSS "
            f"{stream.rss_before_kib / 1024:.1f} -> {stream.rss_after_kib / 1024:.1f} MiB (peak "
            f"{stream.peak_kib / 1024:.1f}); totals {'exact' if exact else 'WRONG'}")
        return stream
    finally:
        if bot is not None:
            bot.close()
        if slack is not None:
            slack.close()
        if moto is not None:
            moto.close()
        shutil.rmtree(work, ignore_errors=True)


def _dynamo_exact(store_url: str, env: dict[str, str], paid_cents: int, count: int) -> bool:
    # The bot process's credentials, given to this client alone: the bench's own environment is left as it was.
    client = aws_client("dynamodb", region_name=env["AWS_REGION"], endpoint_url=env["AWS_ENDPOINT_URL"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    store = DynamoStore(store_url.removeprefix("dynamodb://"), client=client)
    totals = store.event_totals([BENCH_EVENT]).get(BENCH_EVENT)
    return totals is not None and (totals.paid_cents, totals.payment_count) == (paid_cents, count)


@dataclass(frozen=True)
class Result:
    opsbot: Stream
    floor: Stream | None
    dynamo: Stream | None

    @property
    def exact(self) -> bool:
        return all(s.exact for s in (self.opsbot, self.floor, self.dynamo) if s is not None)


def run(payments: int = 30_000, dynamo_payments: int = 600, floor: bool = True, clients: int = CLIENTS,
        warmup: int = WARMUP, log: Callable[[str], None] = print) -> Result:
    opsbot = run_stream("opsbot", payments, clients=clients, warmup=warmup, log=log)
    base = run_stream("floor", payments, clients=clients, warmup=warmup, log=log) if floor else None
    dynamo = (run_stream("opsbot", dynamo_payments, store="dynamodb", clients=clients,
                         warmup=min(warmup, 100), log=log) if dynamo_payments else None)
    return Result(opsbot, base, dynamo)


def rows(result: Result, command: str = COMMAND) -> list[Row]:
    o, f = result.opsbot, result.floor
    n = f"{o.payments:,}"
    lost = (f"floor: {f.announced:,} of {f.sent_total:,} lines posted, {f.ratelimited:,} refused by Slack "
            "(lost)" if f else "—")
    table = [
        Row(f"outbox: {n} one-liners at full speed ({o.clients} clients, Slack pacing the channel): every payment "
            "announced, after the last ack", f"{o.delivered_after:.2f} s ({o.messages:,} messages)", lost, None,
            f"≤ {DELIVERY_GOAL_S:.0f} s", o.delivered_after <= DELIVERY_GOAL_S and o.exact, command),
        Row(f"outbox: {n} one-liners: bot process RSS growth (warm-up to all announced)",
            f"{o.growth_mib:+.1f} MiB ({o.rss_before_kib / 1024:.0f} -> {o.rss_after_kib / 1024:.0f} MiB, peak "
            f"{o.peak_kib / 1024:.0f})",
            f"floor {f.growth_mib:+.1f} MiB ({f.rss_before_kib / 1024:.0f} -> {f.rss_after_kib / 1024:.0f})"
            if f else "—", None, f"< {RSS_GOAL_MIB:.0f} MiB", o.growth_mib < RSS_GOAL_MIB, command),
    ]
    for fraction, name in ((0.5, "p50"), (0.99, "p99")):
        ours = percentile(o.latencies, fraction) * 1000
        theirs = percentile(f.latencies, fraction) * 1000 if f else None
        table.append(Row(f"outbox: {n} one-liners: ack {name} during the stream", f"{ours:.1f} ms",
                         f"floor {theirs:.1f} ms" if theirs else "—", ours / theirs if theirs else None,
                         "for the record", None, command))
    if o.cpu_ms_per_payment and f and f.cpu_ms_per_payment:
        table.append(Row(f"outbox: {n} one-liners: bot process CPU per payment (delivery included)",
                         f"{o.cpu_ms_per_payment:.2f} ms", f"floor {f.cpu_ms_per_payment:.2f} ms",
                         o.cpu_ms_per_payment / f.cpu_ms_per_payment, "for the record", None, command))
    d = result.dynamo
    if d is not None:
        table.append(Row(f"outbox on DynamoDB (moto): {d.payments:,} one-liners, every payment announced after the "
                         "last ack", f"{d.delivered_after:.2f} s ({d.messages:,} messages)", "—", None,
                         "for the record", None, command))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=30_000)
    parser.add_argument("--dynamo-payments", type=int, default=600, help="0: no DynamoDB run")
    parser.add_argument("--no-floor", action="store_true", help="skip the hand-written floor's run")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args(argv)
    result = run(args.payments, args.dynamo_payments, not args.no_floor, args.clients)
    print_table(rows(result))
    return 0 if result.exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
