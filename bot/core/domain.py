"""Domain types shared by the services, the adapters and the Slack layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

# The crew's payment methods when events.json lists none ("paymentMethods"): the catalog holds the list in use.
DEFAULT_PAYMENT_METHODS = ("cash", "card", "check", "venmo", "zelle")
STRIPE_METHOD = "stripe"  # set only by the Stripe webhook: never one of the crew's methods

PATRON_MAX = 100
NOTES_MAX = 500


@dataclass(frozen=True)
class Event:
    id: str
    title: str
    date: date | None
    total_cents: int
    site: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


# Never published, whatever a site lists: operating-system litter and version-control folders.
NEVER_PUBLISHED_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
NEVER_PUBLISHED_DIRS = frozenset({".git", ".svn", ".hg"})


@dataclass(frozen=True)
class Site:
    id: str
    bucket: str
    distribution_id: str
    source: Path  # the real folder (symbolic links resolved when events.json was loaded)
    url: str
    prefix: str = ""  # "" (the whole bucket) or "name/": the site's own part of a shared bucket
    include: tuple[str, ...] = ()  # dotfiles and dotfolders to publish, as paths inside the source


@dataclass(frozen=True)
class Link:
    """One entry of events.json's ``links``: a page the crew opens (a dashboard, a sheet, a console)."""

    title: str
    url: str  # https, with a host (checked when events.json is loaded)
    note: str = ""


@dataclass(frozen=True)
class LinkGroup:
    name: str  # "Stripe", "Sheets", "AWS", ...
    links: tuple[Link, ...]


# Record kinds. A payment stands on its own; the others name the payment they act on (``voids``):
PAYMENT = "payment"
VOID = "void"  # reverses what is left of a payment (all of it, unless Stripe refunded part)
REFUND = "refund"  # a Stripe refund that succeeded: part or all of a Stripe payment paid back (negative)
REFUND_FAILED = "refund_failed"  # a recorded refund that Stripe later failed or canceled: the money back (positive)


@dataclass(frozen=True)
class Payment:
    """One ledger record: a payment, or a record that acts on one (``voids`` names it): a void or a
    refund (negative amounts), or a failed refund putting a refund's money back (positive). Readers
    treat any record with ``voids`` set as a change to that payment, counted with its sign."""

    payment_id: str
    event_id: str
    patron: str
    amount_cents: int
    method: str
    notes: str
    logged_by: str
    recorded_at: datetime  # timezone-aware, UTC
    day: str  # YYYY-MM-DD in the crew time zone
    source: str = "slack"  # slack | api | stripe | console
    kind: str = PAYMENT  # payment | void | refund | refund_failed
    voids: str | None = None  # for a reversal (a void, a refund, a failed refund): the payment it acts on
    voided_by: str | None = None  # for a payment: the void that reversed it
    stripe_id: str | None = None  # the Stripe object it came from: a Checkout Session (cs_…), a refund (re_…)
    payment_intent: str | None = None  # for Stripe payments and refunds: the PaymentIntent (pi_…) of the money
    refunded_cents: int = 0  # for a payment: what Stripe refunds have taken back of it so far

    @property
    def is_void(self) -> bool:
        return self.kind == VOID

    @property
    def is_refund(self) -> bool:
        """A Stripe refund, or a failed one putting the money back: both change what stands of a payment."""
        return self.kind in (REFUND, REFUND_FAILED)

    @property
    def is_reversal(self) -> bool:
        """A record that acts on a payment (``voids`` names it) rather than a payment of its own."""
        return self.voids is not None

    @property
    def left_cents(self) -> int:
        """What still stands of a payment: nothing once voided, else its amount less what was refunded."""
        if self.is_reversal or self.voided_by is not None:
            return 0
        return self.amount_cents - self.refunded_cents

    @property
    def reversed_in_full(self) -> bool:
        """A payment voided, or refunded to the last cent."""
        return not self.is_reversal and self.left_cents <= 0

    @property
    def fingerprint(self) -> tuple:
        """What makes two writes under one idempotency key the same payment (a retry)
        rather than another payment: the stores compare it before answering a replay."""
        return request_fingerprint(self.event_id, self.patron, self.amount_cents, self.method, self.notes, self.kind)


