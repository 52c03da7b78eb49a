"""The old web page's API, served beside Slack: log a payment, list events.

Auth is the admin password (``X-Admin-Token`` or ``Authorization: Bearer``)
checked against ``ADMIN_PASS_HASH`` with bcrypt, through ``bot.entrypoints.token_checks``:
a verified token is recognised without bcrypt, and guessing is bounded (one
check at a time, a fixed share of a core, per-client backoff, 429 beyond)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from blocks.export import row_values
from bot.core.access import entry_action
from bot.core.commands import UsageError, parse_day
from bot.core.ledger import KeyReused, LedgerError
from bot.core.ports import StoreError
from bot.core.records import PAGE_DEFAULT, PAGE_MAX
from bot.core.user_text import echo
from bot.entrypoints.token_checks import ApiAuth
from bot.entrypoints.web import Handler, Request, Response, Routes, json_response

if TYPE_CHECKING:
    from bot.container import Services

log = logging.getLogger("opsbot.api")

MAX_FIELD_CHARS = 2_000  # anything longer is not a field a person typed
MAX_NUMBER_DIGITS = 30  # a JSON number longer than this is no amount (and int() refuses past 4,300 digits)

# ledger field -> the API's field name
API_FIELDS = {"event": "event_id", "patron": "patron_name", "amount": "amount", "method": "payment_method",
              "notes": "notes"}


def _token(request: Request) -> str | None:
    token = request.headers.get("x-admin-token")
    if token:
        return token.strip()
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _error(status: int, message: str, field: str | None = None, **extra: Any) -> Response:
    headers = [("Retry-After", str(extra.pop("retry_after")))] if "retry_after" in extra else []
    return json_response(status, {"status": "error", "error": message, "field": field, **extra}, headers)


def _guarded(services: Services, auth: ApiAuth, route: str, handle: Callable[[Request], Response]) -> Handler:
    """Check the token (and, for a token not verified before, the pace of checks) before ``handle`` runs."""
    action = entry_action("route", route)
    assert action is not None, f"{route} is missing from the permission table"

    def guarded(request: Request) -> Response:
        if services.settings.admin_pass_hash is None:
            return _error(401, "the web API is off: set ADMIN_PASS_HASH (opsbot hash-password makes one)")
        verdict = auth.check(_token(request), request.client)
        if verdict.retry_after is not None:
            wait = verdict.retry_after
            why = "too many token checks at once" if verdict.busy else "too many failed attempts"
            return _error(429, f"{why}; try again in {wait} seconds", retry_after=wait)
        if not verdict.ok:
            return _error(401, "missing or wrong admin token (X-Admin-Token or Authorization: Bearer)")
        # The API's caller holds the admin password: the admin role covers every action.
        response = handle(request)
        response.log.update({"who": "web API", "what": action})
        return response

    return guarded


class _HugeNumber:
    """A JSON integer with more digits than any field takes; its field says so (400), never a 500."""


def _bounded_int(digits: str) -> int | _HugeNumber:
    return int(digits) if len(digits.lstrip("-")) <= MAX_NUMBER_DIGITS else _HugeNumber()


def _json_body(request: Request) -> dict[str, Any] | Response:
    if not request.body:
        return _error(400, "the body must be a JSON object")
    try:
        data = json.loads(request.body.decode("utf-8"), parse_int=_bounded_int)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return _error(400, "the body is not valid JSON")
    if not isinstance(data, dict):
        return _error(400, "the body must be a JSON object")
    return data


def _text_field(data: dict[str, Any], name: str) -> str | None | Response:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        return _error(400, f"{name} must be a string", name)
    if len(value) > MAX_FIELD_CHARS:
        return _error(400, f"{name} is too long", name)
    return value


def log_payment(services: Services) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        data = _json_body(request)
        if not isinstance(data, dict):
            return data
        fields: dict[str, Any] = {}
        for name in ("event_id", "patron_name", "payment_method", "notes"):
            value = _text_field(data, name)
            if not isinstance(value, str | None):
                return value
            fields[name] = value
        amount = data.get("amount")
        if isinstance(amount, _HugeNumber):
            return _error(400, f"amount has more than {MAX_NUMBER_DIGITS} digits: check the amount", "amount")
        if isinstance(amount, bool) or not isinstance(amount, int | float | str | None):
            return _error(400, "amount must be a number or a string like \"1,560.00\"", "amount")
        if isinstance(amount, str) and len(amount) > MAX_FIELD_CHARS:
            return _error(400, "amount is too long", "amount")
        key = request.headers.get("idempotency-key", "").strip()
        if len(key) > 255:
            return _error(400, "Idempotency-Key is longer than 255 characters", None)
        try:
            result = services.ledger.record_payment(
                event_id=fields["event_id"], patron=fields["patron_name"], amount=amount,
                method=fields["payment_method"], notes=fields["notes"], logged_by="web-api",
                idempotency_key=f"api:{key}" if key else f"api:{secrets.token_hex(16)}", source="api",
            )
        except KeyReused as exc:
            return _error(409, f"Idempotency-Key '{echo(key)}' was already used for another payment "
                               f"({exc.first.payment_id}); nothing was recorded. Send a new key for a new payment.")
        except LedgerError as exc:
            first_field, message = next(iter(exc.errors.items()))
            status = 404 if exc.unknown_event else 400
            if exc.unknown_event:
                first_field, message = "event", exc.errors["event"]
            return _error(status, message, API_FIELDS.get(first_field, first_field),
                          errors={API_FIELDS.get(k, k): v for k, v in exc.errors.items()})
        # Its audit line and email copy were written to the outbox with it: the answer does not wait for them.
        return json_response(200, {"status": "success", "payment_id": result.payment.payment_id,
                                   "timestamp": result.payment.recorded_at.isoformat()})

    return handle


def list_events(services: Services) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        statuses = services.ledger.list_events(include_past=True)
        return json_response(200, {"events": [{
            "id": s.event.id, "title": s.event.title, "date": s.event.date.isoformat() if s.event.date else None,
            "total_cents": s.total_cents, "paid_cents": s.paid_cents, "balance_cents": s.balance_cents,
            "payment_count": s.payment_count, "payment_cleared": s.cleared,
        } for s in statuses], "payment_methods": list(services.catalog.payment_methods)})

    return handle


PAYMENTS_PARAMETERS = ("event", "from", "to", "cursor", "limit")


def _query(request: Request) -> dict[str, str] | Response:
    """The query string's parameters, each at most once and each one GET /api/payments knows."""
    try:
        parsed = parse_qs(request.query, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except ValueError:
        return _error(400, "the query string has too many parameters")
    for name, values in parsed.items():
        if name not in PAYMENTS_PARAMETERS:
            return _error(400, f"unknown parameter '{echo(name)}': use {', '.join(PAYMENTS_PARAMETERS)}", name[:40])
        if len(values) > 1:
            return _error(400, f"{name} is given more than once", name)
        if len(values[0]) > MAX_FIELD_CHARS:
            return _error(400, f"{name} is too long", name)
    return {name: values[0] for name, values in parsed.items()}


def _day_parameter(query: dict[str, str], name: str) -> date | None | Response:
    text = query.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_day(text, name)
    except UsageError as exc:
        return _error(400, str(exc), name)


def list_payments(services: Services) -> Callable[[Request], Response]:
    """``GET /api/payments?event=&from=&to=&limit=&cursor=``: the ledger's records as the export has
    them (bot/core/records.py), oldest first, a page at a time; ``next_cursor`` asks for the next page."""

    def handle(request: Request) -> Response:
        query = _query(request)
        if not isinstance(query, dict):
            return query
        first, last = _day_parameter(query, "from"), _day_parameter(query, "to")
        for day in (first, last):
            if not isinstance(day, date | None):
                return day
        limit_text = query.get("limit", "").strip() or str(PAGE_DEFAULT)
        if not (limit_text.isdecimal() and len(limit_text) <= 6 and 1 <= int(limit_text) <= PAGE_MAX):
            return _error(400, f"limit must be a whole number from 1 to {PAGE_MAX}", "limit")
        try:
            selection = services.records.select(event=query.get("event") or None, first=first, last=last)
            page = services.records.page(selection, cursor=query.get("cursor") or None, limit=int(limit_text))
        except LedgerError as exc:
            field, message = next(iter(exc.errors.items()))
            return _error(404 if exc.unknown_event else 400, message, field)
        except StoreError as exc:
            log.error("GET /api/payments: the store did not answer: %s", exc)
            return _error(503, "the ledger's store did not answer; try again in a minute")
        return json_response(200, {"payments": [row_values(row) for row in page.rows],
                                   "next_cursor": page.next_cursor})

    return handle


def api_routes(services: Services) -> Routes:
    auth = ApiAuth(services.settings.admin_pass_hash)
    log_it = _guarded(services, auth, "POST /api/payment/log", log_payment(services))
    return {
        "/api/payment/log": {"POST": log_it},
        "/api/log-payment": {"POST": _guarded(services, auth, "POST /api/log-payment", log_payment(services))},
        "/api/events": {"GET": _guarded(services, auth, "GET /api/events", list_events(services))},
        "/api/payments": {"GET": _guarded(services, auth, "GET /api/payments", list_payments(services))},
    }
