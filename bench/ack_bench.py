"""Ack overhead: how long Slack waits for opsbot's answer, against a hand-written
Bolt floor doing the same minimal work and a bare Bolt app doing none, on the
same server, measured in the same run, with 16 clients and with one.

    .venv/bin/python bench/ack_bench.py                          # 2,000 requests per case
    .venv/bin/python bench/ack_bench.py --rounds 2 --per-thread 10 --solo 20   # a quick look

Three processes on 127.0.0.1:

- the bot process serves two apps with the code ``opsbot serve`` runs
  (bot/entrypoints/http.py's ``make_wsgi_app`` on waitress via ``create_server``, 8 threads,
  logging at INFO to a file as serve logs to stderr):
  *opsbot* — ``build_services`` + ``build_slack_app`` on a SQLite store in a temp
  folder, every listener and the permission middleware, and the outbox's
  deliverer threads (as ``opsbot serve`` starts them) posting the audit lines
  (and the modal's receipt) after the ack; *floor* — bench/bolt_floor.py, a
  hand-written Bolt app doing the same minimal work for a one-liner (one SQLite
  transaction with the idempotency key and the balance check, the receipt in
  the ack, one lazy ``chat.postMessage``); and *bare* — a Bolt ``App``
  (process_before_response=True, token_verification_enabled=False) with one
  no-op ``/log-payment`` command and one no-op ``log_payment`` view listener;
  all three behind the same ``make_wsgi_app`` and the same waitress settings;
- a Slack Web API stand-in (bench/slack_standin.py), which the bots post to;
- this process: 16 client threads, each sending signed requests one at a time,
  a new connection per request (``Connection: close``), timing from connect to
  the last byte of the answer.

Cases: the one-liner ``/log-payment bench-big-night 12.34 venmo Patron 17`` (a
real payment every time: opsbot and the floor answer with the receipt), against
opsbot, the floor and bare; and a ``view_submission`` of the payment modal (a
real payment every time: opsbot answers an empty 200, which closes the modal),
against opsbot and bare. After a warm-up, the cases run in rounds, in a
different order each round, first with 16 clients and then with one client
sending one request after another; before a case starts every audit line of the
one before has reached the Slack stand-in, so after-ack work never leaks into
another case's figures. At the end opsbot's store and the floor's must each hold
exactly one payment per request and the event's total must equal the amounts
sent, to the cent.

It reports the bot process's CPU per request during each case (from /proc,
after-ack work included) and, for the record, each case one request at a time
(``--solo`` requests per case, each sent after the previous one's after-ack
work has finished).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bolt_floor import floor_app, floor_totals  # noqa: E402
from bench.common import (  # noqa: E402
    BENCH_EVENT,
    BENCH_EVENT_TOTAL_DOLLARS,
    REPO,
    Row,
    dollars,
    percentile,
    print_table,
    publish_port,
    wait_for_port_file,
    write_bench_events,
)
from bench.slack_standin import BENCH_IDENTITY, TEAM_ID, SlackStandInProcess  # noqa: E402
from infra.local_slack.payloads import form, interaction  # noqa: E402
from infra.local_slack.signing import signed_headers as slack_signed_headers  # noqa: E402
from infra.local_slack.signing import slash_command_body  # noqa: E402

SIGNING_SECRET = "bench0signing0secret0000000000ab"
BOT_TOKEN = "xoxb-bench-token"
AUDIT_CHANNEL = "C0BENCHAUDIT"
CHANNEL = "C0BENCHOPS01"
CLIENTS = 16
METHODS = ("cash", "card", "check", "venmo", "zelle")
GOAL_RATIO = 1.10
COMMAND = ".venv/bin/python bench/ack_bench.py"
CASES = ("opsbot one-liner", "floor one-liner", "bare one-liner", "opsbot view", "bare view")
# opsbot / floor on main before the outbox (issue 19's measurement, 16 clients): the "no slower than today" line.
TODAY_VS_FLOOR = {"p50": 1.10, "p99": 1.24, "cpu": 1.62}


# -- the bot process -------------------------------------------------------------------------------------------


def serve_bot(folder: str) -> None:
    """Run in the bot process: both apps on the server ``opsbot serve`` uses, until killed."""
    import logging

    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.bootstrap import build_deliverer, build_services, build_slack_app
    from bot.config import load_settings
    from bot.entrypoints.http import make_wsgi_app, start_background_server

    work = Path(folder)
    config = json.loads((work / "config.json").read_text())
    # As `opsbot serve` logs (cli._configure_logging), to a file rather than the terminal.
    logging.basicConfig(level=logging.INFO, filename=str(work / "server.log"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(environ=config["env"], env_file=None)
    services = build_services(settings)
    services.store.init_schema()
    opsbot_app = build_slack_app(services)  # as serve builds it: auth.test once, at start
    opsbot, _ = start_background_server(make_wsgi_app(services, opsbot_app))
    build_deliverer(services).start()  # the outbox's deliverer, as serve runs it

    bare_app = App(signing_secret=settings.slack_signing_secret, process_before_response=True,
                   token_verification_enabled=False,
                   client=WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url))

    def no_op(ack) -> None:
        ack()

    bare_app.command("/log-payment")(no_op)
    bare_app.view("log_payment")(no_op)
    bare, _ = start_background_server(make_wsgi_app(services, bare_app))
    floor = floor_app(work / "floor.db", signing_secret=settings.slack_signing_secret or "",
                      token=settings.slack_bot_token or "", slack_api_url=settings.slack_api_url,
                      audit_channel=AUDIT_CHANNEL, event_id=BENCH_EVENT,
                      event_total_cents=BENCH_EVENT_TOTAL_DOLLARS * 100)
    floor_server, _ = start_background_server(make_wsgi_app(services, floor))
    publish_port(work / "ports", f"{opsbot.server.effective_port} {bare.server.effective_port} "
                                 f"{floor_server.server.effective_port}")
    threading.Event().wait()  # serve until the parent terminates us


class BotProcess:
    def __init__(self, work: Path, slack_api_url: str, events: Path, serve: str = "bench.ack_bench:serve_bot",
                 store: str | None = None, extra_env: dict[str, str] | None = None):
        self.db = work / "opsbot.db"
        env = {
            "OPSBOT_STORE": store or f"sqlite:///{self.db}", "OPSBOT_EVENTS_FILE": str(events),
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "OPSBOT_SLACK_API_URL": slack_api_url, "OPSBOT_AUDIT_CHANNEL": AUDIT_CHANNEL, **(extra_env or {}),
        }
        (work / "config.json").write_text(json.dumps({"env": env}))
        self.log = work / "server.log"
        module, function = serve.split(":")
        code = f"import sys; sys.path.insert(0, {str(REPO)!r}); from {module} import {function}; " \
               f"{function}({str(work)!r})"
        self.stderr = open(work / "bot.stderr", "wb")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **(extra_env or {})},
                                        stdout=subprocess.DEVNULL, stderr=self.stderr)
        try:
            ports = wait_for_port_file(work / "ports", self.process, "the bot process")
        except SystemExit as exc:
            self.close()
            raise RuntimeError(f"{exc}:\n{(work / 'bot.stderr').read_text()[-3000:]}") from None
        # The apps the process serves, in this order: opsbot, bare, floor (a bench may serve fewer).
        self.ports = {name: int(port) for name, port in zip(("opsbot", "bare", "floor"), ports.split(), strict=False)}

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (the peak) of the bot process, in KiB, from /proc; empty elsewhere."""
        try:
            lines = Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
        except OSError:
            return {}
        return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines) if k in ("VmRSS", "VmHWM")}

    def cpu_seconds(self) -> float | None:
        """CPU time the bot process has used so far (user + system), from /proc; None elsewhere."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.stderr.close()


# -- Slack's requests ----------------------------------------------------------------------------------------------


def signed_headers(body: bytes) -> dict[str, str]:
    """Slack's headers (signed by the package's one signer), one connection per request as Slack sends."""
    return {**slack_signed_headers(body.decode(), SIGNING_SECRET), "Connection": "close",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}


def amount_cents(n: int) -> int:
    return 100 + (n * 7919) % 4901  # $1.00 to $50.00


def one_liner_body(n: int, response_url: str) -> bytes:
    """A /log-payment one-liner with every field Slack sends; a new trigger_id each time."""
    return slash_command_body(
        "/log-payment", f"{BENCH_EVENT} {dollars(amount_cents(n))} {METHODS[n % len(METHODS)]} Patron {n}",
        user_id="U0CREWBENCH", channel_id=CHANNEL, response_url=response_url,
        trigger_id=f"13345224609.738474920.{uuid.uuid4().hex}", app=BENCH_IDENTITY).encode()


def payment_view() -> dict[str, Any]:
    """The payment modal as the bot opens it (blocks/payment_modal.py), as Slack hands it back."""
    from blocks.payment_modal import payment_modal
    from bot.core.domain import DEFAULT_PAYMENT_METHODS, Event, EventStatus

    event = Event(id=BENCH_EVENT, title="Bench Big Night", date=None, total_cents=100_000_000)
    view = payment_modal([EventStatus(event, 0, 0)], methods=DEFAULT_PAYMENT_METHODS,
                         private_metadata=json.dumps({"channel_id": CHANNEL}))
    return {**view, "team_id": TEAM_ID, "app_id": BENCH_IDENTITY.app_id, "bot_id": BENCH_IDENTITY.bot_id,
            "previous_view_id": None,
            "hash": "1700000000.abcdEFGH", "clear_on_close": False, "notify_on_close": False}


def view_body(n: int, view: dict[str, Any]) -> bytes:
    """A view_submission of the payment modal, filled in; a new view id each time."""
    view_id = f"V{uuid.uuid4().hex[:10].upper()}"
    option = {"text": {"type": "plain_text", "text": "Bench Big Night", "emoji": True}, "value": BENCH_EVENT}
    method = METHODS[n % len(METHODS)]
    state = {
        "event": {"event": {"type": "static_select", "selected_option": option}},
        "patron": {"patron": {"type": "plain_text_input", "value": f"Patron {n}"}},
        "amount": {"amount": {"type": "plain_text_input", "value": dollars(amount_cents(n))}},
        "method": {"method": {"type": "static_select", "selected_option": {
            "text": {"type": "plain_text", "text": method.capitalize(), "emoji": True}, "value": method}}},
        "notes": {"notes": {"type": "plain_text_input", "value": None}},
    }
    payload = interaction("view_submission", user_id="U0CREWBENCH", app=BENCH_IDENTITY,
                          trigger_id=f"13345224609.738474920.{uuid.uuid4().hex[:12]}",
                          view={**view, "id": view_id, "root_view_id": view_id, "state": {"values": state}},
                          response_urls=[])
    return form(payload).encode()


# -- the clients --------------------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    app: str  # "opsbot", "floor" or "bare"
    kind: str  # "one-liner" or "view"
    latencies: list[float] = field(default_factory=list)  # 16 clients
    single: list[float] = field(default_factory=list)  # one client, one request after another
    solo: list[float] = field(default_factory=list)  # one request at a time, after-ack work settled in between
    cpu_seconds: float | None = 0.0  # the bot process's CPU during the 16-client rounds, after-ack work included
    single_cpu: float | None = 0.0  # the same during the one-client rounds
    payments: list[int] = field(default_factory=list)  # amounts sent (opsbot and the floor), in cents
    answers: list[str] = field(default_factory=list)  # a few answer bodies, to show what the crew member sees


def send(port: int, body: bytes) -> tuple[float, int, bytes]:
    headers = signed_headers(body)
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/slack/events", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return time.perf_counter() - started, response.status, data


class Load:
    """16 client threads sending one case's requests; numbers are handed out so every payment differs."""

    def __init__(self, ports: dict[str, int], response_url: str, clients: int = CLIENTS):
        self.ports, self.response_url, self.clients = ports, response_url, clients
        self.view = payment_view()
        self._numbers = iter(range(10**9))
        self._lock = threading.Lock()

    def _next(self) -> int:
        with self._lock:
            return next(self._numbers)

    def one(self, case: Case) -> None:
        """One request alone (the solo figures)."""
        n = self._next()
        body = one_liner_body(n, self.response_url) if case.kind == "one-liner" else view_body(n, self.view)
        took, status, data = send(self.ports[case.app], body)
        problem = check_answer(case, status, data)
        if problem:
            raise RuntimeError(f"{case.name}: {problem}")
        if case.app != "bare":
            case.payments.append(amount_cents(n))
        case.solo.append(took)

    def run(self, case: Case, per_client: int, record: bool = True, clients: int | None = None) -> None:
        """``clients`` threads (default: the bench's) each send ``per_client`` requests; with one
        client the latencies go to ``case.single``."""
        clients = clients or self.clients
        port = self.ports[case.app]
        barrier = threading.Barrier(clients)
        failures: list[str] = []
        results: list[list[tuple[float, int]]] = [[] for _ in range(clients)]
        answers: list[str] = []

        def client(c: int) -> None:
            barrier.wait()
            for _ in range(per_client):
                n = self._next()
                body = (one_liner_body(n, self.response_url) if case.kind == "one-liner"
                        else view_body(n, self.view))
                took, status, data = send(port, body)
                problem = check_answer(case, status, data)
                if problem:
                    failures.append(problem)
                    return
                results[c].append((took, amount_cents(n)))
                if len(answers) < 3:
                    answers.append(data.decode())

        threads = [threading.Thread(target=client, args=(c,), name=f"client-{c}") for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise RuntimeError(f"{case.name}: {len(failures)} request(s) failed; first: {failures[0]}")
        sent = [item for per in results for item in per]
        if case.app != "bare":
            case.payments.extend(cents for _, cents in sent)  # warm-up payments are real payments too
        if record:
            (case.single if clients == 1 and self.clients != 1 else case.latencies).extend(took for took, _ in sent)
            case.answers = (case.answers + answers)[:3]


def check_answer(case: Case, status: int, data: bytes) -> str | None:
    """What Slack (and so the crew member) must get back; None when it is right."""
    if status != 200:
        return f"HTTP {status}: {data[:200]!r}"
    if case.app != "bare" and case.kind == "one-liner":
        answer = json.loads(data or b"{}")
        if answer.get("response_type") != "ephemeral" or not answer.get("text", "").startswith("Recorded: $"):
            return f"not a receipt: {data[:300]!r}"
    elif data not in (b"", b"{}"):  # an empty 200 closes the modal; bare acks answer nothing
        return f"expected an empty answer, got {data[:300]!r}"
    return None


# -- the bench -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    cases: dict[str, Case]
    payments_sent: int  # to opsbot
    payments_recorded: int
    paid_cents_expected: int
    paid_cents_recorded: int
    floor_exact: bool  # the floor's store holds exactly what was sent to it
    audit_lines: int  # records named in the audit channel (a digest names many), opsbot's and the floor's
    receipts: int
    log_lines: int
    clients: int

    def p(self, case: str, fraction: float, *, single: bool = False) -> float:
        c = self.cases[case]
        return percentile(c.single if single else c.latencies, fraction)

    def ratio(self, kind: str, fraction: float, baseline: str = "bare", *, single: bool = False) -> float:
        return self.p(f"opsbot {kind}", fraction, single=single) / self.p(f"{baseline} {kind}", fraction,
                                                                         single=single)

    @property
    def exact(self) -> bool:
        return ((self.payments_recorded, self.paid_cents_recorded) == (self.payments_sent, self.paid_cents_expected)
                and self.floor_exact)


def run(rounds: int = 5, per_client: int = 25, warmup_per_client: int = 5, clients: int = CLIENTS,
        solo: int = 100, single_per_round: int = 80, seed: int = 7, log: Callable[[str], None] = print) -> Result:
    cases = {name: Case(name, *name.split(" ", 1)) for name in CASES}
    work = Path(tempfile.mkdtemp(prefix="opsbot-bench-ack-"))
    slack = bot = None
    try:
        events = write_bench_events(work)
        slack = SlackStandInProcess()
        bot = BotProcess(work, slack.base_url, events)
        load = Load(bot.ports, slack.root_url + "/response/bench", clients)

        def settle() -> None:
            # Every payment so far (opsbot's and the floor's) has its audit line; every modal payment its receipt.
            paid = sum(len(c.payments) for c in cases.values())
            views = len(cases["opsbot view"].payments)
            slack.wait_for({"announced": paid, "chat.postEphemeral": views})

        def measured(case: Case, per: int, threads: int) -> float | None:
            started, cpu = time.perf_counter(), bot.cpu_seconds()
            load.run(case, per, clients=threads)
            took = time.perf_counter() - started
            settle()
            used = bot.cpu_seconds()
            log(f"  {case.name:<17} {threads:>2} client(s): {threads * per} requests in {took:.2f}s "
                f"(+{time.perf_counter() - started - took:.2f}s until every audit line was posted)")
            return None if None in (cpu, used) else used - cpu

        for case in cases.values():
            load.run(case, warmup_per_client, record=False)
            settle()
        order = list(CASES)
        shuffle = random.Random(seed)
        for n in range(rounds):
            shuffle.shuffle(order)
            log(f"  round {n + 1}:")
            for name in order:
                case = cases[name]
                used = measured(case, per_client, clients)
                case.cpu_seconds = None if None in (used, case.cpu_seconds) else case.cpu_seconds + used
            for name in order:
                case = cases[name]
                used = measured(case, single_per_round, 1)
                case.single_cpu = None if None in (used, case.single_cpu) else case.single_cpu + used
        # Solo: one request at a time, the cases taking turns, every audit line posted before the next.
        for _ in range(solo):
            for name in order:
                load.one(cases[name])
                settle()
        counts = slack.counts()
        bot.close()  # the stores are complete: every announcement has been posted (settle)
        bot = None
        totals = _recorded(work / "opsbot.db")
        sent = [cents for name in ("opsbot one-liner", "opsbot view") for cents in cases[name].payments]
        floor_sent = cases["floor one-liner"].payments
        floor_paid, floor_count, floor_rows = floor_totals(work / "floor.db", BENCH_EVENT)
        floor_exact = (floor_paid, floor_count, floor_rows) == (sum(floor_sent), len(floor_sent), len(floor_sent))
        log_lines = sum(1 for _ in (work / "server.log").open()) if (work / "server.log").exists() else 0
        return Result(cases, len(sent), totals[1], sum(sent), totals[0], floor_exact, counts["announced"],
                      counts["chat.postEphemeral"], log_lines, clients)
    finally:
        if bot is not None:
            bot.close()
        if slack is not None:
            slack.close()
        shutil.rmtree(work, ignore_errors=True)


def _recorded(db: Path) -> tuple[int, int]:
    """(paid_cents, payment records) for the bench event, read from the store as opsbot wrote it."""
    from infra.sqlite_store import SqliteStore

    store = SqliteStore(db)
    totals = store.event_totals([BENCH_EVENT]).get(BENCH_EVENT)
    records = len(store.event_payments(BENCH_EVENT))
    if totals is None or totals.payment_count != records:
        raise RuntimeError(f"the event's payment_count ({totals}) disagrees with its {records} records")
    return totals.paid_cents, records


def cpu_ms_per_request(case: Case, *, single: bool = False) -> float | None:
    cpu, count = (case.single_cpu, len(case.single)) if single else (case.cpu_seconds, len(case.latencies))
    return None if cpu is None or not count else cpu / count * 1000


def rows(result: Result, command: str = COMMAND) -> list[Row]:
    table = []
    # Against the hand-written floor: the same minimal work. "Today" is opsbot before the outbox.
    for single, clients in ((False, result.clients), (True, 1)):
        if single and not result.cases["opsbot one-liner"].single:
            continue
        for fraction, name in ((0.5, "p50"), (0.99, "p99")):
            ratio = result.ratio("one-liner", fraction, "floor", single=single)
            today = TODAY_VS_FLOOR[name] if not single else None
            table.append(Row(
                f"ack: `/log-payment` one-liner vs the hand-written floor, {name}, {clients} client"
                f"{'s' if clients != 1 else ''}",
                f"{result.p('opsbot one-liner', fraction, single=single) * 1000:.1f} ms",
                f"floor {result.p('floor one-liner', fraction, single=single) * 1000:.1f} ms", ratio,
                f"≤ today's {today:.2f}×" if today else "for the record",
                (ratio <= today and result.exact) if today else None, command))
        cpu = cpu_ms_per_request(result.cases["opsbot one-liner"], single=single)
        floor_cpu = cpu_ms_per_request(result.cases["floor one-liner"], single=single)
        if cpu is not None and floor_cpu:
            today = TODAY_VS_FLOOR["cpu"] if not single else None
            table.append(Row(
                f"bot process CPU per one-liner vs the floor (after-ack work included), {clients} client"
                f"{'s' if clients != 1 else ''}", f"{cpu:.2f} ms", f"floor {floor_cpu:.2f} ms", cpu / floor_cpu,
                f"≤ today's {today:.2f}×" if today else "for the record",
                (cpu / floor_cpu <= today) if today else None, command))
    for kind, label in (("one-liner", "`/log-payment` one-liner"), ("view", "payment modal view_submission")):
        for fraction, name in ((0.5, "p50"), (0.99, "p99")):
            ratio = result.ratio(kind, fraction)
            table.append(Row(
                f"ack: {label}, {name}, {result.clients} clients",
                f"{result.p(f'opsbot {kind}', fraction) * 1000:.1f} ms",
                f"bare Bolt {result.p(f'bare {kind}', fraction) * 1000:.1f} ms",
                ratio, f"≤ {GOAL_RATIO:.2f}×", ratio <= GOAL_RATIO and result.exact, command))
    for kind, label in (("one-liner", "one-liner"), ("view", "view_submission")):
        ours, bare = result.cases[f"opsbot {kind}"], result.cases[f"bare {kind}"]
        if ours.solo and bare.solo:
            p50, base = percentile(ours.solo, 0.5), percentile(bare.solo, 0.5)
            table.append(Row(f"ack: {label}, p50, one request at a time", f"{p50 * 1000:.1f} ms",
                             f"bare Bolt {base * 1000:.1f} ms", p50 / base, "for the record", None, command))
        cpu, base_cpu = cpu_ms_per_request(ours), cpu_ms_per_request(bare)
        if cpu is not None and base_cpu:
            table.append(Row(f"bot process CPU per {label} (after-ack work included)", f"{cpu:.2f} ms",
                             f"bare Bolt {base_cpu:.2f} ms", cpu / base_cpu, "for the record", None, command))
    return table


def report(result: Result, log: Callable[[str], None] = print) -> None:
    n = len(result.cases["opsbot one-liner"].latencies)
    log(f"\n{n:,} measured requests per case with {result.clients} clients; {result.payments_sent:,} payments sent to "
        f"opsbot (warm-up, one client and solo included), {result.payments_recorded:,} recorded, totals "
        f"{'exact' if result.exact else 'WRONG'} (${dollars(result.paid_cents_recorded)} of "
        f"${dollars(result.paid_cents_expected)}; the floor's {'exact' if result.floor_exact else 'WRONG'}); "
        f"{result.audit_lines:,} records announced and {result.receipts:,} modal receipts posted after the acks; "
        f"{result.log_lines:,} server log lines.")
    log(f"{'case':<17} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}   {'CPU/req':>8}   {'1 client p50':>12} "
        f"{'p99':>8} {'CPU/req':>8}   {'solo p50':>8}")
    for name, case in result.cases.items():
        cells = [percentile(case.latencies, f) * 1000 for f in (0.5, 0.9, 0.99, 1.0)]
        cpu = cpu_ms_per_request(case)
        single = ([f"{percentile(case.single, f) * 1000:>6.1f}ms" for f in (0.5, 0.99)] if case.single
                  else ["—", "—"])
        single_cpu = cpu_ms_per_request(case, single=True)
        solo = f"{percentile(case.solo, 0.5) * 1000:>6.1f}ms" if case.solo else "—"
        log(f"{name:<17} " + " ".join(f"{c:>6.1f}ms" for c in cells)
            + f"   {'—' if cpu is None else f'{cpu:.2f}ms':>8}   {single[0]:>12} {single[1]:>8} "
            + f"{'—' if single_cpu is None else f'{single_cpu:.2f}ms':>8}   {solo:>8}")
    log(f"opsbot answers Slack (one-liner): {result.cases['opsbot one-liner'].answers[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the four cases (default 5)")
    parser.add_argument("--per-thread", type=int, default=25, help="requests per client thread per round (25)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up requests per client thread per case (5)")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--solo", type=int, default=100, help="requests per case sent one at a time (100)")
    parser.add_argument("--single", type=int, default=80,
                        help="requests per case and round from one client, one after another (80)")
    parser.add_argument("--serve-bot", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    print(f"Ack latency, {args.clients} concurrent clients, {args.rounds} rounds of "
          f"{args.clients * args.per_thread} requests per case:")
    result = run(args.rounds, args.per_thread, args.warmup, args.clients, args.solo, args.single)
    report(result)
    print_table(rows(result))
    return 0 if result.exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
