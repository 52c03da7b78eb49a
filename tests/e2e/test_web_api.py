"""The old web page's API: POST /api/payment/log and GET /api/events, with bcrypt auth."""

from __future__ import annotations

import io
import json
import threading

import bcrypt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.bootstrap import build_services
from bot.entrypoints.http import make_wsgi_app, start_background_server
from bot.entrypoints.token_checks import FREE_FAILURES, ApiAuth
from tests.conftest import AUDIT_CHANNEL
from tests.http_client import get, post
from tests.slack_bot import drain_outbox

PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # 4 rounds: the checks stay fast in tests
JADA = "2026-05-23-jada-charter"


@pytest.fixture
def api(make_settings, slack_api):
    services = build_services(make_settings(ADMIN_PASS_HASH=HASH))
    services.store.init_schema()
    server, base_url = start_background_server(make_wsgi_app(services, None))
    try:
        yield base_url, services
    finally:
        server.close()


def body(**fields) -> str:
    payload = {"event_id": JADA, "patron_name": "Ana Ruiz", "amount": 150.5, "payment_method": "cash",
               "notes": "paid at the dock"}
    payload.update(fields)
    return json.dumps({k: v for k, v in payload.items() if v is not ...})


def log_payment(base_url, data, token=PASSWORD, path="/api/payment/log", **headers):
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent["X-Admin-Token"] = token
    return post(base_url + path, data, sent)


def test_logging_a_payment_answers_like_the_old_api_and_posts_the_audit_line(api, slack_api):
    base_url, services = api
    reply = log_payment(base_url, body())
    assert reply.status == 200
    answer = reply.json()
    assert answer["status"] == "success"
    [payment] = services.ledger.event_payments(JADA)
    assert answer == {"status": "success", "payment_id": payment.payment_id,
                      "timestamp": payment.recorded_at.isoformat()}
    assert (payment.amount_cents, payment.source, payment.notes) == (15_050, "api", "paid at the dock")
    assert slack_api.calls("chat.postMessage") == []  # the answer did not wait for Slack
    assert drain_outbox(services) == 1
    [audit] = slack_api.calls("chat.postMessage")
    assert audit.params["channel"] == AUDIT_CHANNEL
    assert audit.params["blocks"][0]["text"]["text"].startswith(
        ":moneybag: Logged via web API: *$150.50* (cash) from *Ana Ruiz* for *JADA Charter*")


def test_bearer_and_the_alias_route_work_too(api):
    base_url, services = api
    reply = post(base_url + "/api/log-payment", body(amount="$20.00"),
                 {"Content-Type": "application/json", "Authorization": f"Bearer {PASSWORD}"})
    assert reply.json()["status"] == "success"
    assert services.ledger.status(JADA).paid_cents == 2_000


def test_events_lists_payment_status(api):
    base_url, services = api
    log_payment(base_url, body(amount="1560"))
    reply = get(base_url + "/api/events", headers={"X-Admin-Token": PASSWORD})
    assert reply.status == 200
    events = {e["id"]: e for e in reply.json()["events"]}
    assert events[JADA] == {"id": JADA, "title": "JADA Charter", "date": "2026-05-23", "total_cents": 156_000,
                            "paid_cents": 156_000, "balance_cents": 0, "payment_count": 1, "payment_cleared": True}
    assert events["gipsykings"]["total_cents"] == 937_500
    assert len(events) == 6


