"""The SQLite ledger holds patron names, amounts and payers' emails: its files are
created readable by their owner only, and ``opsbot doctor`` warns when others can read them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.core.domain import Payment
from bot.core.ports import StoreError
from infra.sqlite_store import SqliteStore
from tests.e2e.test_doctor import base_env, doctor, run


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most accounts have (022), under which SQLite alone makes files 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def a_payment() -> Payment:
    return Payment(payment_id="pay_modes00001", event_id="gala", patron="Ana Ruiz", amount_cents=5_000,
                   method="cash", notes="", logged_by="U0CREW0001", recorded_at=datetime(2026, 6, 1, tzinfo=UTC),
                   day="2026-06-01")


def test_the_ledger_its_wal_and_shm_and_the_folders_init_store_makes_are_private(tmp_path, usual_umask):
    path = tmp_path / "data" / "ledger" / "opsbot.db"
    store = SqliteStore(path)
    store.init_schema()
    store.record_payment(a_payment(), total_cents=100_000, idempotency_key="k")  # the WAL is written
    files = [path, path.with_name("opsbot.db-wal"), path.with_name("opsbot.db-shm")]
    assert all(f.exists() for f in files)
    assert [oct(mode(f)) for f in files] == [oct(0o600)] * 3
    assert oct(mode(tmp_path / "data")) == oct(0o700) and oct(mode(tmp_path / "data" / "ledger")) == oct(0o700)
    assert store.get_payment("pay_modes00001") == a_payment()


def test_an_existing_folder_and_file_keep_their_modes(tmp_path, usual_umask):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = folder / "opsbot.db"
    SqliteStore(path).init_schema()
    assert oct(mode(folder)) == oct(0o755)  # not opsbot's folder: left alone
    assert oct(mode(path)) == oct(0o600)
    os.chmod(path, 0o644)
    SqliteStore(path).ping()
    assert oct(mode(path)) == oct(0o644)  # an existing file is not changed behind the operator's back


def test_a_store_that_cannot_be_created_says_why(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    store = SqliteStore(blocker / "opsbot.db")
    for step in (store.init_schema, store.ping):
        with pytest.raises(StoreError, match="cannot create SQLite store .*: Not a directory"):
            step()


def test_init_store_makes_a_private_ledger_and_doctor_warns_when_others_can_read_it(tmp_path, usual_umask):
    env = base_env(tmp_path)
    db = tmp_path / "opsbot.db"
    assert run(env, "init-store", cwd=tmp_path).returncode == 0  # the child inherits the 022 umask
    assert oct(mode(db)) == oct(0o600)
    status, lines, _ = doctor(env, tmp_path)
    assert status == 0
    assert f"✓ ledger file {db}: readable by its owner only" in lines

    os.chmod(db, 0o644)
    status, lines, _ = doctor(env, tmp_path)
    assert status == 0  # a warning, not a failure: the bot works
    # SQLite gives the -wal and -shm files the database's mode, so they are named too while they exist.
    assert any(line.startswith(f"! ledger file others can read or write {db} (-rw-r--r--)") for line in lines)
    assert f"→ chmod 600 {db} {db}-wal {db}-shm {db}-journal (the ones that exist), and keep the folder " \
           "private (chmod 700)" in lines
    assert lines[-1] == "1 warning: the ! lines work, but should be fixed."
