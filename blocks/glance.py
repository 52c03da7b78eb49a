"""Money at a glance, in words a phone shows: a paid-of-total bar drawn in text
(Slack has no charts), the balance, cleared or not, and the season's totals. Pure:
the figures come from bot/ (EventStatus.paid_percent, bot/core/season.py); this only says them."""

from __future__ import annotations

from blocks.audit import standing
from blocks.fit import plural
from bot.core.domain import EventStatus
from bot.core.money import format_cents
from bot.core.season import Owed, SeasonTotals

BAR_CELLS = 10
FILLED, EMPTY = "▓", "░"


def paid_bar(percent: int) -> str:
    """``▓▓▓▓▓░░░░░ 52%``: a cell a tenth, rounded down, so the bar is full only at 100%."""
    filled = max(0, min(BAR_CELLS, percent // (100 // BAR_CELLS)))
    return f"{FILLED * filled}{EMPTY * (BAR_CELLS - filled)} {percent}%"


def money_lines(status: EventStatus) -> str:
    """The bar on a line of its own (short, for a phone), then paid of total, the balance, and cleared or not."""
    still_owed = " · not cleared" if status.balance_cents > 0 else ""
    return f"{paid_bar(status.paid_percent)}\n{standing(status)}{still_owed}"


def _owed(owed: Owed, label: str) -> str:
    if not owed.events:
        return f"{label}: nothing"
    return f"{label}: {format_cents(owed.cents)} ({plural(owed.events, 'event')})"


def season_lines(totals: SeasonTotals) -> str:
    """``*Season:* collected $12,345.00 of $45,000.00`` with its bar, then what is owed soon."""
    if totals.total_cents <= 0:
        return "*Season:* no events in events.json yet."
    collected = (f"*Season:* collected {format_cents(totals.collected_cents)} of {format_cents(totals.total_cents)}"
                 f"\n{paid_bar(totals.collected_percent)}")
    owed = " · ".join(_owed(o, f"next {o.days} days") for o in totals.owed_soon)
    line = f"{collected}\n*Owed* {owed}"
    if totals.overdue.events:
        line += f"\n:warning: {_owed(totals.overdue, 'Past events still owe')}"
    return line
