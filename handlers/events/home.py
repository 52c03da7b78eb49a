"""The App Home: ``app_home_opened`` publishes the ops dashboard for whoever
opened it, and its deploy buttons (``home_deploy``, admins) start a deploy
whose messages go to the app's direct messages with the presser.

Slack redelivers an event it thinks was missed (``X-Slack-Retry-Num``): the
only work here is reading and publishing the view, which is the same view
again, so a retry is harmless and nothing is written twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.home import home_view, parse_deploy_value
from bot.core.access import Refusal
from bot.core.deploy import DeployError, DeployRequest
from bot.core.home import HomeData, gather_home
from bot.version import opsbot_version

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.container import Services

log = logging.getLogger(__name__)


def home_for(services: Services, user: str) -> HomeData:
    """What the Home shows ``user``, gathered from the running bot's services."""
    return gather_home(user, ledger=services.ledger, catalog=services.catalog, access=services.access,
                       store=services.store, links=services.links, deploys=services.deploys,
                       version=opsbot_version())


def publish_home(*, event: dict[str, Any], client: WebClient, services: Services) -> None:
    """After the ack: the dashboard as ``event["user"]`` may see it."""
    if event.get("tab", "home") != "home":  # the Messages tab fires the same event
        return
    user = event["user"]
    client.views_publish(user_id=user, view=home_view(home_for(services, user)))


def deploy_from_home(*, body: dict[str, Any], action: dict[str, Any], client: WebClient,
                     services: Services) -> None:
    """After the ack: start the deploy the button names; its progress (or why it
    did not start) goes to the presser's direct messages, and the Home is redrawn."""
    user = body["user"]["id"]
    deploys = services.deploys
    parsed = parse_deploy_value(str(action.get("value", "")))
    site = services.catalog.site(parsed[0]) if parsed else None
    if deploys is None or parsed is None or site is None or services.notifier is None:
        log.warning("home deploy button with an unknown value %r", action.get("value"))
        return
    try:
        deploys.start(DeployRequest(site, parsed[1]), by=user, channel=user)
    except (Refusal, DeployError) as exc:
        services.notifier.direct_message(user, exc.message)
    client.views_publish(user_id=user, view=home_view(home_for(services, user)))


def acknowledge(*, ack: Callable[..., Any]) -> None:
    ack()
