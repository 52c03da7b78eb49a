"""Block Kit builders for payments, compared with the dict Slack receives."""

from __future__ import annotations

from datetime import UTC, date, datetime

from blocks.audit import payment_audit, void_audit, voided_payment_audit
from blocks.events import MAX_BLOCKS, event_detail, events_list
from blocks.payment_modal import event_label, event_suggestions, form_values, payment_modal
from blocks.receipts import payment_receipt, void_receipt
from bot.core.domain import DEFAULT_PAYMENT_METHODS, Event, EventStatus, Payment
from bot.core.ledger import LedgerResult

JADA = Event(id="2026-05-23-jada-charter", title="JADA Charter", date=date(2026, 5, 23), total_cents=156_000)
AT = datetime(2026, 5, 20, 17, 0, tzinfo=UTC)


def pay(amount=12_500, *, patron="Ana Ruiz", notes="", source="slack", logged_by="U0CREW0001", method="cash",
        payment_id="pay_abc", **kw) -> Payment:
    return Payment(payment_id=payment_id, event_id=JADA.id, patron=patron, amount_cents=amount, method=method,
                   notes=notes, logged_by=logged_by, recorded_at=AT, day="2026-05-20", source=source, **kw)


def test_payment_audit_line_snapshot():
    text, blocks = payment_audit(pay(notes="check #1042"), EventStatus(JADA, 112_500, 3))
    assert text == "$125.00 (cash) from Ana Ruiz for JADA Charter"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":moneybag: <@U0CREW0001> logged *$125.00* (cash) from *Ana Ruiz* for *JADA Charter*\n"
            "Paid $1,125.00 of $1,560.00 · Balance $435.00")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "`pay_abc` · Notes: check #1042"}]},
        {"type": "actions", "elements": [{
            "type": "button", "action_id": "payment_void", "value": "pay_abc", "style": "danger",
            "text": {"type": "plain_text", "text": "Void", "emoji": True},
            "confirm": {
                "title": {"type": "plain_text", "text": "Void this payment?", "emoji": True},
                "text": {"type": "mrkdwn",
                         "text": "$125.00 from Ana Ruiz will be reversed with a new record. Admins only."},
                "confirm": {"type": "plain_text", "text": "Void", "emoji": True},
                "deny": {"type": "plain_text", "text": "Keep", "emoji": True},
            },
        }]},
    ]


def test_audit_line_marks_cleared_and_web_api():
    _, blocks = payment_audit(pay(source="api", logged_by="web-api"), EventStatus(JADA, 156_000, 4))
    assert blocks[0]["text"]["text"] == (
        ":moneybag: Logged via web API: *$125.00* (cash) from *Ana Ruiz* for *JADA Charter*\n"
        "Paid $1,560.00 of $1,560.00 · Balance $0.00 · :white_check_mark: *Cleared*")


def test_user_text_cannot_ping_or_link():
    evil = pay(patron="<!channel> & <https://evil|click>", notes="<@U0ADMIN0001> <!here>")
    text, blocks = payment_audit(evil, EventStatus(JADA, 12_500, 1))
    rendered = str(blocks) + text
    assert "<!channel>" not in rendered and "<!here>" not in rendered and "<https://evil|click>" not in rendered
    assert "<@U0ADMIN0001>" not in rendered
    assert "*&lt;!channel&gt; &amp; &lt;https://evil|click&gt;*" in blocks[0]["text"]["text"]
    assert "Notes: &lt;@U0ADMIN0001&gt; &lt;!here&gt;" in blocks[1]["elements"][0]["text"]


def test_void_lines_snapshot():
    original = pay()
    void = pay(-12_500, payment_id="void_xyz", kind="void", voids="pay_abc", logged_by="U0ADMIN0001")
    status = EventStatus(JADA, 100_000, 2)
    text, blocks = void_audit(void, status)
    assert text == "Void of $125.00 from Ana Ruiz for JADA Charter"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":leftwards_arrow_with_hook: <@U0ADMIN0001> voided *$125.00* (cash) from *Ana Ruiz* for "
            "*JADA Charter* (`pay_abc`)\nPaid $1,000.00 of $1,560.00 · Balance $560.00")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "`void_xyz`"}]},
    ]
    text, blocks = voided_payment_audit(original, status, void)
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":moneybag: ~$125.00 (cash) from Ana Ruiz for JADA Charter~ *voided* by <@U0ADMIN0001>")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "`pay_abc` · voided by `void_xyz`"}]},
    ]
    assert all(b["type"] != "actions" for b in blocks)