def request_fingerprint(event_id: str | None, patron: str, amount_cents: int | None, method: str, notes: str,
                        kind: str = "payment") -> tuple:
    return (event_id, patron, amount_cents, method, notes, kind)


@dataclass(frozen=True)
class EventTotals:
    """Denormalised totals the store keeps beside each event."""

    event_id: str
    paid_cents: int = 0
    payment_count: int = 0


@dataclass(frozen=True)
class EventStatus:
    event: Event
    paid_cents: int
    payment_count: int

    @property
    def total_cents(self) -> int:
        return self.event.total_cents

    @property
    def balance_cents(self) -> int:
        return self.event.total_cents - self.paid_cents

    @property
    def owed_cents(self) -> int:
        """What is still owed: the balance, never below zero (an overpaid event owes nothing)."""
        return max(self.balance_cents, 0)

    @property
    def overpaid_cents(self) -> int:
        """What was paid beyond the total (0 unless overpaid)."""
        return max(-self.balance_cents, 0)

    @property
    def cleared(self) -> bool:
        return self.paid_cents >= self.event.total_cents

    @property
    def paid_percent(self) -> int:
        """How much of the total is paid, in whole percent rounded down (so 100 only when
        cleared), held to 0..100 (an overpaid event is 100)."""
        if self.total_cents <= 0:
            return 100
        return max(0, min(100, self.paid_cents * 100 // self.total_cents))


@dataclass(frozen=True)
class PatronTotal:
    """What one patron has paid, over the records read (one event's, or the whole ledger's)."""

    key: str  # patron_key of their name (bot/core/patrons.py)
    name: str  # as typed on their latest record
    total_cents: int  # payments less what reversals took back
    payments: int  # payments that still stand (not reversed in full)
    records: int  # every record of theirs, reversals included

    @property
    def reversed_in_full(self) -> bool:
        return self.payments == 0 and self.total_cents == 0


@dataclass(frozen=True)
class EventOverview:
    """What ``/events EVENT`` shows of the ledger, read in a bounded number of steps whatever
    the event's history: the totals, how many records there are, the newest of them and what
    each patron paid (kept beside the totals by every write, not summed from the records)."""

    totals: EventTotals
    records: int  # every record of the event, reversals included
    recent: tuple[Payment, ...]  # the newest records, oldest first
    patrons: tuple[PatronTotal, ...]  # one per patron, in key order


@dataclass(frozen=True)
class RecordOutcome:
    """What a write did: the record, the event totals right after it, and
    whether it was a replay of an earlier write with the same idempotency key."""

    payment: Payment
    totals: EventTotals
    replayed: bool = False
    acted_on: Payment | None = None  # a void's or a refund's payment, as it stands after the write


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log kept in the store (and, when Slack is set up, in the ops channel)."""

    entry_id: str  # deterministic for records (so a retry writes it once), random for refusals
    at: datetime  # timezone-aware, UTC
    day: str  # YYYY-MM-DD in the crew time zone
    actor: str  # Slack user id, "web API", "stripe", ...
    action: str  # "payment.log", "payment.void", "refused", "deploy.run", ...
    result: str  # "ok", "refused", "failed", ...
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventsPage:
    """A list of events as ``/events`` shows it: the first ones with their totals, and of the rest only how
    many there are and what they still owe (summed, never drawn)."""

    shown: tuple[EventStatus, ...]
    hidden: int = 0
    hidden_owed_cents: int = 0  # the unpaid balances of the events not shown (an overpaid one owes nothing)

    @property
    def owed_cents(self) -> int:
        return sum(max(s.balance_cents, 0) for s in self.shown) + self.hidden_owed_cents

    @classmethod
    def of(cls, statuses: tuple[EventStatus, ...] | list[EventStatus], room: int) -> EventsPage:
        rest = statuses[room:]
        return cls(tuple(statuses[:room]), len(rest), sum(max(s.balance_cents, 0) for s in rest))
