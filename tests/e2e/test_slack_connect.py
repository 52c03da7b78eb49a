"""Slack Connect: in a channel shared with another organisation (a vendor, a
venue), its members can run the bot's commands, press its buttons and submit its
forms. They are not the crew: each way in refuses them with a clear message and
an audit entry, unless OPSBOT_ADMINS / OPSBOT_CREW names them. On Enterprise Grid
the crew is the whole organisation, every workspace of it. Payload shapes follow
slackapi/bolt-python's scenario tests (its Slack Connect view_submission included)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from bot.core.access import Affiliation
from handlers.slack_requests import slack_affiliation
from infra.local_slack.payloads import JSON, block_action, block_suggestion, home_opened, view_submission
from infra.local_slack.signing import slash_command_body
from infra.local_slack.web_api import TEAM_ID
from tests.conftest import ADMIN_USER, AUDIT_CHANNEL
from tests.slack_bot import CREW, Bot

JADA = "2026-05-23-jada-charter"
VENDOR_TEAM = "T0VENDOR001"
VENDOR = "U0VENDOR001"
ORG = "E0ORG000001"
REFUSED = ("You are not in this workspace's organisation (you reached opsbot through a channel shared with another "
           "one), so you cannot {doing} here. If you are crew, ask an admin to add your Slack user ID to OPSBOT_CREW.")


def payload(body: str) -> dict:
    fields = parse_qs(body)
    return json.loads(fields["payload"][0]) if "payload" in fields else {k: v[0] for k, v in fields.items()}


def test_each_payload_type_says_where_its_user_belongs():
    home = Affiliation(TEAM_ID)
    command = payload(slash_command_body("/events", team_id=VENDOR_TEAM))
    assert slack_affiliation(command) == Affiliation(VENDOR_TEAM)
    click = payload(block_action("payment_void", "pay_1", user_id=VENDOR, response_url="x", team_id=VENDOR_TEAM))
    assert slack_affiliation(click) == Affiliation(VENDOR_TEAM)
    # bolt-python's connect_channel_payload: the other side in team, user.team_id and enterprise.
    submitted = payload(view_submission({"type": "modal", "blocks": []}, {}, view_id="V1", user_id=VENDOR,
                                        team_id="T-other-side", enterprise_id="E-other-side"))
    assert slack_affiliation(submitted) == Affiliation("T-other-side", "E-other-side")
    assert not slack_affiliation(submitted).same_organisation(home)
    typed = payload(block_suggestion({"type": "modal", "blocks": []}, action_id="event", block_id="event",
                                     value="ja", view_id="V1", team_id=VENDOR_TEAM))
    assert slack_affiliation(typed) == Affiliation(VENDOR_TEAM)
    assert slack_affiliation(json.loads(home_opened(VENDOR, team_id=VENDOR_TEAM))) == Affiliation(VENDOR_TEAM)
    assert slack_affiliation(json.loads(home_opened(CREW))) == Affiliation(TEAM_ID)
    # Enterprise Grid: another workspace of the bot's organisation is the same organisation.
    grid = Affiliation(TEAM_ID, ORG)
    assert Affiliation("T0SIBLING01", ORG).same_organisation(grid)
    assert Affiliation(ORG, ORG).same_organisation(grid)  # an event's user_team can be the organisation itself
    assert not Affiliation("T0SIBLING01", "E0OTHER0001").same_organisation(grid)
    assert not Affiliation("T0SIBLING01").same_organisation(grid)
    assert not Affiliation(None).same_organisation(home)


def refusals_in_the_audit_log(bot: Bot) -> list[dict]:
    entries = bot.services.store.day_audit(bot.services.ledger.today().isoformat())
    return [e.detail for e in entries if e.result == "refused"]


def test_a_vendor_in_a_shared_channel_cannot_log_a_payment_or_read_the_patrons(bot: Bot):
    bot.command("/log-payment", "jada 25 cash Ana Ruiz")
    bot.lazies.wait_idle()
    logged = bot.command("/log-payment", "jada 500 cash Vendor", user=VENDOR, team=VENDOR_TEAM).json()
    assert logged == {"response_type": "ephemeral", "text": REFUSED.format(doing="log payments")}
    listing = bot.command("/events", "jada", user=VENDOR, team=VENDOR_TEAM).json()
    assert listing["text"] == REFUSED.format(doing="see events") and "Ana" not in json.dumps(listing)
    bot.lazies.wait_idle()
    assert bot.services.ledger.status(JADA).payment_count == 1
    assert refusals_in_the_audit_log(bot) == [
        {"entry": "command /log-payment", "needs": "crew", "outsider_team": VENDOR_TEAM},
        {"entry": "command /events", "needs": "crew", "outsider_team": VENDOR_TEAM}]
    lines = [c.params["text"] for c in bot.audit_posts()][-2:]
    assert lines[0] == (f":no_entry: <@{VENDOR}>, of another organisation (team `{VENDOR_TEAM}`, through a shared "
                        "channel), was refused `command /log-payment`: only this workspace's crew may use opsbot.")


def test_a_vendor_cannot_submit_the_form_search_its_events_press_void_or_see_the_home(bot: Bot):
    view = bot.open_modal()
    submitted = bot.submit(view, user=VENDOR, team=VENDOR_TEAM, enterprise="E0VENDOR001", event=JADA,
                           patron="Vendor", amount="10", method="cash")
    assert submitted.json() == {"response_action": "errors", "errors": {"event": REFUSED.format(doing="log payments")}}
    assert bot.suggest(view, "jada", user=VENDOR, team=VENDOR_TEAM).json() == {"options": []}
    assert bot.suggest(view, "jada").json()["options"]  # the crew's search is answered

    paid = bot.command("/log-payment", "jada 25 cash Ana").json()["text"]
    payment_id = paid.split("(`")[1].split("`")[0]
    bot.lazies.wait_idle()
    bot.click_void(payment_id, user=VENDOR, team=VENDOR_TEAM, message_ts="1700000000.000100")
    bot.lazies.wait_idle()
    [told] = bot.slack_api.calls("response_url")
    assert (told.params["text"], told.params["response_type"]) == (REFUSED.format(doing="void payments"),
                                                                    "ephemeral")
    assert bot.services.ledger.status(JADA).payment_count == 1
    assert bot.send(home_opened(VENDOR, team_id=VENDOR_TEAM), JSON).status == 200
    bot.lazies.wait_idle()
    assert bot.slack_api.calls("views.publish") == []
    assert bot.services.ledger.find_void(payment_id) is None


def test_opsbot_crew_and_admins_can_name_someone_of_another_organisation(make_bot):
    bot = make_bot(OPSBOT_CREW=f"{CREW},{VENDOR}")
    assert bot.command("/log-payment", "jada 25 cash Ana", user=VENDOR, team=VENDOR_TEAM).json()["text"].startswith(
        "Recorded:")
    assert bot.command("/events", user="U0VENDOR002", team=VENDOR_TEAM).json()["text"] == REFUSED.format(
        doing="see events")
    admin = bot.command("/opsbot", "help", user=ADMIN_USER, team=VENDOR_TEAM).json()
    assert "opsbot commands" in admin["text"]


@pytest.fixture
def grid_bot(make_bot, slack_api):
    slack_api.enterprise_id = ORG  # the bot's auth.test: installed in a workspace of an Enterprise Grid org
    return make_bot()


def test_on_enterprise_grid_the_whole_organisation_is_the_crew(grid_bot):
    bot = grid_bot
    sibling = bot.command("/log-payment", "jada 25 cash Ana", user="U0SIBLING01", team="T0SIBLING01",
                          enterprise=ORG).json()
    assert sibling["text"].startswith("Recorded:")
    view = bot.open_modal()
    assert bot.submit(view, user="U0SIBLING01", team="T0SIBLING01", enterprise=ORG, event=JADA, patron="Bo",
                      amount="10", method="cash").status == 200
    other = bot.command("/events", user=VENDOR, team=VENDOR_TEAM, enterprise="E0VENDOR001").json()
    assert other["text"] == REFUSED.format(doing="see events")
    bot.lazies.wait_idle()
    assert bot.services.ledger.status(JADA).payment_count == 2
    assert [c.params["channel"] for c in bot.audit_posts()] == [AUDIT_CHANNEL] * 3
