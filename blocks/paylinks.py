"""What /paylink and Stripe payments say in Slack. Pure builders, held to Slack's
limits with blocks/fit.py whatever a description, a Stripe customer's name or an error holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from blocks.fit import RECORD_NAME, SECTION_TEXT, context, fallback, joined, name, plural, section
from blocks.mrkdwn import escape
from blocks.refunds import kept_reason
from bot.core.money import format_cents

if TYPE_CHECKING:
    from bot.core.paylinks import Paylink, PaylinkPlan, PaylinkStatus
    from bot.core.ports import PaymentsError

MAX_LINKS_SHOWN = 10
_REASON_SHOWN = 500  # of an error from Stripe


def _link(url: str, label: str, limit: int = RECORD_NAME) -> str:
    # In <url|label> the label ends at ">": escaping keeps user text inside it.
    return f"<{escape(url)}|{name(label, limit)}>"


def _for_event(event_title: str | None, event_id: str | None) -> str:
    if event_id is None:
        return "Not tied to an event."
    return f"For *{name(event_title or event_id, RECORD_NAME)}* (`{event_id}`)"


def _summary(link: Paylink) -> str:
    """Plain text: ``$1,560.00 for JADA Charter — Charter deposit`` (the parts given)."""
    text = format_cents(link.amount_cents)
    if link.event_id:
        text += f" for {link.event_title or link.event_id}"
    if link.description:
        text += f" — {link.description}"
    return text


def input_error_text(problem: str, usage: str) -> str:
    return f"{name(problem, _REASON_SHOWN)}\n{usage}"


def making_text(plan: PaylinkPlan) -> str:
    return f"Making the payment link for {format_cents(plan.amount_cents)}… it will be posted in this channel."


def dry_run_text(plan: PaylinkPlan) -> str:
    """Exactly what /paylink would create, labelled as a dry run."""
    metadata = ", ".join(f"`{name(k)}={name(v)}`" for k, v in plan.metadata.items())
    where = f" for {name(plan.event.title, RECORD_NAME)}" if plan.event else ""
    return (
        f"*Dry run:* STRIPE_API_KEY is not set, so nothing was created in Stripe. "
        f"With it, this payment link{where} would be made:\n"
        f"• product “{name(plan.product_name, RECORD_NAME)}”, metadata {metadata}\n"
        f"• price {format_cents(plan.amount_cents)} USD, one time (`unit_amount={plan.amount_cents}`, "
        f"`currency=usd`)\n"
        f"• payment link for 1 × that price, metadata {metadata}\n"
        f"and the link would be posted in this channel."
    )


def failure_text(error: PaymentsError) -> str:
    return (f":warning: The payment link was not made: Stripe could not create the {error.step} "
            f"({name(error.reason, _REASON_SHOWN)}). Nothing was charged. Try `/paylink` again in a minute.")


def not_saved_text() -> str:
    return (":warning: The payment link could not be saved (the bot's store did not answer), so it was not posted. "
            "Nothing was charged. Try `/paylink` again in a minute.")


def paylink_message(link: Paylink) -> tuple[str, list[dict]]:
    """The link, posted in the channel where /paylink was typed."""
    lines = [f":link: *Payment link: {format_cents(link.amount_cents)}*"]
    if link.description:
        lines.append(name(link.description, RECORD_NAME))
    lines.append(_for_event(link.event_title, link.event_id))
    lines.append(_link(link.url, link.url))
    blocks = [section("\n".join(lines)), context(f"Made by <@{link.created_by}> · `{link.link_id}`")]
    text = f"Payment link: {_summary(link)}: {link.url}"
    return fallback(text), [b.to_dict() for b in blocks]


def paylink_audit(link: Paylink) -> tuple[str, list[dict]]:
    """The audit line for a new payment link."""
    what = f"*{format_cents(link.amount_cents)}*"
    if link.event_id:
        what += f" for *{name(link.event_title or link.event_id, RECORD_NAME)}*"
    if link.description:
        what += f" — {name(link.description, RECORD_NAME)}"
    head = f":link: <@{link.created_by}> made a payment link: {what}\n{_link(link.url, link.url)}"
    blocks = [section(head), context(f"`{link.link_id}` · product `{link.product_id}` · price `{link.price_id}`")]
    text = f"Payment link made: {_summary(link)}"
    return fallback(text), [b.to_dict() for b in blocks]


def unassigned_audit(kept: Mapping[str, Any]) -> tuple[str, list[dict]]:
    """The audit line for a paid Checkout Session that is not tied to a known event."""
    session_id = str(kept["session_id"])
    head = (f":grey_question: Stripe payment received, not tied to an event: "
            f"*{format_cents(kept['amount_cents'])}* from *{name(str(kept['patron']), RECORD_NAME)}*")
    if kept.get("reason"):
        head += f"\n{name(str(kept['reason']), _REASON_SHOWN)}"
    head += f"\nAn admin can record it on an event: `/opsbot assign {name(session_id, 300)} EVENT_ID`"
    blocks = [section(head), context(f"`{name(session_id, 300)}`")]
    text = (f"Stripe payment received, not tied to an event: {format_cents(kept['amount_cents'])} "
            f"from {kept['patron']}")
    return fallback(text), [b.to_dict() for b in blocks]


def refund_kept_audit(kept: Mapping[str, Any]) -> tuple[str, list[dict]]:
    """The audit line for a Stripe refund opsbot cannot take from a payment of its own: kept aside, never guessed."""
    amount = format_cents(int(kept["amount_cents"]))
    head = (f":grey_question: Stripe refunded *{amount}*, and opsbot has no payment to take it from: kept aside, "
            "nothing changed in the ledger.")
    reason = kept_reason(kept)
    if reason:
        head += f"\n{name(reason, _REASON_SHOWN)}"
    head += "\nIf it belongs to an event, an admin can log it there as they see fit; `/opsbot assign` lists it."
    intent = f" · PaymentIntent `{name(str(kept['payment_intent']), 100)}`" if kept.get("payment_intent") else ""
    blocks = [section(head), context(f"Stripe `{name(str(kept['refund_id']), 100)}`{intent}")]
    return fallback(f"Stripe refund of {amount} kept aside: no payment in opsbot to take it from"), \
        [b.to_dict() for b in blocks]


_NOTES = {
    "voided": "was refunded in Stripe after it was voided here: the void already took it out, so nothing changed.",
    "void_refund_failed": ("was voided here with a refund in Stripe, and that refund has failed: the money is back "
                           "in Stripe while the payment stays voided. Log it again if the patron keeps it."),
    "refund_failed_after_void": ("had a refund that failed after the payment was voided here: the money is back in "
                                 "Stripe while the payment stays voided. Log it again if the patron keeps it."),
}


def refund_note_audit(note: Mapping[str, Any]) -> tuple[str, list[dict]]:
    """A Stripe refund that changes nothing in the ledger, said once: why (``situation``)."""
    amount = format_cents(int(note["amount_cents"]))
    said = _NOTES.get(str(note["situation"]), "changes nothing in the ledger.")
    head = f":information_source: Stripe refund of *{amount}*: `{name(str(note['payment_id']), 100)}` {said}"
    blocks = [section(head), context(f"Stripe `{name(str(note['refund_id']), 100)}`")]
    return fallback(f"Stripe refund of {amount}: {said}"), [b.to_dict() for b in blocks]


def _paid_mark(status: PaylinkStatus) -> str:
    if not status.paid:
        return "not paid yet"
    if status.paid_count == 1:
        return f":white_check_mark: paid ({format_cents(status.paid_cents)})"
    return f":white_check_mark: paid {status.paid_count}× ({format_cents(status.paid_cents)})"


def paylink_lines(statuses: Sequence[PaylinkStatus]) -> str:
    """The event's payment links for /events EVENT, newest first, within one section's text limit."""
    head = "*Payment links*"
    lines = []
    for status in statuses[:MAX_LINKS_SHOWN]:
        link = status.link
        label = format_cents(link.amount_cents) + (f" · {link.description}" if link.description else "")
        lines.append(f"{_link(link.url, label, 70)} · {date.fromisoformat(link.day):%b %-d} by "
                     f"<@{link.created_by}> · {_paid_mark(status)}")
    body = joined(lines, SECTION_TEXT - len(head) - 1, more=lambda n: f"…and {plural(n, 'older link')}.",
                  left_out=max(len(statuses) - MAX_LINKS_SHOWN, 0))
    return f"{head}\n{body}"
