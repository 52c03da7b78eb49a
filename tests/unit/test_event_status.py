"""The figures derived from an event's status, computed once on EventStatus (bot/core/domain.py)."""

from __future__ import annotations

import pytest

from bot.core.domain import Event, EventStatus

EVENT = Event(id="jada", title="JADA Charter", date=None, total_cents=156_000)


@pytest.mark.parametrize("paid, owed, overpaid, cleared", [
    (0, 156_000, 0, False),
    (112_500, 43_500, 0, False),
    (156_000, 0, 0, True),
    (160_000, 0, 4_000, True),
])
def test_owed_never_below_zero_and_overpaid_beyond_the_total(paid, owed, overpaid, cleared):
    status = EventStatus(EVENT, paid_cents=paid, payment_count=1)
    assert (status.owed_cents, status.overpaid_cents, status.cleared) == (owed, overpaid, cleared)
    assert status.balance_cents == owed - overpaid
