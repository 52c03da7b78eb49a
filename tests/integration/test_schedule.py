"""The daily summary and reminders: figures to the cent, the right local time
across DST, and exactly once across late starts, two schedulers and failures."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.triggers.cron import CronTrigger

from blocks.summary import reminder_blocks, summary_blocks, summary_text
from bot.bootstrap import build_services
from bot.core.health import Part
from bot.core.summary import Tally, build_summary
from bot.entrypoints.cli import ScheduleStart
from bot.entrypoints.scheduler import Job, build_scheduler, first_run, send_daily_summary, send_reminders
from infra.local_slack.payloads import block_action
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL

LA = ZoneInfo("America/Los_Angeles")
JADA = "2026-05-23-jada-charter"  # $1,560.00
GIPSY = "gipsykings"  # 75 x $125 = $9,375.00
HOLIDAY = "2026-12-05-holiday-lights-charter"  # $2,400.00
BDAY = "2026-12-12-birthday-sail"  # 24 x $125 = $3,000.00


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def local(y, m, d, hh, mm) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LA).astimezone(UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_overrides(request) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"OPSBOT_STORE": f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}",
            "AWS_ENDPOINT_URL": request.getfixturevalue("moto_endpoint"), "AWS_REGION": "us-west-2"}


def make_services(make_settings, store_overrides, clock=None, **overrides):
    services = build_services(make_settings(**store_overrides, **overrides), clock=clock)
    services.store.init_schema()
    return services


def log(services, event, amount, method, patron, user="U0CREW00001"):
    return services.ledger.record_payment(event_id=event, patron=patron, amount=amount, method=method, notes="",
                                          logged_by=user, idempotency_key=uuid.uuid4().hex)


# -- the figures ----------------------------------------------------------------------------------------------------


def test_the_summary_matches_the_ledger_to_the_cent(make_settings, store_overrides):
    clock = Clock(local(2026, 11, 24, 0, 1))  # the same weekday a week before: compared with
    services = make_services(make_settings, store_overrides, clock)
    log(services, JADA, "300", "cash", "Last Week")
    clock.now = local(2026, 11, 24, 23, 59)
    voided_later = log(services, JADA, "100", "card", "Last Week Too")
    clock.now = local(2026, 11, 25, 0, 0)  # the day after it: not compared
    log(services, JADA, "1", "cash", "Not Compared")
    services.ledger.void_payment(voided_later.payment.payment_id, by=ADMIN_USER)  # a void on another day
    clock.now = local(2026, 11, 30, 23, 50)  # the evening before: not in the day
    log(services, JADA, "10.00", "cash", "Before Midnight")
    clock.now = local(2026, 12, 1, 0, 5)
    a = log(services, JADA, "500.00", "venmo", "Ana Ruiz")
    clock.now = local(2026, 12, 1, 9, 30)
    log(services, HOLIDAY, "1,200.01", "check", "The Okafors", user=ADMIN_USER)
    log(services, JADA, "60.50", "cash", "Bo")
    services.ledger.record_stripe_payment(event_id=GIPSY, patron="Cy", amount_cents=12_500, notes="cs_test_1",
                                          idempotency_key="stripe:cs_test_1")
    clock.now = local(2026, 12, 1, 17, 0)
    services.ledger.void_payment(a.payment.payment_id, by=ADMIN_USER)
    clock.now = local(2026, 12, 2, 0, 1)  # just after: the next day
    log(services, HOLIDAY, "5", "zelle", "Tomorrow")

    summary = build_summary(services.ledger, date(2026, 12, 1))
    assert summary.total == Tally(4, 50_000 + 120_001 + 6_050 + 12_500)
    assert summary.voided == Tally(1, 50_000)
    assert summary.net_cents == 120_001 + 6_050 + 12_500
    assert summary.stripe == Tally(1, 12_500)
    # The crew's methods in events.json's order, then Stripe.
    assert list(summary.by_method.items()) == [("cash", Tally(1, 6_050)), ("check", Tally(1, 120_001)),
                                               ("venmo", Tally(1, 50_000)), ("stripe", Tally(1, 12_500))]
    assert summary.by_event == {HOLIDAY: Tally(1, 120_001), JADA: Tally(2, 56_050), GIPSY: Tally(1, 12_500)}
    assert summary.by_logger == {ADMIN_USER: Tally(1, 120_001), "U0CREW00001": Tally(2, 56_050),
                                 "stripe": Tally(1, 12_500)}
    # Events from Dec 1 to Dec 8 with money owed: the holiday charter, $2,400.00 - $1,205.01 paid.
    assert [(s.event.id, s.balance_cents) for s in summary.outstanding] == [(HOLIDAY, 240_000 - 120_501)]
    # The same weekday a week before, from its own day index: its payments as they were logged that day.
    compared = summary.versus_last_week
    assert (compared.day, compared.then, compared.now) == (date(2026, 11, 24), Tally(2, 40_000), summary.total)
    assert (compared.cents, compared.count) == (188_551 - 40_000, 2)

    assert summary_text(summary) == f"""\
