"""The console's Notifier: only the ops channel's lines go to the real Slack
(when one is configured); everything else stays on the machine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.core.ports import Notifier


class RoutingNotifier:
    """The console's Notifier. Messages for ``upstream_channel`` (the ops channel)
    go to the real Slack when ``upstream`` is set, and ``echo`` shows them here
    too; everything else (replies to the console user) goes to ``local``."""

    def __init__(self, local: Notifier, upstream: Notifier | None, upstream_channel: str | None,
                 echo: Callable[[str, dict[str, Any]], None]):
        self.local = local
        self.upstream = upstream
        self.upstream_channel = upstream_channel
        self.echo = echo

    def _goes_upstream(self, channel: str) -> bool:
        return self.upstream is not None and channel == self.upstream_channel

    def post(self, channel: str, text: str, blocks: list[dict] | None = None, *,
             metadata: dict[str, Any] | None = None) -> str:
        if not self._goes_upstream(channel):
            return self.local.post(channel, text, blocks, metadata=metadata)
        assert self.upstream is not None
        ts = self.upstream.post(channel, text, blocks, metadata=metadata)
        self.echo("chat.postMessage", {"channel": channel, "ts": ts, "text": text, "blocks": blocks})
        return ts

    def update(self, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None:
        if not self._goes_upstream(channel):
            self.local.update(channel, ts, text, blocks)
            return
        assert self.upstream is not None
        self.upstream.update(channel, ts, text, blocks)
        self.echo("chat.update", {"channel": channel, "ts": ts, "text": text, "blocks": blocks})

    def post_ephemeral(self, channel: str, user: str, text: str, blocks: list[dict] | None = None) -> None:
        # Ephemeral messages are for the console user: always shown here.
        self.local.post_ephemeral(channel, user, text, blocks)

    def direct_message(self, user: str, text: str, blocks: list[dict] | None = None) -> None:
        self.local.direct_message(user, text, blocks)

    def respond(self, response_url: str, text: str, blocks: list[dict] | None = None, *,
                in_channel: bool = False) -> None:
        # A response_url in the console is the console's own.
        self.local.respond(response_url, text, blocks, in_channel=in_channel)

    def find_message(self, channel: str, *, attempt: str, oldest: datetime) -> str | None:
        where = self.upstream if self._goes_upstream(channel) and self.upstream is not None else self.local
        return where.find_message(channel, attempt=attempt, oldest=oldest)
