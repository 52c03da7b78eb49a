"""The payment modal (``callback_id`` log_payment) and reading its submitted state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from blocks.mrkdwn import shorten
from bot.domain import NOTES_MAX, PATRON_MAX, PAYMENT_METHODS, EventStatus
from bot.money import format_cents

CALLBACK_ID = "log_payment"
FIELDS = ("event", "patron", "amount", "method", "notes")  # block ids; each input's action_id is the same
MAX_OPTIONS = 100  # Slack's limit for a static select


def event_label(status: EventStatus) -> str:
    """``JADA Charter · Sat May 23 · $560.00 due`` (plain text, at most 75 characters)."""
    when = f" · {status.event.date:%a %b %-d}" if status.event.date else ""
    owed = "paid in full" if status.balance_cents <= 0 else f"{format_cents(status.balance_cents)} due"
    tail = f"{when} · {owed}"
    return shorten(status.event.title, 75 - len(tail)) + tail


def payment_modal(statuses: Sequence[EventStatus], *, preselect: str | None = None,
                  private_metadata: str = "") -> dict[str, Any]:
    """``statuses`` in the order to offer them (upcoming first)."""
    options = [Option(value=s.event.id, text=event_label(s)) for s in statuses[:MAX_OPTIONS]]
    initial = next((o for o in options if o.value == preselect), None)
    event_select = StaticSelectElement(action_id="event", placeholder="Choose the event", options=options,
                                       initial_option=initial)
    methods = [Option(value=m, text=m.capitalize()) for m in PAYMENT_METHODS]
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
                                                   options=methods)),
            InputBlock(block_id="notes", label="Notes", optional=True,
                       element=PlainTextInputElement(action_id="notes", multiline=True, max_length=NOTES_MAX,
                                                     placeholder="Check number, who collected it, …")),
        ],
    )
    return view.to_dict()


def form_values(state_values: dict[str, Any]) -> dict[str, str | None]:
    """The submitted fields by block id, from ``view.state.values``."""
    result: dict[str, str | None] = {}
    for field in FIELDS:
        element = (state_values.get(field) or {}).get(field) or {}
        if element.get("type") == "static_select":
            selected = element.get("selected_option") or {}
            result[field] = selected.get("value")
        else:
            result[field] = element.get("value")
    return result
