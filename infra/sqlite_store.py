"""The embedded default store: SQLite in WAL mode, one transaction per write.

The schema carries its version in ``PRAGMA user_version`` and grows by ordered
migrations (MIGRATIONS below), each applied in one transaction together with its
version stamp: ``init-store`` and start-up bring an older ledger up to date in
place, and a ledger written by a newer opsbot is refused, never guessed at."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.core.domain import REFUND_FAILED, AuditEntry, EventOverview, EventTotals, PatronTotal, Payment, RecordOutcome
from bot.core.outbox import (
    AUDIT,
    DELIVERED,
    HELD,
    PARKED,
    PENDING,
    Announce,
    Announcement,
    Claim,
    OutboxEntry,
    Settled,
    entry_id,
    lone_line,
)
from bot.core.patrons import patron_key, stored_name
from bot.core.ports import (
    SUMMARIES_KEPT,
    Fold,
    IdempotencyConflict,
    NothingLeft,
    OverTotal,
    PaymentNotFound,
    PaymentVoided,
    RecordKey,
    SchemaTooNew,
    StoreError,
    refund_key,
    void_key,
)
from bot.version import opsbot_version
from infra.sqlite_group_commit import GroupCommit

# Version 1: the ledger as first shipped (which stamped no version: user_version 0). Its
# statements say IF NOT EXISTS so that stamping such a ledger changes nothing else.
# A shipped migration is never edited (a ledger that ran it will not run it again).
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS events (
    event_id        TEXT PRIMARY KEY,
    total_cents     INTEGER NOT NULL,
    paid_cents      INTEGER NOT NULL DEFAULT 0,
    payment_count   INTEGER NOT NULL DEFAULT 0,
    payment_cleared INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    payment_id   TEXT PRIMARY KEY,
    event_id     TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    day          TEXT NOT NULL,
    patron       TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    method       TEXT NOT NULL,
    notes        TEXT NOT NULL,
    logged_by    TEXT NOT NULL,
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    voids        TEXT,
    voided_by    TEXT
);
CREATE INDEX IF NOT EXISTS payments_by_event ON payments (event_id, recorded_at);
CREATE INDEX IF NOT EXISTS payments_by_day ON payments (day, recorded_at);
CREATE TABLE IF NOT EXISTS claims (
    key        TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    state      TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    entry_id TEXT PRIMARY KEY,
    day      TEXT NOT NULL,
    at       TEXT NOT NULL,
    data     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_day ON audit (day, at);
CREATE TABLE IF NOT EXISTS records (
    collection TEXT NOT NULL,
    grp        TEXT NOT NULL,
    key        TEXT NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (collection, grp, key)
);
CREATE TABLE IF NOT EXISTS message_refs (
    record_id TEXT PRIMARY KEY,
    channel   TEXT NOT NULL,
    ts        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key           TEXT PRIMARY KEY,
    payment_id    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
"""

# Version 2: the outbox (bot/core/outbox.py): what must be announced about a record, written in the record's
# transaction. due_at is set while an entry waits or is held (epoch seconds: the next try, or the end of
# the holder's lease) and NULL once delivered or parked, so the partial index holds only the work to do.
# (message_refs stays: it says where lines posted before the outbox existed are.)
SCHEMA_V2 = """
CREATE TABLE outbox (
    entry_id   TEXT PRIMARY KEY,
    record_id  TEXT NOT NULL,
    event      TEXT NOT NULL,
    target     TEXT NOT NULL,
    lane       TEXT NOT NULL,
    facts      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state      TEXT NOT NULL,
    due_at     REAL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    holder     TEXT,
    attempt    TEXT,
    in_doubt   INTEGER NOT NULL DEFAULT 0,
    result     TEXT,
    last_error TEXT,
    parked_at  TEXT
);
CREATE INDEX outbox_due ON outbox (lane, due_at, entry_id) WHERE due_at IS NOT NULL;
CREATE INDEX outbox_parked ON outbox (parked_at, entry_id) WHERE parked_at IS NOT NULL;
"""


# Version 3: Stripe refunds. A payment keeps the Stripe objects it came from (its Checkout Session, its
# PaymentIntent: how a refund finds it) and what refunds took back of it; a refund keeps its own id (re_…).
# A Stripe payment recorded before kept its session id as its notes: that becomes its stripe_id.
SCHEMA_V3 = """
ALTER TABLE payments ADD COLUMN stripe_id TEXT;
ALTER TABLE payments ADD COLUMN payment_intent TEXT;
ALTER TABLE payments ADD COLUMN refunded_cents INTEGER NOT NULL DEFAULT 0;
UPDATE payments SET stripe_id = notes WHERE source = 'stripe' AND kind = 'payment' AND notes LIKE 'cs!_%' ESCAPE '!';
CREATE INDEX payments_by_payment_intent ON payments (payment_intent) WHERE payment_intent IS NOT NULL
    AND kind = 'payment';
"""


