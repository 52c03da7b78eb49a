"""Bad input at the edge gets a clear 4xx (or a clean refusal in Slack), never a
500, and nothing half-done: malformed Slack timestamps, absurd numbers and broken
characters on the web API, a 50,000-character paste, an Idempotency-Key reused for
another payment, and a Stripe customer name no message can show. Both stores."""

from __future__ import annotations

import json
import logging

import bcrypt
import pytest

from infra.local_slack.signing import signature, slash_command_body
from tests.conftest import ADMIN_USER, SIGNING_SECRET
from tests.fakes.stripe_api import checkout_session_event
from tests.http_client import post
from tests.slack_bot import Bot
from tests.stripe_fixtures import deliver

JADA = "2026-05-23-jada-charter"  # $1,560.00
PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


def no_errors_logged(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


# -- Slack's timestamp header -----------------------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["17e8", "1.7e9", "", " ", "-5", "170000000²", "0x6553f100", "9" * 40])
def test_a_timestamp_that_is_not_whole_seconds_is_an_unsigned_request(bot: Bot, caplog, timestamp):
    body = slash_command_body("/log-payment", "jada 5 cash Ana", response_url=bot.slack_api.response_url())
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
               # signed with the very timestamp sent, as a forger would: still not a Slack signature
               "X-Slack-Signature": signature(body, SIGNING_SECRET, timestamp)}  # type: ignore[arg-type]
    reply = post(bot.base_url + "/slack/events", body, headers)
    assert (reply.status, reply.json()) == (401, {"status": "error", "error": "invalid request"})
    assert bot.services.ledger.status(JADA).payment_count == 0
    assert no_errors_logged(caplog) == []


# -- a 50,000-character paste -------------------------------------------------------------------------------------

PASTE = "y" * 50_000
PASTED = [("/log-payment", PASTE), ("/log-payment", f"jada {PASTE} cash Bo"),
          ("/log-payment", f"jada 5{PASTE} cash Bo"),
          ("/log-payment", f"jada 5 {PASTE} Bo"), ("/log-payment", f"jada 5 cash {PASTE}"),
          ("/log-payment", f"{PASTE} 5 cash Bo"), ("/log-payment", "jada 1.5" + "0" * 50_000 + " cash Bo"),
          ("/events", PASTE), ("/opsbot", PASTE), ("/opsbot", f"void {PASTE}"), ("/opsbot", f"summary {PASTE}"),
          ("/opsbot", f"assign {PASTE} jada"), ("/deploy", PASTE), ("/deploy", f"birthday {PASTE}"),
          ("/paylink", PASTE), ("/paylink", f"5 {PASTE}"), ("/paylink", f"5 x --event {PASTE}"),
          ("/paylink", f"5 x --{PASTE}")]


def test_a_50000_character_paste_is_never_echoed_whole(bot: Bot):
    for command, text in PASTED:
        reply = bot.command(command, text, user=ADMIN_USER)
        assert reply.status == 200, (command, text[:20])
        answer = reply.json()["text"]
        assert len(answer) < 5_000 and "y" * 100 not in answer and "0" * 100 not in answer, (command, answer[:200])
    bot.lazies.wait_idle()
    said = json.dumps([c.params for c in bot.slack_api.calls()])
    assert "y" * 100 not in said and "0" * 100 not in said
    assert bot.services.ledger.status(JADA).payment_count == 0


def test_an_echo_is_shortened_with_an_ellipsis_and_says_what_was_wrong(bot: Bot):
    answer = bot.command("/events", "x" * 300).json()["text"]
    assert answer == f"There is no event '{'x' * 39}…'. Run /events to see the event ids."


# -- the web API ------------------------------------------------------------------------------------------------


@pytest.fixture
def api(make_bot) -> Bot:
    return make_bot(ADMIN_PASS_HASH=HASH)


def api_post(bot: Bot, payload: dict | str, key: str | None = None):
    headers = {"Content-Type": "application/json", "X-Admin-Token": PASSWORD}
    if key is not None:
        headers["Idempotency-Key"] = key
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return post(bot.base_url + "/api/payment/log", body, headers)


def payment(**fields) -> dict:
    return {"event_id": JADA, "patron_name": "Ana Ruiz", "amount": "100", "payment_method": "cash", **fields}


@pytest.mark.parametrize(("raw_body", "status", "field", "error"), [
    (json.dumps(payment(amount=0)).replace('"amount": 0', '"amount": ' + "7" * 5_000),
     400, "amount", "amount has more than 30 digits: check the amount"),
    (json.dumps(payment(amount=0)).replace('"amount": 0', '"amount": -' + "7" * 5_000),
     400, "amount", "amount has more than 30 digits: check the amount"),
    (json.dumps(payment(amount="7" * 5_000)), 400, "amount", "amount is too long"),
    (json.dumps(payment(amount="7" * 500)), 400, "amount", "Amount is over the $1,000,000.00 limit: check the amount."),
    (json.dumps(payment(amount=float("1" + "0" * 400))), 400, "amount", None),
    (json.dumps(payment(patron_name="\ud800")), 400, "patron_name",
     "The patron's name has a broken character (a lone surrogate): type it again."),
    (json.dumps(payment(patron_name="Ana \udfff Ruiz")), 400, "patron_name",
     "The patron's name has a broken character (a lone surrogate): type it again."),
    (json.dumps(payment(notes="paid \ud83d")), 400, "notes",
     "The notes have a broken character (a lone surrogate): type them again."),
    (json.dumps(payment(event_id="\ud800")), 404, "event_id",
     "There is no event '?'. Run /events to see the event ids."),
    (json.dumps(payment(payment_method="\ud800" * 3)), 400, "payment_method", None),
    ('{"event_id": ' + "1" * 5_000 + "}", 400, "event_id", "event_id must be a string"),
])
def test_absurd_numbers_and_broken_characters_are_400_with_the_field(api: Bot, caplog, raw_body, status, field, error):
    reply = api_post(api, raw_body)
    assert reply.status == status, reply.body[:300]
    answer = reply.json()
    assert (answer["status"], answer["field"]) == ("error", field)
    if error is not None:
        assert answer["error"] == error
    assert api.services.ledger.status(JADA).payment_count == 0
    assert no_errors_logged(caplog) == []


