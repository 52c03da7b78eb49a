"""Stripe in tests: the API stand-in, a bot wired to it, and webhook deliveries
signed with the stripe library's own signing helper."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET, StripeApiStandIn
from tests.http_client import HttpResult, post
from tests.slack_bot import Bot


@pytest.fixture
def stripe_api() -> Iterator[StripeApiStandIn]:
    with StripeApiStandIn() as api:
        yield api


@pytest.fixture
def stripe_bot(make_bot, stripe_api: StripeApiStandIn) -> Bot:
    """A bot with Stripe configured against the stand-in (on this test's store kind)."""
    return make_bot(STRIPE_API_KEY=API_KEY, OPSBOT_STRIPE_API_BASE=stripe_api.base_url,
                    STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)


def deliver(bot: Bot, event: dict[str, Any] | bytes, *, secret: str = WEBHOOK_SECRET,
            signature: str | None = None, sign: bool = True) -> HttpResult:
    """POST an event to the bot's /stripe/webhook as Stripe does: the raw JSON body
    and its Stripe-Signature header (made by stripe.WebhookSignature)."""
    body = event if isinstance(event, bytes) else json.dumps(event, indent=2).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8",
               "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    if sign:
        headers["Stripe-Signature"] = signature or stripe.WebhookSignature.generate_signature_header(
            body.decode("utf-8"), secret)
    return post(bot.base_url + "/stripe/webhook", body, headers)
