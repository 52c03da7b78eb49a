"""Site deploys: sync an event site's folder to S3 (staging or production),
promote staging to production, invalidate CloudFront, and report progress in
one Slack message. Every entry point goes through ``Deployer``.

- staging and promote run at once; production first posts a preview with
  confirm / cancel buttons and writes nothing until an admin confirms (within
  PENDING_TTL; each preview is decided once).
- one deploy per site at a time (a store claim with a lease).
- without AWS credentials every deploy is a dry run that says what it would do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from blocks.deploy import (
    confirmation_message,
    decided_message,
    dry_run_message,
    progress_message,
    unknown_site,
)
from blocks.mrkdwn import escape, shorten
from bot.catalog import Catalog
from bot.deploy_plan import (
    STAGING_PREFIX,
    TARGETS,
    DeployError,
    DeployRun,
    Plan,
    UnsafeSource,
    plan_dry_run,
    plan_promote,
    plan_sync,
    scan_source,
)
from bot.domain import Site
from bot.ledger import Clock, new_record_id, utc_now
from bot.once import Once
from bot.outbox import Announcer
from bot.ports import Notifier, NotifyError, Sites, SitesError, Store

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

PENDING_TTL = timedelta(minutes=10)  # a production preview must be confirmed within this
LOCK_LEASE = timedelta(minutes=15)  # a deploy whose process died frees its site after this
PENDING = "pending-deploy"  # records: ("pending-deploy", "", deploy_id)
DEPLOYS = "deploy"  # records: ("deploy", site_id, "<iso>#<deploy_id>"): the history, newest last
OWED = "deploy-invalidation-owed"  # records: (OWED, site_id, "staging"|"production"): paths not yet invalidated

USAGE = ("Usage: `/deploy SITE [staging|production|promote]` — `staging` publishes to `_staging/`, "
         "`production` (the default) asks for a confirmation first, `promote` copies staging to production. "
         "`/deploy` alone lists the sites.")


class DeployBusy(DeployError):
    """Another deploy of the same site is running."""


@dataclass(frozen=True)
class DeployRequest:
    site: Site
    target: str  # staging | production | promote


class MessageReporter:
    """The deploy's one Slack message: posted the first time, updated after."""

    def __init__(self, notifier: Notifier, channel: str, ts: str | None = None):
        self.notifier, self.channel, self.ts = notifier, channel, ts

    def show(self, text: str, blocks: list[dict], *, final: bool = False) -> None:
        if self.ts is None:
            self.ts = self.notifier.post(self.channel, text, blocks)
            return
        try:
            self.notifier.update(self.channel, self.ts, text, blocks)
        except NotifyError:
            if not final:
                # A missed progress step is not worth stopping a half-done deploy; the final word is.
                log.warning("deploy progress update failed in %s", self.channel, exc_info=True)
                return
            self.ts = self.notifier.post(self.channel, text, blocks)


