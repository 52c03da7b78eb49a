"""Crash safety of the SQLite ledger: a child process writes payments, Stripe
payments and voids in a loop and is killed with SIGKILL at seeded random
moments, 20 times, on one database. After every kill the store, opened fresh,
must be whole: totals equal to the records, no half-written payment, every
acknowledged write present once, and every idempotency key still blocking
its duplicate.

The moment of each kill is counted in acknowledged lines read from the child
(never a wall-clock sleep): after reading k of them the parent kills at once,
while the child is somewhere in its next write.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.core.ledger import Ledger
from tests.conftest import REPO
from tests.crash_writer import EVENT_IDS, open_ledger, operation, perform, write_events_file

KILLS = 20
SEED = 20260523
TOTAL_CENTS = 10_000_000  # $100,000.00 per event: no payment of the loop is ever over the total

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")]


@dataclass(frozen=True)
class Ack:
    n: int
    op: str
    record_id: str
    replayed: bool


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    return write_events_file(tmp_path / "events.json", TOTAL_CENTS)


def start_writer(db: Path, events_file: Path, first: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.crash_writer", str(db), str(events_file), str(first)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        env={k: v for k, v in os.environ.items() if not k.startswith("OPSBOT_")},
    )


def parse(line: str) -> Ack:
    n, op, record_id, how = line.split()
    return Ack(int(n), op, record_id, how == "replayed")


KILL_POINTS = ("ack", "begin", "txn", "committed")


def run_and_kill(db: Path, events_file: Path, first: int, kill_after: int, point: str) -> list[Ack]:
    """Start a writer at step ``first``; once it has acknowledged ``kill_after``
    steps, SIGKILL it right after reading the next line of kind ``point``:
    ``ack`` (that acknowledgement itself: it is starting the next step),
    ``begin`` (the next step has begun), ``txn`` (its write transaction is
    open) or ``committed`` (it committed and has not acknowledged yet).
    Returns every acknowledgement it wrote before it died."""
    child = start_writer(db, events_file, first)
    assert child.stdout is not None
    lines: list[str] = []
    acked = 0
    try:
        while True:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"the writer stopped by itself: {child.stderr.read() if child.stderr else ''}")
            lines.append(line)
            kind = line.split()[0] if line.split()[0] in ("begin", "txn", "committed") else "ack"
            if kind == "ack":
                acked += 1
            if kind == point and acked == kill_after:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        # Read through the text buffer first: communicate() would skip what it already holds.
        rest = child.stdout.read()
        child.wait(timeout=30)
        assert child.stderr is not None
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    # Lines the child wrote before it died count too; a torn last line does not.
    lines.extend(line + "\n" for line in rest.split("\n")[:-1])
    acks = [parse(line) for line in lines if line.split()[0] not in ("begin", "txn", "committed")]
    assert [a.n for a in acks] == list(range(first, first + len(acks)))
    return acks


def check_store(db: Path, ledger: Ledger, acked: dict[int, Ack]) -> None:
    """The store as a fresh process finds it after the crash."""
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        # Every record has its idempotency key, and every key its record: nothing half-written.
        orphans = raw.execute(
            "SELECT p.payment_id FROM payments p LEFT JOIN idempotency i ON i.payment_id = p.payment_id "
            "WHERE i.key IS NULL").fetchall()
        dangling = raw.execute(
            "SELECT i.key FROM idempotency i LEFT JOIN payments p ON p.payment_id = i.payment_id "
            "WHERE p.payment_id IS NULL").fetchall()
        assert (orphans, dangling) == ([], [])
        # A void and the mark on the payment it voids are both there, or neither.
        unmatched = raw.execute(
            "SELECT p.payment_id FROM payments p LEFT JOIN payments v ON v.payment_id = p.voided_by "
            "WHERE p.voided_by IS NOT NULL AND (v.voids IS NOT p.payment_id OR v.kind != 'void' "
            "  OR v.amount_cents != -p.amount_cents) "
            "UNION ALL SELECT v.payment_id FROM payments v LEFT JOIN payments p ON p.payment_id = v.voids "
            "WHERE v.kind = 'void' AND (p.voided_by IS NOT v.payment_id)").fetchall()
        assert unmatched == []
        keys = dict(raw.execute("SELECT key, payment_id FROM idempotency").fetchall())
        assert raw.execute("SELECT count(*) FROM payments").fetchone() == (len(keys),)  # one key, one record
    finally:
        raw.close()

    # Totals equal the records: payments minus voids, in cents and in count.
    store = ledger.store
    totals = store.event_totals(EVENT_IDS)
    for event_id in EVENT_IDS:
        records = store.event_payments(event_id)
        paid = sum(p.amount_cents for p in records if not p.is_void) - sum(-p.amount_cents for p in records
                                                                          if p.is_void)
        count = sum(1 for p in records if not p.is_void) - sum(1 for p in records if p.is_void)
        shown = totals.get(event_id)
        assert (shown.paid_cents if shown else 0, shown.payment_count if shown else 0) == (paid, count), event_id

    # Every acknowledged write is there, exactly once, under its key.
    for ack in acked.values():
        step = operation(ack.n)
        key = f"void:{keys_voided(ledger, step.key)}" if step.op == "void" else step.key
        assert keys.get(key) == ack.record_id, (ack, key)


def keys_voided(ledger: Ledger, payment_key: str) -> str:
    earlier = ledger.replay(payment_key)
    assert earlier is not None
    return earlier.payment.payment_id


def replay_steps(ledger: Ledger, acks: list[Ack]) -> None:
    """Every acknowledged step again: nothing new is written, the first record comes back."""
    for ack in acks:
        again = perform(ledger, operation(ack.n))
        assert (again.replayed, again.payment.payment_id) == (True, ack.record_id), ack


def finish_in_flight(ledger: Ledger, n: int) -> Ack:
    """The step the child may have been writing when it died: it landed whole
    (a replay answers it) or not at all (this records it, once)."""
    first = perform(ledger, operation(n))
    second = perform(ledger, operation(n))
    assert (second.replayed, second.payment.payment_id) == (True, first.payment.payment_id)
    return Ack(n, operation(n).op, first.payment.payment_id, first.replayed)


def test_sigkill_at_random_moments_never_tears_the_ledger(tmp_path, events_file):
    db = tmp_path / "crash.db"
    rng = random.Random(SEED)
    acked: dict[int, Ack] = {}
    in_flight_landed = 0
    points = dict.fromkeys(KILL_POINTS, 0)
    next_step = 0
    for _ in range(KILLS):
        point = KILL_POINTS[rng.randrange(len(KILL_POINTS))]
        points[point] += 1
        acks = run_and_kill(db, events_file, next_step, kill_after=rng.randint(1, 40), point=point)
        assert all(not a.replayed for a in acks), "a fresh step answered as a replay"
        acked.update((a.n, a) for a in acks)

        ledger = open_ledger(str(db), str(events_file))
        check_store(db, ledger, acked)
        replay_steps(ledger, acks)
        in_flight = finish_in_flight(ledger, acks[-1].n + 1)
        in_flight_landed += in_flight.replayed
        acked[in_flight.n] = in_flight
        check_store(db, ledger, acked)
        next_step = in_flight.n + 1

    # At the end, every key ever acknowledged still blocks its duplicate.
    ledger = open_ledger(str(db), str(events_file))
    replay_steps(ledger, sorted(acked.values(), key=lambda a: a.n))
    check_store(db, ledger, acked)
    assert len(acked) == next_step >= KILLS * 2
    payments = sum(1 for a in acked.values() if a.op != "void")
    voids = sum(1 for a in acked.values() if a.op == "void")
    assert sum(t.payment_count for t in ledger.store.event_totals(EVENT_IDS).values()) == payments - voids
    print(f"\n{KILLS} kills (after {points}), {len(acked)} steps ({payments} payments, {voids} voids); "
          f"{in_flight_landed} in-flight writes had landed before the kill")
