"""Do a thing once per key, across retries, duplicate deliveries and processes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from bot.core.ledger import Clock, utc_now
from bot.core.ports import Store

# How long a process may hold a claim before another may take it over (the
# holder died between claiming and finishing).
DEFAULT_LEASE = timedelta(minutes=5)


class Once:
    def __init__(self, store: Store, clock: Clock = utc_now, lease: timedelta = DEFAULT_LEASE):
        self.store = store
        self.clock = clock
        self.lease = lease
        self.holder = f"{uuid.uuid4().hex[:12]}"

    def run(self, key: str, work: Callable[[], object]) -> bool:
        """Run ``work`` unless ``key`` was already done (or is being done).
        If ``work`` raises, the claim is given back so a retry can do it."""
        if not self.store.claim(key, holder=self.holder, now=self.clock(), lease=self.lease):
            return False
        try:
            work()
        except BaseException:
            self.store.release_claim(key, holder=self.holder)
            raise
        self.store.complete_claim(key, holder=self.holder)
        return True
