"""The ops page in Slack (issue 21): events.json's ``links`` checked at start-up like
the rest of the file, each site's own links built from its entry, the payment links
made with /paylink under Stripe with what each collected, ``/links`` driven through
signed Slack requests on SQLite and DynamoDB, and money at a glance (the paid-of-total
bar, the season's totals in the App Home's header)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from blocks.glance import paid_bar
from blocks.links import group_text
from bot.core.catalog import EventsFileError, load_catalog
from bot.core.domain import Event, EventStatus, Link, LinkGroup
from bot.core.links import PAYLINK_EVENTS, OpsGroup, OpsLinks, cloudfront_console_url, s3_console_url, site_links
from bot.core.paylinks import Paylink
from bot.core.ports import SUMMARIES_KEPT
from bot.core.season import season_totals
from tests.conftest import ADMIN_USER, EVENTS_FILE
from tests.slack_bot import CREW, Bot
from tests.stripe_fixtures import deliver

SITE = {"id": "gipsykings", "bucket": "gipsykings-queenofsandiego-com", "distributionId": "E2GK7EXAMPLE01",
        "source": "sites/gipsykings", "url": "https://gipsykings.queenofsandiego.com"}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    (tmp_path / "sites" / "gipsykings").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "events.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def refused(tmp_path: Path, links: Any) -> str:
    path = write(tmp_path, {"events": [], "links": links})
    with pytest.raises(EventsFileError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")  # the file is named
    return message[len(f"{path}: "):]


def texts(reply: dict) -> list[str]:
    return [b["text"]["text"] for b in reply["blocks"] if b["type"] == "section"]


def notes(reply: dict) -> list[str]:
    return [e["text"] for b in reply["blocks"] if b["type"] == "context" for e in b["elements"]]


# -- events.json's links ---------------------------------------------------------------------------------------------


def test_links_load_in_the_files_order_each_checked_and_the_note_optional(tmp_path):
    catalog = load_catalog(write(tmp_path, {"events": [], "links": {
        "Stripe": [{"title": "Dashboard", "url": "https://dashboard.stripe.com/", "note": " payouts "}],
        "  Google   Sheets ": [{"title": "Bookings", "url": "https://docs.google.com/spreadsheets/d/1x/edit#gid=0",
                                "owner": "kept for the web pages, ignored here"}],
        "DNS": [],
    }}))
    assert catalog.links == (
        LinkGroup("Stripe", (Link("Dashboard", "https://dashboard.stripe.com/", "payouts"),)),
        LinkGroup("Google Sheets", (Link("Bookings", "https://docs.google.com/spreadsheets/d/1x/edit#gid=0"),)),
        LinkGroup("DNS", ()),
    )
    assert load_catalog(write(tmp_path, {"events": []})).links == ()  # the section is optional


@pytest.mark.parametrize(("links", "expected"), [
    ([], '"links" must be an object of named groups, like {"Stripe": '),
    ({"Stripe": {"title": "x"}}, 'links["Stripe"]: must be a list of links, like [{"title": '),
    ({" ": []}, 'links[" "]: a group needs a name'),
    ({"AWS": [], "aws ": []}, 'links["aws "]: the same group as links["AWS"] (names are compared without case)'),
    ({"AWS": ["https://console.aws.amazon.com"]}, 'links["AWS"][0]: expected an object'),
    ({"AWS": [{"url": "https://console.aws.amazon.com"}]}, 'links["AWS"][0]: field "title": missing'),
    ({"AWS": [{"title": "Console"}]}, 'links["AWS"][0] (Console): field "url": missing'),
    ({"AWS": [{"title": "Console", "url": "http://console.aws.amazon.com"}]},
     'links["AWS"][0] (Console): field "url": \'http://console.aws.amazon.com\' must start with https://'),
    ({"AWS": [{"title": "Console", "url": "console.aws.amazon.com"}]}, 'field "url": \'console.aws.amazon.com\' '
                                                                       'must start with https://'),
    ({"AWS": [{"title": "Console", "url": "javascript:alert(1)"}]}, "must start with https://"),
    ({"AWS": [{"title": "Console", "url": "https:///s3/buckets"}]}, "has no host: write it as https://HOST/..."),
    ({"AWS": [{"title": "Console", "url": "https://user@:443/"}]}, "has no host"),
    ({"AWS": [{"title": "Console", "url": "https://console.aws.amazon.com:abc/"}]}, "is not a URL (Port could not"),
    ({"AWS": [{"title": "Console", "url": "https://[::1/"}]}, "is not a URL ("),
    ({"AWS": [{"title": "Console", "url": "https://console.aws.amazon.com/a b"}]},
     "holds a space or a control character: write a space as %20"),
    ({"AWS": [{"title": "Console", "url": "https://a.com/" + "x" * 2000}]},
     "'https://a.com/" + "x" * 65 + "…' is 2,014 characters long; the limit is 2,000"),
    ({"AWS": [{"title": "Console", "url": "https://console.aws.amazon.com", "note": 7}]},
     'links["AWS"][0] (Console): field "note": must be a string'),
    ({"AWS": [{"title": "x" * 150, "url": "ftp://x"}]}, f'links["AWS"][0] ({"x" * 99}…): field "url": '),
])
def test_a_bad_link_stops_the_start_naming_the_file_the_entry_and_the_field(tmp_path, links, expected):
    assert expected in refused(tmp_path, links)


def test_the_repository_file_has_the_crews_links(tmp_path):
    catalog = load_catalog(EVENTS_FILE)
    assert [g.name for g in catalog.links] == ["Stripe", "Sheets", "AWS", "DNS", "Email", "Apps Script"]
    assert all(link.url.startswith("https://") for g in catalog.links for link in g.links)


# -- each site's own links -----------------------------------------------------------------------------------------


def test_each_site_has_its_site_staging_bucket_and_distribution_links_without_typing_them(tmp_path):
    catalog = load_catalog(write(tmp_path, {"events": [], "sites": [SITE]}))
    [site] = catalog.sites
    assert [(link.title, link.url, link.note) for link in site_links(site, "us-west-2")] == [
        ("Site", "https://gipsykings.queenofsandiego.com", "production"),
        ("Staging", "https://gipsykings.queenofsandiego.com/_staging/", "/deploy gipsykings staging publishes here"),
        ("S3 bucket", "https://s3.console.aws.amazon.com/s3/buckets/gipsykings-queenofsandiego-com"
                      "?region=us-west-2&tab=objects", "gipsykings-queenofsandiego-com · us-west-2"),
        # CloudFront is global: its console is the us-east-1 one, whatever the bucket's region.
        ("CloudFront distribution", "https://us-east-1.console.aws.amazon.com/cloudfront/v4/home#/distributions/"
                                    "E2GK7EXAMPLE01", "E2GK7EXAMPLE01"),
    ]
    # Two sites sharing a bucket: each one's console page opens at its own folder.
    shared = load_catalog(write(tmp_path, {"events": [], "sites": [
        {**SITE, "prefix": "gipsykings/"}, {**SITE, "id": "birthday", "prefix": "birthday/"}]}))
    assert [(link.url, link.note) for link in site_links(shared.sites[1], "us-west-2")
            if link.title == "S3 bucket"] == [
        ("https://s3.console.aws.amazon.com/s3/buckets/gipsykings-queenofsandiego-com?region=us-west-2&prefix=birthday/"
         "&tab=objects", "gipsykings-queenofsandiego-com/birthday/ · us-west-2")]
    # Without a region the S3 console finds the bucket's own.
    assert s3_console_url("b-1", None) == "https://s3.console.aws.amazon.com/s3/buckets/b-1?tab=objects"
    assert s3_console_url("b-1", "eu-west-1", "gipsy kings/") == (
        "https://s3.console.aws.amazon.com/s3/buckets/b-1?region=eu-west-1&prefix=gipsy+kings/&tab=objects")
    assert cloudfront_console_url("E1/../X") == ("https://us-east-1.console.aws.amazon.com/cloudfront/v4/home"
                                                 "#/distributions/E1%2F..%2FX")


def test_a_sites_group_in_the_file_adds_to_its_links_and_stripe_gets_the_payment_links_after_its_own(tmp_path):
    catalog = load_catalog(write(tmp_path, {"events": [], "sites": [SITE], "links": {
        "AWS": [{"title": "Billing", "url": "https://console.aws.amazon.com/billing/"}],
        "site: GipsyKings": [{"title": "Analytics", "url": "https://plausible.io/gipsykings.queenofsandiego.com"}],
    }}))
    groups = OpsLinks(catalog, None, region=None, today=lambda: date(2026, 5, 1)).groups()
    assert [g.name for g in groups] == ["AWS", "site: GipsyKings"]  # no payment links and no Stripe group: none shown
    assert [link.title for link in groups[1].links] == ["Site", "Staging", "S3 bucket", "CloudFront distribution",
                                                        "Analytics"]
    assert group_text(OpsGroup("DNS", ())) == "*DNS*\nNo links in this group yet."  # an empty group says so


# -- /links, through Slack --------------------------------------------------------------------------------------------


def test_links_lists_every_group_then_finds_by_group_or_by_text(bot: Bot):
    everything = bot.command("/links").json()
    assert everything["response_type"] == "ephemeral"
    assert everything["blocks"][0]["text"]["text"] == "Links"
    shown = "\n".join(texts(everything))
    for name in ("*Stripe*", "*Sheets*", "*AWS*", "*DNS*", "*Email*", "*Apps Script*", "*Site: gipsykings*",
                 "*Site: birthday*", "*Site: birthday-afternoon*"):
        assert name in shown
    assert notes(everything) == ["20 links"]  # 8 of events.json's, 4 for each of the three sites

    stripe = bot.command("/links", "STRIPE").json()  # a group, in any case
    assert texts(stripe) == ["*Stripe*\n• <https://dashboard.stripe.com/|Dashboard> · payments, payouts, refunds\n"
                             "• <https://dashboard.stripe.com/payment-links|Payment links> · every link, those made "
                             "outside opsbot too"]
    assert notes(stripe) == ["2 links matching “STRIPE”"]

    consoles = bot.command("/links", "cloudfront birthday").json()  # every word, in title, note or address
    assert texts(consoles) == [
        "*Site: birthday*\n• <https://us-east-1.console.aws.amazon.com/cloudfront/v4/home#/distributions/"
        "E1BDAYEXAMPLE2|CloudFront distribution> · E1BDAYEXAMPLE2\n"
        "*Site: birthday-afternoon*\n• <https://us-east-1.console.aws.amazon.com/cloudfront/v4/home#/distributions/"
        "E3BDAYPMEXAMP3|CloudFront distribution> · E3BDAYPMEXAMP3"]
    assert consoles["text"] == "Links matching “cloudfront birthday”: Site: birthday (1); Site: birthday-afternoon (1)"


def test_links_that_match_nothing_say_which_groups_there_are_and_echo_the_text_escaped_once(bot: Bot):
    reply = bot.command("/links", "<!channel> & co").json()  # sent escaped, as Slack sends it
    assert reply["text"] == (
        "No links matching “&lt;!channel&gt; &amp; co”. Groups: Stripe, Sheets, AWS, DNS, Email, Apps Script, "
        "Site: gipsykings, Site: birthday, Site: birthday-afternoon. Usage: `/links` (every link), `/links GROUP` "
        "(one group) or `/links TEXT` (links whose title, note or address holds it).")


def test_links_is_for_the_crew(make_bot):
    bot = make_bot(OPSBOT_CREW=CREW)
    assert bot.command("/links").json()["blocks"][0]["text"]["text"] == "Links"
    assert bot.command("/links", user="U0STRANGER1").json()["text"] == (
        "Only crew can see the ops links. Ask an admin to add you to OPSBOT_CREW.")


def test_payment_links_appear_under_stripe_newest_first_with_what_each_collected(stripe_bot, stripe_api):
    bot = stripe_bot
    for text in ("250 Charter deposit --event jada", "125 Birthday sail --event 2026-12-12-birthday-sail",
                 "40 Parking"):
        assert bot.command("/paylink", text, user=ADMIN_USER).status == 200
        bot.lazies.wait_idle()
    deposit, sail, parking = stripe_api.objects("payment_link")
    for link, patron in ((deposit, "Ana Ruiz"), (deposit, "Bo & Co"), (sail, "Cy")):
        assert deliver(bot, stripe_api.checkout_session_event(link["id"], name=patron)).json()["status"] == "recorded"
    day = bot.services.ledger.today()

    reply = bot.command("/links", "stripe").json()
    [stripe] = texts(reply)
    assert stripe.splitlines()[3:] == [  # after the group's name and events.json's two: the newest first
        f"• <{parking['url']}|$40.00 · Parking> · not paid yet · by <@{ADMIN_USER}> · {day:%b %-d}",
        f"• <{sail['url']}|$125.00 · Birthday sail> · Birthday Sail · paid 1× ($125.00) · by <@{ADMIN_USER}> · "
        f"{day:%b %-d}",
        f"• <{deposit['url']}|$250.00 · Charter deposit> · JADA Charter · paid 2× ($500.00) · by <@{ADMIN_USER}> · "
        f"{day:%b %-d}",
    ]
    # A payment link is found by its event and its amount too.
    assert [line.split("|")[1].split(">")[0] for line in texts(bot.command("/links", "jada charter").json())[0]
            .splitlines() if line.startswith("• ")] == ["$250.00 · Charter deposit"]
    assert "$125.00 · Birthday sail" in texts(bot.command("/links", "$125").json())[0]

    home = bot.open_home(CREW)
    [home_stripe] = [b["text"]["text"] for b in home["blocks"] if b["type"] == "section"
                     and b["text"]["text"].startswith("*Stripe*")]
    assert home_stripe == stripe


def _links_on_far_and_near_events(make_bot, tmp_path, *, upgraded: bool):
    """120 events, a link on the nearest, two more within reach and one beyond. ``upgraded``: the links were
    recorded before summaries were kept (their history only, the store not marked as keeping them)."""
    data = json.loads(EVENTS_FILE.read_text())
    today = date.today()
    data["events"] = [{"id": f"e{i:03d}", "title": f"Event {i}", "date": (today + timedelta(days=i)).isoformat(),
                       "total": 100} for i in range(120)]
    (tmp_path / "events.json").write_text(json.dumps(data))
    bot = make_bot(OPSBOT_EVENTS_FILE=str(tmp_path / "events.json"))
    store = bot.services.store
    for i in (0, 5, 29, 30):
        record = {"link_id": f"plink_{i}", "url": f"https://buy.stripe.com/test_{i}", "product_id": "prod_1",
                  "price_id": "price_1", "amount_cents": 1000 + i, "product_name": f"Link {i}", "description": "",
                  "event_id": f"e{i:03d}", "event_title": f"Event {i}", "created_by": ADMIN_USER,
                  "created_at": f"2026-05-{1 + i:02d}T10:00:00.000000+00:00", "day": f"2026-05-{1 + i:02d}"}
        link = Paylink.from_record(record)
        fold = None if upgraded else bot.services.paylinks.recent_fold(link, paid=(0, 0))
        store.put_record("paylink", f"e{i:03d}", link.key, record, fold=fold)
    if upgraded:
        store.delete_record(*SUMMARIES_KEPT)
    return bot


def _reads(store, monkeypatch) -> list[tuple[str, ...]]:
    reads: list[tuple[str, ...]] = []
    for method in ("list_records", "read_keys"):
        real = getattr(store, method)

        def counted(*args, _real=real, _method=method, **kwargs):
            said = args if args else (f"{len(kwargs.get('records', ()))} keys",)
            reads.append((_method, *said))
            return _real(*args, **kwargs)

        monkeypatch.setattr(store, method, counted)
    return reads


def _shows_the_three_nearest_links(reply: dict[str, Any]) -> None:
    assert [line.split("|")[1].split(">")[0] for line in texts(reply)[0].splitlines() if "buy.stripe" in line] == [
        "$10.29 · Link 29", "$10.05 · Link 5", "$10.00 · Link 0"]  # newest first
    assert "Payment links of the nearest events, newest first: `/events EVENT` lists all of an event's." in \
        notes(reply)[0]


def test_payment_links_of_the_nearest_events_are_one_read_of_their_summaries(make_bot, tmp_path, monkeypatch):
    bot = _links_on_far_and_near_events(make_bot, tmp_path, upgraded=False)
    reads = _reads(bot.services.store, monkeypatch)
    reply = bot.command("/links", "stripe").json()
    # The 30 nearest events' summaries, "no event"'s and the store's mark: one read by key, no query.
    assert reads == [("read_keys", f"{PAYLINK_EVENTS + 2} keys")]
    _shows_the_three_nearest_links(reply)


def test_links_recorded_before_summaries_are_read_from_their_history_once(make_bot, tmp_path,
                                                                                     monkeypatch):
    bot = _links_on_far_and_near_events(make_bot, tmp_path, upgraded=True)
    reads = _reads(bot.services.store, monkeypatch)
    reply = bot.command("/links", "stripe").json()
    queries = [r for r in reads if r[0] == "list_records"]
    assert len(queries) == PAYLINK_EVENTS + 1 + 3  # each of the 30 nearest and "no event", +1 for each with links
    assert {g for _, c, g in queries if c == "paylink-paid"} == {"e000", "e005", "e029"}
    _shows_the_three_nearest_links(reply)
    # Each group's summary was kept as it was read: from now on, one read by key.
    reads.clear()
    _shows_the_three_nearest_links(bot.command("/links", "stripe").json())
    assert reads == [("read_keys", f"{PAYLINK_EVENTS + 2} keys")]


# -- money at a glance -------------------------------------------------------------------------------------------


def status(day: date | None, total: int, paid: int) -> EventStatus:
    return EventStatus(Event(id=f"e{total}-{paid}", title="E", date=day, total_cents=total), paid, 1)


def test_the_bar_is_full_only_when_paid_in_full_and_the_percent_never_rounds_up():
    assert [status(None, 156_000, paid).paid_percent for paid in (0, 1, 81_120, 155_999, 156_000, 200_000)] == [
        0, 0, 52, 99, 100, 100]
    assert [paid_bar(p) for p in (0, 9, 52, 99, 100)] == [
        "░░░░░░░░░░ 0%", "░░░░░░░░░░ 9%", "▓▓▓▓▓░░░░░ 52%", "▓▓▓▓▓▓▓▓▓░ 99%", "▓▓▓▓▓▓▓▓▓▓ 100%"]


def test_the_seasons_totals_to_the_cent():
    today = date(2026, 6, 1)
    season = season_totals([
        status(today, 10_000, 2_500),  # today: owed in both windows
        status(today + timedelta(days=7), 20_000, 0),  # the 7th day: still "next 7 days"
        status(today + timedelta(days=8), 30_000, 29_999),  # only "next 30 days"
        status(today + timedelta(days=30), 40_000, 40_000),  # paid in full: owes nothing
        status(today + timedelta(days=31), 50_000, 0),  # beyond both windows
        status(today - timedelta(days=1), 60_000, 10_000),  # past and still owing
        status(None, 70_000, 75_000),  # undated and overpaid: collected counts it all, owes nothing
    ], today)
    assert season.collected_cents == 2_500 + 29_999 + 40_000 + 10_000 + 75_000
    assert season.total_cents == 280_000 and season.collected_percent == 56
    assert [(o.days, o.cents, o.events) for o in season.owed_soon] == [(7, 7_500 + 20_000, 2),
                                                                       (30, 7_500 + 20_000 + 1, 3)]
    assert (season.overdue.cents, season.overdue.events) == (50_000, 1)


def test_the_home_header_shows_the_season_and_every_event_its_bar(make_bot, tmp_path):
    today = date.today()
    data = json.loads(EVENTS_FILE.read_text())
    data["events"] = [
        {"id": "soon", "title": "Soon", "date": (today + timedelta(days=2)).isoformat(), "total": 1000},
        {"id": "later", "title": "Later", "date": (today + timedelta(days=20)).isoformat(), "total": 500},
        {"id": "past", "title": "Past", "date": (today - timedelta(days=3)).isoformat(), "total": 300},
        {"id": "undated", "title": "Undated", "total": 200},
    ]
    (tmp_path / "events.json").write_text(json.dumps(data))
    bot = make_bot(OPSBOT_EVENTS_FILE=str(tmp_path / "events.json"))
    for text in ("soon 520 cash Ana", "past 100 venmo Bo", "undated 200 zelle Cy"):
        assert bot.command("/log-payment", text).json()["text"].startswith("Recorded:")
    bot.lazies.wait_idle()
    view = bot.open_home(CREW)
    shown = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert shown[0] == ("*Season:* collected $820.00 of $2,000.00\n▓▓▓▓░░░░░░ 41%\n"
                        "*Owed* next 7 days: $480.00 (1 event) · next 30 days: $980.00 (2 events)\n"
                        ":warning: Past events still owe: $200.00 (1 event)")
    assert shown[1].endswith("\n▓▓▓▓▓░░░░░ 52%\nPaid $520.00 of $1,000.00 · Balance $480.00 · not cleared")
    assert shown[3] == ("*Undated* · no date\n▓▓▓▓▓▓▓▓▓▓ 100%\n"
                        "Paid $200.00 of $200.00 · Balance $0.00 · :white_check_mark: *Cleared*")
    listed = bot.command("/events").json()
    assert texts(listed)[0] == (f"*Soon* · {today + timedelta(days=2):%a %b %-d, %Y} · `soon` · 1 payment\n"
                                "▓▓▓▓▓░░░░░ 52%\nPaid $520.00 of $1,000.00 · Balance $480.00 · not cleared")
