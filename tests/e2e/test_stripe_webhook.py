"""POST /stripe/webhook on the running server, with events signed by the stripe
library's own helper (stripe.WebhookSignature), on SQLite and on DynamoDB."""

from __future__ import annotations

import json
import time

import stripe

from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET, StripeApiStandIn, checkout_session_event
from tests.slack_bot import CREW, Bot
from tests.stripe_fixtures import deliver

JADA = "2026-05-23-jada-charter"  # $1,560.00


def make_link(bot: Bot, stripe_api: StripeApiStandIn, text: str = "1560 --event jada") -> str:
    bot.command("/paylink", text, user=ADMIN_USER)
    bot.lazies.wait_idle()
    return stripe_api.objects("payment_link")[-1]["id"]


def stripe_payments(bot: Bot, event_id: str = JADA) -> list:
    return [p for p in bot.services.ledger.event_payments(event_id) if p.method == "stripe"]


def audit_texts(bot: Bot) -> list[str]:
    """Payment audit lines (not the link's, nor the access layer's refusal notes, which have no blocks),
    once the outbox has delivered what is due."""
    bot.lazies.wait_idle()
    return ["\n".join(b["text"]["text"] for b in c.params["blocks"] if b["type"] == "section")
            for c in bot.audit_posts() if c.params.get("blocks") and not c.params["text"].startswith("Payment link")]


def test_a_paid_link_is_recorded_posted_and_shown_paid(stripe_bot, stripe_api):
    bot = stripe_bot
    link_id = make_link(bot, stripe_api)
    event = stripe_api.checkout_session_event(link_id, name="Ana Ruiz")
    session_id = event["data"]["object"]["id"]

    reply = deliver(bot, event)
    [payment] = stripe_payments(bot)
    assert (reply.status, reply.json()) == (200, {"status": "recorded", "payment_id": payment.payment_id,
                                                  "replayed": False})
    assert (payment.amount_cents, payment.patron, payment.notes, payment.source, payment.logged_by) == (
        156_000, "Ana Ruiz", session_id, "stripe", "stripe")
    [audit] = audit_texts(bot)
    assert audit == (":moneybag: Stripe payment: *$1,560.00* (stripe) from *Ana Ruiz* for *JADA Charter*\n"
                     "Paid $1,560.00 of $1,560.00 · Balance $0.00 · :white_check_mark: *Cleared*")
    detail = bot.command("/events", "jada").json()
    shown = "\n".join(b["text"]["text"] for b in detail["blocks"] if b["type"] == "section")
    assert shown.count(":white_check_mark: paid ($1,560.00)") == 1
    assert f"`{payment.payment_id}` · " in shown and "$1,560.00 stripe · Ana Ruiz · by stripe" in shown


def test_the_patron_is_the_email_when_stripe_has_no_name(stripe_bot, stripe_api):
    bot = stripe_bot
    event = stripe_api.checkout_session_event(make_link(bot, stripe_api, "100 --event jada"), name=None,
                                              email="bo@example.com")
    assert deliver(bot, event).json()["status"] == "recorded"
    assert [p.patron for p in stripe_payments(bot)] == ["bo@example.com"]


def test_redelivery_and_the_async_success_of_one_session_record_once(stripe_bot, stripe_api):
    bot = stripe_bot
    link_id = make_link(bot, stripe_api)
    event = stripe_api.checkout_session_event(link_id)
    session_id = event["data"]["object"]["id"]
    first = deliver(bot, event)
    again = deliver(bot, event)  # Stripe redelivers the same event
    later = deliver(bot, stripe_api.checkout_session_event(
        link_id, session_id=session_id, event_type="checkout.session.async_payment_succeeded"))
    payment_id = first.json()["payment_id"]
    assert [r.json() for r in (again, later)] == [{"status": "recorded", "payment_id": payment_id,
                                                   "replayed": True}] * 2
    assert len(stripe_payments(bot)) == 1
    assert bot.services.ledger.status(JADA).paid_cents == 156_000
    assert len(audit_texts(bot)) == 1
    assert bot.services.paylinks.event_links(JADA)[0].paid_count == 1