@pytest.mark.parametrize("data, status, error, field", [
    ("not json", 400, "the body is not valid JSON", None),
    ("[1, 2]", 400, "the body must be a JSON object", None),
    ("", 400, "the body must be a JSON object", None),
    (body(amount="12.345"), 400, "'12.345' has more than two decimals: cents are the smallest unit.", "amount"),
    (body(amount=-5), 400, "Amount must be positive, not -5.", "amount"),
    (body(amount=True), 400, 'amount must be a number or a string like "1,560.00"', "amount"),
    (body(amount=[1]), 400, 'amount must be a number or a string like "1,560.00"', "amount"),
    (body(amount=0.1 + 0.2), 400,
     "'0.30000000000000004' has more than two decimals: cents are the smallest unit.", "amount"),
    (body(patron_name=""), 400, "Enter the patron's name.", "patron_name"),
    (body(patron_name=7), 400, "patron_name must be a string", "patron_name"),
    (body(patron_name="x" * 101), 400, "The patron's name is 101 characters; the limit is 100.", "patron_name"),
    (body(notes="n" * 501), 400, "Notes are 501 characters; the limit is 500.", "notes"),
    (body(notes="n" * 5000), 400, "notes is too long", "notes"),
    (body(payment_method="bitcoin"), 400,
     "'bitcoin' is not a payment method. Use one of: cash, card, check, venmo, zelle.", "payment_method"),
    (body(payment_method="stripe"), 400,
     "'stripe' is not a payment method. Use one of: cash, card, check, venmo, zelle.", "payment_method"),
    (body(event_id="no-such-event"), 404, "There is no event 'no-such-event'. Run /events to see the event ids.",
     "event_id"),
    (body(event_id=...), 400, "Choose an event.", "event_id"),
    (body(amount="1,560.01"), 400, "$1,560.01 is $0.01 more than the balance: $1,560.00 is still owed on "
                                   "JADA Charter ($1,560.00 total).", "amount"),
])
def test_bad_requests_get_a_4xx_that_names_the_field_and_record_nothing(api, slack_api, data, status, error, field):
    base_url, services = api
    reply = log_payment(base_url, data)
    assert reply.status == status
    answer = reply.json()
    assert (answer["status"], answer["error"], answer["field"]) == ("error", error, field)
    assert services.ledger.event_payments(JADA) == []
    assert drain_outbox(services) == 0
    assert slack_api.calls("chat.postMessage") == []


def test_a_repeated_idempotency_key_answers_the_first_result(api, slack_api):
    base_url, services = api
    first = log_payment(base_url, body(amount="100"), **{"Idempotency-Key": "page-7f3a"})
    again = log_payment(base_url, body(amount="100"), **{"Idempotency-Key": "page-7f3a"})
    assert first.json() == again.json()
    assert services.ledger.status(JADA).paid_cents == 10_000
    drain_outbox(services)
    assert len(slack_api.calls("chat.postMessage")) == 1
    other = log_payment(base_url, body(amount="100"), **{"Idempotency-Key": "page-8b21"})
    assert other.json()["payment_id"] != first.json()["payment_id"]


