"""The HTTP server's request and response, and its JSON answers: what the server (http.py), the
web API (web_api.py) and the Stripe webhook (stripe_webhook.py) share, so none imports another."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client: str = ""  # the peer's address, for per-client limits


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    log: dict[str, str] = field(default_factory=dict)  # who / what, for the request's log line


Handler = Callable[[Request], Response]
Routes = dict[str, dict[str, Handler]]


def json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(payload).encode("utf-8")
    return Response(status, body, [("Content-Type", "application/json"), *headers])


def error_response(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return json_response(status, {"status": "error", "error": message}, headers)
