"""The App Home's figures: what the ops page shows one person, read from the
ledger, the deploy history and the links (bot/core/links.py). One read by key
(DynamoDB: one BatchGetItem up to 100 keys) brings every event's totals (the events
and the season's figures), each shown site's last deploy and the payment links'
summaries; then today's records and (admins) the parked announcements: the same
few requests whatever the number of sites, events and deploys. Reads only: opening
the Home (or Slack redelivering the event) writes nothing, except, once, a summary
that a store upgraded from before summaries did not have yet (bot/core/summaries.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bot.core.domain import EventStatus, Payment, Site
from bot.core.links import OpsGroup
from bot.core.outbox import OutboxEntry
from bot.core.ports import SUMMARIES_KEPT, RecordKey
from bot.core.season import SeasonTotals, season_totals

if TYPE_CHECKING:
    from bot.core.access import Access
    from bot.core.catalog import Catalog
    from bot.core.deploy import Deployer
    from bot.core.ledger import Ledger
    from bot.core.links import OpsLinks
    from bot.core.ports import Store

PARKED_SHOWN = 5  # announcements that could not be delivered, shown to admins
SITES_SHOWN = 15  # sites the Home lists (their last deploys are read); /deploy lists them all


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
class HomeData:
    user: str
    is_admin: bool
    can_log: bool
    now: datetime  # in the crew time zone
    events: tuple[EventStatus, ...]  # upcoming (and undated), soonest first: all of them; the view trims
    today: tuple[Payment, ...]  # today's records (payments and voids), oldest first
    titles: dict[str, str]  # event id -> title for today's records
    sites: tuple[SiteCard, ...]
    links: tuple[OpsGroup, ...]  # the ops page's links, grouped (payment links under Stripe, newest first)
    season: SeasonTotals | None = None  # collected and owed soon, for the header
    version: str = ""  # the running opsbot's, for the footer (none shown when empty)
    parked: tuple[OutboxEntry, ...] = ()  # admins only: announcements the outbox gave up on (one more: "and more")

    @property
    def day(self) -> date:
        return self.now.date()


def gather_home(user: str, *, ledger: Ledger, catalog: Catalog, access: Access, store: Store,
                links: OpsLinks | None, deploys: Deployer | None, version: str = "") -> HomeData:
    now = ledger.clock().astimezone(ledger.tz)
    events = catalog.ordered(ledger.today(), include_past=True)
    shown_sites = catalog.sites[:SITES_SHOWN]
    wanted: list[RecordKey] = [SUMMARIES_KEPT]
    if deploys is not None:
        wanted += [deploys.last_deploy_key(site.id) for site in shown_sites]
    if links is not None:
        wanted += links.summary_keys()
    # One read of every event's totals (the list and the season) and of the summaries by key.
    totals, read = store.read_keys(events=[e.id for e in events], records=wanted)
    every = ledger.statuses(events, totals)
    upcoming = [s for s in every if s.event.date is None or s.event.date >= now.date()]
    today = ledger.day_payments(now.date())
    titles = {}
    for record in today:
        event = catalog.event(record.event_id)
        titles[record.event_id] = event.title if event else record.event_id
    is_admin = access.is_admin(user)
    return HomeData(
        user=user, is_admin=is_admin, can_log=access.can(user, "payment.log"),
        now=now, events=tuple(upcoming), today=tuple(today), titles=titles,
        sites=tuple(SiteCard(site, _last_deploy(deploys, site.id, read) if site in shown_sites else None)
                    for site in catalog.sites),
        links=tuple(links.groups(read)) if links is not None else (),
        season=season_totals(every, now.date()), version=version,
        parked=tuple(store.parked_entries(PARKED_SHOWN + 1)) if is_admin else (),
    )


def _last_deploy(deploys: Deployer | None, site_id: str, read: Mapping[RecordKey, dict[str, Any]]
                 ) -> LastDeploy | None:
    record: dict[str, Any] | None = deploys.last_deploy(site_id, read) if deploys is not None else None
    if not record:
        return None
    try:
        at = datetime.fromisoformat(str(record["at"]))
    except (KeyError, ValueError):
        return None
    return LastDeploy(target=str(record.get("target", "")), by=str(record.get("by", "")), at=at,
                      result=str(record.get("result", "")))
