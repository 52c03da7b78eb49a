"""Issue 20 in Slack, driven the way Slack drives the bot (signed requests to the running server, the
Slack Web API answered by the stand-in), on SQLite and on DynamoDB: each patron's total in /events,
/opsbot find, and /opsbot export delivered as a file by files_upload_v2."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict

from bot.core.ports import StoreError
from infra.local_slack.web_api import UPLOAD_URL_METHOD
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.slack_bot import CREW, Bot

JADA = "2026-05-23-jada-charter"  # $1,560.00
WHALES = "2027-01-16-whale-watch-charter"  # $1,850.00
HOLIDAY = "2026-12-05-holiday-lights-charter"  # $2,400.00
VENDOR, VENDOR_TEAM = "U0VENDOR001", "T0VENDOR001"  # someone of another organisation, in a shared channel


def sections(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def log(bot: Bot, text: str, user: str = CREW) -> str:
    reply = bot.command("/log-payment", text, user=user).json()
    assert reply["text"].startswith("Recorded: "), reply
    return reply["text"].split("(`")[1].split("`)")[0]


def answer(bot: Bot, count: int = 1):
    """The count-th response_url post (what a listener said after its ack)."""
    bot.lazies.wait_idle()
    return bot.slack_api.wait_for("response_url", count=count)


def parse_csv(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


# -- /events EVENT: each patron's total, then the records ------------------------------------------------------------


def test_events_shows_each_patrons_total_once_however_the_name_was_typed(bot):
    log(bot, "jada 100 cash Ana Ruiz")
    log(bot, "jada 50.50 venmo ÁNA   ruíz")
    bo = log(bot, "jada 20 cash Bo <&> Co")
    log(bot, "whale 10 cash Ana Ruiz")  # another event: not in JADA's totals
    bot.command("/opsbot", f"void {bo}", user=ADMIN_USER)
    reply = bot.command("/events", "jada").json()
    texts = sections(reply["blocks"])
    who = next(t for t in texts if t.startswith("*Who paid*"))
    assert who.splitlines() == ["*Who paid* · 2 patrons", "*ÁNA ruíz* · $150.50 · 2 payments",
                                "~Bo &lt;&amp;&gt; Co~ · $0.00 · reversed"]
    # The records follow the totals, newest first.
    assert texts.index(who) < next(i for i, t in enumerate(texts) if "venmo" in t)
    assert "Paid $150.50 of $1,560.00" in json.dumps(reply["blocks"], ensure_ascii=False)


def test_a_crowded_event_cuts_its_patrons_within_slacks_limits(bot):
    for n in range(45):
        log(bot, f"holiday 10 cash Patron {n:02d} {'x' * 70}")
    reply = bot.command("/events", "holiday").json()  # the harness fails an ack Slack would refuse
    context = [e["text"] for b in reply["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "…and 5 more patrons, $50.00 in all." in context
    assert len(reply["blocks"]) <= 50


# -- /opsbot find ---------------------------------------------------------------------------------------------------


def test_crew_finds_a_patrons_payments_across_events_newest_first_with_the_total(bot):
    first = log(bot, "jada 100 cash Ana Ruiz")
    second = log(bot, "whale 250 venmo ána  ruíz")
    log(bot, "jada 20 cash Bo")
    reply = bot.command("/opsbot", "find ANA", user=CREW)
    assert (reply.status, reply.body) == (200, b"")  # the answer follows by response_url
    found = answer(bot)
    assert found.status == 200 and found.params["response_type"] == "ephemeral"
    texts = sections(found.params["blocks"])
    assert texts[0].splitlines() == ["*Who paid* · 1 patron", "*ána ruíz* · $350.00 · 2 payments"]
    records = texts[1].splitlines()
    assert records[0] == "*Records* · newest first · 2 matches"
    assert records[1].startswith(f"`{second}` · ") and records[1].endswith("ána ruíz · Whale Watch Charter")
    assert records[2].startswith(f"`{first}` · ") and records[2].endswith("Ana Ruiz · JADA Charter")
    assert found.params["text"] == "2 records match “ANA”: 1 patron with $350.00 paid in all."


def test_find_looks_in_notes_and_says_when_nothing_matches(bot):
    view = bot.open_modal()
    bot.submit(view, event=JADA, patron="Cy", amount="30", method="check", notes="Check #1042, at the dock")
    bot.lazies.wait_idle()
    bot.command("/opsbot", "find #1042, AT THE DÓCK")
    assert "*Cy* · $30.00 · 1 payment" in sections(answer(bot).params["blocks"])[0]
    bot.command("/opsbot", "find <!channel>")
    nothing = answer(bot, 2).params
    assert nothing["text"].startswith("No payments match “&lt;!channel&gt;”.")
    usage = bot.command("/opsbot", "find").json()
    assert usage["text"].startswith("Usage: `/opsbot find TEXT`")


def test_someone_of_another_organisation_cannot_search(bot):
    log(bot, "jada 100 cash Ana Ruiz")
    reply = bot.command("/opsbot", "find ana", user=VENDOR, team=VENDOR_TEAM).json()
    assert reply["text"].startswith("You are not in this workspace's organisation")
    bot.lazies.wait_idle()
    assert bot.slack_api.calls("response_url") == []


# -- /opsbot export -----------------------------------------------------------------------------------------------


def exported(bot: Bot, text: str = "all", *, count: int = 1):
    """Run /opsbot export as the admin: (the ack's text, the DM's text, the shared file)."""
    ack = bot.command("/opsbot", f"export {text}", user=ADMIN_USER).json()
    bot.lazies.wait_idle()
    [message] = [c for c in bot.slack_api.calls("chat.postMessage") if c.params["channel"] == ADMIN_USER][-1:]
    shared = bot.slack_api.uploaded()
    assert len(shared) == count
    return ack["text"], message, shared[-1]


def test_an_admin_gets_the_csv_in_a_direct_message_with_a_summary_line(bot):
    ana = log(bot, "jada 500 venmo Ana Ruiz")
    log(bot, "whale 250 cash =HYPERLINK(\"https://evil.example\")")
    bot.command("/opsbot", f"void {ana}", user=ADMIN_USER)
    ack, message, shared = exported(bot, "all")
    assert ack == "Exporting all events as CSV: the file comes to you in a direct message from opsbot in a moment."
    assert message.params["text"] == (
        "Ledger export of all events: 3 rows: 2 payments $750.00, 1 reversal -$500.00, net $250.00.")
    dm = bot.slack_api.im_channel(ADMIN_USER)
    assert dm is not None and shared.channel == dm  # the app's DM with the admin, by its D… id
    assert (shared.filename, shared.title) == ("opsbot-export-all.csv", "opsbot-export-all.csv")
    # files_upload_v2's three steps, in order: announce, upload the bytes, share.
    methods = [c.method for c in bot.slack_api.calls()
               if c.method in ("files.getUploadURLExternal", UPLOAD_URL_METHOD, "files.completeUploadExternal")]
    assert methods == ["files.getUploadURLExternal", UPLOAD_URL_METHOD, "files.completeUploadExternal"]
    rows = parse_csv(shared.data)
    assert [(r["event_id"], r["amount_cents"], r["reverses"]) for r in rows] == [
        (JADA, "50000", ""), (WHALES, "25000", ""), (JADA, "-50000", ana)]
    assert rows[1]["patron"] == "'=HYPERLINK(\"https://evil.example\")"  # opens as text, never runs


def test_the_csv_totals_per_event_are_events_figures_with_voids_in_the_mix(bot):
    voided = [log(bot, "jada 300 cash Ana"), log(bot, "whale 1850 check The Okafors")]
    log(bot, "jada 60.25 cash Bo")
    log(bot, "holiday 1,200.01 venmo Cy")
    for payment_id in voided:
        bot.command("/opsbot", f"void {payment_id}", user=ADMIN_USER)
    log(bot, "whale 925 check The Okafors")
    _, _, shared = exported(bot, "all")
    per_event: dict[str, int] = defaultdict(int)
    for row in parse_csv(shared.data):
        per_event[row["event_id"]] += int(row["amount_cents"])
    listed = {b["text"]["text"] for b in bot.command("/events", "all").json()["blocks"] if b["type"] == "section"}
    for event in bot.services.catalog.events:
        status = bot.services.ledger.status(event.id)
        assert per_event.get(event.id, 0) == status.paid_cents, event.id
        assert any(f"`{event.id}`" in line and f"Paid ${status.paid_cents / 100:,.2f}" in line for line in listed)
    assert per_event == {JADA: 6_025, WHALES: 92_500, HOLIDAY: 120_001}


def test_one_event_and_dates_and_what_cannot_be_exported(bot):
    log(bot, "jada 10 cash Ana")
    ack, message, shared = exported(bot, "jada --from 2020-01-01 --to=2099-12-31")
    assert ack.startswith("Exporting JADA Charter, 2020-01-01 to 2099-12-31 as CSV")
    assert shared.filename == f"opsbot-export-{JADA}-from-2020-01-01-to-2099-12-31.csv"
    assert message.params["text"].endswith("1 row: 1 payment $10.00, 0 reversals $0.00, net $10.00.")
    for text, said in [
        ("nope", "There is no event 'nope'. Run /events to see the event ids."),
        ("all --from 2026-02-30", "--from '2026-02-30' is not a date like 2026-05-01."),
        ("all --from 2026-05-02 --to 2026-05-01", "The first day (2026-05-02) is after the last (2026-05-01)."),
        ("all --from 2020-01-01 --to 2026-01-01", "2020-01-01 to 2026-01-01 is 2,193 days; a date range covers"),
        ("jada whale", "Give one event id, or `all`."),
        ("--since 2026-01-01", "'--since' is not an option: use --from and --to."),
        ("all --to", "--to needs a date, like 2026-05-01."),
    ]:
        reply = bot.command("/opsbot", f"export {text}", user=ADMIN_USER).json()
        assert reply["text"].startswith(said), (text, reply["text"])
    bot.lazies.wait_idle()
    assert len(bot.slack_api.uploaded()) == 1  # nothing more was sent
    bot.command("/opsbot", "export whale", user=ADMIN_USER)
    assert answer(bot).params["text"] == "No records for Whale Watch Charter: there is nothing to export."
    assert len(bot.slack_api.uploaded()) == 1


def test_crew_cannot_export(bot):
    log(bot, "jada 10 cash Ana")
    bot.lazies.wait_idle()
    reply = bot.command("/opsbot", "export all").json()
    assert reply["text"] == f"Only admins can export the ledger. Ask one of: <@{ADMIN_USER}>."
    bot.lazies.wait_idle()
    assert bot.slack_api.uploaded() == [] and bot.slack_api.calls("files.getUploadURLExternal") == []
    assert f":no_entry: <@{CREW}> was refused `command /opsbot export`: it needs the admin role." in [
        c.params["text"] for c in bot.audit_posts()]


def test_a_token_without_files_write_is_told_what_to_fix(bot):
    log(bot, "jada 10 cash Ana")
    bot.slack_api.scopes = tuple(s for s in bot.slack_api.scopes if s != "files:write")
    bot.command("/opsbot", "export all", user=ADMIN_USER)
    told = answer(bot).params
    assert told["text"] == ("The export could not be sent: Slack answered `missing_scope` (the Slack app needs the "
                            "files:write scope: add it (manifest.json has it) and reinstall the app).")
    assert bot.slack_api.uploaded() == []
    [refused] = bot.slack_api.calls("files.getUploadURLExternal")
    assert refused.response == {"ok": False, "error": "missing_scope", "needed": "files:write",
                                "provided": ",".join(bot.slack_api.scopes)}
    assert "files:write" not in bot.slack_api.scopes
    # Once the scope is granted, asking again works.
    bot.slack_api.scopes = (*bot.slack_api.scopes, "files:write")
    exported(bot, "all")


def test_a_slack_retry_of_the_command_sends_the_file_once(bot):
    log(bot, "jada 10 cash Ana")
    trigger = "13345224609.738474920.retrytrigger"
    bot.command("/opsbot", "export all", user=ADMIN_USER, trigger=trigger)
    bot.lazies.wait_idle()
    retried = bot.command("/opsbot", "export all", user=ADMIN_USER, trigger=trigger,
                          headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retried.status == 200
    bot.lazies.wait_idle()
    assert len(bot.slack_api.uploaded()) == 1
    assert len([c for c in bot.slack_api.calls("chat.postMessage") if c.params["channel"] == ADMIN_USER]) == 1


def test_the_export_is_not_posted_in_the_ops_channel(bot):
    log(bot, "jada 10 cash Ana")
    bot.lazies.wait_idle()
    before = len(bot.audit_posts())
    exported(bot, "all")
    assert len(bot.audit_posts()) == before
    assert all(f.channel != AUDIT_CHANNEL for f in bot.slack_api.uploaded())


def test_a_store_that_does_not_answer_is_told_and_sends_nothing(bot, monkeypatch):
    log(bot, "jada 10 cash Ana")

    def unreachable(*args, **kwargs):
        raise StoreError("DynamoDB query failed: ServiceUnavailable")

    monkeypatch.setattr(bot.services.store, "event_totals", unreachable)
    bot.command("/opsbot", "find ana")
    assert answer(bot).params["text"] == (
        "The bot's store did not answer, so `/opsbot find` could not be done. Try again in a minute.")
    bot.command("/opsbot", "export all", user=ADMIN_USER)
    assert answer(bot, 2).params["text"] == (
        "The bot's store did not answer, so `/opsbot export` could not be done. Try again in a minute.")
    assert bot.slack_api.uploaded() == [] and bot.slack_api.calls("files.getUploadURLExternal") == []
    monkeypatch.undo()  # the store is back: asking again works (nothing was marked as sent)
    exported(bot, "all")
