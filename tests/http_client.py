"""A tiny HTTP client for tests: real requests over loopback, no redirects, no retries."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


def request(method: str, url: str, body: bytes | str | None = None, headers: dict[str, str] | None = None,
            *, timeout: float = 10.0) -> HttpResult:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        data = body.encode("utf-8") if isinstance(body, str) else body
        conn.request(method, path or "/", body=data, headers=headers or {})
        resp = conn.getresponse()
        return HttpResult(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def get(url: str, **kwargs: Any) -> HttpResult:
    return request("GET", url, **kwargs)


def post(url: str, body: bytes | str | None = b"", headers: dict[str, str] | None = None, **kwargs: Any
         ) -> HttpResult:
    return request("POST", url, body, headers, **kwargs)