class Deployer:
    def __init__(self, *, store: Store, catalog: Catalog, sites: Sites, notifier: Notifier | None,
                 announcer: Announcer, once: Once, tz: ZoneInfo, clock: Clock = utc_now,
                 timer: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 poll_interval: float = 5.0, poll_timeout: float = 180.0, progress_interval: float = 1.0,
                 workers: int = 8, new_id: Callable[[str], str] = new_record_id):
        self.store, self.catalog, self.sites, self.notifier = store, catalog, sites, notifier
        self.announcer, self.once, self.tz = announcer, once, tz
        self.clock, self.timer, self.sleep = clock, timer, sleep
        self.poll_interval, self.poll_timeout, self.progress_interval = poll_interval, poll_timeout, progress_interval
        self.workers = workers
        self.new_id = new_id

    # -- asking ------------------------------------------------------------------------------------
    def parse(self, text: str | None) -> DeployRequest | None:
        """``SITE [staging|production|promote]``; None for an empty text (list the sites)."""
        words = (text or "").split()
        if not words:
            return None
        if len(words) > 2:
            raise DeployError(f"Too many words. {USAGE}")
        site = self.catalog.site(words[0].lower())
        if site is None:
            raise DeployError(unknown_site(words[0], self.catalog.sites))
        target = words[1].lower() if len(words) == 2 else "production"
        if target not in TARGETS:
            raise DeployError(f"`{escape(shorten(words[1], 40))}` is not a deploy target: use staging, production "
                              f"or promote. {USAGE}")
        return DeployRequest(site, target)

    def start(self, request: DeployRequest, *, by: str, channel: str) -> None:
        """Run a staging deploy or a promote, or post a production preview.
        Raises DeployBusy or DeployError when nothing could be started;
        everything after the first message is reported in that message."""
        reporter = self._reporter(channel)
        try:
            dry = not self.sites.has_credentials()
        except SitesError as exc:
            raise DeployError(f"{escape(str(exc))}. Nothing was deployed.") from exc
        if dry:
            self._dry_run(request, reporter)
            return
        run = DeployRun(deploy_id=self.new_id("dep"), site=request.site, target=request.target, by=by,
                        started_at=self.clock())
        if not self._take_lock(run):
            raise DeployBusy(f"A deploy of `{escape(run.site.id)}` is already running; try again when it has "
                             "finished.")
        try:
            self._first_message(reporter, *progress_message(run))
            if request.target == "production":
                self._preview(run, reporter, channel)
            else:
                self._execute(run, reporter)
        finally:
            self._release_lock(run)

    def confirm(self, deploy_id: str, *, by: str) -> None:
        """The confirm button: deploy the previewed production plan. Raises
        DeployError (unknown, already decided) for the presser. Who may press is
        checked before any listener runs (handlers/access_middleware.py)."""
        pending, site = self._pending(deploy_id)
        reporter = self._reporter(pending["channel"], pending["ts"])
        if self.clock() - datetime.fromisoformat(pending["created_at"]) > PENDING_TTL:
            if self._decide(deploy_id, pending, "expired", by):
                reporter.show(*decided_message(site.id, deploy_id, "expired", by), final=True)
                return
            raise self._already(deploy_id)
        if not self._decide(deploy_id, pending, "confirmed", by):
            raise self._already(deploy_id)
        run = DeployRun(deploy_id=deploy_id, site=site, target="production", by=by, started_at=self.clock(),
                        requested_by=pending["requested_by"])
        if not self._take_lock(run):
            reporter.show(*decided_message(site.id, deploy_id, "busy", by), final=True)
            return
        try:
            reporter.show(*progress_message(run))
            self._execute(run, reporter, expect=pending["fingerprint"])
        finally:
            self._release_lock(run)

    def cancel(self, deploy_id: str, *, by: str) -> None:
        pending, site = self._pending(deploy_id)
        if not self._decide(deploy_id, pending, "cancelled", by):
            raise self._already(deploy_id)
        self._reporter(pending["channel"], pending["ts"]).show(
            *decided_message(site.id, deploy_id, "cancelled", by), final=True)

    def last_deploy(self, site_id: str) -> dict[str, Any] | None:
        """The newest deploy record of a site (for the App Home)."""
        records = self.store.list_records(DEPLOYS, site_id, newest_first=True, limit=1)
        return records[0] if records else None

    # -- pieces ---------------------------------------------------------------------------------------
    def _reporter(self, channel: str, ts: str | None = None) -> MessageReporter:
        if self.notifier is None:
            raise DeployError("Slack is not configured, so a deploy cannot report its progress: set SLACK_BOT_TOKEN.")
        return MessageReporter(self.notifier, channel, ts)

    @staticmethod
    def _first_message(reporter: MessageReporter, text: str, blocks: list[dict]) -> None:
        try:
            reporter.show(text, blocks)
        except NotifyError as exc:
            raise DeployError(f"I could not post the deploy's progress in this channel ({escape(str(exc))}). Invite "
                              "me with `/invite @opsbot`, or run /deploy in the ops channel. Nothing was deployed."
                              ) from exc

    def _take_lock(self, run: DeployRun) -> bool:
        """One deploy per site: a claim on the site, held by the deploy id."""
        return self.store.claim(f"deploy-lock:{run.site.id}", holder=run.deploy_id, now=self.clock(),
                                lease=LOCK_LEASE)

    def _release_lock(self, run: DeployRun) -> None:
        self.store.release_claim(f"deploy-lock:{run.site.id}", holder=run.deploy_id)

    def _pending(self, deploy_id: str) -> tuple[dict[str, Any], Site]:
        pending = self.store.get_record(PENDING, "", deploy_id) if deploy_id else None
        if pending is None:
            raise DeployError("This deploy request is unknown: run `/deploy SITE` again.")
        if pending.get("decision"):
            raise self._already(deploy_id, pending)
        site = self.catalog.site(pending["site"])
        if site is None:
            raise DeployError(f"The site `{escape(pending['site'])}` is no longer in events.json.")
        return pending, site

    def _decide(self, deploy_id: str, pending: dict[str, Any], decision: str, by: str) -> bool:
        """Record the one decision a preview gets; False when another click got there first."""
        decided = {**pending, "decision": decision, "decided_by": by, "decided_at": self.clock().isoformat()}
        return self.once.run(f"deploy-decision:{deploy_id}",
                             lambda: self.store.put_record(PENDING, "", deploy_id, decided))

    def _already(self, deploy_id: str, pending: dict[str, Any] | None = None) -> DeployError:
        pending = pending or self.store.get_record(PENDING, "", deploy_id) or {}
        decision, who = pending.get("decision"), pending.get("decided_by")
        if decision == "expired":
            return DeployError(f"This deploy request expired: run `/deploy {escape(pending.get('site', 'SITE'))}` "
                               "again.")
        if decision and who:
            return DeployError(f"This deploy was already {decision} by <@{who}>.")
        return DeployError("This deploy is already being handled.")

    # -- planning -----------------------------------------------------------------------------------
    def _owed(self, site: Site, target: str) -> list[str]:
        record = self.store.get_record(OWED, site.id, _owed_key(target))
        return list(record["paths"]) if record else []

    def _plan(self, run: DeployRun) -> Plan:
        site, target = run.site, run.target
        owed = self._owed(site, target)
        if target == "promote":
            staged = self.sites.list_objects(site.bucket, STAGING_PREFIX)
            if not staged:
                raise DeployError(f"Nothing is staged for `{escape(site.id)}`: run `/deploy {escape(site.id)} staging` "
                                  "first.")
            live = self.sites.list_objects(site.bucket, "", skip_prefixes=(STAGING_PREFIX,))
            return plan_promote(site, staged, live, lambda key: self.sites.stored_md5(site.bucket, key),
                                due_paths=owed)
        local = self._scan(site)
        prefix = STAGING_PREFIX if target == "staging" else ""
        skip = () if prefix else (STAGING_PREFIX,)
        remote = self.sites.list_objects(site.bucket, prefix, skip_prefixes=skip)
        return plan_sync(site, target, local, remote, lambda key: self.sites.stored_md5(site.bucket, key),
                         due_paths=owed)

    def _scan(self, site: Site) -> list:
        local = scan_source(site.source)
        if not local:
            raise UnsafeSource(f"The source folder `{escape(str(site.source))}` has no files: a deploy would delete "
                               "the whole site, so nothing was deployed.")
        return local

    def _dry_run(self, request: DeployRequest, reporter: MessageReporter) -> None:
        local = [] if request.target == "promote" else self._scan(request.site)
        plan = plan_dry_run(request.site, request.target, local)
        self._first_message(reporter, *dry_run_message(plan))

    def _preview(self, run: DeployRun, reporter: MessageReporter, channel: str) -> None:
        try:
            plan = self._plan(run)
        except SitesError as exc:
            self._fail(run, "planning", exc)
            self._finish(run, reporter)
            return
        except DeployError as exc:
            self._refuse(run, exc)
            self._finish(run, reporter)
            return
        run.plan = plan
        if plan.up_to_date:
            run.phase = "up_to_date"
            self._finish(run, reporter)
            return
        created = self.clock()
        pending = {
            "deploy_id": run.deploy_id, "site": run.site.id, "target": "production", "requested_by": run.by,
            "created_at": created.isoformat(), "channel": channel, "ts": reporter.ts,
            "fingerprint": plan.fingerprint(), "uploads": len(plan.uploads), "deletes": len(plan.deletes),
            "unchanged": plan.unchanged, "paths": list(plan.paths),
            "files": [f.rel for f in plan.uploads[:20]], "deleted_files": list(plan.deletes[:20]),
        }
        # Stored before the buttons show, so no click can find it missing.
        self.store.put_record(PENDING, "", run.deploy_id, pending)
        expires = (created + PENDING_TTL).astimezone(self.tz)
        reporter.show(*confirmation_message(run, plan, expires), final=True)
        if reporter.ts != pending["ts"]:  # the update failed and the preview went out as a new message
            self.store.put_record(PENDING, "", run.deploy_id, {**pending, "ts": reporter.ts})

    # -- running ---------------------------------------------------------------------------------------
    def _execute(self, run: DeployRun, reporter: MessageReporter, *, expect: str | None = None) -> None:
        """Plan, write, invalidate, report, record. S3 and CloudFront failures end
        up in the message and the audit line. With ``expect`` (a confirmed
        preview's fingerprint), a plan that differs writes nothing."""
        started = self.timer()
        try:
            plan = self._plan(run)
            if expect is not None and plan.fingerprint() != expect:
                reporter.show(*decided_message(run.site.id, run.deploy_id, "changed", run.by), final=True)
                return
            run.plan = plan
            if plan.up_to_date:
                run.phase = "up_to_date"
            else:
                self._write(run, plan, reporter)
                run.phase = "done"
        except SitesError as exc:
            self._fail(run, run.phase, exc)
        except DeployError as exc:
            self._refuse(run, exc)
        except Exception as exc:
            # A bug, or the store failing mid-deploy: say so in the message, then let it be logged.
            self._fail(run, run.phase, SitesError("deploying", f"internal error ({type(exc).__name__})"))
            run.duration = self.timer() - started
            reporter.show(*progress_message(run), final=True)
            raise
        run.duration = self.timer() - started
        self._finish(run, reporter)

    def _write(self, run: DeployRun, plan: Plan, reporter: MessageReporter) -> None:
        site = run.site
        if plan.paths:
            # Owed before anything is written: a deploy that fails halfway leaves its
            # changes un-invalidated, and the retry (which finds them unchanged) still owes them.
            self.store.put_record(OWED, site.id, _owed_key(run.target), {"paths": list(plan.paths)})
        if plan.uploads:
            run.phase = "uploading"
            self._in_parallel(run, reporter, [
                (lambda f=f: self.sites.upload(site.bucket, run.prefix + f.rel, f.path, content_type=f.content_type,
                                                cache_control=f.cache_control, md5=f.md5))
                for f in plan.uploads], "uploaded")
        if plan.copies:
            run.phase = "copying"
            self._in_parallel(run, reporter, [
                (lambda rel=rel: self.sites.copy(site.bucket, STAGING_PREFIX + rel, rel)) for rel in plan.copies],
                "copied")
        if plan.deletes:
            run.phase = "deleting"
            reporter.show(*progress_message(run))
            self.sites.delete(site.bucket, [run.prefix + rel for rel in plan.deletes])
            run.deleted = len(plan.deletes)
        if plan.paths:
            run.phase = "invalidating"
            reporter.show(*progress_message(run))
            run.invalidation_id = self.sites.create_invalidation(site.distribution_id, plan.paths, run.deploy_id)
            self.store.delete_record(OWED, site.id, _owed_key(run.target))
            self._wait_for_invalidation(run)

    def _in_parallel(self, run: DeployRun, reporter: MessageReporter, jobs: list[Callable[[], None]],
                     counter: str) -> None:
        """Run the jobs on the worker pool, counting successes into ``run.<counter>``
        and updating the message at most every progress_interval seconds. The first
        failure stops the jobs not yet started and is raised."""
        reporter.show(*progress_message(run, 0))
        last, count = self.timer(), 0
        failure: BaseException | None = None
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(jobs))), thread_name_prefix="deploy") as pool:
            pending: set[Future] = {pool.submit(job) for job in jobs}
            while pending:
                finished, pending = wait(pending, timeout=max(self.progress_interval, 0.05),
                                         return_when=FIRST_COMPLETED)
                for future in finished:
                    if future.exception() is None:
                        count += 1
                    elif failure is None:
                        failure = future.exception()
                if failure is not None:
                    for future in pending:
                        future.cancel()
                    stopped, _ = wait(pending)
                    count += sum(1 for f in stopped if not f.cancelled() and f.exception() is None)
                    pending = set()
                setattr(run, counter, count)
                now = self.timer()
                if pending and now - last >= self.progress_interval:
                    reporter.show(*progress_message(run, count))
                    last = now
        if failure is not None:
            raise failure

    def _wait_for_invalidation(self, run: DeployRun) -> None:
        started = self.timer()
        deadline = started + self.poll_timeout
        while True:
            try:
                status = self.sites.get_invalidation_status(run.site.distribution_id, run.invalidation_id or "")
            except SitesError as exc:
                # The deploy is complete; only our view of CloudFront's progress is missing.
                run.invalidation_note = exc.reason
                break
            if status.lower() == "completed":
                run.invalidation_completed = True
                break
            now = self.timer()
            if now >= deadline:
                break
            self.sleep(min(self.poll_interval, deadline - now))
        run.waited = self.timer() - started

    def _fail(self, run: DeployRun, step: str, exc: SitesError) -> None:
        run.failed_step, run.error, run.phase = step, str(exc), "failed"

    @staticmethod
    def _refuse(run: DeployRun, exc: DeployError) -> None:
        run.error, run.phase = exc.message, "refused"

    def _finish(self, run: DeployRun, reporter: MessageReporter) -> None:
        """The final message, and the deploy record with its announcement (the audit line)."""
        if run.duration is None:
            run.duration = 0.0
        reporter.show(*progress_message(run), final=True)
        at = self.clock()
        plan = run.plan
        record = {
            "deploy_id": run.deploy_id, "site": run.site.id, "target": run.target, "by": run.by,
            "requested_by": run.requested_by or run.by, "at": at.isoformat(), "result": run.result,
            "uploaded": run.uploaded, "copied": run.copied, "deleted": run.deleted,
            "unchanged": plan.unchanged if plan else 0, "invalidation_id": run.invalidation_id,
            "invalidated_paths": len(plan.paths) if plan and run.invalidation_id else 0,
            "failed_step": run.failed_step, "error": run.error, "duration_s": round(run.duration, 3),
        }
        # What the audit line says besides the record: the phase, the site, and what the plan had to do.
        facts = {**record, "phase": run.phase, "bucket": run.site.bucket, "distribution_id": run.site.distribution_id,
                 "url": run.site.url, "planned_uploads": len(plan.uploads) if plan else 0,
                 "planned_copies": len(plan.copies) if plan else 0, "planned_deletes": len(plan.deletes) if plan else 0}
        if self.store.put_record(DEPLOYS, run.site.id, f"{at.isoformat()}#{run.deploy_id}", record,
                                 announce=self.announcer.deploy_finished(facts, at)):
            self.announcer.ring()


def _owed_key(target: str) -> str:
    return "staging" if target == "staging" else "production"


def build_deployer(services: Services, clock: Clock) -> Deployer:
    """The Deployer on S3 + CloudFront (boto3 clients made on first use)."""
    from infra.aws_sites import AwsSites

    return Deployer(store=services.store, catalog=services.catalog, sites=AwsSites(services.settings),
                    notifier=services.notifier, announcer=services.announcer, once=services.once,
                    tz=services.settings.timezone, clock=clock)