# Version 4: per-patron totals of each event and its record count, kept by every write (issue 19), so that
# ``/events EVENT`` reads one line per patron and the newest records, never every payment. Built here from
# the records there are (patron_key is bot/core/patrons.py's, registered on every connection); a reversal counts
# for the patron of the payment it reverses; the name is the one on their latest payment.
SCHEMA_V4 = """
ALTER TABLE events ADD COLUMN record_count INTEGER NOT NULL DEFAULT 0;
UPDATE events SET record_count = (SELECT COUNT(*) FROM payments WHERE payments.event_id = events.event_id);
CREATE TABLE patron_totals (
    event_id    TEXT NOT NULL,
    patron_key  TEXT NOT NULL,
    name        TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    payments    INTEGER NOT NULL,
    records     INTEGER NOT NULL,
    PRIMARY KEY (event_id, patron_key)
) WITHOUT ROWID;
INSERT INTO patron_totals (event_id, patron_key, name, total_cents, payments, records)
SELECT r.event_id, patron_key(COALESCE(o.patron, r.patron)) AS owner, MAX(r.patron), SUM(r.amount_cents),
       SUM(CASE WHEN r.voids IS NULL AND r.voided_by IS NULL AND r.amount_cents - r.refunded_cents > 0
                THEN 1 ELSE 0 END), COUNT(*)
FROM payments r LEFT JOIN payments o ON o.payment_id = r.voids AND o.event_id = r.event_id
GROUP BY r.event_id, owner;
UPDATE patron_totals SET name = (
    SELECT p.patron FROM payments p
    WHERE p.event_id = patron_totals.event_id AND p.voids IS NULL AND patron_key(p.patron) = patron_totals.patron_key
    ORDER BY p.recorded_at DESC, p.payment_id DESC LIMIT 1)
WHERE EXISTS (
    SELECT 1 FROM payments p
    WHERE p.event_id = patron_totals.event_id AND p.voids IS NULL AND patron_key(p.patron) = patron_totals.patron_key);
"""


@dataclass(frozen=True)
class Migration:
    version: int  # the schema version once it has run: 1, 2, 3, ... in order
    purpose: str  # said when a ledger is upgraded
    sql: str  # its statements; they run in one transaction with the version stamp


# The schema's history, oldest first. To change the schema, append a Migration with the
# next version: adding a table is one entry, Migration(2, "the outbox", "CREATE TABLE outbox (...);").
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the ledger: events, payments, idempotency, claims, audit, records, message refs", SCHEMA_V1),
    Migration(2, "the outbox: announcements written with their records", SCHEMA_V2),
    Migration(3, "Stripe refunds: payments keep their Stripe ids and what was refunded", SCHEMA_V3),
    Migration(4, "per-patron totals and record counts of each event, kept by every write", SCHEMA_V4),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
LEDGER_TABLE = "payments"  # how an unversioned opsbot ledger is told from some other SQLite file


def sql_statements(sql: str) -> list[str]:
    """A migration's SQL as single statements (sqlite3 runs one per execute); a ``;``
    inside a string literal or a trigger's body does not end a statement."""
    statements: list[str] = []
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"unfinished SQL statement: {pending.strip()[:80]!r}")
    return statements


def prepare_connection(conn: sqlite3.Connection) -> sqlite3.Connection:
    """What every connection to a ledger needs before it migrates or writes: ``patron_key``."""
    conn.create_function("patron_key", 1, patron_key, deterministic=True)
    return conn