Payments for Tue Dec 1, 2026
============================
4 payments · $1,885.51
vs. last Tue, Nov 24: 2 payments · $400.00 (+$1,485.51, +2 payments)
1 void · -$500.00 · net $1,385.51
Stripe: 1 · $125.00

By method:
  Cash: 1 · $60.50
  Check: 1 · $1,200.01
  Venmo: 1 · $500.00
  Stripe: 1 · $125.00

By event:
  Holiday Lights Charter: 1 · $1,200.01
  JADA Charter: 2 · $560.50
  Gipsy Kings Concert Night: 1 · $125.00

Logged by:
  U0ADMIN0001: 1 · $1,200.01
  U0CREW00001: 2 · $560.50
  stripe: 1 · $125.00

Voids:
  {a.payment.payment_id}: -$500.00 Ana Ruiz (JADA Charter) by U0ADMIN0001

Still owed, next 7 days:
  Holiday Lights Charter (Sat Dec 5): $1,194.99 of $2,400.00
"""


def test_a_quiet_day_says_so_in_one_line(make_settings, store_overrides):
    services = make_services(make_settings, store_overrides, Clock(local(2027, 2, 1, 12, 0)))
    summary = build_summary(services.ledger, date(2027, 2, 1))
    text, blocks = summary_blocks(summary)
    assert text == "Payments for Mon Feb 1, 2027: no payments."
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "Payments for Mon Feb 1, 2027", "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "No payments logged on Mon Feb 1.\n"
                                                               "vs. last Mon, Jan 25: no payments either"}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "*Still owed, next 7 days*\nNothing owed for events in the next 7 days."}},
    ]


def test_summary_blocks_escape_and_mention(make_settings, store_overrides):
    clock = Clock(local(2026, 12, 1, 10, 0))
    services = make_services(make_settings, store_overrides, clock)
    log(services, HOLIDAY, "100", "cash", "Ana")
    paid = log(services, HOLIDAY, "50", "card", "<!channel>")
    services.ledger.void_payment(paid.payment.payment_id, by=ADMIN_USER)
    _, blocks = summary_blocks(build_summary(services.ledger, date(2026, 12, 1)))
    voids = next(b["text"]["text"] for b in blocks if b["text"]["text"].startswith("*Voids*"))
    assert voids == (f"*Voids*\n{paid.payment.payment_id}: -$50.00 &lt;!channel&gt; (Holiday Lights Charter) "
                     f"by <@{ADMIN_USER}>")
    assert "<@U0CREW00001>: 2 · $150.00" in str(blocks)


# -- time ------------------------------------------------------------------------------------------------------------


SUMMARY = Job("daily-summary", time(18, 0), send_daily_summary)


def test_the_summary_fires_at_six_local_across_both_dst_changes():
    trigger = CronTrigger(hour=18, minute=0, timezone=LA)
    # Autumn: PDT (UTC-7) on Oct 31, PST (UTC-8) from Nov 1.
    first = trigger.get_next_fire_time(None, datetime(2026, 10, 31, 12, 0, tzinfo=LA))
    assert first.astimezone(UTC) == datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    after = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert after.astimezone(UTC) == datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    assert after.astimezone(LA).time() == time(18, 0)
    # Spring: PST on Mar 7, PDT from Mar 8.
    first = trigger.get_next_fire_time(None, datetime(2026, 3, 7, 19, 0, tzinfo=LA))
    assert first.astimezone(UTC) == datetime(2026, 3, 9, 1, 0, tzinfo=UTC)


def test_a_late_start_within_the_grace_runs_today_and_a_late_one_waits_for_tomorrow():
    trigger = CronTrigger(hour=18, minute=0, timezone=LA)
    at_1820 = datetime(2026, 11, 21, 18, 20, tzinfo=LA)
    assert first_run(SUMMARY, at_1820, trigger) == datetime(2026, 11, 21, 18, 0, tzinfo=LA)
    at_2030 = datetime(2026, 11, 21, 20, 30, tzinfo=LA)
    assert first_run(SUMMARY, at_2030, trigger) == datetime(2026, 11, 22, 18, 0, tzinfo=LA)
    at_1000 = datetime(2026, 11, 21, 10, 0, tzinfo=LA)
    assert first_run(SUMMARY, at_1000, trigger) == datetime(2026, 11, 21, 18, 0, tzinfo=LA)


# -- exactly once with real schedulers ---------------------------------------------------------------------------


def noon_zone() -> tuple[str, datetime]:
    """A fixed-offset zone where it is about noon now, so "20 minutes ago" is today."""
    utc_now = datetime.now(UTC)
    offset = 12 - utc_now.hour
    name = "Etc/GMT" + ("-" if offset > 0 else "+") + str(abs(offset)) if offset else "Etc/GMT"
    return name, utc_now.astimezone(ZoneInfo(name))


class JobWatch:
    """Counts finished scheduler jobs so a test can wait for them."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.done: list[tuple[str, bool]] = []

    def attach(self, scheduler) -> None:
        scheduler.add_listener(self._event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def _event(self, event) -> None:
        with self.cond:
            self.done.append((event.job_id, event.exception is None))
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 20) -> list[tuple[str, bool]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.done) >= count, timeout), self.done
            return list(self.done)


