"""The App Home: the ops dashboard's blocks (snapshots for crew and admin, the
100-block limit) and ``app_home_opened`` driven the way Slack drives it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from blocks.home import MAX_BLOCKS, home_view
from bot.bootstrap import build_slack_app
from bot.core.domain import Event, EventStatus, Payment, Site
from bot.core.home import HomeData, LastDeploy, SiteCard
from bot.core.links import OpsGroup, OpsLink, PaymentLink
from bot.core.ports import SUMMARIES_KEPT
from bot.core.season import season_totals
from bot.core.summaries import build_summaries
from bot.entrypoints.http import make_wsgi_app, start_background_server
from infra.local_slack.payloads import JSON, form, home_opened
from infra.local_slack.web_api import APP_ID, TEAM_ID
from tests.conftest import ADMIN_USER, EVENTS_FILE, PROJECT_VERSION
from tests.deploy_sites import SITE_FILES, site_on_moto
from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET
from tests.slack_bot import CREW, Bot, LazyTracker
from tests.stripe_fixtures import deliver

LA = ZoneInfo("America/Los_Angeles")
JADA = Event(id="2026-05-23-jada-charter", title="JADA <Charter>", date=date(2026, 5, 23), total_cents=156_000)
WHALES = Event(id="whales", title="Whale Watch", date=None, total_cents=185_000)
GIPSY = Site(id="gipsykings", bucket="gk-bucket", distribution_id="E2GK", source=Path("sites/gipsykings"),
             url="https://gipsykings.example.com")
BIRTHDAY = Site(id="birthday", bucket="bd-bucket", distribution_id="E1BD", source=Path("sites/birthday"),
                url="https://birthday.example.com/")


def record(payment_id: str, amount: int, **kw) -> Payment:
    return Payment(payment_id=payment_id, event_id=JADA.id, patron="Ana & Bo", amount_cents=amount, method="venmo",
                   notes="", logged_by="U0CREW00001", recorded_at=datetime(2026, 5, 20, 22, 0, tzinfo=UTC),
                   day="2026-05-20", **kw)


def home_data(*, admin: bool, events=None, sites=None) -> HomeData:
    return HomeData(
        user=ADMIN_USER if admin else CREW, is_admin=admin, can_log=True, now=datetime(2026, 5, 20, 15, 4, tzinfo=LA),
        events=events if events is not None else (EventStatus(JADA, 50_000, 1), EventStatus(WHALES, 185_000, 2)),
        today=(record("pay_abc", 50_000, voided_by="void_xyz"),
               record("void_xyz", -50_000, kind="void", voids="pay_abc")),
        titles={JADA.id: JADA.title},
        sites=sites if sites is not None else (
            SiteCard(GIPSY, LastDeploy("production", ADMIN_USER, datetime(2026, 5, 19, 18, 30, tzinfo=UTC),
                                       "deployed")),
            SiteCard(BIRTHDAY, None)),
        links=(OpsGroup("Stripe", (
            OpsLink("Dashboard", "https://dashboard.stripe.com/", "payouts & refunds"),
            OpsLink("Charter deposit", "https://buy.stripe.com/test_abc", payment=PaymentLink(
                25_000, "Charter deposit", JADA.id, "JADA <Charter>", ADMIN_USER, date(2026, 5, 18), 1, 25_000)))),
            OpsGroup("Site: gipsykings", (OpsLink("Site", "https://gipsykings.example.com", "production"),))),
        season=season_totals(events if events is not None else (EventStatus(JADA, 50_000, 1),
                                                                EventStatus(WHALES, 185_000, 2)), date(2026, 5, 20)),
        version="1.2.3",
    )


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def section(text: str, accessory: dict | None = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if accessory:
        block["accessory"] = accessory
    return block


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def button(text: str, action_id: str, value: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id,
            "value": value}


HEAD_PART = [
    header("Ops dashboard"),
    None,  # the context line: who is looking
    # The season: both events collected $2,350.00 of $3,410.00; JADA (in 3 days) still owes $1,060.00.
    section("*Season:* collected $2,350.00 of $3,410.00\n▓▓▓▓▓▓░░░░ 68%\n"
            "*Owed* next 7 days: $1,060.00 (1 event) · next 30 days: $1,060.00 (1 event)"),
]
EVENTS_PART = [
    header("Upcoming events"),
    section("*JADA &lt;Charter&gt;* · Sat May 23, 2026\n▓▓▓░░░░░░░ 32%\n"
            "Paid $500.00 of $1,560.00 · Balance $1,060.00 · not cleared",
            button("Log payment", "reminder_log_payment", "2026-05-23-jada-charter")),
    # Paid in full: no button (the ledger would refuse a payment anyway).
    section("*Whale Watch* · no date\n▓▓▓▓▓▓▓▓▓▓ 100%\n"
            "Paid $1,850.00 of $1,850.00 · Balance $0.00 · :white_check_mark: *Cleared*"),
    context("2 events · $1,060.00 due in all."),
    {"type": "divider"},
    header("Today · Wed May 20"),
    section("*1 payment · $500.00* · 1 void · -$500.00\n"
            "• 3:00 PM · void of `pay_abc` · -$500.00 · Ana &amp; Bo · JADA &lt;Charter&gt; · by <@U0CREW00001>\n"
            "• 3:00 PM · $500.00 venmo · Ana &amp; Bo · JADA &lt;Charter&gt; · by <@U0CREW00001> · _voided_"),
    {"type": "divider"},
]
LINKS_PART = [
    {"type": "divider"},
    header("Links"),
    # events.json's links, a /paylink link (amount, event, what it collected, who, when), a site's own.
    section("*Stripe*\n• <https://dashboard.stripe.com/|Dashboard> · payouts &amp; refunds\n"
            "• <https://buy.stripe.com/test_abc|$250.00 · Charter deposit> · JADA &lt;Charter&gt; · "
            "paid 1× ($250.00) · by <@U0ADMIN0001> · May 18"),
    section("*Site: gipsykings*\n• <https://gipsykings.example.com|Site> · production"),
    context("`/links TEXT` finds a link."),
    context("opsbot 1.2.3"),  # the footer: which opsbot answers
]


def head(role: str) -> list[dict]:
    return [HEAD_PART[0], context(f"Wed May 20, 3:04 PM · you are {role} · `/opsbot help` lists what you can do"),
            HEAD_PART[2]]


def test_the_admin_home_snapshot():
    assert home_view(home_data(admin=True)) == {"type": "home", "blocks": [
        *head("admin"),
        *EVENTS_PART,
        header("Sites"),
        section("*gipsykings* · Last deploy: production · :white_check_mark: deployed · by <@U0ADMIN0001> · "
                "Tue May 19, 11:30 AM"),
        section("Staging: <https://gipsykings.example.com/_staging/|gipsykings.example.com/_staging>",
                button("Deploy to staging", "home_deploy", "gipsykings staging")),
        section("Production: <https://gipsykings.example.com|gipsykings.example.com>",
                button("Deploy to production", "home_deploy", "gipsykings production")),
        section("*birthday* · No deploy from opsbot yet."),
        section("Staging: <https://birthday.example.com/_staging/|birthday.example.com/_staging>",
                button("Deploy to staging", "home_deploy", "birthday staging")),
        section("Production: <https://birthday.example.com/|birthday.example.com>",
                button("Deploy to production", "home_deploy", "birthday production")),
        *LINKS_PART,
    ]}


def test_the_crew_home_snapshot_has_no_deploy_buttons():
    assert home_view(home_data(admin=False)) == {"type": "home", "blocks": [
        *head("crew"),
        *EVENTS_PART,
        header("Sites"),
        section("*gipsykings* · <https://gipsykings.example.com|gipsykings.example.com>\n"
                "Last deploy: production · :white_check_mark: deployed · by <@U0ADMIN0001> · Tue May 19, 11:30 AM"),
        section("*birthday* · <https://birthday.example.com/|birthday.example.com>\nNo deploy from opsbot yet."),
        *LINKS_PART,
    ]}


def test_empty_sections_say_so():
    data = home_data(admin=True, events=(), sites=())
    assert data.season is not None and data.season.total_cents == 0
    data = HomeData(**{**data.__dict__, "today": (), "links": ()})
    blocks = home_view(data)["blocks"]
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert texts == ["*Season:* no events in events.json yet.",
                     "No upcoming events. `/events all` shows past ones.", "No payments logged today yet.",
                     "No sites in events.json.", "No links yet: add a `links` section to events.json."]


def many_events(n: int) -> tuple[EventStatus, ...]:
    return tuple(EventStatus(Event(id=f"e{i:03d}", title=f"Event {i}", date=date(2026, 6, 1) + timedelta(days=i),
                                   total_cents=10_000), 2_500 * (i % 2), i % 2) for i in range(n))


@pytest.mark.parametrize("admin", [True, False])
def test_two_hundred_events_and_twenty_sites_stay_within_the_100_block_limit(admin):
    sites = tuple(SiteCard(Site(id=f"s{i}", bucket=f"b{i}", distribution_id=f"E{i}", source=Path("s"),
                                url=f"https://s{i}.example.com"), None) for i in range(20))
    blocks = home_view(home_data(admin=admin, events=many_events(200), sites=sites))["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    notes = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    shown = sum(1 for b in blocks if b.get("accessory", {}).get("action_id") == "reminder_log_payment")
    assert shown == 40  # the dashboard's share; /events lists the rest
    # 160 hidden events: half owe $100.00, half $75.00.
    assert "…and 160 more events with $14,000.00 due ($17,500.00 in all). `/events` lists them." in notes
    shown_sites = 13 if admin else 15  # an admin site takes three blocks (its two deploy buttons)
    assert f"…and {20 - shown_sites} more sites: `/deploy` lists them." in notes
    # Slack wants each block's action ids unique.
    for b in blocks:
        ids = [e["action_id"] for e in b.get("elements", []) if "action_id" in e]
        assert len(ids) == len(set(ids))


# -- app_home_opened, as Slack sends it ---------------------------------------------------------------------------


def open_home(bot: Bot, user: str, **headers: str) -> dict:
    return bot.open_home(user, **headers)


def section_texts(view: dict) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]


def test_opening_the_home_publishes_the_dashboard_for_crew_and_admin(bot):
    bot.command("/log-payment", "whale 400 zelle Ana Ruiz")
    bot.lazies.wait_idle()
    crew = open_home(bot, CREW)
    texts = "\n".join(section_texts(crew))
    assert ("*Whale Watch Charter* · Sat Jan 16, 2027\n▓▓░░░░░░░░ 21%\n"
            "Paid $400.00 of $1,850.00 · Balance $1,450.00 · not cleared") in texts
    assert "$400.00 zelle · Ana Ruiz · Whale Watch Charter · by <@U0CREW00001>" in texts
    assert "*1 payment · $400.00*" in texts
    assert not any(b.get("accessory", {}).get("action_id") == "home_deploy" for b in crew["blocks"])
    admin = open_home(bot, ADMIN_USER)
    deploys = [b["accessory"]["value"] for b in admin["blocks"] if b.get("accessory", {}).get("action_id")
               == "home_deploy"]
    assert deploys == [f"{site} {target}" for site in ("gipsykings", "birthday", "birthday-afternoon")
                       for target in ("staging", "production")]
    assert admin["blocks"][-1] == context(f"opsbot {PROJECT_VERSION}")


def test_the_messages_tab_publishes_nothing_and_a_retry_publishes_the_same_view_and_nothing_else(bot):
    reply = bot.send(home_opened(CREW, tab="messages"), JSON)
    assert reply.status == 200
    bot.lazies.wait_idle()
    assert bot.slack_api.calls("views.publish") == []

    first = open_home(bot, CREW)
    again = open_home(bot, CREW, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert again == first
    assert {c.method for c in bot.slack_api.calls()} == {"auth.test", "views.publish"}  # auth.test: at start
    assert bot.services.ledger.list_events(include_past=True)[0].payment_count == 0


def test_two_hundred_events_in_events_json_publish_at_most_100_blocks(make_bot, tmp_path):
    data = json.loads(EVENTS_FILE.read_text())
    data["events"] = [{"id": f"e{i:03d}", "title": f"Event {i}", "date": f"{2027 + i // 300}-{1 + i % 12:02d}-"
                       f"{1 + i % 28:02d}", "total": 100} for i in range(200)]
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps(data))
    bot = make_bot(OPSBOT_EVENTS_FILE=str(events_file))
    view = open_home(bot, ADMIN_USER)
    assert len(view["blocks"]) <= MAX_BLOCKS
    assert "…and 160 more events with $16,000.00 due ($20,000.00 in all). `/events` lists them." in [
        b["elements"][0]["text"] for b in view["blocks"] if b["type"] == "context"]


@pytest.fixture
def sqlite_bot(services, slack_api):
    lazies = LazyTracker()
    server, base_url = start_background_server(make_wsgi_app(services, build_slack_app(services,
                                                                                       listener_executor=lazies)))
    yield Bot(base_url, services, slack_api, lazies)
    lazies.wait_idle()
    server.close()
    lazies.shutdown()


def test_an_admins_deploy_button_starts_the_deploy_in_their_messages_and_redraws_the_home(sqlite_bot, monkeypatch,
                                                                                          tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bot = sqlite_bot
    view = open_home(bot, ADMIN_USER)
    payload = {
        "type": "block_actions", "user": {"id": ADMIN_USER, "team_id": TEAM_ID}, "api_app_id": APP_ID,
        "token": "verification", "container": {"type": "view", "view_id": "V0000000001"},
        "trigger_id": "13345224609.738474920.home", "team": {"id": TEAM_ID, "domain": "opsbot-test"},
        "view": {**view, "id": "V0000000001"}, "state": {"values": {}},
        "actions": [{"action_id": "home_deploy", "block_id": "b1", "value": "birthday staging", "type": "button",
                     "text": {"type": "plain_text", "text": "Deploy to staging"}, "action_ts": "1700000001.0"}],
    }
    reply = bot.send(form(payload))
    assert (reply.status, reply.body) == (200, b"")
    bot.lazies.wait_idle()
    [told] = bot.slack_api.calls("chat.postMessage")
    assert told.params["channel"] == ADMIN_USER  # the app's direct messages with the presser
    assert told.params["text"] == "Dry run of /deploy birthday staging: nothing was written"
    assert told.params["blocks"][0]["text"]["text"].startswith(
        ":test_tube: *Dry run* (no AWS credentials): nothing was read from or written to AWS.")
    assert len(bot.slack_api.calls("views.publish")) == 2


def test_the_home_shows_the_last_deploy_and_the_payment_links_under_stripe(make_bot, stripe_api, moto_endpoint,
                                                                           tmp_path):
    site = site_on_moto(moto_endpoint, tmp_path, SITE_FILES)
    bot = make_bot(**site.env(), STRIPE_API_KEY=API_KEY, OPSBOT_STRIPE_API_BASE=stripe_api.base_url)
    for command, text in (("/deploy", "gipsykings staging"), ("/paylink", "250 Charter deposit --event jada")):
        assert bot.command(command, text, user=ADMIN_USER).status == 200
        bot.lazies.wait_idle()
    [record] = bot.services.store.list_records("deploy", "gipsykings")
    [link] = bot.services.paylinks.event_links("2026-05-23-jada-charter")
    tz = bot.services.settings.timezone
    when = f"{datetime.fromisoformat(record['at']).astimezone(tz):%a %b %-d, %-I:%M %p}"
    made = f"{datetime.fromisoformat(link.link.created_at).astimezone(tz):%b %-d}"

    texts = section_texts(open_home(bot, CREW))
    assert ("*gipsykings* · <https://gipsykings.queenofsandiego.com|gipsykings.queenofsandiego.com>\n"
            f"Last deploy: staging · :white_check_mark: deployed · by <@{ADMIN_USER}> · {when}") in texts
    stripe = next(t for t in texts if t.startswith("*Stripe*\n"))  # events.json's Stripe links, then /paylink's
    assert stripe.splitlines()[1:] == [
        "• <https://dashboard.stripe.com/|Dashboard> · payments, payouts, refunds",
        "• <https://dashboard.stripe.com/payment-links|Payment links> · every link, those made outside opsbot too",
        f"• <{link.link.url}|$250.00 · Charter deposit> · JADA Charter · not paid yet · by <@{ADMIN_USER}> · {made}"]
    site_links = next(t for t in texts if t.startswith("*Site: gipsykings*\n"))
    assert (f"• <https://s3.console.aws.amazon.com/s3/buckets/{site.bucket}?region=us-west-2&amp;tab=objects|"
            f"S3 bucket> · {site.bucket} · us-west-2") in site_links


def test_someone_outside_the_crew_sees_no_home_and_leaves_no_audit_noise(make_bot):
    bot = make_bot(OPSBOT_CREW="U0CREW00001")
    for retry in ("", "1"):
        headers = {**JSON, **({"X-Slack-Retry-Num": retry} if retry else {})}
        assert bot.send(home_opened("U0STRANGER1"), headers).status == 200
    bot.lazies.wait_idle()
    assert bot.slack_api.calls("views.publish") == []
    assert bot.audit_posts() == []
    assert bot.services.store.day_audit(bot.services.ledger.today().isoformat()) == []


def _parked(n: int):
    from bot.core.outbox import AUDIT, PARKED, PAYMENT_RECORDED, OutboxEntry

    return OutboxEntry(entry_id=f"pay_{n:010d}:audit", record_id=f"pay_{n:010d}", event=PAYMENT_RECORDED,
                       target=AUDIT, facts={}, created_at=datetime(2026, 5, 19, tzinfo=UTC), state=PARKED,
                       last_error="chat.postMessage to C0AUDIT0001 failed: not_in_channel <!channel>")


def test_admins_see_the_announcements_the_outbox_gave_up_on():
    from dataclasses import replace

    data = replace(home_data(admin=True), parked=tuple(_parked(n) for n in range(6)))
    blocks = home_view(data)["blocks"]
    [section] = [b for b in blocks if b["type"] == "section" and "could not be delivered" in b["text"]["text"]]
    text = section["text"]["text"]
    assert text.startswith(":warning: *5 announcements could not be delivered*")
    assert "`opsbot worker --retry-parked`" in text
    assert ("• the audit line of pay_0000000000 (payment): chat.postMessage to C0AUDIT0001 failed: not_in_channel "
            "&lt;!channel&gt;") in text
    assert text.endswith("…and more: `opsbot doctor` lists them.")
    assert blocks.index(section) == 2  # right under the heading: nobody has to look for it
    assert len(blocks) <= MAX_BLOCKS
    # Nothing parked: nothing said.
    assert not any("could not be delivered" in json.dumps(b) for b in home_view(home_data(admin=True))["blocks"])


def test_crew_are_not_shown_parked_announcements(bot):
    from dataclasses import replace

    from bot.core.outbox import Announcement, Settled, new_entry
    from handlers.events.home import home_for

    store = bot.services.store
    # Due in an hour: the running bot's deliverer leaves it alone while this test parks it.
    later = datetime.now(UTC) + timedelta(hours=1)
    entry = replace(new_entry("pay_0000000001", "payment.recorded", "audit", {"channel": "C0NOWHERE01"},
                              datetime.now(UTC) - timedelta(days=2)), due_at=later)
    store.announce(Announcement(None, (entry,)))
    [seen] = store.due_entries("slack", later, 10)
    store.claim_entries([seen], holder="t", attempt="t#1:line", now=later, lease=timedelta(seconds=30))
    store.settle_entries([Settled(entry.entry_id, "parked", error="channel_not_found")], holder="t", now=later)
    assert [e.entry_id for e in home_for(bot.services, ADMIN_USER).parked] == [entry.entry_id]
    assert home_for(bot.services, CREW).parked == ()


def test_todays_refunds_are_counted_with_the_voids_and_say_what_they_are():
    data = home_data(admin=False)
    today = (record("pay_abc", 50_000, refunded_cents=20_000, stripe_id="cs_1", payment_intent="pi_1"),
             record("ref_xyz", -30_000, kind="refund", voids="pay_abc", stripe_id="re_1"),
             record("rfl_xyz", 10_000, kind="refund_failed", voids="pay_abc", stripe_id="re_1"))
    blocks = home_view(HomeData(**{**data.__dict__, "today": today}))["blocks"]
    [text] = [b["text"]["text"] for b in blocks if b["type"] == "section" and "1 payment" in b["text"]["text"]]
    assert text.startswith("*1 payment · $500.00* · 2 voids or refunds · -$200.00\n")
    assert "failed refund back to `pay_abc` · $100.00" in text and "Stripe refund of `pay_abc` · -$300.00" in text
    assert "$500.00 venmo · Ana &amp; Bo · JADA &lt;Charter&gt; · by <@U0CREW00001> · _refunded_" in text


# -- the Home's reads: summaries kept by the writes (issue 19) -------------------------------------------------


def without_the_time(view: dict) -> list[dict]:
    return view["blocks"][2:]  # the header and the line that says the time are drawn afresh each time


def summary_keys(bot: Bot) -> list[tuple[str, str, str]]:
    services = bot.services
    return [SUMMARIES_KEPT, *(services.deploys.last_deploy_key(site.id) for site in services.catalog.sites),
            *services.paylinks.recent_keys([event.id for event in services.catalog.ordered(date.today(),
                                                                                         include_past=True)])]


def test_a_store_upgraded_from_before_summaries_shows_the_same_home(make_bot, stripe_api, moto_endpoint, tmp_path,
                                                                    monkeypatch):
    site = site_on_moto(moto_endpoint, tmp_path, SITE_FILES)
    bot = make_bot(**site.env(), STRIPE_API_KEY=API_KEY, OPSBOT_STRIPE_API_BASE=stripe_api.base_url,
                   STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    for command, text in (("/deploy", "gipsykings staging"), ("/paylink", "250 Charter deposit --event jada"),
                          ("/paylink", "40 Parking"), ("/paylink", "125 Birthday sail --event birthday-sail"),
                          ("/deploy", "gipsykings staging")):
        assert bot.command(command, text, user=ADMIN_USER).status == 200
        bot.lazies.wait_idle()
    deposit, parking, _ = stripe_api.objects("payment_link")
    assert deliver(bot, stripe_api.checkout_session_event(deposit["id"], name="Ana Ruiz")).json()["status"] == \
        "recorded"
    kept = {user: without_the_time(open_home(bot, user)) for user in (CREW, ADMIN_USER)}
    texts = "\n".join(b["text"]["text"] for b in kept[CREW] if b["type"] == "section")
    assert "Last deploy: staging · :white_check_mark: up to date" in texts  # the second deploy, the newest
    assert "$250.00 · Charter deposit> · JADA Charter · paid 1× ($250.00)" in texts
    assert "$40.00 · Parking> · not paid yet" in texts

    # The same history as an opsbot from before summaries left it: none kept, the store not marked as keeping them.
    store = bot.services.store
    for at in summary_keys(bot):
        store.delete_record(*at)
    assert {user: without_the_time(open_home(bot, user)) for user in kept} == kept
    # Read from the histories, each summary the Home reads was kept as it was read: from now on, read by key.
    assert store.get_record("deploy-last", "gipsykings", "last")["record"]["result"] == "up to date"
    assert all(store.get_record(*bot.services.deploys.last_deploy_key(s.id)) for s in bot.services.catalog.sites)
    assert [e["paid_count"] for e in store.get_record("paylink-recent", "2026-05-23-jada-charter", "newest")["links"]
            ] == [1]
    calls = count_reads(store, monkeypatch)
    assert {user: without_the_time(open_home(bot, user)) for user in kept} == kept
    assert calls == ["read_keys", "day_payments", "read_keys", "day_payments", "parked_entries"]

    # The next writes fold into the summaries kept; init-store (or start-up) builds the rest and marks the store.
    monkeypatch.undo()
    assert bot.command("/paylink", "60 Fuel --event jada", user=ADMIN_USER).status == 200
    bot.lazies.wait_idle()
    assert deliver(bot, stripe_api.checkout_session_event(parking["id"], name="Bo Lee")).json()["status"] == \
        "unassigned"  # a link of no event: kept for an admin to assign, and counted as paid
    after = {user: without_the_time(open_home(bot, user)) for user in kept}
    services = bot.services
    assert build_summaries(store, services.catalog, services.deploys, services.paylinks, date.today())
    assert build_summaries(store, services.catalog, services.deploys, services.paylinks, date.today()) is None
    assert store.get_record(*SUMMARIES_KEPT) is not None
    assert {user: without_the_time(open_home(bot, user)) for user in kept} == after
    texts = "\n".join(b["text"]["text"] for b in after[CREW] if b["type"] == "section")
    assert "Last deploy: staging · :white_check_mark: up to date" in texts
    assert "$60.00 · Fuel> · JADA Charter · not paid yet" in texts
    assert "$250.00 · Charter deposit> · JADA Charter · paid 1× ($250.00)" in texts
    assert "$40.00 · Parking> · paid 1× ($40.00)" in texts
    assert "$125.00 · Birthday sail> · Birthday Sail · not paid yet" in texts


def count_reads(store, monkeypatch) -> list[str]:
    """The store's read methods called from here on, by name."""
    calls: list[str] = []
    for method in ("read_keys", "event_totals", "owed", "list_records", "get_record", "day_payments",
                   "parked_entries", "event_payments", "event_overview"):
        real = getattr(store, method)
        monkeypatch.setattr(store, method, lambda *a, _real=real, _method=method, **kw: calls.append(_method)
                            or _real(*a, **kw))
    return calls


def test_the_homes_reads_do_not_grow_with_sites_events_or_deploys(make_bot, tmp_path, monkeypatch):
    data = json.loads(EVENTS_FILE.read_text())
    today = date.today()
    data["events"] = [{"id": f"e{i:03d}", "title": f"Event {i}", "date": (today + timedelta(days=i - 20)).isoformat(),
                       "total": 100} for i in range(60)]
    data["sites"] = [{**data["sites"][0], "id": f"site{i:02d}", "url": f"https://site{i:02d}.example.com",
                      "prefix": f"site{i:02d}/"} for i in range(20)]
    (tmp_path / "events.json").write_text(json.dumps(data))
    bot = make_bot(OPSBOT_EVENTS_FILE=str(tmp_path / "events.json"))
    calls = count_reads(bot.services.store, monkeypatch)
    view = open_home(bot, ADMIN_USER)
    assert len(view["blocks"]) <= MAX_BLOCKS
    # Every event's totals, the 15 sites shown and the 30 nearest events' links in one read; today; parked.
    assert calls == ["read_keys", "day_payments", "parked_entries"]
    calls.clear()
    open_home(bot, CREW)
    assert calls == ["read_keys", "day_payments"]
