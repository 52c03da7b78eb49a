"""Stripe refunds on POST /stripe/webhook (the running server, signed deliveries, the strict Stripe
stand-in listing refunds by PaymentIntent), on SQLite and on DynamoDB."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from blocks.audit import refund_audit, refunded_payment_audit, void_refund_question
from blocks.paylinks import refund_kept_audit, refund_note_audit
from blocks.summary import summary_text
from bot.core.domain import Event, EventStatus, Payment
from bot.core.ports import StoreError
from bot.core.refunds import KEPT
from bot.core.summary import build_summary
from infra.local_slack.block_kit_limits import message_problems
from infra.local_slack.payloads import block_action
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.e2e.test_stripe_webhook import JADA, make_link
from tests.fakes.stripe_api import WEBHOOK_SECRET, StripeApiStandIn
from tests.slack_bot import CREW, Bot
from tests.stripe_fixtures import deliver


def paid_by_stripe(bot: Bot, stripe_api: StripeApiStandIn, dollars: str = "1560", patron: str = "Ana Ruiz"
                   ) -> tuple[str, str]:
    """A patron pays a link: (payment id, PaymentIntent)."""
    event = stripe_api.checkout_session_event(make_link(bot, stripe_api, f"{dollars} --event jada"), name=patron)
    reply = deliver(bot, event)
    assert reply.json()["status"] == "recorded"
    return reply.json()["payment_id"], event["data"]["object"]["payment_intent"]


def ledger(bot: Bot) -> tuple[int, int, list[tuple[str, int]]]:
    status = bot.services.ledger.status(JADA)
    records = bot.services.ledger.event_payments(JADA)
    return status.paid_cents, status.payment_count, [(r.kind, r.amount_cents) for r in records]


def sections(call) -> str:
    return "\n".join(b["text"]["text"] for b in call.params.get("blocks") or [] if b["type"] == "section")


def audit_lines(bot: Bot) -> list[str]:
    bot.lazies.wait_idle()
    return [sections(c) for c in bot.audit_posts() if c.params.get("blocks")]


def updates(bot: Bot) -> list[str]:
    bot.lazies.wait_idle()
    return [sections(c) for c in bot.slack_api.calls("chat.update") if c.params["channel"] == AUDIT_CHANNEL]


def test_partial_refunds_are_reversals_of_the_payment_once_each(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api)
    first = stripe_api.refund_outside(intent, 20_000)  # in Stripe's Dashboard
    reply = deliver(bot, stripe_api.charge_refunded_event(intent))
    [refunded] = reply.json()["refunds"]
    assert (reply.status, refunded["refund_id"], refunded["outcome"]) == (200, first["id"], "refunded")
    assert ledger(bot) == (136_000, 1, [("payment", 156_000), ("refund", -20_000)])

    # The same event again, and the refund's own update event: nothing more.
    deliver(bot, stripe_api.charge_refunded_event(intent))
    again = deliver(bot, stripe_api.refund_updated_event(first["id"])).json()["refunds"]
    assert [(r["outcome"], r["replayed"]) for r in again] == [("refunded", True)]
    assert ledger(bot)[2] == [("payment", 156_000), ("refund", -20_000)]

    stripe_api.refund_outside(intent, 6_050)
    deliver(bot, stripe_api.charge_refunded_event(intent))
    assert ledger(bot) == (129_950, 1, [("payment", 156_000), ("refund", -20_000), ("refund", -6_050)])
    [refund] = [r for r in bot.services.ledger.event_payments(JADA) if r.stripe_id == first["id"]]
    assert (refund.voids, refund.payment_intent, refund.source) == (payment_id, intent, "stripe")
    stands = bot.services.store.get_payment(payment_id)
    assert (stands.refunded_cents, stands.left_cents) == (26_050, 129_950)

    lines = audit_lines(bot)
    assert lines[-2:] == [
        f":leftwards_arrow_with_hook: Stripe refunded *$200.00* to *Ana Ruiz* for *JADA Charter* (`{payment_id}`)\n"
        "Paid $1,360.00 of $1,560.00 · Balance $200.00",
        f":leftwards_arrow_with_hook: Stripe refunded *$60.50* to *Ana Ruiz* for *JADA Charter* (`{payment_id}`)\n"
        "Paid $1,299.50 of $1,560.00 · Balance $260.50"]
    # The payment's own line says what was refunded of it, and keeps its Void button (for what stands).
    assert updates(bot)[-1] == (":moneybag: Stripe payment: $1,560.00 (stripe) from Ana Ruiz for JADA Charter · "
                                "$260.50 refunded · *$1,299.50 stands*")
    last = bot.slack_api.calls("chat.update")[-1].params["blocks"]
    assert [e["action_id"] for b in last if b["type"] == "actions" for e in b["elements"]] == ["payment_void"]
    detail = bot.command("/events", "jada").json()
    shown = "\n".join(b["text"]["text"] for b in detail["blocks"] if b["type"] == "section")
    assert f"`{payment_id}` · " in shown and "$1,560.00 stripe · Ana Ruiz · by stripe ($260.50 refunded)" in shown
    assert "*Ana Ruiz* · $1,299.50 · 1 payment" in shown  # the per-patron total counts the refunds
    summary = build_summary(bot.services.ledger, bot.services.ledger.today())
    assert (summary.total.cents, summary.voided.cents, summary.net_cents) == (156_000, 26_050, 129_950)
    said = summary_text(summary)
    assert "2 voids or refunds · -$260.50 · net $1,299.50" in said
    assert f"{payment_id}: -$200.00 Ana Ruiz (JADA Charter) by stripe · Stripe refund" in said
    export = bot.services.records.export(bot.services.records.select(event=JADA))
    assert (export.tally.payments, export.tally.reversals, export.tally.net_cents) == (1, 2, 129_950)


def test_a_refund_of_a_stripe_payment_recorded_before_payments_kept_their_payment_intent(stripe_bot, stripe_api):
    """Found through the Checkout Session that made its PaymentIntent (Stripe's sessions list by PaymentIntent)."""
    bot = stripe_bot
    event = stripe_api.checkout_session_event(make_link(bot, stripe_api, "100 --event jada"))
    session = event["data"]["object"]
    old = bot.services.ledger.record_stripe_payment(event_id=JADA, patron="Ana Ruiz", amount_cents=10_000,
                                                    notes=session["id"], idempotency_key=f"stripe:{session['id']}")
    assert old.payment.payment_intent is None  # as an older opsbot recorded it
    stripe_api.refund_outside(session["payment_intent"], 2_500)
    [applied] = deliver(bot, stripe_api.charge_refunded_event(session["payment_intent"])).json()["refunds"]
    assert applied["outcome"] == "refunded"
    assert ledger(bot) == (7_500, 1, [("payment", 10_000), ("refund", -2_500)])


def test_a_full_refund_takes_the_payment_out_of_the_count(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    stripe_api.refund_outside(intent)  # all of it
    deliver(bot, stripe_api.charge_refunded_event(intent))
    assert ledger(bot) == (0, 0, [("payment", 10_000), ("refund", -10_000)])
    assert updates(bot)[-1] == (":moneybag: ~$100.00 (stripe) from Ana Ruiz for JADA Charter~ *refunded in full* "
                                "in Stripe")


def test_a_refund_that_fails_later_puts_the_money_back_once(stripe_bot, stripe_api):
    bot = stripe_bot
    _, intent = paid_by_stripe(bot, stripe_api, "100")
    refund = stripe_api.refund_outside(intent, 4_000)
    deliver(bot, stripe_api.charge_refunded_event(intent))
    stripe_api.set_refund_status(refund["id"], "failed", "expired_or_canceled_card")
    failed = stripe_api.refund_updated_event(refund["id"])
    assert [r["outcome"] for r in deliver(bot, failed).json()["refunds"]] == ["refund_failed"]
    deliver(bot, failed)  # redelivered
    deliver(bot, stripe_api.charge_refunded_event(intent))  # and an older event arriving late
    assert ledger(bot) == (10_000, 1, [("payment", 10_000), ("refund", -4_000), ("refund_failed", 4_000)])
    assert audit_lines(bot)[-1] == (
        ":warning: A Stripe refund of *$40.00* to *Ana Ruiz* failed: the money is back and counts again for "
        f"*JADA Charter* (`{bot.services.store.stripe_payment(intent).payment_id}`)\n"
        "Paid $100.00 of $1,560.00 · Balance $1,460.00")


def test_a_refund_that_failed_before_it_was_recorded_changes_nothing_in_any_order(stripe_bot, stripe_api):
    bot = stripe_bot
    _, intent = paid_by_stripe(bot, stripe_api, "100")
    refund = stripe_api.refund_outside(intent, 4_000)
    refunded_event = stripe_api.charge_refunded_event(intent)  # sent when it was made...
    stripe_api.set_refund_status(refund["id"], "failed")
    # ...delivered after the failure's event: Stripe's list says failed either way.
    assert [r["outcome"] for r in deliver(bot, stripe_api.refund_updated_event(refund["id"])).json()["refunds"]] \
        == ["nothing"]
    assert [r["outcome"] for r in deliver(bot, refunded_event).json()["refunds"]] == ["nothing"]
    assert ledger(bot) == (10_000, 1, [("payment", 10_000)])


def test_a_pending_refund_waits_until_stripe_says_it_succeeded(stripe_bot, stripe_api):
    bot = stripe_bot
    _, intent = paid_by_stripe(bot, stripe_api, "100")
    refund = stripe_api.refund_outside(intent, 2_500, status="pending")
    assert deliver(bot, stripe_api.refund_updated_event(refund["id"])).json()["refunds"][0]["outcome"] == "waiting"
    assert ledger(bot)[2] == [("payment", 10_000)]
    stripe_api.set_refund_status(refund["id"], "succeeded")
    deliver(bot, stripe_api.refund_updated_event(refund["id"]))
    assert ledger(bot)[:2] == (7_500, 1)


def test_a_refund_of_a_payment_opsbot_never_recorded_is_kept_aside_and_announced_once(stripe_bot, stripe_api):
    bot = stripe_bot
    stripe_api.paid("pi_test_elsewhere", 5_000)  # paid through something else than opsbot's links
    refund = stripe_api.refund_outside("pi_test_elsewhere", 5_000)
    for _ in range(2):
        reply = deliver(bot, stripe_api.charge_refunded_event("pi_test_elsewhere"))
        assert reply.json()["refunds"] == [{"refund_id": refund["id"], "outcome": "kept"}]
    [kept] = bot.services.store.list_records(KEPT, "-")
    assert (kept["refund_id"], kept["amount_cents"], kept["payment_intent"], kept["reason"]) == (
        refund["id"], 5_000, "pi_test_elsewhere", "unknown_payment")  # a reason code: blocks/refunds.py says it
    [line] = [text for text in audit_lines(bot) if "kept aside" in text]
    assert line.startswith(":grey_question: Stripe refunded *$50.00*, and opsbot has no payment to take it from: "
                           "kept aside, nothing changed in the ledger.\nStripe names a payment opsbot never recorded "
                           "(paid elsewhere, or still waiting for an event in `/opsbot assign`).\nIf it belongs")
    assert ledger(bot) == (0, 0, [])  # never guessed onto an event


def test_a_refund_of_a_payment_voided_here_changes_nothing_and_says_so_once(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    bot.services.ledger.void_payment(payment_id, by=ADMIN_USER)
    stripe_api.refund_outside(intent)
    for _ in range(2):
        assert deliver(bot, stripe_api.charge_refunded_event(intent)).json()["refunds"][0]["outcome"] == "noted"
    assert ledger(bot) == (0, 0, [("payment", 10_000), ("void", -10_000)])
    notes = [text for text in audit_lines(bot) if text.startswith(":information_source:")]
    assert notes == [f":information_source: Stripe refund of *$100.00*: `{payment_id}` was refunded in Stripe after "
                     "it was voided here: the void already took it out, so nothing changed."]


def test_refund_events_that_cannot_be_handled_now_are_left_for_stripe_to_deliver_again(make_bot, stripe_api):
    no_api = make_bot(STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)  # verifies events, but holds no API key
    stripe_api.paid("pi_test_1", 5_000)
    stripe_api.refund_outside("pi_test_1", 1_000)
    event = stripe_api.charge_refunded_event("pi_test_1")
    reply = deliver(no_api, event)
    assert (reply.status, reply.headers.get("retry-after")) == (503, "60")
    assert "STRIPE_API_KEY is not set" in reply.json()["error"]


def test_stripe_not_answering_or_a_delivery_at_work_on_the_same_payment_answers_503(stripe_bot, stripe_api):
    bot = stripe_bot
    _, intent = paid_by_stripe(bot, stripe_api, "100")
    stripe_api.refund_outside(intent, 1_000)
    stripe_api.fail_next("/v1/refunds", 500, times=3)
    assert deliver(bot, stripe_api.charge_refunded_event(intent)).status == 503
    assert ledger(bot)[2] == [("payment", 10_000)]

    store = bot.services.store
    assert store.claim(f"stripe-refunds:{intent}", holder="other", now=bot.services.clock(),
                       lease=timedelta(minutes=2))
    busy = deliver(bot, stripe_api.charge_refunded_event(intent))
    assert busy.status == 503 and "another delivery" in busy.json()["error"]
    store.release_claim(f"stripe-refunds:{intent}", holder="other")
    assert deliver(bot, stripe_api.charge_refunded_event(intent)).json()["refunds"][0]["outcome"] == "refunded"
    assert ledger(bot)[:2] == (9_000, 1)


def test_a_refund_event_without_a_refund_is_refused(stripe_bot, stripe_api):
    event = stripe_api.charge_refunded_event(paid_by_stripe(stripe_bot, stripe_api, "100")[1])
    event["type"] = "charge.refund.updated"  # its object is a charge, not a refund
    reply = deliver(stripe_bot, event)
    assert (reply.status, reply.json()["error"]) == (400, "not a Stripe refund")


# -- from Slack: voiding a Stripe payment asks whether to refund it in Stripe too ---------------------------------


def posted_line(bot: Bot, payment_id: str) -> str:
    """The ts of a payment's audit line."""
    bot.lazies.wait_idle()
    return next(c.response["ts"] for c in bot.audit_posts()
                if payment_id in json.dumps(c.params.get("blocks") or []))


def click(bot: Bot, action_id: str, value: str, *, user: str = ADMIN_USER) -> None:
    reply = bot.send(block_action(action_id, value, user_id=user, channel_id=AUDIT_CHANNEL,
                                  message_ts="1700000500.000100",
                                  response_url=bot.slack_api.response_url(f"actions/{action_id}")))
    assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()


def last_answer(bot: Bot) -> dict:
    return bot.slack_api.calls("response_url")[-1].params


def asked(bot: Bot, payment_id: str) -> dict[str, str]:
    """Press Void on the payment's line: the question's buttons (action id -> value)."""
    ts = posted_line(bot, payment_id)
    bot.click_void(payment_id, user=ADMIN_USER, message_ts=ts)
    bot.lazies.wait_idle()
    question = last_answer(bot)
    assert (question["response_type"], question.get("replace_original")) == ("ephemeral", False)
    return {e["action_id"]: e["value"] for b in question["blocks"] if b["type"] == "actions" for e in b["elements"]}


def test_voiding_a_stripe_payment_asks_and_yes_refunds_in_stripe_once(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    buttons = asked(bot, payment_id)
    assert set(buttons) == {"payment_void_refund", "payment_void_only"}
    assert ledger(bot)[:2] == (10_000, 1)  # asking changes nothing
    assert stripe_api.requests("/v1/refunds") == []

    click(bot, "payment_void_refund", buttons["payment_void_refund"])
    click(bot, "payment_void_refund", buttons["payment_void_refund"])  # a second tap
    [refund] = stripe_api.refunds(intent)
    assert (refund["amount"], refund["metadata"]) == (10_000, {"opsbot_void_of": payment_id,
                                                               "opsbot_void_by": ADMIN_USER})
    keys = {r.idempotency_key for r in stripe_api.requests("/v1/refunds") if r.method == "POST"}
    assert keys == {f"opsbot-void-refund:{payment_id}:10000"}
    assert ledger(bot) == (0, 0, [("payment", 10_000), ("void", -10_000)])
    [void] = [r for r in bot.services.ledger.event_payments(JADA) if r.is_void]
    assert (void.stripe_id, void.logged_by) == (refund["id"], ADMIN_USER)
    answers = [c.params for c in bot.slack_api.calls("response_url")][-2:]
    assert answers[0]["text"].startswith(f"Voided `{payment_id}`: $100.00 from Ana Ruiz.")
    assert f"Stripe is refunding it to the patron's card (`{refund['id']}`)" in answers[0]["text"]
    assert answers[0]["replace_original"] is True
    assert answers[1]["text"].startswith(f"`{payment_id}` was already voided")

    # The webhook that follows is that void: nothing is reversed a second time.
    reply = deliver(bot, stripe_api.charge_refunded_event(intent))
    assert [(r["outcome"], r["replayed"]) for r in reply.json()["refunds"]] == [("voided", True)]
    assert ledger(bot) == (0, 0, [("payment", 10_000), ("void", -10_000)])


def test_the_webhook_of_a_void_refund_may_come_first_and_records_the_void_once(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    buttons = asked(bot, payment_id)
    # opsbot asked Stripe, and the answer was lost on its way back; Stripe's event arrives first.
    stripe_api.refund_outside(intent, metadata={"opsbot_void_of": payment_id, "opsbot_void_by": ADMIN_USER})
    assert deliver(bot, stripe_api.charge_refunded_event(intent)).json()["refunds"][0]["outcome"] == "voided"
    [void] = [r for r in bot.services.ledger.event_payments(JADA) if r.is_void]
    assert (void.logged_by, void.source, void.stripe_id) == (ADMIN_USER, "slack", stripe_api.refunds(intent)[0]["id"])
    click(bot, "payment_void_refund", buttons["payment_void_refund"])
    assert last_answer(bot)["text"].startswith(f"`{payment_id}` was already voided")
    assert len(stripe_api.refunds(intent)) == 1
    assert ledger(bot) == (0, 0, [("payment", 10_000), ("void", -10_000)])


def test_void_here_only_leaves_the_money_in_stripe(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    click(bot, "payment_void_only", asked(bot, payment_id)["payment_void_only"])
    assert stripe_api.requests("/v1/refunds") == []
    assert ledger(bot) == (0, 0, [("payment", 10_000), ("void", -10_000)])
    assert last_answer(bot)["text"].startswith(f"Voided `{payment_id}`: $100.00 from Ana Ruiz.")


def test_a_refund_stripe_refuses_says_why_and_changes_nothing(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    buttons = asked(bot, payment_id)
    stripe_api.refund_outside(intent)  # refunded in full in the Dashboard; its event has not come yet
    click(bot, "payment_void_refund", buttons["payment_void_refund"])
    assert last_answer(bot)["text"] == ("Stripe did not refund $100.00 to Ana Ruiz: Stripe has already refunded "
                                        "all of it. Nothing was changed.")
    assert ledger(bot)[2] == [("payment", 10_000)]

    other_id, other_intent = paid_by_stripe(bot, stripe_api, "50", patron="Bo Chen")
    stripe_api.fail_next("/v1/refunds", 400, error_type="invalid_request_error",
                         message="Charge ch_test_old is too old to be refunded.")
    click(bot, "payment_void_refund", asked(bot, other_id)["payment_void_refund"])
    assert last_answer(bot)["text"] == ("Stripe did not refund $50.00 to Bo Chen: the charge is too old for Stripe to "
                                        "refund. Nothing was changed.")
    assert stripe_api.refunds(other_intent) == []
    assert [r.kind for r in bot.services.ledger.event_payments(JADA)] == ["payment", "payment"]


def test_crew_cannot_refund_with_a_forged_click(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    click(bot, "payment_void_refund", payment_id, user=CREW)
    assert last_answer(bot)["text"] == f"Only admins can void payments. Ask one of: <@{ADMIN_USER}>."
    assert stripe_api.refunds(intent) == [] and ledger(bot)[:2] == (10_000, 1)


def test_opsbot_void_of_a_stripe_payment_asks_too(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, _ = paid_by_stripe(bot, stripe_api, "100")
    answer = bot.command("/opsbot", f"void {payment_id}", user=ADMIN_USER).json()
    assert answer["text"] == "Refund $100.00 in Stripe too, or void it here only?"
    values = [e["value"] for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert values == [payment_id, payment_id]
    assert ledger(bot)[:2] == (10_000, 1)


def test_opsbot_assign_lists_the_refunds_kept_aside(stripe_bot, stripe_api):
    bot = stripe_bot
    stripe_api.paid("pi_test_elsewhere", 5_000)
    refund = stripe_api.refund_outside("pi_test_elsewhere", 1_250)
    deliver(bot, stripe_api.charge_refunded_event("pi_test_elsewhere"))
    text = bot.command("/opsbot", "assign", user=ADMIN_USER).json()["text"]
    assert text.endswith("Stripe refunds kept aside, with no payment here to take them from (1):\n"
                         f"• `{refund['id']}` · $12.50")


def test_refund_lines_fit_slacks_limits_whatever_the_names():
    long = "Ana & <Ruiz> " * 400
    event = Event(id=JADA, title=long, date=None, total_cents=156_000)
    status = EventStatus(event, 100_000, 1)
    paid = Payment(payment_id="pay_x", event_id=JADA, patron=long, amount_cents=156_000, method="stripe",
                   notes=long, logged_by="stripe", recorded_at=datetime(2026, 5, 1, tzinfo=UTC), day="2026-05-01",
                   source="stripe", stripe_id="cs_" + "x" * 500, payment_intent="pi_x", refunded_cents=56_000)
    refund = Payment(payment_id="ref_x", event_id=JADA, patron=long, amount_cents=-56_000, method="stripe",
                     notes=long, logged_by="stripe", recorded_at=paid.recorded_at, day="2026-05-01",
                     source="stripe", kind="refund", voids="pay_x", stripe_id="re_" + "x" * 500)
    messages = [refunded_payment_audit(paid, status, refund), refund_audit(refund, status),
                void_refund_question(paid, ("C0AUDIT0001", "1700000000.000100")),
                refund_kept_audit({"refund_id": "re_" + "y" * 500, "amount_cents": 5, "reason": "nothing_left",
                                   "payment_id": "pay_" + "q" * 5000, "left_cents": 0,
                                   "payment_intent": "pi_" + "z" * 500}),
                refund_note_audit({"refund_id": "re_1", "payment_id": "pay_" + "q" * 500, "amount_cents": 5,
                                   "situation": "voided"})]
    for text, blocks in messages:
        assert message_problems({"text": text, "blocks": blocks}) == [], text[:80]


def test_a_refund_made_while_the_ledger_does_not_answer_is_voided_when_stripe_says_so(stripe_bot, stripe_api,
                                                                                      monkeypatch):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    buttons = asked(bot, payment_id)
    store = bot.services.store

    def down(*args, **kwargs):
        raise StoreError("the store did not answer")

    monkeypatch.setattr(store, "void_payment", down)
    click(bot, "payment_void_refund", buttons["payment_void_refund"])
    [refund] = stripe_api.refunds(intent)
    assert last_answer(bot)["text"] == (f"Stripe is refunding $100.00 to Ana Ruiz (`{refund['id']}`), but the ledger "
                                        "did not answer: the void is recorded when Stripe's refund event arrives, or "
                                        "press the button again (it will not refund twice).")
    assert ledger(bot)[2] == [("payment", 10_000)]
    monkeypatch.undo()
    assert deliver(bot, stripe_api.charge_refunded_event(intent)).json()["refunds"][0]["outcome"] == "voided"
    click(bot, "payment_void_refund", buttons["payment_void_refund"])  # pressed again: nothing more
    assert len(stripe_api.refunds(intent)) == 1
    assert ledger(bot) == (0, 0, [("payment", 10_000), ("void", -10_000)])


def test_a_refund_whose_answer_was_lost_is_asked_again_with_its_key_and_made_once(stripe_bot, stripe_api):
    bot = stripe_bot
    payment_id, intent = paid_by_stripe(bot, stripe_api, "100")
    buttons = asked(bot, payment_id)
    stripe_api.drop_next("/v1/refunds")  # Stripe made it, and the answer never came back
    click(bot, "payment_void_refund", buttons["payment_void_refund"])
    posts = [r for r in stripe_api.requests("/v1/refunds") if r.method == "POST"]
    assert [(r.status, r.dropped, r.replayed) for r in posts] == [(200, True, False), (200, False, True)]
    assert len({r.idempotency_key for r in posts}) == 1
    assert len(stripe_api.refunds(intent)) == 1
    assert ledger(bot) == (0, 0, [("payment", 10_000), ("void", -10_000)])


def test_a_ledger_that_does_not_answer_is_a_503_and_the_next_delivery_records_the_refund(stripe_bot, stripe_api,
                                                                                         monkeypatch):
    bot = stripe_bot
    _, intent = paid_by_stripe(bot, stripe_api, "100")
    stripe_api.refund_outside(intent, 1_000)

    def down(*args, **kwargs):
        raise StoreError("the store did not answer")

    monkeypatch.setattr(bot.services.store, "refund_payment", down)
    reply = deliver(bot, stripe_api.charge_refunded_event(intent))
    assert (reply.status, reply.json()["error"]) == (503, "the ledger did not answer; Stripe delivers the event again")
    monkeypatch.undo()
    assert deliver(bot, stripe_api.charge_refunded_event(intent)).json()["refunds"][0]["outcome"] == "refunded"
    assert ledger(bot)[:2] == (9_000, 1)


def test_a_refund_of_a_session_waiting_for_an_event_is_kept_then_recorded_when_the_session_is_assigned(
        stripe_bot, stripe_api):
    bot = stripe_bot
    link = make_link(bot, stripe_api, "100")  # a link for no event
    event = stripe_api.checkout_session_event(link)
    session = event["data"]["object"]
    assert deliver(bot, event).json()["status"] == "unassigned"
    refund = stripe_api.refund_outside(session["payment_intent"], 3_000)
    assert deliver(bot, stripe_api.charge_refunded_event(session["payment_intent"])).json()["refunds"] == [
        {"refund_id": refund["id"], "outcome": "kept"}]
    assert ledger(bot) == (0, 0, [])  # never guessed onto an event

    bot.command("/opsbot", f"assign {session['id']} jada", user=ADMIN_USER)
    assert ledger(bot) == (7_000, 1, [("payment", 10_000), ("refund", -3_000)])
    assert bot.services.refunds.kept() == []
    text = bot.command("/opsbot", "assign", user=ADMIN_USER).json()["text"]
    assert "kept aside" not in text
