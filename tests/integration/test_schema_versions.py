"""Schema versions: the SQLite ledger's ``PRAGMA user_version`` and its ordered
migrations (a ledger as first shipped, unversioned, upgraded in place with nothing
lost; a ledger from a newer opsbot refused), and DynamoDB's per-item format version."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.domain import AuditEntry, Payment
from bot.core.patrons import patron_totals
from bot.core.ports import SchemaTooNew, StoreError
from infra import sqlite_store
from infra.dynamo_store import ITEM_FORMAT, READ_FORMAT, REFUND_FORMAT
from infra.sqlite_store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    SqliteStore,
    apply_migration,
    prepare_connection,
    sql_statements,
)
from tests.conftest import PROJECT_VERSION
from tests.stores import make_dynamo_store

# The schema exactly as opsbot first shipped it (``CREATE TABLE IF NOT EXISTS``, no version stamp):
# the ledgers of a season that the first migration must take over as they are.
SHIPPED_SCHEMA = """
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

AT = datetime(2026, 5, 20, 22, 0, tzinfo=UTC)


def payment(n: int, event_id: str = "jada", amount: int = 12_345, *, patron: str | None = None, **kw) -> Payment:
    return Payment(payment_id=f"pay_{n:04d}", event_id=event_id, patron=patron or f"Patron & <{n}>",
                   amount_cents=amount,
                   method="venmo", notes=f"note {n}", logged_by="U0CREW00001", recorded_at=AT + timedelta(minutes=n),
                   day="2026-05-20", **kw)


def fill(store: SqliteStore) -> None:
    """Something in every table: payments on two events, a void, a claim, a record, an audit entry, a message ref."""
    for n in range(1, 41):
        store.record_payment(payment(n, "jada" if n % 2 else "whales", patron=f"Patron & <{n % 7}>"),
                             total_cents=10_000_000, idempotency_key=f"key-{n}")
    store.void_payment("pay_0003", payment(1003, "jada", -12_345, kind="void", voids="pay_0003",
                                           patron="Patron & <3>"))
    store.claim("summary:2026-05-20", holder="h1", now=AT, lease=timedelta(minutes=5))
    store.complete_claim("summary:2026-05-20", holder="h1")
    store.put_record("paylinks", "jada", "plink_1", {"url": "https://buy.stripe.com/x", "amount_cents": 25_000})
    store.add_audit(AuditEntry(entry_id="a1", at=AT, day="2026-05-20", actor="U0CREW00001", action="payment.log",
                               result="ok", detail={"payment_id": "pay_0001"}))
    with raw(store.path) as conn:  # where an audit line was, as the first release kept it (the outbox keeps it now)
        conn.execute("INSERT INTO message_refs (record_id, channel, ts) VALUES (?,?,?)",
                     ("pay_0001", "C0AUDIT0001", "1700000000.000100"))


def raw(path: Path) -> closing[sqlite3.Connection]:
    """A plain connection that commits each statement and is closed on leaving the block (a
    connection left to the garbage collector stays open meanwhile, and would count as in use)."""
    return closing(sqlite3.connect(path, isolation_level=None))


def contents(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a fixed order: what must survive an upgrade."""
    with raw(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}


def shipped_columns() -> dict[str, list[str]]:
    """Each shipped table's columns."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(SHIPPED_SCHEMA)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')] for t in tables}


def shipped_contents(path: Path) -> dict[str, list[tuple]]:
    """The rows of the shipped tables in their shipped columns: what every upgrade keeps as it was
    (later versions add tables, and columns with their own values, beside them)."""
    with raw(path) as conn:
        return {t: sorted(conn.execute(f'SELECT {", ".join(cols)} FROM "{t}"').fetchall(), key=repr)
                for t, cols in shipped_columns().items()}


