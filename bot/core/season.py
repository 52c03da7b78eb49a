"""Money at a glance: the season's figures, computed once from the events' statuses
(the denormalised totals the store keeps beside each event: no payment is read)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from bot.core.domain import EventStatus

SOON_DAYS = (7, 30)  # "owed in the next 7 and 30 days"


@dataclass(frozen=True)
class Owed:
    """What events in a window still owe: their balances (overpayments not netted) and how many owe."""

    days: int
    cents: int
    events: int


@dataclass(frozen=True)
class SeasonTotals:
    collected_cents: int  # paid on every event of events.json, voids netted
    total_cents: int  # what every event of events.json comes to
    owed_soon: tuple[Owed, ...]  # events dated from today to today + days, for each of SOON_DAYS
    overdue: Owed  # events already past that still owe (``days`` is 0)

    @property
    def collected_percent(self) -> int:
        if self.total_cents <= 0:
            return 100
        return max(0, min(100, self.collected_cents * 100 // self.total_cents))


def owing(statuses: Iterable[EventStatus], days: int = 0) -> Owed:
    owe = [s for s in statuses if s.balance_cents > 0]
    return Owed(days, sum(s.balance_cents for s in owe), len(owe))


def due_within(statuses: Iterable[EventStatus], start: date, days: int) -> list[EventStatus]:
    """Events dated from ``start`` to ``start + days`` (both included) that still owe, soonest first."""
    end = start + timedelta(days=days)
    soon = [s for s in statuses if s.event.date is not None and start <= s.event.date <= end and s.balance_cents > 0]
    return sorted(soon, key=lambda s: (s.event.date, s.event.id))


def season_totals(statuses: Sequence[EventStatus], today: date) -> SeasonTotals:
    """The figures for every event given (the whole of events.json, past ones included)."""
    past = owing(s for s in statuses if s.event.date is not None and s.event.date < today)
    return SeasonTotals(
        collected_cents=sum(s.paid_cents for s in statuses),
        total_cents=sum(s.total_cents for s in statuses),
        owed_soon=tuple(owing(due_within(statuses, today, days), days) for days in SOON_DAYS),
        overdue=past,
    )
