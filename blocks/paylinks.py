"""What /paylink and Stripe payments say in Slack. Pure builders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from blocks.mrkdwn import escape, shorten
from bot.money import format_cents

if TYPE_CHECKING:
    from bot.paylinks import Paylink, PaylinkPlan, PaylinkStatus
    from bot.ports import PaymentsError

MAX_LINKS_SHOWN = 10
SECTION_TEXT_ROOM = 2950  # of the 3000 characters Slack allows: room for the closing line


def _link(url: str, label: str) -> str:
    # In <url|label> the label ends at ">": escaping keeps user text inside it.
    return f"<{escape(url)}|{escape(label)}>"


def _for_event(event_title: str | None, event_id: str | None) -> str:
    if event_id is None:
        return "Not tied to an event."
    return f"For *{escape(event_title or event_id)}* (`{event_id}`)"


def _summary(link: Paylink) -> str:
    """Plain text: ``$1,560.00 for JADA Charter — Charter deposit`` (the parts given)."""
    text = format_cents(link.amount_cents)
    if link.event_id:
        text += f" for {link.event_title or link.event_id}"
    if link.description:
        text += f" — {link.description}"
    return text


def input_error_text(problem: str, usage: str) -> str:
    return f"{escape(problem)}\n{usage}"


def making_text(plan: PaylinkPlan) -> str:
    return f"Making the payment link for {format_cents(plan.amount_cents)}… it will be posted in this channel."


def dry_run_text(plan: PaylinkPlan) -> str:
    """Exactly what /paylink would create, labelled as a dry run."""
    metadata = ", ".join(f"`{escape(k)}={escape(v)}`" for k, v in plan.metadata.items())
    where = f" for {escape(plan.event.title)}" if plan.event else ""
    return (
        f"*Dry run:* STRIPE_API_KEY is not set, so nothing was created in Stripe. "
        f"With it, this payment link{where} would be made:\n"
        f"• product “{escape(plan.product_name)}”, metadata {metadata}\n"
        f"• price {format_cents(plan.amount_cents)} USD, one time (`unit_amount={plan.amount_cents}`, "
        f"`currency=usd`)\n"
        f"• payment link for 1 × that price, metadata {metadata}\n"
        f"and the link would be posted in this channel."
    )


def failure_text(error: PaymentsError) -> str:
    return (f":warning: The payment link was not made: Stripe could not create the {error.step} "
            f"({escape(error.reason)}). Nothing was charged. Try `/paylink` again in a minute.")


def not_saved_text() -> str:
    return (":warning: The payment link could not be saved (the bot's store did not answer), so it was not posted. "
            "Nothing was charged. Try `/paylink` again in a minute.")


def paylink_message(link: Paylink) -> tuple[str, list[dict]]:
    """The link, posted in the channel where /paylink was typed."""
    lines = [f":link: *Payment link: {format_cents(link.amount_cents)}*"]
    if link.description:
        lines.append(escape(link.description))
    lines.append(_for_event(link.event_title, link.event_id))
    lines.append(_link(link.url, link.url))
    blocks = [
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))),
        ContextBlock(elements=[MarkdownTextObject(text=f"Made by <@{link.created_by}> · `{link.link_id}`")]),
    ]
    text = f"Payment link: {_summary(link)}: {link.url}"
    return escape(text), [b.to_dict() for b in blocks]


def paylink_audit(link: Paylink) -> tuple[str, list[dict]]:
    """The audit line for a new payment link."""
    what = f"*{format_cents(link.amount_cents)}*"
    if link.event_id:
        what += f" for *{escape(link.event_title or link.event_id)}*"
    if link.description:
        what += f" — {escape(link.description)}"
    head = f":link: <@{link.created_by}> made a payment link: {what}\n{_link(link.url, link.url)}"
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=head)),
        ContextBlock(elements=[MarkdownTextObject(
            text=f"`{link.link_id}` · product `{link.product_id}` · price `{link.price_id}`")]),
    ]
    text = f"Payment link made: {_summary(link)}"
    return escape(text), [b.to_dict() for b in blocks]


def unassigned_audit(kept: Mapping[str, Any]) -> tuple[str, list[dict]]:
    """The audit line for a paid Checkout Session that is not tied to a known event."""
    session_id = kept["session_id"]
    head = (f":grey_question: Stripe payment received, not tied to an event: "
            f"*{format_cents(kept['amount_cents'])}* from *{escape(kept['patron'])}*")
    if kept.get("reason"):
        head += f"\n{escape(kept['reason'])}"
    head += f"\nAn admin can record it on an event: `/opsbot assign {escape(session_id)} EVENT_ID`"
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=head)),
        ContextBlock(elements=[MarkdownTextObject(text=f"`{escape(session_id)}`")]),
    ]
    text = (f"Stripe payment received, not tied to an event: {format_cents(kept['amount_cents'])} "
            f"from {kept['patron']}")
    return escape(text), [b.to_dict() for b in blocks]


def _paid_mark(status: PaylinkStatus) -> str:
    if not status.paid:
        return "not paid yet"
    if status.paid_count == 1:
        return f":white_check_mark: paid ({format_cents(status.paid_cents)})"
    return f":white_check_mark: paid {status.paid_count}× ({format_cents(status.paid_cents)})"


def paylink_lines(statuses: Sequence[PaylinkStatus]) -> str:
    """The event's payment links for /events EVENT, newest first, within one section's text limit."""
    lines = ["*Payment links*"]
    size = len(lines[0])
    shown = 0
    for status in statuses[:MAX_LINKS_SHOWN]:
        link = status.link
        label = format_cents(link.amount_cents) + (f" · {shorten(link.description, 60)}" if link.description else "")
        line = (f"{_link(link.url, label)} · {date.fromisoformat(link.day):%b %-d} by <@{link.created_by}> · "
                f"{_paid_mark(status)}")
        if size + len(line) + 1 > SECTION_TEXT_ROOM:
            break
        lines.append(line)
        size += len(line) + 1
        shown += 1
    hidden = len(statuses) - shown
    if hidden > 0:
        lines.append(f"…and {hidden} older link{'s' if hidden != 1 else ''}.")
    return "\n".join(lines)