def test_a_bad_or_missing_signature_is_refused_and_nothing_is_recorded(stripe_bot, stripe_api):
    bot = stripe_bot
    event = stripe_api.checkout_session_event(make_link(bot, stripe_api))
    body = json.dumps(event).encode()
    tampered = body.replace(b'"amount_total": 156000', b'"amount_total": 1')
    stale = stripe.WebhookSignature.generate_signature_header(body.decode(), WEBHOOK_SECRET,
                                                              timestamp=int(time.time()) - 3600)
    answers = [
        deliver(bot, event, secret="whsec_someone_else"),
        deliver(bot, event, sign=False),
        deliver(bot, tampered, signature=stripe.WebhookSignature.generate_signature_header(body.decode(),
                                                                                           WEBHOOK_SECRET)),
        deliver(bot, body, signature=stale),
        deliver(bot, event, signature="t=1,v1=deadbeef"),
        deliver(bot, b"not json", secret=WEBHOOK_SECRET),
    ]
    assert [(a.status, a.json()["error"]) for a in answers] == [
        (400, "invalid Stripe-Signature"),
        (400, "missing Stripe-Signature header"),
        (400, "invalid Stripe-Signature"),
        (400, "invalid Stripe-Signature"),
        (400, "invalid Stripe-Signature"),
        (400, "the body is not a Stripe event"),
    ]
    assert stripe_payments(bot) == [] and audit_texts(bot) == []
    assert bot.services.paylinks.event_links(JADA)[0].paid_count == 0


def test_without_a_webhook_secret_nothing_is_accepted(make_bot, stripe_api):
    bot = make_bot(STRIPE_API_KEY=API_KEY, OPSBOT_STRIPE_API_BASE=stripe_api.base_url)
    event = checkout_session_event(session_id="cs_test_nosecret", amount_total=10_000, metadata={"event_id": JADA})
    reply = deliver(bot, event)
    assert (reply.status, reply.json()) == (400, {"status": "error", "error": (
        "STRIPE_WEBHOOK_SECRET is not set: Stripe events are not accepted")})
    assert stripe_payments(bot) == []


def test_other_events_and_unpaid_sessions_are_ignored(stripe_bot):
    bot = stripe_bot
    other = checkout_session_event(session_id="cs_test_x", amount_total=10_000, metadata={"event_id": JADA},
                                   event_type="payment_intent.succeeded")
    unpaid = checkout_session_event(session_id="cs_test_y", amount_total=10_000, metadata={"event_id": JADA},
                                    payment_status="unpaid")
    assert deliver(bot, other).json() == {"status": "ignored", "type": "payment_intent.succeeded"}
    assert deliver(bot, unpaid).json() == {"status": "ignored", "type": "checkout.session.completed",
                                           "reason": "not paid yet"}
    assert stripe_payments(bot) == [] and audit_texts(bot) == []


def test_an_overpayment_from_stripe_is_recorded_and_flagged(stripe_bot):
    bot = stripe_bot
    bot.command("/log-payment", "jada 1500 cash Bo")
    bot.lazies.wait_idle()
    event = checkout_session_event(session_id="cs_test_over", amount_total=25_000, metadata={"event_id": JADA},
                                   name="Ana Ruiz")
    assert deliver(bot, event).json()["status"] == "recorded"
    status = bot.services.ledger.status(JADA)
    assert (status.paid_cents, status.payment_count) == (175_000, 2)
    assert audit_texts(bot)[-1] == (
        ":moneybag: Stripe payment: *$250.00* (stripe) from *Ana Ruiz* for *JADA Charter*\n"
        "Paid $1,750.00 of $1,560.00 · Balance $0.00 · :warning: *Overpaid by $190.00*\n"
        ":warning: This payment is more than the balance that was due; it was recorded because the money has "
        "arrived.")


