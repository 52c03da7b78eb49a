"""Slack failing under the bot: rate limits (429 with Retry-After), server errors
(HTTP 500/503), answers lost after Slack posted, a deliverer that stops half-way.
The audit line goes out once Slack takes it, never twice, and the reply never
waits for Slack. The bot is driven the way Slack drives it (signed HTTP to the
running server, the Web API answered by the local stand-in, which scripts the
failures); the outbox's deliverer runs as `opsbot serve` runs it."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.core.ports import StoreError
from tests.conftest import AUDIT_CHANNEL
from tests.fakes.stripe_api import checkout_session_event
from tests.slack_bot import CREW, TEST_POLICY, Bot
from tests.stripe_fixtures import deliver

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)]  # Slack's faults, not the store's

JADA = "2026-05-23-jada-charter"


def audit_tries(bot: Bot) -> list:
    """Every chat.postMessage to the audit channel, answered or refused."""
    return bot.audit_posts()


def posted(bot: Bot) -> list:
    """The audit lines Slack took."""
    return [c for c in bot.audit_posts() if c.status == 200 and c.response.get("ok")]


def section_text(call) -> str:
    return "\n".join(b["text"]["text"] for b in call.params["blocks"] if b["type"] == "section")


def log_payment(bot: Bot) -> str:
    """A one-line payment; returns its id (the reply, the ack, never waits for Slack's Web API)."""
    reply = bot.command("/log-payment", "jada 500 venmo Ana Ruiz")
    [payment] = bot.services.ledger.event_payments(JADA)
    assert reply.json() == {"response_type": "ephemeral", "text": (
        f"Recorded: $500.00 (venmo) from Ana Ruiz for JADA Charter (`{payment.payment_id}`). "
        "Balance now $1,060.00 of $1,560.00.")}
    return payment.payment_id


def assert_one_audit_line(bot: Bot, payment_id: str) -> None:
    [line] = posted(bot)
    assert line.params["channel"] == AUDIT_CHANNEL
    assert f"<@{CREW}> logged *$500.00* (venmo) from *Ana Ruiz* for *JADA Charter*" in section_text(line)
    assert line.params["blocks"][-1]["elements"][0]["value"] == payment_id
    assert bot.services.store.message_ref(payment_id) == (AUDIT_CHANNEL, line.response["ts"])


def same_message(a, b) -> bool:
    """The same line (a retry carries its own claim id in the metadata)."""
    return (a.params["text"], a.params["blocks"]) == (b.params["text"], b.params["blocks"])


def test_a_rate_limited_audit_line_waits_retry_after_and_is_sent_once(make_bot):
    bot = make_bot()
    bot.slack_api.rate_limit_next("chat.postMessage", retry_after=1)
    payment_id = log_payment(bot)
    answered = time.monotonic()
    bot.lazies.wait_idle()
    limited, sent = audit_tries(bot)
    assert (limited.status, sent.status) == (429, 200)
    assert sent.at - limited.at >= 1.0  # the deliverer waited the Retry-After
    assert answered < sent.at  # the crew member's reply did not wait for it
    assert same_message(sent, limited)  # the same message, sent again as it was
    assert_one_audit_line(bot, payment_id)


def test_server_errors_are_retried_after_checking_the_line_is_not_there_and_it_is_sent_once(make_bot):
    bot = make_bot()
    bot.slack_api.script_next("chat.postMessage", 500, "upstream request failed")
    bot.slack_api.script_next("chat.postMessage", 503, {"ok": False, "error": "service_unavailable"})
    payment_id = log_payment(bot)
    bot.lazies.wait_idle()
    assert [c.status for c in audit_tries(bot)] == [500, 503, 200]
    # A 5xx may hide a post that happened: the history is read before each new try.
    assert len(bot.slack_api.calls("conversations.history")) == 2
    assert_one_audit_line(bot, payment_id)


def test_an_internal_error_is_not_posted_again_when_slack_posted_it_anyway(make_bot):
    # Slack answers its own errors with a 200 and ok: false; internal_error warns that the
    # message may have been posted all the same. Here it was: the deliverer finds it and stops.
    bot = make_bot()
    bot.slack_api.fail_next("chat.postMessage", "internal_error", applied=True)
    payment_id = log_payment(bot)
    bot.lazies.wait_idle()
    [only] = audit_tries(bot)
    assert (only.status, only.response) == (200, {"ok": False, "error": "internal_error"})
    [looked] = bot.slack_api.calls("conversations.history")
    assert looked.params["channel"] == AUDIT_CHANNEL and looked.params["include_all_metadata"] in ("1", "true", True)
    entry = bot.services.store.get_entry(f"{payment_id}:audit")
    assert entry.state == "delivered"
    [message] = bot.slack_api.calls("conversations.history")[0].response["messages"]
    assert entry.result == {"channel": AUDIT_CHANNEL, "ts": message["ts"]}
    assert bot.services.store.message_ref(payment_id) == (AUDIT_CHANNEL, message["ts"])


def test_an_internal_error_that_posted_nothing_is_posted_once(make_bot):
    bot = make_bot()
    bot.slack_api.fail_next("chat.postMessage", "internal_error")
    payment_id = log_payment(bot)
    bot.lazies.wait_idle()
    assert [(c.status, c.response["ok"]) for c in audit_tries(bot)] == [(200, False), (200, True)]
    assert len(bot.slack_api.calls("conversations.history")) == 1
    assert_one_audit_line(bot, payment_id)


def test_slack_down_never_holds_up_stripe_and_the_line_goes_out_once_slack_is_back(make_bot, stripe_api):
    from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET

    bot = make_bot(STRIPE_API_KEY=API_KEY, OPSBOT_STRIPE_API_BASE=stripe_api.base_url,
                   STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    bot.slack_api.script_next("chat.postMessage", 503, {"ok": False, "error": "service_unavailable"}, times=3)
    event = checkout_session_event(session_id="cs_test_slackdown", amount_total=12_500, metadata={"event_id": JADA},
                                   name="Cy Lee")
    first = deliver(bot, event)
    assert (first.status, first.json()["status"]) == (200, "recorded")  # Stripe is answered at once
    assert deliver(bot, event).json()["replayed"] is True  # a redelivery records and announces nothing new
    bot.lazies.wait_idle()
    assert [c.status for c in audit_tries(bot)] == [503, 503, 503, 200]
    [line] = posted(bot)
    assert "*$125.00* (stripe) from *Cy Lee* for *JADA Charter*" in section_text(line)
    assert bot.services.ledger.status(JADA).paid_cents == 12_500


def test_a_line_slack_took_is_not_posted_again_when_the_deliverer_stopped_before_noting_it(make_bot, monkeypatch):
    """Slack posted the line; the store failed as the deliverer noted it (as if the process died
    there). The entry stays claimed until its lease runs out; whoever takes it over finds the
    line in the channel's history (by the claim's id in its metadata) and does not post it again."""
    bot = make_bot(policy=replace(TEST_POLICY, lease=timedelta(seconds=1)))
    store = bot.services.store
    real = store.settle_entries
    failures = iter([StoreError("SQLite store: database is locked")])

    def settle_entries(settled, *, holder, now):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(settled, holder=holder, now=now)

    monkeypatch.setattr(store, "settle_entries", settle_entries)
    payment_id = log_payment(bot)
    bot.lazies.wait_idle()
    assert len(audit_tries(bot)) == 1  # Slack took the line the first time: it is never sent again
    assert len(bot.slack_api.calls("conversations.history")) == 1
    assert_one_audit_line(bot, payment_id)
