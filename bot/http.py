"""The HTTP server: a small WSGI application served by waitress.

Routes live in one table (path -> method -> handler) so later routes
(``/stripe/webhook``, ``/api/...``) are one line each. Every error answer is
JSON; a bad request never gets a 500, and an unexpected error gets a 500 with
no traceback in the body (the traceback goes to the log)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from bot.access import slack_entry
from bot.app import SLACK_NOT_CONFIGURED, Services
from bot.web_api import api_routes

if TYPE_CHECKING:
    from slack_bolt import App

log = logging.getLogger("opsbot.http")
request_log = logging.getLogger("opsbot.requests")

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: Slack payloads are a few KB
SERVER_THREADS = 8


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


# -- routes -----------------------------------------------------------------------------


def healthz(services: Services) -> Handler:
    def handle(request: Request) -> Response:
        return json_response(*services.health.report(services.store))

    return handle


def slack_events(services: Services, slack_app: App | None) -> Handler:
    def handle(request: Request) -> Response:
        if slack_app is None:
            return error_response(503, SLACK_NOT_CONFIGURED)
        from slack_bolt.request import BoltRequest

        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return _unparsable_slack_request(services, request, "request body is not UTF-8")
        try:
            bolt_request = BoltRequest(body=body, query=request.query, headers=dict(request.headers))
        except (ValueError, TypeError, AttributeError, KeyError):  # a payload that is not Slack's
            return _unparsable_slack_request(services, request, "request body is not a Slack payload")
        result = slack_app.dispatch(bolt_request)
        body_dict = bolt_request.body if isinstance(bolt_request.body, dict) else {}
        kind, entry, _, user = slack_entry(body_dict)
        headers = [
            (name, value)
            for name, values in result.headers.items()
            if name.lower() != "content-length"
            for value in values
        ]
        return Response(result.status, result.body.encode("utf-8"), headers,
                        log={"who": user, "what": f"{kind} {entry}".strip()})

    return handle


def _unparsable_slack_request(services: Services, request: Request, problem: str) -> Response:
    # Bolt parses before it verifies; keep "unsigned means 401" true for garbage too.
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(services.settings.slack_signing_secret or "")
    # The verifier decodes bytes strictly; a body that is not UTF-8 cannot match a Slack signature.
    body = request.body.decode("utf-8", errors="replace")
    if not verifier.is_valid_request(body, dict(request.headers)):
        return error_response(401, "invalid request")
    return error_response(400, problem)


def default_routes(services: Services, slack_app: App | None) -> Routes:
    from bot.stripe_webhook import stripe_webhook  # it builds on this module's Request and Response

    return {
        "/slack/events": {"POST": slack_events(services, slack_app)},
        "/stripe/webhook": {"POST": stripe_webhook(services)},
        "/healthz": {"GET": healthz(services)},
        **api_routes(services),
    }


# -- the WSGI application ------------------------------------------------------------------


class WsgiApp:
    def __init__(self, routes: Routes, *, max_body_bytes: int = MAX_BODY_BYTES):
        self.routes = routes
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        started = time.perf_counter()
        try:
            response = self.handle(environ, method, path)
        except Exception:
            log.exception("unexpected error answering %s %s", method, path)
            response = error_response(500, "internal error")
        # One structured line per request: who, what, result, latency. No bodies, no names, no tokens.
        request_log.info(json.dumps({
            "method": method, "path": path, "status": response.status,
            "ms": round((time.perf_counter() - started) * 1000, 1), "client": environ.get("REMOTE_ADDR", ""),
            **response.log,
        }))
        status = HTTPStatus(response.status)
        headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{status.value} {status.phrase}", headers)
        return [response.body]

    def handle(self, environ: dict[str, Any], method: str, path: str) -> Response:
        methods = self.routes.get(path)
        if methods is None:
            return error_response(404, f"no such route: {path}")
        handler = methods.get(method)
        if handler is None:
            allowed = ", ".join(sorted(methods))
            return error_response(405, f"{method} is not allowed here; use {allowed}", [("Allow", allowed)])
        body = self.read_body(environ)
        if isinstance(body, Response):
            return body
        request = Request(method, path, environ.get("QUERY_STRING", ""), _headers(environ), body,
                          environ.get("REMOTE_ADDR", ""))
        return handler(request)

    def read_body(self, environ: dict[str, Any]) -> bytes | Response:
        """Read exactly Content-Length bytes, never more than the limit."""
        raw = (environ.get("CONTENT_LENGTH") or "").strip()
        if not raw:
            return b""  # no Content-Length: no body (waitress de-chunks and sets it)
        if not raw.isdigit():
            return error_response(400, "invalid Content-Length header")
        length = int(raw)
        if length > self.max_body_bytes:
            return error_response(413, f"request body too large: the limit is {self.max_body_bytes} bytes")
        body = environ["wsgi.input"].read(length) if length else b""
        if len(body) != length:
            return error_response(400, "request body shorter than its Content-Length")
        return body


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            headers[key.lower().replace("_", "-")] = value
        elif key.startswith("HTTP_"):
            headers[key[5:].lower().replace("_", "-")] = value
    return headers


def make_wsgi_app(services: Services, slack_app: App | None, *, routes: Routes | None = None) -> WsgiApp:
    """The server's WSGI app. ``slack_app`` None: Slack is not configured, and
    ``/slack/events`` answers 503 saying so. ``routes`` are added to (or
    replace) the default ones."""
    table = default_routes(services, slack_app)
    for path, methods in (routes or {}).items():
        table.setdefault(path, {}).update(methods)
    return WsgiApp(table)


# -- serving -----------------------------------------------------------------------------


class ServeError(Exception):
    """The server cannot start (address in use, bad host)."""


def _waitress_options() -> dict[str, Any]:
    # waitress refuses bodies beyond twice our limit without reading them; the
    # app answers bodies between the two with its own JSON 413.
    return {"threads": SERVER_THREADS, "max_request_body_size": 2 * MAX_BODY_BYTES, "ident": "opsbot"}


def create_server(app: Callable[..., Any], host: str, port: int) -> Any:
    import waitress

    try:
        return waitress.create_server(app, host=host, port=port, **_waitress_options())
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(services: Services, host: str = "127.0.0.1", port: int = 3000) -> None:
    """Serve until interrupted (SIGINT, or SystemExit raised by a signal handler).
    The Slack app is built here when Slack is configured (raises SlackSetupError
    when Slack refuses the token)."""
    from bot.app import build_slack_app

    slack_app = build_slack_app(services) if services.settings.slack_configured else None
    if slack_app is None:
        log.warning("%s; /slack/events will answer 503", SLACK_NOT_CONFIGURED)
    server = create_server(make_wsgi_app(services, slack_app), host, port)
    log.info("opsbot listening on http://%s:%s", server.effective_host, server.effective_port)
    server.run()


class BackgroundServer:
    """A waitress server on its own thread, for tests and embedding."""

    def __init__(self, app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0):
        self.server = create_server(app, host, port)
        self.base_url = f"http://{self.server.effective_host}:{self.server.effective_port}"
        self._thread = threading.Thread(target=self.server.run, name="opsbot-http", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        from waitress import wasyncore

        if not self._thread.is_alive():
            return
        server = self.server
        trigger = server.trigger
        sockets = server._map

        def stop_loop() -> None:
            # Runs on the loop's own thread. Close the listener and the connections,
            # but not the trigger's pipe: this thunk can run before pull_trigger()
            # has written its wake-up byte, and worker threads pull it until they
            # stop. (waitress's server.close() would close the trigger too.) The
            # trigger just leaves the map; an empty map ends the loop.
            for dispatcher in list(sockets.values()):
                if dispatcher is server:
                    wasyncore.dispatcher.close(server)
                elif dispatcher is not trigger:
                    dispatcher.close()
            trigger.del_channel()

        trigger.pull_trigger(stop_loop)
        self._thread.join(timeout)
        self.server.task_dispatcher.shutdown()
        trigger.close()  # nobody writes to it any more

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_background_server(app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0
                            ) -> tuple[BackgroundServer, str]:
    """Start ``app`` on ``host`` (an ephemeral port by default) in a daemon
    thread. Returns the server (call ``.close()`` to stop it) and its base URL."""
    server = BackgroundServer(app, host, port)
    return server, server.base_url
