"""The App Home's figures: what the ops dashboard shows one person, read from
the ledger, the deploy history and the payment links. Reads only: opening the
Home (or Slack redelivering the event) never writes anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bot.domain import Event, EventStatus, Payment, Site
from bot.version import opsbot_version

if TYPE_CHECKING:
    from bot.app import Services

LINK_EVENTS = 20  # payment links are read for this many events (two queries each), and for links with no event
RECENT_LINKS = 5


@dataclass(frozen=True)
class LastDeploy:
    target: str  # staging | production | promote
    by: str  # Slack user id
    at: datetime  # timezone-aware
    result: str  # "deployed", "up to date", "failed", ...


@dataclass(frozen=True)
class SiteCard:
    site: Site
    last_deploy: LastDeploy | None


@dataclass(frozen=True)
class LinkLine:
    url: str
    amount_cents: int
    name: str
    event_title: str | None
    created_by: str
    created_at: datetime
    paid_count: int
    paid_cents: int


@dataclass(frozen=True)
class HomeData:
    user: str
    is_admin: bool
    can_log: bool
    now: datetime  # in the crew time zone
    events: tuple[EventStatus, ...]  # upcoming (and undated), soonest first: all of them; the view trims
    today: tuple[Payment, ...]  # today's records (payments and voids), oldest first
    titles: dict[str, str]  # event id -> title for today's records
    sites: tuple[SiteCard, ...]
    links: tuple[LinkLine, ...]  # newest first
    version: str = ""  # the running opsbot's, for the footer (none shown when empty)

    @property
    def day(self) -> date:
        return self.now.date()


def gather_home(services: Services, user: str) -> HomeData:
    ledger = services.ledger
    now = ledger.clock().astimezone(ledger.tz)
    events = ledger.list_events()
    today = ledger.day_payments(now.date())
    titles = {}
    for record in today:
        event = services.catalog.event(record.event_id)
        titles[record.event_id] = event.title if event else record.event_id
    return HomeData(
        user=user, is_admin=services.access.is_admin(user), can_log=services.access.can(user, "payment.log"),
        now=now, events=tuple(events), today=tuple(today), titles=titles,
        sites=tuple(SiteCard(site, _last_deploy(services, site.id)) for site in services.catalog.sites),
        links=tuple(_recent_links(services, services.catalog.ordered(now.date())[:LINK_EVENTS])),
        version=opsbot_version(),
    )


def _last_deploy(services: Services, site_id: str) -> LastDeploy | None:
    deploys = services.deploys
    record: dict[str, Any] | None = deploys.last_deploy(site_id) if deploys is not None else None
    if not record:
        return None
    try:
        at = datetime.fromisoformat(str(record["at"]))
    except (KeyError, ValueError):
        return None
    return LastDeploy(target=str(record.get("target", "")), by=str(record.get("by", "")), at=at,
                      result=str(record.get("result", "")))


def _recent_links(services: Services, events: list[Event]) -> list[LinkLine]:
    """The newest links of these events (upcoming first, then the latest past ones) and of no event."""
    paylinks = services.paylinks
    if paylinks is None:
        return []
    from bot.paylinks import NO_EVENT

    groups = [e.id for e in events] + [NO_EVENT]
    lines = []
    for group in groups:
        for status in paylinks.event_links(group)[:RECENT_LINKS]:
            link = status.link
            try:
                created = datetime.fromisoformat(link.created_at)
            except (TypeError, ValueError):
                continue
            lines.append(LinkLine(url=link.url, amount_cents=link.amount_cents, name=link.product_name,
                                  event_title=link.event_title, created_by=link.created_by, created_at=created,
                                  paid_count=status.paid_count, paid_cents=status.paid_cents))
    lines.sort(key=lambda line: line.created_at, reverse=True)
    return lines[:RECENT_LINKS]
