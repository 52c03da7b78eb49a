"""Email copies for admins: a payment, a void, a Stripe payment, the daily summary.
Pure builders, the email siblings of the Slack ones: plain text and HTML, every
name HTML-escaped in the HTML part, subjects kept to one line."""

from __future__ import annotations

import html
import re
from datetime import tzinfo

from blocks.summary import summary_fallback, summary_html, summary_text
from bot.core.domain import EventStatus, Payment
from bot.core.money import format_cents
from bot.core.ports import OutgoingEmail
from bot.core.summary import DaySummary

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SUBJECT_LIMIT = 150
_STYLE = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1d1c1d"


def _one_line(text: str) -> str:
    """Header-safe: no line breaks (they would end the header), runs of space collapsed."""
    return " ".join(text.split())


def _subject(text: str) -> str:
    text = _one_line(text)
    return text if len(text) <= _SUBJECT_LIMIT else text[: _SUBJECT_LIMIT - 1] + "…"


def logged_by(payment: Payment) -> str:
    """Who logged a record, in words (emails cannot show Slack mentions)."""
    if payment.source == "api":
        return "the web API"
    if payment.source == "stripe":
        return "Stripe Checkout"
    if _USER_ID.match(payment.logged_by):
        return f"Slack user {payment.logged_by}"
    return payment.logged_by


def _balance(status: EventStatus) -> str:
    line = f"{format_cents(max(status.balance_cents, 0))} of {format_cents(status.total_cents)}"
    if status.balance_cents < 0:
        return line + f" (overpaid by {format_cents(-status.balance_cents)})"
    if status.cleared:
        return line + " (paid in full)"
    return line


def _event(status: EventStatus) -> str:
    event = status.event
    return f"{event.title} ({event.date:%a %b %-d, %Y})" if event.date else event.title


def _when(payment: Payment, tz: tzinfo) -> str:
    return f"{payment.recorded_at.astimezone(tz):%a %b %-d, %Y %-I:%M %p %Z}"


def _render(key: str, subject: str, heading: str, rows: list[tuple[str, str]], footer: str) -> OutgoingEmail:
    width = max(len(label) for label, _ in rows) + 2
    text = "\n".join([heading, "", *(f"{label + ':':<{width}}{value}" for label, value in rows), "", footer]) + "\n"
    cells = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0;font-weight:600">{html.escape(label)}</th>'
        f'<td style="padding:2px 0">{html.escape(value)}</td></tr>' for label, value in rows)
    body = (f'<div style="{_STYLE}"><p><strong>{html.escape(heading)}</strong></p>'
            f"<table cellspacing=\"0\" cellpadding=\"0\">{cells}</table>"
            f'<p style="color:#616061">{html.escape(footer)}</p></div>')
    return OutgoingEmail(key=key, subject=_subject(subject), text=text, html=body)


FOOTER = "Sent by opsbot. The ledger is the record; this email is a copy."


def payment_email(payment: Payment, status: EventStatus, tz: tzinfo) -> OutgoingEmail:
    """A payment was recorded (logged in Slack, through the web API, or paid with Stripe)."""
    amount = format_cents(payment.amount_cents)
    kind = "Stripe payment" if payment.method == "stripe" else "Payment logged"
    rows = [
        ("Amount", amount), ("Method", payment.method), ("Patron", _one_line(payment.patron)),
        ("Event", _event(status)), ("Logged by", logged_by(payment)), ("When", _when(payment, tz)),
        ("Balance now", _balance(status)), ("Payment id", payment.payment_id),
    ]
    if payment.notes:
        rows.append(("Notes", payment.notes))
    return _render(f"payment:{payment.payment_id}",
                   f"{kind}: {amount} from {payment.patron} for {status.event.title}",
                   f"{kind}: {amount} from {_one_line(payment.patron)} for {status.event.title}", rows, FOOTER)


def void_email(void: Payment, status: EventStatus, tz: tzinfo) -> OutgoingEmail:
    """A payment was voided (``void`` is the reversing record, its amount negative)."""
    amount = format_cents(abs(void.amount_cents))
    rows = [
        ("Amount reversed", amount), ("Method", void.method), ("Patron", _one_line(void.patron)),
        ("Event", _event(status)), ("Voided by", logged_by(void)), ("When", _when(void, tz)),
        ("Balance now", _balance(status)), ("Payment voided", void.voids or ""), ("Void id", void.payment_id),
    ]
    return _render(f"void:{void.payment_id}", f"Payment voided: {amount} from {void.patron} for {status.event.title}",
                   f"Payment voided: {amount} from {_one_line(void.patron)} for {status.event.title}", rows, FOOTER)


def refund_email(record: Payment, status: EventStatus, tz: tzinfo) -> OutgoingEmail:
    """A Stripe refund recorded (amount negative), or a failed refund's money put back (positive)."""
    amount = format_cents(abs(record.amount_cents))
    failed = record.amount_cents > 0
    what = "Stripe refund failed, money back" if failed else "Stripe refund"
    rows = [
        ("Amount " + ("back" if failed else "refunded"), amount), ("Patron", _one_line(record.patron)),
        ("Event", _event(status)), ("When", _when(record, tz)), ("Balance now", _balance(status)),
        ("Payment", record.voids or ""), ("Stripe refund", record.stripe_id or ""), ("Record id", record.payment_id),
    ]
    return _render(f"{record.kind}:{record.payment_id}",
                   f"{what}: {amount} to {record.patron} for {status.event.title}",
                   f"{what}: {amount} to {_one_line(record.patron)} for {status.event.title}", rows, FOOTER)


def summary_email(summary: DaySummary) -> OutgoingEmail:
    """The daily summary, the same figures as the Slack message."""
    body = f'<div style="{_STYLE}">{summary_html(summary)}<p style="color:#616061">{html.escape(FOOTER)}</p></div>'
    return OutgoingEmail(key=f"summary:{summary.day.isoformat()}", subject=_subject(summary_fallback(summary)),
                         text=summary_text(summary) + "\n" + FOOTER + "\n", html=body)
