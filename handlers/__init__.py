"""Slack listeners. Each folder has a ``register(app, services)``; callbacks are
plain functions that parse, call the service layer and build blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import access_middleware, actions, commands, errors, events, suggestions, views

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.container import Services


def register(app: App, services: Services) -> None:
    access_middleware.register(app, services)
    commands.register(app, services)
    views.register(app, services)
    actions.register(app, services)
    events.register(app, services)
    suggestions.register(app, services)
    errors.register(app, services)