def started(services, watch: JobWatch, **kwargs):
    """A scheduler with the watch listening before it starts (so no job event is missed)."""
    scheduler = build_scheduler(services, **kwargs)
    watch.attach(scheduler)
    scheduler.start()
    return scheduler


def late_start_settings(make_settings, store_overrides) -> dict[str, str]:
    zone, now = noon_zone()
    return {**store_overrides, "OPSBOT_TIMEZONE": zone, "OPSBOT_SUMMARY_AT": f"{(now - timedelta(minutes=20)):%H:%M}",
            "OPSBOT_REMINDER_AT": f"{(now + timedelta(hours=6)):%H:%M}"}


def summaries(slack_api):
    return [c for c in slack_api.calls("chat.postMessage")
            if c.params["channel"] == AUDIT_CHANNEL and c.params["text"].startswith("Payments for")]


def test_a_bot_started_20_minutes_late_sends_todays_summary_once(make_settings, store_overrides, slack_api):
    services = make_services(make_settings, {}, None, **late_start_settings(make_settings, store_overrides))
    watch = JobWatch()
    scheduler = started(services, watch)
    try:
        assert watch.wait(1) == [("daily-summary", True)]
        jobs = {j.id: j.next_run_time for j in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=True)
    [posted] = summaries(slack_api)
    assert posted.params["text"] == f"Payments for {services.ledger.today():%a %b %-d, %Y}: no payments."
    assert jobs["daily-summary"].date() == services.ledger.today() + timedelta(days=1)
    # A restart the same evening runs the job again, finds the claim and posts nothing.
    restart = JobWatch()
    again = started(services, restart)
    try:
        assert restart.wait(1) == [("daily-summary", True)]
    finally:
        again.shutdown(wait=True)
    assert len(summaries(slack_api)) == 1


