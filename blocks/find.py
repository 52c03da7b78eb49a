"""``/opsbot find`` replies: each matching patron's total, then the matching records newest
first. Pure builders, held to Slack's limits (blocks/fit.py) however many records match."""

from __future__ import annotations

from datetime import date

from slack_sdk.models.blocks import HeaderBlock

from blocks.events import marked_line, patron_blocks
from blocks.fit import HEADER_TEXT, chunked, context, cut, fallback, name, plain, plural, section
from bot.core.domain import Payment
from bot.core.money import format_cents
from bot.core.records import FindResult

MAX_RECORDS_SHOWN = 30  # newest first: enough to answer "what has Ana paid?" on a phone


def find_usage() -> str:
    return ("Usage: `/opsbot find TEXT` — a patron's name, or words from a payment's notes, like "
            "`/opsbot find ana ruiz`. Any case, with or without accents.")


def _record_line(record: Payment, title: str) -> str:
    line = (f"`{record.payment_id}` · {date.fromisoformat(record.day):%b %-d, %Y} · "
            f"{format_cents(record.amount_cents)} {name(record.method)} · {name(record.patron)} · {name(title)}")
    if record.is_reversal:  # a void or a refund: never voided or refunded itself
        return f"{line} (reverses `{record.voids}`)"
    return marked_line(line, record)


def find_reply(found: FindResult) -> tuple[str, list[dict]]:
    """(fallback text, blocks) for the person who searched."""
    if not found.records:
        text = fallback(f"No payments match “{found.query}”. The search covers every event in events.json, "
                        "patrons' names and notes, in any case and with or without accents.")
        return text, [context(text).to_dict()]
    blocks: list = [HeaderBlock(text=plain(f"Payments matching “{found.query}”", HEADER_TEXT))]
    blocks += patron_blocks(found.patrons)
    shown, hidden = cut(found.records, MAX_RECORDS_SHOWN)
    lines = [f"*Records* · newest first · {plural(len(found.records), 'match', 'matches')}",
             *(_record_line(r, found.titles.get(r.event_id, r.event_id)) for r in shown)]
    blocks += [section(chunk) for chunk in chunked(lines)]
    if hidden:
        older = found.records[len(shown):]
        blocks.append(context(f"…and {plural(hidden, 'older record')}, "
                              f"{format_cents(sum(r.amount_cents for r in older))} in all."))
    verb = "matches" if len(found.records) == 1 else "match"
    text = fallback(f"{plural(len(found.records), 'record')} {verb} “{found.query}”: "
                    f"{plural(len(found.patrons), 'patron')} with {format_cents(found.total_cents)} paid in all.")
    return text, [b.to_dict() for b in blocks]
