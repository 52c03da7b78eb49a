"""Audit lines for the ops channel: one per payment and one per void. Pure builders.

Every name is shortened where it is shown (blocks/fit.py), so a line fits Slack's
limits whatever the patron, the notes or the event's title hold; the Void
button's confirmation, 300 characters at most, names the patron in what is left."""

from __future__ import annotations

import re

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject

from blocks.fit import CONFIRM_TEXT, RECORD_NAME, SECTION_TEXT, context, escaped_length, fallback, name, section
from blocks.ids import VOID_ACTION, VOID_ONLY_ACTION, VOID_REFUND_ACTION
from blocks.mrkdwn import escape, shorten
from bot.core.domain import EventStatus, Payment
from bot.core.money import format_cents

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def who(payment: Payment) -> str:
    """Who logged a record, as mrkdwn: a Slack mention, or where it came from."""
    if payment.source == "api":
        return "Logged via web API"
    if payment.source == "stripe":
        return "Stripe payment"
    if _USER_ID.match(payment.logged_by):
        return f"<@{payment.logged_by}>"
    return name(payment.logged_by)


def what(payment: Payment, status: EventStatus) -> str:
    """``*$125.00* (cash) from *Ana Ruiz* for *JADA Charter*`` with user text escaped (and shortened)."""
    return (f"*{format_cents(abs(payment.amount_cents))}* ({name(payment.method)}) from "
            f"*{name(payment.patron, RECORD_NAME)}* for *{name(status.event.title, RECORD_NAME)}*")


def standing(status: EventStatus) -> str:
    """``Paid $1,125.00 of $1,560.00 · Balance $435.00`` and a cleared or overpaid mark."""
    line = (f"Paid {format_cents(status.paid_cents)} of {format_cents(status.total_cents)} · "
            f"Balance {format_cents(status.owed_cents)}")
    if status.overpaid_cents > 0:
        return line + f" · :warning: *Overpaid by {format_cents(status.overpaid_cents)}*"
    if status.cleared:
        return line + " · :white_check_mark: *Cleared*"
    return line


def _details(payment: Payment) -> str:
    parts = [f"`{payment.payment_id}`"]
    if payment.notes:
        parts.append(f"Notes: {name(payment.notes, SECTION_TEXT // 2)}")
    return " · ".join(parts)


def void_confirmation(payment: Payment) -> str:
    """The Void button's question: the amount and the patron, within the dialog's 300 characters."""
    head, tail = f"{format_cents(payment.amount_cents)} from ", " will be reversed with a new record. Admins only."
    return head + name(payment.patron, CONFIRM_TEXT - escaped_length(head + tail)) + tail


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
    blocks = [section("\n".join(lines)), context(_details(payment)), _void_button(payment)]
    text = f"{format_cents(payment.amount_cents)} ({payment.method}) from {payment.patron} for {status.event.title}"
    return fallback(text), [b.to_dict() for b in blocks]


def voided_payment_audit(payment: Payment, status: EventStatus, void: Payment) -> tuple[str, list[dict]]:
    """What a payment's audit line becomes once it is voided: struck through, no button."""
    head = (f":moneybag: ~{format_cents(payment.amount_cents)} ({name(payment.method)}) from "
            f"{name(payment.patron, RECORD_NAME)} for {name(status.event.title, RECORD_NAME)}~ *voided* by {who(void)}")
    blocks = [section(head), context(f"`{payment.payment_id}` · voided by `{void.payment_id}`")]
    text = f"Voided: {format_cents(payment.amount_cents)} from {payment.patron}"
    return fallback(text), [b.to_dict() for b in blocks]


def void_audit(void: Payment, status: EventStatus) -> tuple[str, list[dict]]:
    """The new audit line for a void."""
    head = f":leftwards_arrow_with_hook: {who(void)} voided {what(void, status)} (`{void.voids}`)"
    blocks = [section(f"{head}\n{standing(status)}"), context(f"`{void.payment_id}`")]
    text = f"Void of {format_cents(-void.amount_cents)} from {void.patron} for {status.event.title}"
    return fallback(text), [b.to_dict() for b in blocks]


def _void_button(payment: Payment) -> ActionsBlock:
    return ActionsBlock(elements=[
        ButtonElement(
            text="Void", action_id=VOID_ACTION, value=payment.payment_id, style="danger",
            confirm=ConfirmObject(title="Void this payment?", text=void_confirmation(payment),
                                  confirm="Void", deny="Keep"),
        )
    ])


