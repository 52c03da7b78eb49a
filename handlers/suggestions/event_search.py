"""The payment form's event select, when it is an ``external_select`` (more events
than a static select holds): the events whose id, title or date hold what was typed.

Slack sends what was typed as ``value`` with each keystroke (and an empty one
when the menu opens) and waits 3 seconds for the options: the search reads
events.json and one totals query, nothing slow. The typed text comes from an
input, which Slack sends as typed (not escaped, unlike a slash command's text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.payment_modal import MAX_OPTIONS, event_suggestions

if TYPE_CHECKING:
    from bot.container import Services


def suggest_events(*, ack: Callable[..., Any], payload: dict[str, Any], services: Services) -> None:
    statuses, matched = services.ledger.search_events(str(payload.get("value") or ""), limit=MAX_OPTIONS)
    ack(**event_suggestions(statuses, matched))
