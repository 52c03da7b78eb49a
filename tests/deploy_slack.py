"""Driving /deploy the way Slack does, for the deploy tests: the command, the
deploy's message in the channel, and the preview's buttons."""

from __future__ import annotations

from typing import Any

from infra.local_slack.payloads import block_action
from infra.local_slack.signing import DEFAULT_CHANNEL_ID
from tests.conftest import ADMIN_USER
from tests.deploy_sites import SiteOnMoto
from tests.http_client import HttpResult
from tests.slack_bot import Bot


def start(make_bot: Any, site: SiteOnMoto, **overrides: str) -> Bot:
    """A bot on this site; a still clock for durations, so the texts are exact."""
    bot = make_bot(**{**site.env(), **overrides})
    bot.services.deploys.timer = lambda: 100.0
    return bot


def messages(bot: Bot) -> list:
    """Posts and updates in the channel the command came from, in order."""
    return [c for c in bot.slack_api.calls() if c.method in ("chat.postMessage", "chat.update")
            and c.params.get("channel") == DEFAULT_CHANNEL_ID]


def shown(bot: Bot) -> str:
    """What the deploy's message says now."""
    return messages(bot)[-1].params["blocks"][0]["text"]["text"]


def buttons(call: Any) -> list[dict]:
    actions = [b for b in call.params["blocks"] if b["type"] == "actions"]
    return actions[-1]["elements"] if actions else []


def command(bot: Bot, text: str, user: str = ADMIN_USER) -> HttpResult:
    reply = bot.command("/deploy", text, user=user)
    assert reply.status == 200
    bot.lazies.wait_idle()
    return reply


def press(bot: Bot, action: str, first_message: int) -> dict:
    """Press the last preview's button ``action`` (``deploy_confirm`` or
    ``deploy_cancel``); ``first_message`` is the index of the deploy's first
    message (the one the buttons are on). Returns the preview call."""
    preview = messages(bot)[-1]
    [button] = [b for b in buttons(preview) if b["action_id"] == action]
    body = block_action(action, button["value"], user_id=ADMIN_USER, channel_id=DEFAULT_CHANNEL_ID,
                        message_ts=messages(bot)[first_message].response["ts"],
                        response_url=bot.slack_api.response_url("actions/deploy"))
    assert bot.send(body).status == 200
    bot.lazies.wait_idle()
    return preview


def confirmed(bot: Bot, text: str, label: str | None = None) -> dict:
    """``/deploy text``, then its preview's confirm button (whose text is ``label``
    when given); returns the preview call."""
    first = len(messages(bot))
    command(bot, text)
    preview = messages(bot)[-1]
    go, cancel = buttons(preview)
    assert (go["action_id"], cancel["action_id"]) == ("deploy_confirm", "deploy_cancel")
    assert label is None or go["text"]["text"] == label
    return press(bot, "deploy_confirm", first)
