"""A local stand-in for Slack's Socket Mode WebSocket endpoint (the ``url`` that
``apps.connections.open`` answers), as strict as a connection needs: the RFC 6455
handshake (a wrong key or a missing upgrade is refused), Slack's ``hello``, a pong
for every ping, envelopes sent to the app and the acknowledgements it sends back
(client frames must be masked, as RFC 6455 requires), and a close when told.

slack_sdk's built-in client speaks plain TCP to any port but 443, so ``url`` works
over loopback without TLS. ``refuse()`` answers new handshakes 503 (as a Slack edge
that is down); ``drop()`` closes every open connection with a close frame (as Slack
does when it refreshes one), after which the client reconnects by itself."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
from typing import Any

from infra.local_slack.web_api import APP_ID

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class SocketModeStandIn:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._cond = threading.Condition()
        self._open: list[socket.socket] = []
        self._accepting = True
        self._closed = False
        self.handshakes = 0  # successful ones
        self.refused = 0
        self.received: list[dict[str, Any]] = []  # the app's text frames (acknowledgements), parsed
        self._thread = threading.Thread(target=self._accept_loop, name="socket-mode-stand-in", daemon=True)

    # -- control ---------------------------------------------------------------------------
    def start(self) -> SocketModeStandIn:
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """What apps.connections.open answers (Slack's is wss://wss-primary.slack.com/link/?ticket=...)."""
        return f"wss://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket=opsbot-test&app_id={APP_ID}"

    def refuse(self) -> None:
        with self._cond:
            self._accepting = False

    def accept(self) -> None:
        with self._cond:
            self._accepting = True

    def drop(self) -> None:
        """Close every open connection as Slack does: a close frame, then the socket."""
        with self._cond:
            connections, self._open = self._open, []
        for conn in connections:
            # Shut down, not close: the connection's own thread is reading it, and closes it when woken.
            with contextlib.suppress(OSError):  # already gone: nothing left to tell it
                _send(conn, CLOSE, struct.pack("!H", 1001))
                conn.shutdown(socket.SHUT_RDWR)

    def open_connections(self) -> int:
        with self._cond:
            return len(self._open)

    def send_envelope(self, envelope: dict[str, Any]) -> None:
        """Deliver an envelope (a slash command, an interaction, an event) on the newest connection."""
        with self._cond:
            conn = self._open[-1]
        _send(conn, TEXT, json.dumps(envelope).encode("utf-8"))

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((m for m in self.received if m.get("envelope_id") == envelope_id), None)

        with self._cond:
            if not self._cond.wait_for(lambda: found() is not None, timeout=timeout):
                raise AssertionError(f"no acknowledgement of {envelope_id} within {timeout}s: {self.received}")
            ack = found()
            assert ack is not None
            return ack

    def close(self) -> None:
        self._closed = True
        self.drop()
        with contextlib.suppress(OSError):  # never started: nothing is waiting in accept()
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() (close alone would not)
        self._listener.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> SocketModeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving -----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed: the stand-in is shutting down
            threading.Thread(target=self._serve, args=(conn,), name="socket-mode-connection", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if not self._handshake(conn):
                conn.close()
                return
            _send(conn, TEXT, json.dumps({
                "type": "hello", "num_connections": 1,
                "debug_info": {"host": "applink-test", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }).encode("utf-8"))
            while True:
                opcode, payload = _receive(conn)
                if opcode == PING:
                    _send(conn, PONG, payload)
                elif opcode == TEXT:
                    with self._cond:
                        self.received.append(json.loads(payload))
                        self._cond.notify_all()
                elif opcode == CLOSE:
                    _send(conn, CLOSE, payload[:2])
                    break
        except (OSError, ConnectionError):
            pass  # the client went away, or drop() closed the socket under this thread: the connection is over
        finally:
            with self._cond:
                if conn in self._open:
                    self._open.remove(conn)
            conn.close()

    def _handshake(self, conn: socket.socket) -> bool:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(1024)
            if not chunk:
                return False
            request += chunk
        lines = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        with self._cond:
            accepting = self._accepting
        key = headers.get("sec-websocket-key", "")
        valid = (lines[0].startswith("GET /link/") and headers.get("upgrade", "").lower() == "websocket"
                 and len(base64.b64decode(key + "==")) == 16 and headers.get("sec-websocket-version") == "13")
        if not (accepting and valid):
            status = "503 Service Unavailable" if valid else "400 Bad Request"
            conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            with self._cond:
                self.refused += 1
            return False
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        with self._cond:
            self._open.append(conn)
            self.handshakes += 1
            self._cond.notify_all()
        return True


def _send(conn: socket.socket, opcode: int, payload: bytes) -> None:
    """A server frame: final, unmasked."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    conn.sendall(header + payload)


def _exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data


def _receive(conn: socket.socket) -> tuple[int, bytes]:
    """One client frame (unfragmented, as slack_sdk sends them); refuses an unmasked one."""
    first, second = _exactly(conn, 2)
    opcode, masked, size = first & 0x0F, second & 0x80, second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _exactly(conn, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _exactly(conn, 8))[0]
    if not masked:
        raise ConnectionError("an unmasked client frame (RFC 6455 section 5.1: the server must close)")
    mask = _exactly(conn, 4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_exactly(conn, size)))
    return opcode, payload
