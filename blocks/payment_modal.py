"""The payment modal (``callback_id`` log_payment) and reading its submitted state.

The event is chosen from a static select while every event fits in one (Slack
allows 100 options); with more, it is an ``external_select`` whose options come
from the ``block_suggestion`` listener as the person types (handlers/suggestions),
so every event can be found. Either way a preselected event is the initial option."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ExternalDataSelectElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from blocks.fit import OPTION_TEXT, SELECT_OPTIONS, plain
from blocks.ids import CALLBACK_ID, EVENT_ACTION
from bot.core.domain import NOTES_MAX, PATRON_MAX, EventStatus
from bot.core.money import format_cents

FIELDS = ("event", "patron", "amount", "method", "notes")  # block ids; each input's action_id is the same
MAX_OPTIONS = SELECT_OPTIONS
SEARCH_PLACEHOLDER = "Type part of its name, id or date"


def event_label(status: EventStatus) -> str:
    """``JADA Charter · Sat May 23 · $560.00 due`` (plain text, at most 75 characters)."""
    when = f" · {status.event.date:%a %b %-d}" if status.event.date else ""
    owed = "paid in full" if status.cleared else f"{format_cents(status.owed_cents)} due"
    tail = f"{when} · {owed}"
    return plain(status.event.title, OPTION_TEXT - len(tail)) + tail


def event_option(status: EventStatus) -> Option:
    return Option(value=status.event.id, text=event_label(status))


def event_suggestions(statuses: Sequence[EventStatus], matched: int) -> dict[str, Any]:
    """The answer to the event select's ``block_suggestion``: the first 100 matches
    (Slack shows no more). When more matched, they come under a label saying so,
    so the person types more to narrow them."""
    options = [event_option(s).to_dict() for s in statuses[:MAX_OPTIONS]]
    if matched <= len(options):
        return {"options": options}
    label = plain(f"{len(options)} of {matched}: type more of the name, id or date", OPTION_TEXT)
    return {"option_groups": [{"label": {"type": "plain_text", "text": label}, "options": options}]}


def payment_modal(statuses: Sequence[EventStatus], *, methods: Sequence[str], preselect: str | None = None,
                  private_metadata: str = "") -> dict[str, Any]:
    """``statuses`` in the order to offer them (upcoming first); ``methods``: the crew's payment
    methods (the catalog's list, at most 100), offered in that order."""
    chosen = next((event_option(s) for s in statuses if s.event.id == preselect), None)
    event_select: StaticSelectElement | ExternalDataSelectElement
    if 0 < len(statuses) <= MAX_OPTIONS:  # Slack refuses a static select with no options
        event_select = StaticSelectElement(action_id=EVENT_ACTION, placeholder="Choose the event",
                                           options=[event_option(s) for s in statuses], initial_option=chosen)
    else:
        # min_query_length 0: opening the menu asks for the soonest events before anything is typed.
        event_select = ExternalDataSelectElement(action_id=EVENT_ACTION, placeholder=SEARCH_PLACEHOLDER,
                                             initial_option=chosen, min_query_length=0)
    method_options = [Option(value=m, text=plain(m.capitalize(), OPTION_TEXT)) for m in methods]
    view = View(
        type="modal",
        callback_id=CALLBACK_ID,
        title="Log a payment",
        submit="Record",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=[
            InputBlock(block_id="event", label="Event", element=event_select),
            InputBlock(block_id="patron", label="Patron",
                       element=PlainTextInputElement(action_id="patron", placeholder="Who paid",
                                                     max_length=PATRON_MAX)),
            InputBlock(block_id="amount", label="Amount", hint="Dollars, like 125 or 1,560.00",
                       element=PlainTextInputElement(action_id="amount", placeholder="125.00")),
            InputBlock(block_id="method", label="Method",
                       element=StaticSelectElement(action_id="method", placeholder="How they paid",
                                                   options=method_options)),
            InputBlock(block_id="notes", label="Notes", optional=True,
                       element=PlainTextInputElement(action_id="notes", multiline=True, max_length=NOTES_MAX,
                                                     placeholder="Check number, who collected it, …")),
        ],
    )
    return view.to_dict()


def form_values(state_values: dict[str, Any]) -> dict[str, str | None]:
    """The submitted fields by block id, from ``view.state.values`` (text as typed: Slack sends input values raw)."""
    result: dict[str, str | None] = {}
    for field in FIELDS:
        element = (state_values.get(field) or {}).get(field) or {}
        if "selected_option" in element:  # a static or an external select
            selected = element.get("selected_option") or {}
            result[field] = selected.get("value")
        else:
            result[field] = element.get("value")
    return result
