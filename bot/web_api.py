"""The old web page's API, served beside Slack: log a payment, list events.

Auth is the admin password (``X-Admin-Token`` or ``Authorization: Bearer``)
checked against ``ADMIN_PASS_HASH`` with bcrypt. A bcrypt check costs ~300 ms of
CPU, so a verified token is remembered for a while — keyed by an HMAC of it
under a per-process key, never the token itself — and a client that keeps
failing is slowed down with 429s."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import bcrypt

from bot.access import entry_action
from bot.ledger import KeyReused, LedgerError
from bot.ports import NotifyError, StoreError
from bot.user_text import echo

if TYPE_CHECKING:
    from bot.app import Services
    from bot.http import Handler, Request, Response, Routes

log = logging.getLogger("opsbot.api")

TOKEN_TTL_SECONDS = 15 * 60
FAILURE_WINDOW_SECONDS = 5 * 60
MAX_FAILURES = 5  # per client in the window; the next attempts get 429
BCRYPT_MAX_BYTES = 72
MAX_FIELD_CHARS = 2_000  # anything longer is not a field a person typed
MAX_NUMBER_DIGITS = 30  # a JSON number longer than this is no amount (and int() refuses past 4,300 digits)

# ledger field -> the API's field name
API_FIELDS = {"event": "event_id", "patron": "patron_name", "amount": "amount", "method": "payment_method",
              "notes": "notes"}


class ApiAuth:
    def __init__(self, password_hash: str | None, clock: Callable[[], float] = time.monotonic):
        self.password_hash = password_hash.encode() if password_hash else None
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, float] = {}  # HMAC(token) -> expiry
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _fingerprint(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def retry_after(self, client: str) -> int | None:
        """Seconds a client must wait, when it failed too often lately."""
        now = self.clock()
        with self._lock:
            failures = self._failures.get(client)
            if not failures:
                return None
            while failures and failures[0] <= now - FAILURE_WINDOW_SECONDS:
                failures.popleft()
            if len(failures) < MAX_FAILURES:
                return None
            return max(1, int(failures[0] + FAILURE_WINDOW_SECONDS - now) + 1)

    def verify(self, token: str | None, client: str) -> bool:
        if self.password_hash is None or not token:
            self._failed(client)
            return False
        fingerprint = self._fingerprint(token)
        now = self.clock()
        with self._lock:
            if self._verified.get(fingerprint, 0) > now:
                return True
        encoded = token.encode("utf-8", "surrogatepass")
        ok = len(encoded) <= BCRYPT_MAX_BYTES and bcrypt.checkpw(encoded, self.password_hash)
        if not ok:
            self._failed(client)
            return False
        with self._lock:
            self._verified[fingerprint] = now + TOKEN_TTL_SECONDS
            self._failures.pop(client, None)
        return True

    def _failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, deque()).append(self.clock())


def _token(request: Request) -> str | None:
    token = request.headers.get("x-admin-token")
    if token:
        return token.strip()
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _error(status: int, message: str, field: str | None = None, **extra: Any) -> Response:
    from bot.http import json_response

    headers = [("Retry-After", str(extra.pop("retry_after")))] if "retry_after" in extra else []
    return json_response(status, {"status": "error", "error": message, "field": field, **extra}, headers)


def _guarded(services: Services, auth: ApiAuth, route: str, handle: Callable[[Request], Response]) -> Handler:
    """Check the client's pace and its token before ``handle`` runs."""
    action = entry_action("route", route)
    assert action is not None, f"{route} is missing from the permission table"

    def guarded(request: Request) -> Response:
        client = request.client or "unknown"
        wait = auth.retry_after(client)
        if wait is not None:
            return _error(429, f"too many failed attempts; try again in {wait} seconds", retry_after=wait)
        if services.settings.admin_pass_hash is None:
            return _error(401, "the web API is off: set ADMIN_PASS_HASH (opsbot hash-password makes one)")
        if not auth.verify(_token(request), client):
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
    from bot.http import json_response

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
        try:
            services.audit.payment_recorded(result)
        except NotifyError:
            # The payment is recorded; the ops channel line failed and will be
            # posted by a retry with the same Idempotency-Key (its claim was given back).
            log.error("payment %s recorded, but its audit line could not be posted", result.payment.payment_id,
                      exc_info=True)
        except StoreError:
            raise  # the store failed, not the display: a 500, and the client's retry with its key replays
        except Exception:
            # A line that cannot be built is a display bug, not a failed payment: the caller gets its record.
            log.exception("payment %s recorded, but its audit line could not be built", result.payment.payment_id)
        return json_response(200, {"status": "success", "payment_id": result.payment.payment_id,
                                   "timestamp": result.payment.recorded_at.isoformat()})

    return handle


def list_events(services: Services) -> Callable[[Request], Response]:
    from bot.http import json_response

    def handle(request: Request) -> Response:
        statuses = services.ledger.list_events(include_past=True)
        return json_response(200, {"events": [{
            "id": s.event.id, "title": s.event.title, "date": s.event.date.isoformat() if s.event.date else None,
            "total_cents": s.total_cents, "paid_cents": s.paid_cents, "balance_cents": s.balance_cents,
            "payment_count": s.payment_count, "payment_cleared": s.cleared,
        } for s in statuses]})

    return handle


def api_routes(services: Services) -> Routes:
    auth = ApiAuth(services.settings.admin_pass_hash)
    log_it = _guarded(services, auth, "POST /api/payment/log", log_payment(services))
    return {
        "/api/payment/log": {"POST": log_it},
        "/api/log-payment": {"POST": _guarded(services, auth, "POST /api/log-payment", log_payment(services))},
        "/api/events": {"GET": _guarded(services, auth, "GET /api/events", list_events(services))},
    }
