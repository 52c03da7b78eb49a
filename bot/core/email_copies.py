"""Email for admins who live in their inbox.

The copy of each payment, void and Stripe payment is an outbox entry written
with the record (bot/core/outbox.py) and sent by the deliverer (bot/core/deliverer.py),
never on the request's thread. What is left here is the daily summary, sent
by the scheduler's job (already in the background) at most once per day (a
claim in the store), retried with backoff when SES may take it later; a
summary that cannot be sent is logged and said once in the ops channel."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.core.ports import Mailer, MailError, OutgoingEmail, Store

if TYPE_CHECKING:
    from bot.core.ledger import Clock
    from bot.core.once import Once
    from bot.core.outbox import Announcer
    from bot.core.ports import EmailSettings

log = logging.getLogger("opsbot.email")

# Seconds to wait before each retry: four tries over about 40 s (within the claim's lease).
BACKOFF = (2.0, 8.0, 30.0)


def claim_key(email: OutgoingEmail) -> str:
    return f"email:{email.key}"


class NoEmail:
    """Email is off (OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO not set): nothing is sent, and ``on`` says so."""

    on = False
    recipients: tuple[str, ...] = ()

    def deliver(self, email: OutgoingEmail) -> bool:
        return False

    def send_now(self, email: OutgoingEmail) -> str:
        raise MailError("email is off: set OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO", retryable=False)


class EmailCopies:
    on = True

    def __init__(self, mailer: Mailer, settings: EmailSettings, once: Once, store: Store, announcer: Announcer,
                 clock: Clock, *, sleep: Callable[[float], None] = time.sleep, backoff: Sequence[float] = BACKOFF):
        self.mailer = mailer
        self.settings = settings
        self.once = once
        self.store = store
        self.announcer = announcer
        self.clock = clock
        self.sleep = sleep
        self.backoff = tuple(backoff)

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(self.settings.recipients)

    def deliver(self, email: OutgoingEmail) -> bool:
        """Send ``email`` (the day's summary: blocks/email.py draws it) unless it was sent already, now
        (the scheduler's job is already in the background); True when this call sent it.
        One that cannot be sent is logged and said in the ops channel, never raised."""
        try:
            return self.once.run(claim_key(email), lambda: self._send_with_retries(email))
        except MailError as exc:
            # The claim was given back: the job's next run may try again.
            log.error("email %s to %s failed: %s", email.key, ", ".join(self.settings.recipients), exc.reason)
            announcement = self.announcer.email_failed(email.key, email.subject, self.settings.recipients,
                                                       exc.reason, self.clock())
            self.store.announce(announcement)
            self.announcer.ring(announcement.entries)
            return False

    def send_now(self, email: OutgoingEmail) -> str:
        """An explicit request (``opsbot summary --email``): send, with retries, no claim. Raises MailError."""
        return self._send_with_retries(email)

    def _send_with_retries(self, email: OutgoingEmail) -> str:
        for attempt, delay in enumerate((*self.backoff, None), start=1):
            try:
                message_id = self.mailer.send(self.settings.sender, self.settings.recipients, email)
            except MailError as exc:
                if not exc.retryable or exc.maybe_sent or delay is None:
                    raise
                log.warning("email %s: try %d failed (%s); trying again in %.0f s", email.key, attempt, exc.reason,
                            delay)
                self.sleep(delay)
                continue
            log.info("email %s sent to %d recipients (%s)", email.key, len(self.settings.recipients), message_id)
            return message_id
        raise AssertionError("unreachable: the last try raises or returns")
