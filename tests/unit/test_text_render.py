"""Block Kit as text for the console: what a person reads in Slack, markup removed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from blocks.audit import payment_audit
from blocks.help import help_blocks
from blocks.text_render import mrkdwn_to_text, render_blocks, render_message
from bot.core.domain import Event, EventStatus, Payment
from bot.core.help import CommandHelp

JADA = Event(id="2026-05-23-jada-charter", title="JADA <Charter>", date=date(2026, 5, 23), total_cents=156_000)


def test_mrkdwn_becomes_plain_text_with_links_mentions_and_escapes_spelled_out():
    assert mrkdwn_to_text("*$125.00* (cash) from *Ana* _(admins)_ ~old~") == "$125.00 (cash) from Ana (admins) ~old~"
    assert mrkdwn_to_text("`pay_k7m2x9q4ab` and *`/events [SLUG|all]`*") == "pay_k7m2x9q4ab and /events [SLUG|all]"
    assert mrkdwn_to_text("<@U0CREW0001> in <#C0OPS0001|ops>: <https://x.example/a|the site> <!here>",
                          mention=lambda u: f"@{u.lower()}") == (
        "@u0crew0001 in #ops: the site (https://x.example/a) @here")
    assert mrkdwn_to_text("<https://gipsykings.example.com/|gipsykings.example.com>") == "https://gipsykings.example.com/"
    # Escaped user text stays text: a patron named <!channel> is shown, not a ping.
    assert mrkdwn_to_text("from *&lt;!channel&gt; &amp; co*") == "from <!channel> & co"
    assert mrkdwn_to_text(":moneybag: :white_check_mark: :unknown_thing: 10:30:45") == "💰 ✅ :unknown_thing: 10:30:45"
    # Underscores inside ids are not italics.
    assert mrkdwn_to_text("log_payment and pay_abc_def") == "log_payment and pay_abc_def"


def test_an_audit_line_renders_with_a_numbered_button():
    payment = Payment(payment_id="pay_abc", event_id=JADA.id, patron="Ana & <b>", amount_cents=12_500, method="cash",
                      notes="check #1042", logged_by="U0CREW0001", recorded_at=datetime(2026, 5, 20, tzinfo=UTC),
                      day="2026-05-20")
    _, blocks = payment_audit(payment, EventStatus(JADA, 112_500, 3))
    pressed = []

    def button(element, block_id):
        pressed.append((element["action_id"], element["value"]))
        return f"[{len(pressed)} {element['text']['text']}]"

    assert render_blocks(blocks, button=button) == [
        "  💰 @U0CREW0001 logged $125.00 (cash) from Ana & <b> for JADA <Charter>",
        "  Paid $1,125.00 of $1,560.00 · Balance $435.00",
        "    pay_abc · Notes: check #1042",
        "  [1 Void]",
    ]
    assert pressed == [("payment_void", "pay_abc")]


def test_headers_sections_fields_accessories_and_spacing():
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Sites"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*one*\ntwo"},
         "accessory": {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Go"}}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "single"},
         "accessory": {"type": "button", "action_id": "b", "text": {"type": "plain_text", "text": "Stop"}}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Paid*\n$5.00"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "a"}, {"type": "plain_text", "text": "b"}]},
        {"type": "image", "image_url": "https://x.example/i.png", "alt_text": "a boat"},
    ]
    assert render_blocks(blocks) == [
        "  Sites", "  =====",
        "  one", "  two", "    [Go]",
        "",
        "  single  [Stop]",
        "    Paid", "    $5.00",
        "  ----------------------------------------",
        "    a · b",
        "  [image: a boat]",
    ]


def test_a_message_without_blocks_shows_its_text_and_help_reads_as_a_list():
    assert render_message("Voided `pay_x`: *$5.00*", None) == ["  Voided pay_x: $5.00"]
    entries = (CommandHelp("/events [SLUG|all]", "Events.", "/events all"),
               CommandHelp("/deploy SITE", "Deploys.", "/deploy birthday", admin_only=True))
    assert render_message("", help_blocks(entries, methods=("cash", "card", "check", "venmo", "zelle"))) == [
        "  opsbot commands", "  ===============",
        "  /events [SLUG|all]", "  Events.", "  Example: /events all",
        "",
        "  /deploy SITE (admins)", "  Deploys.", "  Example: /deploy birthday",
        "    Amounts are dollars, like 125 or 1,560.00. Payment methods: cash, card, check, venmo, zelle.",
    ]
