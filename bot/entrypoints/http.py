"""The HTTP server: a small WSGI application served by waitress.

Routes live in one table (path -> method -> handler) so later routes
(``/stripe/webhook``, ``/api/...``) are one line each. Every error answer is
JSON; a bad request never gets a 500, and an unexpected error gets a 500 with
no traceback in the body (the traceback goes to the log).

waitress and the Slack libraries are imported where they are used: cold start (on Lambda this
module serves the web API and the webhook, never a waitress server)."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from bot.bootstrap import SLACK_NOT_CONFIGURED, build_slack_app
from bot.config import DEFAULT_CLIENT_IP_HEADER, IpNetwork
from bot.container import Services
from bot.entrypoints.web import Handler, Request, Response, Routes, error_response, json_response

if TYPE_CHECKING:
    from slack_bolt import App

log = logging.getLogger("opsbot.http")
request_log = logging.getLogger("opsbot.requests")

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: Slack payloads are a few KB
SERVER_THREADS = 8


def log_request(method: str, path: str, status: int, started: float, client: str,
                who_what: Mapping[str, str]) -> None:
    """One structured line per request: who, what, result, latency. No bodies, no names, no tokens.
    The fields are the message (a JSON text line on a server) and the record's extra (keys of
    the JSON object on Lambda)."""
    fields = {"method": method, "path": path, "status": status,
              "ms": round((time.perf_counter() - started) * 1000, 1), "client": client, **who_what}
    request_log.info(json.dumps(fields), extra=fields)


# -- routes -----------------------------------------------------------------------------


def healthz(services: Services) -> Handler:
    def handle(request: Request) -> Response:
        return json_response(*services.health.report(services.store))

    return handle


_SLACK_TIMESTAMP = re.compile(r"[0-9]{1,15}")


def unsigned_slack_request(headers: Mapping[str, str]) -> bool:
    """True when a request cannot carry a valid Slack signature because its
    ``X-Slack-Request-Timestamp`` is not a whole number of seconds (``17e8``).
    slack_sdk's verifier calls int() on it and raises, which Bolt answers with a
    500; checked before Bolt sees the request, it is an unsigned request: 401."""
    return not _SLACK_TIMESTAMP.fullmatch(headers.get("x-slack-request-timestamp", "").strip())


def slack_events(services: Services, slack_app: App | None) -> Handler:
    def handle(request: Request) -> Response:
        if slack_app is None:
            return error_response(503, SLACK_NOT_CONFIGURED)
        if unsigned_slack_request(request.headers):
            return error_response(401, "invalid request")
        try:
            bolt_request = parse_slack_request(services, request.body, request.query, request.headers)
        except UnparsableSlackRequest as refused:
            return error_response(refused.status, refused.error)
        result = slack_app.dispatch(bolt_request)
        headers = [
            (name, value)
            for name, values in result.headers.items()
            if name.lower() != "content-length"
            for value in values
        ]
        return Response(result.status, result.body.encode("utf-8"), headers, log=slack_who_what(bolt_request))

    return handle


def slack_who_what(bolt_request: Any) -> dict[str, str]:
    """The request line's who and what for a Slack request (a BoltRequest)."""
    from handlers.slack_requests import slack_entry  # cold start: the listeners load with the Slack app

    body = bolt_request.body if isinstance(bolt_request.body, dict) else {}
    kind, entry, _, user = slack_entry(body)
    return {"who": user, "what": f"{kind} {entry}".strip()}


class UnparsableSlackRequest(Exception):
    """A request to /slack/events Bolt cannot parse; ``status`` and ``error`` are the answer."""

    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status, self.error = status, error


def parse_slack_request(services: Services, body: bytes, query: Any, headers: Mapping[str, str]) -> Any:
    """The BoltRequest of a request to /slack/events (its timestamp checked already:
    ``unsigned_slack_request``). Raises UnparsableSlackRequest for a body that is not UTF-8 or not a
    Slack payload: Bolt parses before it verifies, so the answer keeps "unsigned means 401" true for
    garbage too (401 unless it is signed, then 400)."""
    from slack_bolt.request import BoltRequest  # cold start: slack_bolt with the Slack app

    try:
        return BoltRequest(body=body.decode("utf-8"), query=query, headers=dict(headers))
    except UnicodeDecodeError:
        problem = "request body is not UTF-8"
    except (ValueError, TypeError, AttributeError, KeyError):  # a payload that is not Slack's
        problem = "request body is not a Slack payload"
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(services.settings.slack_signing_secret or "")
    # The verifier decodes bytes strictly; a body that is not UTF-8 cannot match a Slack signature.
    if not verifier.is_valid_request(body.decode("utf-8", errors="replace"), dict(headers)):
        raise UnparsableSlackRequest(401, "invalid request")
    raise UnparsableSlackRequest(400, problem)


