"""What each outbox entry says (bot/core/outbox.py): the domain event's facts in, the
Slack message or the email out. Pure builders: the deliverer calls them when it
sends an entry, so a message is always built from what the entry holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from blocks.audit import (
    email_failed_audit,
    payment_audit,
    refund_audit,
    refunded_payment_audit,
    void_audit,
    voided_payment_audit,
    who,
)
from blocks.deploy import deploy_audit
from blocks.email import payment_email, refund_email, void_email
from blocks.fit import FALLBACK_TEXT, MESSAGE_BLOCKS, chunked, clip, context, fallback, name, section
from blocks.mrkdwn import escape
from blocks.paylinks import paylink_audit, paylink_message, refund_kept_audit, refund_note_audit, unassigned_audit
from blocks.receipts import payment_receipt
from bot.core.deploy_plan import DeployRun, LocalFile, Plan
from bot.core.domain import Site
from bot.core.ledger import LedgerResult
from bot.core.money import format_cents
from bot.core.outbox import (
    DEPLOY_FINISHED,
    EMAIL_FAILED,
    LINK_CREATED,
    PAYMENT_RECORDED,
    PAYMENT_REFUNDED,
    PAYMENT_VOIDED,
    REFUSED,
    STRIPE_REFUND_KEPT,
    STRIPE_REFUND_NOTE,
    STRIPE_UNASSIGNED,
    OutboxEntry,
    payment_from_facts,
    status_from_facts,
)
from bot.core.paylinks import Paylink
from bot.core.ports import Message, OutgoingEmail

_DIGEST_LINE_MAX = 400  # one record's line in a digest, cut past this


def _ledger_result(facts: dict[str, Any]) -> LedgerResult:
    return LedgerResult(payment_from_facts(facts["payment"]), status_from_facts(facts))


# -- one line per entry ---------------------------------------------------------------------------------


def refusal_audit(facts: dict[str, Any]) -> Message:
    """A refused request: one line of text (no blocks)."""
    user = facts.get("user_id")
    whom = f"<@{user}>" if user else "Someone"
    entry = escape(facts["entry_point"])
    if facts.get("outsider_team") is not None:
        return (f":no_entry: {whom}, of another organisation (team `{escape(facts['outsider_team'])}`, through a "
                f"shared channel), was refused `{entry}`: only this workspace's crew may use opsbot."), []
    return f":no_entry: {whom} was refused `{entry}`: it needs the {facts['needed']} role.", []


def deploy_run(deploy: dict[str, Any]) -> DeployRun:
    """The finished deploy as the deploy messages read it, from the facts kept in its announcement.
    The plan's lists are only counted by the audit line, so each holds that many placeholders."""
    site = Site(id=deploy["site"], bucket=deploy.get("bucket", ""), distribution_id=deploy.get("distribution_id", ""),
                source=Path("."), url=deploy.get("url", ""), prefix=deploy.get("prefix") or "")
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
                     error=deploy.get("reason") or deploy.get("error"), duration=deploy.get("duration_s"))


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
    if entry.event == PAYMENT_REFUNDED:
        result = _ledger_result(facts)
        return refund_audit(result.payment, result.status)
    if entry.event == STRIPE_REFUND_KEPT:
        return refund_kept_audit(facts["refund"])
    if entry.event == STRIPE_REFUND_NOTE:
        return refund_note_audit(facts["note"])
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
    """A payment's audit line once voided (struck through, no button: the UPDATE of a void) or refunded
    (what was refunded and what stands: the UPDATE of a refund)."""
    facts = entry.facts
    record = payment_from_facts(facts["payment"])
    original = payment_from_facts(facts["original"])
    if entry.event == PAYMENT_REFUNDED:
        return refunded_payment_audit(original, status_from_facts(facts), record)
    return voided_payment_audit(original, status_from_facts(facts), record)


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
    if entry.event == PAYMENT_REFUNDED:
        return refund_email(result.payment, result.status, tz)
    return payment_email(result.payment, result.status, tz)


def _paylink(link: dict[str, Any]) -> Paylink:
    return Paylink.from_record(link)


def plain_lines(entries: Sequence[OutboxEntry]) -> str:
    """What is said when a line cannot be drawn (or Slack refuses it): each record named, no blocks."""
    ids = ", ".join(f"`{escape(e.record_id)}`" for e in entries)
    verb = "was" if len(entries) == 1 else "were"
    return clip(f"{ids} {verb} recorded; {'its audit line' if len(entries) == 1 else 'their audit lines'} could "
                "not be drawn (see the bot's log).", FALLBACK_TEXT)


# -- the digest: many lines folded into one message ----------------------------------------------------------


def digest_line(entry: OutboxEntry) -> str:
    """One record's line in a digest (one line of mrkdwn): what happened, who, and the record's id."""
    facts = entry.facts
    if entry.event in (PAYMENT_RECORDED, PAYMENT_VOIDED):
        p = payment_from_facts(facts["payment"])
        title = name(facts["event"]["title"])
        if p.is_void:
            line = (f":leftwards_arrow_with_hook: `{p.payment_id}` {who(p)} voided {format_cents(-p.amount_cents)} "
                    f"({p.method}) from {name(p.patron)} for {title} (`{p.voids}`)")
        else:
            line = (f":moneybag: `{p.payment_id}` {format_cents(p.amount_cents)} ({p.method}) from {name(p.patron)} "
                    f"for {title} · {who(p)}")
    elif entry.event == REFUSED:
        text, _ = refusal_audit(facts)
        line = text
    else:
        text, _ = audit_line(entry)  # its notification text: one line, escaped
        line = f"`{escape(entry.record_id)}` {text}"
    return clip(" ".join(line.split("\n")), _DIGEST_LINE_MAX)


def digest(entries: Sequence[OutboxEntry], *, waiting: int) -> tuple[Message, int]:
    """One message for the first of ``entries`` that fit in Slack's limits (50 blocks, 3,000
    characters a section); returns it and how many it holds. ``waiting`` is how many lines
    were waiting in all, said in the message."""
    room = MESSAGE_BLOCKS - 2  # the head and the closing line
    sections = chunked([digest_line(e) for e in entries])[:room]
    count = sum(text.count("\n") + 1 for text in sections)
    head = (f":fast_forward: *{count} changes in one message*: Slack takes about one message a second in a "
            f"channel, and {waiting} were waiting. Each is named below once; a payment here has no Void "
            "button of its own: `/opsbot void PAYMENT_ID` voids it.")
    more = waiting - count
    closing = f"{more} more follow in the next message." if more > 0 else "That is all that was waiting."
    blocks = [section(head).to_dict(), *(section(text).to_dict() for text in sections), context(closing).to_dict()]
    kinds: dict[str, int] = {}
    for entry in entries[:count]:
        kinds[entry.event] = kinds.get(entry.event, 0) + 1
    summary = ", ".join(f"{n} {_KIND_WORDS.get(kind, kind)}" for kind, n in kinds.items())
    return (fallback(f"{count} changes in one message: {summary}"), blocks), count


_KIND_WORDS = {PAYMENT_RECORDED: "payments", PAYMENT_VOIDED: "voids", REFUSED: "refusals",
               LINK_CREATED: "payment links", STRIPE_UNASSIGNED: "unassigned Stripe payments",
               DEPLOY_FINISHED: "deploys", EMAIL_FAILED: "failed emails", PAYMENT_REFUNDED: "refunds",
               STRIPE_REFUND_KEPT: "unmatched Stripe refunds", STRIPE_REFUND_NOTE: "Stripe refund notes"}
