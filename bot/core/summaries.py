"""Summaries for a store upgraded from an opsbot that did not keep them: each site's last deploy and
each event's newest payment links (bot/core/deploy.py, bot/core/paylinks.py), which the App Home and
``/links`` read by key instead of querying each history. A store made by this version keeps them from
its first record (SUMMARIES_KEPT). In another one, each summary is built from its history the first
time it is read, and kept from then on; ``opsbot init-store`` and ``opsbot serve``'s start-up build
them all here at once (every site and event of events.json, and links of no event), then mark the
store, so that no summary need be looked for in a history again. Sites and events no longer in
events.json are left out: the Home does not show them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from bot.core.paylinks import RECENT_KEPT
from bot.core.ports import SUMMARIES_KEPT

if TYPE_CHECKING:
    from bot.core.catalog import Catalog
    from bot.core.deploy import Deployer
    from bot.core.paylinks import Paylinks
    from bot.core.ports import Store

GROUPS_AT_ONCE = 40  # summaries of payment links read in one read: under DynamoDB's 100 keys a request


def build_summaries(store: Store, catalog: Catalog, deploys: Deployer | None, paylinks: Paylinks | None,
                    today: date) -> str | None:
    """Build what is missing and mark the store; what was done, in words (None: it was built already)."""
    if store.get_record(*SUMMARIES_KEPT) is not None:
        return None
    sites = [site.id for site in catalog.sites] if deploys is not None else []
    for site_id in sites:
        deploys.last_deploy(site_id)  # built from the history where missing
    groups = 0
    if paylinks is not None:
        events = [event.id for event in catalog.ordered(today, include_past=True)]
        for start in range(0, max(len(events), 1), GROUPS_AT_ONCE):  # "no event" is read with each
            paylinks.recent_links(events[start:start + GROUPS_AT_ONCE], per_event=RECENT_KEPT)
        groups = len(events) + 1
    store.put_record(*SUMMARIES_KEPT, {"kept": True}, if_absent=True)
    return (f"built the summaries the App Home reads from the histories: the last deploy of {len(sites)} "
            f"site(s), the newest payment links of {groups} group(s)")
