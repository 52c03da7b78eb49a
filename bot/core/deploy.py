"""Site deploys: sync an event site's folder to S3 (staging or production),
promote staging to production, roll production back, invalidate CloudFront,
and report progress in one Slack message. Every entry point goes through
``Deployer``.

- staging runs at once; production, promote and rollback first post a preview
  (what would be uploaded, copied, deleted and invalidated) with confirm /
  cancel buttons and write nothing until an admin confirms (within
  PENDING_TTL; each preview is decided once).
- as far as S3 allows, all or nothing: every key is checked before the first
  write, every upload and copy finishes before anything is deleted, and the
  deletes and the invalidation happen only when every write succeeded.
- what a production deploy changed (each key's version before and after) is
  recorded, so ``rollback`` can put production back on a versioned bucket.
- one deploy per site at a time (a store claim with a lease).
- without AWS credentials every deploy is a dry run that says what it would do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from bot.core.access import Access, Refusal
from bot.core.catalog import Catalog
from bot.core.deploy_plan import (
    CONFIRMED_TARGETS,
    TARGETS,
    Change,
    DeployError,
    DeployRun,
    LocalFile,
    Plan,
    RollbackRefused,
    UnsafeSource,
    area,
    merge_changes,
    plan_dry_run,
    plan_promote,
    plan_rollback,
    plan_sync,
    rollback_scope,
)
from bot.core.domain import Site
from bot.core.ledger import Clock, new_record_id, utc_now
from bot.core.once import Once
from bot.core.outbox import Announcer
from bot.core.ports import (
    SUMMARIES_KEPT,
    Fold,
    Message,
    Notifier,
    NotifyError,
    RecordKey,
    SiteObject,
    Sites,
    SitesError,
    Store,
    slack_on,
)
from bot.core.site_files import HashCache, Scan, scan_source, still_as_scanned

log = logging.getLogger(__name__)

PENDING_TTL = timedelta(minutes=10)  # a preview must be confirmed within this
LOCK_LEASE = timedelta(minutes=15)  # a deploy whose process died frees its site after this
PENDING = "pending-deploy"  # records: ("pending-deploy", "", deploy_id)
DEPLOYS = "deploy"  # records: ("deploy", site_id, "<started iso>#<deploy_id>"): the history
# A summary kept by every history write (a Fold): ("deploy-last", site_id, "last"), {"key": the newest
# history record's key, "record": that record}: the App Home reads it by key instead of querying the history.
LAST_DEPLOY = "deploy-last"
CHANGES = "deploy-changes"  # records: (CHANGES, "<site_id>#<deploy_id>", "00000"...): key, version before, after
OWED = "deploy-invalidation-owed"  # records: (OWED, site_id, "staging"|"production"): paths not yet invalidated
HISTORY_SHOWN = 10  # deploys /deploy SITE history lists
HISTORY_READ = 200  # deploys a rollback reads, looking for the one to go back to
CHANGES_PER_RECORD = 100  # keys per CHANGES record: well under DynamoDB's 400 KB an item, whatever the keys
DELETE_BATCH = 1000  # keys deleted at a time (S3's DeleteObjects limit): progress is shown between batches
NULL_VERSION = "null"  # S3's version id of an object written before the bucket's versioning was turned on
CONFIRM_PERMISSION = {"production": "deploy.run", "promote": "deploy.run", "rollback": "deploy.rollback"}

T = TypeVar("T")
R = TypeVar("R")


class DeployWords(Protocol):
    """What a deploy's messages and refusals say (blocks/deploy.py implements it): the Deployer
    decides what happens, these say it in the channel."""

    def progress_message(self, run: DeployRun, done_so_far: int = 0) -> Message: ...

    def decided_message(self, site_id: str, deploy_id: str, decision: str, by: str,
                        target: str = "production") -> Message: ...

    def dry_run_message(self, plan: Plan) -> Message: ...

    def confirmation_message(self, run: DeployRun, plan: Plan, expires_at: datetime) -> Message: ...

    def refusal_text(self, error: DeployError) -> str: ...


class DeployBusy(DeployError):
    """Another deploy of the same site is running."""


@dataclass(frozen=True)
class DeployRequest:
    site: Site
    target: str  # staging | production | promote | rollback | history


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
    def __init__(self, *, store: Store, catalog: Catalog, sites: Sites, notifier: Notifier,
                 announcer: Announcer, once: Once, tz: ZoneInfo, words: DeployWords, clock: Clock = utc_now,
                 timer: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 poll_interval: float = 5.0, poll_timeout: float = 180.0, progress_interval: float = 1.0,
                 workers: int = 8, new_id: Callable[[str], str] = new_record_id, access: Access | None = None,
                 hashes: HashCache | None = None):
        self.store, self.catalog, self.sites, self.notifier = store, catalog, sites, notifier
        self.announcer, self.once, self.tz = announcer, once, tz
        self.clock, self.timer, self.sleep = clock, timer, sleep
        self.poll_interval, self.poll_timeout, self.progress_interval = poll_interval, poll_timeout, progress_interval
        self.workers = workers
        self.new_id = new_id
        self.access = access
        self.hashes = hashes or HashCache()
        self.words = words  # what the messages say (blocks/deploy.py)

    # -- asking ------------------------------------------------------------------------------------
    def parse(self, text: str | None) -> DeployRequest | None:
        """``SITE [staging|production|promote|rollback|history]``; None for an empty text (list the sites)."""
        words = (text or "").split()
        if not words:
            return None
        if len(words) > 2:
            raise DeployError("too_many_words")
        site = self.catalog.site(words[0].lower())
        if site is None:
            raise DeployError("unknown_site", ref=words[0], sites=tuple(self.catalog.sites))
        target = words[1].lower() if len(words) == 2 else "production"
        if target not in (*TARGETS, "history"):
            raise DeployError("not_a_target", word=words[1])
        return DeployRequest(site, target)

    def history(self, site_id: str, limit: int = HISTORY_SHOWN) -> list[dict[str, Any]]:
        """The site's last deploys, newest first (history records)."""
        return self.store.list_records(DEPLOYS, site_id, newest_first=True, limit=limit)

    def start(self, request: DeployRequest, *, by: str, channel: str) -> None:
        """Run a staging deploy, or post the preview of a production deploy, a
        promote or a rollback. Raises DeployBusy or DeployError when nothing
        could be started; everything after the first message is reported in that message."""
        reporter = self._reporter(channel)
        try:
            dry = not self.sites.has_credentials()
        except SitesError as exc:
            raise DeployError("sites_error", error=str(exc)) from exc
        if dry:
            self._dry_run(request, reporter)
            return
        run = DeployRun(deploy_id=self.new_id("dep"), site=request.site, target=request.target, by=by,
                        started_at=self.clock())
        if not self._take_lock(run):
            raise DeployBusy("busy", site=run.site.id)
        try:
            self._first_message(reporter, *self.words.progress_message(run))
            if request.target in CONFIRMED_TARGETS:
                self._preview(run, reporter, channel)
            else:
                self._execute(run, reporter)
        finally:
            self._release_lock(run)

    def confirm(self, deploy_id: str, *, by: str) -> None:
        """The confirm button: run the previewed plan. Raises DeployError
        (unknown, already decided, not allowed) for the presser. Who may press is
        checked before any listener runs (handlers/access_middleware.py) and, for
        what the preview was of, here."""
        pending, site = self._pending(deploy_id)
        target = str(pending.get("target", "production"))
        self._may_confirm(by, target)
        reporter = self._reporter(pending["channel"], pending["ts"])
        if self.clock() - datetime.fromisoformat(pending["created_at"]) > PENDING_TTL:
            if self._decide(deploy_id, pending, "expired", by):
                reporter.show(*self.words.decided_message(site.id, deploy_id, "expired", by, target), final=True)
                return
            raise self._already(deploy_id)
        if not self._decide(deploy_id, pending, "confirmed", by):
            raise self._already(deploy_id)
        run = DeployRun(deploy_id=deploy_id, site=site, target=target, by=by, started_at=self.clock(),
                        requested_by=pending["requested_by"])
        if not self._take_lock(run):
            reporter.show(*self.words.decided_message(site.id, deploy_id, "busy", by, target), final=True)
            return
        try:
            reporter.show(*self.words.progress_message(run))
            self._execute(run, reporter, expect=pending["fingerprint"])
        finally:
            self._release_lock(run)

    def cancel(self, deploy_id: str, *, by: str) -> None:
        pending, site = self._pending(deploy_id)
        target = str(pending.get("target", "production"))
        self._may_confirm(by, target)
        if not self._decide(deploy_id, pending, "cancelled", by):
            raise self._already(deploy_id)
        self._reporter(pending["channel"], pending["ts"]).show(
            *self.words.decided_message(site.id, deploy_id, "cancelled", by, target), final=True)

    @staticmethod
    def last_deploy_key(site_id: str) -> RecordKey:
        """The site's last-deploy summary."""
        return LAST_DEPLOY, site_id, "last"

    def last_deploy(self, site_id: str, read: Mapping[RecordKey, dict[str, Any]] | None = None
                    ) -> dict[str, Any] | None:
        """The newest deploy record of a site (for the App Home): its summary, from ``read`` (what a
        ``Store.read_keys`` of ``last_deploy_key`` and SUMMARIES_KEPT found) or read by key. In a store
        upgraded from before summaries, a site with none yet is asked its history, and the summary is
        kept from then on (written once, unless a deploy wrote it meanwhile)."""
        key = self.last_deploy_key(site_id)
        if read is None:
            read = self.store.read_keys(records=[SUMMARIES_KEPT, key])[1]
        summary = read.get(key)
        if summary is not None:
            return summary["record"]
        if SUMMARIES_KEPT in read:
            return None  # summaries were kept from the store's first record: this site has no deploy
        records = self.history(site_id, limit=1)
        newest = records[0] if records else None
        # Its key sorts before any: a history record does not hold the time its deploy started.
        self.store.put_record(*key, {"key": "", "record": newest}, if_absent=True)
        return newest

    # -- pieces ---------------------------------------------------------------------------------------
    def _reporter(self, channel: str, ts: str | None = None) -> MessageReporter:
        if not slack_on(self.notifier):
            raise DeployError("no_slack")
        return MessageReporter(self.notifier, channel, ts)

    def _first_message(self, reporter: MessageReporter, text: str, blocks: list[dict]) -> None:
        try:
            reporter.show(text, blocks)
        except NotifyError as exc:
            raise DeployError("cannot_post", error=str(exc)) from exc

    def _may_confirm(self, user: str, target: str) -> None:
        if self.access is None:
            return
        try:
            self.access.check(user, CONFIRM_PERMISSION.get(target, "deploy.run"))
        except Refusal as refusal:
            raise DeployError("not_allowed", refusal=refusal) from None

    def _take_lock(self, run: DeployRun) -> bool:
        """One deploy per site: a claim on the site, held by the deploy id."""
        return self.store.claim(f"deploy-lock:{run.site.id}", holder=run.deploy_id, now=self.clock(),
                                lease=LOCK_LEASE)

    def _release_lock(self, run: DeployRun) -> None:
        self.store.release_claim(f"deploy-lock:{run.site.id}", holder=run.deploy_id)

    def _pending(self, deploy_id: str) -> tuple[dict[str, Any], Site]:
        pending = self.store.get_record(PENDING, "", deploy_id) if deploy_id else None
        if pending is None:
            raise DeployError("unknown_request")
        if pending.get("decision"):
            raise self._already(deploy_id, pending)
        site = self.catalog.site(pending["site"])
        if site is None:
            raise DeployError("site_gone", site=pending["site"])
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
            return DeployError("expired", site=str(pending.get("site", "SITE")),
                               target=str(pending.get("target", "production")))
        if decision and who:
            return DeployError("already_decided", decision=decision, who=who)
        return DeployError("being_handled")

    def _each(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``work`` on every item, on the worker pool, in order; the first failure is raised."""
        if len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items)), thread_name_prefix="deploy") as pool:
            return list(pool.map(work, items))

    # -- planning -----------------------------------------------------------------------------------
    def _owed(self, site: Site, target: str) -> list[str]:
        record = self.store.get_record(OWED, site.id, _owed_key(target))
        return list(record["paths"]) if record else []

    def _stored_md5(self, site: Site) -> Callable[[str], str | None]:
        def stored(key: str) -> str | None:
            head = self.sites.head(site.bucket, key)
            return head.md5 if head else None

        return stored

    def _version(self, bucket: str, key: str) -> str | None:
        """The key's live version on a versioned bucket; None when it holds nothing."""
        head = self.sites.head(bucket, key)
        if head is None:
            return None
        return head.version_id or NULL_VERSION  # written before versioning was turned on

    def _plan(self, run: DeployRun) -> Plan:
        site, target = run.site, run.target
        owed = self._owed(site, target)
        if target == "rollback":
            return self._plan_rollback(site, owed)
        staging = area(site, "staging")
        if target == "promote":
            staged = self.sites.list_objects(site.bucket, staging)
            if not staged:
                raise DeployError("nothing_staged", site=site.id)
            live = self.sites.list_objects(site.bucket, site.prefix, skip_prefixes=(staging,))
            return plan_promote(site, staged, live, self._stored_md5(site), due_paths=owed)
        scan = self._scan(site)
        skip = () if target == "staging" else (staging,)
        remote = self.sites.list_objects(site.bucket, area(site, target), skip_prefixes=skip)
        return plan_sync(site, target, scan.files, remote, self._stored_md5(site), due_paths=owed,
                         hidden=scan.hidden)

    def _plan_rollback(self, site: Site, owed: list[str]) -> Plan:
        status = self.sites.versioning(site.bucket)
        if status != "Enabled":
            raise RollbackRefused("versioning", status=status)
        history = self.store.list_records(DEPLOYS, site.id, newest_first=True, limit=HISTORY_READ)
        restores, undo = rollback_scope(history, complete=len(history) < HISTORY_READ)
        changes = merge_changes([self._changes(site.id, str(record["deploy_id"])) for record in undo])
        keys = [c.key for c in changes]
        current = dict(zip(keys, self._each(lambda key: self._version(site.bucket, key), keys), strict=True))
        wanted = [(c.key, c.before) for c in changes if c.before is not None and c.before != current[c.key]]
        heads = self._each(lambda kv: self.sites.head(site.bucket, kv[0], kv[1]), wanted)
        earlier = {kv: SiteObject(kv[0], head.etag, head.size) for kv, head in zip(wanted, heads, strict=True)
                   if head is not None}
        return plan_rollback(site, restores, undo, changes, current, earlier, due_paths=owed)

    def _changes(self, site_id: str, deploy_id: str) -> list[Change]:
        return [Change(key, before, after, bool(known))
                for record in self.store.list_records(CHANGES, f"{site_id}#{deploy_id}")
                for key, before, after, known in record["entries"]]

    def _scan(self, site: Site) -> Scan:
        scan = scan_source(site, self.hashes)
        if not scan.files:
            raise UnsafeSource("nothing_to_publish", folder=str(site.source))
        return scan

    def _dry_run(self, request: DeployRequest, reporter: MessageReporter) -> None:
        if request.target in ("promote", "rollback"):
            plan = Plan(site=request.site, target=request.target, dry_run=True)
        else:
            scan = self._scan(request.site)
            plan = plan_dry_run(request.site, request.target, scan.files, hidden=scan.hidden)  # may raise BadNames
        self._first_message(reporter, *self.words.dry_run_message(plan))

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
            "deploy_id": run.deploy_id, "site": run.site.id, "target": run.target, "requested_by": run.by,
            "created_at": created.isoformat(), "channel": channel, "ts": reporter.ts,
            "fingerprint": plan.fingerprint(), "uploads": len(plan.uploads), "copies": len(plan.copies),
            "deletes": len(plan.deletes), "unchanged": plan.unchanged, "paths": list(plan.paths),
        }
        # Stored before the buttons show, so no click can find it missing.
        self.store.put_record(PENDING, "", run.deploy_id, pending)
        expires = (created + PENDING_TTL).astimezone(self.tz)
        reporter.show(*self.words.confirmation_message(run, plan, expires), final=True)
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
                reporter.show(*self.words.decided_message(run.site.id, run.deploy_id, "changed", run.by, run.target),
                              final=True)
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
            # A bug, or the store failing mid-deploy: say so in the message and keep what was written, then raise.
            self._fail(run, run.phase, SitesError("deploying", f"internal error ({type(exc).__name__})"))
            run.duration = self.timer() - started
            self._finish(run, reporter)
            raise
        run.duration = self.timer() - started
        self._finish(run, reporter)

    def _write(self, run: DeployRun, plan: Plan, reporter: MessageReporter) -> None:
        site = run.site
        if plan.paths:
            # Owed before anything is written: a deploy that fails halfway leaves its
            # changes un-invalidated, and the retry (which finds them unchanged) still owes them.
            self.store.put_record(OWED, site.id, _owed_key(run.target), {"paths": list(plan.paths)})
        if run.writes_production:
            self._snapshot(run, plan)
            self._record(run, running=True)  # before the first write: a deploy that dies half-way can be undone
        if plan.uploads:
            run.phase = "uploading"
            self._in_parallel(run, reporter, [
                (plan.key(f.rel), lambda f=f: self._upload(site, plan.key(f.rel), f)) for f in plan.uploads],
                "uploaded")
        if plan.copies:
            run.phase = "copying"
            self._in_parallel(run, reporter, [
                (plan.key(c.rel), lambda c=c: self.sites.copy(site.bucket, c.source_key, plan.key(c.rel), size=c.size,
                                                              version_id=c.version_id))
                for c in plan.copies], "copied")
        if plan.deletes:
            run.phase = "deleting"
            keys = [plan.key(rel) for rel in plan.deletes]
            for first in range(0, len(keys), DELETE_BATCH):
                reporter.show(*self.words.progress_message(run))
                try:
                    deleted = self.sites.delete(site.bucket, keys[first:first + DELETE_BATCH])
                except SitesError as exc:
                    self._note_deleted(run, exc.done)
                    raise
                self._note_deleted(run, deleted)
        if plan.paths:
            run.phase = "invalidating"
            reporter.show(*self.words.progress_message(run))
            run.invalidation_id = self.sites.create_invalidation(site.distribution_id, plan.paths, run.deploy_id)
            self.store.delete_record(OWED, site.id, _owed_key(run.target))
            self._wait_for_invalidation(run)

    def _snapshot(self, run: DeployRun, plan: Plan) -> None:
        """Each key's live version before the first write, on a versioned bucket
        (what a rollback puts back). Keys that hold nothing now were None."""
        run.versioned = self.sites.versioning(run.site.bucket) == "Enabled"
        run.before = dict.fromkeys(plan.changed_keys())
        if run.versioned:
            replaced = [plan.key(rel) for rel in sorted(plan.replaced)]
            versions = self._each(lambda key: self._version(run.site.bucket, key), replaced)
            run.before.update(zip(replaced, versions, strict=True))

    def _upload(self, site: Site, key: str, file: LocalFile) -> str | None:
        if not still_as_scanned(file):
            raise SitesError(f"uploading s3://{site.bucket}/{key}",
                             "the file changed after it was compared, so none of it was sent")
        return self.sites.upload(site.bucket, key, file.path, content_type=file.content_type,
                                 cache_control=file.cache_control, md5=file.md5)

    @staticmethod
    def _note_deleted(run: DeployRun, deleted: dict[str, str | None]) -> None:
        for key in deleted:
            run.after[key] = None
        run.deleted += len(deleted)

    def _in_parallel(self, run: DeployRun, reporter: MessageReporter,
                     jobs: list[tuple[str, Callable[[], str | None]]], counter: str) -> None:
        """Run the jobs (key, write returning the version written) on the worker
        pool, noting each write in ``run.after`` and counting it into
        ``run.<counter>``, updating the message at most every progress_interval
        seconds. The first failure stops the jobs not yet started and is raised
        once the running ones have finished."""
        reporter.show(*self.words.progress_message(run, 0))
        last, count = self.timer(), 0
        failure: BaseException | None = None
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(jobs))), thread_name_prefix="deploy") as pool:
            keys: dict[Future, str] = {pool.submit(job): key for key, job in jobs}
            pending: set[Future] = set(keys)
            while pending:
                finished, pending = wait(pending, timeout=max(self.progress_interval, 0.05),
                                         return_when=FIRST_COMPLETED)
                if failure is None and any(f.exception() is not None for f in finished):
                    for future in pending:
                        future.cancel()
                    stopped, _ = wait(pending)
                    finished, pending = finished | stopped, set()
                for future in finished:
                    if future.cancelled():
                        continue
                    if future.exception() is None:
                        count += 1
                        run.after[keys[future]] = future.result()
                    elif failure is None:
                        failure = future.exception()
                setattr(run, counter, count)
                now = self.timer()
                if pending and now - last >= self.progress_interval:
                    reporter.show(*self.words.progress_message(run, count))
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

    def _refuse(self, run: DeployRun, exc: DeployError) -> None:
        run.error, run.refusal, run.phase = exc.summary or self.words.refusal_text(exc), exc, "refused"

    def _finish(self, run: DeployRun, reporter: MessageReporter) -> None:
        """The final message, and the deploy record with its announcement (the audit line)."""
        if run.duration is None:
            run.duration = 0.0
        reporter.show(*self.words.progress_message(run), final=True)
        self._record(run, announce=True)

    def _record(self, run: DeployRun, *, running: bool = False, announce: bool = False) -> None:
        """The history record and, for a production deploy on a versioned bucket,
        each key's versions. Written before the first write (``running``: what
        each key will hold is not known yet) and again at the end (what each
        key written now holds), then with its announcement (the audit line) in
        the same write."""
        plan, site = run.plan, run.site
        at = run.started_at if running else self.clock()
        changes = (len(plan.changed_keys()) if plan else 0) if running else len(run.after)
        record = {
            "deploy_id": run.deploy_id, "site": site.id, "target": run.target, "by": run.by,
            "requested_by": run.requested_by or run.by, "at": at.isoformat(),
            "result": "running" if running else run.result,
            "uploaded": run.uploaded, "copied": run.copied, "deleted": run.deleted,
            "unchanged": plan.unchanged if plan else 0, "invalidation_id": run.invalidation_id,
            "invalidated_paths": len(plan.paths) if plan and run.invalidation_id else 0,
            "failed_step": run.failed_step, "error": run.error, "duration_s": round(run.duration or 0.0, 3),
            "bucket": site.bucket, "prefix": site.prefix, "area": run.area, "versioned": run.versioned,
            "changes": changes if run.writes_production else 0,
            "undoes": list(plan.undoes) if plan else [],
            "restores": (str(plan.restores.get("deploy_id", "")) if plan.restores else "") if plan else "",
        }
        announcement = self.announcer.deploy_finished(_audit_facts(run, record, self.words), at) if announce else None
        key = f"{run.started_at.isoformat()}#{run.deploy_id}"
        last = Fold(self.last_deploy_key(site.id), lambda summary: newest_deploy(summary, key, record))
        if self.store.put_record(DEPLOYS, site.id, key, record, announce=announcement, fold=last) and announcement:
            self.announcer.ring(announcement.entries)
        if not (run.writes_production and run.versioned and run.before):
            return
        # Every key the plan changes: one not (or not known to be) written is put back by a rollback only if
        # it no longer holds what it held (a write that reached S3 but whose answer was lost).
        entries = [[key, before, run.after.get(key), key in run.after and not running]
                   for key, before in sorted(run.before.items())]
        group = f"{site.id}#{run.deploy_id}"
        for number, first in enumerate(range(0, len(entries), CHANGES_PER_RECORD)):
            self.store.put_record(CHANGES, group, f"{number:05d}",
                                  {"entries": entries[first:first + CHANGES_PER_RECORD]})


def newest_deploy(last: dict[str, Any] | None, key: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """The site's last-deploy summary once the history record ``key`` is written: that record, unless the
    summary holds a newer one (a deploy whose lock ran out, recorded after the next one started). None: as
    it is. With no summary yet (a store upgraded from before them) the deploy being recorded is the newest:
    one deploy of a site runs at a time."""
    if last is not None and last["key"] > key:
        return None
    return {"key": key, "record": record}


def _audit_facts(run: DeployRun, record: dict[str, Any], words: DeployWords) -> dict[str, Any]:
    """What the deploy's audit line says besides its record: the phase, the site, what the plan had to
    do, and why it was refused (blocks/announcements.py draws the line from these)."""
    plan = run.plan
    return {**record, "phase": run.phase, "distribution_id": run.site.distribution_id, "url": run.site.url,
            "planned_uploads": len(plan.uploads) if plan else 0, "planned_copies": len(plan.copies) if plan else 0,
            "planned_deletes": len(plan.deletes) if plan else 0,
            "reason": words.refusal_text(run.refusal) if run.refusal else run.error}


def _owed_key(target: str) -> str:
    return "staging" if target == "staging" else "production"
