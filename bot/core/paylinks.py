"""Payment links: ``/paylink`` checked, the Stripe product + price + link made
through the Payments port (or described as a dry run when Stripe is not
configured), each link kept as a record, and links marked paid when Stripe says so.

Records (collection / group / key):
- ``paylink`` / event id or ``-`` / ``<created iso>#<link id>``: the event's links, oldest first
- ``paylink-id`` / link id / ``link``: the same link, found by its id (webhooks); written with its
  announcement (the audit line, and the link posted where it was asked for) in one transaction
- ``paylink-request`` / request key / ``link``: which link a Slack request made (retries)
- ``paylink-paid`` / the link's group / ``<link id>#<session id>``: one per paid Checkout Session
- ``paylink-recent`` / the link's group / ``newest``: a summary (a Fold) kept by the writes of the two
  above: the group's RECENT_KEPT newest links, each with what it collected, newest first, so that the App
  Home and ``/links`` read them by key, every group in one read, instead of querying each group
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.catalog import Catalog, EventNotFound
from bot.core.domain import Event
from bot.core.ledger import Clock, utc_now
from bot.core.money import AmountError, format_cents, parse_amount
from bot.core.outbox import Announcer
from bot.core.ports import SUMMARIES_KEPT, Fold, Payments, PaymentsError, RecordKey, Store, StripeRefund

DESCRIPTION_MAX = 200
CURRENCY = "usd"
NO_EVENT = "-"  # the group of links made without --event
RECENT = "paylink-recent"
RECENT_KEPT = 10  # links a group's summary holds

# Slack clients may turn "--" into an en or em dash ("smart punctuation").
_OPTION = re.compile(r"^(?:--|\u2014|\u2013)(?P<name>[A-Za-z][\w-]*)(?:=(?P<value>.*))?$")


class PaylinkInputError(ValueError):
    """The command text is not a payment link we can make. ``problem``: "event_twice", "event_needs_id",
    "unknown_option" (option), "no_amount", "too_long" (length, limit), "said" (message: the amount's or the
    event's own); blocks/usage.py says it."""

    def __init__(self, problem: str, **facts: Any):
        super().__init__(problem, *facts.values())
        self.problem, self.facts = problem, facts


@dataclass(frozen=True)
class PaylinkRequest:
    amount_cents: int
    description: str  # "" when none was given
    event: Event | None


@dataclass(frozen=True)
class PaylinkPlan:
    """Exactly what will be created in Stripe, and the idempotency keys that make it once."""

    amount_cents: int
    description: str
    event: Event | None
    product_name: str
    metadata: dict[str, str]
    created_by: str
    request_key: str  # the Slack request (its trigger_id): a retry of it carries the same one
    reply_url: str | None = None  # where the link is posted once made (the command's response_url)

    def idempotency_key(self, step: str) -> str:
        return f"paylink:{self.request_key}:{step}"


@dataclass(frozen=True)
class Paylink:
    """A payment link that exists in Stripe, as kept in the store."""

    link_id: str
    url: str
    product_id: str
    price_id: str
    amount_cents: int
    product_name: str
    description: str
    event_id: str | None
    event_title: str | None
    created_by: str
    created_at: str  # ISO time, UTC
    day: str  # YYYY-MM-DD in the crew time zone

    @property
    def group(self) -> str:
        return self.event_id or NO_EVENT

    @property
    def key(self) -> str:
        """Its record's key in its group: the groups list in the order links were made."""
        return f"{self.created_at}#{self.link_id}"

    @classmethod
    def from_record(cls, data: dict) -> Paylink:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class PaylinkStatus:
    """A link and what has been paid through it (a link can be paid more than once)."""

    link: Paylink
    paid_count: int = 0
    paid_cents: int = 0

    @property
    def paid(self) -> bool:
        return self.paid_count > 0


class NoPayments:
    """Stripe is off (no STRIPE_API_KEY): /paylink answers with a dry run, and a call that would
    reach Stripe is refused with a PaymentsError that says so."""

    def _off(self, step: str) -> PaymentsError:
        return PaymentsError(step, "Stripe is not configured (set STRIPE_API_KEY)")

    def create_product(self, name: str, *, metadata: dict[str, str], idempotency_key: str) -> str:
        raise self._off("product")

    def create_price(self, product_id: str, unit_amount_cents: int, *, currency: str, idempotency_key: str) -> str:
        raise self._off("price")

    def create_payment_link(self, price_id: str, *, metadata: dict[str, str],
                            idempotency_key: str) -> tuple[str, str]:
        raise self._off("payment link")

    def create_refund(self, *, payment_intent: str, amount_cents: int, metadata: dict[str, str],
                      idempotency_key: str) -> StripeRefund:
        raise self._off("refund")

    def list_refunds(self, *, payment_intent: str | None = None, charge: str | None = None) -> list[StripeRefund]:
        raise self._off("refund list")

    def payment_intent_session(self, payment_intent: str) -> str | None:
        raise self._off("session look-up")


class Paylinks:
    def __init__(self, store: Store, catalog: Catalog, payments: Payments | None, *, announcer: Announcer,
                 tz: ZoneInfo, clock: Clock = utc_now):
        self.store = store
        self.catalog = catalog
        self.payments: Payments = payments or NoPayments()
        self.announcer = announcer
        self.tz = tz
        self.clock = clock

    @property
    def configured(self) -> bool:
        """False when STRIPE_API_KEY is not set: /paylink answers with a dry run."""
        return not isinstance(self.payments, NoPayments)

    # -- the command ---------------------------------------------------------------------
    def parse(self, text: str | None) -> PaylinkRequest:
        """``AMOUNT [DESCRIPTION…] [--event EVENT]``, the option anywhere. Raises PaylinkInputError."""
        words = (text or "").split()
        event_ref: str | None = None
        rest: list[str] = []
        i = 0
        while i < len(words):
            option = _OPTION.match(words[i])
            if option is None:
                rest.append(words[i])
            elif option["name"].lower() == "event":
                if event_ref is not None:
                    raise PaylinkInputError("event_twice")
                value = option["value"]
                if value is None and i + 1 < len(words):
                    i += 1
                    value = words[i]
                if not value:
                    raise PaylinkInputError("event_needs_id")
                event_ref = value
            else:
                raise PaylinkInputError("unknown_option", option=words[i][:30])
            i += 1
        if not rest:
            raise PaylinkInputError("no_amount")
        try:
            amount = parse_amount(rest[0])
        except AmountError as exc:
            raise PaylinkInputError("said", message=str(exc)) from None
        description = " ".join(rest[1:])
        if len(description) > DESCRIPTION_MAX:
            raise PaylinkInputError("too_long", length=len(description), limit=DESCRIPTION_MAX)
        event = None
        if event_ref is not None:
            try:
                event = self.catalog.find_event(event_ref)
            except EventNotFound as exc:
                raise PaylinkInputError("said", message=exc.message) from None
        return PaylinkRequest(amount, description, event)

    def plan(self, request: PaylinkRequest, *, created_by: str, request_key: str,
             reply_url: str | None = None) -> PaylinkPlan:
        if request.description:
            name = request.description
        elif request.event is not None:
            name = f"{request.event.title} — {format_cents(request.amount_cents)}"
        else:
            name = f"Payment — {format_cents(request.amount_cents)}"
        metadata = {"event_id": request.event.id} if request.event is not None else {}
        metadata["created_by"] = created_by
        return PaylinkPlan(request.amount_cents, request.description, request.event, name, metadata, created_by,
                           request_key, reply_url)

    # -- making the link ---------------------------------------------------------------------
    def create(self, plan: PaylinkPlan) -> Paylink:
        """Make the product, price and link in Stripe (each POST with an idempotency
        key from the request, so a retried request makes nothing new) and keep the
        link with its announcement: the audit line, and the link posted at the plan's
        reply_url. Raises PaymentsError naming the step that failed."""
        made = self.made_by(plan.request_key)
        if made is not None:
            return made
        product_id = self.payments.create_product(plan.product_name, metadata=plan.metadata,
                                                  idempotency_key=plan.idempotency_key("product"))
        price_id = self.payments.create_price(product_id, plan.amount_cents, currency=CURRENCY,
                                              idempotency_key=plan.idempotency_key("price"))
        link_id, url = self.payments.create_payment_link(price_id, metadata=plan.metadata,
                                                         idempotency_key=plan.idempotency_key("link"))
        now = self.clock()
        link = Paylink(
            link_id=link_id, url=url, product_id=product_id, price_id=price_id, amount_cents=plan.amount_cents,
            product_name=plan.product_name, description=plan.description,
            event_id=plan.event.id if plan.event else None, event_title=plan.event.title if plan.event else None,
            created_by=plan.created_by, created_at=now.astimezone(UTC).isoformat(timespec="microseconds"),
            day=now.astimezone(self.tz).date().isoformat(),
        )
        announcement = self.announcer.link_created(asdict(link), now, reply_url=plan.reply_url)
        if self.store.put_record("paylink-id", link_id, "link", asdict(link), if_absent=True, announce=announcement):
            self.announcer.ring(announcement.entries)
        else:
            # A concurrent delivery of the same request got Stripe's replay and kept (and announced) it first.
            link = self.link(link_id) or link
        self.store.put_record("paylink", link.group, link.key, asdict(link), if_absent=True,
                              fold=self.recent_fold(link, paid=(0, 0)))
        self.store.put_record("paylink-request", plan.request_key, "link", {"link_id": link_id}, if_absent=True)
        return link

    def made_by(self, request_key: str) -> Paylink | None:
        """The link an earlier delivery of this request made, if any."""
        record = self.store.get_record("paylink-request", request_key, "link")
        return self.link(record["link_id"]) if record else None

    # -- reads and payments ------------------------------------------------------------------
    def link(self, link_id: str) -> Paylink | None:
        record = self.store.get_record("paylink-id", link_id, "link")
        return Paylink.from_record(record) if record else None

    def event_links(self, event_id: str, *, limit: int | None = None) -> list[PaylinkStatus]:
        """The event's links (``-``: those of no event), newest first, at most ``limit``, each
        with what was paid through it: one query, and one more when there are links."""
        records = self.store.list_records("paylink", event_id, newest_first=True, limit=limit)
        links = [Paylink.from_record(r) for r in records]
        if not links:
            return []
        paid: dict[str, tuple[int, int]] = {}
        for record in self.store.list_records("paylink-paid", event_id):
            count, cents = paid.get(record["link_id"], (0, 0))
            paid[record["link_id"]] = (count + 1, cents + int(record["amount_cents"]))
        return [PaylinkStatus(link, *paid.get(link.link_id, (0, 0))) for link in links]

    @staticmethod
    def recent_keys(event_ids: Sequence[str]) -> list[RecordKey]:
        """The summaries ``recent_links`` reads for these events (and for no event)."""
        return [recent_key(group) for group in [*event_ids, NO_EVENT]]

    def recent_links(self, event_ids: Sequence[str], *, per_event: int,
                     read: Mapping[RecordKey, dict[str, Any]] | None = None) -> tuple[list[PaylinkStatus], bool]:
        """The newest ``per_event`` links of each of these events and of no event, newest
        first, with what each collected; and whether an event may hold older ones than
        were read. From each group's summary: those in ``read`` (what a ``Store.read_keys`` of
        ``recent_keys`` and SUMMARIES_KEPT found), else all in one read. In a store upgraded from
        before summaries, a group with none yet is asked its history, and its summary is kept from
        then on (written once, unless a write made it meanwhile). More asked than a summary holds:
        the history, two queries a group."""
        if read is None:
            read = self.store.read_keys(records=[SUMMARIES_KEPT, *self.recent_keys(event_ids)])[1]
        found: list[PaylinkStatus] = []
        more = False
        for group in [*event_ids, NO_EVENT]:
            summary = read.get(recent_key(group))
            if per_event > RECENT_KEPT:
                links = self.event_links(group, limit=per_event)
            elif summary is not None or SUMMARIES_KEPT in read:
                links = [_status(entry) for entry in (summary or {"links": []})["links"][:per_event]]
            else:
                links = self.event_links(group, limit=RECENT_KEPT)
                self.store.put_record(*recent_key(group), {"links": [_entry(s) for s in links]}, if_absent=True)
                links = links[:per_event]
            more = more or len(links) == per_event
            found += links
        found.sort(key=lambda status: status.link.created_at, reverse=True)
        return found, more

    def recent_fold(self, link: Paylink, *, paid: tuple[int, int]) -> Fold:
        """The group's summary once ``link`` is written (``paid``: (0, 0)) or once it is paid (``paid``: (1, the
        amount)). A group with no summary yet (a store upgraded from before them) starts from its history."""

        def apply(summary: dict[str, Any] | None) -> dict[str, Any] | None:
            entries = summary["links"] if summary is not None else [
                _entry(status) for status in self.event_links(link.group, limit=RECENT_KEPT)]
            changed = summary is None
            for entry in entries:
                if entry["key"] == link.key:
                    entry["paid_count"] += paid[0]
                    entry["paid_cents"] += paid[1]
                    changed = changed or paid != (0, 0)
                    break
            else:
                if len(entries) < RECENT_KEPT or link.key > min(entry["key"] for entry in entries):
                    # Paid before its own record was folded in (the webhook was quicker): it comes in paid.
                    entries = sorted([*entries, _entry(PaylinkStatus(link, *paid))], key=lambda e: e["key"],
                                     reverse=True)[:RECENT_KEPT]
                    changed = True
            return {"links": entries} if changed else None

        return Fold(recent_key(link.group), apply)

    def mark_paid(self, link_id: str, *, session_id: str, amount_cents: int, paid_at: datetime) -> Paylink | None:
        """Note a paid Checkout Session of the link (once per session). None for a link we did not make."""
        link = self.link(link_id)
        if link is None:
            return None
        self.store.put_record("paylink-paid", link.group, f"{link_id}#{session_id}", {
            "link_id": link_id, "session_id": session_id, "amount_cents": amount_cents,
            "paid_at": paid_at.astimezone(UTC).isoformat(timespec="seconds"),
        }, if_absent=True, fold=self.recent_fold(link, paid=(1, amount_cents)))
        return link


def recent_key(group: str) -> RecordKey:
    return RECENT, group, "newest"


def _entry(status: PaylinkStatus) -> dict[str, Any]:
    return {"key": status.link.key, "link": asdict(status.link), "paid_count": status.paid_count,
            "paid_cents": status.paid_cents}


def _status(entry: dict[str, Any]) -> PaylinkStatus:
    return PaylinkStatus(Paylink.from_record(entry["link"]), entry["paid_count"], entry["paid_cents"])
