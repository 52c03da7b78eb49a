"""/paylink parsing and the Block Kit it posts, compared with the dict Slack receives."""

from __future__ import annotations

import socket
import subprocess
from datetime import date

import pytest

from blocks.events import event_detail
from blocks.paylinks import dry_run_text, failure_text, paylink_audit, paylink_lines, paylink_message, unassigned_audit
from blocks.usage import PAYLINK_USAGE, paylink_problem
from bot.core.domain import Event, EventStatus
from bot.core.paylinks import Paylink, PaylinkInputError, PaylinkStatus
from bot.core.ports import PaymentsError
from infra.memory_store import MemoryStore

JADA = Event(id="2026-05-23-jada-charter", title="JADA Charter", date=date(2026, 5, 23), total_cents=156_000)


def link(**overrides) -> Paylink:
    fields = dict(link_id="plink_1", url="https://buy.stripe.com/test_abc", product_id="prod_1", price_id="price_1",
                  amount_cents=25_000, product_name="Charter deposit", description="Charter deposit",
                  event_id=JADA.id, event_title=JADA.title, created_by="U0ADMIN0001",
                  created_at="2026-05-01T17:00:00.000000+00:00", day="2026-05-01")
    return Paylink(**{**fields, **overrides})


# -- parsing ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, amount, description, event", [
    ("1560 --event jada", 156_000, "", JADA.id),
    ("$1,560.00 --event=2026-05-23-jada-charter", 156_000, "", JADA.id),
    ("250 Charter deposit --event jada", 25_000, "Charter deposit", JADA.id),
    ("250 --event jada Charter   deposit", 25_000, "Charter deposit", JADA.id),
    ("250 \u2014event jada Charter deposit", 25_000, "Charter deposit", JADA.id),  # Slack's smart dash
    ("1560.5 Deposit — charter", 156_050, "Deposit — charter", None),
    ("99", 9_900, "", None),
])
def test_paylink_parses_amount_description_and_event(services, text, amount, description, event):
    request = services.paylinks.parse(text)
    assert (request.amount_cents, request.description, request.event.id if request.event else None) == (
        amount, description, event)


@pytest.mark.parametrize("text, problem", [
    ("", "Give the amount to charge, like 250 or 1,560.00."),
    ("   ", "Give the amount to charge, like 250 or 1,560.00."),
    ("-5", "Amount must be positive, not -5."),
    ("abc", "'abc' is not a dollar amount: write it like 125, 1,560 or $1,560.00."),
    ("12.345", "'12.345' has more than two decimals: cents are the smallest unit."),
    ("0", "Amount must be more than $0.00."),
    ("2000000", "$2,000,000.00 is over the $1,000,000.00 limit: check the amount."),
    ("250 --event", "`--event` needs an event id, like `--event jada`."),
    ("250 --event nosuch", "There is no event 'nosuch'. Run /events to see the event ids."),
    ("250 --event birthday", "'birthday' matches 2 events (2026-12-12-birthday-sail, 2026-12-12-birthday-afternoon): "
                             "give more of the id."),
    ("250 --event jada --event whale", "Give `--event` once."),
    ("250 --for jada", "Unknown option `--for`: the only option is `--event`."),
    ("--event jada", "Give the amount to charge, like 250 or 1,560.00."),
    ("250 " + "x" * 201, "The description is 201 characters; the limit is 200."),
])
def test_paylink_input_errors_say_what_is_wrong(services, text, problem):
    with pytest.raises(PaylinkInputError) as caught:
        services.paylinks.parse(text)
    assert paylink_problem(caught.value) == problem


def test_the_plan_names_the_product_and_carries_the_metadata(services):
    paylinks = services.paylinks
    plan = paylinks.plan(paylinks.parse("1560 --event jada"), created_by="U0ADMIN0001", request_key="T1")
    assert (plan.product_name, plan.metadata) == (
        "JADA Charter — $1,560.00", {"event_id": JADA.id, "created_by": "U0ADMIN0001"})
    assert [plan.idempotency_key(s) for s in ("product", "price", "link")] == [
        "paylink:T1:product", "paylink:T1:price", "paylink:T1:link"]
    plan = paylinks.plan(paylinks.parse("250"), created_by="U0ADMIN0001", request_key="T2")
    assert (plan.product_name, plan.metadata) == ("Payment — $250.00", {"created_by": "U0ADMIN0001"})
    plan = paylinks.plan(paylinks.parse("250 Deck hand tip"), created_by="U0ADMIN0001", request_key="T3")
    assert plan.product_name == "Deck hand tip"


# -- messages -----------------------------------------------------------------------------------------------------


def test_link_message_snapshot():
    text, blocks = paylink_message(link())
    assert text == "Payment link: $250.00 for JADA Charter — Charter deposit: https://buy.stripe.com/test_abc"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":link: *Payment link: $250.00*\nCharter deposit\nFor *JADA Charter* (`2026-05-23-jada-charter`)\n"
            "<https://buy.stripe.com/test_abc|https://buy.stripe.com/test_abc>")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Made by <@U0ADMIN0001> · `plink_1`"}]},
    ]
    text, blocks = paylink_message(link(description="", event_id=None, event_title=None))
    assert text == "Payment link: $250.00: https://buy.stripe.com/test_abc"
    assert blocks[0]["text"]["text"] == (
        ":link: *Payment link: $250.00*\nNot tied to an event.\n"
        "<https://buy.stripe.com/test_abc|https://buy.stripe.com/test_abc>")