def read_schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def table_names(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
    return {row[0] for row in rows}


def schema_too_new(where: str, version: int) -> SchemaTooNew:
    return SchemaTooNew(f"{where} has schema version {version}, newer than this opsbot ({opsbot_version()}) "
                        f"knows: it reads versions up to {SCHEMA_VERSION}. Run the newer opsbot that wrote it, "
                        f"or restore a backup made before the upgrade")


def refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise schema_too_new(where, version)


def pending_migrations(conn: sqlite3.Connection, where: str, *, create: bool) -> list[Migration]:
    """What would bring this database up to date: none when it is (or when it holds no
    schema and ``create`` is false). Raises for a newer schema or a file that is not a ledger."""
    version = read_schema_version(conn)
    refuse_newer(version, where)
    if version == 0:
        tables = table_names(conn)
        if not tables and not create:
            return []
        if tables and LEDGER_TABLE not in tables:
            raise StoreError(f"{where} is not an opsbot ledger (its tables: {', '.join(sorted(tables))}): "
                             "point OPSBOT_STORE at another file")
    return [m for m in MIGRATIONS if m.version > version]


def apply_migration(conn: sqlite3.Connection, migration: Migration) -> None:
    """Run one migration and stamp its version, inside the caller's transaction."""
    for statement in sql_statements(migration.sql):
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {int(migration.version)}")


def describe_upgrade(before: int, had_tables: bool, applied: list[Migration]) -> str:
    after = applied[-1].version
    if before == 0 and not had_tables:
        return f"created schema version {after}"
    later = [m for m in applied if m.version > 1] if before == 0 else applied
    said = ["stamped the unversioned ledger (as first shipped) as schema version 1"] if before == 0 else []
    if later:
        start = max(before, 1)
        said.append(f"upgraded schema version {start} to {after} ({'; '.join(m.purpose for m in later)})")
    return ", then ".join(said)


# The ids as one JSON parameter: no bound-parameter limit, and no statement text per count of ids.
_TOTALS_OF = ("SELECT event_id, paid_cents, payment_count FROM events "
              "WHERE event_id IN (SELECT value FROM json_each(?))")
_OUTBOX_COLUMNS = ("entry_id, record_id, event, target, lane, facts, created_at, state, due_at, attempts, holder, "
                   "attempt, in_doubt, result, last_error")
_CHUNK = 500  # ids per statement: under SQLite's bound-parameter limit

_PAYMENT_COLUMNS = (
    "payment_id, event_id, recorded_at, day, patron, amount_cents, method, notes, "
    "logged_by, source, kind, voids, voided_by, stripe_id, payment_intent, refunded_cents"
)


_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()
_GROUP_COMMITS: dict[str, GroupCommit] = {}


def _file_key(path: str) -> str:
    return path if path == ":memory:" else os.path.realpath(path)


def _group_commit(path: str) -> GroupCommit:
    """One per database file per process, like its writer lock."""
    with _WRITER_LOCKS_GUARD:
        return _GROUP_COMMITS.setdefault(_file_key(path), GroupCommit())


def _writer_lock(path: str) -> threading.Lock:
    """One lock per database file per process. SQLite lets one writer in at a time
    and makes the others poll with growing sleeps (1 ms up to 100 ms each, the busy
    handler); threads of one process queue on this lock instead and go in as soon
    as the writer before them commits. Other processes still wait on busy_timeout."""
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(_file_key(path), threading.Lock())


PRIVATE_FILE_MODE = 0o600  # the ledger holds patron names, amounts and payers' emails
PRIVATE_FOLDER_MODE = 0o700
SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's files beside the database


def create_private_file(path: str, *, make_folders: bool = False) -> None:
    """Create the database file 0600 before SQLite opens it (and, with make_folders,
    each missing folder 0700). SQLite would create it 0644 under the usual umask; its
    -wal and -shm files take the database file's mode, so they are private too. An
    existing file is left as it is (``opsbot doctor`` warns when others can read it)."""
    if path == ":memory:" or path.startswith("file:"):
        return
    folder = Path(path).absolute().parent
    missing = [p for p in (folder, *folder.parents) if not p.exists()] if make_folders else []
    for made in reversed(missing):
        made.mkdir(mode=PRIVATE_FOLDER_MODE, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE))
    except FileExistsError:
        return
    except FileNotFoundError:
        return  # no such folder: SQLite says so in its own words, naming the store


def readable_by_others(path: str) -> list[str]:
    """The ledger's files (the database, its -wal, -shm, -journal) that accounts other than the owner can read."""
    exposed = []
    for name in (path, *(path + suffix for suffix in SIDE_FILES)):
        try:
            mode = os.stat(name).st_mode
        except FileNotFoundError:
            continue
        if mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
            exposed.append(f"{name} ({stat.filemode(mode)})")
    return exposed


