"""The daily summary (for Slack and for a terminal) and the reminder message. Pure builders.

In Slack both stay within Block Kit's limits on the busiest day (blocks/fit.py):
each section's lines are cut with "…and N more", names are shortened where they
are shown, and the reminder offers a button for as many events as a message
holds and counts the rest. The terminal and email renderings keep every line."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from datetime import date

from slack_sdk.models.blocks import ButtonElement, HeaderBlock

from blocks.fit import MESSAGE_BLOCKS, SECTION_TEXT, context, cut, fallback, joined, name, plural, section
from blocks.ids import REMINDER_ACTION
from bot.core.domain import EventStatus, Payment
from bot.core.money import format_cents
from bot.core.summary import Comparison, DaySummary, Tally

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def _refund_word(record: Payment) -> str:
    return {"refund": " · Stripe refund", "refund_failed": " · failed refund, back"}.get(record.kind, "")


def _tally(t: Tally) -> str:
    return f"{t.count} · {format_cents(t.cents)}"


def _lines(s: DaySummary, *, text: Callable[[str], str], who: Callable[[str], str], bold: Callable[[str], str]
           ) -> tuple[str, list[tuple[str, list[str]]]]:
    """(headline, [(section title, lines)]) in a form both renderers share."""
    sections: list[tuple[str, list[str]]] = []
    compared = _compared(s.versus_last_week)
    if s.quiet:
        headline = f"No payments logged on {s.day:%a %b %-d}.\n{compared}"
    else:
        total = s.total
        headline = bold(f"{plural(total.count, 'payment')} · {format_cents(total.cents)}") + f"\n{compared}"
        if s.voids:
            word = "void" if all(v.is_void for v in s.voids) else "void or refund"
            headline += (f"\n{plural(s.voided.count, word, word + 's' if word == 'void' else 'voids or refunds')} · "
                         f"{format_cents(-s.voided.cents)} · net {format_cents(s.net_cents)}")
        if s.stripe.count:
            headline += f"\nStripe: {_tally(s.stripe)}"
        if s.payments:
            sections.append(("By method", [f"{m.capitalize()}: {_tally(t)}" for m, t in s.by_method.items()]))
            sections.append(("By event", [f"{text(s.titles[e])}: {_tally(t)}" for e, t in s.by_event.items()]))
            sections.append(("Logged by", [f"{who(w)}: {_tally(t)}" for w, t in s.by_logger.items()]))
        if s.voids:
            sections.append(("Voids" if all(v.is_void for v in s.voids) else "Voids and refunds", [
                f"{v.voids}: {format_cents(v.amount_cents)} {text(v.patron)} ({text(s.titles[v.event_id])}) "
                f"by {who(v.logged_by)}" + _refund_word(v) for v in s.voids]))
    if s.outstanding:
        sections.append(("Still owed, next 7 days", [_owed(o, text) for o in s.outstanding]))
    else:
        sections.append(("Still owed, next 7 days", ["Nothing owed for events in the next 7 days."]))
    return headline, sections


def _signed(n: int, shown: str) -> str:
    return f"+{shown}" if n > 0 else f"-{shown}" if n < 0 else f"±{shown}"


def _compared(c: Comparison) -> str:
    """``vs. last Sat, Nov 14: 2 payments · $800.00 (+$450.00, +1 payment)``."""
    then = f"{plural(c.then.count, 'payment')} · {format_cents(c.then.cents)}" if c.then.count else "no payments"
    if not c.then.count and not c.now.count:
        return f"vs. last {c.day:%a, %b %-d}: no payments either"
    if (c.cents, c.count) == (0, 0):
        change = "the same"
    else:
        change = (f"{_signed(c.cents, format_cents(abs(c.cents)))}, "
                  f"{_signed(c.count, plural(abs(c.count), 'payment'))}")
    return f"vs. last {c.day:%a, %b %-d}: {then} ({change})"


def _owed(status: EventStatus, text: Callable[[str], str]) -> str:
    assert status.event.date is not None
    return (f"{text(status.event.title)} ({status.event.date:%a %b %-d}): {format_cents(status.owed_cents)} "
            f"of {format_cents(status.total_cents)}")


def summary_title(day: date) -> str:
    return f"Payments for {day:%a %b %-d, %Y}"


def summary_blocks(s: DaySummary) -> tuple[str, list[dict]]:
    """The summary for Slack: (fallback text, blocks)."""
    def mention(ident: str) -> str:
        return f"<@{ident}>" if _USER_ID.match(ident) else name(ident)

    headline, sections = _lines(s, text=name, who=mention, bold=lambda t: f"*{t}*")
    blocks = [HeaderBlock(text=summary_title(s.day)), section(headline)]
    for title, lines in sections:
        head = f"*{title}*"
        blocks.append(section(f"{head}\n{joined(lines, SECTION_TEXT - len(head) - 1)}"))
    return summary_fallback(s), [b.to_dict() for b in blocks]


def summary_text(s: DaySummary) -> str:
    """The summary for a terminal: plain text, no markup."""
    headline, sections = _lines(s, text=lambda t: t, who=lambda w: w, bold=lambda t: t)
    out = [summary_title(s.day), "=" * len(summary_title(s.day)), headline]
    for title, lines in sections:
        out += ["", f"{title}:"] + [f"  {line}" for line in lines]
    return "\n".join(out) + "\n"


def summary_html(s: DaySummary) -> str:
    """The summary as an HTML fragment (for the email copy); every name is HTML-escaped."""
    headline, sections = _lines(s, text=html.escape, who=html.escape, bold=lambda t: f"<strong>{t}</strong>")
    out = [f"<h2>{html.escape(summary_title(s.day))}</h2>", f"<p>{headline.replace(chr(10), '<br>')}</p>"]
    for title, lines in sections:
        out.append(f"<h3>{html.escape(title)}</h3>")
        out.append("<ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul>")
    return "\n".join(out)


def summary_fallback(s: DaySummary) -> str:
    """One line: ``Payments for Sat Nov 21, 2026: 3 payments, $1,250.00.``"""
    return f"{summary_title(s.day)}: " + (
        "no payments." if s.quiet else f"{plural(s.total.count, 'payment')}, {format_cents(s.total.cents)}.")


def reminder_blocks(owed: Sequence[EventStatus], today: date) -> tuple[str, list[dict]]:
    """One message: each event soon with a balance, and a button to log a payment for it
    (as many as a message holds, soonest first; the rest are counted)."""
    shown, hidden = cut(owed, MESSAGE_BLOCKS - 2)  # the header and the closing line
    blocks: list = [HeaderBlock(text="Balances due soon")]
    for status in shown:
        assert status.event.date is not None
        days = (status.event.date - today).days
        when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
        blocks.append(section(
            f"*{name(status.event.title)}* · {status.event.date:%a %b %-d} ({when})\n"
            f"{format_cents(status.owed_cents)} due of {format_cents(status.total_cents)}",
            accessory=ButtonElement(text="Log payment", action_id=REMINDER_ACTION, value=status.event.id),
        ))
    if hidden:
        rest = sum(s.owed_cents for s in owed[len(shown):])
        blocks.append(context(f"…and {plural(hidden, 'more event')} owing {format_cents(rest)}: "
                              "`/events` shows every event."))
    else:
        blocks.append(context("`/events` shows every event."))
    total = sum(s.owed_cents for s in owed)
    text = fallback(f"{plural(len(owed), 'event')} in the next days still owe {format_cents(total)}.")
    return text, [b.to_dict() for b in blocks]
