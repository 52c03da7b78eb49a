"""The Slack Web API stand-in answers the real slack_sdk clients the way Slack does."""

from __future__ import annotations

import re
import threading
import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID


@pytest.fixture
def client(slack_api) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack_api.base_url)


def test_auth_test_and_messages_look_like_slack(client, slack_api) -> None:
    auth = client.auth_test()
    assert (auth["ok"], auth["user_id"], auth["team_id"]) == (True, BOT_USER_ID, TEAM_ID)
    first = client.chat_postMessage(channel="C0AUDIT0001", text="hello", blocks=[{"type": "divider"}])
    second = client.chat_postMessage(channel="C0AUDIT0001", text="again")
    assert re.fullmatch(r"\d{10}\.\d{6}", first["ts"]) and float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == [{"type": "divider"}]
    updated = client.chat_update(channel="C0AUDIT0001", ts=first["ts"], text="edited")
    assert (updated["ts"], updated["message"]["text"]) == (first["ts"], "edited")
    ephemeral = client.chat_postEphemeral(channel="C0AUDIT0001", user="U0CREW00001", text="psst")
    assert ephemeral["message_ts"]
    call = slack_api.calls("chat.postMessage")[0]
    assert call.params["channel"] == "C0AUDIT0001" and call.params["blocks"] == [{"type": "divider"}]
    assert call.token == "xoxb-test"


def test_views_keep_their_id_across_updates(client) -> None:
    opened = client.views_open(trigger_id="123.456.abc", view={
        "type": "modal", "callback_id": "log_payment", "title": {"type": "plain_text", "text": "Log"}, "blocks": [],
    })
    view_id = opened["view"]["id"]
    assert view_id.startswith("V") and opened["view"]["callback_id"] == "log_payment"
    updated = client.views_update(view_id=view_id, view={"type": "modal", "callback_id": "log_payment",
                                                         "title": {"type": "plain_text", "text": "Done"},
                                                         "blocks": []})
    assert updated["view"]["id"] == view_id and updated["view"]["title"]["text"] == "Done"
    home = client.views_publish(user_id="U0CREW00001", view={"type": "home", "blocks": []})
    assert home["view"]["type"] == "home"


def test_lookups_and_unknown_methods(client) -> None:
    assert client.conversations_info(channel="C0AUDIT0001")["channel"]["id"] == "C0AUDIT0001"
    assert client.users_info(user="U0CREW00001")["user"]["id"] == "U0CREW00001"
    with pytest.raises(SlackApiError) as err:
        client.api_call("admin.teams.create")
    assert err.value.response["error"] == "unknown_method"


def test_calls_without_a_token_are_not_authed(slack_api) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack_api.base_url).chat_postMessage(channel="C0AUDIT0001", text="hi")
    assert err.value.response["error"] == "not_authed"


def test_scripted_errors_come_back_as_slack_api_errors(client, slack_api) -> None:
    slack_api.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0GONE00001", text="hi")
    assert err.value.response["error"] == "channel_not_found"
    assert client.chat_postMessage(channel="C0AUDIT0001", text="hi")["ok"]  # only the next call failed


def test_rate_limits_carry_retry_after_and_slack_sdk_retries(client, slack_api) -> None:
    slack_api.rate_limit_next("chat.postMessage", retry_after=0)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0AUDIT0001", text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "0"
    slack_api.rate_limit_next("chat.postMessage", retry_after=0)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    assert client.chat_postMessage(channel="C0AUDIT0001", text="hi")["ok"]
    assert [c.status for c in slack_api.calls("chat.postMessage")] == [429, 429, 200]


def test_response_url_posts_are_recorded(slack_api) -> None:
    url = slack_api.response_url()
    resp = WebhookClient(url).send(text="done", response_type="ephemeral")
    assert resp.status_code == 200
    call = slack_api.wait_for("response_url")
    assert call.params == {"text": "done", "response_type": "ephemeral"}


def test_wait_for_wakes_on_a_call_from_another_thread_and_times_out_clearly(client, slack_api) -> None:
    thread = threading.Thread(target=client.chat_postMessage, kwargs={"channel": "C0AUDIT0001", "text": "later"})
    thread.start()
    call = slack_api.wait_for("chat.postMessage", where=lambda c: c.params.get("text") == "later")
    thread.join()
    assert call.response["ok"]
    with pytest.raises(AssertionError, match="no 1 call"):
        slack_api.wait_for("views.open", timeout=0.2)


def test_history_finds_a_posted_message_by_its_metadata_and_needs_the_scope(client, slack_api) -> None:
    before = time.time() - 1
    client.chat_postMessage(channel="C0AUDIT0001", text="one", metadata={
        "event_type": "opsbot_announcement", "event_payload": {"attempt": "h#1:line"}})
    client.chat_postMessage(channel="C0AUDIT0001", text="two")
    client.chat_postMessage(channel="C0OTHER0001", text="elsewhere")
    page = client.conversations_history(channel="C0AUDIT0001", oldest=f"{before:.6f}", include_all_metadata=True,
                                        limit=1)
    assert [m["text"] for m in page["messages"]] == ["two"] and page["has_more"] is True
    rest = client.conversations_history(channel="C0AUDIT0001", oldest=f"{before:.6f}", include_all_metadata=True,
                                        cursor=page["response_metadata"]["next_cursor"])
    assert [(m["text"], m["metadata"]["event_payload"]) for m in rest["messages"]] == [("one", {"attempt": "h#1:line"})]
    assert "metadata" not in client.conversations_history(channel="C0AUDIT0001")["messages"][1]
    assert client.conversations_history(channel="C0AUDIT0001", oldest=f"{time.time() + 60:.6f}")["messages"] == []
    slack_api.scopes = ("chat:write",)
    with pytest.raises(SlackApiError) as refused:
        client.conversations_history(channel="C0AUDIT0001")
    assert refused.value.response["error"] == "missing_scope"


def test_paced_channels_refuse_a_second_post_within_the_pace_like_slack(slack_api) -> None:
    client = WebClient(token="xoxb-test", base_url=slack_api.base_url)  # no retry handler: the 429 shows
    slack_api.pace_channels(per_second=2.0)  # one message each half second per channel
    client.chat_postMessage(channel="C0AUDIT0001", text="one")
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C0AUDIT0001", text="two")
    assert (limited.value.response.status_code, limited.value.response.headers["retry-after"]) == (429, "1")
    client.chat_postMessage(channel="C0OTHER0001", text="another channel is not held back")
    assert [m["text"] for m in client.conversations_history(channel="C0AUDIT0001")["messages"]] == ["one"]
    slack_api.wait_for("chat.postMessage", count=1)
    first = slack_api.calls("chat.postMessage")[0]
    time.sleep(max(first.at + 0.5 - time.monotonic(), 0))  # Slack's pace is real time
    assert client.chat_postMessage(channel="C0AUDIT0001", text="three")["ok"]
