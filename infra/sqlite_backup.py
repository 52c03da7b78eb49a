"""Backups of the SQLite ledger: a consistent copy of a live ledger, and a checked restore.

A backup is SQLite's online backup API in one step: one read transaction, so the
copy is the ledger as of one commit, and in WAL mode the bot's writers go on
meanwhile. The copy is a single self-contained file (rollback-journal mode, no
-wal beside it), created 0600 (it holds patrons' names and money), checked like a
restore checks it, and appears under its name only once complete.

A restore checks the copy before anything is replaced: SQLite's integrity check,
a schema version this opsbot reads (an older one is upgraded), and every event's
totals equal to the sum of its records. It refuses to replace a ledger that holds
anything unless forced, and refuses a ledger still open in a running opsbot. The
copy is prepared in a file beside the ledger and renamed over it, so a failure at
any point leaves the old ledger as it was."""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bot.core.money import format_cents
from bot.core.ports import SchemaTooNew
from infra.sqlite_store import (
    LEDGER_TABLE,
    SIDE_FILES,
    Migration,
    apply_migration,
    pending_migrations,
    prepare_connection,
    read_schema_version,
    refuse_newer,
    table_names,
)

NOT_A_DATABASE = "not an SQLite database"


class BackupError(Exception):
    """A backup or restore that did not happen, and why; nothing was changed."""


@dataclass(frozen=True)
class LedgerCheck:
    """What a checked copy holds."""

    schema_version: int
    records: int  # payments and their reversals
    events: int
    paid_cents: int  # over all events

    def summary(self) -> str:
        return (f"schema version {self.schema_version}, {self.records:,} record{'s' if self.records != 1 else ''} "
                f"(payments and voids) on {self.events:,} event{'s' if self.events != 1 else ''}, "
                f"{format_cents(self.paid_cents)} paid in all; integrity and totals checked")


@dataclass(frozen=True)
class Restored:
    check: LedgerCheck
    upgraded_from: int | None  # the copy's schema version when it was older than this opsbot's


# -- checks ----------------------------------------------------------------------------------------


def check_integrity(conn: sqlite3.Connection, where: str) -> None:
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{where} fails SQLite's integrity check: {exc}") from None
    if problems != ["ok"]:
        raise BackupError(f"{where} fails SQLite's integrity check: {'; '.join(problems)}")


