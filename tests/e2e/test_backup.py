"""``opsbot backup`` and ``opsbot restore``: a consistent copy of a live SQLite ledger
(taken while another process writes), a restore that checks the copy first and
replaces the ledger in one rename, every refusal leaving everything as it was; and
for DynamoDB, what point-in-time recovery covers."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.domain import EventTotals, Payment
from bot.core.ports import SchemaTooNew, refund_failed_key, refund_key
from infra.sqlite_backup import BackupError, backup_ledger, restore_ledger
from infra.sqlite_store import SCHEMA_VERSION, SqliteStore
from tests.conftest import PROJECT_VERSION, REPO
from tests.crash_writer import EVENT_IDS, open_ledger, operation, perform, write_events_file
from tests.e2e.test_cli import run_cli
from tests.integration.test_schema_versions import contents, raw, shipped_contents, shipped_ledger, user_version

TOTAL_CENTS = 10_000_000


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    return write_events_file(tmp_path / "events.json", TOTAL_CENTS)


def ledger_with(tmp_path: Path, events_file: Path, steps: int, name: str = "opsbot.db") -> Path:
    """A ledger holding the crash writer's first ``steps`` steps (payments, Stripe payments, voids)."""
    db = tmp_path / name
    ledger = open_ledger(str(db), str(events_file))
    for n in range(steps):
        perform(ledger, operation(n))
    ledger.store.close()
    return db


def sums_by_event(db: Path) -> dict[str, tuple[int, int]]:
    """Each event's paid amount and count, added up here from the records (not read from the totals)."""
    with raw(db) as conn:
        rows = conn.execute("SELECT event_id, amount_cents, kind FROM payments").fetchall()
    sums: dict[str, tuple[int, int]] = {}
    for event_id, amount, kind in rows:
        paid, count = sums.get(event_id, (0, 0))
        sums[event_id] = (paid + amount, count + (-1 if kind == "void" else 1))
    return sums


def stored_totals(db: Path) -> dict[str, tuple[int, int]]:
    with raw(db) as conn:
        return {e: (paid, count) for e, paid, count in
                conn.execute("SELECT event_id, paid_cents, payment_count FROM events")}


def leftovers(folder: Path) -> list[str]:
    """Temporary files a backup or restore may have left (none, ever)."""
    return sorted(p.name for p in folder.iterdir() if ".backup-" in p.name or ".restore-" in p.name)


# -- backup under writes --------------------------------------------------------------------------------------


