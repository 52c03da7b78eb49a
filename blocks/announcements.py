"""What each outbox entry says (bot/outbox.py): the domain event's facts in, the
Slack message or the email out. Pure builders: the deliverer calls them when it
sends an entry, so a message is always built from what the entry holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from blocks.audit import email_failed_audit, payment_audit, void_audit, voided_payment_audit, who
from blocks.deploy import deploy_audit
from blocks.email import payment_email, void_email
from blocks.mrkdwn import escape, shorten
from blocks.paylinks import paylink_audit, paylink_message, unassigned_audit
from blocks.receipts import payment_receipt
from bot.deploy_plan import DeployRun, LocalFile, Plan
from bot.domain import Site
from bot.ledger import LedgerResult
from bot.money import format_cents
from bot.outbox import (
    DEPLOY_FINISHED,
    EMAIL_FAILED,
    LINK_CREATED,
    PAYMENT_RECORDED,
    PAYMENT_VOIDED,
    REFUSED,
    STRIPE_UNASSIGNED,
    OutboxEntry,
    payment_from_facts,
    status_from_facts,
)
from bot.paylinks import Paylink
from bot.ports import OutgoingEmail

Message = tuple[str, list[dict]]  # (notification text, blocks)

SECTION_TEXT_MAX = 3000  # Slack's limit for a section's text
MESSAGE_BLOCKS_MAX = 50  # Slack's limit for a message's blocks
_DIGEST_LINE_MAX = 400  # one record's line in a digest, cut past this


def _ledger_result(facts: dict[str, Any]) -> LedgerResult:
    return LedgerResult(payment_from_facts(facts["payment"]), status_from_facts(facts))


# -- one line per entry ---------------------------------------------------------------------------------


def refusal_audit(facts: dict[str, Any]) -> Message:
    """A refused request: one line of text (no blocks)."""
    user = facts.get("user_id")
    whom = f"<@{user}>" if user else "Someone"
    return (f":no_entry: {whom} was refused `{escape(facts['entry_point'])}`: it needs the "
            f"{facts['needed']} role."), []


def deploy_run(deploy: dict[str, Any]) -> DeployRun:
    """The finished deploy as the deploy messages read it, from the facts kept in its announcement.
    The plan's lists are only counted by the audit line, so each holds that many placeholders."""
    site = Site(id=deploy["site"], bucket=deploy.get("bucket", ""), distribution_id=deploy.get("distribution_id", ""),
                source=Path("."), url=deploy.get("url", ""))
    placeholder = LocalFile(rel="", path=Path("."), size=0, md5="", content_type="", cache_control="")
    plan = Plan(site=site, target=deploy["target"], uploads=(placeholder,) * int(deploy.get("planned_uploads", 0)),
                copies=("",) * int(deploy.get("planned_copies", 0)),
                deletes=("",) * int(deploy.get("planned_deletes", 0)), unchanged=int(deploy.get("unchanged", 0)),
                paths=("",) * int(deploy.get("invalidated_paths", 0)))
    return DeployRun(deploy_id=deploy["deploy_id"], site=site, target=deploy["target"], by=deploy["by"],
                     started_at=datetime.fromisoformat(deploy["at"]), requested_by=deploy.get("requested_by"),
                     phase=deploy.get("phase", "done"), plan=plan, uploaded=int(deploy.get("uploaded", 0)),
                     copied=int(deploy.get("copied", 0)), deleted=int(deploy.get("deleted", 0)),
                     invalidation_id=deploy.get("invalidation_id"), failed_step=deploy.get("failed_step"),
                     error=deploy.get("error"), duration=deploy.get("duration_s"))


def audit_line(entry: OutboxEntry) -> Message:
    """The entry's own line in the ops channel."""
    facts = entry.facts
    if entry.event == PAYMENT_RECORDED:
        result = _ledger_result(facts)
        overpaid = result.status.balance_cents < 0 and result.payment.method == "stripe"
        return payment_audit(result.payment, result.status, overpaid_note=overpaid)
    if entry.event == PAYMENT_VOIDED:
        result = _ledger_result(facts)
        return void_audit(result.payment, result.status)
    if entry.event == REFUSED:
        return refusal_audit(facts)
    if entry.event == LINK_CREATED:
        return paylink_audit(_paylink(facts["link"]))
    if entry.event == STRIPE_UNASSIGNED:
        return unassigned_audit(facts["session"])
    if entry.event == DEPLOY_FINISHED:
        return deploy_audit(deploy_run(facts["deploy"]))
    if entry.event == EMAIL_FAILED:
        return email_failed_audit(list(facts["to"]), facts["subject"], facts["reason"])
    raise ValueError(f"no audit line for {entry.event}")