def check_schema(conn: sqlite3.Connection, where: str) -> int:
    """The copy's schema version; refuses a newer one and a database that is not a ledger."""
    try:
        version = read_schema_version(conn)
        tables = table_names(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{where} is not an SQLite database ({exc})") from None
    try:
        refuse_newer(version, where)
    except SchemaTooNew as exc:
        raise BackupError(str(exc)) from None
    if LEDGER_TABLE not in tables:
        raise BackupError(f"{where} is not an opsbot ledger (it has no {LEDGER_TABLE} table)")
    return version


# An event's stored totals against its records: the store adds every record's amount (a void's and
# a refund's are negative, a failed refund's positive) and counts each payment while something of it
# stands (not voided, not refunded in full).
_TOTALS_MISMATCHES = """
SELECT e.event_id, e.paid_cents, e.payment_count, e.payment_cleared, e.total_cents,
       COALESCE(r.paid, 0), COALESCE(r.counted, 0)
FROM events AS e
LEFT JOIN (SELECT event_id, SUM(amount_cents) AS paid,
                  SUM(kind = 'payment' AND voided_by IS NULL AND amount_cents > refunded_cents) AS counted
           FROM payments GROUP BY event_id) AS r ON r.event_id = e.event_id
WHERE e.paid_cents != COALESCE(r.paid, 0) OR e.payment_count != COALESCE(r.counted, 0)
   OR e.payment_cleared != (e.paid_cents >= e.total_cents)
LIMIT 5
"""
_RECORDS_WITHOUT_TOTALS = (
    "SELECT DISTINCT event_id FROM payments WHERE event_id NOT IN (SELECT event_id FROM events) LIMIT 5"
)


def check_totals(conn: sqlite3.Connection, where: str) -> LedgerCheck:
    """Every event's totals equal to the sum of its records (a ledger at this opsbot's schema)."""
    wrong = conn.execute(_TOTALS_MISMATCHES).fetchall()
    if wrong:
        event_id, paid, count, cleared, total, summed, counted = wrong[0]
        raise BackupError(
            f"{where}: the totals of event {event_id} do not match its records (stored {format_cents(paid)} "
            f"in {count} payments, cleared={bool(cleared)}; its records add up to {format_cents(summed)} in "
            f"{counted}, against a total of {format_cents(total)})"
            + (f", and {len(wrong) - 1} more event{'s' if len(wrong) > 2 else ''}" if len(wrong) > 1 else ""))
    orphans = [row[0] for row in conn.execute(_RECORDS_WITHOUT_TOTALS)]
    if orphans:
        raise BackupError(f"{where}: records of {', '.join(orphans)} have no event totals")
    records, = conn.execute("SELECT count(*) FROM payments").fetchone()
    events, paid = conn.execute("SELECT count(*), COALESCE(SUM(paid_cents), 0) FROM events").fetchone()
    return LedgerCheck(read_schema_version(conn), records, events, paid)


def upgrade_copy(conn: sqlite3.Connection, where: str) -> list[Migration]:
    """Bring a copy up to this opsbot's schema, one transaction per migration (the store's
    own migrations). Returns those it ran."""
    applied = []
    while pending := pending_migrations(conn, where, create=False):
        conn.execute("BEGIN IMMEDIATE")
        try:
            apply_migration(conn, pending[0])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(pending[0])
    return applied


# -- files -----------------------------------------------------------------------------------------


def _connect(path: Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    return prepare_connection(sqlite3.connect(path, timeout=timeout, isolation_level=None))


def _open_read_only(path: Path, where: str) -> sqlite3.Connection:
    """A file that may not be a database at all, opened without creating or changing anything."""
    if not path.is_file():
        raise BackupError(f"{where}: no such file")
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"{where} cannot be opened: {exc}") from None


@contextmanager
def _new_file_beside(path: Path, purpose: str) -> Iterator[Path]:
    """An empty file, mode 0600, in ``path``'s folder (so a rename onto ``path`` is atomic);
    removed, with any side files SQLite made, unless the caller renamed it away."""
    folder = path.parent
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder")
    temp = folder / f".{path.name}.{purpose}-{secrets.token_hex(4)}"
    try:
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    try:
        yield temp
    finally:
        for leftover in (temp, *(Path(f"{temp}{side}") for side in SIDE_FILES)):
            with suppress(FileNotFoundError):
                leftover.unlink()


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_into(source: sqlite3.Connection, temp: Path) -> sqlite3.Connection:
    """SQLite's online backup of ``source`` into ``temp``, in one step (one read
    transaction: the ledger as of one commit), as a single rollback-journal file."""
    target = _connect(temp)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    except BaseException:
        target.close()
        raise
    return target


# -- backup ----------------------------------------------------------------------------------------


def backup_ledger(ledger: Path, destination: Path) -> LedgerCheck:
    """Copy the ledger at ``ledger`` (live: the bot may be writing) to ``destination``,
    a new file. Returns what the checked copy holds. Raises BackupError."""
    where = f"SQLite store {ledger}"
    if not ledger.is_file():
        raise BackupError(f"{where} does not exist: nothing to back up (check OPSBOT_STORE)")
    if destination.exists() or destination.is_symlink():
        raise BackupError(f"{destination} already exists: a backup never replaces a file; choose a new name")
    with _new_file_beside(destination, "backup") as temp:
        try:
            with closing(_connect(ledger, timeout=30)) as source:
                check_schema(source, where)
                copy = _copy_into(source, temp)
            with closing(copy):
                check_integrity(copy, f"the copy of {where}")
                upgrade_copy(copy, f"the copy of {where}")
                check = check_totals(copy, where)
        except sqlite3.Error as exc:
            raise BackupError(f"backing up {where} failed: {exc}") from None
        _sync(temp)
        if destination.exists():
            raise BackupError(f"{destination} appeared while the backup was made; nothing was replaced")
        os.replace(temp, destination)
    _sync(destination.parent)
    return check


# -- restore ---------------------------------------------------------------------------------------


def ledger_contents(path: Path) -> str | None:
    """What the database at ``path`` holds, in words; None when it is absent or empty."""
    if not path.exists():
        return None
    try:
        with closing(_open_read_only(path, str(path))) as conn:
            tables = table_names(conn)
            rows = sum(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables)
            records = conn.execute("SELECT count(*) FROM payments").fetchone()[0] if LEDGER_TABLE in tables else 0
    except sqlite3.DatabaseError:
        return NOT_A_DATABASE
    if not rows:
        return None
    return f"{records:,} payment record{'s' if records != 1 else ''}, {rows:,} row{'s' if rows != 1 else ''} in all"


def restore_ledger(backup: Path, ledger: Path, *, force: bool = False) -> Restored:
    """Replace the ledger at ``ledger`` with the checked copy ``backup``. Raises BackupError
    (and changes nothing) when the copy fails a check, when the ledger holds anything and
    ``force`` is false, or when the ledger is open in a running opsbot."""
    where = f"SQLite store {ledger}"
    if ledger.exists() and backup.exists() and ledger.resolve() == backup.resolve():
        raise BackupError(f"{backup} is the ledger itself: restore from a backup file")
    held = ledger_contents(ledger)
    if held and not force:
        raise BackupError(f"{where} is not empty ({held}): a restore would replace it. Back it up first "
                          "(`opsbot backup FILE`), then run the restore again with --force")
    with _new_file_beside(ledger, "restore") as temp:
        try:
            with closing(_open_read_only(backup, str(backup))) as source:
                version = check_schema(source, str(backup))
                copy = _copy_into(source, temp)
            with closing(copy):
                check_integrity(copy, str(backup))
                upgraded = upgrade_copy(copy, str(backup))
                check = check_totals(copy, str(backup))
        except sqlite3.Error as exc:
            raise BackupError(f"reading {backup} failed: {exc}") from None
        _sync(temp)
        _swap_in(temp, ledger, where)
    _sync(ledger.parent)
    return Restored(check, version if upgraded else None)


def _swap_in(temp: Path, ledger: Path, where: str) -> None:
    """Rename ``temp`` over ``ledger``. A ledger in WAL mode keeps its last commits in
    ``-wal`` beside it: it is folded in and removed first (leaving WAL mode does both,
    and SQLite allows it only when no other connection is open: a running opsbot is
    refused), and the ledger stays locked until the rename."""
    sides = [Path(f"{ledger}{side}") for side in SIDE_FILES]
    if not ledger.exists():
        stray = [str(side) for side in sides if side.exists()]
        if stray:
            raise BackupError(f"{', '.join(stray)} {'is' if len(stray) == 1 else 'are'} there without {ledger}: "
                              "move them away first (they may hold the end of a ledger)")
        os.replace(temp, ledger)
        return
    if ledger_contents(ledger) == NOT_A_DATABASE:  # forced: there is nothing of SQLite's to fold in
        os.replace(temp, ledger)
        return
    with closing(_connect(ledger, timeout=0)) as current:
        try:
            current.execute("PRAGMA journal_mode=DELETE").fetchall()
            current.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise BackupError(f"{where} is in use ({exc}): stop opsbot first (for example `docker compose stop "
                              "opsbot`), then restore") from None
        os.replace(temp, ledger)
        for side in sides:  # none should be left after leaving WAL mode; never pair one with the new file
            with suppress(FileNotFoundError):
                side.unlink()
        current.execute("ROLLBACK")