def test_backups_taken_while_another_process_writes_are_consistent_and_restore_to_exact_totals(
        tmp_path, events_file, cli_env):
    db = tmp_path / "live.db"
    child = subprocess.Popen([sys.executable, "-m", "tests.crash_writer", str(db), str(events_file), "0"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                             env={k: v for k, v in os.environ.items() if not k.startswith("OPSBOT_")})
    assert child.stdout is not None
    acks: dict[int, str] = {}  # step -> its record id, as the writer acknowledged it
    taken: list[tuple[Path, int]] = []  # each backup, and how many steps were acknowledged before it began

    def read_until(enough: int, marker: str) -> None:
        while True:
            line = child.stdout.readline()
            assert line, f"the writer stopped: {child.stderr.read() if child.stderr else ''}"
            words = line.split()
            if words[0] not in ("begin", "txn", "committed"):
                acks[int(words[0])] = words[2]
            elif words[0] == marker and len(acks) >= enough:
                return

    try:
        for i in range(6):
            # Back up right as the writer holds its write transaction open (another process, another connection).
            read_until(25 * (i + 1), "txn")
            before = len(acks)
            backup_ledger(db, tmp_path / f"backup-{i}.db")
            read_until(before + 5, "committed")  # and the writer went on
            taken.append((tmp_path / f"backup-{i}.db", before))
    finally:
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()  # through the text buffer: communicate() would skip what it holds
        child.wait(timeout=30)
        assert child.stderr is not None
        child.stderr.close()
    for line in rest.split("\n")[:-1]:  # what it acknowledged before it died (a torn last line does not count)
        words = line.split()
        if words[0] not in ("begin", "txn", "committed"):
            acks[int(words[0])] = words[2]

    assert sorted(acks) == list(range(len(acks)))
    ids_in_order = [acks[n] for n in range(len(acks))]
    for backup, before in taken:
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        with raw(backup) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file, no -wal
            ids = {row[0] for row in conn.execute("SELECT payment_id FROM payments")}
        # The ledger as of one commit: exactly the writer's first k steps, k at least what was acknowledged
        # before the backup began (one more may have committed without its acknowledgement).
        assert before <= len(ids) <= len(ids_in_order) + 1, (before, len(ids), len(ids_in_order))
        assert set(ids_in_order[:len(ids)]) == ids or (len(ids) == len(ids_in_order) + 1
                                                       and set(ids_in_order) < ids)
        assert stored_totals(backup) == sums_by_event(backup)

    # The last backup, restored by the command line into a new ledger: the same records, the same totals.
    backup = taken[-1][0]
    restored = tmp_path / "restored.db"
    cli_env["OPSBOT_STORE"] = f"sqlite:///{restored}"
    result = run_cli(cli_env, "restore", str(backup), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = len(contents(backup)["payments"])
    assert result.stdout.startswith(f"Restored SQLite store {restored} from {backup}: schema version "
                                    f"{SCHEMA_VERSION}, {records:,} records (payments and voids) on 3 events, $")
    assert contents(restored) == contents(backup)
    store = SqliteStore(restored)
    store.ping()
    totals = store.event_totals(EVENT_IDS)
    assert {e: (t.paid_cents, t.payment_count) for e, t in totals.items()} == sums_by_event(backup)
    live = SqliteStore(db)
    for event_id in EVENT_IDS:
        restored_records = store.event_payments(event_id)
        kept = {q.payment_id for q in restored_records}
        # The writer went on after the backup: a payment it voided later is voided live but
        # not in the copy, whose void is not there either. Everything else is identical.
        as_of_backup = [p if p.voided_by is None or p.voided_by in kept else replace(p, voided_by=None)
                        for p in live.event_payments(event_id) if p.payment_id in kept]
        assert restored_records == as_of_backup
    assert leftovers(tmp_path) == []


def test_a_backup_holds_what_was_committed_and_neither_waits_for_nor_blocks_a_writer(tmp_path, events_file):
    db = ledger_with(tmp_path, events_file, 12)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a write in progress: the bot holding the write lock
    writer.execute("UPDATE events SET paid_cents = paid_cents + 1 WHERE event_id = ?", (EVENT_IDS[0],))
    first = backup_ledger(db, tmp_path / "during.db")
    writer.execute("ROLLBACK")
    assert first.records == 12
    assert stored_totals(tmp_path / "during.db") == sums_by_event(db)  # the half-done write is not in it

    ledger = open_ledger(str(db), str(events_file))
    perform(ledger, operation(12))
    ledger.store.close()
    assert backup_ledger(db, tmp_path / "after.db").records == 13


# -- backup refusals ---------------------------------------------------------------------------------------


def test_a_backup_never_replaces_a_file_and_needs_a_ledger(tmp_path, events_file):
    db = ledger_with(tmp_path, events_file, 3)
    existing = tmp_path / "keep.db"
    existing.write_bytes(b"an older backup")
    with pytest.raises(BackupError, match=f"{existing} already exists: a backup never replaces a file"):
        backup_ledger(db, existing)
    assert existing.read_bytes() == b"an older backup"
    with pytest.raises(BackupError, match=f"{db} already exists"):
        backup_ledger(db, db)
    with pytest.raises(BackupError, match="does not exist: nothing to back up"):
        backup_ledger(tmp_path / "nope.db", tmp_path / "b.db")
    with pytest.raises(BackupError, match="is not a folder"):
        backup_ledger(db, tmp_path / "no" / "such" / "b.db")
    assert leftovers(tmp_path) == []


def test_a_ledger_that_fails_its_check_is_not_backed_up(tmp_path, events_file):
    db = ledger_with(tmp_path, events_file, 6)
    with raw(db) as conn:
        conn.execute("UPDATE events SET paid_cents = paid_cents + 1 WHERE event_id = ?", (EVENT_IDS[1],))
    with pytest.raises(BackupError, match=f"the totals of event {EVENT_IDS[1]} do not match its records"):
        backup_ledger(db, tmp_path / "b.db")
    assert not (tmp_path / "b.db").exists()
    assert leftovers(tmp_path) == []


# -- restore refusals: the copy is checked first ------------------------------------------------------------------


@pytest.fixture
def good_backup(tmp_path, events_file) -> Path:
    db = ledger_with(tmp_path, events_file, 9, "source.db")
    backup = tmp_path / "good.db"
    backup_ledger(db, backup)
    return backup


def refused(backup: Path, target: Path, message: str, *, force: bool = False) -> None:
    before = target.read_bytes() if target.exists() else None
    with pytest.raises(BackupError) as error:
        restore_ledger(backup, target, force=force)
    assert message in str(error.value)
    assert (target.read_bytes() if target.exists() else None) == before
    assert leftovers(target.parent) == []


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not SQLite " * 100)
    refused(junk, tmp_path / "opsbot.db", f"{junk} is not an SQLite database (file is not a database)")
    refused(tmp_path / "missing.db", tmp_path / "opsbot.db", f"{tmp_path / 'missing.db'}: no such file")


def test_a_damaged_copy_fails_the_integrity_check(tmp_path, events_file):
    db = ledger_with(tmp_path, events_file, 200, "big.db")
    with raw(db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 4
    with db.open("r+b") as file:  # scribble over the middle of the last page: a b-tree page of the ledger
        file.seek((pages - 1) * page_size + 16)
        file.write(b"\xff" * (page_size // 2))
    refused(db, tmp_path / "opsbot.db", f"{db} fails SQLite's integrity check: ")


def test_a_copy_from_a_newer_opsbot_or_of_something_else_is_refused(tmp_path, good_backup):
    with raw(good_backup) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    refused(good_backup, tmp_path / "opsbot.db",
            f"{good_backup} has schema version {SCHEMA_VERSION + 1}, newer than this opsbot ({PROJECT_VERSION}) "
            f"knows: it reads versions up to {SCHEMA_VERSION}.")
    other = tmp_path / "photos.db"
    with raw(other) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    refused(other, tmp_path / "opsbot.db", f"{other} is not an opsbot ledger (it has no payments table)")


def test_a_copy_whose_totals_do_not_add_up_is_refused(tmp_path, good_backup):
    with raw(good_backup) as conn:
        conn.execute("UPDATE payments SET amount_cents = amount_cents + 100 WHERE rowid = 1")
        event_id = conn.execute("SELECT event_id FROM payments WHERE rowid = 1").fetchone()[0]
    refused(good_backup, tmp_path / "opsbot.db", f"the totals of event {event_id} do not match its records (stored $")
    with raw(good_backup) as conn:
        conn.execute("UPDATE payments SET amount_cents = amount_cents - 100 WHERE rowid = 1")
        conn.execute("DELETE FROM events WHERE event_id = ?", (event_id,))
    refused(good_backup, tmp_path / "opsbot.db", f"records of {event_id} have no event totals")


# -- restore refusals: the ledger it would replace -------------------------------------------------------------


def test_a_ledger_with_anything_in_it_is_replaced_only_with_force(tmp_path, events_file, good_backup):
    target = ledger_with(tmp_path, events_file, 4, "opsbot.db")
    before = contents(target)
    refused(good_backup, target, f"SQLite store {target} is not empty (4 payment records, ")
    refused(target, target, f"{target} is the ledger itself: restore from a backup file", force=True)
    assert contents(target) == before

    restored = restore_ledger(good_backup, target, force=True)

    assert restored.check.records == 9 and restored.upgraded_from is None
    assert contents(target) == contents(good_backup)
    assert not any(Path(f"{target}{side}").exists() for side in ("-wal", "-shm", "-journal"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    SqliteStore(target).ping()


def test_a_ledger_open_in_a_running_opsbot_is_not_replaced(tmp_path, events_file, good_backup):
    target = ledger_with(tmp_path, events_file, 2, "opsbot.db")
    running = SqliteStore(target)
    running.ping()  # its connection stays open, as the bot's do
    refused(good_backup, target, "is in use (database is locked): stop opsbot first", force=True)
    assert running.event_payments(EVENT_IDS[0])  # and it goes on working


def test_a_stray_wal_without_its_ledger_is_not_paired_with_the_restore(tmp_path, good_backup):
    target = tmp_path / "opsbot.db"
    Path(f"{target}-wal").write_bytes(b"the end of some ledger")
    refused(good_backup, target, f"{target}-wal is there without {target}: move them away first")


def test_an_unversioned_backup_is_upgraded_on_the_way_in(tmp_path):
    old = tmp_path / "old-backup.db"
    shipped_ledger(old)
    assert user_version(old) == 0
    restored = restore_ledger(old, tmp_path / "opsbot.db")
    assert restored.upgraded_from == 0
    assert user_version(tmp_path / "opsbot.db") == SCHEMA_VERSION
    upgraded = contents(tmp_path / "opsbot.db")
    assert upgraded.pop("outbox") == []  # what later versions added, empty or built from the records;
    assert len(upgraded.pop("patron_totals")) == 14  # the rest as it was
    assert set(upgraded) == set(contents(old))
    assert shipped_contents(tmp_path / "opsbot.db") == shipped_contents(old)


def test_the_store_itself_refuses_a_restored_ledger_from_a_newer_opsbot(tmp_path, good_backup):
    # The check is the store's own: what restore refuses, start-up refuses too.
    with raw(good_backup) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        SqliteStore(good_backup).ping()


# -- the command line ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(opsbot_env, tmp_path):
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
            **opsbot_env}


def test_backup_and_restore_from_the_command_line(tmp_path, cli_env, events_file):
    db = ledger_with(tmp_path, events_file, 7)
    cli_env["OPSBOT_STORE"] = f"sqlite:///{db}"
    made = run_cli(cli_env, "backup", "copy.db", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    check = backup_ledger(db, tmp_path / "check.db")
    assert made.stdout == f"Backed up SQLite store {db} to copy.db: {check.summary()}.\n"
    assert "7 records (payments and voids) on 3 events" in made.stdout

    again = run_cli(cli_env, "backup", "copy.db", cwd=tmp_path)
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr == "opsbot: copy.db already exists: a backup never replaces a file; choose a new name\n"

    refusal = run_cli(cli_env, "restore", "copy.db", cwd=tmp_path)
    assert (refusal.returncode, refusal.stdout) == (1, "")
    assert refusal.stderr.startswith(f"opsbot: SQLite store {db} is not empty (7 payment records, ")
    assert refusal.stderr.endswith("then run the restore again with --force\n")

    forced = run_cli(cli_env, "restore", "copy.db", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout == f"Restored SQLite store {db} from copy.db: {check.summary()}.\n"


def test_on_dynamodb_backup_and_restore_say_what_point_in_time_recovery_covers(tmp_path, cli_env, moto_endpoint):
    cli_env.update({"OPSBOT_STORE": "dynamodb://opsbot-pitr", "AWS_ENDPOINT_URL": moto_endpoint,
                    "AWS_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    created = run_cli(cli_env, "init-store", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert created.stdout == ("DynamoDB table opsbot-pitr: created the table, turned point-in-time recovery on "
                              "(existing data is kept; safe to run again).\n")

    backup = run_cli(cli_env, "backup", "copy.db", cwd=tmp_path)
    assert backup.returncode == 1
    assert backup.stderr == "opsbot: nothing was written to copy.db\n"
    assert not (tmp_path / "copy.db").exists()
    lines = backup.stdout.splitlines()
    assert lines[0] == ("DynamoDB table opsbot-pitr: `opsbot backup` copies SQLite ledgers only; DynamoDB keeps the "
                        "ledger's backups itself, with point-in-time recovery.")
    assert lines[1].startswith("Point-in-time recovery is ON: the table can be restored to any second from ")
    assert lines[2].startswith("A copy to keep beyond that: aws dynamodb create-backup --table-name opsbot-pitr")

    restore = run_cli(cli_env, "restore", "copy.db", cwd=tmp_path)
    assert restore.returncode == 1
    assert restore.stderr == "opsbot: nothing was restored\n"
    assert "aws dynamodb restore-table-to-point-in-time --source-table-name opsbot-pitr" in restore.stdout


def test_on_dynamodb_without_point_in_time_recovery_backup_says_it_is_off_and_how_to_turn_it_on(
        tmp_path, cli_env, moto_endpoint):
    from tests.stores import make_dynamo_store

    store = make_dynamo_store(moto_endpoint)
    store._create_table()  # made by hand: recovery is off
    cli_env.update({"OPSBOT_STORE": f"dynamodb://{store.table}", "AWS_ENDPOINT_URL": moto_endpoint,
                    "AWS_REGION": "us-west-2", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    backup = run_cli(cli_env, "backup", "copy.db", cwd=tmp_path)
    assert backup.returncode == 1
    assert (f"Point-in-time recovery is OFF: nothing covers this table. Turn it on: aws dynamodb "
            f"update-continuous-backups --table-name {store.table} --point-in-time-recovery-specification "
            "PointInTimeRecoveryEnabled=true") in backup.stdout.splitlines()


def test_a_ledger_with_refunds_backs_up_and_restores_with_its_totals_checked(tmp_path):
    source = tmp_path / "source.db"
    store = SqliteStore(source)
    store.init_schema()
    at = datetime(2026, 5, 20, 22, 0, tzinfo=UTC)

    def record(n: int, amount: int, **kw) -> Payment:
        return Payment(payment_id=f"rec_{n:04d}", event_id="jada", patron="Ana", amount_cents=amount,
                       method="stripe", notes="", logged_by="stripe", recorded_at=at + timedelta(minutes=n),
                       day="2026-05-20", source="stripe", **kw)

    for n in (1, 2):
        store.record_payment(record(n, 10_000, payment_intent=f"pi_{n}"), total_cents=50_000, idempotency_key=f"k{n}")
    for n, paid, cents, kind, refund_id in [(3, "rec_0001", -4_000, "refund", "re_3"),
                                            (4, "rec_0002", -10_000, "refund", "re_4"),
                                            (5, "rec_0002", 10_000, "refund_failed", "re_4"),
                                            (6, "rec_0002", -10_000, "refund", "re_6")]:
        key = refund_failed_key(refund_id) if kind == "refund_failed" else refund_key(refund_id)
        store.refund_payment(paid, record(n, cents, kind=kind, voids=paid, stripe_id=refund_id), idempotency_key=key)
    store.close()
    backup_ledger(source, tmp_path / "backup.db")
    restored = restore_ledger(tmp_path / "backup.db", tmp_path / "opsbot.db")
    assert restored is not None
    assert SqliteStore(tmp_path / "opsbot.db").event_totals(["jada"])["jada"] == EventTotals("jada", 6_000, 1)
    with raw(tmp_path / "backup.db") as conn:  # a count that does not say what stands is caught
        conn.execute("UPDATE events SET payment_count = 2")
    refused(tmp_path / "backup.db", tmp_path / "other.db", "the totals of event jada do not match its records")
