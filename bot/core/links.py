"""The ops page's links: every place the crew opens, in one list.

- events.json's ``links`` groups (Stripe, Sheets, AWS, DNS, Email, ...), in the file's order;
- each site's own links, built from its entry: the site, its staging folder, and the
  AWS console pages of its S3 bucket and its CloudFront distribution;
- the payment links made with /paylink, under Stripe, newest first, with what each collected.

Reads only, and bounded: payment links are read for the PAYLINK_EVENTS nearest events
(and for links of no event), PAYLINKS_PER_EVENT newest each, from each group's summary
(bot/core/paylinks.py): one read for all of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from bot.core.catalog import Catalog
from bot.core.deploy_plan import STAGING_PREFIX
from bot.core.domain import Site
from bot.core.money import format_cents

if TYPE_CHECKING:
    from bot.core.paylinks import Paylinks, PaylinkStatus
    from bot.core.ports import RecordKey

STRIPE_GROUP = "Stripe"
PAYLINK_EVENTS = 30
PAYLINKS_PER_EVENT = 10
# CloudFront is a global service: its console is always the us-east-1 one.
CLOUDFRONT_CONSOLE = "https://us-east-1.console.aws.amazon.com/cloudfront/v4/home#/distributions/"
S3_CONSOLE = "https://s3.console.aws.amazon.com/s3/buckets/"


@dataclass(frozen=True)
class PaymentLink:
    """A link made with /paylink and what it has collected (a link can be paid more than once)."""

    amount_cents: int
    name: str  # the Stripe product's name
    event_id: str | None
    event_title: str | None
    created_by: str  # Slack user id
    day: date  # when it was made, in the crew time zone
    paid_count: int
    paid_cents: int


@dataclass(frozen=True)
class OpsLink:
    title: str
    url: str
    note: str = ""
    payment: PaymentLink | None = None  # set for a payment link made with /paylink


@dataclass(frozen=True)
class OpsGroup:
    name: str
    links: tuple[OpsLink, ...]
    # Stripe: only the newest payment links of the nearest events were read; /events EVENT lists an event's all.
    older_payment_links: bool = False


@dataclass(frozen=True)
class LinksFound:
    """What ``/links TEXT`` found: the groups with a link that matched (each with only those links)."""

    query: str  # as typed, spaces collapsed ("" for every link)
    groups: tuple[OpsGroup, ...]
    all_groups: tuple[str, ...]  # every group's name, to suggest when nothing matched

    @property
    def count(self) -> int:
        return sum(len(g.links) for g in self.groups)


def site_group_name(site_id: str) -> str:
    return f"Site: {site_id}"


def staging_url(site: Site) -> str:
    """Where staging is served: the ``_staging/`` folder under the site's URL."""
    return site.url.rstrip("/") + "/" + STAGING_PREFIX


def s3_console_url(bucket: str, region: str | None, prefix: str = "") -> str:
    """The bucket's objects in the S3 console (in its region when one is known), opened at
    ``prefix`` for a site that shares its bucket."""
    query = {"region": region} if region else {}
    if prefix:
        query["prefix"] = prefix
    query["tab"] = "objects"
    return S3_CONSOLE + quote(bucket, safe="") + "?" + urlencode(query, safe="/")


def cloudfront_console_url(distribution_id: str) -> str:
    return CLOUDFRONT_CONSOLE + quote(distribution_id, safe="")


def site_links(site: Site, region: str | None) -> tuple[OpsLink, ...]:
    """The links every site has, without anyone typing them."""
    where = f" · {region}" if region else ""
    folder = f"/{site.prefix}" if site.prefix else ""
    return (
        OpsLink("Site", site.url, "production"),
        OpsLink("Staging", staging_url(site), f"/deploy {site.id} staging publishes here"),
        OpsLink("S3 bucket", s3_console_url(site.bucket, region, site.prefix), f"{site.bucket}{folder}{where}"),
        OpsLink("CloudFront distribution", cloudfront_console_url(site.distribution_id), site.distribution_id),
    )


