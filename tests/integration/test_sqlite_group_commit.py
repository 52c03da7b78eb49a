"""Group commit on the SQLite store (infra/sqlite_group_commit.py): payments that arrive while
another is being written are committed together, each in its own savepoint. Groups are made
deterministically here by holding the file's writer lock while the writers queue up."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.domain import Event, EventTotals, Payment
from bot.core.outbox import SLACK_LANE, Announcer, Targets
from bot.core.ports import OverTotal, StoreError
from infra.sqlite_group_commit import GroupCommit
from infra.sqlite_store import SqliteStore

TOTAL = 10_000


def payment(n: int, amount: int) -> Payment:
    at = datetime(2026, 12, 1, 12, tzinfo=UTC) + timedelta(seconds=n)
    return Payment(payment_id=f"p{n}", event_id="gala", patron=f"Patron {n}", amount_cents=amount, method="cash",
                   notes="", logged_by="U0TEST", recorded_at=at, day="2026-12-01")


def wait_until(check: Callable[[], bool], what: str) -> None:
    """The writer threads queue up in their own time: wait (bounded) until they have."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


@pytest.fixture
def store(tmp_path) -> SqliteStore:
    made = SqliteStore(tmp_path / "ledger.db")
    made.init_schema()
    return made


def queued(store: SqliteStore) -> int:
    return len(store._group._queue)


GALA = Event(id="gala", title="Gala", date=None, total_cents=TOTAL)
ANNOUNCER = Announcer(Targets(audit_channel="C0AUDIT0001"), day_of=lambda at: at.date().isoformat())


def record(store: SqliteStore, n: int, amount: int, key: str | None = None):
    return store.record_payment(payment(n, amount), total_cents=TOTAL, idempotency_key=key or f"key-{n}",
                                announce=lambda outcome: ANNOUNCER.payment_recorded(outcome, GALA))


@contextmanager
def one_group(store: SqliteStore, writes: list[tuple[int, int, str | None]]) -> Iterator[list[Future]]:
    """Start ``writes`` (n, amount, key) as one group, in this order: the writer lock is held until
    they have all queued (the first leads, and takes its group once it holds the lock)."""
    with ThreadPoolExecutor(len(writes)) as pool:
        with store._writer:
            first = pool.submit(record, store, *writes[0])
            wait_until(lambda: store._group._leading and queued(store) == 1, "the first write leads")
            rest = []
            for i, write in enumerate(writes[1:], start=2):
                rest.append(pool.submit(record, store, *write))
                wait_until(lambda i=i: queued(store) == i, f"{i} writes are queued")
        yield [first, *rest]


def test_a_write_that_fails_in_a_group_is_rolled_back_alone(store):
    writes = [(1, 100, None), (2, 200, None), (3, TOTAL, None), (4, 400, None)]  # 3 would pass the total
    with one_group(store, writes) as futures:
        results = [f.exception() or f.result() for f in futures]
    assert isinstance(results[2], OverTotal)
    assert [r.payment.payment_id for i, r in enumerate(results) if i != 2] == ["p1", "p2", "p4"]
    assert [r.totals.paid_cents for i, r in enumerate(results) if i != 2] == [100, 300, 700]  # each sees those before
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", 700, 3)
    assert sorted(p.payment_id for p in store.event_payments("gala")) == ["p1", "p2", "p4"]
    # Written again after the refusal, each payment is announced once, with the totals after it.
    lines = store.due_entries(SLACK_LANE, datetime(2027, 1, 1, tzinfo=UTC), 10)
    assert [(e.record_id, e.facts["paid_cents"]) for e in lines] == [("p1", 100), ("p2", 300), ("p4", 700)]
    assert [e.entry_id for e in store.day_audit("2026-12-01")] == ["payment:p1", "payment:p2", "payment:p4"]
    # The refused payment's key was rolled back with it: the same key may be used again.
    assert record(store, 3, 50, key="key-3").payment.payment_id == "p3"


def test_one_key_twice_in_a_group_is_recorded_once(store):
    writes = [(1, 100, None), (2, 250, "same"), (2, 250, "same")]
    with one_group(store, writes) as futures:
        first, again = futures[1].result(), futures[2].result()
    assert (first.replayed, again.replayed) == (False, True)
    assert again.payment.payment_id == first.payment.payment_id
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", 350, 2)


def test_a_commit_that_fails_fails_every_write_of_its_group_and_keeps_none(tmp_path):
    db = tmp_path / "plain.db"
    setup = sqlite3.connect(db)
    setup.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    setup.close()
    writer = threading.Lock()
    group = GroupCommit()
    commits = []

    @contextmanager
    def transaction() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        with writer:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            commits.append(1)
            if len(commits) == 1:  # the group's commit
                conn.execute("ROLLBACK")
                raise StoreError("disk I/O error")
            conn.execute("COMMIT")

    def insert(n: int) -> Callable[[sqlite3.Connection], int]:
        return lambda conn: conn.execute("INSERT INTO t (n) VALUES (?)", (n,)).rowcount

    with ThreadPoolExecutor(3) as pool:
        with writer:
            first = pool.submit(group.run, insert(1), transaction, StoreError)
            wait_until(lambda: group._leading and len(group._queue) == 1, "the first write leads")
            second = pool.submit(group.run, insert(2), transaction, StoreError)
            wait_until(lambda: len(group._queue) == 2, "two are queued")
            third = pool.submit(group.run, insert(3), transaction, StoreError)
            wait_until(lambda: len(group._queue) == 3, "three are queued")
        for write in (first, second, third):
            with pytest.raises(StoreError, match="disk I/O error"):
                write.result()
    check = sqlite3.connect(db)
    assert check.execute("SELECT n FROM t").fetchall() == []
    assert not group._leading and not group._queue
    assert group.run(insert(4), transaction, StoreError) == 1  # the next write leads a group of its own
    assert check.execute("SELECT n FROM t").fetchall() == [(4,)]


def test_32_writers_give_exact_totals_each_payment_in_one_group(store):
    amounts = [100 + i for i in range(32 * 8)]
    barrier = threading.Barrier(32)
    sizes = []
    take = store._group._take

    def counting_take(leader):
        group = take(leader)
        sizes.append(len(group))
        return group

    store._group._take = counting_take

    def pay(t: int) -> None:
        barrier.wait()
        for i in range(t, len(amounts), 32):
            store.record_payment(payment(i, amounts[i]), total_cents=10_000_000, idempotency_key=f"k{i}")

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(pay, range(32)))
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", sum(amounts), len(amounts))
    assert sum(sizes) == len(amounts)  # every payment was written in exactly one group
