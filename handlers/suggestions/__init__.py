"""``block_suggestion`` listeners: the options of external selects, as the person types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.payment_modal import EVENT_ACTION
from handlers.suggestions.event_search import suggest_events

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.container import Services


def register(app: App, services: Services) -> None:
    def events(ack: Ack, payload: dict) -> None:
        suggest_events(ack=ack, payload=payload, services=services)

    app.block_suggestion(EVENT_ACTION)(events)
