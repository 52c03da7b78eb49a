"""The Payments port on Stripe's API (the ``stripe`` library), and webhook verification.

The library's own retries handle 409 / 5xx (and 429s Stripe marks retryable)
with backoff, resending the same Idempotency-Key, so a retried POST never makes
a second object."""

from __future__ import annotations

import json
from typing import Any

import stripe

from bot.core.ports import PaymentsError, RefundRefused, StripeRefund, WebhookRejected

MAX_NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 20  # per attempt; the work runs after Slack's ack, so minutes are fine, hours are not


class StripePayments:
    def __init__(self, api_key: str, api_base: str, *, max_network_retries: int = MAX_NETWORK_RETRIES,
                 timeout: float = TIMEOUT_SECONDS):
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def create_product(self, name: str, *, metadata: dict[str, str], idempotency_key: str) -> str:
        product = self._create("product", self.client.v1.products.create,
                               {"name": name, "metadata": metadata}, idempotency_key)
        return str(product["id"])

    def create_price(self, product_id: str, unit_amount_cents: int, *, currency: str,
                     idempotency_key: str) -> str:
        price = self._create("price", self.client.v1.prices.create,
                             {"product": product_id, "unit_amount": unit_amount_cents, "currency": currency},
                             idempotency_key)
        return str(price["id"])

    def create_payment_link(self, price_id: str, *, metadata: dict[str, str],
                            idempotency_key: str) -> tuple[str, str]:
        link = self._create("payment link", self.client.v1.payment_links.create,
                            {"line_items": [{"price": price_id, "quantity": 1}], "metadata": metadata},
                            idempotency_key)
        return str(link["id"]), str(link["url"])

    def create_refund(self, *, payment_intent: str, amount_cents: int, metadata: dict[str, str],
                      idempotency_key: str) -> StripeRefund:
        params = {"payment_intent": payment_intent, "amount": amount_cents, "metadata": metadata,
                  "reason": "requested_by_customer"}
        try:
            refund = self.client.v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.InvalidRequestError as exc:  # Stripe looked at it and said no: nothing was refunded
            if exc.code == "idempotency_error" or exc.http_status != 400:
                raise PaymentsError("refund", _reason(exc)) from exc
            raise RefundRefused(exc.code, exc.user_message or str(exc)) from exc
        except stripe.StripeError as exc:
            raise PaymentsError("refund", _reason(exc)) from exc
        return StripeRefund.from_object(refund.to_dict())

    def list_refunds(self, *, payment_intent: str | None = None, charge: str | None = None) -> list[StripeRefund]:
        params: dict[str, Any] = {"limit": 100}
        if payment_intent:
            params["payment_intent"] = payment_intent
        if charge:
            params["charge"] = charge
        try:
            page = self.client.v1.refunds.list(params=params)
            return [StripeRefund.from_object(r.to_dict()) for r in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise PaymentsError("refunds", _reason(exc)) from exc

    def payment_intent_session(self, payment_intent: str) -> str | None:
        try:
            page = self.client.v1.checkout.sessions.list(params={"payment_intent": payment_intent, "limit": 1})
        except stripe.StripeError as exc:
            raise PaymentsError("checkout session", _reason(exc)) from exc
        found = [s.to_dict() for s in page.data]
        return str(found[0]["id"]) if found and isinstance(found[0].get("id"), str) else None

    @staticmethod
    def _create(step: str, create: Any, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        try:
            obj = create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise PaymentsError(step, _reason(exc)) from exc
        return obj.to_dict()


def _reason(exc: stripe.StripeError) -> str:
    if isinstance(exc, stripe.APIConnectionError):
        return "Stripe could not be reached"
    if isinstance(exc, stripe.AuthenticationError):
        return "Stripe refused the API key (check STRIPE_API_KEY)"
    message = exc.user_message or "no message"
    return f"{message} (HTTP {exc.http_status})" if exc.http_status else message


class WebhookVerifier:
    """Checks the ``Stripe-Signature`` header against the raw body with the endpoint's secret."""

    def __init__(self, secret: str):
        self.secret = secret

    def __call__(self, raw_body: bytes, signature_header: str | None) -> dict[str, Any]:
        """The event as plain dicts. Raises WebhookRejected."""
        if not signature_header:
            raise WebhookRejected("missing Stripe-Signature header")
        try:
            shape = json.loads(raw_body)
        except ValueError:  # not UTF-8, or not JSON
            shape = None
        if not isinstance(shape, dict):
            raise WebhookRejected("the body is not a Stripe event")
        try:
            event = stripe.Webhook.construct_event(raw_body, signature_header, self.secret)
        except stripe.SignatureVerificationError:
            raise WebhookRejected("invalid Stripe-Signature") from None
        return event.to_dict()
