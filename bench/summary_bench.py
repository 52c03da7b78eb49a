"""How long the daily summary takes for a day of 200 payments, with 1,000 and with
100,000 payments on other days in the store. The summary reads the day index
twice (the day, and the same weekday a week before, which holds 100 payments in
both stores), so the ratio between the two should stay near 1. Both stores are
seeded first; then their summaries take turns, so noise falls on both.

    .venv/bin/python bench/summary_bench.py            # SQLite and DynamoDB (moto server)
    .venv/bin/python bench/summary_bench.py --sqlite   # SQLite only

Seeding writes the stores' own record layout in bulk (it is set-up, not what is
measured); the summary itself goes through the ledger and the store as in production.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Row, aws_environment  # noqa: E402
from bot.core.catalog import load_catalog  # noqa: E402
from bot.core.domain import Payment  # noqa: E402
from bot.core.ledger import Ledger  # noqa: E402
from bot.core.summary import build_summary  # noqa: E402
from infra.dynamo_store import DynamoStore, _item  # noqa: E402
from infra.sqlite_store import SqliteStore  # noqa: E402

TZ = ZoneInfo("America/Los_Angeles")
DAY = date(2026, 12, 1)
WEEK_BEFORE = DAY - timedelta(days=7)  # the summary compares the day with it: the same 100 payments in every store
EVENTS_FILE = Path(__file__).resolve().parent.parent / "events.json"
EVENT_IDS = [e.id for e in load_catalog(EVENTS_FILE).events]
METHODS = ["cash", "card", "check", "venmo", "zelle"]


def payments(count: int, days: list[date], seed: int) -> list[Payment]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        day = rng.choice(days)
        moment = datetime(day.year, day.month, day.day, rng.randrange(8, 22), rng.randrange(60), tzinfo=TZ)
        out.append(Payment(
            payment_id=f"pay_{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}", event_id=rng.choice(EVENT_IDS),
            patron=f"Patron {rng.randrange(10_000)}", amount_cents=rng.randrange(1_000, 50_000),
            method=rng.choice(METHODS), notes="", logged_by="U0CREW00001",
            recorded_at=moment.astimezone(UTC), day=day.isoformat(),
        ))
    return out


def history_days() -> list[date]:
    return [DAY - timedelta(days=d) for d in range(1, 730) if d != 7]


def seed_sqlite(store: SqliteStore, records: list[Payment]) -> None:
    with store._write() as conn:
        for p in records:
            store._insert_payment(conn, p)


def seed_dynamo(store: DynamoStore, records: list[Payment]) -> None:
    for start in range(0, len(records), 25):
        batch = [{"PutRequest": {"Item": _item(store._payment_values(p))}} for p in records[start:start + 25]]
        request = {store.table: batch}
        while request:
            request = store._client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def time_summaries(stores: dict[int, object], runs: int) -> dict[int, tuple[float, int]]:
    """history -> (median seconds of one summary, payments it counted). The stores take turns, run after
    run (the order alternating), so machine noise falls on both alike."""
    ledgers = {history: Ledger(store, load_catalog(EVENTS_FILE), TZ) for history, store in stores.items()}
    for ledger in ledgers.values():
        build_summary(ledger, DAY)  # warm-up: connections, caches
    timings: dict[int, list[float]] = {history: [] for history in stores}
    counts: dict[int, int] = {}
    order = list(stores)
    for _ in range(runs):
        for history in order:
            started = time.perf_counter()
            summary = build_summary(ledgers[history], DAY)
            timings[history].append(time.perf_counter() - started)
            counts[history] = summary.total.count
        order.reverse()
    return {history: (statistics.median(timings[history]), counts[history]) for history in stores}


HISTORIES = (1_000, 100_000)


def bench(name: str, make_store, seed, runs: int, probe=None, histories: tuple[int, int] = HISTORIES
          ) -> list[tuple[str, int, float, dict | None]]:
    today = payments(200, [DAY], seed=1) + payments(100, [WEEK_BEFORE], seed=2)
    stores = {}
    for history in histories:
        store = make_store()
        store.init_schema()
        started = time.perf_counter()
        seed(store, today + payments(history, history_days(), seed=history))
        print(f"  {name}: {history:>7,} historical payments seeded in {time.perf_counter() - started:.1f}s",
              flush=True)
        stores[history] = store
    rows = []
    for history, (median, count) in time_summaries(stores, runs).items():
        assert count == 200, count
        print(f"  {name}: {history:>7,} historical payments: summary median {median * 1000:.1f} ms over {runs} runs "
              "(taking turns with the other store)", flush=True)
        rows.append((name, history, median, probe(stores[history], history) if probe is not None else None))
    return rows


def moto_server():
    """moto's server on a thread of this process (call .shutdown() when done); its URL is
    http://127.0.0.1:<server.server_port>."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(sqlite_only: bool = False, runs: int = 20, histories: tuple[int, int] = HISTORIES,
        dynamo_histories: tuple[int, int] | None = None) -> list[tuple[str, int, float, dict | None]]:
    """(store, historical payments, summary median in seconds, DynamoDB requests and items of one
    summary or None) for each store and history size."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite:")
        rows += bench("sqlite", lambda: SqliteStore(Path(folder) / f"{uuid.uuid4().hex}.db"), seed_sqlite, runs,
                      histories=histories)
    if not sqlite_only:
        server = moto_server()
        endpoint = f"http://127.0.0.1:{server.server_port}"
        operations: Counter[str] = Counter()
        stores = []

        returned: Counter[str] = Counter()

        def count_items(http_response, parsed, model, **_):
            if model.name == "Query":
                returned[model.name] += parsed.get("Count", 0)

        def make_dynamo() -> DynamoStore:
            store = DynamoStore(f"bench-{uuid.uuid4().hex[:8]}", region="us-west-2", endpoint_url=endpoint)
            store._client.meta.events.register("before-call.dynamodb.*",
                                               lambda model, **_: operations.update([model.name]))
            store._client.meta.events.register("after-call.dynamodb.*", count_items)
            stores.append(store)
            return store

        def probe(store: DynamoStore, history: int) -> dict:
            # What one summary asks of DynamoDB, and what moto itself costs for an empty day's query.
            operations.clear()
            returned.clear()
            build_summary(Ledger(store, load_catalog(EVENTS_FILE), TZ), DAY)
            started = time.perf_counter()
            store.day_payments("1999-01-01")
            empty = time.perf_counter() - started
            print(f"    one summary: {dict(operations)} requests, {returned['Query']} items returned by Query "
                  f"(+1 empty probe); moto's own time for a GSI query of an empty day: {empty * 1000:.0f} ms")
            return {"requests": sum(operations.values()) - 1, "items": returned["Query"], "empty_query": empty}

        print("DynamoDB (moto server):")
        try:
            with aws_environment():
                rows += bench("dynamodb", make_dynamo, seed_dynamo, max(3, runs // 4), probe,
                              histories=dynamo_histories or histories)
        finally:
            server.shutdown()
    return rows


def table_rows(results: list[tuple[str, int, float, dict | None]],
               command: str = ".venv/bin/python bench/summary_bench.py") -> list:
    """The benchmark table's rows (bench/common.Row): the summary with the larger history against the smaller."""
    table = []
    goal = "near 1× (≤ 1.5×): an index, not a scan"
    for name in dict.fromkeys(r[0] for r in results):
        (_, small_n, small, small_probe), (_, large_n, large, large_probe) = (r for r in results if r[0] == name)
        ratio = large / small
        label = f"summary of a 200-payment day, {name}{' (moto)' if small_probe else ''}"
        if small_probe and large_probe:
            # What opsbot asks of DynamoDB does not grow with history; moto's GSI query does (it scans).
            work = large_probe["requests"] + large_probe["items"]
            base = small_probe["requests"] + small_probe["items"]
            table.append(Row(f"{label}: requests + items read, {large_n:,} vs {small_n:,} other payments",
                             f"{large_probe['requests']} requests, {large_probe['items']} items",
                             f"{small_probe['requests']} requests, {small_probe['items']} items", work / base, goal,
                             work / base <= 1.5, command))
            table.append(Row(f"{label}: wall time, {large_n:,} vs {small_n:,} other payments",
                             f"{large * 1000:.0f} ms", f"{small * 1000:.0f} ms", ratio,
                             f"for the record (moto's empty-day query alone: {large_probe['empty_query'] * 1000:.0f}"
                             f" vs {small_probe['empty_query'] * 1000:.0f} ms)", None, command))
            continue
        table.append(Row(f"{label}: {large_n:,} vs {small_n:,} other payments", f"{large * 1000:.1f} ms",
                         f"{small * 1000:.1f} ms", ratio, goal, ratio <= 1.5, command))
    return table


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sqlite", action="store_true", help="SQLite only")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rows = run(args.sqlite, args.runs)
    print("\nstore     1,000 hist   100,000 hist   ratio")
    for name in dict.fromkeys(r[0] for r in rows):
        small, large = (r[2] for r in rows if r[0] == name)
        print(f"{name:<9} {small * 1000:>8.1f} ms  {large * 1000:>10.1f} ms   {large / small:5.2f}")
    from bench.common import print_table

    print_table(table_rows(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