def test_two_schedulers_on_one_store_send_once(make_settings, store_overrides, slack_api):
    overrides = late_start_settings(make_settings, store_overrides)
    first = make_services(make_settings, {}, None, **overrides)
    second = build_services(first.settings)  # another process: same store, its own clients
    watch = JobWatch()
    schedulers = [started(services, watch) for services in (first, second)]
    try:
        watch.wait(2)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=True)
    assert watch.done.count(("daily-summary", True)) == 2
    assert len(summaries(slack_api)) == 1


def test_a_failed_post_gives_the_claim_back_and_is_retried(make_settings, store_overrides, slack_api, caplog):
    services = make_services(make_settings, {}, None, **late_start_settings(make_settings, store_overrides))
    slack_api.fail_next("chat.postMessage", "internal_error")
    watch = JobWatch()
    scheduler = started(services, watch, retry_delay=timedelta(0))
    try:
        slack_api.wait_for("chat.postMessage", count=2)
        watch.wait(2)
    finally:
        scheduler.shutdown(wait=True)
    assert [c.response["ok"] for c in summaries(slack_api)] == [False, True]
    assert "daily-summary failed (try 1)" in caplog.text
    assert send_daily_summary(services) is False  # done for today


def test_serve_starts_its_schedule_once_it_listens_with_every_job_and_the_jobs_fire(make_settings, slack_api):
    """`opsbot serve` starts the scheduler on a thread once the server listens (ScheduleStart): the
    same jobs, the same first runs (a summary due 20 minutes ago goes at once), /healthz honest."""
    services = make_services(make_settings, {}, None, **late_start_settings(make_settings, {}))
    schedule = ScheduleStart(services)
    assert schedule.probe() == Part(True, "starting")
    schedule.start()
    assert schedule.started.wait(20)
    try:
        assert schedule.probe() == Part(True, "running (2 jobs)")
        jobs = {job.id: job.next_run_time for job in schedule.scheduler.get_jobs()}
        assert set(jobs) == {"daily-summary", "morning-reminders"}
        slack_api.wait_for("chat.postMessage", timeout=20,
                           where=lambda call: call.params["text"].startswith("Payments for"))
    finally:
        schedule.shutdown(wait=True)
    [posted] = summaries(slack_api)
    assert posted.params["text"] == f"Payments for {services.ledger.today():%a %b %-d, %Y}: no payments."
    assert jobs["morning-reminders"].date() == services.ledger.today()  # six hours from now
    assert schedule.probe() == Part(False, "not running: no daily summary or reminders")


def test_a_schedule_that_cannot_start_is_logged_and_makes_healthz_fail(make_settings, monkeypatch, caplog):
    import bot.entrypoints.scheduler

    def refuse(services):
        raise RuntimeError("no thread left")

    monkeypatch.setattr(bot.entrypoints.scheduler, "start_scheduler", refuse)
    services = make_services(make_settings, {})
    schedule = ScheduleStart(services)
    schedule.start()
    assert schedule.started.wait(20)
    assert schedule.probe() == Part(False, "did not start (no thread left): no daily summary or reminders")
    assert "the scheduler did not start" in caplog.text
    schedule.shutdown()  # nothing to stop, and it does not wait


def test_a_schedule_never_started_stops_at_once(make_settings):
    schedule = ScheduleStart(make_services(make_settings, {}))  # the server failed before it listened
    schedule.shutdown()  # returns at once: there is no start to wait for
    assert schedule.scheduler is None


