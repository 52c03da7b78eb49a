"""Email copies of payments, voids and the daily summary, for admins who live in their inbox.

Email never holds up Slack or a payment: a copy is handed to a background
worker (a thread in a long-running process, a second invocation on Lambda) and
the caller goes on. Each copy is sent at most once per record (a claim in the
store keyed by what it copies), retried with backoff when SES may take it
later, and a copy that cannot be sent is logged and noted once in the audit channel."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import tzinfo
from typing import TYPE_CHECKING

from blocks.email import payment_email, summary_email, void_email
from bot.ports import Mailer, MailError, NotifyError, OutgoingEmail
from bot.summary import DaySummary

if TYPE_CHECKING:
    from bot.audit import AuditTrail
    from bot.config import EmailSettings
    from bot.ledger import LedgerResult
    from bot.once import Once

log = logging.getLogger("opsbot.email")

# Seconds to wait before each retry: four tries over about 40 s (within the claim's lease).
BACKOFF = (2.0, 8.0, 30.0)

Dispatch = Callable[[OutgoingEmail], None]


def claim_key(email: OutgoingEmail) -> str:
    return f"email:{email.key}"


class EmailCopies:
    def __init__(self, mailer: Mailer, settings: EmailSettings, once: Once, audit: AuditTrail, tz: tzinfo, *,
                 dispatch: Dispatch | None = None, sleep: Callable[[float], None] = time.sleep,
                 backoff: Sequence[float] = BACKOFF):
        self.mailer = mailer
        self.settings = settings
        self.once = once
        self.audit = audit
        self.tz = tz
        self.sleep = sleep
        self.backoff = tuple(backoff)
        self.dispatch = dispatch or self._in_background
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0
        self._idle = threading.Condition()

    # -- what gets copied ---------------------------------------------------------------------------
    def payment_recorded(self, result: LedgerResult) -> None:
        """Hand the payment's email to the background worker (a Stripe payment says so in its subject)."""
        self.dispatch(payment_email(result.payment, result.status, self.tz))

    def payment_voided(self, result: LedgerResult) -> None:
        self.dispatch(void_email(result.payment, result.status, self.tz))

    def daily_summary(self, summary: DaySummary) -> bool:
        """Send the day's summary now, once (the scheduler's job is already in the background)."""
        return self.deliver(summary_email(summary))

    # -- sending ------------------------------------------------------------------------------------
    def deliver(self, email: OutgoingEmail) -> bool:
        """Send ``email`` unless it was sent already; True when this call sent it.
        A copy that cannot be sent is logged and noted in the audit channel, never raised:
        the record it copies is safe either way."""
        try:
            return self.once.run(claim_key(email), lambda: self._send_with_retries(email))
        except MailError as exc:
            # The claim was given back: a later announcement of the same record may try again.
            log.error("email %s to %s failed: %s", email.key, ", ".join(self.settings.recipients), exc.reason)
            self._note_failure(email, exc)
            return False

    def send_now(self, email: OutgoingEmail) -> str:
        """An explicit request (``opsbot summary --email``): send, with retries, no claim. Raises MailError."""
        return self._send_with_retries(email)

    def _send_with_retries(self, email: OutgoingEmail) -> str:
        for attempt, delay in enumerate((*self.backoff, None), start=1):
            try:
                message_id = self.mailer.send(self.settings.sender, self.settings.recipients, email)
            except MailError as exc:
                if not exc.retryable or delay is None:
                    raise
                log.warning("email %s: try %d failed (%s); trying again in %.0f s", email.key, attempt, exc.reason,
                            delay)
                self.sleep(delay)
                continue
            log.info("email %s sent to %d recipients (%s)", email.key, len(self.settings.recipients), message_id)
            return message_id
        raise AssertionError("unreachable: the last try raises or returns")

    def _note_failure(self, email: OutgoingEmail, error: MailError) -> None:
        from blocks.audit import email_failed_audit

        recipients = list(self.settings.recipients)
        # Every failed round is kept in the audit log; the channel hears of it once.
        self.audit.note(actor="opsbot", action="email.send", result="failed",
                        detail={"email": email.key, "to": recipients, "reason": error.reason})
        try:
            self.audit.post_once(f"email-failed:{email.key}",
                                 lambda: email_failed_audit(recipients, email.subject, error.reason))
        except NotifyError:
            log.error("the failure of email %s could not be noted in the audit channel either", email.key,
                      exc_info=True)

    # -- the background worker (long-running processes) ---------------------------------------------
    def _in_background(self, email: OutgoingEmail) -> None:
        with self._idle:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="email")
            self._pending += 1
        future = self._executor.submit(self.deliver, email)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        error = future.exception()
        if error is not None:  # e.g. the store was unreachable for the claim: say so loudly
            log.error("email worker failed", exc_info=error)
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def flush(self, timeout: float = 120) -> bool:
        """Wait until every handed-over email is sent or given up (before a process exits). False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)
