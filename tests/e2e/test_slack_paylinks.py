"""/paylink driven the way Slack drives the bot (signed HTTP to the running server),
with the real ``stripe`` client talking to the local Stripe stand-in, on SQLite and
on DynamoDB (moto server)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.core.ports import StoreError
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.fakes.stripe_api import StripeApiStandIn
from tests.slack_bot import CREW, Bot
from tests.stripe_fixtures import deliver

JADA = "2026-05-23-jada-charter"
USAGE = ("Usage: `/paylink AMOUNT [DESCRIPTION…] [--event EVENT]` — for example "
         "`/paylink 250 Charter deposit --event jada`.")
TRIGGER = "13345224609.738474920.paylink0001"


def in_channel(bot: Bot) -> list:
    return [c for c in bot.slack_api.calls("response_url") if c.params.get("response_type") == "in_channel"]


def replies(bot: Bot) -> list:
    return [c for c in bot.slack_api.calls("response_url") if c.params.get("response_type") == "ephemeral"]


def link_audits(bot: Bot) -> list:
    return [c for c in bot.audit_posts() if c.params["text"].startswith("Payment link made:")]


def events_detail_text(bot: Bot, event: str = "jada") -> str:
    reply = bot.command("/events", event).json()
    return "\n".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")


def test_an_admin_makes_a_link_for_an_event(stripe_bot, stripe_api: StripeApiStandIn):
    bot = stripe_bot
    reply = bot.command("/paylink", "1560 --event jada", user=ADMIN_USER, trigger=TRIGGER)
    assert reply.json() == {"response_type": "ephemeral", "text": (
        "Making the payment link for $1,560.00… it will be posted in this channel.")}
    bot.lazies.wait_idle()

    product, price, plink = (stripe_api.requests(p) for p in ("/v1/products", "/v1/prices", "/v1/payment_links"))
    assert [len(product), len(price), len(plink)] == [1, 1, 1]
    [product_id] = [o["id"] for o in stripe_api.objects("product")]
    [price_id] = [o["id"] for o in stripe_api.objects("price")]
    [made] = stripe_api.objects("payment_link")
    assert product[0].params == {"name": "JADA Charter — $1,560.00", "metadata[event_id]": JADA,
                                 "metadata[created_by]": ADMIN_USER}
    assert price[0].params == {"product": product_id, "unit_amount": "156000", "currency": "usd"}
    assert plink[0].params == {"line_items[0][price]": price_id, "line_items[0][quantity]": "1",
                               "metadata[event_id]": JADA, "metadata[created_by]": ADMIN_USER}
    assert [r.idempotency_key for r in stripe_api.requests()] == [
        f"paylink:{TRIGGER}:product", f"paylink:{TRIGGER}:price", f"paylink:{TRIGGER}:link"]
    assert all(r.headers["authorization"].startswith("Bearer sk_test_") for r in stripe_api.requests())

    [posted] = in_channel(bot)
    url = made["url"]
    assert posted.params["text"] == f"Payment link: $1,560.00 for JADA Charter: {url}"
    assert posted.params["blocks"][0]["text"]["text"] == (
        f":link: *Payment link: $1,560.00*\nFor *JADA Charter* (`{JADA}`)\n<{url}|{url}>")
    assert posted.params["blocks"][1]["elements"][0]["text"] == f"Made by <@{ADMIN_USER}> · `{made['id']}`"
    [audit] = link_audits(bot)
    assert audit.params["channel"] == AUDIT_CHANNEL
    assert audit.params["blocks"][0]["text"]["text"] == (
        f":link: <@{ADMIN_USER}> made a payment link: *$1,560.00* for *JADA Charter*\n<{url}|{url}>")
    assert replies(bot) == []

    assert f"<{url}|$1,560.00> · " in events_detail_text(bot)
    assert events_detail_text(bot).endswith(f"by <@{ADMIN_USER}> · not paid yet")


def test_a_link_without_an_event_carries_its_description(stripe_bot, stripe_api):
    bot = stripe_bot
    bot.command("/paylink", "250 Charter deposit <!channel> & co", user=ADMIN_USER)
    bot.lazies.wait_idle()
    [product] = stripe_api.requests("/v1/products")
    assert product.params == {"name": "Charter deposit <!channel> & co", "metadata[created_by]": ADMIN_USER}
    assert stripe_api.requests("/v1/prices")[0].params["unit_amount"] == "25000"
    [posted] = in_channel(bot)
    assert posted.params["blocks"][0]["text"]["text"].startswith(
        ":link: *Payment link: $250.00*\nCharter deposit &lt;!channel&gt; &amp; co\nNot tied to an event.\n")
    assert "<!channel>" not in str(posted.params) + str(link_audits(bot)[0].params)


def test_a_retried_slack_request_creates_nothing_new(stripe_bot, stripe_api):
    bot = stripe_bot
    first = bot.command("/paylink", "250 Deposit --event jada", user=ADMIN_USER, trigger=TRIGGER)
    bot.lazies.wait_idle()
    again = bot.command("/paylink", "250 Deposit --event jada", user=ADMIN_USER, trigger=TRIGGER,
                        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    bot.lazies.wait_idle()
    assert first.json() == again.json()
    assert [len(stripe_api.objects(k)) for k in ("product", "price", "payment_link")] == [1, 1, 1]
    assert len(stripe_api.requests()) == 3  # the retry found the link it made: no Stripe call at all
    assert len(in_channel(bot)) == 1
    assert len(link_audits(bot)) == 1


def test_simultaneous_deliveries_of_one_request_make_one_link(stripe_bot, stripe_api):
    bot = stripe_bot

    def send(_: int):
        return bot.command("/paylink", "1560 --event jada", user=ADMIN_USER, trigger=TRIGGER)

    with ThreadPoolExecutor(4) as pool:
        assert {r.status for r in pool.map(send, range(4))} == {200}
    bot.lazies.wait_idle()
    # Whatever reached Stripe carried the request's keys: Stripe answered replays, never a second object.
    assert [len(stripe_api.objects(k)) for k in ("product", "price", "payment_link")] == [1, 1, 1]
    assert {r.idempotency_key for r in stripe_api.requests()} == {
        f"paylink:{TRIGGER}:product", f"paylink:{TRIGGER}:price", f"paylink:{TRIGGER}:link"}
    assert all(r.status == 200 for r in stripe_api.requests())
    assert len(in_channel(bot)) == 1
    assert len(link_audits(bot)) == 1
    assert events_detail_text(bot).count("buy.stripe.com") == 1


def test_a_non_admin_is_refused_and_nothing_reaches_stripe(stripe_bot, stripe_api):
    bot = stripe_bot
    reply = bot.command("/paylink", "1560 --event jada", user=CREW)
    assert reply.json() == {"response_type": "ephemeral",
                            "text": f"Only admins can make payment links. Ask one of: <@{ADMIN_USER}>."}
    bot.lazies.wait_idle()
    assert stripe_api.requests() == []
    assert in_channel(bot) == [] and link_audits(bot) == []


@pytest.mark.parametrize("text, problem", [
    ("", "Give the amount to charge, like 250 or 1,560.00."),
    ("-5", "Amount must be positive, not -5."),
    ("abc", "'abc' is not a dollar amount: write it like 125, 1,560 or $1,560.00."),
    ("12.345", "'12.345' has more than two decimals: cents are the smallest unit."),
    ("250 --event nosuch", "There is no event 'nosuch'. Run /events to see the event ids."),
    ("<!channel>", "'&lt;!channel&gt;' is not a dollar amount: write it like 125, 1,560 or $1,560.00."),
])
def test_bad_input_gets_the_usage_and_nothing_reaches_stripe(stripe_bot, stripe_api, text, problem):
    bot = stripe_bot
    reply = bot.command("/paylink", text, user=ADMIN_USER)
    assert reply.json() == {"response_type": "ephemeral", "text": f"{problem}\n{USAGE}"}
    bot.lazies.wait_idle()
    assert stripe_api.requests() == []
    assert bot.slack_api.calls("response_url") == [] and link_audits(bot) == []


def test_without_a_stripe_key_it_is_a_labelled_dry_run(make_bot, stripe_api):
    bot = make_bot(OPSBOT_STRIPE_API_BASE=stripe_api.base_url)  # no STRIPE_API_KEY
    reply = bot.command("/paylink", "250 Charter deposit --event jada", user=ADMIN_USER)
    assert reply.json() == {"response_type": "ephemeral", "text": (
        "*Dry run:* STRIPE_API_KEY is not set, so nothing was created in Stripe. "
        "With it, this payment link for JADA Charter would be made:\n"
        f"• product “Charter deposit”, metadata `event_id={JADA}`, `created_by={ADMIN_USER}`\n"
        "• price $250.00 USD, one time (`unit_amount=25000`, `currency=usd`)\n"
        f"• payment link for 1 × that price, metadata `event_id={JADA}`, `created_by={ADMIN_USER}`\n"
        "and the link would be posted in this channel.")}
    bot.lazies.wait_idle()
    assert stripe_api.requests() == []
    assert bot.slack_api.calls("response_url") == [] and bot.audit_posts() == []
    assert "Payment links" not in events_detail_text(bot)


@pytest.mark.parametrize("status, headers", [
    (500, {}),
    (429, {"Stripe-Should-Retry": "true"}),  # a lock timeout: Stripe asks for the retry
])
def test_a_stripe_error_is_retried_by_the_library_with_the_same_key(stripe_bot, stripe_api, status, headers):
    bot = stripe_bot
    stripe_api.fail_next("/v1/prices", status, headers=headers)
    bot.command("/paylink", "1560 --event jada", user=ADMIN_USER, trigger=TRIGGER)
    bot.lazies.wait_idle()
    prices = stripe_api.requests("/v1/prices")
    assert [r.status for r in prices] == [status, 200]
    assert {r.idempotency_key for r in prices} == {f"paylink:{TRIGGER}:price"}
    assert [len(stripe_api.objects(k)) for k in ("product", "price", "payment_link")] == [1, 1, 1]
    assert len(in_channel(bot)) == 1 and replies(bot) == []


def test_a_final_stripe_failure_tells_the_admin_and_nothing_is_posted(stripe_bot, stripe_api):
    bot = stripe_bot
    stripe_api.fail_next("/v1/prices", 500, times=3)
    bot.command("/paylink", "1560 --event jada", user=ADMIN_USER, trigger=TRIGGER)
    bot.lazies.wait_idle()
    assert [r.status for r in stripe_api.requests("/v1/prices")] == [500, 500, 500]  # 1 try + 2 library retries
    assert stripe_api.requests("/v1/payment_links") == []
    [told] = replies(bot)
    assert told.params["text"] == (
        ":warning: The payment link was not made: Stripe could not create the price (An unknown error occurred "
        "(HTTP 500)). Nothing was charged. Try `/paylink` again in a minute.")
    assert in_channel(bot) == [] and link_audits(bot) == []
    assert "Payment links" not in events_detail_text(bot)

    # Trying again is a new request (new keys): it makes the link.
    bot.command("/paylink", "1560 --event jada", user=ADMIN_USER)
    bot.lazies.wait_idle()
    assert len(in_channel(bot)) == 1
    assert len(stripe_api.objects("payment_link")) == 1


def test_a_store_failure_after_stripe_tells_the_admin_and_a_payment_still_lands(stripe_bot, stripe_api, monkeypatch):
    bot = stripe_bot
    store = bot.services.store
    real_put = store.put_record

    def put_record(collection, *args, **kwargs):
        if collection == "paylink-id":
            raise StoreError("the store did not answer")
        return real_put(collection, *args, **kwargs)

    monkeypatch.setattr(store, "put_record", put_record)
    bot.command("/paylink", "1560 --event jada", user=ADMIN_USER)
    bot.lazies.wait_idle()
    [told] = replies(bot)
    assert told.params["text"] == (
        ":warning: The payment link could not be saved (the bot's store did not answer), so it was not posted. "
        "Nothing was charged. Try `/paylink` again in a minute.")
    assert in_channel(bot) == [] and link_audits(bot) == []

    # The link exists in Stripe all the same; if a patron pays it, its metadata still names the event.
    monkeypatch.undo()
    [orphan] = stripe_api.objects("payment_link")
    assert deliver(bot, stripe_api.checkout_session_event(orphan["id"])).json()["status"] == "recorded"
    assert bot.services.ledger.status(JADA).paid_cents == 156_000


def test_a_link_is_kept_in_the_audit_log_once_across_a_retry(stripe_bot, stripe_api):
    bot = stripe_bot
    for _ in range(2):
        bot.command("/paylink", "1560 --event jada", user=ADMIN_USER, trigger="13345224609.1.same-link")
        bot.lazies.wait_idle()
    entries = [e for e in bot.services.store.day_audit(bot.services.ledger.today().isoformat())
               if e.action == "paylink.create"]
    [link] = stripe_api.objects("payment_link")
    assert [(e.actor, e.detail) for e in entries] == [
        (ADMIN_USER, {"link_id": link["id"], "event_id": "2026-05-23-jada-charter", "amount_cents": 156_000})]