def test_link_audit_snapshot():
    text, blocks = paylink_audit(link())
    assert text == "Payment link made: $250.00 for JADA Charter — Charter deposit"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":link: <@U0ADMIN0001> made a payment link: *$250.00* for *JADA Charter* — Charter deposit\n"
            "<https://buy.stripe.com/test_abc|https://buy.stripe.com/test_abc>")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "`plink_1` · product `prod_1` · price `price_1`")}]},
    ]


def test_unassigned_audit_snapshot():
    text, blocks = unassigned_audit({"session_id": "cs_test_1", "amount_cents": 25_000, "patron": "Ana <Ruiz>",
                                     "reason": "Its event 'old-sail' is not in events.json."})
    assert text == "Stripe payment received, not tied to an event: $250.00 from Ana &lt;Ruiz&gt;"
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            ":grey_question: Stripe payment received, not tied to an event: *$250.00* from *Ana &lt;Ruiz&gt;*\n"
            "Its event 'old-sail' is not in events.json.\n"
            "An admin can record it on an event: `/opsbot assign cs_test_1 EVENT_ID`")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "`cs_test_1`"}]},
    ]


def test_user_text_is_escaped_everywhere():
    evil = link(description="<!channel> & <https://evil|click>")
    rendered = str(paylink_message(evil)) + str(paylink_audit(evil)) + paylink_lines([PaylinkStatus(evil)])
    assert "<!channel>" not in rendered and "<https://evil|click>" not in rendered
    assert "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" in rendered


def test_dry_run_and_failure_texts(services):
    paylinks = services.paylinks
    plan = paylinks.plan(paylinks.parse("1560 --event jada"), created_by="U0ADMIN0001", request_key="T1")
    assert dry_run_text(plan) == (
        "*Dry run:* STRIPE_API_KEY is not set, so nothing was created in Stripe. "
        "With it, this payment link for JADA Charter would be made:\n"
        "• product “JADA Charter — $1,560.00”, metadata `event_id=2026-05-23-jada-charter`, `created_by=U0ADMIN0001`\n"
        "• price $1,560.00 USD, one time (`unit_amount=156000`, `currency=usd`)\n"
        "• payment link for 1 × that price, metadata `event_id=2026-05-23-jada-charter`, `created_by=U0ADMIN0001`\n"
        "and the link would be posted in this channel.")
    assert failure_text(PaymentsError("price", "An unknown error occurred (HTTP 500)")) == (
        ":warning: The payment link was not made: Stripe could not create the price (An unknown error occurred "
        "(HTTP 500)). Nothing was charged. Try `/paylink` again in a minute.")
    assert PAYLINK_USAGE.startswith("Usage: `/paylink AMOUNT [DESCRIPTION…] [--event EVENT]`")


def test_event_detail_lists_links_and_whether_each_was_paid():
    statuses = [PaylinkStatus(link(link_id="plink_2", url="https://buy.stripe.com/test_b", amount_cents=131_000,
                                   description="", day="2026-05-02")),
                PaylinkStatus(link(), paid_count=1, paid_cents=25_000),
                PaylinkStatus(link(link_id="plink_0", url="https://buy.stripe.com/test_c", description="Tips"),
                              paid_count=2, paid_cents=50_000)]
    _, blocks = event_detail(EventStatus(JADA, 25_000, 1), [], statuses)
    assert blocks[2] == {"type": "section", "text": {"type": "mrkdwn", "text": (
        "*Payment links*\n"
        "<https://buy.stripe.com/test_b|$1,310.00> · May 2 by <@U0ADMIN0001> · not paid yet\n"
        "<https://buy.stripe.com/test_abc|$250.00 · Charter deposit> · May 1 by <@U0ADMIN0001> · "
        ":white_check_mark: paid ($250.00)\n"
        "<https://buy.stripe.com/test_c|$250.00 · Tips> · May 1 by <@U0ADMIN0001> · "
        ":white_check_mark: paid 2× ($500.00)")}}
    assert blocks[3] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "No payments yet."}]}
    # Without links the reply is what it always was.
    assert event_detail(EventStatus(JADA, 0, 0), []) == event_detail(EventStatus(JADA, 0, 0), [], [])


def test_many_links_stay_within_one_section():
    statuses = [PaylinkStatus(link(link_id=f"plink_{i}", description="&" * 60)) for i in range(25)]
    text = paylink_lines(statuses)
    assert len(text) <= 3000
    # A label is cut to 70 characters once escaped (never inside an "&amp;"): the ten newest fit.
    assert text.count("plink") == 0 and text.count("test_abc") == 10
    assert "|$250.00 · " + "&amp;" * 11 + "…>" in text
    assert text.endswith("\n…and 15 older links.")
    # Lines too long for one section: as many as fit, then the count of the rest.
    long = [PaylinkStatus(link(link_id=f"plink_{i}", url="https://buy.stripe.com/" + "x" * 400)) for i in range(10)]
    cut_text = paylink_lines(long)
    assert len(cut_text) <= 3000 and cut_text.endswith("older links.") and cut_text.count("xxxx|") < 10
    few = paylink_lines([PaylinkStatus(link(link_id=f"plink_{i}")) for i in range(12)])
    assert few.count("test_abc") == 10 and few.endswith("\n…and 2 older links.")


def test_these_services_are_on_the_in_memory_store(services):
    assert isinstance(services.store, MemoryStore)


def test_a_unit_test_opens_no_connection_and_starts_no_process():
    with pytest.raises(AssertionError, match="a unit test may not open a connection"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(AssertionError, match="a unit test may not start a process"):
        subprocess.run(["true"], check=False)