def test_one_idempotency_key_with_another_payment_is_409_and_records_nothing(api: Bot):
    first = api_post(api, payment(), key="page-7f3a")
    assert first.status == 200
    payment_id = first.json()["payment_id"]
    assert api_post(api, payment(), key="page-7f3a").json() == first.json()  # a retry: the first result
    for other in (payment(amount="250"), payment(patron_name="Bo Chen"), payment(payment_method="venmo"),
                  payment(notes="second deposit"), payment(event_id="2027-01-16-whale-watch-charter")):
        reply = api_post(api, other, key="page-7f3a")
        assert (reply.status, reply.json()) == (409, {
            "status": "error", "field": None,
            "error": f"Idempotency-Key 'page-7f3a' was already used for another payment ({payment_id}); nothing was "
                     "recorded. Send a new key for a new payment."})
    # The same payment written another way (the event's short name, the amount with a dollar sign) is a retry.
    assert api_post(api, payment(event_id="jada", amount="$100.00"), key="page-7f3a").json() == first.json()
    api.lazies.wait_idle()
    assert api.services.ledger.status(JADA).paid_cents == 10_000
    assert api.services.ledger.status("2027-01-16-whale-watch-charter").payment_count == 0
    assert len(api.audit_posts()) == 1


def test_a_resubmitted_form_with_other_values_is_refused_on_the_form(bot: Bot):
    view = bot.open_modal()
    assert bot.submit(view, view_id="V0SAMEVIEW1", event=JADA, patron="Ana", amount="10", method="cash").body == b""
    changed = bot.submit(view, view_id="V0SAMEVIEW1", event=JADA, patron="Ana", amount="20", method="cash")
    [payment_record] = bot.services.ledger.event_payments(JADA)
    assert changed.json() == {"response_action": "errors", "errors": {"event": (
        f"This request's key was already used for another payment ({payment_record.payment_id}: $10.00 on {JADA}); "
        "nothing new was recorded.")}}
    again = bot.submit(view, view_id="V0SAMEVIEW1", event=JADA, patron="Ana", amount="10", method="cash")
    assert (again.status, again.body) == (200, b"")  # Slack's retry of the first submission closes the form
    bot.lazies.wait_idle()
    assert bot.services.ledger.status(JADA).paid_cents == 1_000


def test_a_display_problem_never_fails_a_recorded_api_payment(api: Bot):
    awkward = "&<>" * 33  # 99 characters that escape past what some Slack fields hold
    first = api_post(api, payment(patron_name=awkward), key="k-awkward")
    again = api_post(api, payment(patron_name=awkward), key="k-awkward")
    assert (first.status, again.status) == (200, 200)
    assert first.json() == again.json()
    api.lazies.wait_idle()
    assert [p.patron for p in api.services.ledger.event_payments(JADA)] == [awkward]


# -- Stripe ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metadata", [{"event_id": JADA}, {}], ids=["event", "unassigned"])
def test_a_10kb_customer_name_is_recorded_once_and_never_a_500(stripe_bot: Bot, metadata):
    name = ("Ana & <Bo> " * 1_000)[:10_240]
    event = checkout_session_event(session_id="cs_test_huge_name", amount_total=12_500, metadata=metadata, name=name)
    replies = [deliver(stripe_bot, event) for _ in range(3)]  # Stripe redelivers
    assert [r.status for r in replies] == [200, 200, 200], [r.body[:200] for r in replies]
    if metadata:
        [recorded] = stripe_bot.services.ledger.event_payments(JADA)
        assert recorded.patron == " ".join(name.split())[:100]  # cut to the ledger's limit, stored once
        assert [r.json()["replayed"] for r in replies] == [False, True, True]
    else:
        assert stripe_bot.services.ledger.event_payments(JADA) == []
        assert [r.json()["status"] for r in replies] == ["unassigned"] * 3
        assert [s["session_id"] for s in stripe_bot.services.stripe_intake.unassigned()] == ["cs_test_huge_name"]


def test_an_audit_line_slack_refuses_as_a_message_does_not_make_stripe_redeliver(stripe_bot: Bot, caplog):
    stripe_bot.slack_api.fail_next("chat.postMessage", "invalid_blocks")
    event = checkout_session_event(session_id="cs_test_refused", amount_total=10_000, metadata={"event_id": JADA})
    reply = deliver(stripe_bot, event)
    [recorded] = stripe_bot.services.ledger.event_payments(JADA)
    assert (reply.status, reply.json()) == (200, {"status": "recorded", "payment_id": recorded.payment_id,
                                                  "replayed": False})
    stripe_bot.lazies.wait_idle()  # the outbox: the same message would be refused again, so it is said plainly
    assert (f"Slack refused the line of {recorded.payment_id} (chat.postMessage to C0AUDIT0001 failed: "
            "invalid_blocks); posting it plain") in caplog.text
    refused, plain = stripe_bot.audit_posts()
    assert refused.response == {"ok": False, "error": "invalid_blocks"}
    assert plain.response["ok"] and "blocks" not in plain.params
    assert plain.params["text"] == (f"`{recorded.payment_id}` was recorded; its audit line could not be drawn (see "
                                    "the bot's log).")
