"""The summaries the writes keep (issue 19: the App Home reads them by key), on the three stores:
a group's newest payment links with what each collected (bot/core/paylinks.py) and a site's last
deploy (bot/core/deploy.py), whatever order the writes land in and however many race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.core.catalog import load_catalog
from bot.core.deploy import DEPLOYS, Deployer, newest_deploy
from bot.core.outbox import Announcer, Targets
from bot.core.paylinks import RECENT_KEPT, Paylink, Paylinks, recent_key
from bot.core.ports import SUMMARIES_KEPT, Fold
from tests.conftest import EVENTS_FILE

JADA = "2026-05-23-jada-charter"


@pytest.fixture
def paylinks(store) -> Paylinks:
    announcer = Announcer(Targets(audit_channel="C0AUDIT0001"), day_of=lambda at: at.date().isoformat())
    return Paylinks(store, load_catalog(EVENTS_FILE), None, announcer=announcer,
                    tz=ZoneInfo("America/Los_Angeles"))


def link(n: int, event_id: str | None = JADA) -> Paylink:
    return Paylink(link_id=f"plink_{n:03d}", url=f"https://buy.stripe.com/test_{n:03d}", product_id="prod_1",
                   price_id="price_1", amount_cents=1_000 + n, product_name=f"Link {n}", description="",
                   event_id=event_id, event_title="JADA Charter" if event_id else None, created_by="U0ADMIN0001",
                   created_at=f"2026-05-01T10:{n // 60:02d}:{n % 60:02d}.000000+00:00", day="2026-05-01")


def made(paylinks: Paylinks, made_link: Paylink) -> None:
    """As Paylinks.create keeps a link: its id record, then its record in its group with the group's summary."""
    paylinks.store.put_record("paylink-id", made_link.link_id, "link", asdict(made_link), if_absent=True)
    paylinks.store.put_record("paylink", made_link.group, made_link.key, asdict(made_link), if_absent=True,
                              fold=paylinks.recent_fold(made_link, paid=(0, 0)))


def summary(paylinks: Paylinks, group: str = JADA) -> list[tuple[str, int, int]]:
    found = paylinks.store.get_record(*recent_key(group))
    return [(e["link"]["link_id"], e["paid_count"], e["paid_cents"]) for e in found["links"]]


def test_a_group_keeps_its_newest_links_with_what_each_collected_each_session_once(paylinks):
    for n in range(RECENT_KEPT + 2):
        made(paylinks, link(n))
    paylinks.mark_paid("plink_011", session_id="cs_1", amount_cents=1_011, paid_at=_now())
    paylinks.mark_paid("plink_011", session_id="cs_2", amount_cents=1_011, paid_at=_now())
    paylinks.mark_paid("plink_011", session_id="cs_2", amount_cents=1_011, paid_at=_now())  # Stripe, again
    paylinks.mark_paid("plink_000", session_id="cs_3", amount_cents=1_000, paid_at=_now())  # older than those kept
    assert summary(paylinks) == [("plink_011", 2, 2_022), *((f"plink_{n:03d}", 0, 0) for n in range(10, 1, -1))]
    statuses, more = paylinks.recent_links([JADA], per_event=RECENT_KEPT)
    assert [(s.link.link_id, s.paid_count) for s in statuses][:2] == [("plink_011", 2), ("plink_010", 0)]
    assert more  # the event holds older links than were read
    # What the history says, to the cent.
    assert [(s.link.link_id, s.paid_count, s.paid_cents) for s in paylinks.event_links(JADA, limit=RECENT_KEPT)] \
        == summary(paylinks)


def test_a_link_paid_before_its_record_was_folded_in_comes_in_paid(paylinks):
    early = link(1, None)
    paylinks.store.put_record("paylink-id", early.link_id, "link", asdict(early), if_absent=True)
    paylinks.mark_paid(early.link_id, session_id="cs_1", amount_cents=1_001, paid_at=_now())  # the webhook, first
    paylinks.store.put_record("paylink", early.group, early.key, asdict(early), if_absent=True,
                              fold=paylinks.recent_fold(early, paid=(0, 0)))
    assert summary(paylinks, "-") == [("plink_001", 1, 1_001)]


def test_concurrent_links_and_payments_on_one_event_lose_nothing(paylinks):
    links = [link(n) for n in range(8)]

    def make_and_pay(one: Paylink) -> None:
        made(paylinks, one)
        paylinks.mark_paid(one.link_id, session_id=f"cs_{one.link_id}", amount_cents=one.amount_cents,
                           paid_at=_now())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(make_and_pay, links))
    assert summary(paylinks) == [(one.link_id, 1, one.amount_cents) for one in reversed(links)]


def test_a_group_with_history_and_no_summary_starts_from_its_history(paylinks):
    old = [link(n) for n in range(3)]
    for one in old:  # as an opsbot from before summaries kept them
        paylinks.store.put_record("paylink-id", one.link_id, "link", asdict(one))
        paylinks.store.put_record("paylink", one.group, one.key, asdict(one))
    paylinks.mark_paid("plink_001", session_id="cs_1", amount_cents=1_001, paid_at=_now())
    assert summary(paylinks) == [("plink_002", 0, 0), ("plink_001", 1, 1_001), ("plink_000", 0, 0)]
    made(paylinks, link(3))
    assert summary(paylinks)[:2] == [("plink_003", 0, 0), ("plink_002", 0, 0)]


def test_a_sites_last_deploy_is_its_newest_however_its_records_land(store):
    at = Deployer.last_deploy_key("birthday")

    def record(key: str, result: str) -> None:
        data = {"deploy_id": key.split("#")[1], "result": result}
        store.put_record(DEPLOYS, "birthday", key, data, fold=Fold(at, lambda last: newest_deploy(last, key, data)))

    record("2026-05-01T10:00:00+00:00#dep_1", "running")
    record("2026-05-01T10:00:00+00:00#dep_1", "deployed")  # the same deploy's final record replaces it
    record("2026-05-01T11:00:00+00:00#dep_2", "running")
    record("2026-05-01T10:00:00+00:00#dep_1", "deployed")  # an older deploy recorded late changes nothing
    assert store.get_record(*at) == {"key": "2026-05-01T11:00:00+00:00#dep_2",
                                     "record": {"deploy_id": "dep_2", "result": "running"}}
    assert store.get_record(*SUMMARIES_KEPT) is not None


def _now() -> datetime:
    return datetime(2026, 5, 2, 12, 0, tzinfo=UTC)
