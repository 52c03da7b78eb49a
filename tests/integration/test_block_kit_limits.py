"""The Slack stand-in refuses what Slack refuses: each documented Block Kit limit,
over the real slack_sdk clients, answered as Slack answers (invalid_blocks /
invalid_arguments / msg_too_long, the violation named in response_metadata)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from infra.local_slack import block_kit_limits as limits


@pytest.fixture
def client(slack_api) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack_api.base_url)


def section(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def button(**overrides: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain("Void"), "action_id": "payment_void", "value": "pay_1", **overrides}


def option(text: str = "JADA", value: str = "jada") -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def confirm(**overrides: Any) -> dict[str, Any]:
    return {"title": plain("Void?"), "text": {"type": "mrkdwn", "text": "Sure?"}, "confirm": plain("Void"),
            "deny": plain("Keep"), **overrides}


def modal(blocks: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    return {"type": "modal", "callback_id": "log_payment", "title": plain("Log a payment"), "submit": plain("Record"),
            "close": plain("Cancel"), "blocks": blocks or [section()], **overrides}


# Each (blocks, the pointer and message Slack would name): one documented limit, just past it.
OVER_THE_LIMIT = [
    ([section()] * 51, "must provide no more than 50 items, has 51 [json-pointer:/blocks]"),
    ([section("x" * 3001)], "must be at most 3000 characters, is 3001 [json-pointer:/blocks/0/text/text]"),
    ([section("&amp;" * 601)], "must be at most 3000 characters, is 3005 [json-pointer:/blocks/0/text/text]"),
    ([section("")], "must be at least 1 character [json-pointer:/blocks/0/text/text]"),
    ([{"type": "section", "fields": [plain("f")] * 11}], "must provide no more than 10 items, has 11"),
    ([{"type": "section", "fields": [plain("f" * 2001)]}], "is 2001 [json-pointer:/blocks/0/fields/0/text]"),
    ([{"type": "header", "text": plain("h" * 151)}], "is 151 [json-pointer:/blocks/0/text/text]"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "must be plain_text"),
    ([{"type": "context", "elements": [plain("c")] * 11}], "no more than 10 items, has 11"),
    ([{"type": "actions", "elements": [button(action_id=f"b{i}") for i in range(26)]}],
     "no more than 25 items, has 26"),
    ([{"type": "actions", "elements": [button(), button()]}], "duplicate action_id in this block"),
    ([section(block_id="x"), section(block_id="x")], "duplicate block_id"),
    ([section(block_id="b" * 256)], "is 256 [json-pointer:/blocks/0/block_id]"),
    ([section(accessory=button(text=plain("b" * 76)))], "is 76 [json-pointer:/blocks/0/accessory/text/text]"),
    ([section(accessory=button(value="v" * 2001))], "is 2001 [json-pointer:/blocks/0/accessory/value]"),
    ([section(accessory=button(action_id="a" * 256))], "is 256 [json-pointer:/blocks/0/accessory/action_id]"),
    ([section(accessory=button(confirm=confirm(text={"type": "mrkdwn", "text": "t" * 301})))],
     "is 301 [json-pointer:/blocks/0/accessory/confirm/text/text]"),
    ([section(accessory=button(confirm=confirm(title=plain("t" * 101))))], "is 101"),
    ([section(accessory=button(confirm=confirm(confirm=plain("c" * 31))))], "is 31"),
    ([section(accessory={"type": "static_select", "action_id": "e", "options": [option()] * 101})],
     "no more than 100 items, has 101 [json-pointer:/blocks/0/accessory/options]"),
    ([section(accessory={"type": "static_select", "action_id": "e", "options": [option("o" * 76)]})],
     "is 76 [json-pointer:/blocks/0/accessory/options/0/text/text]"),
    ([section(accessory={"type": "static_select", "action_id": "e", "options": [option(value="v" * 151)]})],
     "is 151 [json-pointer:/blocks/0/accessory/options/0/value]"),
    ([section(accessory={"type": "static_select", "action_id": "e", "options": [option()],
                         "initial_option": option("Other", "other")})], "must exactly match one of the options"),
    ([section(accessory={"type": "static_select", "action_id": "e", "options": [option()],
                         "placeholder": plain("p" * 151)})], "is 151 [json-pointer:/blocks/0/accessory/placeholder"),
    ([{"type": "input", "label": plain("Patron"), "element": {"type": "plain_text_input", "action_id": "p"}}],
     "unsupported block type 'input' here"),
    ([{"type": "teleport"}], "unsupported block type 'teleport' here"),
]


@pytest.mark.parametrize(("blocks", "problem"), OVER_THE_LIMIT)
def test_chat_post_message_refuses_blocks_past_each_documented_limit(client, slack_api, blocks, problem):
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0AUDIT0001", text="fallback", blocks=blocks)
    answer = refused.value.response.data
    assert answer["error"] == "invalid_blocks"
    assert any(problem in p for p in answer["errors"]), answer["errors"]
    assert any(problem in m for m in answer["response_metadata"]["messages"])
    # chat.update and chat.postEphemeral check the same way.
    for call in (lambda: client.chat_update(channel="C0AUDIT0001", ts="1.2", text="fallback", blocks=blocks),
                 lambda: client.chat_postEphemeral(channel="C0AUDIT0001", user="U1", text="t", blocks=blocks)):
        with pytest.raises(SlackApiError) as again:
            call()
        assert again.value.response["error"] == "invalid_blocks"


def test_what_fits_every_limit_exactly_is_accepted(client):
    blocks = [
        {"type": "header", "text": plain("h" * 150)},
        section("&amp;" * 600, block_id="b" * 255,
                accessory=button(text=plain("b" * 75), value="v" * 2000, action_id="a" * 255,
                                 confirm=confirm(title=plain("t" * 100), text={"type": "mrkdwn", "text": "t" * 300},
                                                 confirm=plain("c" * 30), deny=plain("d" * 30)))),
        {"type": "section", "fields": [plain("f" * 2000)] * 10},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3000}] * 10},
        {"type": "actions", "elements": [button(action_id=f"b{i}") for i in range(25)]},
        section(accessory={"type": "static_select", "action_id": "e", "placeholder": plain("p" * 150),
                           "options": [option("o" * 75, f"{i:0150d}") for i in range(100)],
                           "initial_option": option("o" * 75, f"{99:0150d}")}),
    ]
    blocks += [{"type": "divider"}] * (50 - len(blocks))
    assert client.chat_postMessage(channel="C0AUDIT0001", text="t" * 40_000, blocks=blocks)["ok"]


def test_message_text_over_40000_characters_is_refused(client):
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0AUDIT0001", text="x" * 40_001)
    assert refused.value.response["error"] == "msg_too_long"


def test_views_are_refused_past_their_limits_with_invalid_arguments(client, slack_api):
    cases = [
        (modal([section()] * 101), "no more than 100 items, has 101 [json-pointer:/view/blocks]"),
        (modal(title=plain("A title of more than 24!!")), "is 25 [json-pointer:/view/title/text]"),
        (modal(submit=plain("s" * 25)), "[json-pointer:/view/submit/text]"),
        (modal(close=plain("c" * 25)), "[json-pointer:/view/close/text]"),
        (modal(private_metadata="m" * 3001), "is 3001 [json-pointer:/view/private_metadata]"),
        (modal(callback_id="c" * 256), "is 256 [json-pointer:/view/callback_id]"),
        (modal([{"type": "input", "label": plain("l" * 2001),
                 "element": {"type": "plain_text_input", "action_id": "p"}}]), "is 2001"),
        (modal([{"type": "input", "label": plain("Patron"),
                 "element": {"type": "plain_text_input", "action_id": "p", "max_length": 3001}}]),
         "must be a number from 1 to 3000"),
        (modal([{"type": "input", "label": plain("Patron"), "element": {"type": "plain_text_input"}}],
               submit=None), "is required when the view has an input block"),
    ]
    for view, problem in cases:
        view = {k: v for k, v in view.items() if v is not None}
        with pytest.raises(SlackApiError) as refused:
            client.views_open(trigger_id="1.2.3", view=view)
        answer = refused.value.response.data
        assert answer["error"] == "invalid_arguments", problem
        assert any(problem in p for p in answer["errors"]), (problem, answer["errors"])
    opened = client.views_open(trigger_id="1.2.3", view=modal())["view"]
    for call in (lambda: client.views_update(view_id=opened["id"], view=modal([section()] * 101)),
                 lambda: client.views_push(trigger_id="1.2.4", view=modal([section()] * 101)),
                 lambda: client.views_publish(user_id="U1", view={"type": "home", "blocks": [section()] * 101})):
        with pytest.raises(SlackApiError) as refused:
            call()
        assert refused.value.response["error"] == "invalid_arguments"
    assert client.views_publish(user_id="U1", view={"type": "home", "blocks": [section()] * 100})["ok"]


def test_a_response_url_post_past_the_limits_is_refused_and_not_shown(slack_api):
    webhook = WebhookClient(slack_api.response_url())
    refused = webhook.send(text="fallback", blocks=[section("x" * 3001)])
    assert refused.status_code == 400
    assert json.loads(refused.body)["error"] == "invalid_blocks"
    assert webhook.send(text="x" * 40_001).status_code == 400
    assert webhook.send(text="fallback", blocks=[section("x" * 3000)]).status_code == 200


def test_the_answer_to_a_block_suggestion_is_checked_too():
    assert limits.suggestion_problems({"options": [option()] * 100}) == []
    assert limits.suggestion_problems({"options": [option()] * 101}) == [
        "must provide no more than 100 items, has 101 [json-pointer:/options]"]
    group = {"label": plain("g" * 76), "options": [option()]}
    assert limits.suggestion_problems({"option_groups": [group]}) == [
        "must be at most 75 characters, is 76 [json-pointer:/option_groups/0/label/text]"]
