"""A child process for the crash-safety test: writes to the SQLite ledger in a
loop until it is killed.

    python -m tests.crash_writer DB_PATH EVENTS_FILE FIRST_STEP

Step ``n`` is always the same operation with the same idempotency key
(``operation(n)``), so the parent can tell what was in flight when it killed the
process and replay it. The child prints (and flushes) ``begin n`` before each
step, ``txn`` once its write transaction holds the lock, ``committed`` after
the commit, and then ``n op record_id new|replayed``: only that last line is an
acknowledged write.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core.catalog import load_catalog
from bot.core.ledger import Ledger, LedgerResult
from infra.sqlite_store import SqliteStore

EVENT_IDS = ("crash-charter-a", "crash-charter-b", "crash-charter-c")
METHODS = ("cash", "card", "check", "venmo", "zelle")


@dataclass(frozen=True)
class Step:
    n: int
    op: str  # pay | void | stripe
    key: str  # the idempotency key of the write (for a void: the payment it voids is found by this key)
    event_id: str
    amount_cents: int
    method: str
    patron: str


def operation(n: int) -> Step:
    """What step ``n`` does: mostly payments, every sixth a void of step n-2's
    payment, every sixth a Stripe payment (recorded past the total, keyed by event id)."""
    event_id = EVENT_IDS[n % len(EVENT_IDS)]
    amount = 100 + (n * 37) % 900  # $1.00 .. $9.99
    patron = f"Patron {n}"
    kind = n % 6
    if kind == 3:
        return Step(n, "void", f"crash:{n - 2}", event_id, amount, METHODS[n % 5], patron)
    if kind == 5:
        return Step(n, "stripe", f"stripe:evt_crash_{n}", event_id, amount, "stripe", patron)
    return Step(n, "pay", f"crash:{n}", event_id, amount, METHODS[n % 5], patron)


def perform(ledger: Ledger, step: Step) -> LedgerResult:
    """Do step ``n`` (again): the same keys every time, so a repeat writes nothing new."""
    if step.op == "pay":
        amount = f"{step.amount_cents // 100}.{step.amount_cents % 100:02d}"
        return ledger.record_payment(event_id=step.event_id, patron=step.patron, amount=amount, method=step.method,
                                     notes=f"step {step.n}", logged_by="U0CRASH0001", idempotency_key=step.key)
    if step.op == "stripe":
        return ledger.record_stripe_payment(event_id=step.event_id, patron=step.patron,
                                            amount_cents=step.amount_cents, notes=f"step {step.n}",
                                            idempotency_key=step.key)
    voided = ledger.replay(step.key)
    if voided is None:
        raise SystemExit(f"step {step.n}: the payment of {step.key} is not in the ledger")
    return ledger.void_payment(voided.payment.payment_id, by="U0CRASH0001")


class MarkedStore(SqliteStore):
    """The real store, announcing where its write transaction is: ``txn`` once
    it holds the write lock (inside the transaction), ``committed`` right after
    the commit. The parent kills right after reading one of them."""

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with super()._write() as conn:
            _say("txn")
            yield conn
        _say("committed")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def write_events_file(path: Path, total_cents: int) -> Path:
    """An events.json with the writer's events, each with this total."""
    path.write_text(json.dumps({"events": [
        {"id": event_id, "title": f"Crash Charter {event_id[-1].upper()}", "date": "2027-03-01",
         "total": total_cents // 100} for event_id in EVENT_IDS], "sites": []}))
    return path


def open_ledger(db_path: str, events_file: str, *, marked: bool = False) -> Ledger:
    store = MarkedStore(db_path) if marked else SqliteStore(db_path)
    store.init_schema()
    return Ledger(store, load_catalog(Path(events_file)), ZoneInfo("America/Los_Angeles"))


def main(argv: list[str]) -> int:
    db_path, events_file, first = argv[0], argv[1], int(argv[2])
    ledger = open_ledger(db_path, events_file, marked=True)
    n = first
    while True:
        _say(f"begin {n}")  # not an acknowledgement: the parent may kill right after it
        result = perform(ledger, operation(n))
        _say(f"{n} {operation(n).op} {result.payment.payment_id} {'replayed' if result.replayed else 'new'}")
        n += 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
