"""Payments in Slack, driven the way Slack drives the bot: signed HTTP requests
to the running server, the Slack Web API answered by the local stand-in, on
SQLite and on DynamoDB (moto server)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.local_slack.signing import DEFAULT_CHANNEL_ID
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL, EVENTS_FILE
from tests.http_client import HttpResult
from tests.slack_bot import CREW, Bot

JADA = "2026-05-23-jada-charter"  # $1,560.00
WHALES = "2027-01-16-whale-watch-charter"  # $1,850.00


def paid(bot: Bot, event_id: str = JADA) -> tuple[int, int]:
    status = bot.services.ledger.status(event_id)
    return status.paid_cents, status.payment_count


def section_text(call) -> str:
    return "\n".join(b["text"]["text"] for b in call.params["blocks"] if b["type"] == "section")


# -- the modal -----------------------------------------------------------------------------------------------------


def test_modal_submission_records_posts_the_audit_line_and_tells_the_submitter(bot):
    view = bot.open_modal()
    opened = bot.slack_api.calls("views.open")[0]
    assert opened.params["trigger_id"].startswith("13345224609.")
    assert view["callback_id"] == "log_payment"
    assert [b["block_id"] for b in view["blocks"]] == ["event", "patron", "amount", "method", "notes"]
    labels = [o["text"]["text"] for o in view["blocks"][0]["element"]["options"]]
    # Upcoming events first (the suite's clock is the real one: these are after today), each with its balance.
    assert "Holiday Lights Charter · Sat Dec 5 · $2,400.00 due" in labels
    assert "JADA Charter · Sat May 23 · $1,560.00 due" in labels

    reply = bot.submit(view, event=JADA, patron="Ana Ruiz", amount="$1,000.00", method="venmo", notes="deposit")
    assert (reply.status, reply.body) == (200, b"")  # an empty 200 closes the modal
    bot.lazies.wait_idle()

    assert paid(bot) == (100_000, 1)
    [audit] = bot.audit_posts()
    text = section_text(audit)
    assert f"<@{CREW}> logged *$1,000.00* (venmo) from *Ana Ruiz* for *JADA Charter*" in text
    assert "Paid $1,000.00 of $1,560.00 · Balance $560.00" in text
    button = audit.params["blocks"][-1]["elements"][0]
    payment_id = bot.services.ledger.event_payments(JADA)[0].payment_id
    assert (button["action_id"], button["value"]) == ("payment_void", payment_id)
    [receipt] = bot.slack_api.calls("chat.postEphemeral")
    assert (receipt.params["channel"], receipt.params["user"]) == (DEFAULT_CHANNEL_ID, CREW)
    assert receipt.params["text"] == (
        f"Recorded: $1,000.00 (venmo) from Ana Ruiz for JADA Charter (`{payment_id}`). "
        "Balance now $560.00 of $1,560.00.")


def test_the_event_named_in_the_command_is_preselected(bot):
    view = bot.open_modal("jada")
    assert view["blocks"][0]["element"]["initial_option"]["value"] == JADA
    reply = bot.command("/log-payment", "nosuchevent")
    assert reply.json() == {"response_type": "ephemeral", "text": (
        "There is no event 'nosuchevent'. Run /events to see the event ids. "
        "Usage: `/log-payment EVENT AMOUNT METHOD PATRON…` — for example `/log-payment jada 500 venmo Ana Ruiz`. "
        "`/log-payment` alone opens the form.")}
    assert len(bot.slack_api.calls("views.open")) == 1


def test_the_event_tied_to_the_channel_is_preselected(make_bot, tmp_path):
    data = json.loads(EVENTS_FILE.read_text())
    data["events"][0]["channel"] = "C0JADA00001"
    for site in data["sites"]:
        site["source"] = str(Path("..") / ".." / site["source"])
    data["sites"], data["events"] = [], [{k: v for k, v in e.items() if k != "site"} for e in data["events"]]
    events = tmp_path / "events.json"
    events.write_text(json.dumps(data))
    bot = make_bot(OPSBOT_EVENTS_FILE=str(events))
    view = bot.open_modal(channel="C0JADA00001")
    assert view["blocks"][0]["element"]["initial_option"]["value"] == JADA
    other = bot.open_modal(channel="C0OTHER0001")
    assert "initial_option" not in other["blocks"][0]["element"]


@pytest.mark.parametrize("fields, errors", [
    (dict(event=JADA, patron="", amount="100", method="cash"), {"patron": "Enter the patron's name."}),
    (dict(event=JADA, patron="Ana", amount="12.345", method="cash"),
     {"amount": "'12.345' has more than two decimals: cents are the smallest unit."}),
    (dict(event=JADA, patron="Ana", amount="-5", method="cash"), {"amount": "Amount must be positive, not -5."}),
    (dict(event=JADA, patron="Ana", amount="", method=None),
     {"amount": "Enter the amount paid, like 125 or 1,560.00.",
      "method": "Choose a payment method: cash, card, check, venmo, zelle."}),
    (dict(event="forged-event", patron="Ana", amount="5", method="cash"),
     {"event": "There is no event 'forged-event'. Run /events to see the event ids."}),
    (dict(event=JADA, patron="Ana", amount="1,560.01", method="cash"),
     {"amount": "$1,560.01 is $0.01 more than the balance: $1,560.00 is still owed on JADA Charter "
                "($1,560.00 total)."}),
    (dict(event=JADA, patron="Ana", amount="5", method="stripe"),
     {"method": "'stripe' is not a payment method. Use one of: cash, card, check, venmo, zelle."}),
])
def test_field_errors_come_back_inline_and_nothing_is_written(bot, fields, errors):
    view = bot.open_modal()
    reply = bot.submit(view, **fields)
    assert reply.status == 200
    assert reply.json() == {"response_action": "errors", "errors": errors}
    bot.lazies.wait_idle()
    assert paid(bot) == (0, 0)
    assert bot.audit_posts() == []
    assert bot.slack_api.calls("chat.postEphemeral") == []


def test_over_the_balance_states_what_is_left(bot):
    view = bot.open_modal()
    assert bot.submit(view, event=JADA, patron="Ana", amount="1,500", method="cash").body == b""
    reply = bot.submit(view, event=JADA, patron="Bo", amount="100", method="cash")
    assert reply.json()["errors"] == {"amount": (
        "$100.00 is $40.00 more than the balance: $60.00 is still owed on JADA Charter ($1,560.00 total).")}
    bot.lazies.wait_idle()
    assert paid(bot) == (150_000, 1)


def test_the_same_submission_delivered_twice_records_once(bot):
    view = bot.open_modal()
    for _ in range(2):
        reply = bot.submit(view, view_id="V0SAMEVIEW1", event=JADA, patron="Ana", amount="250", method="cash")
        assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()
    assert paid(bot) == (25_000, 1)
    assert len(bot.audit_posts()) == 1
    assert len(bot.slack_api.calls("chat.postEphemeral")) == 1


def test_64_concurrent_submissions_on_one_event_give_exact_totals(bot):
    view = bot.open_modal()
    amounts = [1_000 + 7 * i for i in range(64)]  # cents: $10.00, $10.07, ...

    def submit(i: int) -> HttpResult:
        cents = amounts[i]
        return bot.submit(view, view_id=f"V{i:010d}", event=WHALES, patron=f"Patron {i}",
                          amount=f"{cents // 100}.{cents % 100:02d}", method="card")

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(submit, range(64)))
    assert [(r.status, r.body) for r in replies] == [(200, b"")] * 64
    bot.lazies.wait_idle()
    assert paid(bot, WHALES) == (sum(amounts), 64)
    assert len(bot.audit_posts()) == 64


# -- one line ----------------------------------------------------------------------------------------------------------


def test_one_line_records_answers_with_the_balance_and_posts_the_audit_line(bot):
    reply = bot.command("/log-payment", "jada 500 venmo Ana  Ruiz")
    assert reply.status == 200
    payment_id = bot.services.ledger.event_payments(JADA)[0].payment_id
    assert reply.json() == {"response_type": "ephemeral", "text": (
        f"Recorded: $500.00 (venmo) from Ana Ruiz for JADA Charter (`{payment_id}`). "
        "Balance now $1,060.00 of $1,560.00.")}
    bot.lazies.wait_idle()
    [audit] = bot.audit_posts()
    assert "*$500.00* (venmo) from *Ana Ruiz* for *JADA Charter*" in section_text(audit)


USAGE = ("Usage: `/log-payment EVENT AMOUNT METHOD PATRON…` — for example `/log-payment jada 500 venmo Ana Ruiz`. "
         "`/log-payment` alone opens the form.")


@pytest.mark.parametrize("text, message", [
    ("jada 500", f"Missing METHOD and PATRON. {USAGE}"),
    ("jada 500 cash", f"Missing PATRON. {USAGE}"),
    ("jada abc cash Ana", f"'abc' is not a dollar amount: write it like 125, 1,560 or $1,560.00.\n{USAGE}"),
    ("jada 0 cash Ana", f"Amount must be more than $0.00.\n{USAGE}"),
    ("nope 5 cash Ana", f"There is no event 'nope'. Run /events to see the event ids.\n{USAGE}"),
    ("birthday 5 cash Ana", "'birthday' matches 2 events (2026-12-12-birthday-sail, 2026-12-12-birthday-afternoon): "
                            f"give more of the id.\n{USAGE}"),
    ("jada 5 bitcoin Ana", f"'bitcoin' is not a payment method. Use one of: cash, card, check, venmo, zelle.\n{USAGE}"),
    ("jada 2000 cash Ana", "$2,000.00 is $440.00 more than the balance: $1,560.00 is still owed on JADA Charter "
                           f"($1,560.00 total).\n{USAGE}"),
])
def test_one_line_mistakes_say_exactly_what_is_wrong(bot, text, message):
    reply = bot.command("/log-payment", text)
    assert reply.json() == {"response_type": "ephemeral", "text": message}
    bot.lazies.wait_idle()
    assert paid(bot) == (0, 0)
    assert bot.audit_posts() == []


def test_a_slack_retry_of_a_one_liner_records_once(bot):
    first = bot.command("/log-payment", "jada 125 cash Ana", trigger="13345224609.1.retried")
    again = bot.command("/log-payment", "jada 125 cash Ana", trigger="13345224609.1.retried",
                        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.json() == again.json()
    bot.lazies.wait_idle()
    assert paid(bot) == (12_500, 1)
    assert len(bot.audit_posts()) == 1


# -- audit lines and injection -------------------------------------------------------------------------------------


def test_mrkdwn_in_user_text_pings_no_one_and_links_nowhere(bot):
    view = bot.open_modal()
    bot.submit(view, event=JADA, patron="<!channel> <https://evil.example|click>", amount="10", method="cash",
               notes="<!here> & <@U0ADMIN0001>")
    one_line = bot.command("/log-payment", "jada 10 cash <!everyone>")
    assert "from &lt;!everyone&gt; for JADA Charter" in one_line.json()["text"]
    bot.lazies.wait_idle()
    posted = json.dumps([c.params for c in bot.slack_api.calls()
                         if c.method in ("chat.postMessage", "chat.postEphemeral")], ensure_ascii=False)
    reply_texts = json.dumps([c.params for c in bot.slack_api.calls("response_url")], ensure_ascii=False)
    for dangerous in ("<!channel>", "<!here>", "<!everyone>", "<https://evil.example|click>", "<@U0ADMIN0001>"):
        assert dangerous not in posted and dangerous not in reply_texts
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt;" in posted
    assert "&lt;!here&gt; &amp; &lt;@U0ADMIN0001&gt;" in posted


def test_a_failed_audit_post_is_logged_and_retried_until_slack_takes_it(bot, caplog):
    bot.slack_api.fail_next("chat.postMessage", "channel_not_found")
    view = bot.open_modal()
    bot.submit(view, view_id="V0RETRYPOST", event=JADA, patron="Ana", amount="40", method="cash")
    bot.lazies.wait_idle()  # the outbox tried, failed, and tried again after its backoff
    failed, posted = bot.audit_posts()
    assert failed.response == {"ok": False, "error": "channel_not_found"}
    assert "chat.postMessage to C0AUDIT0001 failed: channel_not_found" in caplog.text
    assert posted.response["ok"] is True
    assert (posted.params["text"], posted.params["blocks"]) == (failed.params["text"], failed.params["blocks"])
    # The same form submitted again is the same payment: nothing new is written or posted.
    bot.submit(view, view_id="V0RETRYPOST", event=JADA, patron="Ana", amount="40", method="cash")
    bot.lazies.wait_idle()
    assert [c.response["ok"] for c in bot.audit_posts()] == [False, True]
    assert paid(bot) == (4_000, 1)


# -- voids ---------------------------------------------------------------------------------------------------------


def _logged(bot: Bot, text: str = "jada 300 zelle Ana Ruiz") -> tuple[str, str]:
    bot.command("/log-payment", text)
    bot.lazies.wait_idle()
    payment = bot.services.ledger.event_payments(JADA)[-1]
    audit = bot.audit_posts()[-1]
    return payment.payment_id, audit.response["ts"]


def test_an_admin_voids_from_the_button_once(bot):
    payment_id, ts = _logged(bot)
    reply = bot.click_void(payment_id, user=ADMIN_USER, message_ts=ts)
    assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()
    assert paid(bot) == (0, 0)
    [update] = bot.slack_api.calls("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (AUDIT_CHANNEL, ts)
    assert section_text(update).startswith(
        f":moneybag: ~$300.00 (zelle) from Ana Ruiz for JADA Charter~ *voided* by <@{ADMIN_USER}>")
    assert all(b["type"] != "actions" for b in update.params["blocks"])
    void_line = bot.audit_posts()[-1]
    assert f"<@{ADMIN_USER}> voided *$300.00* (zelle) from *Ana Ruiz* for *JADA Charter* (`{payment_id}`)" in (
        section_text(void_line))
    assert "Paid $0.00 of $1,560.00 · Balance $1,560.00" in section_text(void_line)
    [told] = bot.slack_api.calls("response_url")
    assert told.params["response_type"] == "ephemeral" and told.params["replace_original"] is False
    assert told.params["text"].startswith(f"Voided `{payment_id}`: $300.00 from Ana Ruiz.")

    bot.click_void(payment_id, user=ADMIN_USER, message_ts=ts)
    bot.lazies.wait_idle()
    assert paid(bot) == (0, 0)
    assert len(bot.audit_posts()) == 2  # the payment and one void
    assert bot.slack_api.calls("response_url")[-1].params["text"].startswith(f"`{payment_id}` was already voided")


def test_crew_cannot_void_even_with_a_forged_click(bot):
    payment_id, ts = _logged(bot)
    bot.click_void(payment_id, user=CREW, message_ts=ts)
    bot.lazies.wait_idle()
    assert paid(bot) == (30_000, 1)
    assert bot.slack_api.calls("chat.update") == []
    [told] = bot.slack_api.calls("response_url")
    assert told.params["text"] == f"Only admins can void payments. Ask one of: <@{ADMIN_USER}>."
    payment_line, refusal_line = bot.audit_posts()
    assert refusal_line.params["text"] == (
        f":no_entry: <@{CREW}> was refused `action payment_void`: it needs the admin role.")
    [entry] = [e for e in bot.services.store.day_audit(bot.services.ledger.today().isoformat())
               if e.result == "refused"]
    assert (entry.actor, entry.action, entry.detail) == (CREW, "payment.void",
                                                         {"entry": "action payment_void", "needs": "admin"})


def test_opsbot_void_by_command(bot):
    payment_id, ts = _logged(bot)
    refused = bot.command("/opsbot", f"void {payment_id}")
    assert refused.json()["text"] == f"Only admins can void payments. Ask one of: <@{ADMIN_USER}>."
    assert bot.command("/opsbot", "void", user=ADMIN_USER).json()["text"].startswith(
        "Usage: `/opsbot void PAYMENT_ID`")
    assert bot.command("/opsbot", "void pay_unknown", user=ADMIN_USER).json()["text"] == (
        "There is no payment 'pay_unknown'.")
    done = bot.command("/opsbot", f"void {payment_id}", user=ADMIN_USER)
    assert done.json()["text"] == (
        f"Voided `{payment_id}`: $300.00 from Ana Ruiz. JADA Charter balance now $1,560.00 of $1,560.00.")
    bot.lazies.wait_idle()
    assert paid(bot) == (0, 0)
    [update] = bot.slack_api.calls("chat.update")
    assert update.params["ts"] == ts
    again = bot.command("/opsbot", f"void {payment_id}", user=ADMIN_USER)
    assert again.json()["text"].startswith(f"`{payment_id}` was already voided")
    bot.lazies.wait_idle()
    texts = [c.params["text"] for c in bot.audit_posts()]
    assert len(texts) == 3  # the payment, crew's refused attempt, one void
    assert texts[1] == f":no_entry: <@{CREW}> was refused `command /opsbot void`: it needs the admin role."
    assert texts[2].startswith("Void of $300.00 from Ana Ruiz")


# -- /events ---------------------------------------------------------------------------------------------------------


def test_events_lists_upcoming_then_all_then_one(bot):
    bot.command("/log-payment", "whale 1850 check The Okafors")
    bot.command("/log-payment", "jada 60 cash Ana")
    upcoming = bot.command("/events").json()
    assert upcoming["response_type"] == "ephemeral"
    text = json.dumps(upcoming["blocks"], ensure_ascii=False)
    assert "Whale Watch Charter" in text and "JADA Charter" not in text  # JADA was in May
    whale = next(b for b in upcoming["blocks"] if "Whale Watch" in b.get("text", {}).get("text", ""))
    assert whale["text"]["text"] == (
        "*Whale Watch Charter* · Sat Jan 16, 2027 · `2027-01-16-whale-watch-charter` · 1 payment\n"
        "▓▓▓▓▓▓▓▓▓▓ 100%\nPaid $1,850.00 of $1,850.00 · Balance $0.00 · :white_check_mark: *Cleared*")
    everything = json.dumps(bot.command("/events", "all").json()["blocks"], ensure_ascii=False)
    assert "JADA Charter" in everything and "Gipsy Kings Concert Night" in everything
    one = bot.command("/events", "jada").json()
    lines = json.dumps(one["blocks"], ensure_ascii=False)
    assert "▓░░░░░░░░░ 3%" not in lines and "░░░░░░░░░░ 3%\\nPaid $60.00 of $1,560.00 · Balance $1,500.00 · " \
        "not cleared" in lines  # 3.8% paid: a tenth of the bar only from 10%
    assert "$60.00 cash · Ana · by <@" in lines
    assert bot.command("/events", "nope").json()["text"] == (
        "There is no event 'nope'. Run /events to see the event ids.")
    assert bot.command("/events", "a b").json()["text"].startswith("Give one event id, or `all`.")


def test_help_is_unchanged_for_everyone(bot):
    assert "/log-payment" in bot.command("/opsbot", "help").json()["text"]

