"""Audit lines in the ops channel: one per payment and per void, each posted once;
and, when email is on, the email copy of each (handed to the background, never waited for)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from blocks.audit import payment_audit, void_audit, voided_payment_audit
from blocks.deploy import deploy_audit
from blocks.mrkdwn import escape
from bot.access import Refusal
from bot.deploy_plan import DeployRun
from bot.domain import AuditEntry
from bot.ledger import LedgerResult
from bot.once import Once
from bot.ports import Notifier, NotifyError, Store

if TYPE_CHECKING:
    from bot.email_copies import EmailCopies

log = logging.getLogger(__name__)
UTC_ZONE = ZoneInfo("UTC")


def _drawn(record_id: str, line: Callable[[], tuple[str, list[dict]]]) -> tuple[str, list[dict] | None]:
    """The audit line, or, should its builder fail (a bug: builders fit any data), a
    plain line naming the record, so the record it announces never turns into an error."""
    try:
        return line()
    except Exception:  # noqa: BLE001 - logged with its traceback, and said in the channel
        log.exception("the audit line of %s could not be drawn; posting a plain one", record_id)
        return f"`{escape(record_id)}` was recorded; its audit line could not be drawn (see the bot's log).", None


class AuditTrail:
    def __init__(self, store: Store, notifier: Notifier | None, channel: str | None, once: Once,
                 tz: ZoneInfo = UTC_ZONE):
        self.store = store
        self.notifier = notifier
        self.channel = channel
        self.once = once
        self.tz = tz
        # Email copies (bot.email_copies.EmailCopies), set by the composition root when email is on.
        self.copies: EmailCopies | None = None

    def note(self, *, actor: str, action: str, result: str, detail: dict[str, Any],
             entry_id: str | None = None, at: datetime | None = None) -> AuditEntry:
        """Keep an entry in the store's audit log (whether or not Slack is set up).
        A record's entry has a fixed id and time, so writing it again is a no-op."""
        at = at or self.once.clock()
        entry = AuditEntry(entry_id=entry_id or uuid.uuid4().hex[:16], at=at, day=at.astimezone(self.tz).date()
                           .isoformat(), actor=actor, action=action, result=result, detail=detail)
        self.store.add_audit(entry)
        return entry

    def refused(self, refusal: Refusal, entry_point: str, *, team: str | None = None) -> None:
        """A refused request: in the audit log and, when set up, in the ops channel.
        ``team``: the other organisation's workspace of someone refused as an outsider."""
        detail = {"entry": entry_point, "needs": refusal.needed.value}
        if refusal.outsider:
            detail["outsider_team"] = team or "unknown"
        self.note(actor=refusal.user_id, action=refusal.action, result="refused", detail=detail)
        if not self.enabled:
            return
        who = f"<@{refusal.user_id}>" if refusal.user_id else "Someone"
        if refusal.outsider:
            text = (f":no_entry: {who}, of another organisation (team `{escape(team or 'unknown')}`, "
                    f"through a shared channel), was refused `{escape(entry_point)}`: only this "
                    "workspace's crew may use opsbot.")
        else:
            text = (f":no_entry: {who} was refused `{escape(entry_point)}`: it needs the "
                    f"{refusal.needed.value} role.")
        try:
            self.notifier.post(self.channel, text)
        except NotifyError:
            # The refusal itself stands and is in the audit log; the channel line is a courtesy.
            log.warning("could not post the refusal of %s to the audit channel", refusal.user_id, exc_info=True)

    @property
    def enabled(self) -> bool:
        return self.notifier is not None and self.channel is not None

    def post_once(self, record_id: str, line: Callable[[], tuple[str, list[dict]]]) -> bool:
        """The one way an audit line reaches the ops channel: once per record
        (a claim in the store), its position kept so it can be updated later.
        False when it was already posted or no audit channel is configured."""
        if not self.enabled:
            log.info("audit channel not configured; %s not announced", record_id)
            return False

        sent: list[str] = []

        def post() -> None:
            sent.append(self.notifier.post(self.channel, *_drawn(record_id, line)))

        if not self.once.run(f"audit:{record_id}", post):
            return False
        # Kept once the claim is done: were the store to fail here, the claim must
        # not be given back, or a retry would post the line a second time.
        self.store.set_message_ref(record_id, self.channel, sent[0])
        return True

    def payment_recorded(self, result: LedgerResult) -> bool:
        """Post the payment's audit line (with its Void button) and hand its email
        copy over. False when the line was already posted, or when no audit channel is configured."""
        p = result.payment
        self.note(actor=p.logged_by, action="payment.log", result="ok", entry_id=f"payment:{p.payment_id}",
                  at=p.recorded_at, detail={"payment_id": p.payment_id, "event_id": p.event_id,
                                            "amount_cents": p.amount_cents, "method": p.method, "source": p.source})
        if self.copies is not None:
            self.copies.payment_recorded(result)  # handed over first: a Slack failure below must not lose it
        overpaid = result.status.balance_cents < 0 and p.method == "stripe"
        return self.post_once(p.payment_id, lambda: payment_audit(p, result.status, overpaid_note=overpaid))

    def payment_voided(self, result: LedgerResult, *, message: tuple[str, str] | None = None) -> bool:
        """Strike through the voided payment's audit line (found in the store,
        else at ``message`` = (channel, ts)), post a new line for the void and hand its email copy over."""
        v = result.payment
        self.note(actor=v.logged_by, action="payment.void", result="ok", entry_id=f"void:{v.payment_id}",
                  at=v.recorded_at, detail={"void_id": v.payment_id, "payment_id": v.voids, "event_id": v.event_id,
                                            "amount_cents": v.amount_cents})
        if self.copies is not None:
            self.copies.payment_voided(result)
        if not self.enabled:
            log.info("audit channel not configured; void %s not announced", v.payment_id)
            return False
        void = v
        original = self.store.get_payment(void.voids) if void.voids else None
        posted = self.post_once(void.payment_id, lambda: void_audit(void, result.status))
        where = (self.store.message_ref(original.payment_id) if original else None) or message
        if original is not None and where is not None:
            text, blocks = _drawn(original.payment_id, lambda: voided_payment_audit(original, result.status, void))
            try:
                self.notifier.update(where[0], where[1], text, blocks)
            except NotifyError:
                # The new void line is already posted; a stale Void button on the
                # old line is harmless (a second void does nothing), so say so and go on.
                log.warning("could not strike through the audit line of %s", original.payment_id, exc_info=True)
        return posted

    def deploy_finished(self, run: DeployRun) -> bool:
        """Keep the deploy in the audit log and post its line (who, site, target, counts, result), once."""
        self.note(actor=run.by, action="deploy.run", result="failed" if run.failed_step else "ok",
                  entry_id=f"deploy:{run.deploy_id}", at=run.started_at,
                  detail={"deploy_id": run.deploy_id, "site": run.site.id, "target": run.target,
                          "uploaded": run.uploaded, "copied": run.copied, "deleted": run.deleted,
                          "invalidation_id": run.invalidation_id, "failed_step": run.failed_step})
        return self.post_once(run.deploy_id, lambda: deploy_audit(run))
