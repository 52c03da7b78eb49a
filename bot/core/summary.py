"""The daily payment summary and the morning reminders: figures from the ledger."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.core.domain import EventStatus, Payment
from bot.core.ledger import Ledger
from bot.core.season import due_within

OUTSTANDING_DAYS = 7  # the summary lists balances of events this many days ahead
REMINDER_DAYS = 3  # reminders cover events this many days ahead


@dataclass(frozen=True)
class Tally:
    count: int = 0
    cents: int = 0

    def add(self, cents: int) -> Tally:
        return Tally(self.count + 1, self.cents + cents)


@dataclass(frozen=True)
class Comparison:
    """A day's payments against those of the same weekday a week before."""

    day: date  # the day compared with
    then: Tally
    now: Tally

    @property
    def cents(self) -> int:
        return self.now.cents - self.then.cents

    @property
    def count(self) -> int:
        return self.now.count - self.then.count


@dataclass(frozen=True)
class DaySummary:
    day: date
    payments: tuple[Payment, ...]  # the day's payments (not voids), oldest first
    voids: tuple[Payment, ...]  # the day's voids (negative amounts)
    titles: dict[str, str]  # event id -> title, for every event named above
    outstanding: tuple[EventStatus, ...]  # events in the next days with money owed
    by_method: dict[str, Tally] = field(default_factory=dict)
    by_event: dict[str, Tally] = field(default_factory=dict)
    by_logger: dict[str, Tally] = field(default_factory=dict)
    week_before: Tally = Tally()  # the payments of the same weekday a week before

    @property
    def total(self) -> Tally:
        return Tally(len(self.payments), sum(p.amount_cents for p in self.payments))

    @property
    def versus_last_week(self) -> Comparison:
        return Comparison(self.day - timedelta(days=7), self.week_before, self.total)

    @property
    def voided(self) -> Tally:
        return Tally(len(self.voids), -sum(v.amount_cents for v in self.voids))

    @property
    def stripe(self) -> Tally:
        online = [p for p in self.payments if p.method == "stripe"]
        return Tally(len(online), sum(p.amount_cents for p in online))

    @property
    def net_cents(self) -> int:
        return self.total.cents - self.voided.cents

    @property
    def quiet(self) -> bool:
        return not self.payments and not self.voids


def build_summary(ledger: Ledger, day: date) -> DaySummary:
    """One day's figures in the crew time zone, from the day index: one query for the
    day and one for the same weekday a week before."""
    records = ledger.day_payments(day)
    before = [r for r in ledger.day_payments(day - timedelta(days=7)) if not r.is_reversal]
    payments = tuple(r for r in records if not r.is_reversal)
    voids = tuple(r for r in records if r.is_reversal)  # voids and Stripe refunds: what took money back
    by_method: dict[str, Tally] = defaultdict(Tally)
    by_event: dict[str, Tally] = defaultdict(Tally)
    by_logger: dict[str, Tally] = defaultdict(Tally)
    for p in payments:
        by_method[p.method] = by_method[p.method].add(p.amount_cents)
        by_event[p.event_id] = by_event[p.event_id].add(p.amount_cents)
        by_logger[_logger(p)] = by_logger[_logger(p)].add(p.amount_cents)
    titles = {}
    for event_id in {r.event_id for r in records}:
        event = ledger.catalog.event(event_id)
        titles[event_id] = event.title if event else event_id
    return DaySummary(
        day=day, payments=payments, voids=voids, titles=titles,
        outstanding=tuple(owed_between(ledger, day, OUTSTANDING_DAYS)),
        by_method=_in_list_order(by_method, ledger.catalog.payment_methods), by_event=_biggest_first(by_event),
        by_logger=_biggest_first(by_logger),
        week_before=Tally(len(before), sum(r.amount_cents for r in before)),
    )


def owed_between(ledger: Ledger, start: date, days: int) -> list[EventStatus]:
    """Events dated from ``start`` to ``start + days`` (inclusive) that still have a balance, soonest first."""
    end = start + timedelta(days=days)
    return due_within(ledger.statuses([e for e in ledger.catalog.events if e.date and start <= e.date <= end]),
                      start, days)


def _logger(p: Payment) -> str:
    """Who logged a payment: a Slack user id, or where it came from."""
    if p.source == "stripe":
        return "stripe"
    if p.source == "api":
        return "web API"
    return p.logged_by


def _in_list_order(tallies: dict[str, Tally], methods: tuple[str, ...]) -> dict[str, Tally]:
    """The crew's methods in the order events.json lists them, then any other (stripe, or a method
    taken out of the list since it was used) biggest first."""
    listed = {m: tallies[m] for m in methods if m in tallies}
    return {**listed, **_biggest_first({m: t for m, t in tallies.items() if m not in listed})}


def _biggest_first(tallies: dict[str, Tally]) -> dict[str, Tally]:
    return dict(sorted(tallies.items(), key=lambda kv: (-kv[1].cents, kv[0])))