def user_version(path: Path) -> int:
    with raw(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def shipped_ledger(path: Path) -> SqliteStore:
    """A ledger made as the first release made it: the shipped schema, no version, real data (written by
    today's store into a ledger of today's schema, then copied into the shipped tables, column by column)."""
    made = path.with_name(path.name + ".today")
    with raw(made) as conn:  # every migration this opsbot ships (a test may stand others in for them)
        prepare_connection(conn)
        for migration in MIGRATIONS:
            apply_migration(conn, migration)
    today = SqliteStore(made)
    fill(today)
    today.close()
    with raw(path) as conn:
        conn.executescript(SHIPPED_SCHEMA)
        conn.execute("ATTACH DATABASE ? AS today", (str(made),))
        for table in [r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type='table'")]:
            columns = ", ".join(r[1] for r in conn.execute(f'PRAGMA main.table_info("{table}")'))
            conn.execute(f'INSERT INTO main."{table}" ({columns}) SELECT {columns} FROM today."{table}"')
        conn.execute("DETACH DATABASE today")
    made.unlink()
    for side in ("-wal", "-shm"):
        Path(str(made) + side).unlink(missing_ok=True)
    assert user_version(path) == 0
    return SqliteStore(path)


# -- the migrations themselves --------------------------------------------------------------------------


def test_migrations_are_numbered_one_by_one_and_each_says_what_it_is():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert len(MIGRATIONS) == SCHEMA_VERSION
    for migration in MIGRATIONS:
        assert migration.purpose and sql_statements(migration.sql)


def test_the_first_migration_is_the_shipped_schema():
    assert sql_statements(MIGRATIONS[0].sql) == sql_statements(SHIPPED_SCHEMA)


def test_statements_split_at_their_ends_only():
    sql = """CREATE TABLE a (x TEXT DEFAULT 'a;b');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'c;d'; SELECT 1; END;
    CREATE INDEX i ON a (x)"""
    assert sql_statements(sql) == [
        "CREATE TABLE a (x TEXT DEFAULT 'a;b');",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 'c;d'; SELECT 1; END;",
        "CREATE INDEX i ON a (x);",
    ]
    with pytest.raises(ValueError, match="unfinished SQL statement"):
        sql_statements("CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;")


# -- upgrading a real ledger ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["init_schema", "upgrade_schema"])
def test_an_unversioned_ledger_as_shipped_is_stamped_in_place_with_nothing_lost(tmp_path, how):
    db = tmp_path / "opsbot.db"
    store = shipped_ledger(db)
    before = contents(db)
    with pytest.raises(StoreError, match=f"schema version 0, older than this opsbot's {SCHEMA_VERSION}: run "
                                         "`opsbot init-store`"):
        store.ping()

    said = getattr(SqliteStore(db), how)()

    assert said == ("stamped the unversioned ledger (as first shipped) as schema version 1, then upgraded schema "
                    "version 1 to 4 (the outbox: announcements written with their records; Stripe refunds: "
                    "payments keep their Stripe ids and what was refunded; per-patron totals and record counts of "
                    "each event, kept by every write)")
    assert user_version(db) == SCHEMA_VERSION
    after = contents(db)
    assert after.pop("outbox") == []
    kept = after.pop("patron_totals")
    assert shipped_contents(db) == {t: before[t] for t in shipped_columns()}
    assert {row[-3:] for row in after["payments"]} == {(None, None, 0)}  # stripe_id, payment_intent, refunded
    assert set(after) == set(before)
    # The per-patron totals built from the records are what summing the records says.
    for event_id in ("jada", "whales"):
        overview = SqliteStore(db).event_overview(event_id, recent=5)
        records = SqliteStore(db).event_payments(event_id)
        assert overview.patrons == tuple(patron_totals(records))
        assert overview.records == len(records) and overview.recent == tuple(records[-5:])
    assert len(kept) == 14  # 7 patrons on each event; one of Patron & <3>'s 3 payments on jada was voided:
    assert ("jada", "patron & <3>", "Patron & <3>", 2 * 12_345, 2, 4) in kept
    assert SqliteStore(db).message_ref("pay_0001") == ("C0AUDIT0001", "1700000000.000100")  # still found
    upgraded = SqliteStore(db)
    upgraded.ping()
    assert upgraded.event_totals(["jada", "whales"])["jada"].paid_cents == 20 * 12_345 - 12_345
    assert upgraded.init_schema() is None  # nothing more to do, and it says so


@pytest.fixture
def next_migration(monkeypatch):
    """A second schema version, as the next change will add one: a table and its index."""
    added = Migration(2, "the outbox", """
        CREATE TABLE outbox (entry_id TEXT PRIMARY KEY, record_id TEXT NOT NULL, body TEXT NOT NULL);
        CREATE INDEX outbox_by_record ON outbox (record_id);
    """)
    monkeypatch.setattr(sqlite_store, "MIGRATIONS", (*MIGRATIONS[:1], added))
    monkeypatch.setattr(sqlite_store, "SCHEMA_VERSION", 2)
    return added


def test_a_version_1_ledger_with_data_is_upgraded_by_the_next_migration(tmp_path, next_migration):
    db = tmp_path / "opsbot.db"
    store = shipped_ledger(db)
    with raw(db) as conn:
        conn.execute("PRAGMA user_version = 1")
    before = contents(db)

    said = store.upgrade_schema()

    assert said == "upgraded schema version 1 to 2 (the outbox)"
    assert user_version(db) == 2
    after = contents(db)
    assert after.pop("outbox") == []
    assert after == before
    store.ping()


def test_an_unversioned_ledger_goes_through_every_migration_in_order(tmp_path, next_migration):
    db = tmp_path / "opsbot.db"
    shipped_ledger(db)
    said = SqliteStore(db).init_schema()
    assert said == ("stamped the unversioned ledger (as first shipped) as schema version 1, then upgraded schema "
                    "version 1 to 2 (the outbox)")
    assert user_version(db) == 2


def test_a_fresh_file_gets_the_whole_schema(tmp_path, next_migration):
    db = tmp_path / "opsbot.db"
    assert SqliteStore(db).upgrade_schema() is None  # start-up leaves an empty file to init-store
    assert user_version(db) == 0
    assert SqliteStore(db).init_schema() == "created schema version 2"
    assert set(contents(db)) == {"events", "payments", "claims", "audit", "records", "message_refs", "idempotency",
                                 "outbox"}


def test_a_failing_migration_changes_nothing_and_keeps_the_version(tmp_path, monkeypatch):
    db = tmp_path / "opsbot.db"
    store = shipped_ledger(db)
    store.init_schema()
    before = contents(db)
    broken = Migration(SCHEMA_VERSION + 1, "a broken one",
                       "CREATE TABLE half_done (x TEXT); CREATE TABLE payments (y TEXT);")
    monkeypatch.setattr(sqlite_store, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(sqlite_store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="table payments already exists"):
        store.upgrade_schema()
    assert user_version(db) == SCHEMA_VERSION
    assert contents(db) == before  # half_done was rolled back with the stamp


def test_two_upgraders_at_once_run_each_migration_once(tmp_path, next_migration, monkeypatch):
    db = tmp_path / "opsbot.db"
    shipped_ledger(db)
    ran: list[int] = []
    apply = sqlite_store.apply_migration

    def counted(conn: sqlite3.Connection, migration: Migration) -> None:
        ran.append(migration.version)
        apply(conn, migration)

    monkeypatch.setattr(sqlite_store, "apply_migration", counted)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            results.append(SqliteStore(db).upgrade_schema())
        except Exception as exc:  # noqa: BLE001 (collected, asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert user_version(db) == 2
    assert sorted(ran) == [1, 2]  # each migration ran in one of them; the others found it done
    assert len(results) == 4


# -- refusals ---------------------------------------------------------------------------------------------


def test_a_ledger_from_a_newer_opsbot_is_refused_naming_both_versions(tmp_path):
    db = tmp_path / "opsbot.db"
    store = SqliteStore(db)
    store.init_schema()
    with raw(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    message = (f"SQLite store {db} has schema version {SCHEMA_VERSION + 1}, newer than this opsbot "
               f"({PROJECT_VERSION}) knows: it reads versions up to {SCHEMA_VERSION}.")
    for call in (SqliteStore(db).init_schema, SqliteStore(db).upgrade_schema, SqliteStore(db).ping):
        with pytest.raises(SchemaTooNew) as refused:
            call()
        assert str(refused.value).startswith(message)
    assert user_version(db) == SCHEMA_VERSION + 1  # left as it was


def test_a_file_that_is_not_an_opsbot_ledger_is_not_taken_over(tmp_path):
    db = tmp_path / "other.db"
    with raw(db) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match=r"is not an opsbot ledger \(its tables: photos\): point OPSBOT_STORE"):
        SqliteStore(db).init_schema()
    assert set(contents(db)) == {"photos"}


# -- DynamoDB: a format version on the items whose shape may change --------------------------------------------


def raw_item(store, pk: str, sk: str) -> dict:
    return store._client.get_item(TableName=store.table, Key={"PK": {"S": pk}, "SK": {"S": sk}})["Item"]


def test_dynamodb_items_carry_their_format_and_a_newer_one_is_refused(moto_endpoint):
    store = make_dynamo_store(moto_endpoint)
    store.init_schema()
    p = payment(1)
    store.record_payment(p, total_cents=100_000, idempotency_key="k1")
    store.put_record("paylinks", "jada", "plink_1", {"url": "https://buy.stripe.com/x"})
    store.add_audit(AuditEntry(entry_id="a1", at=AT, day="2026-05-20", actor="U1", action="payment.log",
                               result="ok"))
    pay_sk = f"PAY#{p.recorded_at.isoformat()}#{p.payment_id}"
    for pk, sk in (("EVENT#jada", "META"), ("EVENT#jada", pay_sk), ("REC#paylinks#jada", "plink_1"),
                   ("AUDIT#2026-05-20", f"{AT.isoformat()}#a1")):
        assert raw_item(store, pk, sk)["fmt"] == {"N": str(ITEM_FORMAT)}, (pk, sk)

    # An item written before formats were stamped is format 1 and reads as before.
    client = store._client
    client.update_item(TableName=store.table, Key={"PK": {"S": "EVENT#jada"}, "SK": {"S": pay_sk}},
                       UpdateExpression="REMOVE fmt")
    assert store.get_payment(p.payment_id) == p

    # One written by a newer opsbot is refused, not misread.
    newer = READ_FORMAT + 1
    client.update_item(TableName=store.table, Key={"PK": {"S": "EVENT#jada"}, "SK": {"S": pay_sk}},
                       UpdateExpression="SET fmt = :newer", ExpressionAttributeValues={":newer": {"N": str(newer)}})
    with pytest.raises(SchemaTooNew) as refused:
        store.event_payments("jada")
    assert str(refused.value) == (f"a DynamoDB item (EVENT#jada {pay_sk}) has format version {newer}, newer than "
                                  f"this opsbot ({PROJECT_VERSION}) reads (up to {READ_FORMAT}): run the newer "
                                  "opsbot that wrote it")
    assert store.upgrade_schema() is None  # nothing to migrate in place


def test_version_3_keeps_the_stripe_session_of_stripe_payments_recorded_before(tmp_path):
    """A version-2 ledger with a Stripe payment (its Checkout Session kept as its notes) upgrades in place:
    the payment keeps its session as its stripe_id, nothing is refunded, and a refund can be recorded."""
    db = tmp_path / "opsbot.db"
    with raw(db) as conn:
        for migration in MIGRATIONS[:2]:
            apply_migration(conn, migration)
        conn.execute("INSERT INTO payments (payment_id, event_id, recorded_at, day, patron, amount_cents, method, "
                     "notes, logged_by, source, kind) VALUES ('pay_0001', 'jada', ?, '2026-05-20', 'Ana', 10000, "
                     "'stripe', 'cs_test_abc', 'stripe', 'stripe', 'payment')", (AT.isoformat(),))
        conn.execute("INSERT INTO payments (payment_id, event_id, recorded_at, day, patron, amount_cents, method, "
                     "notes, logged_by, source, kind) VALUES ('pay_0002', 'jada', ?, '2026-05-20', 'Bo', 5000, "
                     "'cash', 'cs_ is not a session here', 'U1', 'slack', 'payment')", (AT.isoformat(),))
        conn.execute("INSERT INTO events (event_id, total_cents, paid_cents, payment_count, updated_at) "
                     "VALUES ('jada', 100000, 15000, 2, ?)", (AT.isoformat(),))
    said = SqliteStore(db).init_schema()
    assert said == ("upgraded schema version 2 to 4 (Stripe refunds: payments keep their Stripe ids and what was "
                    "refunded; per-patron totals and record counts of each event, kept by every write)")
    store = SqliteStore(db)
    stripe_paid, cash = store.get_payment("pay_0001"), store.get_payment("pay_0002")
    assert (stripe_paid.stripe_id, stripe_paid.payment_intent, stripe_paid.refunded_cents) == ("cs_test_abc", None, 0)
    assert (cash.stripe_id, cash.refunded_cents) == (None, 0)
    refund = Payment(payment_id="ref_0001", event_id="jada", patron="Ana", amount_cents=-4_000, method="stripe",
                     notes="Stripe refund re_1 of pay_0001", logged_by="stripe", recorded_at=AT, day="2026-05-20",
                     source="stripe", kind="refund", voids="pay_0001", stripe_id="re_1")
    assert store.refund_payment("pay_0001", refund, idempotency_key="refund:re_1").totals.paid_cents == 11_000
    # Version 4's per-patron totals, built from the records at the upgrade, kept by the refund since.
    assert store.event_overview("jada", recent=5).patrons == tuple(patron_totals(store.event_payments("jada")))


def test_dynamodb_items_that_carry_refunds_are_format_2_and_the_rest_stay_format_1(moto_endpoint):
    """A format-1 opsbot would void what a refund took a second time: it must refuse a refund and a payment
    refunds took part of, and may go on reading every other item."""
    store = make_dynamo_store(moto_endpoint)
    store.init_schema()
    paid, cash = payment(1, payment_intent="pi_test_1", source="stripe"), payment(2)
    for n, p in enumerate((paid, cash)):
        store.record_payment(p, total_cents=100_000, idempotency_key=f"k{n}")
    refund = payment(3, amount=-2_345, kind="refund", voids=paid.payment_id, stripe_id="re_1")
    store.refund_payment(paid.payment_id, refund, idempotency_key="refund:re_1")

    def fmt(p: Payment) -> str:
        return raw_item(store, "EVENT#jada", f"PAY#{p.recorded_at.isoformat()}#{p.payment_id}")["fmt"]["N"]

    assert (fmt(paid), fmt(refund), fmt(cash)) == (str(REFUND_FORMAT), str(REFUND_FORMAT), str(ITEM_FORMAT))
    assert raw_item(store, "EVENT#jada", "META")["fmt"] == {"N": str(ITEM_FORMAT)}
    assert store.stripe_payment("pi_test_1").refunded_cents == 2_345
