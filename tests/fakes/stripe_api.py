"""A local stand-in for the Stripe API: products, prices and payment links.

A real HTTP server on 127.0.0.1, so the bot's real ``stripe`` client talks to it
over the wire as it talks to api.stripe.com: point ``OPSBOT_STRIPE_API_BASE`` at
``base_url``. Like Stripe it
- checks the secret key (``Authorization: Bearer sk_test_...``),
- honours ``Idempotency-Key``: the same key with the same parameters answers the
  first object again (``Idempotent-Replayed: true``) and creates nothing; the same
  key with other parameters is an ``idempotency_error``,
- validates what each endpoint needs (a price's product must exist, ...).
Every request is recorded with its form parameters and headers. Failures are
scripted per path with ``fail_next()``; they model errors before the request
reached Stripe's idempotency layer (a gateway 5xx, a rate limit), so they are
not saved against the key and a retry can succeed. ``drop_next()`` models the
other case: Stripe did the work and the answer was lost.

``checkout_session_event()`` builds the ``checkout.session.*`` event Stripe
would send when a patron pays one of the links made here; the session's
PaymentIntent (and its charge) is then known here, so it can be refunded:
- ``POST /v1/refunds`` (``payment_intent`` or ``charge``, ``amount`` at most what is
  left, all of it by default): a charge refunded in full answers
  ``charge_already_refunded``, more than is left ``amount_too_large``, an unknown
  PaymentIntent ``resource_missing``; a refund that fails validation is not saved
  against its Idempotency-Key (as at Stripe);
- ``GET /v1/refunds?payment_intent=...`` (or ``charge=``): newest first, paged
  with ``limit`` (1..100, default 10) and ``starting_after``;
- ``refund_outside()`` (a refund made in Stripe's Dashboard), ``set_refund_status()``
  (a refund that fails or is canceled later) and the events that follow them:
  ``charge_refunded_event()`` (the charge, which since API 2022-11-15 does not list
  its refunds: ``amount_refunded`` is cumulative) and ``refund_updated_event()``.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes import LoopbackServer

API_KEY = "sk_test_opsbot0000000000000000"
WEBHOOK_SECRET = "whsec_opsbottest0000000000000000"
_KINDS = {"/v1/products": "product", "/v1/prices": "price", "/v1/payment_links": "payment_link"}
_PREFIX = {"product": "prod", "price": "price", "payment_link": "plink"}
REFUNDS = "/v1/refunds"
SESSIONS = "/v1/checkout/sessions"
_COUNTED = ("pending", "requires_action", "succeeded")  # a refund in these states holds its cents back


@dataclass(frozen=True)
class StripeRequest:
    method: str
    path: str
    params: dict[str, str]  # the form as sent: {"metadata[event_id]": "...", "unit_amount": "156000"}
    headers: dict[str, str]  # lower-case names
    status: int
    response: dict[str, Any]
    replayed: bool  # answered from an earlier request with the same Idempotency-Key
    dropped: bool = False  # handled, then the connection was closed before the answer (see drop_next)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    error_type: str
    message: str
    code: str | None = None


@dataclass
class _Saved:
    path: str
    params: dict[str, str]
    status: int
    body: dict[str, Any]


@dataclass
class StripeApiStandIn(LoopbackServer):
    api_key: str = API_KEY
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _requests: list[StripeRequest] = field(default_factory=list)
    _objects: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in _PREFIX})
    _by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    _saved: dict[str, _Saved] = field(default_factory=dict)
    _failures: dict[str, deque[_Failure]] = field(default_factory=dict)
    _drops: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _intents: dict[str, dict[str, Any]] = field(default_factory=dict)  # pi_... -> {amount, currency, charge}
    _refunds: list[dict[str, Any]] = field(default_factory=list)  # oldest first

    thread_name = "stripe-api-stand-in"

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def base_url(self) -> str:
        """For OPSBOT_STRIPE_API_BASE."""
        return self.root_url

    # -- recordings ------------------------------------------------------------------------
    def requests(self, path: str | None = None) -> list[StripeRequest]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Created objects of a kind (``product``, ``price``, ``payment_link``), oldest first."""
        with self._lock:
            return [json.loads(json.dumps(o)) for o in self._objects[kind]]

    # -- scripted failures -------------------------------------------------------------------
    def fail_next(self, path: str, status: int = 500, *, times: int = 1, headers: dict[str, str] | None = None,
                  error_type: str = "api_error", message: str = "An unknown error occurred",
                  code: str | None = None) -> None:
        """The next ``times`` requests to ``path`` answer ``status`` with a Stripe error body."""
        with self._lock:
            queue = self._failures.setdefault(path, deque())
            for _ in range(times):
                queue.append(_Failure(status, dict(headers or {}), error_type, message, code))

    def drop_next(self, path: str, *, times: int = 1) -> None:
        """The next ``times`` requests to ``path`` are handled (an object is made
        and saved against its Idempotency-Key) and then the connection is closed
        without an answer, as when the answer is lost on its way back."""
        with self._lock:
            self._drops[path] = self._drops.get(path, 0) + times

    # -- what Stripe sends when a link is paid ---------------------------------------------------
    def checkout_session_event(self, link_id: str, *, name: str | None = "Ana Ruiz",
                               email: str | None = "ana@example.com",
                               event_type: str = "checkout.session.completed", payment_status: str = "paid",
                               session_id: str | None = None, metadata: dict[str, str] | None = None,
                               amount_total: int | None = None) -> dict[str, Any]:
        """The event for a Checkout Session of one of the links made here; like
        Stripe, the session carries the link's metadata and its price's amount."""
        with self._lock:
            link = self._by_id[link_id]
            price = self._by_id[link["_line_items"][0]["price"]]
            quantity = int(link["_line_items"][0].get("quantity", 1))
        amount = price["unit_amount"] * quantity if amount_total is None else amount_total
        event = checkout_session_event(
            session_id=session_id or f"cs_test_{secrets.token_hex(12)}", amount_total=amount,
            currency=price["currency"], metadata=dict(link["metadata"]) if metadata is None else metadata,
            payment_link=link_id, name=name, email=email, event_type=event_type, payment_status=payment_status)
        session = event["data"]["object"]
        if session_id is not None:  # the same session again (an async success): the same PaymentIntent
            with self._lock:
                known = next((pi for pi, i in self._intents.items() if i.get("session") == session_id), None)
            session["payment_intent"] = known or session["payment_intent"]
        if payment_status == "paid":
            self.paid(session["payment_intent"], amount, price["currency"])
            with self._lock:
                self._intents[session["payment_intent"]]["session"] = session["id"]
        return event

    # -- payments and their refunds ---------------------------------------------------------------
    def paid(self, payment_intent: str, amount: int, currency: str = "usd") -> str:
        """A PaymentIntent paid in full (by a Checkout Session): it can be refunded. Returns its charge id."""
        with self._lock:
            charge = f"ch_test_{secrets.token_hex(12)}"
            self._intents.setdefault(payment_intent, {"amount": amount, "currency": currency, "charge": charge})
            return self._intents[payment_intent]["charge"]

    def refunds(self, payment_intent: str | None = None) -> list[dict[str, Any]]:
        """Refunds made here (of one PaymentIntent), oldest first."""
        with self._lock:
            return [dict(r) for r in self._refunds if payment_intent in (None, r["payment_intent"])]

    def refund_outside(self, payment_intent: str, amount: int | None = None, *, status: str = "succeeded",
                       metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """A refund made in Stripe's Dashboard (not through the API key opsbot holds)."""
        with self._lock:
            status_code, body = self._refund(payment_intent, amount, metadata or {}, status)
        assert status_code == 200, body
        return body

    def set_refund_status(self, refund_id: str, status: str, failure_reason: str | None = None) -> dict[str, Any]:
        """A refund that changes state later: ``failed`` (with Stripe's failure_reason) or ``canceled``."""
        with self._lock:
            refund = next(r for r in self._refunds if r["id"] == refund_id)
            refund["status"] = status
            if status == "failed":
                refund["failure_reason"] = failure_reason or "expired_or_canceled_card"
                refund["failure_balance_transaction"] = f"txn_test_{secrets.token_hex(12)}"
            return dict(refund)

    def charge_refunded_event(self, payment_intent: str, *, event_id: str | None = None) -> dict[str, Any]:
        """``charge.refunded`` as Stripe sends it: the charge, with the cumulative ``amount_refunded`` and,
        since API version 2022-11-15, no list of its refunds."""
        with self._lock:
            intent = self._intents[payment_intent]
            refunded = sum(r["amount"] for r in self._refunds
                           if r["payment_intent"] == payment_intent and r["status"] in _COUNTED)
        charge = {"id": intent["charge"], "object": "charge", "amount": intent["amount"],
                  "amount_captured": intent["amount"], "amount_refunded": refunded, "captured": True,
                  "currency": intent["currency"], "paid": True, "payment_intent": payment_intent,
                  "refunded": refunded == intent["amount"], "status": "succeeded", "metadata": {}}
        return stripe_event("charge.refunded", charge, event_id=event_id)

    def refund_updated_event(self, refund_id: str, *, event_type: str = "charge.refund.updated",
                             event_id: str | None = None) -> dict[str, Any]:
        """``charge.refund.updated`` (or ``refund.updated``, ``refund.failed``): the refund as it stands now."""
        with self._lock:
            refund = dict(next(r for r in self._refunds if r["id"] == refund_id))
        return stripe_event(event_type, refund, event_id=event_id)

    def _refund(self, payment_intent: str, amount: int | None, metadata: dict[str, str], status: str,
                reason: str | None = None) -> tuple[int, dict]:
        intent = self._intents.get(payment_intent)
        if intent is None:
            return 400, _error("invalid_request_error", f"No such payment_intent: '{payment_intent}'",
                               param="payment_intent", code="resource_missing")
        left = intent["amount"] - sum(r["amount"] for r in self._refunds
                                      if r["payment_intent"] == payment_intent and r["status"] in _COUNTED)
        if left <= 0:
            return 400, _error("invalid_request_error", f"Charge {intent['charge']} has already been refunded.",
                               code="charge_already_refunded")
        amount = left if amount is None else amount
        if amount <= 0:
            return 400, _error("invalid_request_error", "This value must be greater than or equal to 1.",
                               param="amount", code="parameter_invalid_integer")
        if amount > left:
            return 400, _error("invalid_request_error",
                               f"Refund amount (${amount / 100:,.2f}) is greater than unrefunded amount on charge "
                               f"(${left / 100:,.2f})", param="amount", code="amount_too_large")
        refund = {"id": f"re_test{next(self._ids):04d}{secrets.token_hex(8)}", "object": "refund", "amount": amount,
                  "balance_transaction": f"txn_test_{secrets.token_hex(12)}", "charge": intent["charge"],
                  "created": int(time.time()), "currency": intent["currency"], "metadata": metadata,
                  "payment_intent": payment_intent, "reason": reason, "receipt_number": None,
                  "source_transfer_reversal": None, "status": status, "transfer_reversal": None}
        self._refunds.append(refund)
        return 200, dict(refund)

    def _list_sessions(self, params: dict[str, str]) -> tuple[int, dict]:
        """Checkout Sessions, filtered by ``payment_intent`` (the only filter this stand-in knows)."""
        unknown = set(params) - {"payment_intent", "limit"}
        if unknown:
            return 400, _error("invalid_request_error", f"Received unknown parameter: {sorted(unknown)[0]}",
                               param=sorted(unknown)[0])
        intent = self._intents.get(params.get("payment_intent", ""), {})
        found = [{"id": intent["session"], "object": "checkout.session", "payment_intent": params["payment_intent"],
                  "amount_total": intent["amount"], "currency": intent["currency"], "payment_status": "paid"}
                 ] if intent.get("session") else []
        return 200, {"object": "list", "url": SESSIONS, "has_more": False, "data": found}

    def _intent_of_charge(self, charge: str) -> str | None:
        return next((pi for pi, i in self._intents.items() if i["charge"] == charge), None)

    def _create_refund(self, p: dict[str, Any]) -> tuple[int, dict]:
        payment_intent = p.get("payment_intent") or self._intent_of_charge(p.get("charge", "")) or ""
        if not payment_intent and not p.get("charge"):
            return 400, _error("invalid_request_error", "One of the following params should be provided for this "
                               "request: payment_intent or charge.", code="parameter_missing")
        if p.get("charge") and not payment_intent:
            return 400, _error("invalid_request_error", f"No such charge: '{p['charge']}'", param="charge",
                               code="resource_missing")
        amount = p.get("amount")
        if amount is not None and not re.fullmatch(r"-?[0-9]+", amount):
            return 400, _error("invalid_request_error", "Invalid integer: " + amount, param="amount",
                               code="parameter_invalid_integer")
        reason = p.get("reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            return 400, _error("invalid_request_error", "Invalid reason: must be one of duplicate, fraudulent, or "
                               "requested_by_customer", param="reason")
        return self._refund(payment_intent, None if amount is None else int(amount), p.get("metadata") or {},
                            "succeeded", reason)

    def _list_refunds(self, params: dict[str, str]) -> tuple[int, dict]:
        limit = params.get("limit", "10")
        if not re.fullmatch(r"[0-9]+", limit) or not 1 <= int(limit) <= 100:
            return 400, _error("invalid_request_error", "This value must be between 1 and 100.", param="limit")
        unknown = set(params) - {"payment_intent", "charge", "limit", "starting_after", "ending_before", "created"}
        if unknown:
            return 400, _error("invalid_request_error", f"Received unknown parameter: {sorted(unknown)[0]}",
                               param=sorted(unknown)[0])
        found = [r for r in reversed(self._refunds)
                 if params.get("payment_intent") in (None, r["payment_intent"])
                 and params.get("charge") in (None, r["charge"])]
        after = params.get("starting_after")
        if after is not None:
            ids = [r["id"] for r in found]
            if after not in ids:
                return 400, _error("invalid_request_error", f"No such refund: '{after}'", param="starting_after",
                                   code="resource_missing")
            found = found[ids.index(after) + 1:]
        shown = [dict(r) for r in found[:int(limit)]]
        return 200, {"object": "list", "url": REFUNDS, "has_more": len(found) > int(limit), "data": shown}

    # -- serving -------------------------------------------------------------------------------
    def _answer(self, method: str, path: str, raw: str, headers: dict[str, str]
                ) -> tuple[int, dict[str, str], dict] | None:
        """The answer, or None to close the connection without one."""
        params = dict(parse_qsl(raw, keep_blank_values=True))
        out_headers: dict[str, str] = {}
        with self._lock:
            status, body = self._handle(method, path, params, headers, out_headers)
            replayed = out_headers.get("Idempotent-Replayed") == "true"
            dropped = self._drops.get(path, 0) > 0
            if dropped:
                self._drops[path] -= 1
            self._requests.append(StripeRequest(method, path, params, headers, status, body, replayed, dropped))
        return None if dropped else (status, out_headers, body)

    def _handle(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
                out_headers: dict[str, str]) -> tuple[int, dict]:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _error("invalid_request_error", "Invalid API Key provided.")
        failures = self._failures.get(path)
        if failures:
            failure = failures.popleft()
            out_headers.update(failure.headers)
            return failure.status, _error(failure.error_type, failure.message, code=failure.code)
        if method == "GET" and path == REFUNDS:
            return self._list_refunds(params)
        if method == "GET" and path == SESSIONS:
            return self._list_sessions(params)
        if method == "GET" and path in _KINDS:  # a list, newest first, as Stripe pages it (limit 10)
            found = list(reversed(self._objects[_KINDS[path]]))
            shown = [{k: v for k, v in o.items() if not k.startswith("_")} for o in found[:10]]
            return 200, {"object": "list", "url": path, "has_more": len(found) > 10, "data": shown}
        if method != "POST" or (path not in _KINDS and path != REFUNDS):
            return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")
        key = headers.get("idempotency-key")
        if key is not None and key in self._saved:
            saved = self._saved[key]
            if saved.path != path or saved.params != params:
                return 400, _error("idempotency_error",
                                   "Keys for idempotent requests can only be used with the same parameters they "
                                   "were first used with.")
            out_headers["Idempotent-Replayed"] = "true"
            return saved.status, saved.body
        if path == REFUNDS:
            status, body = self._create_refund(_nested(params))
        else:
            status, body = self._create(_KINDS[path], _nested(params))
        if key is not None and status != 400:  # a request that failed validation is not saved (as at Stripe)
            self._saved[key] = _Saved(path, params, status, body)
        return status, body

    def _create(self, kind: str, p: dict[str, Any]) -> tuple[int, dict]:
        n = next(self._ids)
        obj: dict[str, Any] = {"id": f"{_PREFIX[kind]}_test{n:04d}{secrets.token_hex(6)}", "object": kind,
                               "created": int(time.time()), "livemode": False,
                               "metadata": p.get("metadata") or {}}
        if kind == "product":
            if not p.get("name"):
                return 400, _error("invalid_request_error", "Missing required param: name.", param="name")
            obj.update(name=p["name"], active=True, type="service", description=None, default_price=None)
        elif kind == "price":
            product = self._by_id.get(p.get("product", ""))
            if product is None or product["object"] != "product":
                return 400, _error("invalid_request_error", f"No such product: '{p.get('product')}'",
                                   param="product")
            if not re.fullmatch(r"[0-9]+", p.get("unit_amount", "")) or not p.get("currency"):
                return 400, _error("invalid_request_error", "Invalid unit_amount or currency.", param="unit_amount")
            obj.update(active=True, currency=p["currency"], unit_amount=int(p["unit_amount"]), product=product["id"],
                       type="one_time", billing_scheme="per_unit", recurring=None)
        else:
            items = p.get("line_items") or {}
            lines = [items[k] for k in sorted(items, key=int)] if isinstance(items, dict) else []
            if not lines or any(self._by_id.get(x.get("price", ""), {}).get("object") != "price" for x in lines):
                return 400, _error("invalid_request_error", "line_items must name existing prices.",
                                   param="line_items")
            obj.update(active=True, url=f"https://buy.stripe.com/test_{secrets.token_urlsafe(12)}",
                       currency=self._by_id[lines[0]["price"]]["currency"], _line_items=lines)
        self._objects[kind].append(obj)
        self._by_id[obj["id"]] = obj
        return 200, {k: v for k, v in obj.items() if not k.startswith("_")}


def checkout_session_event(*, session_id: str, amount_total: int, currency: str = "usd",
                           metadata: dict[str, str] | None = None, payment_link: str | None = None,
                           name: str | None = "Ana Ruiz", email: str | None = "ana@example.com",
                           event_type: str = "checkout.session.completed", payment_status: str = "paid",
                           event_id: str | None = None) -> dict[str, Any]:
    """A ``checkout.session.*`` event as Stripe sends it (the fields the bot reads and their neighbours)."""
    now = int(time.time())
    return {
        "id": event_id or f"evt_test_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount_total,
            "amount_total": amount_total,
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": {"address": None, "email": email, "name": name, "phone": None,
                                 "tax_exempt": "none", "tax_ids": []},
            "livemode": False,
            "metadata": metadata or {},
            "mode": "payment",
            "payment_intent": f"pi_test_{secrets.token_hex(12)}",
            "payment_link": payment_link,
            "payment_status": payment_status,
            "status": "complete",
            "url": None,
        }},
    }


def stripe_event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """An event as Stripe sends it, around ``obj`` (its data.object)."""
    return {"id": event_id or f"evt_test_{secrets.token_hex(12)}", "object": "event",
            "api_version": "2025-09-30.clover", "created": int(time.time()), "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}, "type": event_type,
            "data": {"object": obj}}


def _error(error_type: str, message: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


def _nested(params: dict[str, str]) -> dict[str, Any]:
    """``{"metadata[event_id]": "x", "line_items[0][price]": "p"}`` -> nested dicts, as Stripe reads forms."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        parts = re.findall(r"[^\[\]]+", name)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _handler_for(api: StripeApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            headers = {k.lower(): v for k, v in self.headers.items()}
            path, _, query = self.path.partition("?")
            answer = api._answer(self.command, path, query if self.command == "GET" else raw, headers)
            if answer is None:
                self.close_connection = True
                return
            status, out_headers, body = answer
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(8)}")
            for name, value in out_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler
