"""Payment links: ``/paylink`` checked, the Stripe product + price + link made
through the Payments port (or described as a dry run when Stripe is not
configured), each link kept as a record, and links marked paid when Stripe says so.

Records (collection / group / key):
- ``paylink`` / event id or ``-`` / ``<created iso>#<link id>``: the event's links, oldest first
- ``paylink-id`` / link id / ``link``: the same link, found by its id (webhooks); written with its
  announcement (the audit line, and the link posted where it was asked for) in one transaction
- ``paylink-request`` / request key / ``link``: which link a Slack request made (retries)
- ``paylink-paid`` / the link's group / ``<link id>#<session id>``: one per paid Checkout Session
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.catalog import Catalog, EventNotFound
from bot.core.domain import Event
from bot.core.ledger import Clock, utc_now
from bot.core.money import AmountError, format_cents, parse_amount
from bot.core.outbox import Announcer
from bot.core.ports import Payments, PaymentsError, Store, StripeRefund

DESCRIPTION_MAX = 200
CURRENCY = "usd"
NO_EVENT = "-"  # the group of links made without --event

# Slack clients may turn "--" into an en or em dash ("smart punctuation").
_OPTION = re.compile(r"^(?:--|\u2014|\u2013)(?P<name>[A-Za-z][\w-]*)(?:=(?P<value>.*))?$")


class PaylinkInputError(ValueError):
    """The command text is not a payment link we can make. ``problem``: "event_twice", "event_needs_id",
    "unknown_option" (option), "no_amount", "too_long" (length), "said" (message: the amount's or the
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
            raise PaylinkInputError("too_long", length=len(description))
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
        self.store.put_record("paylink", link.group, f"{link.created_at}#{link_id}", asdict(link), if_absent=True)
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

    def recent_links(self, event_ids: Sequence[str], *, per_event: int) -> tuple[list[PaylinkStatus], bool]:
        """The newest ``per_event`` links of each of these events and of no event, newest
        first, with what each collected; and whether an event may hold older ones than
        were read. At most two queries per event: the reads are bounded by the arguments."""
        found: list[PaylinkStatus] = []
        more = False
        for group in [*event_ids, NO_EVENT]:
            links = self.event_links(group, limit=per_event)
            more = more or len(links) == per_event
            found += links
        found.sort(key=lambda status: status.link.created_at, reverse=True)
        return found, more

    def mark_paid(self, link_id: str, *, session_id: str, amount_cents: int, paid_at: datetime) -> Paylink | None:
        """Note a paid Checkout Session of the link (once per session). None for a link we did not make."""
        link = self.link(link_id)
        if link is None:
            return None
        self.store.put_record("paylink-paid", link.group, f"{link_id}#{session_id}", {
            "link_id": link_id, "session_id": session_id, "amount_cents": amount_cents,
            "paid_at": paid_at.astimezone(UTC).isoformat(timespec="seconds"),
        }, if_absent=True)
        return link
