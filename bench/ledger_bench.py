"""Ledger throughput: payments per second through the service layer with 32 writer
threads on one event, compared in the same run with a bare sqlite3 loop (the floor).

    .venv/bin/python bench/ledger_bench.py                 # SQLite (service and floor) and DynamoDB (moto)
    .venv/bin/python bench/ledger_bench.py --no-dynamodb   # SQLite only
    .venv/bin/python bench/ledger_bench.py --payments 200 --rounds 1 --dynamodb-payments 50   # a quick look

- service: ``Ledger.record_payment`` exactly as the Slack handlers call it (amount as
  typed, idempotency key, event looked up in events.json, balance checked), on
  ``SqliteStore``: one BEGIN IMMEDIATE transaction per payment that checks the
  idempotency key and the balance, inserts the payment, upserts the event's
  totals and inserts the idempotency key.
- floor: each of 32 threads opens its own sqlite3 connection with the store's
  settings (WAL, synchronous=NORMAL, busy_timeout 30 s, autocommit mode) and per
  payment runs BEGIN IMMEDIATE; INSERT the payment row (same table, same
  indexes); upsert the event's totals (paid + amount, count + 1); COMMIT. No
  reads, no idempotency row, no validation: the least any correct writer does.
- fair floor (issue 19): the floor writing the same rows as the service: the payment, the
  event's totals (with its record count), the patron's totals, the idempotency key and the
  audit log entry, in one BEGIN IMMEDIATE transaction; still no reads, checks or validation.
  The goal is ≥ 0.5× of it in every round.
- DynamoDB: the same service-layer workload on moto's server (in its own
  process, one request at a time as real DynamoDB applies each atomically), for
  the record; moto is not DynamoDB, so this figure says little about AWS.

The service and the floors run in turn, ``--rounds`` times each, on fresh
database files, so machine noise falls on both; the ratio is the median of the
per-round ratios. At the end of every run the totals are checked exactly: the
event's paid_cents equals the sum of the amounts sent, its payment_count and the
rows in the payments table equal the payments sent.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_EVENT,
    REGION,
    MotoProcess,
    Row,
    aws_environment,
    dollars,
    median,
    print_table,
    write_bench_events,
)

THREADS = 32
METHODS = ("cash", "card", "check", "venmo", "zelle")
LOGGED_BY = "U0BENCH0001"
GOAL_PER_SECOND = 2_000
GOAL_RATIO = 0.25
GOAL_FAIR = 0.5  # against a floor that writes the same rows (issue 19)
COMMAND = ".venv/bin/python bench/ledger_bench.py"


def amount_cents(i: int) -> int:
    """The i-th payment's amount: $1.00 to $40.00, spread out, the same every run."""
    return 100 + (i * 7919) % 3901


@dataclass(frozen=True)
class Run:
    what: str
    payments: int
    seconds: float
    paid_cents: int  # the event's total as the store has it afterwards
    payment_count: int  # the event's payment_count afterwards
    rows: int  # payment records the store holds for the event
    expected_cents: int  # the sum of the amounts sent
    requests: int = 0  # DynamoDB requests made while recording (0 on SQLite)

    @property
    def per_second(self) -> float:
        return self.payments / self.seconds

    @property
    def exact(self) -> bool:
        return (self.paid_cents, self.payment_count, self.rows) == (self.expected_cents, self.payments,
                                                                    self.payments)


def _in_threads(payments: int, threads: int, work: Callable[[int, list[int]], None]) -> float:
    """Run ``work(thread_number, indices)`` on ``threads`` threads started together; the wall time.
    An exception in any thread fails the run (no payment may be refused or lost)."""
    shares = [list(range(t, payments, threads)) for t in range(threads)]
    start = threading.Barrier(threads + 1)

    def run(t: int) -> None:
        start.wait()
        work(t, shares[t])

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="writer") as pool:
        futures = [pool.submit(run, t) for t in range(threads)]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()  # raises the thread's exception, if any
        return time.perf_counter() - began


# -- the service layer --------------------------------------------------------------------------------------


def service_run(settings, payments: int, threads: int = THREADS, what: str = "service") -> Run:
    """``payments`` payments through Ledger.record_payment on the store ``settings`` name."""
    from bot.bootstrap import build_services

    services = build_services(settings)
    services.store.init_schema()
    ledger = services.ledger
    requests = []
    client = getattr(services.store, "_client", None)  # DynamoDB: count what recording asks of it
    if client is not None:
        client.meta.events.register("before-call.dynamodb.*", lambda **_: requests.append(1))

    def work(_t: int, indices: list[int]) -> None:
        for i in indices:
            ledger.record_payment(event_id=BENCH_EVENT, patron=f"Patron {i}", amount=dollars(amount_cents(i)),
                                  method=METHODS[i % len(METHODS)], notes="", logged_by=LOGGED_BY,
                                  idempotency_key=f"bench:{i}")

    seconds = _in_threads(payments, threads, work)
    made = len(requests)
    status = ledger.status(BENCH_EVENT)
    rows = len(ledger.event_payments(BENCH_EVENT))
    return Run(what, payments, seconds, status.paid_cents, status.payment_count, rows,
               sum(amount_cents(i) for i in range(payments)), made)


