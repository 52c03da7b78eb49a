"""The Notifier port on the Slack Web API."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.ports import NotifyError

# Slack's answers that refuse the message itself: sending the same message again cannot help. Anything else
# (Slack down, rate limits, a channel the bot is not in yet) may pass on a later try.
MESSAGE_REFUSED = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text",
                             "too_many_attachments", "invalid_attachments", "invalid_arguments",
                             "markdown_text_conflict", "invalid_metadata_format", "metadata_too_large"})


def slack_client(token: str | None, base_url: str) -> WebClient:
    """A WebClient that waits out 429s (Retry-After), retries dropped connections,
    and retries HTTP 500 and 503 answers with backoff.

    Slack reports the failure of a request it handled as a 200 with ``ok: false``
    (``internal_error`` and ``fatal_error`` warn that part of it may have
    happened): those are never repeated. A 500 or 503 status is taken to mean
    the request was not handled, so it is sent again; the audit line's claim
    (bot/audit.py) keeps every other path from posting it a second time."""
    client = WebClient(token=token, base_url=base_url, timeout=10)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=2))
    client.retry_handlers.append(ServerErrorRetryHandler(max_retry_count=2))
    return client


class SlackNotifier:
    def __init__(self, client: WebClient):
        self.client = client

    def post(self, channel: str, text: str, blocks: list[dict] | None = None) -> str:
        try:
            resp = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        except (SlackApiError, SlackClientError) as exc:
            raise _failure(f"chat.postMessage to {channel}", exc) from exc
        return str(resp["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None:
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except (SlackApiError, SlackClientError) as exc:
            raise _failure(f"chat.update in {channel}", exc) from exc

    def post_ephemeral(self, channel: str, user: str, text: str, blocks: list[dict] | None = None) -> None:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
        except (SlackApiError, SlackClientError) as exc:
            raise _failure(f"chat.postEphemeral in {channel}", exc) from exc

    def direct_message(self, user: str, text: str, blocks: list[dict] | None = None) -> None:
        # Posting to a user ID delivers to the app's DM with that user.
        self.post(user, text, blocks)


def _failure(what: str, exc: Exception) -> NotifyError:
    reason = _reason(exc)
    return NotifyError(f"{what} failed: {reason}", retryable=reason not in MESSAGE_REFUSED)


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown_error"))
    return str(exc)
