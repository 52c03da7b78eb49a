"""Slack failing under the bot: rate limits (429 with Retry-After) and server
errors (HTTP 500/503). The audit line is sent once Slack takes it, never twice.
The bot is driven the way Slack drives it (signed HTTP to the running server,
the Web API answered by the local stand-in, which scripts the failures)."""

from __future__ import annotations

import time

import pytest

from bot.ports import StoreError
from tests.conftest import AUDIT_CHANNEL
from tests.fakes.stripe_api import checkout_session_event
from tests.slack_bot import CREW, Bot
from tests.stripe_fixtures import deliver

pytestmark = pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)  # Slack's faults, not the store's

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


def test_a_rate_limited_audit_line_waits_retry_after_and_is_sent_once(make_bot):
    bot = make_bot()
    bot.slack_api.rate_limit_next("chat.postMessage", retry_after=1)
    payment_id = log_payment(bot)
    answered = time.monotonic()
    bot.lazies.wait_idle()
    limited, sent = audit_tries(bot)
    assert (limited.status, sent.status) == (429, 200)
    assert sent.at - limited.at >= 1.0  # the client waited the Retry-After
    assert answered < sent.at  # the crew member's reply did not wait for it
    assert sent.params == limited.params  # the same message, sent again as it was
    assert_one_audit_line(bot, payment_id)


def test_server_errors_are_retried_and_the_audit_line_is_sent_once(make_bot):
    bot = make_bot()
    bot.slack_api.script_next("chat.postMessage", 500, "upstream request failed")
    bot.slack_api.script_next("chat.postMessage", 503, {"ok": False, "error": "service_unavailable"})
    payment_id = log_payment(bot)
    bot.lazies.wait_idle()
    assert [c.status for c in audit_tries(bot)] == [500, 503, 200]
    assert_one_audit_line(bot, payment_id)


def test_an_ok_false_answer_is_not_sent_again_by_the_client(make_bot):
    # Slack answers its own errors with a 200 and ok: false; internal_error and fatal_error say the
    # post may have happened anyway, so the client never repeats it on its own.
    bot = make_bot()
    bot.slack_api.fail_next("chat.postMessage", "internal_error")
    log_payment(bot)
    bot.lazies.wait_idle()
    assert [(c.status, c.response["ok"]) for c in audit_tries(bot)] == [(200, False)]
    assert posted(bot) == []


def test_slack_down_past_the_retries_leaves_the_line_to_stripes_redelivery_which_posts_it_once(make_bot,
                                                                                              stripe_api):
    from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET

    bot = make_bot(STRIPE_API_KEY=API_KEY, OPSBOT_STRIPE_API_BASE=stripe_api.base_url,
                   STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    bot.slack_api.script_next("chat.postMessage", 503, {"ok": False, "error": "service_unavailable"}, times=3)
    event = checkout_session_event(session_id="cs_test_slackdown", amount_total=12_500, metadata={"event_id": JADA},
                                   name="Cy Lee")
    first = deliver(bot, event)
    assert (first.status, first.json()["error"]) == (503, (
        "recorded, but the audit line was not posted (chat.postMessage to C0AUDIT0001 failed: service_unavailable); "
        "a redelivery will post it"))
    assert [c.status for c in audit_tries(bot)] == [503, 503, 503]  # one try and the client's two retries

    again = deliver(bot, event)  # Stripe redelivers; Slack is back
    assert (again.status, again.json()["status"], again.json()["replayed"]) == (200, "recorded", True)
    assert deliver(bot, event).status == 200  # and once more: nothing is posted again
    [line] = posted(bot)
    assert "*$125.00* (stripe) from *Cy Lee* for *JADA Charter*" in section_text(line)
    assert bot.services.ledger.status(JADA).paid_cents == 12_500


def test_a_line_slack_took_is_not_posted_again_when_the_store_failed_to_keep_its_place(make_bot, stripe_api,
                                                                                      monkeypatch):
    from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET

    bot = make_bot(STRIPE_API_KEY=API_KEY, OPSBOT_STRIPE_API_BASE=stripe_api.base_url,
                   STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    store = bot.services.store
    real = store.set_message_ref
    failures = iter([StoreError("SQLite store: database is locked")])

    def set_message_ref(record_id: str, channel: str, ts: str) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real(record_id, channel, ts)

    monkeypatch.setattr(store, "set_message_ref", set_message_ref)
    event = checkout_session_event(session_id="cs_test_refgone", amount_total=12_500, metadata={"event_id": JADA},
                                   name="Cy Lee")
    first = deliver(bot, event)
    assert first.status == 500  # Stripe will redeliver
    assert len(posted(bot)) == 1
    for _ in range(2):
        assert deliver(bot, event).status == 200
    assert len(audit_tries(bot)) == 1  # Slack took the line the first time: it is never sent again
    assert bot.services.ledger.status(JADA).paid_cents == 12_500
