"""The crew's payment methods come from events.json (``paymentMethods``): a bad list stops start-up
naming the entry, and the form, the one-liner, the web API, help and the summary all follow the list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from bot.core.catalog import EventsFileError, load_catalog
from bot.core.domain import DEFAULT_PAYMENT_METHODS
from tests.conftest import ADMIN_USER, REPO
from tests.http_client import get, post
from tests.slack_bot import Bot

EVENTS = [
    {"id": "2026-05-23-jada-charter", "title": "JADA Charter", "date": "2026-05-23", "total": 1560},
    {"id": "2027-01-16-whale-watch-charter", "title": "Whale Watch Charter", "date": "2027-01-16", "total": 1850},
]
CREW_METHODS = ["cash", "paypal", "card", "apple-pay"]
PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


def events_file(tmp_path: Path, methods: Any = None, **extra: Any) -> Path:
    data: dict[str, Any] = {"events": EVENTS, **extra}
    if methods is not None:
        data["paymentMethods"] = methods
    path = tmp_path / "events.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- the list in events.json ---------------------------------------------------------------------------------------


def test_the_default_is_todays_five_and_a_list_is_kept_in_its_order(tmp_path):
    assert load_catalog(events_file(tmp_path)).payment_methods == DEFAULT_PAYMENT_METHODS
    assert DEFAULT_PAYMENT_METHODS == ("cash", "card", "check", "venmo", "zelle")
    assert load_catalog(events_file(tmp_path, CREW_METHODS)).payment_methods == tuple(CREW_METHODS)


@pytest.mark.parametrize("methods, said", [
    ("cash", '"paymentMethods" must be a list of method names, like ["cash", "card", "check", "venmo", "zelle", '
             '"paypal"]'),
    ([], '"paymentMethods" is empty: list the crew\'s methods'),
    (["cash", 5], "paymentMethods[1]: must be a method name in quotes, like \"paypal\""),
    (["cash", "card", "stripe"], 'paymentMethods[2] ("stripe"): "stripe" is reserved for payments that arrive '
                                 "through the Stripe webhook: take it out of the list"),
    (["Stripe "], 'paymentMethods[0] ("Stripe "): "stripe" is reserved'),
    (["cash", "PayPal"], 'paymentMethods[1] ("PayPal"): must be one word of lowercase letters, digits, - or _, at '
                         "most 30 characters, as it is typed on one line (/log-payment EVENT 100 paypal Ana)"),
    (["apple pay"], 'paymentMethods[0] ("apple pay"): must be one word'),
    ([""], 'paymentMethods[0] (""): must be one word'),
    (["x" * 31], "at most 30 characters"),
    (["cash", "card", "cash"], 'paymentMethods[2] ("cash"): duplicate of paymentMethods[0]'),
    ([f"m{i}" for i in range(101)], '"paymentMethods" lists 101 methods; the payment form\'s menu holds at most 100'),
])
def test_a_bad_list_is_refused_naming_the_entry(tmp_path, methods, said):
    path = events_file(tmp_path, methods)
    with pytest.raises(EventsFileError) as refused:
        load_catalog(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and said in message, message


def test_a_bad_list_stops_start_up_with_one_line(tmp_path):
    path = events_file(tmp_path, ["cash", "stripe"])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
           "OPSBOT_EVENTS_FILE": str(path), "OPSBOT_STORE": f"sqlite:///{tmp_path / 'opsbot.db'}"}
    for command in (["serve", "--port", "0"], ["export"]):
        result = subprocess.run([sys.executable, "-m", "bot", *command], env=env, cwd=tmp_path, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 1
        assert result.stderr == (f'opsbot: {path}: paymentMethods[1] ("stripe"): "stripe" is reserved for payments '
                                 "that arrive through the Stripe webhook: take it out of the list\n")
        assert result.stdout == ""


# -- everything follows the list ---------------------------------------------------------------------------------


@pytest.fixture
def crew_bot(make_bot, tmp_path) -> Bot:
    return make_bot(OPSBOT_EVENTS_FILE=str(events_file(tmp_path, CREW_METHODS)), ADMIN_PASS_HASH=HASH)


def test_the_form_offers_the_crews_methods_in_their_order(crew_bot):
    view = crew_bot.open_modal()
    method = next(b for b in view["blocks"] if b["block_id"] == "method")
    assert [o["value"] for o in method["element"]["options"]] == CREW_METHODS
    assert [o["text"]["text"] for o in method["element"]["options"]] == ["Cash", "Paypal", "Card", "Apple-pay"]
    assert crew_bot.submit(view, event="2026-05-23-jada-charter", patron="Ana", amount="25",
                           method="apple-pay").body == b""
    crew_bot.lazies.wait_idle()
    [record] = crew_bot.services.ledger.event_payments("jada")
    assert record.method == "apple-pay"


def test_the_one_liner_takes_a_listed_method_and_refuses_one_taken_out(crew_bot):
    assert crew_bot.command("/log-payment", "whale 100 PayPal Bob").json()["text"].startswith(
        "Recorded: $100.00 (paypal) from Bob")
    refused = crew_bot.command("/log-payment", "whale 100 zelle Bob").json()["text"]
    assert "'zelle' is not a payment method. Use one of: cash, paypal, card, apple-pay." in refused
    assert "Use one of: cash, paypal, card, apple-pay." in crew_bot.command(
        "/log-payment", "whale 100 stripe Bob").json()["text"]
    assert crew_bot.services.ledger.status("whale").payment_count == 1


def test_help_names_the_crews_methods(crew_bot):
    reply = crew_bot.command("/opsbot", "help").json()
    footer = reply["blocks"][-1]["elements"][0]["text"]
    assert footer.endswith("Payment methods: cash, paypal, card, apple-pay.")
    assert reply["text"].endswith("Payment methods: cash, paypal, card, apple-pay.")


def test_the_web_api_takes_the_crews_methods_and_lists_them(crew_bot):
    def log(method: str):
        return post(f"{crew_bot.base_url}/api/payment/log", json.dumps({
            "event_id": "whale", "patron_name": "Bob", "amount": 10, "payment_method": method}),
            {"Content-Type": "application/json", "X-Admin-Token": PASSWORD})

    assert log("paypal").json()["status"] == "success"
    venmo = log("venmo")
    assert venmo.status == 400 and venmo.json()["field"] == "payment_method"
    assert venmo.json()["error"] == "'venmo' is not a payment method. Use one of: cash, paypal, card, apple-pay."
    listed = get(f"{crew_bot.base_url}/api/events", headers={"X-Admin-Token": PASSWORD}).json()
    assert listed["payment_methods"] == CREW_METHODS


def test_the_summary_lists_methods_in_the_crews_order(crew_bot):
    crew_bot.command("/log-payment", "whale 500 paypal Bob")
    crew_bot.command("/log-payment", "whale 100 cash Ana")
    crew_bot.command("/log-payment", "whale 250 apple-pay Cy")
    reply = crew_bot.command("/opsbot", "summary", user=ADMIN_USER).json()
    by_method = next(b["text"]["text"] for b in reply["blocks"] if b["text"]["text"].startswith("*By method*"))
    assert by_method.splitlines() == ["*By method*", "Cash: 1 · $100.00", "Paypal: 1 · $500.00",
                                      "Apple-pay: 1 · $250.00"]