def test_a_payment_for_no_known_event_is_kept_announced_once_and_assignable(stripe_bot, stripe_api):
    bot = stripe_bot
    link_id = make_link(bot, stripe_api, "250 Charter deposit")  # no --event
    event = stripe_api.checkout_session_event(link_id, name="Ana <Ruiz>")
    session_id = event["data"]["object"]["id"]
    assert deliver(bot, event).json() == {"status": "unassigned", "session_id": session_id}
    assert deliver(bot, event).json() == {"status": "unassigned", "session_id": session_id}
    assert [p for p in bot.services.store.day_payments(bot.services.ledger.today().isoformat())] == []
    [kept] = audit_texts(bot)
    assert kept == (
        ":grey_question: Stripe payment received, not tied to an event: *$250.00* from *Ana &lt;Ruiz&gt;*\n"
        f"An admin can record it on an event: `/opsbot assign {session_id} EVENT_ID`")

    refused = bot.command("/opsbot", f"assign {session_id} jada", user=CREW)
    assert refused.json()["text"] == f"Only admins can assign Stripe payments to events. Ask one of: <@{ADMIN_USER}>."
    listing = bot.command("/opsbot", "assign", user=ADMIN_USER).json()["text"]
    assert listing == (
        "Usage: `/opsbot assign SESSION_ID EVENT_ID` — the session id (`cs_...`) is on the \"not tied to an event\" "
        f"audit line.\nWaiting for an event (1):\n• `{session_id}` · $250.00 from Ana &lt;Ruiz&gt;")
    unknown = bot.command("/opsbot", f"assign {session_id} nosuch", user=ADMIN_USER).json()["text"]
    assert unknown == "There is no event 'nosuch'. Run /events to see the event ids."
    assert stripe_payments(bot) == []

    assigned = bot.command("/opsbot", f"assign {session_id} jada", user=ADMIN_USER).json()["text"]
    bot.lazies.wait_idle()
    [payment] = stripe_payments(bot)
    assert assigned == (f"Stripe payment `{session_id}` assigned. Recorded: $250.00 (stripe) from Ana &lt;Ruiz&gt; "
                        f"for JADA Charter (`{payment.payment_id}`). Balance now $1,310.00 of $1,560.00.")
    assert (payment.amount_cents, payment.patron, payment.notes) == (25_000, "Ana <Ruiz>", session_id)
    assert audit_texts(bot)[-1] == (
        ":moneybag: Stripe payment: *$250.00* (stripe) from *Ana &lt;Ruiz&gt;* for *JADA Charter*\n"
        "Paid $250.00 of $1,560.00 · Balance $1,310.00")

    # Asking again, or Stripe redelivering, changes nothing and posts nothing.
    again = bot.command("/opsbot", f"assign {session_id} whale", user=ADMIN_USER).json()["text"]
    assert again == f"`{session_id}` is already recorded on JADA Charter (`{payment.payment_id}`); nothing changed."
    assert deliver(bot, event).json() == {"status": "recorded", "payment_id": payment.payment_id, "replayed": True}
    bot.lazies.wait_idle()
    assert len(stripe_payments(bot)) == 1 and len(audit_texts(bot)) == 2
    assert bot.command("/opsbot", "assign", user=ADMIN_USER).json()["text"].endswith(
        "No Stripe payment is waiting for an event.")
    missing = bot.command("/opsbot", "assign cs_test_nope jada", user=ADMIN_USER).json()["text"]
    assert missing == ("There is no unassigned Stripe payment 'cs_test_nope'.\n"
                       "No Stripe payment is waiting for an event.")


def test_an_event_missing_from_events_json_is_kept_with_the_reason(stripe_bot):
    bot = stripe_bot
    event = checkout_session_event(session_id="cs_test_gone", amount_total=12_500,
                                   metadata={"event_id": "2024-01-01-old-sail"}, name="Cy")
    assert deliver(bot, event).json() == {"status": "unassigned", "session_id": "cs_test_gone"}
    assert "Its event '2024-01-01-old-sail' is not in events.json." in audit_texts(bot)[0]


def test_an_audit_line_slack_refused_is_posted_without_stripe_redelivering(stripe_bot):
    bot = stripe_bot
    bot.slack_api.fail_next("chat.postMessage", "channel_not_found")
    event = checkout_session_event(session_id="cs_test_retry", amount_total=10_000, metadata={"event_id": JADA})
    first = deliver(bot, event)
    assert (first.status, first.json()["status"]) == (200, "recorded")  # Stripe never waits for Slack
    assert len(stripe_payments(bot)) == 1
    bot.lazies.wait_idle()  # the outbox tries again by itself
    assert [c.response["ok"] for c in bot.audit_posts()] == [False, True]
    assert bot.audit_posts()[-1].params["channel"] == AUDIT_CHANNEL
    assert deliver(bot, event).json()["replayed"] is True
    bot.lazies.wait_idle()
    assert len(stripe_payments(bot)) == 1 and len(bot.audit_posts()) == 2


def test_a_stripe_payment_whose_audit_line_cannot_be_drawn_is_still_answered_200(stripe_bot, monkeypatch, caplog):
    """A builder bug must not turn a recorded payment into an error: Stripe would redeliver for days."""
    bot = stripe_bot

    def broken(*args, **kwargs):
        raise ValueError("a builder bug")

    monkeypatch.setattr("blocks.announcements.payment_audit", broken)
    event = checkout_session_event(session_id="cs_test_drawn", amount_total=10_000, metadata={"event_id": JADA},
                                   name="Ana " + "&<>" * 3000)
    answer = deliver(bot, event)
    assert (answer.status, answer.json()["status"]) == (200, "recorded")
    [payment] = stripe_payments(bot)
    bot.lazies.wait_idle()
    [line] = bot.audit_posts()
    assert line.response["ok"] and line.params["text"] == (
        f"`{payment.payment_id}` was recorded; its audit line could not be drawn (see the bot's log).")
    assert "blocks" not in line.params
    assert "a builder bug" in caplog.text and "Traceback" in caplog.text
