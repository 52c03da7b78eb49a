"""Stripe failing under /paylink: 500s that the stripe library retries with the
same Idempotency-Key, and an answer lost after Stripe made the object. Either
way there is one product, one price and one payment link, and one link posted.
Driven the way Slack drives the bot, with the real stripe client against the
local stand-in."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.fakes.stripe_api import StripeApiStandIn
from tests.slack_bot import Bot

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)]  # Stripe's faults, not the store's

JADA = "2026-05-23-jada-charter"
TRIGGER = "13345224609.738474920.stripefault1"
PATHS = ("/v1/products", "/v1/prices", "/v1/payment_links")


def in_channel(bot: Bot) -> list:
    return [c for c in bot.slack_api.calls("response_url") if c.params.get("response_type") == "in_channel"]


def link_audits(bot: Bot) -> list:
    return [c for c in bot.audit_posts() if c.params["text"].startswith("Payment link made:")]


def make_link(bot: Bot) -> None:
    reply = bot.command("/paylink", "1560 --event jada", user=ADMIN_USER, trigger=TRIGGER)
    assert reply.json() == {"response_type": "ephemeral", "text": (
        "Making the payment link for $1,560.00… it will be posted in this channel.")}
    bot.lazies.wait_idle()


def assert_one_link_posted(bot: Bot, stripe_api: StripeApiStandIn) -> None:
    assert [len(stripe_api.objects(k)) for k in ("product", "price", "payment_link")] == [1, 1, 1]
    [link] = stripe_api.objects("payment_link")
    [posted] = in_channel(bot)
    assert posted.params["text"] == f"Payment link: $1,560.00 for JADA Charter: {link['url']}"
    assert posted.params["blocks"][1]["elements"][0]["text"] == f"Made by <@{ADMIN_USER}> · `{link['id']}`"
    [audit] = link_audits(bot)
    assert audit.params["channel"] == AUDIT_CHANNEL
    assert [c for c in bot.slack_api.calls("response_url") if c.params.get("response_type") == "ephemeral"] == []


def test_a_500_at_every_step_is_retried_with_the_same_key_and_makes_one_link(stripe_bot, stripe_api):
    bot = stripe_bot
    for path in PATHS:
        stripe_api.fail_next(path, 500)
    make_link(bot)
    for path, step in zip(PATHS, ("product", "price", "link"), strict=True):
        tries = stripe_api.requests(path)
        assert [r.status for r in tries] == [500, 200], path
        assert {r.idempotency_key for r in tries} == {f"paylink:{TRIGGER}:{step}"}
    assert_one_link_posted(bot, stripe_api)


def test_an_answer_lost_after_stripe_made_the_link_is_replayed_not_made_again(stripe_bot, stripe_api):
    bot = stripe_bot
    stripe_api.drop_next("/v1/payment_links")
    make_link(bot)
    first, retry = stripe_api.requests("/v1/payment_links")
    assert (first.dropped, first.status, retry.replayed) == (True, 200, True)
    assert first.idempotency_key == retry.idempotency_key == f"paylink:{TRIGGER}:link"
    assert retry.response["id"] == first.response["id"]
    assert_one_link_posted(bot, stripe_api)
