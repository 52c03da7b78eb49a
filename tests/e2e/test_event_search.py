"""The payment form with more events than a static select holds (Slack allows
100 options): the event select is an external_select, Slack asks the bot's
block_suggestion listener for options as the person types (id, title or date),
every event can be found and chosen, and a preselected event is always the one
selected. The console offers the same search."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.entrypoints.console import Console
from infra.local_slack.payloads import block_action
from tests.conftest import EVENTS_FILE
from tests.slack_bot import Bot

START = date(2031, 1, 1)  # every event is upcoming, whatever day the tests run
COUNT = 150


def events_file(tmp_path: Path) -> Path:
    data = json.loads(EVENTS_FILE.read_text())
    data["events"] = [{"id": f"sail-{i:03d}", "title": f"Harbor Sail & Supper {i}",
                       "date": (START + timedelta(days=i)).isoformat(), "total": 1000} for i in range(COUNT)]
    data["events"].append({"id": "zz-moonlight-gala", "title": "Moonlight <Gala> & Auction",
                           "date": (START + timedelta(days=400)).isoformat(), "total": 5000})
    path = tmp_path / "events.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def many_bot(make_bot, tmp_path) -> Bot:
    return make_bot(OPSBOT_EVENTS_FILE=str(events_file(tmp_path)))


def values(answer: dict) -> list[str]:
    options = list(answer.get("options") or [])
    for group in answer.get("option_groups") or []:
        options += group["options"]
    return [o["value"] for o in options]


def test_every_event_can_be_found_by_id_title_or_date_and_chosen(many_bot):
    bot = many_bot
    view = bot.open_modal()
    element = view["blocks"][0]["element"]
    assert element["type"] == "external_select" and "initial_option" not in element
    opening = bot.suggest(view, "")
    assert values(opening.json())[:2] == ["sail-000", "sail-001"] and len(values(opening.json())) == 100
    assert values(bot.suggest(view, "gala").json()) == ["zz-moonlight-gala"]  # beyond the first 100
    assert values(bot.suggest(view, "MOONLIGHT <gala>").json()) == ["zz-moonlight-gala"]  # typed raw, any case
    assert values(bot.suggest(view, "sail-149").json()) == ["sail-149"]
    when = START + timedelta(days=149)
    assert values(bot.suggest(view, when.isoformat()).json()) == ["sail-149"]
    assert values(bot.suggest(view, f"{when:%b} {when.day} {when.year}").json()) == ["sail-149"]
    assert values(bot.suggest(view, "nothing like it").json()) == []
    reply = bot.submit(view, event="zz-moonlight-gala", patron="Ana", amount="50", method="cash")
    assert reply.status == 200 and reply.body == b""
    bot.lazies.wait_idle()
    assert bot.services.ledger.status("zz-moonlight-gala").paid_cents == 5_000


def test_a_preselected_event_is_the_one_selected_however_far_down_the_list(many_bot):
    bot = many_bot
    by_command = bot.open_modal("gala")["blocks"][0]["element"]
    assert by_command["initial_option"] == {
        "text": {"type": "plain_text", "text": "Moonlight <Gala> & Auction · Thu Feb 5 · $5,000.00 due",
                 "emoji": True}, "value": "zz-moonlight-gala"}
    before = len(bot.slack_api.calls("views.open"))
    bot.send(block_action("reminder_log_payment", "sail-149", user_id="U0CREW00001",
                          response_url=bot.slack_api.response_url("actions/reminder")))
    by_button = bot.slack_api.wait_for("views.open", count=before + 1).params["view"]
    assert by_button["blocks"][0]["element"]["initial_option"]["value"] == "sail-149"


def test_the_console_picks_an_event_through_the_same_search(tmp_path):
    env = {"OPSBOT_STORE": f"sqlite:///{tmp_path / 'opsbot.db'}", "OPSBOT_EVENTS_FILE": str(events_file(tmp_path))}
    out = io.StringIO()
    console = Console(load_settings(environ=env, env_file=None), out=out)
    console.start()
    try:
        assert console.handle("/log-payment")
        assert "  Event: search: type part of the name, id or date" in out.getvalue()
        assert not console.handle("fill event=sail-14 patron=Ana amount=10 method=cash")
        assert ("[console: event: 'sail-14' matches 10 choices (sail-140, sail-141, sail-142, sail-143, sail-144, "
                "sail-145, sail-146, sail-147, …); give more of it, or the id]") in out.getvalue()
        assert console.handle('fill event="moonlight gala" patron=Ana amount=10 method=cash')
        assert "[form · Log a payment submitted]" in out.getvalue()
        assert console.services.ledger.status("zz-moonlight-gala").paid_cents == 1_000
        assert console.handle("/log-payment sail-149")
        assert "    Harbor Sail & Supper 149 · Fri May 30 · $1,000.00 due  [sail-149]  ← chosen" in out.getvalue()
    finally:
        console.close()
