"""``POST /stripe/webhook``: the route in front of the Stripe intake service.

Stripe retries any answer that is not 2xx: a refused signature (400) is never
recorded. A recorded payment's audit line is in the outbox with it: the answer
never waits for Slack."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.core.ports import StoreError, WebhookRejected
from bot.core.refunds import RefundsUnavailable
from bot.core.stripe_intake import StripeNotConfigured
from bot.entrypoints.web import Handler, Request, Response, error_response, json_response

if TYPE_CHECKING:
    from bot.container import Services

log = logging.getLogger("opsbot.stripe")


def stripe_webhook(services: Services) -> Handler:
    def handle(request: Request) -> Response:
        intake = services.stripe_intake
        if intake is None:
            return error_response(503, "Stripe webhooks are not set up in this server")
        try:
            answer = intake.receive(request.body, request.headers.get("stripe-signature"))
        except (StripeNotConfigured, WebhookRejected) as exc:
            log.warning("Stripe webhook refused: %s", exc)
            return error_response(400, str(exc))
        except RefundsUnavailable as exc:  # nothing recorded: Stripe delivers it again later
            log.warning("Stripe refund event not handled yet: %s", exc)
            return error_response(503, str(exc), [("Retry-After", "60")])
        except StoreError as exc:  # what was written is whole (one transaction a record); the rest comes again
            log.error("Stripe webhook: the store did not answer: %s", exc)
            return error_response(503, "the ledger did not answer; Stripe delivers the event again",
                                  [("Retry-After", "60")])
        return json_response(200, answer)

    return handle
