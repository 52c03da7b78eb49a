"""Events API listeners: the App Home (and its buttons). Each imports its module the first time it
runs (cold start, as handlers/commands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.ids import HOME_DEPLOY_ACTION
from handlers.lazy import after_ack

if TYPE_CHECKING:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.container import Services


def register(app: App, services: Services) -> None:
    def home_opened(ack: Ack) -> None:
        from handlers.events.home import acknowledge  # on first use (cold start)

        acknowledge(ack=ack)

    @after_ack
    def publish(event: dict, client: WebClient) -> None:
        from handlers.events.home import publish_home  # on first use (cold start)

        publish_home(event=event, client=client, services=services)

    app.event("app_home_opened")(ack=home_opened, lazy=[publish])

    def deploy_pressed(ack: Ack) -> None:
        from handlers.events.home import acknowledge  # on first use (cold start)

        acknowledge(ack=ack)

    @after_ack
    def deploy(body: dict, action: dict, client: WebClient) -> None:
        from handlers.events.home import deploy_from_home  # on first use (cold start)

        deploy_from_home(body=body, action=action, client=client, services=services)

    app.action(HOME_DEPLOY_ACTION)(ack=deploy_pressed, lazy=[deploy])
