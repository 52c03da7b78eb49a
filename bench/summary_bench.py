"""How long the daily summary takes for a day of 200 payments, with 1,000 and with
100,000 payments on other days in the store. The summary reads the day index
(one query), so the ratio between the two should stay near 1.

    .venv/bin/python bench/summary_bench.py            # SQLite and DynamoDB (moto server)
    .venv/bin/python bench/summary_bench.py --sqlite   # SQLite only

Seeding writes the stores' own record layout in bulk (it is set-up, not what is
measured); the summary itself goes through the ledger and the store as in production.
"""

from __future__ import annotations

import argparse
import os
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

from bot.catalog import load_catalog  # noqa: E402
from bot.domain import Payment  # noqa: E402
from bot.ledger import Ledger  # noqa: E402
from bot.summary import build_summary  # noqa: E402
from infra.dynamo_store import DynamoStore, _item  # noqa: E402
from infra.sqlite_store import SqliteStore  # noqa: E402

TZ = ZoneInfo("America/Los_Angeles")
DAY = date(2026, 12, 1)
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
    return [DAY - timedelta(days=d) for d in range(1, 730)]


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


def time_summary(store, runs: int) -> tuple[float, int]:
    ledger = Ledger(store, load_catalog(EVENTS_FILE), TZ)
    build_summary(ledger, DAY)  # warm-up: connections, caches
    timings = []
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        summary = build_summary(ledger, DAY)
        timings.append(time.perf_counter() - started)
        count = summary.total.count
    return statistics.median(timings), count


def bench(name: str, make_store, seed, runs: int, probe=None) -> list[tuple[str, int, float]]:
    rows = []
    today = payments(200, [DAY], seed=1)
    for history in (1_000, 100_000):
        store = make_store()
        store.init_schema()
        started = time.perf_counter()
        seed(store, today + payments(history, history_days(), seed=history))
        seeded = time.perf_counter() - started
        median, count = time_summary(store, runs)
        assert count == 200, count
        print(f"  {name}: {history:>7,} historical payments seeded in {seeded:.1f}s; summary median "
              f"{median * 1000:.1f} ms over {runs} runs", flush=True)
        if probe is not None:
            probe(store, history)
        rows.append((name, history, median))
    return rows


def moto_server() -> str:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sqlite", action="store_true", help="SQLite only")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite:")
        rows += bench("sqlite", lambda: SqliteStore(Path(folder) / f"{uuid.uuid4().hex}.db"), seed_sqlite, args.runs)
    if not args.sqlite:
        endpoint = moto_server()
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

        def probe(store: DynamoStore, history: int) -> None:
            # What one summary asks of DynamoDB, and what moto itself costs for an empty day's query.
            operations.clear()
            returned.clear()
            build_summary(Ledger(store, load_catalog(EVENTS_FILE), TZ), DAY)
            started = time.perf_counter()
            store.day_payments("1999-01-01")
            empty = time.perf_counter() - started
            print(f"    one summary: {dict(operations)} requests, {returned['Query']} items returned by Query "
                  f"(+1 empty probe); moto's own time for a GSI query of an empty day: {empty * 1000:.0f} ms")

        print("DynamoDB (moto server):")
        rows += bench("dynamodb", make_dynamo, seed_dynamo, max(3, args.runs // 4), probe)
    print("\nstore     1,000 hist   100,000 hist   ratio")
    for name in dict.fromkeys(r[0] for r in rows):
        small, large = (r[2] for r in rows if r[0] == name)
        print(f"{name:<9} {small * 1000:>8.1f} ms  {large * 1000:>10.1f} ms   {large / small:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
