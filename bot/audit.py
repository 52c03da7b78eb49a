"""Audit lines in the ops channel: one per payment and per void, each posted once."""

from __future__ import annotations

import logging

from blocks.audit import payment_audit, void_audit, voided_payment_audit
from bot.ledger import LedgerResult
from bot.once import Once
from bot.ports import Notifier, NotifyError, Store

log = logging.getLogger(__name__)


class AuditTrail:
    def __init__(self, store: Store, notifier: Notifier | None, channel: str | None, once: Once):
        self.store = store
        self.notifier = notifier
        self.channel = channel
        self.once = once

    @property
    def enabled(self) -> bool:
        return self.notifier is not None and self.channel is not None

    def payment_recorded(self, result: LedgerResult) -> bool:
        """Post the payment's audit line (with its Void button). False when it
        was already posted, or when no audit channel is configured."""
        if not self.enabled:
            log.info("audit channel not configured; payment %s not announced", result.payment.payment_id)
            return False
        payment = result.payment
        overpaid = result.status.balance_cents < 0 and payment.method == "stripe"

        def post() -> None:
            text, blocks = payment_audit(payment, result.status, overpaid_note=overpaid)
            ts = self.notifier.post(self.channel, text, blocks)
            self.store.set_message_ref(payment.payment_id, self.channel, ts)

        return self.once.run(f"audit:{payment.payment_id}", post)

    def payment_voided(self, result: LedgerResult, *, message: tuple[str, str] | None = None) -> bool:
        """Strike through the voided payment's audit line (found in the store,
        else at ``message`` = (channel, ts)) and post a new line for the void."""
        if not self.enabled:
            log.info("audit channel not configured; void %s not announced", result.payment.payment_id)
            return False
        void = result.payment
        original = self.store.get_payment(void.voids) if void.voids else None

        def post() -> None:
            text, blocks = void_audit(void, result.status)
            ts = self.notifier.post(self.channel, text, blocks)
            self.store.set_message_ref(void.payment_id, self.channel, ts)

        posted = self.once.run(f"audit:{void.payment_id}", post)
        where = (self.store.message_ref(original.payment_id) if original else None) or message
        if original is not None and where is not None:
            text, blocks = voided_payment_audit(original, result.status, void)
            try:
                self.notifier.update(where[0], where[1], text, blocks)
            except NotifyError:
                # The new void line is already posted; a stale Void button on the
                # old line is harmless (a second void does nothing), so say so and go on.
                log.warning("could not strike through the audit line of %s", original.payment_id, exc_info=True)
        return posted
