"""What the person who logged or voided a payment is told. Pure builders (mrkdwn
text; names shortened where shown, blocks/fit.py)."""

from __future__ import annotations

from blocks.fit import RECORD_NAME, name
from bot.core.ledger import LedgerResult
from bot.core.money import format_cents


def payment_receipt(result: LedgerResult) -> str:
    p, s = result.payment, result.status
    title = name(s.event.title, RECORD_NAME)
    line = (f"Recorded: {format_cents(p.amount_cents)} ({name(p.method)}) from {name(p.patron, RECORD_NAME)} for "
            f"{title} (`{p.payment_id}`). ")
    if s.balance_cents <= 0:
        return line + f"{title} is paid in full: {format_cents(s.paid_cents)}. :white_check_mark:"
    return line + f"Balance now {format_cents(s.balance_cents)} of {format_cents(s.total_cents)}."


def void_receipt(result: LedgerResult) -> str:
    v, s = result.payment, result.status
    if result.replayed:
        return f"`{v.voids}` was already voided (`{v.payment_id}`); nothing changed."
    refunded = (f" Stripe is refunding it to the patron's card (`{name(v.stripe_id, 100)}`)."
                if v.stripe_id else "")
    return (f"Voided `{v.voids}`: {format_cents(-v.amount_cents)} from {name(v.patron, RECORD_NAME)}. "
            f"{name(s.event.title, RECORD_NAME)} balance now {format_cents(max(s.balance_cents, 0))} of "
            f"{format_cents(s.total_cents)}.{refunded}")
