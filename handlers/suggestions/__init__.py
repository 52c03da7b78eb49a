"""``block_suggestion`` listeners: the options of external selects, as the person types. Each
imports its module the first time it runs (cold start, as handlers/commands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blocks.ids import EVENT_ACTION

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.container import Services


def register(app: App, services: Services) -> None:
    def events(ack: Ack, payload: dict) -> None:
        from handlers.suggestions.event_search import suggest_events  # on first use (cold start)

        suggest_events(ack=ack, payload=payload, services=services)

    app.block_suggestion(EVENT_ACTION)(events)