class SqliteStore:
    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        self._writer = _writer_lock(self.path)
        self._group = _group_commit(self.path)

    # -- connections ------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                create_private_file(self.path)
            except OSError as exc:
                raise StoreError(f"cannot create SQLite store {self.path}: {exc.strerror or exc}") from exc
            try:
                conn = prepare_connection(sqlite3.connect(self.path, timeout=30, isolation_level=None))
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=30000")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads' stores are collected)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            conn.close()

    def _read(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: takes the write lock up front, so the
        read-check-write below cannot interleave with another writer. Writers
        of this process take turns on the file's lock first (see _writer_lock)."""
        conn = self._conn()
        with self._writer:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.path} is not writable: {exc}") from exc
            try:
                yield conn
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise _store_error(self.path, exc) from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    # -- schema -------------------------------------------------------------------
    def init_schema(self) -> str | None:
        """Create the schema (and the file's folders, 0700, when they do not exist yet), or bring
        an older one up to date. Says what it did (None: nothing)."""
        try:
            create_private_file(self.path, make_folders=True)
        except OSError as exc:
            raise StoreError(f"cannot create SQLite store {self.path}: {exc.strerror or exc}") from exc
        return self._migrate(create=True)

    def upgrade_schema(self) -> str | None:
        """At start-up: bring an older ledger up to date; a file with no schema is left to init-store."""
        return self._migrate(create=False)

    def schema_version(self) -> int:
        try:
            return read_schema_version(self._conn())
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path} does not answer: {exc}") from exc

    def _migrate(self, *, create: bool) -> str | None:
        where = f"SQLite store {self.path}"
        try:
            conn = self._conn()
            before = read_schema_version(conn)
            had_tables = bool(table_names(conn))
        except sqlite3.Error as exc:
            raise StoreError(f"{where} does not answer: {exc}") from exc
        applied: list[Migration] = []
        while True:
            # One transaction per migration, the version read again inside it: a second
            # process upgrading at the same moment waits, then finds nothing left to do.
            with self._write() as conn:
                pending = pending_migrations(conn, where, create=create)
                if not pending:
                    break
                apply_migration(conn, pending[0])
            applied.append(pending[0])
        if not applied:
            return None
        if before == 0 and not had_tables:  # a new ledger keeps its summaries from its first record
            self.put_record(*SUMMARIES_KEPT, {"kept": True}, if_absent=True)
        return describe_upgrade(before, had_tables, applied)

    def ping(self) -> None:
        try:
            conn = self._conn()
            version = read_schema_version(conn)
            tables = table_names(conn) if version != SCHEMA_VERSION else set()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path} does not answer: {exc}") from exc
        refuse_newer(version, f"SQLite store {self.path}")
        if version < SCHEMA_VERSION:
            if not tables:
                raise StoreError(f"SQLite store {self.path} has no schema: run `opsbot init-store`")
            raise StoreError(f"SQLite store {self.path} has schema version {version}, older than this opsbot's "
                             f"{SCHEMA_VERSION}: run `opsbot init-store` (or restart opsbot) to upgrade it")

    # -- writes ---------------------------------------------------------------------
    def record_payment(self, payment: Payment, *, total_cents: int, idempotency_key: str,
                       allow_over_total: bool = False, announce: Announce | None = None) -> RecordOutcome:
        # Each statement is a hand-off of the GIL among the writer threads: the key is taken by its
        # insert (a replay finds it there) and the balance is checked by the totals' own upsert.
        amount = payment.amount_cents
        patron = patron_key(payment.patron)  # before the writer lock: what needs no lock is done outside it

        def write(conn: sqlite3.Connection) -> RecordOutcome:
            taken = conn.execute(
                "INSERT INTO idempotency (key, payment_id, created_at) VALUES (?,?,?) ON CONFLICT(key) DO NOTHING",
                (idempotency_key, payment.payment_id, payment.recorded_at.isoformat())).rowcount
            if not taken:
                replay = self._replay(conn, idempotency_key)
                assert replay is not None, "the key was there a moment ago, in this transaction"
                if replay.payment.fingerprint != payment.fingerprint:
                    raise IdempotencyConflict(idempotency_key, replay.payment)
                return replay
            over = not allow_over_total
            row = None if over and amount > total_cents else conn.execute(
                """INSERT INTO events (event_id, total_cents, paid_cents, payment_count, payment_cleared, updated_at,
                                       record_count)
                   VALUES (?1, ?2, ?3, 1, ?3 >= ?2, ?4, 1)
                   ON CONFLICT(event_id) DO UPDATE SET total_cents=excluded.total_cents,
                     paid_cents=paid_cents + excluded.paid_cents, payment_count=payment_count + 1,
                     payment_cleared=paid_cents + excluded.paid_cents >= excluded.total_cents,
                     updated_at=excluded.updated_at, record_count=record_count + 1
                   WHERE NOT ?5 OR paid_cents + excluded.paid_cents <= excluded.total_cents
                   RETURNING paid_cents, payment_count""",
                (payment.event_id, total_cents, amount, payment.recorded_at.isoformat(), over)).fetchone()
            if row is None:  # past the total: nothing is written (the key's insert is rolled back)
                raise OverTotal(self._totals(conn, payment.event_id)[0], total_cents)
            self._insert_payment(conn, payment)
            self._add_to_patron(conn, payment, patron, stands=int(amount > 0))
            outcome = RecordOutcome(payment, EventTotals(payment.event_id, row[0], row[1]))
            if announce is not None:
                self._announce(conn, announce(outcome))
            return outcome

        # Payments arriving together are committed together (infra/sqlite_group_commit.py).
        return self._group.run(write, self._write, lambda exc: _store_error(self.path, exc))

    def void_payment(self, payment_id: str, void: Payment, *, announce: Announce | None = None,
                     original: Payment | None = None) -> RecordOutcome:
        # ``original`` is read again inside the transaction: a read there costs no round trip.
        key = void_key(payment_id)
        with self._write() as conn:
            original = self._get(conn, payment_id)
            if original is None:
                raise PaymentNotFound(payment_id)
            replay = self._replay(conn, key)
            if replay is not None:
                return replace(replay, acted_on=original)
            if original.left_cents <= 0:
                raise NothingLeft(original, original.amount_cents)
            void = replace(void, amount_cents=-original.left_cents)  # what Stripe refunded is out already
            total = self._total(conn, original.event_id)
            paid, count = self._totals(conn, original.event_id)
            paid, count = paid + void.amount_cents, count - 1
            self._insert_payment(conn, void)
            conn.execute("UPDATE payments SET voided_by=? WHERE payment_id=?", (void.payment_id, payment_id))
            self._put_totals(conn, original.event_id, total, paid, count, void.recorded_at)
            # The void counts for the patron of the payment it reverses, which stands no more.
            self._add_to_patron(conn, void, patron_key(original.patron), stands=-1)
            self._insert_key(conn, key, void)
            outcome = RecordOutcome(void, EventTotals(original.event_id, paid, count),
                                    acted_on=replace(original, voided_by=void.payment_id))
            if announce is not None:
                self._announce(conn, announce(outcome))
        return outcome

    def refund_payment(self, payment_id: str, record: Payment, *, idempotency_key: str,
                       announce: Announce | None = None) -> RecordOutcome:
        with self._write() as conn:
            replay = self._replay(conn, idempotency_key)
            if replay is not None:
                if replay.payment.fingerprint != record.fingerprint:
                    raise IdempotencyConflict(idempotency_key, replay.payment)
                return replace(replay, acted_on=self._get(conn, payment_id))
            original = self._get(conn, payment_id)
            if original is None:
                raise PaymentNotFound(payment_id)
            if original.voided_by is not None:
                raise PaymentVoided(original)
            if record.kind == REFUND_FAILED and (record.stripe_id is None or conn.execute(
                    "SELECT 1 FROM idempotency WHERE key=?", (refund_key(record.stripe_id),)).fetchone() is None):
                raise NothingLeft(original, record.amount_cents)  # that refund was never recorded: nothing to give back
            refunded = original.refunded_cents - record.amount_cents
            if not 0 <= refunded <= original.amount_cents:
                raise NothingLeft(original, abs(record.amount_cents))
            after = replace(original, refunded_cents=refunded)
            paid, count = self._totals(conn, original.event_id)
            paid += record.amount_cents
            counted = int(after.left_cents > 0) - int(original.left_cents > 0)  # counted while something is left
            count += counted
            self._insert_payment(conn, record)
            self._add_to_patron(conn, record, patron_key(original.patron), stands=counted)
            conn.execute("UPDATE payments SET refunded_cents=? WHERE payment_id=?", (refunded, payment_id))
            self._put_totals(conn, original.event_id, self._total(conn, original.event_id), paid, count,
                             record.recorded_at)
            self._insert_key(conn, idempotency_key, record)
            outcome = RecordOutcome(record, EventTotals(original.event_id, paid, count), acted_on=after)
            if announce is not None:
                self._announce(conn, announce(outcome))
        return outcome

    @staticmethod
    def _total(conn: sqlite3.Connection, event_id: str) -> int:
        row = conn.execute("SELECT total_cents FROM events WHERE event_id=?", (event_id,)).fetchone()
        return row[0] if row else 0

    @staticmethod
    def _insert_key(conn: sqlite3.Connection, key: str, record: Payment) -> None:
        conn.execute("INSERT INTO idempotency (key, payment_id, created_at) VALUES (?,?,?)",
                     (key, record.payment_id, record.recorded_at.isoformat()))

    def _replay(self, conn: sqlite3.Connection, key: str) -> RecordOutcome | None:
        row = conn.execute("SELECT payment_id FROM idempotency WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        payment = self._get(conn, row[0])
        if payment is None:
            raise StoreError(f"idempotency key {key} points at missing record {row[0]}")
        paid, count = self._totals(conn, payment.event_id)
        return RecordOutcome(payment, EventTotals(payment.event_id, paid, count), replayed=True)

    @staticmethod
    def _totals(conn: sqlite3.Connection, event_id: str) -> tuple[int, int]:
        row = conn.execute("SELECT paid_cents, payment_count FROM events WHERE event_id=?", (event_id,)).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    @staticmethod
    def _put_totals(conn: sqlite3.Connection, event_id: str, total: int, paid: int, count: int,
                    when: datetime) -> None:
        """The event's totals after one more record (a payment or a reversal)."""
        conn.execute(
            """INSERT INTO events (event_id, total_cents, paid_cents, payment_count, payment_cleared, updated_at,
                                   record_count)
               VALUES (?,?,?,?,?,?,1)
               ON CONFLICT(event_id) DO UPDATE SET total_cents=excluded.total_cents,
                 paid_cents=excluded.paid_cents, payment_count=excluded.payment_count,
                 payment_cleared=excluded.payment_cleared, updated_at=excluded.updated_at,
                 record_count=record_count + 1""",
            (event_id, total, paid, count, int(paid >= total), when.isoformat()),
        )

    @staticmethod
    def _add_to_patron(conn: sqlite3.Connection, record: Payment, key: str, *, stands: int) -> None:
        """One more record in the patron's totals for the event; a payment's spelling becomes the name."""
        conn.execute(
            """INSERT INTO patron_totals (event_id, patron_key, name, total_cents, payments, records)
               VALUES (?,?,?,?,?,1)
               ON CONFLICT(event_id, patron_key) DO UPDATE SET total_cents=total_cents + excluded.total_cents,
                 payments=payments + excluded.payments, records=records + 1,
                 name=CASE WHEN ? THEN excluded.name ELSE name END""",
            (record.event_id, key, record.patron, record.amount_cents, stands, int(not record.is_reversal)),
        )

    @staticmethod
    def _insert_payment(conn: sqlite3.Connection, p: Payment) -> None:
        conn.execute(
            f"INSERT INTO payments ({_PAYMENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (p.payment_id, p.event_id, p.recorded_at.isoformat(), p.day, p.patron, p.amount_cents, p.method,
             p.notes, p.logged_by, p.source, p.kind, p.voids, p.voided_by, p.stripe_id, p.payment_intent,
             p.refunded_cents),
        )

    # -- reads -----------------------------------------------------------------------
    def _get(self, conn: sqlite3.Connection, payment_id: str) -> Payment | None:
        row = conn.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE payment_id=?", (payment_id,)).fetchone()
        return _payment(row) if row else None

    def get_payment(self, payment_id: str) -> Payment | None:
        rows = self._read(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE payment_id=?", (payment_id,))
        return _payment(rows[0]) if rows else None

    def stripe_payment(self, payment_intent: str) -> Payment | None:
        rows = self._read(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE payment_intent=? AND kind='payment' "
                          "ORDER BY recorded_at LIMIT 1", (payment_intent,))  # payments_by_payment_intent
        return _payment(rows[0]) if rows else None

    def replay(self, idempotency_key: str) -> RecordOutcome | None:
        try:
            return self._replay(self._conn(), idempotency_key)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc

    def owed(self, totals: Mapping[str, int]) -> int:
        if not totals:
            return 0
        rows = self._read("SELECT COALESCE(SUM(MAX(given.value - COALESCE(events.paid_cents, 0), 0)), 0) "
                          "FROM json_each(?) AS given LEFT JOIN events ON events.event_id = given.key",
                          (json.dumps(dict(totals)),))
        return int(rows[0][0])

    def event_totals(self, event_ids: Iterable[str]) -> dict[str, EventTotals]:
        rows = self._read(_TOTALS_OF, (json.dumps(list(event_ids)),))
        return {event_id: EventTotals(event_id, paid, count) for event_id, paid, count in rows}

    def event_payments(self, event_id: str, *, after: str | None = None, limit: int | None = None
                       ) -> list[Payment]:
        return self._payments_in_order("event_id", event_id, after, limit)  # the payments_by_event index

    def day_payments(self, day: str, *, after: str | None = None, limit: int | None = None) -> list[Payment]:
        return self._payments_in_order("day", day, after, limit)  # the payments_by_day index

    def event_overview(self, event_id: str, *, recent: int) -> EventOverview:
        conn = self._conn()
        try:
            conn.execute("BEGIN")  # one snapshot for the three reads
            try:
                row = conn.execute("SELECT paid_cents, payment_count, record_count FROM events WHERE event_id=?",
                                   (event_id,)).fetchone()
                newest = conn.execute(  # the payments_by_event index, read backwards
                    f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE event_id=? "
                    "ORDER BY recorded_at DESC, payment_id DESC LIMIT ?", (event_id, recent)).fetchall()
                patrons = conn.execute("SELECT patron_key, name, total_cents, payments, records FROM patron_totals "
                                       "WHERE event_id=? ORDER BY patron_key", (event_id,)).fetchall()
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc
        paid, count, records = row if row else (0, 0, 0)
        return EventOverview(
            EventTotals(event_id, paid, count) if row else EventTotals(event_id), records,
            tuple(_payment(r) for r in reversed(newest)),
            tuple(PatronTotal(key, stored_name(name), total, payments, seen)
                  for key, name, total, payments, seen in patrons))

    def _payments_in_order(self, column: str, value: str, after: str | None, limit: int | None) -> list[Payment]:
        """Records with ``column = value`` in record_position order, past ``after``, at most ``limit``."""
        where, params = f"{column}=?", [value]
        if after is not None:
            stamp, _, record_id = after.rpartition("#")
            where += " AND (recorded_at, payment_id) > (?, ?)"
            params += [stamp, record_id]
        rows = self._read(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE {where} "
                          "ORDER BY recorded_at, payment_id LIMIT ?", [*params, -1 if limit is None else limit])
        return [_payment(r) for r in rows]

    # -- claims -------------------------------------------------------------------------
    def claim(self, key: str, *, holder: str, now: datetime, lease: timedelta) -> bool:
        expires = (now + lease).timestamp()
        with self._write() as conn:
            row = conn.execute("SELECT state, expires_at FROM claims WHERE key=?", (key,)).fetchone()
            if row is not None and (row[0] == "done" or row[1] > now.timestamp()):
                return False
            conn.execute(
                "INSERT INTO claims (key, holder, state, expires_at) VALUES (?,?,'held',?) "
                "ON CONFLICT(key) DO UPDATE SET holder=excluded.holder, state='held', expires_at=excluded.expires_at",
                (key, holder, expires),
            )
        return True

    def complete_claim(self, key: str, *, holder: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE claims SET state='done' WHERE key=? AND holder=?", (key, holder))

    def release_claim(self, key: str, *, holder: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM claims WHERE key=? AND holder=? AND state='held'", (key, holder))

    # -- records ------------------------------------------------------------------------------
    def put_record(self, collection: str, group: str, key: str, data: dict[str, Any], *,
                   if_absent: bool = False, announce: Announcement | None = None, fold: Fold | None = None) -> bool:
        verb = "INSERT OR IGNORE" if if_absent else "INSERT OR REPLACE"
        text = json.dumps(data)
        with self._write() as conn:
            summary = None
            if fold is not None:
                if if_absent and self._stored(conn, collection, group, key) is not None:
                    return False
                summary = fold.apply(self._stored(conn, *fold.at))  # the store as it is before this write
            cursor = conn.execute(f"{verb} INTO records (collection, grp, key, data) VALUES (?,?,?,?)",
                                  (collection, group, key, text))
            written = cursor.rowcount == 1
            if written and summary is not None:
                conn.execute("INSERT OR REPLACE INTO records (collection, grp, key, data) VALUES (?,?,?,?)",
                             (*fold.at, json.dumps(summary)))
            if written and announce:
                self._announce(conn, announce)
            return written

    @staticmethod
    def _stored(conn: sqlite3.Connection, collection: str, group: str, key: str) -> dict[str, Any] | None:
        row = conn.execute("SELECT data FROM records WHERE collection=? AND grp=? AND key=?",
                           (collection, group, key)).fetchone()
        return json.loads(row[0]) if row else None

    def get_record(self, collection: str, group: str, key: str) -> dict[str, Any] | None:
        rows = self._read("SELECT data FROM records WHERE collection=? AND grp=? AND key=?", (collection, group, key))
        return json.loads(rows[0][0]) if rows else None

    def read_keys(self, *, events: Iterable[str] = (), records: Sequence[RecordKey] = ()
                  ) -> tuple[dict[str, EventTotals], dict[RecordKey, dict[str, Any]]]:
        conn = self._conn()
        try:
            conn.execute("BEGIN")  # one snapshot for both reads
            try:
                totals = conn.execute(_TOTALS_OF, (json.dumps(list(events)),)).fetchall()
                found = conn.execute(  # each address looked up by the records' primary key
                    "SELECT r.collection, r.grp, r.key, r.data FROM json_each(?) AS wanted JOIN records r "
                    "ON r.collection = json_extract(wanted.value, '$[0]') "
                    "AND r.grp = json_extract(wanted.value, '$[1]') AND r.key = json_extract(wanted.value, '$[2]')",
                    (json.dumps([list(at) for at in records]),)).fetchall()
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc
        return ({event_id: EventTotals(event_id, paid, count) for event_id, paid, count in totals},
                {(collection, group, key): json.loads(data) for collection, group, key, data in found})

    def list_records(self, collection: str, group: str, *, newest_first: bool = False,
                     limit: int | None = None) -> list[dict[str, Any]]:
        order = "DESC" if newest_first else "ASC"
        rows = self._read(
            f"SELECT data FROM records WHERE collection=? AND grp=? ORDER BY key {order} LIMIT ?",
            (collection, group, -1 if limit is None else limit))
        return [json.loads(r[0]) for r in rows]

    def delete_record(self, collection: str, group: str, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM records WHERE collection=? AND grp=? AND key=?", (collection, group, key))

    # -- audit log ------------------------------------------------------------------------
    def add_audit(self, entry: AuditEntry) -> None:
        with self._write() as conn:
            self._insert_audit(conn, entry)

    @staticmethod
    def _insert_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
        data = {"actor": entry.actor, "action": entry.action, "result": entry.result, "detail": entry.detail}
        conn.execute("INSERT OR IGNORE INTO audit (entry_id, day, at, data) VALUES (?,?,?,?)",
                     (entry.entry_id, entry.day, entry.at.isoformat(), json.dumps(data)))

    def announce(self, announcement: Announcement) -> None:
        with self._write() as conn:
            self._announce(conn, announcement)

    def _announce(self, conn: sqlite3.Connection, announcement: Announcement) -> None:
        if announcement.audit is not None:
            self._insert_audit(conn, announcement.audit)
        if not announcement.entries:
            return
        conn.executemany(
            f"INSERT OR IGNORE INTO outbox ({_OUTBOX_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(e.entry_id, e.record_id, e.event, e.target, e.lane, json.dumps(e.facts), e.created_at.isoformat(),
              e.state, _epoch(e.due_at), e.attempts, e.holder, e.attempt, int(e.in_doubt),
              None if e.result is None else json.dumps(e.result), e.last_error) for e in announcement.entries])

    # -- the outbox -----------------------------------------------------------------------------
    def due_entries(self, lane: str, now: datetime, limit: int) -> list[OutboxEntry]:
        rows = self._read(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE lane=? AND due_at <= ? "
                          "ORDER BY due_at, entry_id LIMIT ?", (lane, now.timestamp(), limit))
        return [_entry(r) for r in rows]

    def claim_entries(self, entries: Sequence[OutboxEntry], *, holder: str, attempt: str, now: datetime,
                      lease: timedelta, under_way: bool = False) -> list[OutboxEntry]:
        taken: list[OutboxEntry] = []
        with self._write() as conn:
            for entry in entries:
                cursor = conn.execute(
                    "UPDATE outbox SET state=?, holder=?, attempts=attempts+1, due_at=?, "
                    "attempt=CASE WHEN in_doubt=1 THEN attempt ELSE ? END, "
                    "in_doubt=CASE WHEN ? THEN 1 ELSE in_doubt END "
                    "WHERE entry_id=? AND due_at <= ? AND attempts=? AND in_doubt=?",
                    (HELD, holder, (now + lease).timestamp(), attempt, int(under_way), entry.entry_id,
                     now.timestamp(), entry.attempts, int(entry.in_doubt)))
                if cursor.rowcount:
                    taken.append(entry)
        return taken

    def claim_fresh(self, claims: Sequence[Claim], *, holder: str, now: datetime, lease: timedelta
                    ) -> list[OutboxEntry]:
        taken: list[OutboxEntry] = []
        with self._write() as conn:
            for claim in claims:
                e = claim.entry
                cursor = conn.execute(
                    "UPDATE outbox SET state=?, holder=?, attempts=1, due_at=?, attempt=?, in_doubt=? "
                    "WHERE entry_id=? AND state=? AND attempts=0 AND in_doubt=0 AND due_at <= ? "
                    "AND record_id=? AND event=? AND target=? AND created_at=? AND facts=?",
                    (HELD, holder, (now + lease).timestamp(), claim.attempt, int(claim.under_way), e.entry_id,
                     PENDING, now.timestamp(), e.record_id, e.event, e.target, e.created_at.isoformat(),
                     json.dumps(e.facts)))
                if cursor.rowcount:
                    taken.append(e)
        return taken

    def mark_in_doubt(self, entry_ids: Sequence[str], *, holder: str, attempt: str) -> None:
        with self._write() as conn:
            for chunk in _chunks(entry_ids):
                conn.execute(f"UPDATE outbox SET in_doubt=1, attempt=? WHERE holder=? AND state=? AND entry_id IN "
                             f"({','.join('?' * len(chunk))})", (attempt, holder, HELD, *chunk))

    def settle_entries(self, settled: Sequence[Settled], *, holder: str, now: datetime,
                       together: bool = False) -> list[str]:
        done: list[str] = []  # one transaction either way
        with self._write() as conn:
            for s in settled:
                if s.state == DELIVERED:
                    sql, values = ("state=?, due_at=NULL, result=?, last_error=NULL, in_doubt=0",
                                   (DELIVERED, json.dumps(s.result or {})))
                elif s.state == PENDING:
                    assert s.due is not None, "a retry needs its due time"
                    sql, values = ("state=?, due_at=?, last_error=?, in_doubt=?",
                                   (PENDING, s.due.timestamp(), s.error, int(s.in_doubt)))
                else:
                    sql, values = ("state=?, due_at=NULL, last_error=?, in_doubt=?, parked_at=?",
                                   (PARKED, s.error, int(s.in_doubt), now.astimezone(UTC).isoformat()))
                cursor = conn.execute(f"UPDATE outbox SET {sql} WHERE entry_id=? AND holder=? AND state=?",
                                      (*values, s.entry_id, holder, HELD))
                if cursor.rowcount:
                    done.append(s.entry_id)
        return done

    def get_entry(self, entry_id: str) -> OutboxEntry | None:
        rows = self._read(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE entry_id=?", (entry_id,))
        return _entry(rows[0]) if rows else None

    def parked_entries(self, limit: int) -> list[OutboxEntry]:
        rows = self._read(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE parked_at IS NOT NULL "
                          "ORDER BY parked_at, entry_id LIMIT ?", (limit,))
        return [_entry(r) for r in rows]

    def requeue_parked(self, now: datetime, limit: int) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET state=?, due_at=?, parked_at=NULL, in_doubt=0, attempts=0 WHERE entry_id IN "
                "(SELECT entry_id FROM outbox WHERE parked_at IS NOT NULL ORDER BY parked_at, entry_id LIMIT ?)",
                (PENDING, now.timestamp(), limit))
            return cursor.rowcount

    def day_audit(self, day: str) -> list[AuditEntry]:
        rows = self._read("SELECT entry_id, day, at, data FROM audit WHERE day=? ORDER BY at, entry_id", (day,))
        return [_audit(*row) for row in rows]

    # -- message refs ---------------------------------------------------------------------
    def message_ref(self, record_id: str) -> tuple[str, str] | None:
        entry = self.get_entry(entry_id(record_id, AUDIT))
        if entry is not None:
            return lone_line(entry)
        rows = self._read("SELECT channel, ts FROM message_refs WHERE record_id=?", (record_id,))
        return (rows[0][0], rows[0][1]) if rows else None


def _audit(entry_id: str, day: str, at: str, data: str) -> AuditEntry:
    fields = json.loads(data)
    return AuditEntry(entry_id=entry_id, at=datetime.fromisoformat(at), day=day, actor=fields["actor"],
                      action=fields["action"], result=fields["result"], detail=fields["detail"])


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _entry(row: tuple) -> OutboxEntry:
    (entry_id_, record_id, event, target, _lane, facts, created_at, state, due_at, attempts, holder, attempt,
     in_doubt, result, last_error) = row
    return OutboxEntry(entry_id=entry_id_, record_id=record_id, event=event, target=target, facts=json.loads(facts),
                       created_at=datetime.fromisoformat(created_at), state=state,
                       due_at=None if due_at is None else datetime.fromtimestamp(due_at, UTC), attempts=attempts,
                       holder=holder, attempt=attempt, in_doubt=bool(in_doubt),
                       result=None if result is None else json.loads(result), last_error=last_error)


def _store_error(path: str, exc: sqlite3.Error) -> StoreError:
    if "no such table" in str(exc):
        return StoreError(f"SQLite store {path} has no schema: run `opsbot init-store`")
    return StoreError(f"SQLite store {path}: {exc}")


def _payment(row: tuple) -> Payment:
    (payment_id, event_id, recorded_at, day, patron, amount, method, notes, logged_by, source, kind,
     voids, voided_by, stripe_id, payment_intent, refunded_cents) = row
    return Payment(
        payment_id=payment_id, event_id=event_id, patron=patron, amount_cents=amount, method=method,
        notes=notes, logged_by=logged_by, recorded_at=datetime.fromisoformat(recorded_at), day=day,
        source=source, kind=kind, voids=voids, voided_by=voided_by, stripe_id=stripe_id,
        payment_intent=payment_intent, refunded_cents=refunded_cents,
    )