def struck_line(entry: OutboxEntry) -> Message:
    """A voided payment's audit line once voided: struck through, no button (the UPDATE of a void)."""
    facts = entry.facts
    void = payment_from_facts(facts["payment"])
    return voided_payment_audit(payment_from_facts(facts["original"]), status_from_facts(facts), void)


def receipt(entry: OutboxEntry) -> str:
    """What the person who submitted the payment form is told."""
    return payment_receipt(_ledger_result(entry.facts))


def reply(entry: OutboxEntry) -> Message:
    """A message posted through the request's response_url: the payment link, in the channel it was asked in."""
    return paylink_message(_paylink(entry.facts["link"]))


def email(entry: OutboxEntry, tz: tzinfo) -> OutgoingEmail:
    result = _ledger_result(entry.facts)
    if entry.event == PAYMENT_VOIDED:
        return void_email(result.payment, result.status, tz)
    return payment_email(result.payment, result.status, tz)


def _paylink(link: dict[str, Any]) -> Paylink:
    return Paylink.from_record(link)


# -- the digest: many lines folded into one message ----------------------------------------------------------


def digest_line(entry: OutboxEntry) -> str:
    """One record's line in a digest: what happened, who, and the record's id."""
    facts = entry.facts
    if entry.event in (PAYMENT_RECORDED, PAYMENT_VOIDED):
        p = payment_from_facts(facts["payment"])
        title = escape(facts["event"]["title"])
        if p.is_void:
            line = (f":leftwards_arrow_with_hook: `{p.payment_id}` {who(p)} voided {format_cents(-p.amount_cents)} "
                    f"({p.method}) from {escape(p.patron)} for {title} (`{p.voids}`)")
        else:
            line = (f":moneybag: `{p.payment_id}` {format_cents(p.amount_cents)} ({p.method}) from {escape(p.patron)} "
                    f"for {title} · {who(p)}")
    elif entry.event == REFUSED:
        line = f":no_entry: <@{facts['user_id']}> was refused `{escape(facts['entry_point'])}` ({facts['needed']})"
    else:
        text, _ = audit_line(entry)
        line = f"`{entry.record_id}` {text}"
    return shorten(line, _DIGEST_LINE_MAX)


def digest(entries: Sequence[OutboxEntry], *, waiting: int) -> tuple[Message, int]:
    """One message for the first of ``entries`` that fit in Slack's limits (50 blocks, 3,000
    characters a section); returns it and how many it holds. ``waiting`` is how many lines
    were waiting in all, said in the message."""
    head = (f":fast_forward: *{{count}} changes in one message*: Slack takes about one message a second in a "
            f"channel, and {waiting} were waiting. Each is named below once; a payment here has no Void "
            f"button of its own: `/opsbot void PAYMENT_ID` voids it.")
    room = MESSAGE_BLOCKS_MAX - 2  # the head and the closing line
    sections: list[str] = []
    current: list[str] = []
    size = count = 0
    for entry in entries:
        line = digest_line(entry)
        if current and size + len(line) + 1 > SECTION_TEXT_MAX:
            if len(sections) + 1 == room:
                break  # this section is the last one a message can hold
            sections.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
        count += 1
    if current:
        sections.append("\n".join(current))
    kinds: dict[str, int] = {}
    for entry in entries[:count]:
        kinds[entry.event] = kinds.get(entry.event, 0) + 1
    blocks = [SectionBlock(text=MarkdownTextObject(text=head.format(count=count))).to_dict()]
    blocks += [SectionBlock(text=MarkdownTextObject(text=s)).to_dict() for s in sections]
    more = waiting - count
    closing = f"{more} more follow in the next message." if more > 0 else "That is all that was waiting."
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=closing)]).to_dict())
    summary = ", ".join(f"{n} {_KIND_WORDS.get(kind, kind)}" for kind, n in kinds.items())
    return (f"{count} changes in one message: {summary}", blocks), count


_KIND_WORDS = {PAYMENT_RECORDED: "payments", PAYMENT_VOIDED: "voids", REFUSED: "refusals",
               LINK_CREATED: "payment links", STRIPE_UNASSIGNED: "unassigned Stripe payments",
               DEPLOY_FINISHED: "deploys", EMAIL_FAILED: "failed emails"}