def refunded_payment_audit(payment: Payment, status: EventStatus, record: Payment) -> tuple[str, list[dict]]:
    """What a Stripe payment's audit line becomes after a refund (``payment`` as it stands after it): what
    was refunded and what stands; the Void button while something stands (a void takes what is left)."""
    base = (f"{format_cents(payment.amount_cents)} ({name(payment.method)}) from {name(payment.patron, RECORD_NAME)} "
            f"for {name(status.event.title, RECORD_NAME)}")
    if payment.left_cents <= 0:
        head = f":moneybag: ~{base}~ *refunded in full* in Stripe"
        text = f"Refunded: {format_cents(payment.amount_cents)} from {payment.patron}"
    else:
        refunded = f" · {format_cents(payment.refunded_cents)} refunded" if payment.refunded_cents else ""
        head = f":moneybag: {who(payment)}: {base}{refunded} · *{format_cents(payment.left_cents)} stands*"
        text = (f"{format_cents(payment.left_cents)} stands of {format_cents(payment.amount_cents)} "
                f"from {payment.patron}")
    blocks: list = [section(head), context(f"`{payment.payment_id}` · last change `{record.payment_id}`")]
    if payment.left_cents > 0:
        blocks.append(_void_button(payment))
    return fallback(text), [b.to_dict() for b in blocks]


def void_refund_question(payment: Payment, where: tuple[str, str] | None) -> tuple[str, list[dict]]:
    """Asked of an admin voiding a Stripe payment: refund what stands of it in Stripe too, or void it here only.
    The buttons carry the payment and where its line is (``where``: channel, ts) for the strike-through."""
    left = format_cents(payment.left_cents)
    value = "|".join((payment.payment_id, *(where or ())))
    question = (f"`{payment.payment_id}` was paid through Stripe: {left} from {name(payment.patron, RECORD_NAME)}. "
                f"Refund {left} to the patron's card in Stripe too, or void it here only (the money stays in "
                "Stripe)?")
    confirm_head = f"Stripe refunds {left} to "
    confirm_tail = "'s card, and the payment is voided here. This cannot be undone."
    blocks = [
        section(question),
        ActionsBlock(elements=[
            ButtonElement(text=f"Void and refund {left}", action_id=VOID_REFUND_ACTION, value=value, style="danger",
                          confirm=ConfirmObject(
                              title="Refund in Stripe?", confirm="Refund", deny="Back",
                              text=confirm_head + name(payment.patron, CONFIRM_TEXT - escaped_length(
                                  confirm_head + confirm_tail)) + confirm_tail)),
            ButtonElement(text="Void here only", action_id=VOID_ONLY_ACTION, value=value),
        ]),
    ]
    return fallback(f"Refund {left} in Stripe too, or void it here only?"), [b.to_dict() for b in blocks]


def refund_audit(record: Payment, status: EventStatus) -> tuple[str, list[dict]]:
    """The new audit line for a Stripe refund (negative), or for a failed refund's money put back (positive)."""
    amount = format_cents(abs(record.amount_cents))
    if record.amount_cents > 0:
        head = (f":warning: A Stripe refund of *{amount}* to *{name(record.patron, RECORD_NAME)}* failed: the money "
                f"is back and counts again for *{name(status.event.title, RECORD_NAME)}* (`{record.voids}`)")
        text = f"Refund failed, {amount} back from {record.patron} for {status.event.title}"
    else:
        head = (f":leftwards_arrow_with_hook: Stripe refunded *{amount}* to *{name(record.patron, RECORD_NAME)}* "
                f"for *{name(status.event.title, RECORD_NAME)}* (`{record.voids}`)")
        text = f"Refund of {amount} to {record.patron} for {status.event.title}"
    blocks = [section(f"{head}\n{standing(status)}"),
              context(f"`{record.payment_id}` · Stripe `{name(record.stripe_id or '', 100)}`")]
    return fallback(text), [b.to_dict() for b in blocks]


def email_failed_audit(recipients: list[str], subject: str, reason: str) -> tuple[str, list[dict]]:
    """An email copy that could not be sent: ``email to … failed: …``, and that the record itself is safe."""
    to = ", ".join(recipients)
    reason = shorten(reason, 500)
    line = (f":warning: Email to {name(to, 1000)} failed: {escape(reason)}\n"
            f"It was “{name(subject, 500)}”. The record itself is kept; only the email copy is missing.")
    return fallback(f"Email to {to} failed: {reason}"), [section(line).to_dict()]
