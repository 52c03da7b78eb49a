"""Audit lines for the ops channel: one per payment and one per void. Pure builders."""

from __future__ import annotations

import re

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from blocks.mrkdwn import escape, shorten
from bot.domain import EventStatus, Payment
from bot.money import format_cents

VOID_ACTION = "payment_void"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def who(payment: Payment) -> str:
    """Who logged a record, as mrkdwn: a Slack mention, or where it came from."""
    if payment.source == "api":
        return "Logged via web API"
    if payment.source == "stripe":
        return "Stripe payment"
    if _USER_ID.match(payment.logged_by):
        return f"<@{payment.logged_by}>"
    return escape(payment.logged_by)


def what(payment: Payment, status: EventStatus) -> str:
    """``*$125.00* (cash) from *Ana Ruiz* for *JADA Charter*`` with user text escaped."""
    return (f"*{format_cents(abs(payment.amount_cents))}* ({payment.method}) from *{escape(payment.patron)}* "
            f"for *{escape(status.event.title)}*")


def standing(status: EventStatus) -> str:
    """``Paid $1,125.00 of $1,560.00 · Balance $435.00`` and a cleared or overpaid mark."""
    line = (f"Paid {format_cents(status.paid_cents)} of {format_cents(status.total_cents)} · "
            f"Balance {format_cents(max(status.balance_cents, 0))}")
    if status.balance_cents < 0:
        return line + f" · :warning: *Overpaid by {format_cents(-status.balance_cents)}*"
    if status.cleared:
        return line + " · :white_check_mark: *Cleared*"
    return line


def _details(payment: Payment) -> str:
    parts = [f"`{payment.payment_id}`"]
    if payment.notes:
        parts.append(f"Notes: {escape(payment.notes)}")
    return " · ".join(parts)


def payment_audit(payment: Payment, status: EventStatus, *, overpaid_note: bool = False) -> tuple[str, list[dict]]:
    """The audit line for a new payment, with its Void button. Returns (fallback text, blocks)."""
    if payment.source in ("api", "stripe"):
        head = f":moneybag: {who(payment)}: {what(payment, status)}"
    else:
        head = f":moneybag: {who(payment)} logged {what(payment, status)}"
    lines = [head, standing(status)]
    if overpaid_note:
        lines.append(":warning: This payment is more than the balance that was due; it was recorded because "
                     "the money has arrived.")
    blocks = [
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))),
        ContextBlock(elements=[MarkdownTextObject(text=_details(payment))]),
        ActionsBlock(elements=[
            ButtonElement(
                text="Void", action_id=VOID_ACTION, value=payment.payment_id, style="danger",
                confirm=ConfirmObject(
                    title="Void this payment?",
                    text=(f"{format_cents(payment.amount_cents)} from {escape(payment.patron)} will be reversed "
                          "with a new record. Admins only."),
                    confirm="Void", deny="Keep",
                ),
            )
        ]),
    ]
    text = f"{format_cents(payment.amount_cents)} ({payment.method}) from {payment.patron} for {status.event.title}"
    return escape(text), [b.to_dict() for b in blocks]


def voided_payment_audit(payment: Payment, status: EventStatus, void: Payment) -> tuple[str, list[dict]]:
    """What a payment's audit line becomes once it is voided: struck through, no button."""
    head = (f":moneybag: ~{format_cents(payment.amount_cents)} ({payment.method}) from {escape(payment.patron)} "
            f"for {escape(status.event.title)}~ *voided* by {who(void)}")
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=head)),
        ContextBlock(elements=[MarkdownTextObject(text=f"`{payment.payment_id}` · voided by `{void.payment_id}`")]),
    ]
    return escape(f"Voided: {format_cents(payment.amount_cents)} from {payment.patron}"), [b.to_dict() for b in blocks]


def void_audit(void: Payment, status: EventStatus) -> tuple[str, list[dict]]:
    """The new audit line for a void."""
    head = f":leftwards_arrow_with_hook: {who(void)} voided {what(void, status)} (`{void.voids}`)"
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f"{head}\n{standing(status)}")),
        ContextBlock(elements=[MarkdownTextObject(text=f"`{void.payment_id}`")]),
    ]
    text = f"Void of {format_cents(-void.amount_cents)} from {void.patron} for {status.event.title}"
    return escape(text), [b.to_dict() for b in blocks]


def email_failed_audit(recipients: list[str], subject: str, reason: str) -> tuple[str, list[dict]]:
    """An email copy that could not be sent: ``email to … failed: …``, and that the record itself is safe."""
    to = ", ".join(recipients)
    reason = shorten(reason, 500)
    line = (f":warning: Email to {escape(to)} failed: {escape(reason)}\n"
            f"It was “{escape(subject)}”. The record itself is kept; only the email copy is missing.")
    return f"Email to {to} failed: {reason}", [SectionBlock(text=MarkdownTextObject(text=line)).to_dict()]
