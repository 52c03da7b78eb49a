"""Summaries for a store upgraded from an opsbot that did not keep them: each site's last deploy and
each event's newest payment links (bot/core/deploy.py, bot/core/paylinks.py), which the App Home and
``/links`` read by key instead of querying each history. A store made by this version keeps them from
its first record (SUMMARIES_KEPT); an upgraded one is read from its histories, as before, until they
are built here, once (``opsbot init-store``, or ``opsbot serve``'s start-up): every site and event of
events.json (and links of no event), each summary written only where no write made it meanwhile, then
the mark. Sites or events no longer in events.json are left out: the Home does not show them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from bot.core.paylinks import NO_EVENT
from bot.core.ports import SUMMARIES_KEPT

if TYPE_CHECKING:
    from bot.core.catalog import Catalog
    from bot.core.deploy import Deployer
    from bot.core.paylinks import Paylinks
    from bot.core.ports import Store


def build_summaries(store: Store, catalog: Catalog, deploys: Deployer | None, paylinks: Paylinks | None,
                    today: date) -> str | None:
    """Build what is missing and mark the store; what was done, in words (None: it was built already)."""
    if store.get_record(*SUMMARIES_KEPT) is not None:
        return None
    sites = sum(deploys.build_last_deploy(site.id) for site in catalog.sites) if deploys is not None else 0
    groups = [event.id for event in catalog.ordered(today, include_past=True)] + [NO_EVENT]
    links = sum(paylinks.build_recent(group) for group in groups) if paylinks is not None else 0
    store.put_record(*SUMMARIES_KEPT, {"kept": True}, if_absent=True)
    return (f"built the summaries the App Home reads from the histories: the last deploy of {sites} site(s), "
            f"the newest payment links of {links} group(s)")
