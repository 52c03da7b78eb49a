"""/events replies: the list of events and one event with its payments. Pure builders,
held to Slack's limits with blocks/fit.py whatever the number of events or payments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import HeaderBlock

from blocks.fit import (
    HEADER_TEXT,
    MESSAGE_BLOCKS,
    chunked,
    context,
    cut,
    fallback,
    name,
    plain,
    plural,
    section,
    section_dict,
)
from blocks.glance import money_lines
from blocks.paylinks import paylink_lines
from bot.core.domain import EventsPage, EventStatus, Payment
from bot.core.money import format_cents
from bot.core.patrons import PatronTotal

if TYPE_CHECKING:
    from bot.core.paylinks import PaylinkStatus

MAX_BLOCKS = MESSAGE_BLOCKS
MAX_RECORDS_SHOWN = 40  # newest first; a phone screen, not an export
MAX_PATRONS_SHOWN = 40  # lines of at most ~130 characters: two sections


def _when(status: EventStatus) -> str:
    return f"{status.event.date:%a %b %-d, %Y}" if status.event.date else "no date"


def _event_line(status: EventStatus) -> str:
    count = f" · {plural(status.payment_count, 'payment')}" if status.payment_count else ""
    return f"*{name(status.event.title)}* · {_when(status)} · `{status.event.id}`{count}\n{money_lines(status)}"


# The list's room: the header and a closing context line besides the events.
EVENTS_SHOWN = MAX_BLOCKS - 2


def events_list(statuses: Sequence[EventStatus], *, include_past: bool) -> tuple[str, list[dict]]:
    return events_page(EventsPage.of(list(statuses), EVENTS_SHOWN), include_past=include_past)


def events_page(page: EventsPage, *, include_past: bool) -> tuple[str, list[dict]]:
    """The list: the page's events, then how many more and what they owe (or what all of them owe)."""
    title = "All events" if include_past else "Upcoming events"
    shown = page.shown[:EVENTS_SHOWN]
    if not shown:
        empty = "No events in events.json." if include_past else "No upcoming events. `/events all` shows past ones."
        return empty, [section(empty).to_dict()]
    lines = [section_dict(_event_line(s)) for s in shown]
    hidden = page.hidden + len(page.shown) - len(shown)
    if hidden:
        owed = page.owed_cents - sum(s.owed_cents for s in shown)
        note = f"…and {plural(hidden, 'more event')} with {format_cents(owed)} due. `/events EVENT` shows one."
    else:
        note = f"{plural(len(shown), 'event')} · {format_cents(page.owed_cents)} due in all."
        if not include_past:
            note += " `/events all` includes past ones."
    text = f"{title}: " + "; ".join(
        f"{s.event.title} {format_cents(s.paid_cents)} of {format_cents(s.total_cents)}" for s in shown)
    return fallback(text), [HeaderBlock(text=title).to_dict(), *lines, context(note).to_dict()]


def _payment_line(p: Payment) -> str:
    who = f"<@{p.logged_by}>" if p.source == "slack" else name(p.logged_by)
    line = (f"`{p.payment_id}` · {date.fromisoformat(p.day):%b %-d} · {format_cents(p.amount_cents)} "
            f"{name(p.method)} · {name(p.patron)} · by {who}")
    return marked_line(line, p)


def marked_line(line: str, payment: Payment) -> str:
    """A payment's line as it stands: struck through when voided or refunded in full, the refunded part named."""
    if payment.voided_by:
        return f"~{line}~ (voided)"
    if payment.refunded_cents and payment.left_cents <= 0:
        return f"~{line}~ (refunded)"
    if payment.refunded_cents:
        return f"{line} ({format_cents(payment.refunded_cents)} refunded)"
    return line


def patron_line(total: PatronTotal) -> str:
    """``*Ana Ruiz* · $1,000.00 · 2 payments``; a patron whose payments were all reversed, struck through."""
    if total.reversed_in_full:
        return f"~{name(total.name)}~ · {format_cents(0)} · reversed"
    return f"*{name(total.name)}* · {format_cents(total.total_cents)} · {plural(total.payments, 'payment')}"


def patron_blocks(patrons: Sequence[PatronTotal]) -> list:
    """Each patron's total, one line each (the first MAX_PATRONS_SHOWN, then how many more and their money)."""
    shown, hidden = cut(patrons, MAX_PATRONS_SHOWN)
    lines = [f"*Who paid* · {plural(len(patrons), 'patron')}", *(patron_line(p) for p in shown)]
    blocks: list = [section(chunk) for chunk in chunked(lines)]
    if hidden:
        rest = patrons[len(shown):]
        blocks.append(context(f"…and {plural(hidden, 'more patron')}, "
                              f"{format_cents(sum(p.total_cents for p in rest))} in all."))
    return blocks


def event_detail(status: EventStatus, payments: Sequence[Payment],
                 links: Sequence[PaylinkStatus] = (), patrons: Sequence[PatronTotal] = (), *,
                 records: int | None = None) -> tuple[str, list[dict]]:
    """The event, its payment links, each patron's total (bot/patrons.patron_totals), then its records,
    oldest first: all of them, or (with ``records``, how many there are in all) the newest."""
    head = f"{_when(status)} · `{status.event.id}`\n{money_lines(status)}"
    blocks = [HeaderBlock(text=plain(status.event.title, HEADER_TEXT)), section(head)]
    if links:
        blocks.append(section(paylink_lines(links)))
    if patrons:
        blocks += patron_blocks(patrons)
    if not payments:
        blocks.append(context("No payments yet."))
    else:
        newest_first = list(reversed(payments))
        shown, _ = cut(newest_first, MAX_RECORDS_SHOWN)  # 40 lines of at most ~300 characters: <= 5 sections
        blocks += [section(chunk) for chunk in chunked([_payment_line(p) for p in shown])]
        older = newest_first[len(shown):]
        older_count, older_cents = len(older), sum(p.amount_cents for p in older)
        if records is not None:  # the rest were not read: the event's totals say what they come to
            older_count = records - len(shown)
            older_cents = status.paid_cents - sum(p.amount_cents for p in shown)
        if older_count > 0:
            note = f"…and {plural(older_count, 'older record')}, {format_cents(older_cents)} in all."
            blocks.append(context(note))
    text = (f"{status.event.title}: paid {format_cents(status.paid_cents)} of {format_cents(status.total_cents)}, "
            f"balance {format_cents(status.owed_cents)}")
    return fallback(text), [b.to_dict() for b in blocks]
