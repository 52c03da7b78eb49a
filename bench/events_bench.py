"""``/events EVENT`` and ``/events`` against history: the answer should cost the same whatever
the ledger holds.

    .venv/bin/python bench/events_bench.py             # SQLite and DynamoDB (moto server)
    .venv/bin/python bench/events_bench.py --sqlite    # SQLite only

- ``/events EVENT`` with 100,000 records on the event against 10,000 (50 patrons, one record in
  ten a void): the reply is built by the handler's own function (handlers/commands/events.py,
  the ledger, the store), timed; on DynamoDB the requests and the items read are counted too
  (moto answers a query by looking at the whole partition, which DynamoDB does not: its wall
  time is for the record).
- ``/events`` with 500 events in events.json against 6 (every event with totals).

Seeding writes the stores' own layout in bulk (set-up, not what is measured). The two sizes
take turns, so noise falls on both; the medians are compared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MotoProcess, Row, aws_environment, print_table  # noqa: E402
from bot.core.catalog import load_catalog  # noqa: E402
from bot.core.domain import Payment  # noqa: E402
from bot.core.ledger import Ledger  # noqa: E402
from bot.core.patrons import patron_key  # noqa: E402
from handlers.commands.events import events_reply  # noqa: E402
from infra.dynamo_store import ITEM_FORMAT, DynamoStore, _item  # noqa: E402
from infra.sqlite_store import SqliteStore  # noqa: E402

COMMAND = ".venv/bin/python bench/events_bench.py"
TZ = ZoneInfo("America/Los_Angeles")
EVENT = "bench-big-night"
PATRONS = 50
T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
GOAL_DETAIL = 1.3
GOAL_LIST = 2.0


def write_events(folder: Path, count: int) -> Path:
    path = folder / f"events-{count}.json"
    events = [{"id": EVENT if n == 0 else f"bench-event-{n:04d}", "title": f"Bench Event {n}",
               "date": (datetime(2027, 1, 1) + timedelta(days=n % 300)).date().isoformat(), "total": 1_000_000}
              for n in range(count)]
    path.write_text(json.dumps({"events": events, "sites": []}))
    return path


def records(count: int) -> list[Payment]:
    """``count`` records on EVENT, oldest first; every tenth a void of the payment before it."""
    made: list[Payment] = []
    for n in range(count):
        at = T0 + timedelta(seconds=n)
        if n % 10 == 9:
            original = made[-1]
            made[-1] = Payment(**{**original.__dict__, "voided_by": f"void_{n:08d}"})
            made.append(Payment(payment_id=f"void_{n:08d}", event_id=EVENT, patron=original.patron,
                                amount_cents=-original.amount_cents, method=original.method,
                                notes=f"void of {original.payment_id}", logged_by="U0CREW00001", recorded_at=at,
                                day=at.date().isoformat(), kind="void", voids=original.payment_id))
        else:
            made.append(Payment(payment_id=f"pay_{n:08d}", event_id=EVENT, patron=f"Patron {n % PATRONS}",
                                amount_cents=100 + n % 5_000, method="cash", notes="", logged_by="U0CREW00001",
                                recorded_at=at, day=at.date().isoformat()))
    return made


def patron_rows(made: list[Payment]) -> dict[str, list]:
    """key -> [name, total, payments standing, records]."""
    rows: dict[str, list] = {}
    for p in made:
        row = rows.setdefault(patron_key(p.patron), [p.patron, 0, 0, 0])
        row[1] += p.amount_cents
        row[2] += 0 if p.is_reversal else 1
        row[2] -= 1 if p.is_reversal else 0
        row[3] += 1
    return rows


def seed_sqlite(store: SqliteStore, made: list[Payment]) -> None:
    paid = sum(p.amount_cents for p in made)
    count = sum(-1 if p.is_reversal else 1 for p in made)
    with store._write() as conn:
        for p in made:
            store._insert_payment(conn, p)
        conn.execute("INSERT INTO events (event_id, total_cents, paid_cents, payment_count, payment_cleared, "
                     "updated_at, record_count) VALUES (?,?,?,?,0,?,?)",
                     (EVENT, 100_000_000, paid, count, T0.isoformat(), len(made)))
        conn.executemany("INSERT INTO patron_totals VALUES (?,?,?,?,?,?)",
                         [(EVENT, key, *row) for key, row in patron_rows(made).items()])


def seed_dynamo(store: DynamoStore, made: list[Payment]) -> None:
    paid = sum(p.amount_cents for p in made)
    count = sum(-1 if p.is_reversal else 1 for p in made)
    items = [store._payment_values(p) for p in made]
    items.append({"PK": f"EVENT#{EVENT}", "SK": "META", "paid_cents": paid, "payment_count": count,
                  "record_count": len(made), "patrons_kept": True, "total_cents": 100_000_000, "event_id": EVENT,
                  "payment_cleared": False, "updated_at": T0.isoformat(), "fmt": ITEM_FORMAT})
    items += [{"PK": f"EVENT#{EVENT}", "SK": f"PATRON#{key}", "type": "patron", "patron_key": key, "patron": row[0],
               "total_cents": row[1], "payments": row[2], "records": row[3], "fmt": ITEM_FORMAT}
              for key, row in patron_rows(made).items()]
    for start in range(0, len(items), 25):
        request = {store.table: [{"PutRequest": {"Item": _item(i)}} for i in items[start:start + 25]]}
        while request:
            request = store._client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


class Reads:
    """DynamoDB requests and items read (the Count of each Query, the responses of a BatchGetItem)."""

    def __init__(self, client: Any) -> None:
        self.requests = 0
        self.items = 0
        self._lock = threading.Lock()
        client.meta.events.register("after-call.dynamodb", self._seen)

    def _seen(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.requests += 1
            self.items += parsed.get("Count", 0) + sum(len(v) for v in parsed.get("Responses", {}).values())

    def take(self) -> tuple[int, int]:
        with self._lock:
            taken = (self.requests, self.items)
            self.requests = self.items = 0
        return taken


@dataclass(frozen=True)
class Pair:
    what: str
    store: str
    small: str
    large: str
    small_ms: float
    large_ms: float
    small_reads: tuple[int, int] | None = None
    large_reads: tuple[int, int] | None = None

    @property
    def ratio(self) -> float:
        return self.large_ms / self.small_ms


def _time(reply: Callable[[], dict], runs: int, reads: Reads | None) -> tuple[list[float], tuple[int, int] | None]:
    times = []
    seen = None
    for _ in range(runs):
        if reads:
            reads.take()
        started = time.perf_counter()
        answer = reply()
        times.append((time.perf_counter() - started) * 1000)
        if reads:
            seen = reads.take()
        assert answer.get("blocks"), answer
    return times, seen


def compare(what: str, store_name: str, labels: tuple[str, str], replies: tuple[Callable[[], dict], ...],
            runs: int, reads: tuple[Reads | None, Reads | None] = (None, None)) -> Pair:
    """Take turns, ``runs`` each; the medians."""
    for reply in replies:  # warm: the first call of each opens connections and loads what is lazy
        reply()
    small_times: list[float] = []
    large_times: list[float] = []
    small_reads = large_reads = None
    for _ in range(runs):
        times, small_reads = _time(replies[0], 1, reads[0])
        small_times += times
        times, large_reads = _time(replies[1], 1, reads[1])
        large_times += times
    return Pair(what, store_name, labels[0], labels[1], statistics.median(small_times),
                statistics.median(large_times), small_reads, large_reads)


# The event's payment links are not what is measured (the container always has Paylinks; this one has none).
NO_PAYLINKS = SimpleNamespace(event_links=lambda event_id: [])


def detail_reply(store: Any, events_file: Path) -> Callable[[], dict]:
    services = SimpleNamespace(ledger=Ledger(store, load_catalog(events_file), TZ), paylinks=NO_PAYLINKS)
    return lambda: events_reply(EVENT, "U0CREW00001", services=services)


def list_reply(store: Any, events_file: Path) -> Callable[[], dict]:
    services = SimpleNamespace(ledger=Ledger(store, load_catalog(events_file), TZ), paylinks=NO_PAYLINKS)
    return lambda: events_reply("", "U0CREW00001", services=services)


def slack_round_trips(folder: Path, runs: int) -> Pair:
    """``/events`` as Slack waits for it: a signed request to the running bot (waitress, Bolt, the
    permission middleware, the handler) and its answer, 6 events against 500, taking turns."""
    from bench.round_trips_bench import running_bot

    bots = {}
    times: dict[int, list[float]] = {6: [], 500: []}
    with contextlib.ExitStack() as stack:
        for count in (6, 500):
            events_file = write_events(folder, count)
            store = SqliteStore(folder / f"slack-{count}.db")
            store.init_schema()
            seed_event_totals(store, events_file)
            bots[count] = stack.enter_context(running_bot(None, OPSBOT_STORE=f"sqlite:///{store.path}",
                                                          OPSBOT_EVENTS_FILE=str(events_file)))
        for _ in range(runs + 1):
            for count, bot in bots.items():
                started = time.perf_counter()
                reply = bot.command("/events")
                times[count].append((time.perf_counter() - started) * 1000)
                assert reply.status == 200 and reply.json().get("blocks"), reply.body
    few, many = (statistics.median(times[n][1:]) for n in (6, 500))
    return Pair("/events (signed request, as Slack waits)", "sqlite", "6 events", "500 events", few, many)


def seed_event_totals(store: SqliteStore, events_file: Path) -> None:
    with store._write() as conn:
        for event in load_catalog(events_file).events:
            conn.execute("INSERT OR IGNORE INTO events (event_id, total_cents, paid_cents, payment_count, "
                         "payment_cleared, updated_at, record_count) VALUES (?, ?, 50000, 3, 0, ?, 3)",
                         (event.id, event.total_cents, T0.isoformat()))


def run(*, small: int = 10_000, large: int = 100_000, runs: int = 15, dynamodb: bool = True,
        dynamo_runs: int = 5) -> list[Pair]:
    pairs = []
    with tempfile.TemporaryDirectory(prefix="opsbot-events-bench-") as folder:
        root = Path(folder)
        one_event = write_events(root, 1)
        stores = {}
        for size in (small, large):
            store = SqliteStore(root / f"ledger-{size}.db")
            store.init_schema()
            seed_sqlite(store, records(size))
            stores[size] = store
        pairs.append(compare("/events EVENT", "sqlite", (f"{small:,} records", f"{large:,} records"),
                             (detail_reply(stores[small], one_event), detail_reply(stores[large], one_event)), runs))
        few, many = write_events(root, 6), write_events(root, 500)
        lists = {}
        for name, events_file in (("few", few), ("many", many)):
            store = SqliteStore(root / f"events-{name}.db")
            store.init_schema()
            seed_event_totals(store, events_file)
            lists[name] = list_reply(store, events_file)
        pairs.append(compare("/events", "sqlite", ("6 events", "500 events"), (lists["few"], lists["many"]), runs))
        pairs.append(slack_round_trips(root, runs))
        if dynamodb:
            with aws_environment(), MotoProcess() as moto:
                tables = {}
                for size in (small, large):
                    store = DynamoStore(f"opsbot-events-{uuid.uuid4().hex[:8]}", region="us-west-2",
                                        endpoint_url=moto.endpoint)
                    store.init_schema()
                    started = time.perf_counter()
                    seed_dynamo(store, records(size))
                    print(f"seeded {size:,} records on moto in {time.perf_counter() - started:.0f} s")
                    tables[size] = store
                pairs.append(compare(
                    "/events EVENT", "dynamodb (moto)", (f"{small:,} records", f"{large:,} records"),
                    (detail_reply(tables[small], one_event), detail_reply(tables[large], one_event)), dynamo_runs,
                    (Reads(tables[small]._client), Reads(tables[large]._client))))
    return pairs


def rows(pairs: list[Pair]) -> list[Row]:
    made = []
    for p in pairs:
        goal_ratio = GOAL_DETAIL if p.what.startswith("/events EVENT") else GOAL_LIST
        figure = f"{p.large_ms:.1f} ms"
        baseline = f"{p.small_ms:.1f} ms"
        if p.large_reads and p.small_reads:
            figure += f", {p.large_reads[0]} requests, {p.large_reads[1]} items"
            baseline += f", {p.small_reads[0]} requests, {p.small_reads[1]} items"
            met = p.large_reads == p.small_reads
            made.append(Row(f"{p.what}, {p.store}: {p.large} vs {p.small}", figure, baseline, p.ratio,
                            "the same requests and items (moto's time for the record)", met, COMMAND))
        elif p.what == "/events":
            # The handler's function alone draws 48 lines against 6: eight times the drawing, whatever the
            # reads cost. The goal is the time the crew waits for (the signed request's row).
            made.append(Row(f"{p.what}, {p.store}: {p.large} vs {p.small} (the function alone: 48 lines drawn vs 6)",
                            figure, baseline, p.ratio, "for the record", None, COMMAND))
        else:
            made.append(Row(f"{p.what}, {p.store}: {p.large} vs {p.small}", figure, baseline, p.ratio,
                            f"≤ {goal_ratio}×", p.ratio <= goal_ratio, COMMAND))
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite only")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    pairs = run(small=args.small, large=args.large, runs=args.runs, dynamodb=not args.sqlite)
    print_table(rows(pairs), "/events against history")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
