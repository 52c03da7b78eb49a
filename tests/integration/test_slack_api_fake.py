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

from infra.local_slack.web_api import BOT_USER_ID, TEAM_ID


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


# -- files, as files_upload_v2 sends them ----------------------------------------------------------------------


def test_posting_to_a_user_opens_the_apps_direct_message_and_names_its_channel(client, slack_api) -> None:
    first = client.chat_postMessage(channel="U0ADMIN0001", text="hello")
    again = client.chat_postMessage(channel="U0ADMIN0001", text="again")
    assert first["channel"] == again["channel"] == slack_api.im_channel("U0ADMIN0001")
    assert first["channel"].startswith("D") and first["channel"] != "U0ADMIN0001"
    assert slack_api.im_channel("U0SOMEONE01") is None


def test_files_upload_v2_announces_uploads_and_shares_in_a_channel(client, slack_api) -> None:
    dm = client.chat_postMessage(channel="U0ADMIN0001", text="your file")["channel"]
    done = client.files_upload_v2(channel=dm, content=b"a,b\r\n1,2\r\n", filename="x.csv", title="X")
    assert done["file"]["title"] == "X"
    [shared] = slack_api.uploaded()
    assert (shared.filename, shared.title, shared.channel, shared.data) == ("x.csv", "X", dm, b"a,b\r\n1,2\r\n")
    [upload] = slack_api.calls("upload_url")
    assert upload.status == 200 and upload.response == "OK - 10" and upload.token is None  # no token on the upload
    announce = slack_api.calls("files.getUploadURLExternal")[0]
    assert announce.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert (announce.params["filename"], announce.params["length"]) == ("x.csv", "10")


def test_files_are_refused_as_slack_refuses_them(client, slack_api) -> None:
    with pytest.raises(SlackApiError) as user_id:  # a user ID is not a channel id here (Slack: invalid_arguments)
        client.files_upload_v2(channel="U0ADMIN0001", content=b"x", filename="x.csv")
    assert user_id.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as unknown_dm:  # no such direct message
        client.files_upload_v2(channel="D0NOBODY0001", content=b"x", filename="x.csv")
    assert unknown_dm.value.response["error"] == "channel_not_found"
    # Announced but never uploaded, or uploaded with another length than announced.
    announced = client.files_getUploadURLExternal(filename="y.csv", length=3)
    with pytest.raises(SlackApiError) as never:
        client.files_completeUploadExternal(files=[{"id": announced["file_id"], "title": "y"}])
    assert never.value.response["error"] == "file_not_found"
    WebClient(token="xoxb-test", base_url=slack_api.base_url)._upload_file(
        url=announced["upload_url"], data=b"four", logger=client._logger, timeout=5, proxy=None, ssl=None)
    with pytest.raises(SlackApiError) as short:
        client.files_completeUploadExternal(files=[{"id": announced["file_id"], "title": "y"}])
    assert short.value.response["error"] == "invalid_arguments"
    # A JSON body is missing the arguments of files.getUploadURLExternal, as Slack reads them.
    with pytest.raises(SlackApiError) as as_json:
        client.api_call("files.getUploadURLExternal", json={"filename": "z.csv", "length": 3})
    assert as_json.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as no_length:
        client.api_call("files.getUploadURLExternal", params={"filename": "z.csv"})
    assert no_length.value.response["error"] == "invalid_arguments"
    # Another token cannot complete this token's file.
    other = WebClient(token="xoxb-other", base_url=slack_api.base_url)
    mine = client.files_getUploadURLExternal(filename="w.csv", length=1)
    other._upload_file(url=mine["upload_url"], data=b"w", logger=client._logger, timeout=5, proxy=None, ssl=None)
    with pytest.raises(SlackApiError) as theirs:
        other.files_completeUploadExternal(files=[{"id": mine["file_id"], "title": "w"}])
    assert theirs.value.response["error"] == "file_not_found"
    assert slack_api.uploaded() == []


def test_files_need_the_files_write_scope(client, slack_api) -> None:
    slack_api.scopes = ("chat:write", "commands")
    with pytest.raises(SlackApiError) as missing:
        client.files_upload_v2(channel="C0AUDIT0001", content=b"x", filename="x.csv")
    assert missing.value.response.data == {"ok": False, "error": "missing_scope", "needed": "files:write",
                                           "provided": "chat:write,commands"}