def default_routes(services: Services, slack_app: App | None) -> Routes:
    # cold start: the web API's blocks (slack_sdk) and the webhook's Stripe services when the app is made
    from bot.entrypoints.stripe_webhook import stripe_webhook
    from bot.entrypoints.web_api import api_routes

    return {
        "/slack/events": {"POST": slack_events(services, slack_app)},
        "/stripe/webhook": {"POST": stripe_webhook(services)},
        "/healthz": {"GET": healthz(services)},
        **api_routes(services),
    }


# -- the WSGI application ------------------------------------------------------------------


class ClientAddress:
    """Who is asking, for per-client limits and the request log. The peer's address;
    but when the peer is one of the trusted proxies (OPSBOT_TRUSTED_PROXIES), the
    nearest address in its client header (OPSBOT_CLIENT_IP_HEADER, X-Forwarded-For
    by default) that is not itself a trusted proxy: the one the proxy saw. Anyone
    else's header is ignored, so a client cannot choose its own address."""

    def __init__(self, trusted: tuple[IpNetwork, ...] = (), header: str = DEFAULT_CLIENT_IP_HEADER):
        self.trusted = trusted
        self.environ_key = "HTTP_" + header.upper().replace("-", "_")

    def __call__(self, environ: Mapping[str, Any]) -> str:
        peer = environ.get("REMOTE_ADDR", "")
        if not self._is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in str(environ.get(self.environ_key, "")).split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _ip(hop)
            if address is None:
                return peer  # the proxy wrote something that is not an address: count it as the proxy's own
            if not self._is_trusted(hop):
                return str(address)
        return peer

    def _is_trusted(self, text: str) -> bool:
        if not self.trusted:
            return False
        address = _ip(text)
        return address is not None and any(address in network for network in self.trusted)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it: bare, or with a port (``203.0.113.9:4711``, ``[2001:db8::1]:4711``)."""
    host = text
    if text.startswith("[") and "]" in text:
        host = text[1:text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port (a bare IPv6 address has several colons)
        host = text.split(":")[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class WsgiApp:
    def __init__(self, routes: Routes, *, max_body_bytes: int = MAX_BODY_BYTES,
                 client_address: Callable[[Mapping[str, Any]], str] | None = None):
        self.routes = routes
        self.max_body_bytes = max_body_bytes
        self.client_address = client_address or ClientAddress()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        started = time.perf_counter()
        client = self.client_address(environ)
        try:
            response = self.handle(environ, method, path, client)
        except Exception:
            log.exception("unexpected error answering %s %s", method, path)
            response = error_response(500, "internal error")
        log_request(method, path, response.status, started, client, response.log)
        status = HTTPStatus(response.status)
        headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{status.value} {status.phrase}", headers)
        return [response.body]

    def handle(self, environ: dict[str, Any], method: str, path: str, client: str = "") -> Response:
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
        request = Request(method, path, environ.get("QUERY_STRING", ""), _headers(environ), body, client)
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
    settings = services.settings
    return WsgiApp(table, client_address=ClientAddress(settings.trusted_proxies, settings.client_ip_header))


# -- serving -----------------------------------------------------------------------------


class ServeError(Exception):
    """The server cannot start (address in use, bad host)."""


# The server is waitress, tuned for a public address (README, "The HTTP server"): every
# figure below is one of its documented settings, read in waitress 3.0.2's source.
CONNECTION_LIMIT = 4_000  # open connections (waitress: 100, which 100 idle sockets exhaust)
IDLE_TIMEOUT_SECONDS = 15  # a connection with no request in progress, closed after this long
REQUEST_DEADLINE_SECONDS = 10  # a request's head and body must arrive within this long of its first byte
CLEANUP_INTERVAL_SECONDS = 1  # how often both timeouts are checked
MAX_HEADER_BYTES = 32 * 1024  # Slack's and Stripe's headers are under 2 KB
INBUF_MEMORY_BYTES = 64 * 1024  # a request body beyond this waits in a temporary file, not in memory
LISTEN_BACKLOG = 2_048
FDS_PER_CONNECTION = 2  # the socket, and a temporary file when a body spills to disk
RESERVED_FDS = 256  # the store, the Slack and AWS clients, logs


def _waitress_options(connection_limit: int = CONNECTION_LIMIT) -> dict[str, Any]:
    return {
        "threads": SERVER_THREADS,
        "ident": "opsbot",
        "connection_limit": connection_limit,
        "channel_timeout": IDLE_TIMEOUT_SECONDS,
        "cleanup_interval": CLEANUP_INTERVAL_SECONDS,
        "asyncore_use_poll": True,  # select() cannot watch file descriptors past 1,024
        "backlog": LISTEN_BACKLOG,
        "max_request_header_size": MAX_HEADER_BYTES,
        # waitress refuses bodies beyond twice our limit without reading them; the
        # app answers bodies between the two with its own JSON 413.
        "max_request_body_size": 2 * MAX_BODY_BYTES,
        "inbuf_overflow": INBUF_MEMORY_BYTES,
        # The app decides whom to believe (OPSBOT_TRUSTED_PROXIES); waitress would drop X-Forwarded-For.
        "clear_untrusted_proxy_headers": False,
    }


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's soft limit of open files toward ``wanted`` (never past
    the hard limit, which only root may raise); returns the soft limit now."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return wanted if soft == resource.RLIM_INFINITY else soft


def _connection_limit() -> int:
    """CONNECTION_LIMIT, or fewer when the hard limit of open files cannot hold that many."""
    files = raise_open_file_limit(RESERVED_FDS + CONNECTION_LIMIT * FDS_PER_CONNECTION)
    limit = min(CONNECTION_LIMIT, max(100, (files - RESERVED_FDS) // FDS_PER_CONNECTION))
    if limit < CONNECTION_LIMIT:
        log.warning("the open-file limit is %d: serving at most %d connections at once (raise `ulimit -Hn` "
                    "for %d)", files, limit, CONNECTION_LIMIT)
    return limit


def _server_classes() -> tuple[type, type]:
    """waitress's TCP server and channel, with a deadline for each request. waitress
    closes a connection only after channel_timeout with no bytes at all, and each byte
    restarts that clock: a client trickling a byte every few seconds (slowloris) would
    hold its connection forever. Here a request whose head and body have not all
    arrived REQUEST_DEADLINE_SECONDS after its first byte is cut."""
    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer

    class DeadlineChannel(HTTPChannel):
        reading_since: float | None = None  # when the first byte of the request being read arrived

        def received(self, data: bytes) -> bool:
            before = self.request
            result = super().received(data)
            if self.request is None:
                self.reading_since = None
            elif self.request is not before:
                self.reading_since = time.time()  # waitress's own clock (last_activity)
            return result

    class DeadlineServer(TcpWSGIServer):
        channel_class = DeadlineChannel

        def maintenance(self, now: float) -> None:
            super().maintenance(now)  # idle connections, past channel_timeout
            cutoff = now - REQUEST_DEADLINE_SECONDS
            for channel in list(self.active_channels.values()):
                since = getattr(channel, "reading_since", None)
                if since is not None and since < cutoff and not channel.requests:
                    channel.will_close = True

    return DeadlineServer, DeadlineChannel


def create_server(app: Callable[..., Any], host: str, port: int) -> Any:
    """waitress, tuned (see the constants above), listening on host:port."""
    from waitress.adjustments import Adjustments
    from waitress.server import MultiSocketServer
    from waitress.task import ThreadedTaskDispatcher

    server_class, _ = _server_classes()
    adj = Adjustments(host=host, port=port, **_waitress_options(_connection_limit()))
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict[int, Any] = {}
    try:
        # As waitress.create_server does it, with our server class: one server per address the host names.
        servers = [server_class(app, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=info) for info in adj.listen]
    except OSError as exc:
        dispatcher.shutdown()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if len(servers) == 1:
        return servers[0]
    return MultiSocketServer(socket_map, adj, [(s.effective_host, s.effective_port) for s in servers], dispatcher,
                             servers[-1].log_info)


def listen_addresses(server: Any) -> list[str]:
    if hasattr(server, "effective_listen"):  # one server per address
        return [f"http://{host}:{port}" for host, port in server.effective_listen]
    return [f"http://{server.effective_host}:{server.effective_port}"]


def serve(services: Services, host: str = "127.0.0.1", port: int = 3000,
          on_listening: Callable[[], None] | None = None) -> None:
    """Serve until interrupted (SIGINT, or SystemExit raised by a signal handler).
    The Slack app is built here when Slack is configured (raises SlackSetupError
    when Slack refuses the token). ``on_listening`` is called once the socket
    listens, before the first request is answered (it must not block)."""
    slack_app = build_slack_app(services) if services.settings.slack_configured else None
    if slack_app is None:
        log.warning("%s; /slack/events will answer 503", SLACK_NOT_CONFIGURED)
    server = create_server(make_wsgi_app(services, slack_app), host, port)
    log.info("opsbot listening on %s", ", ".join(listen_addresses(server)))
    if on_listening is not None:
        on_listening()
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
