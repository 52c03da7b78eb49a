"""A busy season, through the strict Slack stand-in: 120 upcoming events (60 of
them owing within three days, 60 paid in full today), 30 sites, 40 groups of 30
links, 45 payment links, and names that use every character Slack escapes. Every message, modal and Home tab the bot
builds for it is accepted by the stand-in (Block Kit's documented limits), and
every list cut says how much it left out."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.bootstrap import build_deliverer, build_services, build_slack_app
from bot.core.paylinks import Paylink
from bot.core.summary import REMINDER_DAYS
from bot.entrypoints.http import make_wsgi_app, start_background_server
from bot.entrypoints.scheduler import send_daily_summary, send_reminders
from infra.local_slack.block_kit_limits import message_problems, view_problems
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.slack_bot import CREW, TEST_POLICY, Bot, LazyTracker

OWING = 60  # events within three days with a balance
PAID = 60  # events later on, each paid in full today
SITES = 30
NOW = datetime(2026, 7, 1, 19, 0, tzinfo=UTC)  # noon in the crew's time zone: one day throughout
PATRON = ("Bo & Co <VIP> " * 10)[:100]  # the longest name the ledger takes, escaped past 300 characters
LINK_GROUPS = 40
LINKS_EACH = 30
PAYMENT_LINKS = 45  # on soon-000 to soon-014, 3 each
# Payment links are read for the 30 nearest events: soon-000, 004, ..., then soon-001, 005, ... (by date), of
# which 8 have links: 24 are shown, and the rest are named as older (/events EVENT lists an event's all).
PAYMENT_LINKS_READ = 24


def title(i: int) -> str:
    return f"Sunset Sail & Dinner <Deck {i}> for the Harbor & Bay Association's \"Summer > Winter\" Gala Night {i}"


@pytest.fixture
def busy_bot(make_settings, slack_api, tmp_path: Path):
    today = NOW.astimezone(make_settings().timezone).date()
    events = [{"id": f"soon-{i:03d}", "title": title(i), "date": (today + timedelta(days=i % (REMINDER_DAYS + 1)))
               .isoformat(), "total": 1000 + i} for i in range(OWING)]
    events += [{"id": f"later-{i:03d}", "title": title(100 + i), "date": (today + timedelta(days=10 + i)).isoformat(),
                "total": 500 + i} for i in range(PAID)]
    sites = []
    for i in range(SITES):
        (tmp_path / "sites" / f"site-{i:02d}").mkdir(parents=True)
        sites.append({"id": f"site-{i:02d}", "bucket": f"bucket-{i:02d}-" + "b" * 40, "distributionId": f"E{i:012d}",
                      "source": f"sites/site-{i:02d}", "url": f"https://site-{i:02d}.example.com/" + "&x=<y>" * 20})
    links = {f"Group & <{g}> of the \"Harbor\" crew": [
        {"title": f"Console & <Dashboard {g}-{i}> for the Harbor & Bay Association", "note": "see & <edit> " * 30,
         "url": f"https://console.example.com/{g}/{i}?a=1&b=<2>&c=" + "x" * 200} for i in range(LINKS_EACH)]
        for g in range(LINK_GROUPS)}
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps({"events": events, "sites": sites, "links": links}))
    services = build_services(make_settings(OPSBOT_EVENTS_FILE=str(events_file),
                                            OPSBOT_STORE=f"sqlite:///{tmp_path / 'busy.db'}"), clock=lambda: NOW)
    services.store.init_schema()
    for i in range(PAYMENT_LINKS):  # as /paylink keeps them (its own tests make them through Slack and Stripe)
        event = events[i // 3]
        link = Paylink(link_id=f"plink_{i:03d}", url=f"https://buy.stripe.com/test_{i:03d}", product_id="prod_1",
                       price_id="price_1", amount_cents=10_000 + i, product_name=f"Deposit & <{i}> " + title(i),
                       description="", event_id=event["id"], event_title=title(i // 3), created_by=ADMIN_USER,
                       created_at=(NOW - timedelta(minutes=i)).isoformat(timespec="microseconds"), day="2026-07-01")
        services.store.put_record("paylink", link.group, link.key, asdict(link),
                                  fold=services.paylinks.recent_fold(link, paid=(0, 0)))
    deliverer = build_deliverer(services, policy=TEST_POLICY)  # the outbox, delivered as `opsbot serve` does
    lazies = LazyTracker(deliverer)
    server, base_url = start_background_server(make_wsgi_app(services, build_slack_app(services,
                                                                                       listener_executor=lazies)))
    deliverer.start()
    bot = Bot(base_url, services, slack_api, lazies)
    for i in range(PAID):
        reply = bot.command("/log-payment", f"later-{i:03d} {500 + i} cash {PATRON}").json()
        assert reply["text"].startswith("Recorded:"), reply
    lazies.wait_idle()
    yield bot
    lazies.wait_idle()
    server.close()
    lazies.shutdown()
    deliverer.stop()


def accepted(bot: Bot, method: str) -> dict:
    """The last call of ``method``: Slack (the stand-in) took it."""
    call = bot.slack_api.calls(method)[-1]
    assert call.response["ok"], call.response
    return call.params


def contexts(blocks: list[dict]) -> list[str]:
    return [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]


def test_every_audit_line_of_the_day_was_accepted_with_its_void_button(busy_bot):
    posts = busy_bot.audit_posts()
    assert len(posts) == PAID and all(c.response["ok"] for c in posts)
    confirm = posts[0].params["blocks"][2]["elements"][0]["confirm"]["text"]["text"]
    assert len(confirm) <= 300 and confirm.startswith("$500.00 from Bo &amp; Co &lt;VIP&gt;")


def test_the_reminder_holds_48_events_and_counts_the_rest(busy_bot):
    assert send_reminders(busy_bot.services)
    message = accepted(busy_bot, "chat.postMessage")
    assert message["channel"] == AUDIT_CHANNEL and len(message["blocks"]) == 50
    buttons = [b for b in message["blocks"] if b.get("accessory")]
    assert len(buttons) == 48
    rest = sum(1000 + i for i in range(OWING))  # dollars owed in all ...
    shown = sum(int(b["accessory"]["value"][5:]) + 1000 for b in buttons)  # ... and by the events shown
    assert contexts(message["blocks"]) == [f"…and 12 more events owing ${rest - shown:,}.00: "
                                           "`/events` shows every event."]


def test_the_daily_summary_fits_and_says_what_it_cut(busy_bot):
    assert send_daily_summary(busy_bot.services)
    message = accepted(busy_bot, "chat.postMessage")
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert texts[0].startswith("*60 payments · $")
    by_event = next(t for t in texts if t.startswith("*By event*"))
    assert len(by_event) <= 3000 and by_event.splitlines()[-1].startswith("…and ")
    assert "&amp;" in by_event and "&amp;amp;" not in by_event
    owed = next(t for t in texts if t.startswith("*Still owed, next 7 days*"))
    assert owed.splitlines()[-1].startswith("…and ") and len(owed) <= 3000


@pytest.mark.parametrize("text", ["", "all"])
def test_events_and_events_all_fit_one_message(busy_bot, text):
    reply = busy_bot.command("/events", text).json()  # the test client checks the ack against Slack's limits
    assert len(reply["blocks"]) == 50
    assert contexts(reply["blocks"])[-1].startswith("…and 72 more events with $")
    assert not message_problems(reply)


def test_one_event_with_its_payments(busy_bot):
    reply = busy_bot.command("/events", "later-000").json()
    assert reply["blocks"][0]["text"]["text"] == title(100)  # plain text: not escaped
    assert "Bo &amp; Co &lt;VIP&gt;" in reply["blocks"][2]["text"]["text"]


def test_the_app_home_holds_100_blocks_at_most(busy_bot):
    view = busy_bot.open_home(ADMIN_USER)
    assert accepted(busy_bot, "views.publish") and not view_problems({"type": "home", **view})
    assert len(view["blocks"]) <= 100
    texts = contexts(view["blocks"])
    assert any(t.startswith("…and ") and "`/events` lists them." in t for t in texts)
    today = next(b["text"]["text"] for b in view["blocks"] if b["type"] == "section"
                 and b["text"]["text"].startswith("*60 payments"))
    assert today.splitlines()[-1] == "…and 48 earlier records: `/opsbot summary` has them all."


def test_the_app_home_shows_the_links_grouped_and_says_what_it_left_out(busy_bot):
    view = busy_bot.open_home(ADMIN_USER)
    assert accepted(busy_bot, "views.publish") and len(view["blocks"]) <= 100
    header = next(i for i, b in enumerate(view["blocks"]) if b["type"] == "header" and b["text"]["text"] == "Links")
    groups = [b["text"]["text"] for b in view["blocks"][header + 1:] if b["type"] == "section"]
    assert groups[0].startswith("*Stripe*\n• <https://buy.stripe.com/test_000|$100.00 · Deposit &amp; &lt;0&gt; ")
    assert groups[0].splitlines()[-1] == f"…and {PAYMENT_LINKS_READ - 8} more: `/links Stripe`"  # 8 on the dashboard
    # Its lines are long (a note of 390 characters, escaped): 5 fit a section's 3,000.
    assert groups[1].splitlines()[-1] == ("…and 25 more: `/links Group &amp; &lt;0&gt; of the \"Harbor\" crew`")
    left = LINK_GROUPS + SITES - len(groups) + 1
    assert contexts(view["blocks"])[-2].endswith(
        f"…and {left} more groups ({(left - SITES) * LINKS_EACH + SITES * 4} links): `/links` lists them.")


@pytest.mark.parametrize(("text", "matched"), [("", LINK_GROUPS * LINKS_EACH + SITES * 4 + PAYMENT_LINKS_READ),
                                               ("site", SITES * 4),
                                               ("deposit & <1", 7)])  # <1>, <12> to <17> of those read
def test_links_fit_one_message_and_count_the_rest(busy_bot, text, matched):
    reply = busy_bot.command("/links", text).json()  # the test client checks the ack against Slack's limits
    assert len(reply["blocks"]) <= 50 and not message_problems(reply)
    shown = sum(t.count("\n• ") + t.startswith("• ") for b in reply["blocks"] if b["type"] == "section"
                for t in [b["text"]["text"]])
    note = contexts(reply["blocks"])[-1]
    assert note.startswith(f"{matched} links")
    if shown < matched:
        assert f"…and {matched - shown} more links (" in note and note.endswith(": `/links GROUP` shows one group.")
    assert sum(len(b["text"]["text"]) for b in reply["blocks"] if b["type"] == "section") <= 10_000


def test_the_deploy_sites_list_fits(busy_bot):
    reply = busy_bot.command("/deploy", "", user=ADMIN_USER).json()
    listing = reply["blocks"][0]["text"]["text"]
    assert len(listing) <= 3000 and listing.splitlines()[-1].endswith("more sites in events.json.")
    assert "&amp;x=&lt;y&gt;" in listing


@pytest.mark.parametrize("user", [CREW, ADMIN_USER])
def test_help_fits(busy_bot, user):
    reply = busy_bot.command("/opsbot", "help", user=user).json()
    assert reply["blocks"][0]["text"]["text"] == "opsbot commands"


def test_the_payment_form_searches_the_events_and_keeps_the_preselection(busy_bot):
    view = busy_bot.open_modal("later-059")
    assert accepted(busy_bot, "views.open")
    element = view["blocks"][0]["element"]
    assert element["type"] == "external_select" and element["initial_option"]["value"] == "later-059"
    first = busy_bot.suggest(view, "").json()  # opening the menu: the soonest events, and how many there are
    assert first["option_groups"][0]["label"]["text"] == "100 of 120: type more of the name, id or date"
    assert first["option_groups"][0]["options"][0]["value"] == "soon-000"
    found = busy_bot.suggest(view, "deck 159").json()
    assert [o["value"] for o in found["options"]] == ["later-059"]