@pytest.mark.parametrize("headers", [{}, {"X-Admin-Token": "wrong"}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic " + PASSWORD}, {"X-Admin-Token": "x" * 200}])
def test_bad_auth_is_401_and_records_nothing(api, headers):
    base_url, services = api
    reply = post(base_url + "/api/payment/log", body(), {"Content-Type": "application/json", **headers})
    assert reply.status == 401
    assert reply.json() == {"status": "error", "field": None,
                            "error": "missing or wrong admin token (X-Admin-Token or Authorization: Bearer)"}
    assert get(base_url + "/api/events", headers=headers).status == 401
    assert services.ledger.event_payments(JADA) == []


def test_repeated_failures_are_slowed_down_with_429(api):
    base_url, _ = api
    for _ in range(FREE_FAILURES):
        assert log_payment(base_url, body(), token="guess").status == 401
    blocked = log_payment(base_url, body(), token=PASSWORD)  # not verified before: it waits like any token
    assert blocked.status == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert blocked.json()["error"].startswith("too many failed attempts; try again in ")


def test_a_verified_token_is_never_refused_because_of_wrong_ones(api):
    base_url, services = api
    assert log_payment(base_url, body(amount="1")).status == 200  # the admin, once
    for _ in range(FREE_FAILURES + 20):  # then a guesser behind the same address
        assert log_payment(base_url, body(), token="guess").status in (401, 429)
    assert log_payment(base_url, body(amount="2")).status == 200
    assert services.ledger.status(JADA).paid_cents == 300


def test_a_verified_token_is_remembered_by_a_keyed_hash_not_rechecked(monkeypatch):
    checks = []
    real_check = bcrypt.checkpw

    def counting_check(password, hashed):
        checks.append(1)
        return real_check(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_check)
    now = [1000.0]
    auth = ApiAuth(HASH, clock=lambda: now[0])
    assert auth.check(PASSWORD, "10.0.0.1").ok and auth.check(PASSWORD, "10.0.0.2").ok
    assert len(checks) == 1
    assert PASSWORD not in repr(auth.__dict__)  # only HMACs of tokens are kept
    now[0] += 24 * 60 * 60  # a day later: still known (the hash cannot change without a restart)
    assert auth.check(PASSWORD, "10.0.0.1").ok
    assert len(checks) == 1
    assert not auth.check("x" * 100, "10.0.0.3").ok  # over bcrypt's 72 bytes: refused unchecked, not an error
    assert not auth.check("", "10.0.0.3").ok and not auth.check(None, "10.0.0.3").ok
    assert len(checks) == 1


def test_the_api_is_off_without_a_password_hash(make_settings):
    services = build_services(make_settings())
    services.store.init_schema()
    server, base_url = start_background_server(make_wsgi_app(services, None))
    try:
        reply = log_payment(base_url, body())
    finally:
        server.close()
    assert reply.status == 401
    assert reply.json()["error"] == "the web API is off: set ADMIN_PASS_HASH (opsbot hash-password makes one)"


def test_each_request_is_one_log_line_without_secrets_or_names(api, caplog):
    base_url, _ = api
    caplog.set_level("INFO", logger="opsbot.requests")
    log_payment(base_url, body(patron_name="Secret Patron"))
    [line] = [r.getMessage() for r in caplog.records if r.name == "opsbot.requests"]
    logged = json.loads(line)
    assert {k: logged[k] for k in ("method", "path", "status", "who", "what")} == {
        "method": "POST", "path": "/api/payment/log", "status": 200, "who": "web API", "what": "payment.log"}
    assert isinstance(logged["ms"], float)
    assert PASSWORD not in caplog.text and "Secret Patron" not in caplog.text


# -- fuzzing: no body is a 500 ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
api_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={
        "event_id": json_values | st.sampled_from([JADA, "gipsykings", "jada", ""]),
        "patron_name": json_values, "amount": json_values | st.sampled_from(["1,560.00", "12.5", "1e3", "-1"]),
        "payment_method": json_values | st.sampled_from(["cash", "venmo", "stripe"]), "notes": json_values,
    }).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=50),
).map(lambda text: text.encode("utf-8", "surrogatepass")) | st.binary(max_size=80)


@pytest.fixture(scope="module")
def wsgi_api(tmp_path_factory):
    from bot.config import load_settings
    from tests.conftest import EVENTS_FILE

    folder = tmp_path_factory.mktemp("fuzz")
    settings = load_settings(environ={"OPSBOT_STORE": f"sqlite:///{folder / 'fuzz.db'}",
                                      "OPSBOT_EVENTS_FILE": str(EVENTS_FILE), "ADMIN_PASS_HASH": HASH},
                             env_file=None)
    services = build_services(settings)
    services.store.init_schema()
    return make_wsgi_app(services, None)


def call(app, method: str, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_LENGTH": str(len(data)),
               "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(data), "REMOTE_ADDR": "127.0.0.1"}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    status: list[str] = []
    chunks = app(environ, lambda s, h: status.append(s))
    return int(status[0].split()[0]), b"".join(chunks)


_fuzz_lock = threading.Lock()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=api_bodies, key=st.none() | st.text(max_size=300))
def test_fuzzed_bodies_never_get_a_500(wsgi_api, data, key):
    headers = {"X-Admin-Token": PASSWORD}
    if key is not None and key.isprintable() and key.isascii():
        headers["Idempotency-Key"] = key
    with _fuzz_lock:
        status, answer = call(wsgi_api, "POST", "/api/payment/log", data, headers)
    assert status in (200, 400, 404, 409), (status, answer)  # 409: a key drawn twice with another body
    parsed = json.loads(answer)
    assert parsed["status"] == ("success" if status == 200 else "error")
