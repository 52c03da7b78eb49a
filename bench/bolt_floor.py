"""The honest floor for opsbot's ack: a hand-written Bolt app doing the same minimal
work a one-line payment needs, and nothing else.

- ``/log-payment EVENT AMOUNT METHOD PATRON…``: parse, then one SQLite transaction
  (BEGIN IMMEDIATE; the idempotency key looked up; the event's totals read and the
  balance checked; the payment inserted; the totals updated; the key inserted;
  COMMIT), the receipt in the ack;
- one lazy listener: one ``chat.postMessage`` of the audit line.

Same Bolt settings as opsbot (process_before_response=True, lazy listeners), same
SQLite settings as opsbot's store (WAL, synchronous=NORMAL, a connection per
thread, one writer lock per process). No permission table, no outbox, no email,
no Block Kit: what any bot that logs a payment and says so must do."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (payment_id TEXT PRIMARY KEY, event_id TEXT NOT NULL, patron TEXT NOT NULL,
  amount_cents INTEGER NOT NULL, method TEXT NOT NULL, logged_by TEXT NOT NULL, recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS totals (event_id TEXT PRIMARY KEY, paid_cents INTEGER NOT NULL,
  payment_count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, payment_id TEXT NOT NULL);
"""


def floor_app(db: Path, *, signing_secret: str, token: str, slack_api_url: str, audit_channel: str,
              event_id: str, event_total_cents: int) -> Any:
    """The floor's Bolt app on ``db`` (created here)."""
    from slack_bolt import App
    from slack_sdk import WebClient

    local = threading.local()
    writer = threading.Lock()

    def conn() -> sqlite3.Connection:
        if getattr(local, "conn", None) is None:
            local.conn = sqlite3.connect(db, timeout=30, isolation_level=None)
            local.conn.execute("PRAGMA journal_mode=WAL")
            local.conn.execute("PRAGMA synchronous=NORMAL")
        return local.conn

    conn().executescript(SCHEMA)
    app = App(signing_secret=signing_secret, process_before_response=True, token_verification_enabled=False,
              client=WebClient(token=token, base_url=slack_api_url))

    def record(command: dict[str, Any]) -> tuple[str, int, str, str, int]:
        event, amount, method, *patron = command["text"].split()
        if event != event_id:
            raise ValueError(f"no event {event}")
        dollars, _, cents = amount.partition(".")
        amount_cents = int(dollars) * 100 + int((cents + "00")[:2])
        key = f"cmd:{command['trigger_id']}"
        c = conn()
        with writer:
            c.execute("BEGIN IMMEDIATE")
            try:
                seen = c.execute("SELECT payment_id FROM idempotency WHERE key=?", (key,)).fetchone()
                row = c.execute("SELECT paid_cents, payment_count FROM totals WHERE event_id=?", (event,)).fetchone()
                paid, count = row or (0, 0)
                if seen is not None:
                    c.execute("COMMIT")
                    return seen[0], paid, method, " ".join(patron), amount_cents
                if paid + amount_cents > event_total_cents:
                    raise ValueError("over the balance")
                payment_id = "pay_" + uuid.uuid4().hex[:10]
                c.execute("INSERT INTO payments VALUES (?,?,?,?,?,?,datetime('now'))",
                          (payment_id, event, " ".join(patron), amount_cents, method, command["user_id"]))
                c.execute("INSERT INTO totals VALUES (?,?,1) ON CONFLICT(event_id) DO UPDATE SET "
                          "paid_cents=paid_cents+excluded.paid_cents, payment_count=payment_count+1",
                          (event, amount_cents))
                c.execute("INSERT INTO idempotency VALUES (?,?)", (key, payment_id))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return payment_id, paid + amount_cents, method, " ".join(patron), amount_cents

    def log_payment(ack, command) -> None:
        try:
            payment_id, paid, method, patron, amount_cents = record(command)
        except ValueError as exc:
            ack(response_type="ephemeral", text=f"Not recorded: {exc}.")
            return
        ack(response_type="ephemeral",
            text=f"Recorded: ${amount_cents / 100:,.2f} ({method}) from {patron} (`{payment_id}`). "
                 f"Balance now ${(event_total_cents - paid) / 100:,.2f}.")

    def announce(command, client) -> None:
        client.chat_postMessage(channel=audit_channel,
                                text=f"<@{command['user_id']}> logged {command['text']}")

    app.command("/log-payment")(ack=log_payment, lazy=[announce])
    return app


def floor_totals(db: Path, event_id: str) -> tuple[int, int, int]:
    """(paid_cents, payment_count, payment rows) as the floor wrote them."""
    c = sqlite3.connect(db)
    try:
        paid, count = c.execute("SELECT paid_cents, payment_count FROM totals WHERE event_id=?",
                                (event_id,)).fetchone() or (0, 0)
        rows = c.execute("SELECT count(*) FROM payments").fetchone()[0]
    finally:
        c.close()
    return paid, count, rows
