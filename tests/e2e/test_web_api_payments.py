"""``GET /api/payments``: the export's records as JSON, filtered the same way, a page at a time, behind
the web API's admin token; on SQLite and on DynamoDB."""

from __future__ import annotations

import bcrypt
import pytest

from bot.core.ports import StoreError
from tests.conftest import ADMIN_USER
from tests.http_client import get
from tests.slack_bot import Bot

PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # 4 rounds: the checks stay fast in tests
JADA = "2026-05-23-jada-charter"
WHALES = "2027-01-16-whale-watch-charter"


@pytest.fixture
def api(make_bot) -> Bot:
    return make_bot(ADMIN_PASS_HASH=HASH)


def payments(bot: Bot, query: str = "", token: str | None = PASSWORD):
    headers = {"X-Admin-Token": token} if token is not None else {}
    return get(f"{bot.base_url}/api/payments{'?' + query if query else ''}", headers=headers)


def log(bot: Bot, text: str) -> str:
    reply = bot.command("/log-payment", text).json()
    return reply["text"].split("(`")[1].split("`)")[0]


def test_the_records_as_json_oldest_first_a_page_at_a_time(api):
    ana = log(api, "jada 500 venmo Ana Ruiz")
    log(api, "whale 250 cash Bo")
    api.command("/opsbot", f"void {ana}", user=ADMIN_USER)
    first = payments(api, "limit=2")
    assert first.status == 200 and first.headers["content-type"].startswith("application/json")
    page = first.json()
    assert [(p["event_id"], p["amount_cents"], p["amount"], p["reverses"]) for p in page["payments"]] == [
        (JADA, 50_000, "500.00", ""), (WHALES, 25_000, "250.00", "")]
    assert set(page["payments"][0]) == {"record_id", "time", "day", "event_id", "event_title", "patron",
                                        "amount_cents", "amount", "method", "notes", "logged_by", "source",
                                        "reverses", "stripe_id"}
    assert page["payments"][0]["record_id"] == ana and page["payments"][0]["source"] == "slack"
    second = payments(api, f"limit=2&cursor={page['next_cursor']}").json()
    assert [(p["amount_cents"], p["reverses"]) for p in second["payments"]] == [(-50_000, ana)]
    assert second["next_cursor"] is None
    # The same records, filtered the same way as the CSV.
    only_jada = payments(api, "event=jada").json()
    assert [p["amount_cents"] for p in only_jada["payments"]] == [50_000, -50_000]
    today = only_jada["payments"][0]["day"]
    assert payments(api, f"from={today}&to={today}").json()["payments"] == first.json()["payments"] + \
        second["payments"]
    assert payments(api, "from=2099-01-01").json() == {"payments": [], "next_cursor": None}


@pytest.mark.parametrize("query, status, field, message", [
    ("event=nope", 404, "event", "There is no event 'nope'. Run /events to see the event ids."),
    ("event=" + "EVENT#" * 300, 404, "event", None),  # never a key DynamoDB refuses (over 2,048 bytes)
    ("event=" + "e" * 2001, 400, "event", "event is too long"),
    ("from=2026-13-01", 400, "from", "from '2026-13-01' is not a date like 2026-05-01."),
    ("to=yesterday", 400, "to", "to 'yesterday' is not a date like 2026-05-01."),
    ("from=2026-05-02&to=2026-05-01", 400, "from", "The first day (2026-05-02) is after the last (2026-05-01)."),
    ("from=2020-01-01&to=2026-01-01", 400, "from", None),
    ("limit=0", 400, "limit", "limit must be a whole number from 1 to 500"),
    ("limit=501", 400, "limit", "limit must be a whole number from 1 to 500"),
    ("limit=ten", 400, "limit", "limit must be a whole number from 1 to 500"),
    ("cursor=not-one-of-ours", 400, "cursor", None),
    ("evnt=jada", 400, "evnt", "unknown parameter 'evnt': use event, from, to, cursor, limit"),
    ("event=jada&event=whale", 400, "event", "event is given more than once"),
])
def test_a_bad_request_is_a_400_or_404_naming_the_field(api, query, status, field, message):
    log(api, "jada 10 cash Ana")
    reply = payments(api, query)
    assert reply.status == status
    answer = reply.json()
    assert answer["status"] == "error" and answer["field"] == field
    if message is not None:
        assert answer["error"] == message


def test_the_admin_token_is_required(api):
    log(api, "jada 10 cash Ana")
    assert payments(api, token=None).status == 401
    assert payments(api, token="wrong").status == 401
    assert payments(api).status == 200


def test_a_store_that_does_not_answer_is_a_503_not_a_500(api, monkeypatch):
    def broken(*args, **kwargs):
        raise StoreError("unreachable")

    monkeypatch.setattr(api.services.store, "event_payments", broken)
    monkeypatch.setattr(api.services.store, "event_totals", broken)
    reply = payments(api)
    assert reply.status == 503
    assert reply.json()["error"] == "the ledger's store did not answer; try again in a minute"