def sqlite_settings(folder: Path, events: Path):
    from bot.config import Settings, StoreSpec

    return Settings(store=StoreSpec("sqlite", str(folder / f"service-{uuid.uuid4().hex[:8]}.db")), events_file=events)


# -- the floor: a bare sqlite3 loop ------------------------------------------------------------------------------

_INSERT = ("INSERT INTO payments (payment_id, event_id, recorded_at, day, patron, amount_cents, method, notes, "
           "logged_by, source, kind, voids, voided_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
_TOTALS = ("INSERT INTO events (event_id, total_cents, paid_cents, payment_count, payment_cleared, updated_at) "
           "VALUES (?,?,?,1,0,?) ON CONFLICT(event_id) DO UPDATE SET paid_cents=paid_cents+excluded.paid_cents, "
           "payment_count=payment_count+1, updated_at=excluded.updated_at")


def _floor_connection(path: str) -> sqlite3.Connection:
    # The same settings as infra/sqlite_store.py's connections.
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


_IDEMPOTENCY = "INSERT INTO idempotency (key, payment_id, created_at) VALUES (?,?,?)"
_PATRON = ("INSERT INTO patron_totals (event_id, patron_key, name, total_cents, payments, records) "
           "VALUES (?,?,?,?,1,1) ON CONFLICT(event_id, patron_key) DO UPDATE SET "
           "total_cents=total_cents+excluded.total_cents, payments=payments+1, records=records+1, name=excluded.name")
_AUDIT = "INSERT OR IGNORE INTO audit (entry_id, day, at, data) VALUES (?,?,?,?)"
_FAIR_TOTALS = ("INSERT INTO events (event_id, total_cents, paid_cents, payment_count, payment_cleared, updated_at, "
                "record_count) VALUES (?,?,?,1,0,?,1) ON CONFLICT(event_id) DO UPDATE SET "
                "paid_cents=paid_cents+excluded.paid_cents, payment_count=payment_count+1, "
                "record_count=record_count+1, updated_at=excluded.updated_at")


def floor_run(folder: Path, payments: int, threads: int = THREADS, *, fair: bool = False) -> Run:
    """The bare floor: the payment and the totals. ``fair``: the same rows the service writes (the
    payment, the event's totals, the patron's totals, the idempotency key and the audit log entry: the
    bench's settings announce nothing else), with no reads, no checks and no Python around them."""
    from infra.sqlite_store import SqliteStore

    path = str(folder / f"floor-{uuid.uuid4().hex[:8]}.db")
    SqliteStore(path).init_schema()  # the same tables and indexes
    total = 100 * 1_000_000
    connections = [_floor_connection(path) for _ in range(threads)]

    def work(t: int, indices: list[int]) -> None:
        conn = connections[t]
        for i in indices:
            now = datetime.now(UTC).isoformat()
            cents = amount_cents(i)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_INSERT, (f"floor_{i}", BENCH_EVENT, now, now[:10], f"Patron {i}", cents,
                                   METHODS[i % len(METHODS)], "", LOGGED_BY, "slack", "payment", None, None))
            if fair:
                conn.execute(_FAIR_TOTALS, (BENCH_EVENT, total, cents, now))
                conn.execute(_PATRON, (BENCH_EVENT, f"patron {i}", f"Patron {i}", cents))
                conn.execute(_IDEMPOTENCY, (f"bench:{i}", f"floor_{i}", now))
                conn.execute(_AUDIT, (f"payment:floor_{i}", now[:10], now, f'{{"amount_cents": {cents}}}'))
            else:
                conn.execute(_TOTALS, (BENCH_EVENT, total, cents, now))
            conn.execute("COMMIT")

    try:
        seconds = _in_threads(payments, threads, work)
        conn = connections[0]
        paid, count = conn.execute("SELECT paid_cents, payment_count FROM events WHERE event_id=?",
                                   (BENCH_EVENT,)).fetchone()
        rows = conn.execute("SELECT count(*) FROM payments WHERE event_id=?", (BENCH_EVENT,)).fetchone()[0]
    finally:
        for conn in connections:
            conn.close()
    return Run("fair floor" if fair else "floor", payments, seconds, paid, count, rows,
               sum(amount_cents(i) for i in range(payments)))


# -- DynamoDB on moto ---------------------------------------------------------------------------------------------


def dynamo_run(endpoint: str, events: Path, payments: int, threads: int = THREADS) -> Run:
    from bot.config import Settings, StoreSpec

    settings = Settings(store=StoreSpec("dynamodb", f"bench-{uuid.uuid4().hex[:8]}"), aws_region=REGION,
                        aws_endpoint_url=endpoint, events_file=events)
    with aws_environment():  # botocore reads its credentials from the environment
        return service_run(settings, payments, threads, what="dynamodb")


