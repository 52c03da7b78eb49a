"""The web API's admin token, checked so that guessing can neither lock the admin
out nor starve Slack of CPU.

- A token that passed bcrypt once is remembered by an HMAC of it under a
  per-process key (never the token itself) and is recognised without bcrypt,
  before any limit is looked at: the right token is never refused because of
  someone else's wrong ones. It is remembered for the life of the process: the
  hash it was checked against cannot change without a restart.
- Every bcrypt check (~250-350 ms of CPU at 12 rounds) goes through one gate:
  one check at a time, each followed by a rest, so that checks use at most
  ``BCRYPT_CPU_SHARE`` of one core whatever arrives; at most ``BCRYPT_QUEUE``
  requests wait for it, and the rest are answered 429 with Retry-After at once.
- Per client (its address; an IPv6 client by its /64; behind a trusted proxy,
  the address the proxy forwarded): one check at a time, and after
  ``FREE_FAILURES`` wrong tokens each further try must wait 2, 4, 8 … up to 300
  seconds after the last failure.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

BCRYPT_MAX_BYTES = 72  # bcrypt refuses longer passwords: a longer token cannot be the password
BCRYPT_CPU_SHARE = 0.25  # of one core, at most, for token checks
BCRYPT_QUEUE = 2  # requests that may wait for the gate (each holds a server thread while it waits)
FREE_FAILURES = 5  # wrong tokens a client may send before it has to wait
BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 300
FAILURE_MEMORY_SECONDS = 60 * 60  # a client's failures are forgotten after an hour without one
MAX_TRACKED_CLIENTS = 10_000  # memory stays bounded however many addresses guess
MAX_REMEMBERED_TOKENS = 16  # only tokens that passed bcrypt are remembered: in practice one


@dataclass(frozen=True)
class Verdict:
    ok: bool
    retry_after: int | None = None  # set when the token was not checked: try again in this many seconds
    busy: bool = False  # not checked because the gate was full (rather than this client's own failures)


class GateBusy(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


class CheckGate:
    """Runs expensive checks one at a time, resting after each so that they use at
    most ``share`` of one core; at most ``queue`` callers wait, others get GateBusy."""

    def __init__(self, *, share: float = BCRYPT_CPU_SHARE, queue: int = BCRYPT_QUEUE,
                 clock: Callable[[], float] = time.monotonic, cpu_clock: Callable[[], float] = time.thread_time):
        self.share = share
        self.queue = queue
        self.clock = clock
        self.cpu_clock = cpu_clock  # the checking thread's CPU time: bcrypt runs without the GIL, on this thread
        self.checks = 0  # checks run so far (for tests and benchmarks)
        self._cond = threading.Condition()
        self._busy = False
        self._waiting = 0
        self._next_start = 0.0
        self._cost = 0.3  # CPU seconds of the last check: the estimate behind Retry-After

    def run(self, check: Callable[[], bool]) -> bool:
        with self._cond:
            if self._waiting >= self.queue and not self._free():
                raise GateBusy(max(1, math.ceil((self._waiting + 1) * self._cost / self.share)))
            self._waiting += 1
            try:
                while not self._free():
                    self._cond.wait(None if self._busy else self._next_start - self.clock())
                self._busy = True
            finally:
                self._waiting -= 1
        started = self.cpu_clock()
        try:
            return check()
        finally:
            cost = max(self.cpu_clock() - started, 0.0)
            with self._cond:
                self._busy = False
                self.checks += 1
                self._cost = cost or self._cost
                # Rest (share⁻¹ - 1) times as long as the check took: checks use at most `share` of a core.
                self._next_start = self.clock() + cost * (1 / self.share - 1)
                self._cond.notify_all()

    def _free(self) -> bool:
        return not self._busy and self.clock() >= self._next_start


@dataclass
class _Client:
    failures: int = 0
    last_failure: float = 0.0
    checking: bool = False


class ClientBackoff:
    """Per client: one check at a time, and a growing wait after FREE_FAILURES wrong tokens."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._lock = threading.Lock()

    def reserve(self, client: str) -> int | None:
        """None: the client may have one check now (and holds it until release). Else seconds to wait."""
        now = self.clock()
        with self._lock:
            record = self._clients.get(client)
            if record is None:
                record = self._clients[client] = _Client()
                self._evict()
            self._clients.move_to_end(client)
            if now - record.last_failure > FAILURE_MEMORY_SECONDS:
                record.failures = 0
            if record.checking:
                return BACKOFF_BASE_SECONDS  # its other check is running: no second one in parallel
            if record.failures >= FREE_FAILURES:
                delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (record.failures - FREE_FAILURES))
                remaining = record.last_failure + delay - now
                if remaining > 0:
                    return math.ceil(remaining)
            record.checking = True
            return None

    def release(self, client: str, *, failed: bool | None) -> None:
        """After the check: ``failed`` True (a wrong token), False (the right one: forget the
        client's failures) or None (not checked after all)."""
        with self._lock:
            record = self._clients.get(client)
            if record is None:
                return
            record.checking = False
            if failed:
                record.failures += 1
                record.last_failure = self.clock()
            elif failed is False:
                del self._clients[client]

    def _evict(self) -> None:
        # The least recently seen first; a client with a check running stays.
        for name in list(self._clients):
            if len(self._clients) <= MAX_TRACKED_CLIENTS:
                return
            if not self._clients[name].checking:
                del self._clients[name]


def client_key(address: str) -> str:
    """The unit a limit applies to: an IPv4 address, or an IPv6 /64 (one subscriber's block)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


class ApiAuth:
    def __init__(self, password_hash: str | None, *, clock: Callable[[], float] = time.monotonic,
                 gate: CheckGate | None = None):
        self.password_hash = password_hash.encode() if password_hash else None
        self.gate = gate or CheckGate()
        self.backoff = ClientBackoff(clock)
        self._key = secrets.token_bytes(32)
        self._verified: set[bytes] = set()  # HMAC(token) of tokens that passed bcrypt
        self._lock = threading.Lock()

    def _fingerprint(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def check(self, token: str | None, client: str) -> Verdict:
        if self.password_hash is None or not token:
            return Verdict(False)
        fingerprint = self._fingerprint(token)
        with self._lock:
            if fingerprint in self._verified:  # before any limit: nobody's guesses delay the admin
                return Verdict(True)
        encoded = token.encode("utf-8", "surrogatepass")
        if len(encoded) > BCRYPT_MAX_BYTES:
            return Verdict(False)  # cannot be the password, and costs nothing to refuse
        key = client_key(client)
        wait = self.backoff.reserve(key)
        if wait is not None:
            return Verdict(False, retry_after=wait)
        import bcrypt  # start-up: its library (half a MiB) loads with the first check, not with every server

        failed = None
        try:
            ok = self.gate.run(lambda: bcrypt.checkpw(encoded, self.password_hash))
            failed = not ok
        except GateBusy as busy:
            return Verdict(False, retry_after=busy.retry_after, busy=True)
        finally:
            self.backoff.release(key, failed=failed)
        if ok:
            with self._lock:
                if len(self._verified) >= MAX_REMEMBERED_TOKENS:
                    self._verified.clear()
                self._verified.add(fingerprint)
        return Verdict(ok)
