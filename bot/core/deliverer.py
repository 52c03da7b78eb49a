"""The deliverer: sends what the outbox holds (bot/core/outbox.py), each entry at most
once, within Slack's limits, and keeps trying until it goes or an admin is told.

- **Lanes.** Slack's entries (audit lines, updates, receipts, replies) and the
  email copies are drained by a loop each, so Slack never waits behind SES.
- **Claims.** An entry is claimed with a lease before it is sent; the entries of
  a holder that died are taken over when the lease runs out.
- **At most once.** An audit line carries its claim's id in Slack's message
  metadata; whoever takes over an interrupted claim, or retries a try that may
  have gone through (a dropped connection, a 5xx), first looks for that message
  in the channel's history and only posts when it is not there. A receipt, a
  reply or an email cannot be looked up: the entry is marked "under way" before
  the call, and one found under way after a crash is parked ("may have been
  sent"), never sent twice.
- **Slack's pace.** About one message a second per channel (Slack's limit for
  ``chat.postMessage``); a 429's Retry-After pauses that channel. When lines
  queue up in a channel they are folded into one digest that names every record.
- **Until delivered.** A failed try is retried with backoff, across restarts (the
  schedule is in the store); an entry still failing after a day is parked, and
  ``opsbot doctor`` and the App Home show it to an admin.

Memory stays flat: a pass reads at most ``policy.batch`` entries, and nothing is
queued in the process. Runs as two threads in the server (``start``), as its own
process (``opsbot worker``), or once per invocation on Lambda (``drain``)."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot.core.ledger import Clock, utc_now
from bot.core.outbox import (
    AUDIT,
    BACKOFF,
    DELIVERED,
    EMAIL_LANE,
    HELD,
    LANES,
    PARK_AFTER,
    PARKED,
    PENDING,
    RECEIPT,
    REPLY,
    SLACK_LANE,
    UPDATE,
    Announcer,
    Claim,
    OutboxEntry,
    Settled,
    entry_id,
    lone_line,
)
from bot.core.ports import (
    MAIL_OFF,
    SLACK_OFF,
    EmailSettings,
    Mailer,
    MailError,
    Notifier,
    NotifyError,
    Renderer,
    Store,
    StoreError,
    mail_on,
    slack_on,
)

log = logging.getLogger("opsbot.deliver")

PACED = (AUDIT, UPDATE)  # chat.postMessage / chat.update in a channel: about one a second
METADATA_TYPE = "opsbot_announcement"
HISTORY_MARGIN = timedelta(minutes=1)  # clocks differ: look this much further back for an interrupted post


@dataclass(frozen=True)
class DeliveryPolicy:
    pace: float = 1.0  # seconds between two messages in one channel
    fold_after: int | None = 3  # this many lines waiting in a channel become one digest; None: never fold
    batch: int = 1000  # entries read per pass and lane: what a pass holds in memory (a digest holds at most this)
    lease: timedelta = timedelta(seconds=30)  # a claim's life: longer than any one call (Slack's timeout is 10 s)
    backoff: tuple[float, ...] = BACKOFF
    park_after: timedelta = PARK_AFTER
    idle_poll: float = 5.0  # seconds between looks at the store when nothing rang (another process's writes)
    line_wait: float = 2.0  # an update waits this long, again and again, for the line it changes to be posted


# The console's own (no Slack to pace) and the tests': nothing waits, nothing is folded.
LOCAL_POLICY = DeliveryPolicy(pace=0.0, fold_after=None, idle_poll=0.5)


@dataclass(frozen=True)
class Pass:
    settled: int  # entries this pass finished (delivered, rescheduled or parked)
    wait: float | None  # seconds until this lane has something to do; None: nothing known
    paced: bool = False  # the wait is a channel's pace (a new entry does not shorten it)
    next_due: datetime | None = None  # when nothing is due now: the earliest pending entry's time
    tried_all: bool = False  # every entry due when the pass began was tried in it (``drain`` need not look again)


class Deliverer:
    def __init__(self, store: Store, announcer: Announcer, *, renderer: Renderer, notifier: Notifier | None,
                 mailer: Mailer, email: EmailSettings | None, tz: tzinfo,
                 policy: DeliveryPolicy = DeliveryPolicy(), clock: Clock = utc_now,
                 monotonic: Callable[[], float] = time.monotonic, holder: str | None = None):
        self.renderer = renderer  # what each entry says (blocks/announcements.py)
        self.store, self.announcer, self.notifier, self.mailer, self.email = store, announcer, notifier, mailer, email
        self.tz, self.policy, self.clock, self.monotonic = tz, policy, clock, monotonic
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.doorbell = announcer.doorbell
        self._attempts = itertools.count(1)
        self._slots: dict[str, float] = {}  # channel -> monotonic time its next message may go
        self._slots_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._state = threading.Condition()
        self._quiet: dict[str, tuple[int, datetime | None]] = {}  # lane -> (generation, next due) of a quiet pass
        self._held_back = threading.local()  # .settled: the settles ``deliver`` makes together at its end

    # -- one pass of a lane -------------------------------------------------------------------------------
    def run_pass(self, lane: str, *, look_ahead: bool = True) -> Pass:
        """Deliver what ``lane`` has due now. When nothing is, ``look_ahead`` also reads when the
        next entry is due (the running loop sleeps until then; ``drain`` does not wait for it)."""
        now = self.clock()
        due = self.store.due_entries(lane, now, self.policy.batch)
        if not due and not look_ahead:
            return Pass(0, None)
        if not due:
            upcoming = self.store.due_entries(lane, now + self.policy.park_after + timedelta(days=1), 1)
            next_due = upcoming[0].due_at if upcoming else None
            wait = None if next_due is None else max((next_due - now).total_seconds(), 0.0)
            return Pass(0, wait, next_due=next_due)
        read_all = len(due) < self.policy.batch
        if lane == EMAIL_LANE:
            return Pass(sum(self._send_email(e) for e in due), 0.0, tried_all=read_all)
        settled = 0
        paced: dict[str, list[OutboxEntry]] = {}
        direct: list[OutboxEntry] = []
        for entry in due:
            if self._paced(entry) and entry.channel:
                paced.setdefault(entry.channel, []).append(entry)
            else:
                direct.append(entry)
        waits = []
        left = False  # a channel's entries that wait for a later pass (its pace, or one message per pass)
        for channel, waiting in paced.items():  # a record's audit line before its receipt
            if self._slot_wait(channel) <= 0:
                settled += self._send_to_channel(channel, waiting)
                left = left or len(waiting) > 1
            else:
                left = True
            waits.append(self._slot_wait(channel))
        settled += sum(self._send_direct(entry) for entry in direct)
        wait = min(waits) if waits else 0.0
        return Pass(settled, wait, paced=wait > 0, tried_all=read_all and not left)

    # -- Slack: the channel's next message ----------------------------------------------------------------
    def _send_to_channel(self, channel: str, waiting: list[OutboxEntry]) -> int:
        first = waiting[0]
        lines = [e for e in waiting if e.target == AUDIT]
        fold = first.target == AUDIT and self.policy.fold_after is not None and len(lines) >= self.policy.fold_after
        if fold:
            _, fits = self.renderer.digest(lines, waiting=len(lines))
            group = lines[:fits]
        else:
            group = [first]
        attempt = self._attempt_id(digest=len(group) > 1)
        # Claimed as under way: from here a crash leaves the entry in doubt, and whoever takes it
        # over looks for this claim's message before posting.
        taken = self._claim(group, attempt, under_way=True)
        if not taken:
            return 0
        return self._post(channel, taken, attempt, waiting=len(lines))

    def _post(self, channel: str, taken: list[OutboxEntry], attempt: str, *, waiting: int) -> int:
        """The message of entries claimed (under way) as ``attempt``: a line, a digest, or an update."""
        if taken[0].target == UPDATE:
            return self._update(taken[0])
        settled, taken = self._reconcile(channel, taken)
        if not taken:
            return settled
        carried = [e.entry_id for e in taken if e.in_doubt]
        if carried:  # an earlier call's message is not in the channel: they go out under this claim's id
            self.store.mark_in_doubt(carried, holder=self.holder, attempt=attempt)
        # The claim's id says what the message is: what a later look at the history finds.
        digest = attempt.endswith(":digest")
        text, blocks = self._drawn(taken, digest, waiting=waiting)
        metadata = {"event_type": METADATA_TYPE, "event_payload": {"attempt": attempt, "records": len(taken)}}
        try:
            try:
                ts = self._slack().post(channel, text, blocks or None, metadata=metadata)
            except NotifyError as exc:
                if exc.retryable or not blocks:
                    raise
                # Slack refused the message itself (a builder bug: they fit any data): the same
                # message would be refused on every try, so the records are said plainly instead.
                log.error("Slack refused the line of %s (%s); posting it plain", taken[0].record_id, exc)
                ts = self._slack().post(channel, self.renderer.plain_lines(taken), None, metadata=metadata)
        except NotifyError as exc:
            return settled + self._failed(taken, exc, channel=channel)
        finally:
            self._mark_slot(channel)  # from the answer: the next post arrives at least a pace after this one
        result = {"channel": channel, "ts": ts, **({"digest": True} if digest else {})}
        self._settle([Settled(e.entry_id, DELIVERED, result=result) for e in taken])
        if digest:
            log.info("digest of %d lines posted in %s (%d were waiting)", len(taken), channel, waiting)
        return settled + len(taken)

    def _drawn(self, taken: list[OutboxEntry], digest: bool, *, waiting: int) -> tuple[str, list[dict]]:
        """The message for these entries; should its builder fail (a bug: builders fit any data), a
        plain one naming each record, so what was recorded is announced all the same."""
        try:
            if digest:
                return self.renderer.digest(taken, waiting=waiting)[0]
            return self.renderer.audit_line(taken[0])
        except Exception:  # noqa: BLE001 - logged with its traceback, and said in the channel
            log.exception("the line of %s could not be drawn; posting a plain one", taken[0].record_id)
            return self.renderer.plain_lines(taken), []

    def _reconcile(self, channel: str, taken: list[OutboxEntry]) -> tuple[int, list[OutboxEntry]]:
        """Entries whose last try may have posted their line (a dead holder's, or a failed call
        that may have gone through): look for that line before posting again. Returns how many
        were settled here and the entries still to send."""
        doubtful: dict[str, list[OutboxEntry]] = {}
        for entry in taken:
            if entry.target == AUDIT and entry.attempt and (entry.in_doubt or entry.state == HELD):
                doubtful.setdefault(entry.attempt, []).append(entry)
        if not doubtful:
            return 0, taken
        done: set[str] = set()
        settled = 0
        for attempt, entries in doubtful.items():
            oldest = min(e.created_at for e in entries) - HISTORY_MARGIN
            try:
                ts = self._slack().find_message(channel, attempt=attempt, oldest=oldest)
            except NotifyError as exc:
                # Unknown whether it is there: do not post it a second time blindly; ask again later.
                log.warning("could not check whether %d line(s) of %s were posted in %s: %s", len(entries), attempt,
                            channel, exc)
                settled += self._failed(entries, NotifyError(f"could not check whether it was posted: {exc}",
                                                             maybe_delivered=True, retry_after=exc.retry_after))
                done |= {e.entry_id for e in entries}
                continue
            if ts is None:
                continue
            result = {"channel": channel, "ts": ts, **({"digest": True} if attempt.endswith(":digest") else {})}
            self._settle([Settled(e.entry_id, DELIVERED, result=result) for e in entries])
            log.info("%d line(s) of an interrupted try were already in %s (ts %s): not posted again",
                     len(entries), channel, ts)
            settled += len(entries)
            done |= {e.entry_id for e in entries}
        return settled, [e for e in taken if e.entry_id not in done]

    def _update(self, entry: OutboxEntry) -> int:
        """Strike through the voided payment's line, once it is posted."""
        original = entry.facts["original"]["payment_id"]
        line = self.store.get_entry(entry_id(original, AUDIT))
        if line is not None and line.state in (PENDING, HELD):
            due = self.clock() + timedelta(seconds=self.policy.line_wait)
            self._settle([Settled(entry.entry_id, PENDING, due=due, error="waiting for the line it updates")])
            return 1
        where = lone_line(line) if line is not None else self.store.message_ref(original)
        if where is None and line is None and entry.facts.get("fallback_ts"):
            where = (entry.facts["fallback_channel"], entry.facts["fallback_ts"])
        if where is None:
            if line is not None and line.state == DELIVERED:
                reason = "the payment was announced in a digest: the void's own line says it"
            elif line is not None:
                reason = "the payment's own line was never posted (it is parked)"
            else:
                reason = "the payment has no audit line to update"
            self._settle([Settled(entry.entry_id, DELIVERED, result={"skipped": reason})])
            return 1
        message = self._render([entry], lambda: self.renderer.struck_line(entry))
        if message is None:
            return 1
        try:
            self._slack().update(where[0], where[1], *message)
        except NotifyError as exc:
            return self._failed([entry], exc, channel=where[0])
        finally:
            self._mark_slot(where[0])
        self._settle([Settled(entry.entry_id, DELIVERED, result={"channel": where[0], "ts": where[1]})])
        return 1

    # -- Slack: receipts and replies (not paced, cannot be looked up) ----------------------------------
    def _send_direct(self, entry: OutboxEntry) -> int:
        attempt = self._attempt_id(digest=False)
        taken = self._claim([entry], attempt)
        if not taken:
            return 0
        return self._direct(taken[0], attempt)

    def _direct(self, entry: OutboxEntry, attempt: str) -> int:
        """A receipt or a reply claimed as ``attempt`` (``entry`` as read before the claim)."""
        if entry.in_doubt:
            return self._park_in_doubt(entry, "Slack")
        if entry.target == RECEIPT:
            message = self._render([entry], lambda: (self.renderer.receipt(entry), []))
            send = None if message is None else (lambda: self._receipt(entry, message[0]))
        elif entry.target == REPLY:
            message = self._render([entry], lambda: self.renderer.reply(entry))
            send = None if message is None else (
                lambda: self._slack().respond(entry.facts["response_url"], *message, in_channel=True))
        else:
            return self._failed([entry], NotifyError(f"no channel to send {entry.target} {entry.entry_id} to"))
        if send is None:
            return 1
        self.store.mark_in_doubt([entry.entry_id], holder=self.holder, attempt=attempt)
        try:
            send()
        except NotifyError as exc:
            return self._failed([entry], exc)
        self._settle([Settled(entry.entry_id, DELIVERED, result={"sent": True})])
        return 1

    def _receipt(self, entry: OutboxEntry, text: str) -> None:
        channel, user = entry.facts.get("channel"), entry.facts["user"]
        if channel:
            try:
                self._slack().post_ephemeral(channel, user, text)
                return
            except NotifyError as exc:
                if exc.maybe_delivered or exc.retry_after is not None:
                    raise
                # Not in that channel (or it is gone): the direct message always works.
                log.info("could not post the receipt in %s (%s); sending it as a direct message", channel, exc)
        self._slack().direct_message(user, text)

    # -- email -------------------------------------------------------------------------------------------
    def _send_email(self, entry: OutboxEntry) -> int:
        attempt = self._attempt_id(digest=False)
        taken = self._claim([entry], attempt)
        if not taken:
            return 0
        return self._email(taken[0], attempt)

    def _email(self, entry: OutboxEntry, attempt: str) -> int:
        """An email copy claimed as ``attempt`` (``entry`` as read before the claim)."""
        if entry.in_doubt:
            return self._park_in_doubt(entry, "SES")
        if not mail_on(self.mailer) or self.email is None:
            return self._failed([entry], NotifyError(MAIL_OFF))
        message = self._render([entry], lambda: (self.renderer.email(entry, self.tz), []))
        if message is None:
            return 1
        mail = message[0]
        self.store.mark_in_doubt([entry.entry_id], holder=self.holder, attempt=attempt)
        try:
            message_id = self.mailer.send(self.email.sender, self.email.recipients, mail)
        except MailError as exc:
            log.warning("email %s to %s failed: %s", entry.entry_id, ", ".join(self.email.recipients), exc.reason)
            if exc.maybe_sent:
                return self._park_in_doubt(entry, "SES")
            parked = not exc.retryable or self._next(entry) is None
            self._settle([Settled(entry.entry_id, PARKED, error=exc.reason) if parked else
                          Settled(entry.entry_id, PENDING, due=self._next(entry), error=exc.reason)])
            if parked:
                self._announce_email_failure(entry, mail.subject, exc.reason)
            return 1
        log.info("email %s sent to %d recipients (%s)", entry.entry_id, len(self.email.recipients), message_id)
        self._settle([Settled(entry.entry_id, DELIVERED, result={"message_id": message_id})])
        return 1

    def _announce_email_failure(self, entry: OutboxEntry, subject: str, reason: str) -> None:
        assert self.email is not None
        announcement = self.announcer.email_failed(entry.entry_id, subject, self.email.recipients, reason,
                                                   self.clock())
        self.store.announce(announcement)
        self.announcer.ring(announcement.entries)

    # -- settling ----------------------------------------------------------------------------------------
    def _next(self, entry: OutboxEntry, wait: float | None = None) -> datetime | None:
        """The next try of an entry whose try just failed (its claim counted one more attempt);
        None once it has failed for ``park_after``."""
        now = self.clock()
        tries = entry.attempts + 1
        step = wait if wait is not None else self.policy.backoff[min(tries - 1, len(self.policy.backoff) - 1)]
        due = now + timedelta(seconds=step)
        return None if due - entry.created_at > self.policy.park_after else due

    def _failed(self, entries: Sequence[OutboxEntry], exc: NotifyError, *, channel: str | None = None) -> int:
        if exc.retry_after is not None and channel is not None:
            self._pause(channel, exc.retry_after)
        settled = []
        for entry in entries:
            due = self._next(entry, exc.retry_after)
            if due is None:
                log.error("%s parked: it has failed for %s; last error: %s", entry.entry_id, self.policy.park_after,
                          exc)
                settled.append(Settled(entry.entry_id, PARKED, error=str(exc), in_doubt=exc.maybe_delivered))
            else:
                settled.append(Settled(entry.entry_id, PENDING, due=due, error=str(exc), in_doubt=exc.maybe_delivered))
        log.warning("%d entr%s not delivered (%s); next try from %s", len(entries), "y" if len(entries) == 1 else "ies",
                    exc, min((s.due for s in settled if s.due), default="never: parked"))
        self._settle(settled)
        return len(entries)

    def _park_in_doubt(self, entry: OutboxEntry, service: str) -> int:
        reason = (f"an earlier try was interrupted after the call to {service} had started: it may have been sent, so "
                  "it is not sent again (`opsbot worker --retry-parked` sends it)")
        log.error("%s parked: %s", entry.entry_id, reason)
        self._settle([Settled(entry.entry_id, PARKED, error=reason, in_doubt=True)])
        return 1

    def _render(self, entries: Sequence[OutboxEntry], build: Callable[[], tuple]) -> tuple | None:
        """Build what an entry says; an entry that cannot be rendered (a bug, or facts from
        another version) is tried again later like a failed call, and parked after a day."""
        try:
            return build()
        except Exception as exc:  # noqa: BLE001 - logged with its traceback and kept on the entry
            log.exception("cannot render %s", ", ".join(e.entry_id for e in entries))
            self._failed(entries, NotifyError(f"cannot render it: {type(exc).__name__}: {exc}"))
            return None

    def _settle(self, settled: Sequence[Settled]) -> None:
        held_back = getattr(self._held_back, "settled", None)
        if held_back is not None:  # ``deliver``: settled together once every entry has been tried
            held_back.extend(settled)
            return
        self.store.settle_entries(settled, holder=self.holder, now=self.clock())

    def _claim(self, entries: Sequence[OutboxEntry], attempt: str, *, under_way: bool = False
               ) -> list[OutboxEntry]:
        return self.store.claim_entries(entries, holder=self.holder, attempt=attempt, now=self.clock(),
                                        lease=self.policy.lease, under_way=under_way)

    def _attempt_id(self, *, digest: bool) -> str:
        return f"{self.holder}#{next(self._attempts)}:{'digest' if digest else 'line'}"

    def _slack(self) -> Notifier:
        if self.notifier is None or not slack_on(self.notifier):
            raise NotifyError(SLACK_OFF)
        return self.notifier

    # -- pacing ------------------------------------------------------------------------------------------
    def _slot_wait(self, channel: str) -> float:
        with self._slots_lock:
            return max(self._slots.get(channel, 0.0) - self.monotonic(), 0.0)

    def _mark_slot(self, channel: str) -> None:
        with self._slots_lock:
            self._slots[channel] = max(self._slots.get(channel, 0.0), self.monotonic() + self.policy.pace)

    def _pause(self, channel: str, seconds: float) -> None:
        with self._slots_lock:
            self._slots[channel] = max(self._slots.get(channel, 0.0), self.monotonic() + seconds)

    # -- a write's own entries (Lambda's rung invocation) --------------------------------------------------
    def deliver(self, entries: Sequence[OutboxEntry], timeout: float) -> int:
        """Deliver exactly ``entries``, which one write has just announced (what Lambda's rung
        invocation carries), without looking at the lanes: claimed together, each only if the store
        holds it as given and nobody has tried it yet (a payload cannot make the bot say what the
        store does not hold); sent as ``drain`` sends them (a line's claim id in its metadata, a
        receipt marked under way before its call, a channel's pace); settled together. Whatever
        does not go now (taken by another deliverer, a failed call, not fresh, out of time) stays in
        the outbox for ``drain`` (Lambda's minute schedule). Returns how many entries were settled."""
        started = self.monotonic()
        given: dict[str, OutboxEntry] = {}
        for entry in entries:
            if entry.fresh:
                given.setdefault(entry.entry_id, entry)
        # The drain's order: Slack before email, a channel's line before a receipt.
        ordered = sorted(given.values(), key=lambda e: (e.lane != SLACK_LANE, not self._paced(e)))
        claims = [Claim(e, self._attempt_id(digest=False), under_way=self._paced(e)) for e in ordered]
        if not claims:
            return 0
        taken = {e.entry_id for e in self.store.claim_fresh(claims, holder=self.holder, now=self.clock(),
                                                              lease=self.policy.lease)}
        # A call starts only while half the claims' lease is left: it (10 s at most) and the settle
        # end before anyone may take the entries over and send them again.
        stop = min(started + timeout, started + self.policy.lease.total_seconds() / 2)
        settled: list[Settled] = []
        done = 0
        self._held_back.settled = settled
        try:
            for claim in claims:
                entry = claim.entry
                if entry.entry_id not in taken:
                    continue
                wait = self._slot_wait(entry.channel) if self._paced(entry) and entry.channel else 0.0
                if self.monotonic() + wait > stop:  # not in time: for the drain, untried
                    done += 1
                    self._settle([Settled(entry.entry_id, PENDING, due=self.clock() + timedelta(seconds=wait))])
                    continue
                if wait > 0:
                    time.sleep(wait)
                done += self._send_claimed(claim)
        finally:
            self._held_back.settled = None
            if settled:
                self.store.settle_entries(settled, holder=self.holder, now=self.clock(), together=True)
        return done

    def _send_claimed(self, claim: Claim) -> int:
        entry = claim.entry
        if entry.lane == EMAIL_LANE:
            return self._email(entry, claim.attempt)
        if self._paced(entry) and entry.channel:
            return self._post(entry.channel, [entry], claim.attempt, waiting=1)
        return self._direct(entry, claim.attempt)

    @staticmethod
    def _paced(entry: OutboxEntry) -> bool:
        """A message in a channel (chat.postMessage, chat.update), claimed under way."""
        return entry.target in PACED and bool(entry.channel)

    # -- running -----------------------------------------------------------------------------------------
    def drain(self, timeout: float) -> int:
        """Deliver what is due now, in this thread, pacing included (Lambda, the console, a
        test); returns how many entries were settled. Entries due later are left to a later run."""
        deadline = self.monotonic() + timeout
        settled = 0
        lanes = list(LANES)
        while self.monotonic() < deadline:
            rung = self.doorbell.generation
            passes = {lane: self.run_pass(lane, look_ahead=False) for lane in lanes}
            settled += sum(p.settled for p in passes.values())
            # A lane that found nothing due, or tried everything it found, is done (each look is a
            # request: on Lambda, this is what a write costs after its ack; what a failed try put off
            # is for a later run), unless something was announced meanwhile (an email that failed is
            # said in Slack): then every lane looks again.
            lanes = [lane for lane, p in passes.items() if p.wait is not None and not p.tried_all]
            if self.doorbell.generation != rung:
                lanes = list(LANES)
            if not lanes:
                return settled
            waits = [passes[lane].wait or 0.0 for lane in lanes if lane in passes]
            pause = min(min(waits, default=0.0), max(deadline - self.monotonic(), 0.0))
            if pause > 0:
                time.sleep(pause)
        return settled

    def start(self) -> None:
        """The in-process deliverer: one thread per lane, until ``stop``."""
        self._stop.clear()
        for lane in LANES:
            thread = threading.Thread(target=self._run, args=(lane,), name=f"outbox-{lane}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("outbox deliverer %s started", self.holder)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self.doorbell.ring()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _run(self, lane: str) -> None:
        failures = 0
        while not self._stop.is_set():
            seen = self.doorbell.generation
            try:
                result = self.run_pass(lane)
                failures = 0
            except StoreError as exc:
                failures += 1
                pause = min(2.0 ** failures, 30.0)
                log.error("outbox %s lane: the store failed (%s); trying again in %.0f s", lane, exc, pause)
                self._stop.wait(pause)
                continue
            except Exception:  # noqa: BLE001 - a bug must not end delivery for good: said loudly, tried again
                failures += 1
                log.exception("outbox %s lane failed; trying again", lane)
                self._stop.wait(min(2.0 ** failures, 30.0))
                continue
            if result.wait == 0.0 and result.next_due is None:
                continue  # more is due now
            if result.next_due is not None or result.wait is None:
                with self._state:
                    self._quiet[lane] = (seen, result.next_due)
                    self._state.notify_all()
            if result.paced:
                self._stop.wait(result.wait)  # the channel's pace: a new entry would not go sooner
                continue
            timeout = self.policy.idle_poll if result.wait is None else min(result.wait, self.policy.idle_poll)
            self.doorbell.wait(seen, timeout)

    def wait_idle(self, timeout: float = 30.0, horizon: float = 10.0) -> bool:
        """Block until every lane has looked at the store since the last ring (this call rings
        once) and found nothing due within ``horizon`` seconds (the started deliverer; for tests
        and shutdown). A ring meanwhile (a lane announcing an email failure) starts the wait over."""
        self.doorbell.ring()
        deadline = self.monotonic() + timeout

        def quiet() -> bool:
            generation = self.doorbell.generation
            for lane in LANES:
                seen, next_due = self._quiet.get(lane, (-1, None))
                if seen < generation:
                    return False
                if next_due is not None and (next_due - self.clock()).total_seconds() <= horizon:
                    return False
            return True

        with self._state:
            while not quiet():
                left = deadline - self.monotonic()
                if left <= 0:
                    return False
                self._state.wait(min(left, 0.05))
            return True