# -- the whole bench --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    service: list[Run]
    floor: list[Run]
    dynamo: Run | None
    fair: list[Run] = field(default_factory=list)

    @property
    def fair_per_second(self) -> float:
        return median([r.per_second for r in self.fair])

    @property
    def fair_ratios(self) -> list[float]:
        return [s.per_second / f.per_second for s, f in zip(self.service, self.fair, strict=True)]

    @property
    def service_per_second(self) -> float:
        return median([r.per_second for r in self.service])

    @property
    def floor_per_second(self) -> float:
        return median([r.per_second for r in self.floor])

    @property
    def ratio(self) -> float:
        return median([s.per_second / f.per_second for s, f in zip(self.service, self.floor, strict=True)])

    @property
    def exact(self) -> bool:
        return all(r.exact for r in [*self.service, *self.floor, *self.fair, *([self.dynamo] if self.dynamo else [])])


def run(payments: int = 20_000, rounds: int = 5, dynamo_payments: int | None = 500, threads: int = THREADS,
        log: Callable[[str], None] = print) -> Result:
    made_by: dict[str, list[Run]] = {"service": [], "floor": [], "fair": []}
    service, floor, fair = made_by["service"], made_by["floor"], made_by["fair"]
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-ledger-") as name:
        folder = Path(name)
        events = write_bench_events(folder)
        for n in range(rounds):
            # Rotate which goes first, so none always follows another's checkpoint.
            order = ("service", "floor", "fair")[n % 3:] + ("service", "floor", "fair")[:n % 3]
            for what in order:
                if what == "service":
                    made = service_run(sqlite_settings(folder, events), payments, threads)
                else:
                    made = floor_run(folder, payments, threads, fair=what == "fair")
                made_by[what].append(made)
                log(f"  round {n + 1}: {made.what:<10} {made.payments:,} payments in {made.seconds:.2f}s = "
                    f"{made.per_second:,.0f}/s; totals {'exact' if made.exact else 'WRONG'} "
                    f"({dollars(made.paid_cents)} in {made.payment_count:,} payments, {made.rows:,} rows)")
        dynamo = None
        if dynamo_payments:
            with MotoProcess() as moto:
                dynamo = dynamo_run(moto.endpoint, events, dynamo_payments, threads)
            log(f"  dynamodb (moto): {dynamo.payments:,} payments in {dynamo.seconds:.2f}s = "
                f"{dynamo.per_second:,.0f}/s; totals {'exact' if dynamo.exact else 'WRONG'}; "
                f"{dynamo.requests / dynamo.payments:.1f} DynamoDB requests per payment, moto serving one at a time")
    return Result(service, floor, dynamo, fair)


def rows(result: Result, command: str = COMMAND) -> list[Row]:
    service, floor = result.service_per_second, result.floor_per_second
    exact = "totals exact" if result.exact else "TOTALS WRONG"
    table = [
        Row("ledger: SQLite, 32 writers, payments/s", f"{service:,.0f}/s ({exact})", f"bare sqlite3 {floor:,.0f}/s",
            result.ratio, f"≥ {GOAL_PER_SECOND:,}/s and ≥ {GOAL_RATIO:.2f}×",
            result.exact and service >= GOAL_PER_SECOND and result.ratio >= GOAL_RATIO, command),
    ]
    if result.fair:
        ratios = result.fair_ratios
        table.append(Row(
            "ledger: SQLite, 32 writers, vs a floor writing the same rows (every round)",
            f"{service:,.0f}/s (rounds {min(ratios):.2f}–{max(ratios):.2f}×)",
            f"same-rows sqlite3 {result.fair_per_second:,.0f}/s", median(ratios), f"≥ {GOAL_FAIR:.2f}× every round",
            result.exact and min(ratios) >= GOAL_FAIR, command))
    if result.dynamo is not None:
        d = result.dynamo
        table.append(Row("ledger: DynamoDB (moto), 32 writers, payments/s",
                         f"{d.per_second:,.0f}/s ({'totals exact' if d.exact else 'TOTALS WRONG'}; "
                         f"{d.requests / d.payments:.1f} requests/payment)",
                         f"SQLite service {service:,.0f}/s", d.per_second / service, "for the record",
                         None if d.exact else False, command))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=20_000, help="payments per SQLite run (default 20,000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating service/floor rounds (default 5)")
    parser.add_argument("--dynamodb-payments", type=int, default=500, help="payments on DynamoDB (default 500)")
    parser.add_argument("--no-dynamodb", action="store_true", help="SQLite only")
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    print(f"Ledger throughput, {args.threads} writer threads on one event:")
    result = run(args.payments, args.rounds, None if args.no_dynamodb else args.dynamodb_payments, args.threads)
    print_table(rows(result))
    return 0 if result.exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