def payment_link(status: PaylinkStatus) -> OpsLink | None:
    link = status.link
    try:
        day = date.fromisoformat(link.day) if link.day else datetime.fromisoformat(link.created_at).date()
    except (TypeError, ValueError):  # a record we cannot date is not shown rather than shown wrong
        return None
    return OpsLink(link.product_name, link.url, payment=PaymentLink(
        amount_cents=link.amount_cents, name=link.product_name, event_id=link.event_id,
        event_title=link.event_title, created_by=link.created_by, day=day,
        paid_count=status.paid_count, paid_cents=status.paid_cents))


def _searched(group: OpsGroup, link: OpsLink) -> str:
    """Everything a search looks in, without case."""
    parts = [group.name, link.title, link.note, link.url]
    if link.payment is not None:
        parts += [link.payment.event_id or "", link.payment.event_title or "", format_cents(link.payment.amount_cents)]
    return " ".join(parts).casefold()


class OpsLinks:
    def __init__(self, catalog: Catalog, paylinks: Paylinks | None, *, region: str | None,
                 today: Callable[[], date]):
        self.catalog = catalog
        self.paylinks = paylinks
        self.region = region
        self.today = today

    def groups(self, read: Mapping[RecordKey, dict[str, Any]] | None = None) -> list[OpsGroup]:
        """Every group: events.json's in its order (Stripe with the payment links after the
        file's own; a Stripe group first when the file has none), then one per site (its
        links first when events.json names a group after it too). ``read``: what a
        ``Store.read_keys`` of ``summary_keys`` (and SUMMARIES_KEPT) found, when read with other things."""
        payments, older = self._payment_links(read)
        by_name: dict[str, OpsGroup] = {}
        for group in self.catalog.links:
            by_name[group.name.casefold()] = OpsGroup(
                group.name, tuple(OpsLink(link.title, link.url, link.note) for link in group.links))
        stripe = by_name.get(STRIPE_GROUP.casefold())
        if stripe is not None or payments:
            name = stripe.name if stripe is not None else STRIPE_GROUP
            own = stripe.links if stripe is not None else ()
            by_name[STRIPE_GROUP.casefold()] = OpsGroup(name, (*own, *payments), older)
            if stripe is None:  # first: payment links are what the crew opens most
                by_name = {STRIPE_GROUP.casefold(): by_name.pop(STRIPE_GROUP.casefold()), **by_name}
        for site in self.catalog.sites:
            name = site_group_name(site.id)
            extra = by_name.get(name.casefold())
            by_name[name.casefold()] = OpsGroup(extra.name if extra else name,
                                                (*site_links(site, self.region), *(extra.links if extra else ())))
        return list(by_name.values())

    def find(self, query: str) -> LinksFound:
        """The links whose group, title, note or URL (a payment link's event and amount too)
        hold every word of ``query``, without case; every link for an empty query."""
        words = query.casefold().split()
        groups = self.groups()
        matched = []
        for group in groups:
            links = tuple(link for link in group.links if all(word in _searched(group, link) for word in words))
            if links:
                matched.append(OpsGroup(group.name, links, group.older_payment_links))
        return LinksFound(" ".join(query.split()), tuple(matched), tuple(g.name for g in groups))

    def summary_keys(self) -> list[RecordKey]:
        """The payment-link summaries ``groups`` reads."""
        return self.paylinks.recent_keys(self._nearest()[:PAYLINK_EVENTS]) if self.paylinks is not None else []

    def _nearest(self) -> Sequence[str]:
        return [e.id for e in self.catalog.ordered(self.today())]

    def _payment_links(self, read: Mapping[RecordKey, dict[str, Any]] | None) -> tuple[list[OpsLink], bool]:
        """The newest payment links (bounded reads) and whether older ones may exist."""
        if self.paylinks is None:
            return [], False
        nearest = self._nearest()
        statuses, more = self.paylinks.recent_links(nearest[:PAYLINK_EVENTS], per_event=PAYLINKS_PER_EVENT,
                                                    read=read)
        links = [link for link in map(payment_link, statuses) if link is not None]
        return links, more or len(nearest) > PAYLINK_EVENTS
