"""Asking the permission table, with what happened recorded by the service, not the caller: a
refused request is written to the audit log and, when there is an ops channel, to the outbox with
one write (the request's answer never waits for Slack). Every Slack request passes through here
(handlers/access_middleware.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from bot.core.access import Access, Refusal
from bot.core.ledger import Clock
from bot.core.outbox import Announcer
from bot.core.ports import Store


def new_refusal_id() -> str:
    return f"refusal_{uuid.uuid4().hex[:16]}"


class Gate:
    def __init__(self, access: Access, store: Store, announcer: Announcer, clock: Clock, *,
                 new_id: Callable[[], str] = new_refusal_id):
        self.access, self.store, self.announcer, self.clock, self.new_id = access, store, announcer, clock, new_id

    def check(self, user_id: str, action: str, *, entry_point: str | None, outsider: bool = False,
              outsider_team: str | None = None) -> None:
        """Raise Refusal unless ``user_id`` may do ``action``. A refusal of a request to do something
        (``entry_point`` names it: "command /deploy") is recorded first; None for what is no such
        request (opening the Home tab, typing in a menu: Slack sends these often). ``outsider_team``:
        the other organisation's workspace, said in the record of an outsider's refusal."""
        try:
            self.access.check(user_id, action, outsider=outsider)
        except Refusal as refusal:
            if entry_point is not None:
                self._record(refusal, entry_point, outsider_team if refusal.outsider else None)
            raise

    def _record(self, refusal: Refusal, entry_point: str, outsider_team: str | None) -> None:
        announcement = self.announcer.refused(
            refusal_id=self.new_id(), user_id=refusal.user_id, action=refusal.action, needed=refusal.needed.value,
            entry_point=entry_point, now=self.clock(), outsider_team=outsider_team)
        self.store.announce(announcement)
        self.announcer.ring(announcement.entries)
