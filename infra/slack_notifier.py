"""The Notifier port on the Slack Web API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.core.ports import NotifyError

HISTORY_PAGES = 10  # conversations.history pages read when looking for a message (200 messages each)
# Slack's answers that refuse the message itself: sending the same message again cannot help. Anything else
# (Slack down, rate limits, a channel the bot is not in yet) may pass on a later try.
MESSAGE_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text",
                             "too_many_attachments", "invalid_attachments", "invalid_arguments",
                             "markdown_text_conflict", "invalid_metadata_format", "metadata_too_large"})
# ok: false errors after which the message may exist all the same (Slack's docs for chat.postMessage).
MAYBE_DONE_ERRORS = frozenset({"internal_error", "fatal_error", "request_timeout"})


def slack_client(token: str | None, base_url: str, *, retries: bool = True) -> WebClient:
    """A WebClient for requests made while someone waits (listeners, schedules): it
    waits out 429s (Retry-After), retries dropped connections, and retries HTTP 500
    and 503 answers with backoff. Slack reports the failure of a request it handled
    as a 200 with ``ok: false``: those are never repeated.

    ``retries=False`` is the deliverer's client (bot/core/deliverer.py): every failure comes
    back at once as a NotifyError saying whether to wait (Retry-After) and whether the
    message may be there already, and the outbox decides when to try again."""
    client = WebClient(token=token, base_url=base_url, timeout=10)
    if retries:
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
        client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=2))
        client.retry_handlers.append(ServerErrorRetryHandler(max_retry_count=2))
    else:
        client.retry_handlers.clear()
    return client


class SlackNotifier:
    def __init__(self, client: WebClient):
        self.client = client

    def post(self, channel: str, text: str, blocks: list[dict] | None = None, *,
             metadata: dict[str, Any] | None = None) -> str:
        try:
            resp = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False,
                                                metadata=metadata)
        except (SlackApiError, SlackClientError) as exc:
            raise _notify_error(f"chat.postMessage to {channel}", exc) from exc
        return str(resp["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None:
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except (SlackApiError, SlackClientError) as exc:
            raise _notify_error(f"chat.update in {channel}", exc) from exc

    def post_ephemeral(self, channel: str, user: str, text: str, blocks: list[dict] | None = None) -> None:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
        except (SlackApiError, SlackClientError) as exc:
            raise _notify_error(f"chat.postEphemeral in {channel}", exc) from exc

    def direct_message(self, user: str, text: str, blocks: list[dict] | None = None) -> None:
        # Posting to a user ID delivers to the app's DM with that user.
        self.post(user, text, blocks)

    def respond(self, response_url: str, text: str, blocks: list[dict] | None = None, *,
                in_channel: bool = False) -> None:
        try:
            answer = WebhookClient(response_url, timeout=10).send(
                text=text, blocks=blocks, response_type="in_channel" if in_channel else "ephemeral",
                replace_original=False, unfurl_links=False)
        except OSError as exc:  # urllib: refused, reset, timed out
            raise NotifyError(f"response_url failed: {exc}", maybe_delivered=True) from exc
        if answer.status_code != 200:
            raise NotifyError(f"response_url answered {answer.status_code}: {str(answer.body)[:200]}",
                              maybe_delivered=answer.status_code >= 500)

    def find_message(self, channel: str, *, attempt: str, oldest: datetime) -> str | None:
        cursor = None
        for _ in range(HISTORY_PAGES):
            try:
                page = self.client.conversations_history(channel=channel, oldest=f"{oldest.timestamp():.6f}",
                                                         include_all_metadata=True, limit=200, cursor=cursor)
            except (SlackApiError, SlackClientError) as exc:
                raise _notify_error(f"conversations.history of {channel}", exc) from exc
            for message in page.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("attempt") == attempt:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return None
        return None


def _notify_error(call: str, exc: Exception) -> NotifyError:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        error = str(exc.response.get("error", "unknown_error")) if isinstance(exc.response.data, dict) else ""
        if status == 429:
            wait = exc.response.headers.get("retry-after") or exc.response.headers.get("Retry-After") or "1"
            return NotifyError(f"{call} failed: ratelimited (retry after {wait} s)", retry_after=float(wait))
        return NotifyError(f"{call} failed: {error or f'HTTP {status}'}",
                           maybe_delivered=status >= 500 or error in MAYBE_DONE_ERRORS,
                           retryable=error not in MESSAGE_REFUSED)
    # A connection dropped or timed out: the request may have reached Slack.
    return NotifyError(f"{call} failed: {exc}", maybe_delivered=True)
