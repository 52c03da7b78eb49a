"""Every builder under blocks/ stays within Block Kit's limits whatever the names
hold: property tests over arbitrary text (every character Slack escapes, emoji,
markup, newlines, very long strings) checked against the stand-in's limits table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from blocks import fit
from blocks.audit import email_failed_audit, payment_audit, void_audit, void_confirmation, voided_payment_audit
from blocks.deploy import sites_list
from blocks.events import event_detail, events_list
from blocks.help import help_blocks
from blocks.home import home_view
from blocks.links import REPLY_TEXT, links_reply
from blocks.paylinks import dry_run_text, failure_text, paylink_audit, paylink_message, unassigned_audit
from blocks.payment_modal import event_suggestions, payment_modal
from blocks.receipts import payment_receipt, void_receipt
from blocks.summary import reminder_blocks, summary_blocks
from bot.core.domain import DEFAULT_PAYMENT_METHODS, STRIPE_METHOD, Event, EventStatus, Payment, Site
from bot.core.help import visible_commands
from bot.core.home import HomeData, LastDeploy, SiteCard
from bot.core.ledger import LedgerResult
from bot.core.links import LinksFound, OpsGroup, OpsLink, PaymentLink
from bot.core.paylinks import Paylink, PaylinkPlan, PaylinkStatus
from bot.core.ports import PaymentsError
from bot.core.season import season_totals
from bot.core.summary import DaySummary, Tally
from infra.local_slack.block_kit_limits import (
    message_problems,
    message_text_too_long,
    suggestion_problems,
    view_problems,
)

LA = ZoneInfo("America/Los_Angeles")
AT = datetime(2026, 5, 20, 17, 0, tzinfo=UTC)
TODAY = date(2026, 5, 20)
FAST = settings(max_examples=40, deadline=None)

# Text as people and files write it, weighted towards what Slack treats as markup.
CHARS = st.one_of(st.sampled_from("&<>&*_~`|@!#:\n "), st.characters(exclude_categories=("Cs",)))
NAME = st.text(CHARS, min_size=1, max_size=100)  # a patron: the ledger's limit
NOTES = st.text(CHARS, max_size=500)
LONG = st.text(CHARS, min_size=1, max_size=4000)  # titles, descriptions, errors: no limit upstream
ALL_METHODS = (*DEFAULT_PAYMENT_METHODS, STRIPE_METHOD)
METHOD = st.sampled_from(ALL_METHODS)
CENTS = st.integers(min_value=1, max_value=100_000_000)
IDENT = st.from_regex(r"[a-z0-9][a-z0-9-]{0,79}", fullmatch=True)


def fits_message(text: str, blocks: list[dict] | None = None) -> None:
    message = {"text": text, "blocks": blocks}
    assert not message_text_too_long(message)
    assert message_problems(message) == []


def event(title: str, ident: str = "jada", when: date | None = TODAY) -> Event:
    return Event(id=ident, title=title, date=when, total_cents=1_000_000)


@st.composite
def payments(draw, *, void: bool = False) -> Payment:
    amount = draw(CENTS)
    return Payment(payment_id="void_x" if void else "pay_x", event_id="jada", patron=draw(NAME),
                   amount_cents=-amount if void else amount, method=draw(METHOD), notes=draw(NOTES),
                   logged_by=draw(st.one_of(st.just("U0CREW00001"), NAME)), recorded_at=AT, day=TODAY.isoformat(),
                   source=draw(st.sampled_from(["slack", "api", "stripe"])), kind="void" if void else "payment",
                   voids="pay_x" if void else None)


@st.composite
def statuses(draw, *, dated: bool = True) -> EventStatus:
    days = draw(st.integers(min_value=0, max_value=3))
    return EventStatus(event(draw(LONG), draw(IDENT), TODAY + timedelta(days=days) if dated else None),
                       draw(st.integers(min_value=0, max_value=2_000_000)), draw(st.integers(0, 50)))


@FAST
@given(payments(), LONG, st.integers(min_value=-1_000_000, max_value=2_000_000), st.booleans())
def test_audit_lines_and_receipts_fit(payment, title, paid, overpaid):
    status = EventStatus(event(title), paid, 3)
    fits_message(*payment_audit(payment, status, overpaid_note=overpaid))
    assert len(void_confirmation(payment)) <= 300
    void = Payment(**{**payment.__dict__, "payment_id": "void_x", "amount_cents": -payment.amount_cents,
                      "kind": "void", "voids": payment.payment_id})
    fits_message(*voided_payment_audit(payment, status, void))
    fits_message(*void_audit(void, status))
    fits_message(payment_receipt(LedgerResult(payment, status)))
    fits_message(void_receipt(LedgerResult(void, status)))


@FAST
@given(st.lists(statuses(), max_size=120), st.lists(payments(), max_size=60), st.booleans())
def test_events_lists_and_one_event_fit(listed, records, past):
    fits_message(*events_list(listed, include_past=past))
    status = listed[0] if listed else EventStatus(event("x"), 0, 0)
    links = [PaylinkStatus(paylink(title, f"https://buy.stripe.com/{i}")) for i, title in
             enumerate(s.event.title for s in listed[:15])]
    fits_message(*event_detail(status, records, links))


@FAST
@given(st.lists(statuses(), max_size=80))
def test_the_reminder_fits(owed):
    if owed:
        fits_message(*reminder_blocks(owed, TODAY))


@FAST
@given(st.lists(payments(), max_size=40), st.lists(payments(void=True), max_size=40), st.lists(statuses(), max_size=80),
       st.dictionaries(NAME, st.builds(Tally, st.integers(1, 99), CENTS), max_size=60))
def test_the_daily_summary_fits(day_payments, voids, outstanding, loggers):
    titles = {"jada": "x" * 5000}
    summary = DaySummary(day=TODAY, payments=tuple(day_payments), voids=tuple(voids), titles=titles,
                         outstanding=tuple(outstanding), by_method={m: Tally(1, 100) for m in ALL_METHODS},
                         by_event={f"e{i}": Tally(1, 100) for i in range(60)} | {"jada": Tally(2, 200)},
                         by_logger=loggers)
    summary.titles.update({f"e{i}": f"{i} & <{'t' * 200}>" for i in range(60)})
    fits_message(*summary_blocks(summary))


def paylink(description: str, url: str = "https://buy.stripe.com/test_abc", title: str = "JADA") -> Paylink:
    return Paylink(link_id="plink_1", url=url, product_id="prod_1", price_id="price_1", amount_cents=25_000,
                   product_name=description, description=description, event_id="jada", event_title=title,
                   created_by="U0ADMIN0001", created_at=AT.isoformat(), day=TODAY.isoformat())


@FAST
@given(LONG, LONG, st.text(CHARS, min_size=1, max_size=10_000), LONG)
def test_payment_links_and_stripe_lines_fit(description, title, customer, reason):
    link = paylink(description, title=title)
    fits_message(*paylink_message(link))
    fits_message(*paylink_audit(link))
    kept = {"session_id": "cs_test_" + "a" * 60, "amount_cents": 12_500, "patron": customer, "reason": reason}
    fits_message(*unassigned_audit(kept))
    plan = PaylinkPlan(25_000, description, event(title), description, {"event_id": "jada", "created_by": "U1"},
                       "U1", "trigger")
    fits_message(dry_run_text(plan))
    fits_message(failure_text(PaymentsError("price", reason)))


@FAST
@given(st.lists(st.tuples(IDENT, LONG, LONG), max_size=40))
def test_the_sites_list_fits(raw):
    sites = [Site(id=ident, bucket=bucket, distribution_id="E1", source=Path("s"), url=f"https://{url}")
             for ident, bucket, url in raw]
    fits_message(*sites_list(sites))


@FAST
@given(st.lists(statuses(), max_size=150), st.integers(min_value=0, max_value=160), st.text(CHARS, max_size=200))
def test_the_payment_form_and_its_search_fit(offered, pick, metadata):
    preselect = offered[pick].event.id if pick < len(offered) else None
    view = payment_modal(offered, methods=DEFAULT_PAYMENT_METHODS, preselect=preselect,
                         private_metadata=metadata[:200])
    assert view_problems(view) == []
    element = view["blocks"][0]["element"]
    if preselect is not None:
        assert element["initial_option"]["value"] == preselect
    assert suggestion_problems(event_suggestions(offered[:100], len(offered) + pick)) == []


# A link as events.json or the store may hold it: any title and note, any address after https:// (the
# loader refuses spaces and long ones, the builders cope anyway), or a /paylink link with what it collected.
URL = st.text(CHARS, min_size=1, max_size=2500).map(lambda rest: "https://" + rest)
PLAIN_LINK = st.builds(OpsLink, LONG, URL, st.text(CHARS, max_size=600))
PAYMENT_LINK = st.builds(
    lambda title, url, event, paid: OpsLink(title, url, payment=PaymentLink(
        25_000, title, "jada", event, "U0ADMIN0001", TODAY, paid, paid * 25_000)),
    LONG, URL, st.one_of(st.none(), LONG), st.integers(0, 99))
GROUPS = st.lists(st.builds(OpsGroup, LONG, st.lists(st.one_of(PLAIN_LINK, PAYMENT_LINK), min_size=1, max_size=40)
                            .map(tuple), st.booleans()), max_size=30)


@FAST
@given(st.lists(statuses(dated=False), max_size=150), st.lists(statuses(), max_size=40),
       st.lists(payments(), max_size=40), st.lists(st.tuples(IDENT, LONG, LONG, NAME), max_size=30), GROUPS,
       st.booleans(), st.text(CHARS, max_size=300))
def test_the_app_home_fits(events, past, today, sites, groups, admin, version):
    view = home_view(HomeData(
        user="U0ADMIN0001", is_admin=admin, can_log=True, now=datetime(2026, 5, 20, 15, 4, tzinfo=LA),
        events=tuple(events), today=tuple(today), titles={"jada": "&" * 3000},
        sites=tuple(SiteCard(Site(id=ident, bucket="b", distribution_id="E1", source=Path("s"), url=f"https://{url}"),
                             LastDeploy(target, "U0ADMIN0001", AT, result)) for ident, url, target, result in sites),
        links=tuple(groups), season=season_totals([*events, *past], TODAY - timedelta(days=1)), version=version,
    ))
    assert view_problems(view) == []


@FAST
@given(GROUPS, st.text(CHARS, max_size=500))
def test_links_replies_fit_one_message_and_count_what_they_leave_out(groups, query):
    found = LinksFound(query, tuple(groups), tuple(g.name for g in groups))
    text, blocks = links_reply(found)
    fits_message(text, blocks)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    if groups:
        assert sum(len(t) for t in sections) <= REPLY_TEXT  # far below Slack's undocumented total
        shown = sum(t.count("\n• ") + t.startswith("• ") for t in sections)
        note = blocks[-1]["elements"][0]["text"]
        assert note.startswith(f"{found.count} link") and (shown == found.count or "…and " in note)


@FAST
@given(st.text(CHARS, max_size=5000), st.booleans())
def test_help_fits_whatever_was_mistyped(subcommand, admin):
    fits_message("help", help_blocks(visible_commands(is_admin=admin), methods=DEFAULT_PAYMENT_METHODS,
                                     unknown_subcommand=subcommand))


@FAST
@given(st.lists(st.text(CHARS, min_size=1, max_size=300), min_size=1, max_size=40), LONG, LONG)
def test_an_email_failure_line_fits(recipients, subject, reason):
    fits_message(*email_failed_audit(recipients, subject, reason))


@FAST
@given(st.text(CHARS, max_size=2000), st.integers(min_value=1, max_value=3000))
def test_mrkdwn_cuts_never_split_an_entity_and_never_pass_the_limit(text, limit):
    shown = fit.mrkdwn(text, max(limit, 1))
    assert len(shown) <= max(limit, 1)
    assert shown == fit.escape(text) or shown.endswith("…")
    bare = shown.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    assert "&" not in bare and "<" not in bare and ">" not in bare
    clipped = fit.clip(fit.escape(text), max(limit, 8))
    assert len(clipped) <= max(limit, 8)
    assert "&" not in clipped.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
