"""What the person who logged or voided a payment is told. Pure builders."""

from __future__ import annotations

from blocks.mrkdwn import escape
from bot.ledger import LedgerResult
from bot.money import format_cents


def payment_receipt(result: LedgerResult) -> str:
    p, s = result.payment, result.status
    line = (f"Recorded: {format_cents(p.amount_cents)} ({p.method}) from {escape(p.patron)} for "
            f"{escape(s.event.title)} (`{p.payment_id}`). ")
    if s.balance_cents <= 0:
        return line + f"{escape(s.event.title)} is paid in full: {format_cents(s.paid_cents)}. :white_check_mark:"
    return line + f"Balance now {format_cents(s.balance_cents)} of {format_cents(s.total_cents)}."


def void_receipt(result: LedgerResult) -> str:
    v, s = result.payment, result.status
    if result.replayed:
        return f"`{v.voids}` was already voided (`{v.payment_id}`); nothing changed."
    return (f"Voided `{v.voids}`: {format_cents(-v.amount_cents)} from {escape(v.patron)}. "
            f"{escape(s.event.title)} balance now {format_cents(max(s.balance_cents, 0))} of "
            f"{format_cents(s.total_cents)}.")