def test_a_rate_limited_post_waits_and_goes_through(make_settings, store_overrides, slack_api):
    services = make_services(make_settings, store_overrides, Clock(local(2026, 12, 1, 18, 0)))
    slack_api.rate_limit_next("chat.postMessage", retry_after=1)
    assert send_daily_summary(services) is True
    assert [c.status for c in summaries(slack_api)] == [429, 200]
    assert send_daily_summary(services) is False


# -- reminders ----------------------------------------------------------------------------------------------------


def test_reminders_list_events_due_soon_once_and_say_nothing_when_nothing_is_due(make_settings, store_overrides,
                                                                                  slack_api):
    clock = Clock(local(2026, 12, 10, 9, 0))
    services = make_services(make_settings, store_overrides, clock)
    log(services, "2026-12-12-birthday-afternoon", "3,000", "card", "Full payment")
    log(services, BDAY, "125", "cash", "One guest")
    assert send_reminders(services) is True
    assert send_reminders(services) is False
    [posted] = slack_api.calls("chat.postMessage")
    assert posted.params["text"] == "1 event in the next days still owe $2,875.00."
    assert posted.params["blocks"][1] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Birthday Sail* · Sat Dec 12 (in 2 days)\n$2,875.00 due of $3,000.00"},
        "accessory": {"type": "button", "action_id": "reminder_log_payment", "value": BDAY,
                      "text": {"type": "plain_text", "text": "Log payment", "emoji": True}},
    }
    clock.now = local(2027, 2, 1, 9, 0)  # nothing in the next 3 days
    assert send_reminders(services) is False
    assert len(slack_api.calls("chat.postMessage")) == 1


def test_reminder_blocks_snapshot():
    from bot.core.domain import Event, EventStatus

    event = Event(id="x", title="<b>Sail</b>", date=date(2026, 12, 12), total_cents=10_000)
    text, blocks = reminder_blocks([EventStatus(event, 2_500, 1)], date(2026, 12, 12))
    assert text == "1 event in the next days still owe $75.00."
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Balances due soon", "emoji": True}}
    assert blocks[1]["text"]["text"] == "*&lt;b&gt;Sail&lt;/b&gt;* · Sat Dec 12 (today)\n$75.00 due of $100.00"
    assert blocks[2] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "`/events` shows every event."}]}


def test_the_reminder_button_opens_the_modal_for_its_event(bot):
    body = block_action("reminder_log_payment", BDAY, user_id="U0CREW00001", channel_id=AUDIT_CHANNEL,
                        response_url=bot.slack_api.response_url("actions/reminder"))
    reply = bot.send(body)
    assert (reply.status, reply.body) == (200, b"")
    opened = bot.slack_api.wait_for("views.open")
    assert opened.params["trigger_id"] == "13345224609.738474920.clicked"
    assert opened.params["view"]["blocks"][0]["element"]["initial_option"]["value"] == BDAY


# -- asking for it ---------------------------------------------------------------------------------------------------


def test_opsbot_summary_in_slack(bot):
    bot.command("/log-payment", "whale 100 cash Ana")
    today = bot.services.ledger.today()
    reply = bot.command("/opsbot", "summary").json()
    assert reply["text"] == f"Payments for {today:%a %b %-d, %Y}: 1 payment, $100.00."
    last_week = today - timedelta(days=7)
    assert reply["blocks"][1]["text"]["text"] == (f"*1 payment · $100.00*\nvs. last {last_week:%a, %b %-d}: "
                                                  "no payments (+$100.00, +1 payment)")
    other = bot.command("/opsbot", "summary 2026-05-20").json()
    assert other["text"] == "Payments for Wed May 20, 2026: no payments."
    bad = bot.command("/opsbot", "summary yesterday").json()
    assert bad["text"] == ("'yesterday' is not a date like 2026-11-21. "
                           "Usage: `/opsbot summary [YYYY-MM-DD]` — today's payments, or another day's.")