def test_payment_modal_snapshot():
    statuses = [EventStatus(JADA, 100_000, 2)]
    view = payment_modal(statuses, methods=DEFAULT_PAYMENT_METHODS, preselect=JADA.id,
                         private_metadata='{"channel_id": "C1"}')
    option = {"text": {"type": "plain_text", "text": "JADA Charter · Sat May 23 · $560.00 due", "emoji": True},
              "value": JADA.id}
    assert view == {
        "type": "modal", "callback_id": "log_payment", "private_metadata": '{"channel_id": "C1"}',
        "title": {"type": "plain_text", "text": "Log a payment", "emoji": True},
        "submit": {"type": "plain_text", "text": "Record", "emoji": True},
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "blocks": [
            {"type": "input", "block_id": "event", "label": {"type": "plain_text", "text": "Event", "emoji": True},
             "element": {"type": "static_select", "action_id": "event", "options": [option],
                         "initial_option": option,
                         "placeholder": {"type": "plain_text", "text": "Choose the event", "emoji": True}}},
            {"type": "input", "block_id": "patron", "label": {"type": "plain_text", "text": "Patron", "emoji": True},
             "element": {"type": "plain_text_input", "action_id": "patron", "max_length": 100,
                         "placeholder": {"type": "plain_text", "text": "Who paid", "emoji": True}}},
            {"type": "input", "block_id": "amount", "label": {"type": "plain_text", "text": "Amount", "emoji": True},
             "hint": {"type": "plain_text", "text": "Dollars, like 125 or 1,560.00", "emoji": True},
             "element": {"type": "plain_text_input", "action_id": "amount",
                         "placeholder": {"type": "plain_text", "text": "125.00", "emoji": True}}},
            {"type": "input", "block_id": "method", "label": {"type": "plain_text", "text": "Method", "emoji": True},
             "element": {"type": "static_select", "action_id": "method",
                         "placeholder": {"type": "plain_text", "text": "How they paid", "emoji": True},
                         "options": [{"text": {"type": "plain_text", "text": m.capitalize(), "emoji": True},
                                      "value": m} for m in ("cash", "card", "check", "venmo", "zelle")]}},
            {"type": "input", "block_id": "notes", "optional": True,
             "label": {"type": "plain_text", "text": "Notes", "emoji": True},
             "element": {"type": "plain_text_input", "action_id": "notes", "multiline": True, "max_length": 500,
                         "placeholder": {"type": "plain_text", "text": "Check number, who collected it, …",
                                         "emoji": True}}},
        ],
    }


def test_up_to_100_events_are_a_static_select_and_more_an_external_one_with_the_preselection_kept():
    def events(n):
        return [EventStatus(Event(id=f"e{i}", title="A very long charter title " * 5, date=date(2027, 1, 1),
                                  total_cents=100), 0, 0) for i in range(n)]

    static = payment_modal(events(100), methods=DEFAULT_PAYMENT_METHODS, preselect="e99")["blocks"][0]["element"]
    assert static["type"] == "static_select" and len(static["options"]) == 100
    assert all(len(o["text"]["text"]) <= 75 for o in static["options"])
    assert static["initial_option"] == static["options"][99]
    many = payment_modal(events(150), methods=DEFAULT_PAYMENT_METHODS, preselect="e149")["blocks"][0]["element"]
    assert many == {"type": "external_select", "action_id": "event", "min_query_length": 0,
                    "placeholder": {"type": "plain_text", "text": "Type part of its name, id or date", "emoji": True},
                    "initial_option": {"value": "e149", "text": {
                        "type": "plain_text", "emoji": True,
                        "text": "A very long charter title A very long charter titl… · Fri Jan 1 · $1.00 due"}}}
    assert "initial_option" not in payment_modal(events(150), methods=DEFAULT_PAYMENT_METHODS)["blocks"][0]["element"]
    assert event_label(EventStatus(JADA, 156_000, 1)) == "JADA Charter · Sat May 23 · paid in full"


