"""A password guesser against the web API's admin token: it can neither lock the
admin out nor starve Slack. Counts of bcrypt checks for N guesses, the share of a
core they take, and the crew's acks while it lasts (Slack's limit: 3 s)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import pytest

from bot.config import ConfigError, load_settings
from bot.entrypoints.http import ClientAddress
from bot.entrypoints.token_checks import (
    BACKOFF_MAX_SECONDS,
    BCRYPT_CPU_SHARE,
    FREE_FAILURES,
    MAX_TRACKED_CLIENTS,
    ApiAuth,
    CheckGate,
    client_key,
)
from tests.http_client import post
from tests.slack_bot import Bot

PASSWORD = "correct horse battery staple"
HASH_4 = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # fast, for the counting tests
JADA = "2026-05-23-jada-charter"


class CountedChecks:
    """bcrypt.checkpw, counted, with the CPU time each check took."""

    def __init__(self, real, hold: threading.Event | None = None):
        self.real, self.hold = real, hold
        self.cpu: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        if self.hold is not None:
            assert self.hold.wait(30), "the other guesses were never answered"
        started = time.thread_time()
        ok = self.real(password, hashed)
        with self.lock:
            self.cpu.append(time.thread_time() - started)
        return ok

    @property
    def count(self) -> int:
        return len(self.cpu)


def test_64_guesses_at_once_from_one_address_make_one_bcrypt_check(monkeypatch):
    answered = threading.Event()
    checks = CountedChecks(bcrypt.checkpw, hold=answered)
    monkeypatch.setattr(bcrypt, "checkpw", checks)
    auth = ApiAuth(HASH_4)
    barrier = threading.Barrier(64)
    refused = []

    def guess(i: int):
        barrier.wait()
        verdict = auth.check(f"guess-{i}", "203.0.113.7")
        if verdict.retry_after is not None:
            refused.append(verdict)
            if len(refused) == 63:
                answered.set()  # the one check in flight may finish now
        return verdict

    with ThreadPoolExecutor(64) as pool:
        verdicts = list(pool.map(guess, range(64)))
    assert checks.count == 1
    assert sum(v.retry_after is not None for v in verdicts) == 63  # 429 at once, unchecked
    assert not any(v.ok for v in verdicts)


def test_a_guesser_from_one_address_gets_5_checks_then_a_doubling_wait(monkeypatch):
    checks = CountedChecks(bcrypt.checkpw)
    monkeypatch.setattr(bcrypt, "checkpw", checks)
    now = [0.0]
    gate = CheckGate(clock=lambda: now[0], cpu_clock=lambda: 0.0)  # no rest: this test is about the backoff
    auth = ApiAuth(HASH_4, clock=lambda: now[0], gate=gate)
    # One guess a second for an hour.
    waits = []
    for second in range(3600):
        now[0] = float(second)
        verdict = auth.check(f"guess-{second}", "203.0.113.7")
        assert not verdict.ok
        if verdict.retry_after is None:
            waits.append(second)
    gaps = [b - a for a, b in zip(waits, waits[1:], strict=False)]
    assert waits[:FREE_FAILURES] == [0, 1, 2, 3, 4]
    assert gaps[FREE_FAILURES - 1:FREE_FAILURES + 7] == [2, 4, 8, 16, 32, 64, 128, 256]
    assert set(gaps[FREE_FAILURES + 7:]) == {BACKOFF_MAX_SECONDS}
    assert checks.count == len(waits) == 23  # of 3,600 guesses in an hour
    # Another address is not slowed by this one, and the right token resets nothing for the guesser.
    assert auth.check(PASSWORD, "198.51.100.4").ok
    assert auth.check("guess", "203.0.113.7").retry_after is not None


def test_clients_are_addresses_and_ipv6_blocks_and_their_number_is_bounded(monkeypatch):
    monkeypatch.setattr(bcrypt, "checkpw", lambda password, hashed: False)
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key("") == "unknown"
    auth = ApiAuth(HASH_4, gate=CheckGate(cpu_clock=lambda: 0.0))
    for i in range(MAX_TRACKED_CLIENTS + 500):
        auth.check("guess", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(auth.backoff._clients) == MAX_TRACKED_CLIENTS


# -- the flood, through the running server --------------------------------------------------------------------

HASH_12 = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()  # as `opsbot hash-password` makes it
GUESSERS = 50


def api_call(bot: Bot, token: str, forwarded_for: str, amount: str = "1"):
    payload = json.dumps({"event_id": JADA, "patron_name": "Ana", "amount": amount, "payment_method": "cash"})
    return post(bot.base_url + "/api/payment/log", payload,
                {"Content-Type": "application/json", "X-Admin-Token": token, "X-Forwarded-For": forwarded_for},
                timeout=30)


@pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)
def test_a_flood_of_wrong_tokens_leaves_the_admin_in_and_slack_acks_under_3_seconds(make_bot, monkeypatch):
    checks = CountedChecks(bcrypt.checkpw)
    monkeypatch.setattr(bcrypt, "checkpw", checks)
    # Behind a reverse proxy on 127.0.0.1: each guesser is the address the proxy forwards.
    bot = make_bot(ADMIN_PASS_HASH=HASH_12, OPSBOT_TRUSTED_PROXIES="127.0.0.1")
    assert api_call(bot, PASSWORD, "198.51.100.200").status == 200  # the admin, before the flood
    checks.cpu.clear()

    stop = threading.Event()
    statuses: list[int] = []

    def guesser(n: int) -> None:  # 50 addresses guessing without pause until the crew is done
        i = 0
        while not stop.is_set():
            statuses.append(api_call(bot, f"guess-{n}-{i}", f"203.0.113.{n}").status)
            i += 1

    started = time.monotonic()
    acks: list[float] = []
    with ThreadPoolExecutor(GUESSERS) as pool:
        flood = [pool.submit(guesser, n) for n in range(GUESSERS)]
        try:
            for i in range(30):  # the crew keeps logging payments meanwhile
                sent = time.monotonic()
                reply = bot.command("/log-payment", f"jada 1.{i:02d} cash Patron {i}")
                acks.append(time.monotonic() - sent)
                assert reply.status == 200 and reply.json()["text"].startswith("Recorded: "), reply.body
            admin = api_call(bot, PASSWORD, "203.0.113.1", amount="2")  # the admin, from a guessing address
        finally:
            stop.set()
        for done in flood:
            done.result()
    elapsed = time.monotonic() - started
    bot.lazies.wait_idle()

    assert admin.status == 200
    assert max(acks) < 3.0, acks
    assert len(statuses) > 10 * GUESSERS and set(statuses) <= {401, 429}
    # The checks that ran took at most the fixed share of one core (plus the one that may just have started).
    assert sum(checks.cpu) <= BCRYPT_CPU_SHARE * elapsed + max(checks.cpu, default=0), (sum(checks.cpu), elapsed)
    assert statuses.count(401) == checks.count  # every wrong token checked was answered 401, the rest 429
    assert bot.services.ledger.status(JADA).payment_count == 32
    print(f"\n{len(statuses)} wrong tokens from {GUESSERS} addresses over {elapsed:.1f} s: {checks.count} bcrypt "
          f"checks, {sum(checks.cpu):.2f} s CPU ({sum(checks.cpu) / elapsed:.0%} of one core); "
          f"{statuses.count(429)} answered 429; crew acks max {max(acks) * 1000:.0f} ms, "
          f"median {sorted(acks)[len(acks) // 2] * 1000:.0f} ms")


# -- who the client is, behind a proxy ------------------------------------------------------------------------


@pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)
def test_behind_a_proxy_one_guessers_backoff_is_not_everyones(make_bot):
    bot = make_bot(ADMIN_PASS_HASH=HASH_4, OPSBOT_TRUSTED_PROXIES="127.0.0.1")
    for _ in range(FREE_FAILURES):
        assert api_call(bot, "guess", "203.0.113.66").status == 401
    assert api_call(bot, PASSWORD, "203.0.113.66").status == 429  # the guesser's address waits
    assert api_call(bot, PASSWORD, "198.51.100.7").status == 200  # the admin's does not, first check included
    assert api_call(bot, PASSWORD, "203.0.113.66").status == 200  # and a verified token passes everywhere


@pytest.mark.parametrize("make_bot", ["sqlite"], indirect=True)
def test_without_a_trusted_proxy_a_forwarded_header_is_ignored(make_bot):
    bot = make_bot(ADMIN_PASS_HASH=HASH_4)
    for n in range(FREE_FAILURES):
        assert api_call(bot, "guess", f"203.0.113.{n}").status == 401  # a new "address" each time, in vain
    assert api_call(bot, "guess", "203.0.113.99").status == 429


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("203.0.113.7", "", "203.0.113.7"),
    ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # not a trusted proxy: its header is ignored (no spoofing)
    ("10.0.0.5", "198.51.100.1", "198.51.100.1"),  # the proxy says who it saw
    ("10.0.0.5", "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # what the client wrote itself comes first: skipped
    ("10.0.0.5", "198.51.100.1, 10.0.0.9", "198.51.100.1"),  # two trusted proxies in a row
    ("10.0.0.5", "198.51.100.1:4711", "198.51.100.1"),
    ("10.0.0.5", "[2001:db8::1]:4711", "2001:db8::1"),
    ("10.0.0.5", "2001:db8::1", "2001:db8::1"),
    ("10.0.0.5", "", "10.0.0.5"),  # nothing forwarded: the proxy itself
    ("10.0.0.5", "unknown", "10.0.0.5"),
    ("10.0.0.5", "10.0.0.9", "10.0.0.5"),  # only proxies: the nearest is as far as it goes
])
def test_the_client_behind_a_trusted_proxy_is_the_address_it_forwarded(peer, forwarded, client):
    settings = load_settings(environ={"OPSBOT_TRUSTED_PROXIES": "10.0.0.0/8",
                                      "OPSBOT_CLIENT_IP_HEADER": "X-Real-Client"}, env_file=None)
    resolve = ClientAddress(settings.trusted_proxies, settings.client_ip_header)
    environ = {"REMOTE_ADDR": peer, **({"HTTP_X_REAL_CLIENT": forwarded} if forwarded else {}),
               "HTTP_X_FORWARDED_FOR": "6.6.6.6"}  # not the configured header: never read
    assert resolve(environ) == client


@pytest.mark.parametrize(("variable", "value"), [("OPSBOT_TRUSTED_PROXIES", "10.0.0.0/33"),
                                                 ("OPSBOT_TRUSTED_PROXIES", "nginx"),
                                                 ("OPSBOT_CLIENT_IP_HEADER", "X Forwarded For"),
                                                 ("OPSBOT_LOG_LEVEL", "loud")])
def test_bad_proxy_and_log_settings_are_named(variable, value):
    with pytest.raises(ConfigError) as bad:
        load_settings(environ={variable: value}, env_file=None)
    assert bad.value.variable == variable
