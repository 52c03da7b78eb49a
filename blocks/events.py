"""/events replies: the list of events and one event with its payments. Pure builders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from blocks.audit import standing
from blocks.mrkdwn import escape, shorten
from blocks.paylinks import paylink_lines
from bot.domain import EventStatus, Payment
from bot.money import format_cents

if TYPE_CHECKING:
    from bot.paylinks import PaylinkStatus

MAX_BLOCKS = 50  # Slack's limit for a message
SECTION_TEXT_MAX = 3000
MAX_RECORDS_SHOWN = 40  # newest first; a phone screen, not an export


def _when(status: EventStatus) -> str:
    return f"{status.event.date:%a %b %-d, %Y}" if status.event.date else "no date"


def _event_line(status: EventStatus) -> str:
    count = f" ({status.payment_count} payment{'s' if status.payment_count != 1 else ''})"
    return (f"*{escape(status.event.title)}* · {_when(status)} · `{status.event.id}`\n"
            f"{standing(status)}{count if status.payment_count else ''}")


def events_list(statuses: Sequence[EventStatus], *, include_past: bool) -> tuple[str, list[dict]]:
    title = "All events" if include_past else "Upcoming events"
    if not statuses:
        empty = "No events in events.json." if include_past else "No upcoming events. `/events all` shows past ones."
        return empty, [SectionBlock(text=MarkdownTextObject(text=empty)).to_dict()]
    room = MAX_BLOCKS - 2  # the header and a closing context line
    shown = statuses[:room]
    blocks = [HeaderBlock(text=title)]
    blocks += [SectionBlock(text=MarkdownTextObject(text=_event_line(s))) for s in shown]
    hidden = statuses[room:]
    if hidden:
        owed = sum(max(s.balance_cents, 0) for s in hidden)
        note = (f"…and {len(hidden)} more event{'s' if len(hidden) != 1 else ''} with {format_cents(owed)} due. "
                "`/events EVENT` shows one.")
    else:
        owed = sum(max(s.balance_cents, 0) for s in statuses)
        note = f"{len(statuses)} event{'s' if len(statuses) != 1 else ''} · {format_cents(owed)} due in all."
        if not include_past:
            note += " `/events all` includes past ones."
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
    text = f"{title}: " + "; ".join(
        f"{s.event.title} {format_cents(s.paid_cents)} of {format_cents(s.total_cents)}" for s in shown)
    return escape(shorten(text, 3000)), [b.to_dict() for b in blocks]


def _payment_line(p: Payment) -> str:
    who = f"<@{p.logged_by}>" if p.source == "slack" else escape(p.logged_by)
    line = (f"`{p.payment_id}` · {date.fromisoformat(p.day):%b %-d} · {format_cents(p.amount_cents)} {p.method} · "
            f"{escape(p.patron)} · by {who}")
    if p.voided_by:
        return f"~{line}~ (voided)"
    return line


def event_detail(status: EventStatus, payments: Sequence[Payment],
                 links: Sequence[PaylinkStatus] = ()) -> tuple[str, list[dict]]:
    head = f"{_when(status)} · `{status.event.id}`\n{standing(status)}"
    blocks = [HeaderBlock(text=shorten(status.event.title, 150)), SectionBlock(text=MarkdownTextObject(text=head))]
    if links:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=paylink_lines(links))))
    if not payments:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="No payments yet.")]))
    else:
        newest_first = list(reversed(payments))
        shown = newest_first[:MAX_RECORDS_SHOWN]
        chunks: list[list[str]] = [[]]
        for line in map(_payment_line, shown):
            if sum(len(x) + 1 for x in chunks[-1]) + len(line) > SECTION_TEXT_MAX:
                chunks.append([])
            chunks[-1].append(line)
        blocks += [SectionBlock(text=MarkdownTextObject(text="\n".join(chunk))) for chunk in chunks]
        older = newest_first[len(shown):]
        if older:
            note = (f"…and {len(older)} older record{'s' if len(older) != 1 else ''}, "
                    f"{format_cents(sum(p.amount_cents for p in older))} in all.")
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
    text = (f"{status.event.title}: paid {format_cents(status.paid_cents)} of {format_cents(status.total_cents)}, "
            f"balance {format_cents(max(status.balance_cents, 0))}")
    return escape(text), [b.to_dict() for b in blocks]
