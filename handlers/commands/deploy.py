"""``/deploy [SITE [staging|production|promote|rollback|history]]`` (admins).

The ack answers at once: the sites list, the site's history (read from the
store), a refusal or an input error, or nothing (the deploy's own message
follows in the channel). Everything that reads or writes S3 and CloudFront
runs after the ack."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.deploy import history_message, refusal_text, sites_list
from bot.core.deploy import DeployError
from handlers.slack_text import command_text

if TYPE_CHECKING:
    from bot.container import Services


def _ephemeral(text: str, blocks: list[dict] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if blocks:
        reply["blocks"] = blocks
    return reply


def deploy_reply(text: str | None, user: str, *, services: Services) -> dict[str, Any]:
    """The ack payload for ``/deploy <text>`` (keyword arguments for ``ack()``)."""
    try:
        request = services.deploys.parse(text)
    except DeployError as exc:
        return _ephemeral(refusal_text(exc))
    if request is None:
        return _ephemeral(*sites_list(services.catalog.sites))
    if request.target == "history":
        records = services.deploys.history(request.site.id)
        return _ephemeral(*history_message(request.site, records, services.settings.timezone,
                                           services.deploys.clock()))
    return {}


def deploy_command(*, ack: Callable[..., Any], command: dict[str, Any], services: Services) -> None:
    ack(**deploy_reply(command_text(command), command["user_id"], services=services))


def run_deploy(*, command: dict[str, Any], respond: Callable[..., Any], services: Services) -> None:
    """After the ack: the deploy (or the production preview, or the dry run)."""
    deploys, user = services.deploys, command["user_id"]
    try:
        request = deploys.parse(command_text(command))
    except DeployError:
        return  # the ack said what was wrong
    if request is None or request.target == "history":
        return
    try:
        deploys.start(request, by=user, channel=command["channel_id"])
    except DeployError as exc:
        respond(text=refusal_text(exc), response_type="ephemeral", replace_original=False)
