"""The daily summary and the morning reminders, posted exactly once per day.

Exactly once does not rest on the scheduler: every post is guarded by a claim in
the store ("summary:2026-11-21"), so two bot processes on one store, a restart
or a misfire catch-up never post twice, and a failed post gives the claim back
so the retry can send it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from blocks.email import summary_email
from blocks.summary import reminder_blocks, summary_blocks
from bot.bootstrap import release_thread_connection
from bot.core.ports import NotifyError, slack_on
from bot.core.summary import REMINDER_DAYS, DaySummary, build_summary, owed_between

if TYPE_CHECKING:
    from bot.container import Services

log = logging.getLogger("opsbot.schedule")

MISFIRE_GRACE = timedelta(hours=2)  # a bot down at 18:00 that starts by 20:00 still sends today's summary
RETRY_DELAY = timedelta(minutes=5)
MAX_RETRIES = 3


class NotConfigured(Exception):
    """Posting needs Slack and an audit channel."""


def _require_channel(services: Services) -> str:
    channel = services.settings.audit_channel
    if not slack_on(services.notifier) or channel is None:
        raise NotConfigured("Slack is not configured for posting: set SLACK_BOT_TOKEN and OPSBOT_AUDIT_CHANNEL")
    return channel


def post_summary(services: Services, day: date, summary: DaySummary | None = None) -> str:
    """Post a day's summary now (no claim: an explicit request). Returns the message ts."""
    channel = _require_channel(services)
    text, blocks = summary_blocks(summary or build_summary(services.ledger, day))
    return services.notifier.post(channel, text, blocks)


def _slack_posting(services: Services) -> bool:
    return slack_on(services.notifier) and services.settings.audit_channel is not None


def send_daily_summary(services: Services, day: date | None = None) -> bool:
    """The scheduled summary for ``day`` (default: today in the crew time zone),
    once in Slack and once by email (each when configured). True when this call sent either."""
    day = day or services.ledger.today()
    summary = build_summary(services.ledger, day)
    posted = emailed = False
    try:
        if _slack_posting(services) or not services.email.on:
            posted = services.once.run(f"summary:{day.isoformat()}", lambda: post_summary(services, day, summary))
    finally:
        # The email goes even when Slack failed (the job's retry will not send it twice).
        if services.email.on:
            emailed = services.email.deliver(summary_email(summary))
    return posted or emailed


def send_reminders(services: Services, day: date | None = None) -> bool:
    """The morning reminder for ``day``, once; nothing is posted when nothing is due."""
    day = day or services.ledger.today()
    owed = owed_between(services.ledger, day, REMINDER_DAYS)
    if not owed:
        log.info("reminders for %s: nothing due in the next %d days", day, REMINDER_DAYS)
        return False
    channel = _require_channel(services)

    def post() -> None:
        text, blocks = reminder_blocks(owed, day)
        services.notifier.post(channel, text, blocks)

    return services.once.run(f"reminders:{day.isoformat()}", post)


# -- the scheduler -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    id: str
    at: time
    send: Callable[[Services, date | None], bool]


def jobs(services: Services) -> list[Job]:
    """The summary goes to Slack and/or by email; the reminders (with their buttons) only to Slack."""
    scheduled = []
    if _slack_posting(services) or services.email.on:
        scheduled.append(Job("daily-summary", services.settings.summary_at, send_daily_summary))
    if _slack_posting(services):
        scheduled.append(Job("morning-reminders", services.settings.reminder_at, send_reminders))
    return scheduled


def first_run(job: Job, now: datetime, trigger: CronTrigger, grace: timedelta = MISFIRE_GRACE) -> datetime:
    """When a job should first run after a start at ``now``: today's time if it
    passed less than ``grace`` ago (the bot was down when it was due), else the
    trigger's next time."""
    tz = trigger.timezone
    local_now = now.astimezone(tz)
    due_today = datetime.combine(local_now.date(), job.at, tzinfo=tz)
    if due_today <= local_now < due_today + grace:
        return due_today
    return trigger.get_next_fire_time(None, local_now)


def due_day(job: Job, local_now: datetime) -> date:
    """The day whose run this is: today once the job's time has come, else yesterday
    (a catch-up after midnight still sends yesterday's summary, not today's)."""
    today = local_now.date()
    return today if local_now.time() >= job.at else today - timedelta(days=1)


def run_job(services: Services, job: Job, scheduler: BackgroundScheduler | None, attempt: int = 0,
            retry_delay: timedelta = RETRY_DELAY, day: date | None = None) -> None:
    """Run a job for the day it was due; on a failed post, schedule a retry (the claim was given back).
    The scheduler's worker thread then waits hours for the next job: its store connection is let go."""
    day = day or due_day(job, datetime.now(services.settings.timezone))
    try:
        job.send(services, day)
    except NotifyError:
        if scheduler is None or attempt >= MAX_RETRIES:
            log.exception("%s failed; giving up after %d tries", job.id, attempt + 1)
            raise
        when = datetime.now(services.settings.timezone) + retry_delay
        log.warning("%s failed (try %d); retrying at %s", job.id, attempt + 1, when, exc_info=True)
        scheduler.add_job(run_job, DateTrigger(when), args=[services, job, scheduler, attempt + 1, retry_delay, day],
                          id=f"{job.id}-retry-{attempt + 1}", replace_existing=True, misfire_grace_time=None)
    finally:
        release_thread_connection(services)


def build_scheduler(services: Services, *, now: datetime | None = None,
                    retry_delay: timedelta = RETRY_DELAY) -> BackgroundScheduler:
    """A BackgroundScheduler in the crew time zone with the summary and the
    reminders, not started yet (so listeners can be added first)."""
    tz = services.settings.timezone
    scheduler = BackgroundScheduler(
        timezone=tz,
        job_defaults={"coalesce": True, "misfire_grace_time": int(MISFIRE_GRACE.total_seconds()), "max_instances": 1},
    )
    if not _slack_posting(services):
        log.warning("reminders are off, and the daily summary %s: set SLACK_BOT_TOKEN and OPSBOT_AUDIT_CHANNEL",
                    "goes by email only" if services.email.on else "is off")
    now = now or datetime.now(tz)
    for job in jobs(services):
        trigger = CronTrigger(hour=job.at.hour, minute=job.at.minute, timezone=tz)
        scheduler.add_job(run_job, trigger, args=[services, job, scheduler, 0, retry_delay], id=job.id,
                          next_run_time=first_run(job, now, trigger))
    return scheduler


def start_scheduler(services: Services, *, now: datetime | None = None,
                    retry_delay: timedelta = RETRY_DELAY) -> BackgroundScheduler:
    """Build the scheduler and start it."""
    scheduler = build_scheduler(services, now=now, retry_delay=retry_delay)
    scheduler.start()
    for job in scheduler.get_jobs():
        log.info("scheduled %s: next at %s", job.id, job.next_run_time)
    return scheduler
