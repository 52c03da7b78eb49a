"""``/events [all|EVENT]``: who has paid what."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from blocks.events import EVENTS_SHOWN, MAX_RECORDS_SHOWN, event_detail, events_page
from blocks.failures import problem
from bot.core.commands import EVENTS_USAGE, UsageError, parse_events
from bot.core.ledger import UnknownEvent
from handlers.slack_text import command_text

if TYPE_CHECKING:
    from bot.container import Services


def events_reply(text: str | None, user: str, *, services: Services) -> dict[str, Any]:
    """The ack payload for ``/events <text>``."""
    try:
        parsed = parse_events(text)
        if parsed.event:
            status, overview = services.ledger.event_overview(parsed.event, recent=MAX_RECORDS_SHOWN)
            links = services.paylinks.event_links(status.event.id) if services.paylinks else []
            fallback, blocks = event_detail(status, overview.recent, links, overview.patrons,
                                            records=overview.records)
        else:
            page = services.ledger.events_page(include_past=parsed.include_past, room=EVENTS_SHOWN)
            fallback, blocks = events_page(page, include_past=parsed.include_past)
    except UsageError as exc:
        return {"response_type": "ephemeral", "text": f"{exc} {EVENTS_USAGE}"}
    except UnknownEvent as exc:
        return {"response_type": "ephemeral", "text": problem(exc.errors["event"])}
    return {"response_type": "ephemeral", "text": fallback, "blocks": blocks}


def events_command(*, ack: Callable[..., Any], command: dict[str, Any], services: Services) -> None:
    ack(**events_reply(command_text(command), command["user_id"], services=services))
