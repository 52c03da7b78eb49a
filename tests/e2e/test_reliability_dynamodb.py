"""DynamoDB under faults: throttling (``ProvisionedThroughputExceededException``)
and a cancelled transaction (``TransactionConflict``), injected at the HTTP level
in front of moto's server so the real boto3 client and the store meet them as
they would meet DynamoDB's. The bot is driven the way Slack drives it."""

from __future__ import annotations

import time

import pytest

from infra.dynamo_store import MAX_RETRIES
from tests.conftest import ADMIN_USER
from tests.fakes.aws_faults import AwsFaults, dynamodb, throttled, transaction_conflict
from tests.slack_bot import Bot

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("make_bot", ["dynamodb"], indirect=True)]

JADA = "2026-05-23-jada-charter"  # $1,560.00
TRIGGER = "13345224609.738474920.dynamofault1"
STORE_DOWN = ("The ledger's store did not answer, so this payment may not have been recorded. Check `/events` in a "
              "minute before logging it again.")
FORM_NOT_SAVED = ("The ledger's store did not answer, so this payment may not have been recorded. Submit the form "
                  "again in a minute: the same form is never recorded twice.")


def transactions(faults: AwsFaults, bot: Bot) -> int:
    """TransactWriteItems requests on this bot's table that reached the endpoint (faults included)."""
    return len(faults.requests(dynamodb("TransactWriteItems", bot.services.store.table)))


def paid(bot: Bot) -> tuple[int, int]:
    status = bot.services.ledger.status(JADA)
    return status.paid_cents, status.payment_count


def recorded_reply(bot: Bot, amount: str, balance: str) -> dict:
    [payment] = [p for p in bot.services.ledger.event_payments(JADA) if not p.is_void][-1:]
    return {"response_type": "ephemeral", "text": (
        f"Recorded: {amount} (venmo) from Ana Ruiz for JADA Charter (`{payment.payment_id}`). "
        f"Balance now {balance} of $1,560.00.")}


def test_a_throttled_transaction_is_retried_by_the_client_and_recorded_once(make_bot, aws_faults):
    bot = make_bot()
    fault = aws_faults.arm(dynamodb("TransactWriteItems", bot.services.store.table), throttled(), times=2)
    aws_faults.record()
    reply = bot.command("/log-payment", "jada 500 venmo Ana Ruiz", trigger=TRIGGER)
    assert reply.status == 200
    assert reply.json() == recorded_reply(bot, "$500.00", "$1,060.00")
    assert (fault.fired, transactions(aws_faults, bot)) == (2, 3)  # two throttled, the third went through
    bot.lazies.wait_idle()
    assert paid(bot) == (50_000, 1)
    assert [p.amount_cents for p in bot.services.ledger.event_payments(JADA)] == [50_000]
    assert len(bot.audit_posts()) == 1

    # Slack's retry of the same request answers the first result and writes nothing.
    again = bot.command("/log-payment", "jada 500 venmo Ana Ruiz", trigger=TRIGGER,
                        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert again.json() == reply.json()
    bot.lazies.wait_idle()
    assert transactions(aws_faults, bot) == 3
    assert paid(bot) == (50_000, 1) and len(bot.audit_posts()) == 1


def test_a_cancelled_transaction_conflict_is_retried_and_recorded_once(make_bot, aws_faults):
    bot = make_bot()
    # The payment's transaction has four items; another writer held the event totals (the fourth).
    fault = aws_faults.arm(dynamodb("TransactWriteItems", bot.services.store.table), transaction_conflict(4, 3),
                           times=1)
    aws_faults.record()
    reply = bot.command("/log-payment", "jada 500 venmo Ana Ruiz", trigger=TRIGGER)
    assert reply.json() == recorded_reply(bot, "$500.00", "$1,060.00")
    assert (fault.fired, transactions(aws_faults, bot)) == (1, 2)
    bot.lazies.wait_idle()
    assert paid(bot) == (50_000, 1)
    assert len(bot.audit_posts()) == 1


def test_a_void_whose_transaction_conflicts_is_retried_and_voids_once(make_bot, aws_faults):
    bot = make_bot()
    bot.command("/log-payment", "jada 300 venmo Ana Ruiz")
    [payment] = bot.services.ledger.event_payments(JADA)
    fault = aws_faults.arm(dynamodb("TransactWriteItems", bot.services.store.table), transaction_conflict(5, 0),
                           times=1)
    aws_faults.arm(dynamodb("TransactWriteItems", bot.services.store.table), throttled(), times=1)
    aws_faults.record()
    done = bot.command("/opsbot", f"void {payment.payment_id}", user=ADMIN_USER)
    assert done.json()["text"] == (
        f"Voided `{payment.payment_id}`: $300.00 from Ana Ruiz. JADA Charter balance now $1,560.00 of $1,560.00.")
    assert (fault.fired, transactions(aws_faults, bot)) == (1, 3)  # a conflict, a throttle, then through
    bot.lazies.wait_idle()
    assert paid(bot) == (0, 0)
    records = bot.services.ledger.event_payments(JADA)
    assert [(p.kind, p.amount_cents) for p in records] == [("payment", 30_000), ("void", -30_000)]
    again = bot.command("/opsbot", f"void {payment.payment_id}", user=ADMIN_USER)
    assert again.json()["text"] == (
        f"`{payment.payment_id}` was already voided (`{records[1].payment_id}`); nothing changed.")
    bot.lazies.wait_idle()
    assert paid(bot) == (0, 0)


def test_throttling_past_the_retries_is_told_within_slacks_3_seconds_and_nothing_is_recorded(make_bot, aws_faults):
    bot = make_bot()
    table = bot.services.store.table
    fault = aws_faults.arm(dynamodb("TransactWriteItems", table), throttled(), times=50)
    started = time.monotonic()
    reply = bot.command("/log-payment", "jada 500 venmo Ana Ruiz", trigger=TRIGGER)
    took = time.monotonic() - started
    assert (reply.status, reply.json()) == (200, {"response_type": "ephemeral", "text": STORE_DOWN})
    assert took < 3.0
    assert fault.fired == 1 + MAX_RETRIES  # the client retried, then gave up in time

    view = bot.open_modal()
    modal = bot.submit(view, view_id="V0THROTTLED", event=JADA, patron="Ana Ruiz", amount="500", method="venmo")
    assert (modal.status, modal.json()) == (200, {"response_action": "errors", "errors": {"event": FORM_NOT_SAVED}})
    assert fault.fired == 2 * (1 + MAX_RETRIES)
    aws_faults.disarm()
    bot.lazies.wait_idle()
    assert paid(bot) == (0, 0) and bot.audit_posts() == []

    # Once DynamoDB takes writes again, the same modal submitted again records it, once.
    assert bot.submit(view, view_id="V0THROTTLED", event=JADA, patron="Ana Ruiz", amount="500", method="venmo"
                      ).body == b""
    bot.lazies.wait_idle()
    assert paid(bot) == (50_000, 1)
    assert len(bot.audit_posts()) == 1


def test_a_read_throttled_past_the_retries_says_what_could_not_be_done(make_bot, aws_faults):
    bot = make_bot()
    fault = aws_faults.arm(dynamodb("BatchGetItem", bot.services.store.table), throttled(), times=1 + MAX_RETRIES)
    reply = bot.command("/events")
    assert (reply.status, reply.json()) == (200, {"response_type": "ephemeral", "text": (
        "The bot's store did not answer, so `/events` could not be done. Try again in a minute.")})
    assert fault.fired == 1 + MAX_RETRIES
    assert "JADA Charter" in bot.command("/events", "all").text  # once DynamoDB answers again
