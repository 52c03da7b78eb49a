"""The Stripe adapter (infra/stripe_payments.py) with the real ``stripe`` client
against the local stand-in, and webhook verification with the library's signing helper."""

from __future__ import annotations

import json
import socket

import pytest
import stripe

from bot.core.ports import PaymentsError, RefundRefused, WebhookRejected
from infra.stripe_payments import StripePayments, WebhookVerifier
from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET, StripeApiStandIn, checkout_session_event


def test_the_same_idempotency_key_answers_the_first_object(stripe_api: StripeApiStandIn):
    payments = StripePayments(API_KEY, stripe_api.base_url)
    first = payments.create_product("Deposit", metadata={"event_id": "jada"}, idempotency_key="k-product")
    again = payments.create_product("Deposit", metadata={"event_id": "jada"}, idempotency_key="k-product")
    assert first == again and first.startswith("prod_")
    assert [r.replayed for r in stripe_api.requests()] == [False, True]
    assert len(stripe_api.objects("product")) == 1

    price = payments.create_price(first, 156_000, currency="usd", idempotency_key="k-price")
    link_id, url = payments.create_payment_link(price, metadata={"created_by": "U1"}, idempotency_key="k-link")
    [made] = stripe_api.objects("payment_link")
    assert (link_id, url) == (made["id"], made["url"])
    assert made["metadata"] == {"created_by": "U1"}


def test_stripe_refusals_name_the_step(stripe_api: StripeApiStandIn):
    payments = StripePayments(API_KEY, stripe_api.base_url)
    with pytest.raises(PaymentsError) as caught:
        payments.create_price("prod_nope", 100, currency="usd", idempotency_key="k1")
    assert str(caught.value) == "Stripe could not create the price: No such product: 'prod_nope' (HTTP 400)"
    payments.create_product("A", metadata={}, idempotency_key="k2")
    with pytest.raises(PaymentsError) as caught:  # the same key for other parameters
        payments.create_product("B", metadata={}, idempotency_key="k2")
    assert caught.value.step == "product" and "same parameters" in caught.value.reason

    wrong_key = StripePayments("sk_test_wrong", stripe_api.base_url)
    with pytest.raises(PaymentsError) as caught:
        wrong_key.create_product("A", metadata={}, idempotency_key="k3")
    assert str(caught.value) == (
        "Stripe could not create the product: Stripe refused the API key (check STRIPE_API_KEY)")


def test_an_unreachable_stripe_is_a_payments_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    payments = StripePayments(API_KEY, f"http://127.0.0.1:{port}", max_network_retries=0)
    with pytest.raises(PaymentsError) as caught:
        payments.create_payment_link("price_1", metadata={}, idempotency_key="k")
    assert str(caught.value) == "Stripe could not create the payment link: Stripe could not be reached"


def test_the_verifier_accepts_only_what_the_secret_signed():
    verify = WebhookVerifier(WEBHOOK_SECRET)
    body = json.dumps(checkout_session_event(session_id="cs_test_1", amount_total=500)).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), WEBHOOK_SECRET)
    event = verify(body, header)
    assert type(event) is dict and type(event["data"]["object"]) is dict
    assert event["data"]["object"]["id"] == "cs_test_1"
    for bad_body, bad_header, message in [
        (body, None, "missing Stripe-Signature header"),
        (body, "", "missing Stripe-Signature header"),
        (body.replace(b"500", b"501"), header, "invalid Stripe-Signature"),
        (body, stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_other"),
         "invalid Stripe-Signature"),
        (b"\xff\xfe", header, "the body is not a Stripe event"),
        (b"[1, 2]", stripe.WebhookSignature.generate_signature_header("[1, 2]", WEBHOOK_SECRET),
         "the body is not a Stripe event"),
    ]:
        with pytest.raises(WebhookRejected) as caught:
            verify(bad_body, bad_header)
        assert str(caught.value) == message


# -- refunds ------------------------------------------------------------------------------------------------


def test_a_refund_is_made_once_per_key_and_stripe_refuses_what_it_would_refuse(stripe_api: StripeApiStandIn):
    payments = StripePayments(API_KEY, stripe_api.base_url)
    stripe_api.paid("pi_test_1", 10_000)
    first = payments.create_refund(payment_intent="pi_test_1", amount_cents=6_000, metadata={"opsbot_void_of": "p"},
                                   idempotency_key="r1")
    again = payments.create_refund(payment_intent="pi_test_1", amount_cents=6_000, metadata={"opsbot_void_of": "p"},
                                   idempotency_key="r1")
    assert first == again and (first.amount_cents, first.status, first.payment_intent) == (6_000, "succeeded",
                                                                                           "pi_test_1")
    assert first.metadata == {"opsbot_void_of": "p"} and first.refund_id.startswith("re_")
    assert len(stripe_api.refunds("pi_test_1")) == 1
    with pytest.raises(PaymentsError) as reused:  # the key again with another amount: Stripe's idempotency_error
        payments.create_refund(payment_intent="pi_test_1", amount_cents=5_000, metadata={}, idempotency_key="r1")
    assert "same parameters" in reused.value.reason
    with pytest.raises(RefundRefused) as too_much:
        payments.create_refund(payment_intent="pi_test_1", amount_cents=4_001, metadata={}, idempotency_key="r2")
    assert too_much.value.code == "amount_too_large"
    payments.create_refund(payment_intent="pi_test_1", amount_cents=4_000, metadata={}, idempotency_key="r2")
    with pytest.raises(RefundRefused) as done:  # the same key as the refused one, now refused for another reason
        payments.create_refund(payment_intent="pi_test_1", amount_cents=1, metadata={}, idempotency_key="r3")
    assert done.value.code == "charge_already_refunded"
    with pytest.raises(RefundRefused) as unknown:
        payments.create_refund(payment_intent="pi_test_none", amount_cents=1, metadata={}, idempotency_key="r4")
    assert unknown.value.code == "resource_missing"


def test_refunds_are_listed_by_payment_intent_past_one_page(stripe_api: StripeApiStandIn):
    payments = StripePayments(API_KEY, stripe_api.base_url)
    stripe_api.paid("pi_test_many", 1_000)
    stripe_api.paid("pi_test_other", 1_000)
    made = [stripe_api.refund_outside("pi_test_many", 1)["id"] for _ in range(105)]
    stripe_api.refund_outside("pi_test_other", 1)
    listed = payments.list_refunds(payment_intent="pi_test_many")
    assert [r.refund_id for r in listed] == list(reversed(made))  # newest first, both pages
    gets = [r for r in stripe_api.requests("/v1/refunds") if r.method == "GET"]
    assert [r.params.get("starting_after") for r in gets] == [None, made[5]]
    assert payments.payment_intent_session("pi_test_many") is None
    stripe_api.fail_next("/v1/refunds", 500, times=3)
    with pytest.raises(PaymentsError):
        StripePayments(API_KEY, stripe_api.base_url, max_network_retries=0).list_refunds(payment_intent="pi_test_many")