def test_the_event_search_answers_at_most_100_options_and_says_when_there_are_more():
    statuses = [EventStatus(Event(id=f"e{i}", title=f"Sail {i}", date=date(2027, 1, 1), total_cents=100), 0, 0)
                for i in range(100)]
    few = event_suggestions(statuses[:3], 3)
    assert few == {"options": [{"text": {"type": "plain_text", "text": f"Sail {i} · Fri Jan 1 · $1.00 due",
                                         "emoji": True}, "value": f"e{i}"} for i in range(3)]}
    many = event_suggestions(statuses, 240)
    (group,) = many["option_groups"]
    assert group["label"]["text"] == "100 of 240: type more of the name, id or date"
    assert len(group["options"]) == 100


def test_form_values_reads_the_state_slack_sends():
    state = {
        "event": {"event": {"type": "static_select", "selected_option": {"value": JADA.id}}},
        "patron": {"patron": {"type": "plain_text_input", "value": "Ana Ruiz"}},
        "amount": {"amount": {"type": "plain_text_input", "value": "125"}},
        "method": {"method": {"type": "static_select", "selected_option": None}},
        "notes": {"notes": {"type": "plain_text_input", "value": None}},
    }
    assert form_values(state) == {"event": JADA.id, "patron": "Ana Ruiz", "amount": "125", "method": None,
                                  "notes": None}


def test_events_list_snapshot():
    text, blocks = events_list([EventStatus(JADA, 100_000, 2)], include_past=False)
    assert text == "Upcoming events: JADA Charter $1,000.00 of $1,560.00"
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "Upcoming events", "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            "*JADA Charter* · Sat May 23, 2026 · `2026-05-23-jada-charter` · 2 payments\n"
            "▓▓▓▓▓▓░░░░ 64%\nPaid $1,000.00 of $1,560.00 · Balance $560.00 · not cleared")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "1 event · $560.00 due in all. `/events all` includes past ones.")}]},
    ]


def test_long_lists_stay_within_the_block_limit():
    statuses = [EventStatus(Event(id=f"e{i:03d}", title=f"Sail {i}", date=date(2027, 1, 1), total_cents=10_000),
                            2_500, 1) for i in range(120)]
    text, blocks = events_list(statuses, include_past=True)
    assert len(blocks) == MAX_BLOCKS
    assert blocks[-1]["elements"][0]["text"] == "…and 72 more events with $5,400.00 due. `/events EVENT` shows one."
    assert len(text) <= 3000

    payments = [pay(100 + i, payment_id=f"pay_{i:05d}") for i in range(2_000)]
    _, blocks = event_detail(EventStatus(JADA, 100_000, 2_000), payments)
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert sum(b["text"]["text"].count("\n") + 1 for b in blocks[2:-1]) == 40
    assert blocks[-1]["elements"][0]["text"] == "…and 1960 older records, $21,158.20 in all."


def test_event_detail_shows_voids_struck_through():
    voided = pay(voided_by="void_1")
    _, blocks = event_detail(EventStatus(JADA, 0, 0), [voided])
    assert blocks[2]["text"]["text"] == (
        "~`pay_abc` · May 20 · $125.00 cash · Ana Ruiz · by <@U0CREW0001>~ (voided)")


def test_receipts():
    result = LedgerResult(pay(), EventStatus(JADA, 112_500, 3))
    assert payment_receipt(result) == (
        "Recorded: $125.00 (cash) from Ana Ruiz for JADA Charter (`pay_abc`). Balance now $435.00 of $1,560.00.")
    cleared = LedgerResult(pay(), EventStatus(JADA, 156_000, 3))
    assert payment_receipt(cleared).endswith("JADA Charter is paid in full: $1,560.00. :white_check_mark:")
    void = pay(-12_500, payment_id="void_1", kind="void", voids="pay_abc")
    assert void_receipt(LedgerResult(void, EventStatus(JADA, 100_000, 2))) == (
        "Voided `pay_abc`: $125.00 from Ana Ruiz. JADA Charter balance now $560.00 of $1,560.00.")
    assert void_receipt(LedgerResult(void, EventStatus(JADA, 100_000, 2), replayed=True)) == (
        "`pay_abc` was already voided (`void_1`); nothing changed.")
