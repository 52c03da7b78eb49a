"""The outbox: what must be announced about a change, written with the change.

Every change that the crew hears about (a payment, a void, a Stripe payment, a
refusal, a payment link, a deploy) is a domain event. The service that makes
the change writes, in the same store transaction as the record itself, one
outbox entry per announcement of that event: the audit line in the ops
channel, the email copy, the receipt for whoever did it, the update of an
earlier message. If the record exists, its announcements exist.

An entry holds the event's facts (the record, the event's title and totals
after the write, who, where), never pre-built Slack blocks: the deliverer
(bot/core/deliverer.py) renders each one with blocks/ when it sends it, and never
reads the ledger again.

Entry ids are ``<record id>:<target>``, so a record is announced once per
target however often its write is retried."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bot.core.domain import AuditEntry, Event, EventStatus, Payment, RecordOutcome

# -- what an entry announces (the domain event) ------------------------------------------------------
PAYMENT_RECORDED = "payment.recorded"  # logged in Slack, through the web API, or paid with Stripe
PAYMENT_VOIDED = "payment.voided"
PAYMENT_REFUNDED = "payment.refunded"  # a Stripe refund recorded against its payment, or a failed one put back
STRIPE_REFUND_KEPT = "stripe.refund_kept"  # a Stripe refund of no payment the ledger can take it from: kept aside
STRIPE_REFUND_NOTE = "stripe.refund_note"  # a Stripe refund that changes nothing in the ledger, said once
REFUSED = "refused"  # someone asked for what their role does not allow
LINK_CREATED = "link.created"  # a Stripe payment link
STRIPE_UNASSIGNED = "stripe.unassigned"  # a paid Checkout Session with no known event
DEPLOY_FINISHED = "deploy.finished"
EMAIL_FAILED = "email.failed"  # an email copy that could not be sent (said in the ops channel)

# -- where it goes (the target) ------------------------------------------------------------------------
AUDIT = "audit"  # a line in the ops channel (chat.postMessage)
UPDATE = "update"  # an earlier line changed (chat.update): a voided payment's line struck, a refunded one marked
RECEIPT = "receipt"  # for the person who did it: ephemeral in their channel, else a direct message
REPLY = "reply"  # a message through the request's response_url (a payment link, in the channel it was asked in)
EMAIL = "email"  # the email copy for admins (SES)

# Targets are delivered in lanes, each drained on its own: Slack's calls never wait behind an email.
SLACK_LANE = "slack"
EMAIL_LANE = "email"
LANES = (SLACK_LANE, EMAIL_LANE)
LANE_OF = {AUDIT: SLACK_LANE, UPDATE: SLACK_LANE, RECEIPT: SLACK_LANE, REPLY: SLACK_LANE, EMAIL: EMAIL_LANE}

# -- states --------------------------------------------------------------------------------------------
PENDING = "pending"  # waiting for its due time
HELD = "held"  # claimed by a deliverer until its lease runs out
DELIVERED = "delivered"
PARKED = "parked"  # kept failing for a day (or may have gone out already): an admin looks at it


TARGET_WORDS = {AUDIT: "audit line", UPDATE: "strike-through of the voided line", RECEIPT: "receipt",
                REPLY: "message", EMAIL: "email copy"}
EVENT_WORDS = {PAYMENT_RECORDED: "payment", PAYMENT_VOIDED: "void", REFUSED: "refusal", LINK_CREATED: "payment link",
               STRIPE_UNASSIGNED: "unassigned Stripe payment", DEPLOY_FINISHED: "deploy",
               EMAIL_FAILED: "failed email", PAYMENT_REFUNDED: "refund", STRIPE_REFUND_KEPT: "unmatched Stripe refund",
               STRIPE_REFUND_NOTE: "Stripe refund note"}


def describe(entry: OutboxEntry) -> str:
    """In words, for an admin: ``the audit line of pay_k7m2x9q4ab (payment)``."""
    return (f"the {TARGET_WORDS.get(entry.target, entry.target)} of {entry.record_id} "
            f"({EVENT_WORDS.get(entry.event, entry.event)})")


def entry_id(record_id: str, target: str) -> str:
    return f"{record_id}:{target}"


@dataclass(frozen=True)
class OutboxEntry:
    """One announcement of one domain event, and where its delivery stands."""

    entry_id: str
    record_id: str  # the record it announces (payment, void, link, deploy, refusal, session id)
    event: str  # PAYMENT_RECORDED, PAYMENT_VOIDED, ...
    target: str  # AUDIT, UPDATE, RECEIPT, REPLY, EMAIL
    facts: dict[str, Any]  # JSON-able: everything the deliverer needs to render and send it
    created_at: datetime  # timezone-aware, UTC
    state: str = PENDING
    due_at: datetime | None = None  # the next try (while held: when the lease runs out); None once settled
    attempts: int = 0  # claims so far
    holder: str | None = None  # the deliverer holding (or last holding) it
    attempt: str | None = None  # the id of the last claim: also carried by the Slack message it posts
    in_doubt: bool = False  # the last try may have reached Slack or SES even though no answer came back
    result: dict[str, Any] | None = None  # once delivered: where it went ({"channel", "ts"}, {"message_id"}, ...)
    last_error: str | None = None

    @property
    def lane(self) -> str:
        return LANE_OF[self.target]

    @property
    def channel(self) -> str | None:
        return self.facts.get("channel")

    @property
    def fresh(self) -> bool:
        """As its write left it: never claimed, nothing under way."""
        return self.state == PENDING and self.attempts == 0 and not self.in_doubt

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the Lambda doorbell's payload); ``from_dict`` reads it back."""
        return {"entry_id": self.entry_id, "record_id": self.record_id, "event": self.event, "target": self.target,
                "facts": self.facts, "created_at": self.created_at.isoformat(), "state": self.state,
                "due_at": None if self.due_at is None else self.due_at.isoformat(), "attempts": self.attempts,
                "holder": self.holder, "attempt": self.attempt, "in_doubt": self.in_doubt, "result": self.result,
                "last_error": self.last_error}

    @classmethod
    def from_dict(cls, data: Any) -> OutboxEntry:
        """An entry from ``to_dict``'s form; ValueError for anything else (a payload is not trusted: the
        store's claim checks it is the entry the store holds before anything is sent)."""
        try:
            texts = {k: data[k] for k in ("entry_id", "record_id", "event", "target", "state")}
            optional = {k: data.get(k) for k in ("holder", "attempt", "last_error")}
            facts, result, attempts, in_doubt = data["facts"], data.get("result"), data["attempts"], data["in_doubt"]
            if (not all(isinstance(v, str) for v in texts.values())
                    or not all(v is None or isinstance(v, str) for v in optional.values())
                    or not isinstance(facts, dict) or not (result is None or isinstance(result, dict))
                    or type(attempts) is not int or type(in_doubt) is not bool or texts["target"] not in LANE_OF):
                raise ValueError("a field of the wrong type")
            created_at = datetime.fromisoformat(data["created_at"])
            due_at = None if data.get("due_at") is None else datetime.fromisoformat(data["due_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an outbox entry: {exc}") from None
        if created_at.tzinfo is None or (due_at is not None and due_at.tzinfo is None):
            raise ValueError("not an outbox entry: its times must say their time zone")
        return cls(**texts, **optional, facts=facts, created_at=created_at, due_at=due_at, attempts=attempts,
                   in_doubt=in_doubt, result=result)


def lone_line(entry: OutboxEntry) -> tuple[str, str] | None:
    """(channel, ts) of a delivered audit entry's own line; None when it is not delivered yet or
    was folded into a digest (there is no line of its own to update)."""
    result = entry.result or {}
    if entry.state != DELIVERED or result.get("digest") or not result.get("ts"):
        return None
    return str(result["channel"]), str(result["ts"])


def new_entry(record_id: str, event: str, target: str, facts: dict[str, Any], now: datetime) -> OutboxEntry:
    return OutboxEntry(entry_id=entry_id(record_id, target), record_id=record_id, event=event, target=target,
                       facts=facts, created_at=now, due_at=now)


@dataclass(frozen=True)
class Announcement:
    """What one change writes beside its record: its audit log entry and its outbox entries."""

    audit: AuditEntry | None = None
    entries: tuple[OutboxEntry, ...] = ()

    def __bool__(self) -> bool:
        return self.audit is not None or bool(self.entries)


# The announcement of a ledger write, made inside the store's transaction from its outcome
# (the record and the event's totals right after it).
Announce = Callable[[RecordOutcome], Announcement]


class Announced:
    """An ``Announce`` that keeps the announcement it built last: once the store's write has
    committed, what it wrote (a store that retries builds it again; the last one is written)."""

    def __init__(self, build: Announce):
        self.build = build
        self.last: Announcement | None = None

    def __call__(self, outcome: RecordOutcome) -> Announcement:
        self.last = self.build(outcome)
        return self.last

    @property
    def entries(self) -> tuple[OutboxEntry, ...]:
        return self.last.entries if self.last is not None else ()


@dataclass(frozen=True)
class Claim:
    """One just-announced entry to claim with others (Store.claim_fresh): its own claim id, and
    whether the claim marks its call as started (an audit line's, which can be looked up)."""

    entry: OutboxEntry
    attempt: str
    under_way: bool = False


@dataclass(frozen=True)
class Settled:
    """How one held entry's try ended, for Store.settle_entries."""

    entry_id: str
    state: str  # DELIVERED, PENDING (try again at ``due``) or PARKED
    due: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    in_doubt: bool = False


# -- facts: domain types to JSON and back ------------------------------------------------------------------


def payment_facts(p: Payment) -> dict[str, Any]:
    facts = {"payment_id": p.payment_id, "event_id": p.event_id, "patron": p.patron, "amount_cents": p.amount_cents,
             "method": p.method, "notes": p.notes, "logged_by": p.logged_by, "recorded_at": p.recorded_at.isoformat(),
             "day": p.day, "source": p.source, "kind": p.kind, "voids": p.voids}
    if p.stripe_id or p.refunded_cents or p.voided_by:  # only where they say something: entries stay as they were
        facts.update(stripe_id=p.stripe_id, refunded_cents=p.refunded_cents, voided_by=p.voided_by)
    return facts


def payment_from_facts(facts: dict[str, Any]) -> Payment:
    return Payment(payment_id=facts["payment_id"], event_id=facts["event_id"], patron=facts["patron"],
                   amount_cents=int(facts["amount_cents"]), method=facts["method"], notes=facts.get("notes", ""),
                   logged_by=facts["logged_by"], recorded_at=datetime.fromisoformat(facts["recorded_at"]),
                   day=facts["day"], source=facts.get("source", "slack"), kind=facts.get("kind", "payment"),
                   voids=facts.get("voids"), stripe_id=facts.get("stripe_id"),
                   refunded_cents=int(facts.get("refunded_cents") or 0), voided_by=facts.get("voided_by"))


def status_facts(status: EventStatus) -> dict[str, Any]:
    event = status.event
    return {"event": {"id": event.id, "title": event.title, "date": event.date.isoformat() if event.date else None,
                      "total_cents": event.total_cents},
            "paid_cents": status.paid_cents, "payment_count": status.payment_count}


def status_from_facts(facts: dict[str, Any]) -> EventStatus:
    event = facts["event"]
    when = date.fromisoformat(event["date"]) if event.get("date") else None
    return EventStatus(Event(id=event["id"], title=event["title"], date=when, total_cents=int(event["total_cents"])),
                       int(facts["paid_cents"]), int(facts["payment_count"]))


# -- the doorbell: tells the deliverer there is something new ---------------------------------------------


class Doorbell:
    """Rung after a write that added outbox entries; a deliverer in the same
    process waits on it instead of polling. Each ring is a new generation, so a
    waiter that looked before the ring cannot miss it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0

    def ring(self, entries: Sequence[OutboxEntry] = ()) -> None:
        """``entries``: what the write just announced, when known (a deliverer in this process reads
        the store all the same; Lambda's doorbell sends them to the invocation it asks for)."""
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float | None) -> int:
        """Wait until rung after generation ``seen`` (or ``timeout`` seconds); the generation now."""
        with self._cond:
            self._cond.wait_for(lambda: self.generation != seen, timeout)
            return self.generation


# -- the policy: which announcements each domain event gets ------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """Where announcements go in this installation."""

    audit_channel: str | None = None  # None: no ops channel (Slack not configured): no audit lines
    email: bool = False  # email copies on


@dataclass
class Announcer:
    """Builds each domain event's announcement: the audit log entry (always) and
    the outbox entries for the targets this installation has. Pure: the store
    writes what it returns; ``ring`` tells the deliverer afterwards."""

    targets: Targets
    day_of: Callable[[datetime], str]  # a moment's day in the crew time zone
    doorbell: Doorbell = field(default_factory=Doorbell)

    def ring(self, entries: Sequence[OutboxEntry] = ()) -> None:
        """After a write has committed; ``entries``: the outbox entries it wrote."""
        self.doorbell.ring(entries)

    def _audit_log(self, *, entry_id: str, at: datetime, actor: str, action: str, result: str,
                   detail: dict[str, Any]) -> AuditEntry:
        return AuditEntry(entry_id=entry_id, at=at, day=self.day_of(at), actor=actor, action=action, result=result,
                          detail=detail)

    def _entries(self, record_id: str, event: str, facts: dict[str, Any], now: datetime, *,
                 audit: bool = True, email: bool = False, extra: Sequence[tuple[str, dict[str, Any]]] = ()
                 ) -> tuple[OutboxEntry, ...]:
        made = []
        if audit and self.targets.audit_channel:
            made.append(new_entry(record_id, event, AUDIT, {**facts, "channel": self.targets.audit_channel}, now))
        if email and self.targets.email:
            made.append(new_entry(record_id, event, EMAIL, facts, now))
        made += [new_entry(record_id, event, target, {**facts, **where}, now) for target, where in extra]
        return tuple(made)

    # -- ledger writes ------------------------------------------------------------------------------------
    def payment_recorded(self, outcome: RecordOutcome, event: Event, *,
                         receipt_to: tuple[str, str] | None = None) -> Announcement:
        """A payment: its audit line (with the Void button), its email copy and, for a form, the
        receipt for ``receipt_to`` = (channel, user) (the one-liner's receipt is the ack itself)."""
        p = outcome.payment
        facts = {"payment": payment_facts(p),
                 **status_facts(EventStatus(event, outcome.totals.paid_cents, outcome.totals.payment_count))}
        extra = [(RECEIPT, {"channel": receipt_to[0], "user": receipt_to[1]})] if receipt_to else []
        audit = self._audit_log(entry_id=f"payment:{p.payment_id}", at=p.recorded_at, actor=p.logged_by,
                                action="payment.log", result="ok",
                                detail={"payment_id": p.payment_id, "event_id": p.event_id,
                                        "amount_cents": p.amount_cents, "method": p.method, "source": p.source})
        return Announcement(audit, self._entries(p.payment_id, PAYMENT_RECORDED, facts, p.recorded_at, email=True,
                                                 extra=extra))

    def payment_voided(self, outcome: RecordOutcome, event: Event, original: Payment, *,
                       message: tuple[str, str] | None = None) -> Announcement:
        """A void: its own audit line, its email copy, and the voided payment's line struck
        through (found through that line's delivered entry, else at ``message`` = (channel, ts))."""
        v = outcome.payment
        facts = {"payment": payment_facts(v), "original": payment_facts(original),
                 **status_facts(EventStatus(event, outcome.totals.paid_cents, outcome.totals.payment_count))}
        extra = []
        if self.targets.audit_channel or message:
            fallback = {"fallback_channel": message[0], "fallback_ts": message[1]} if message else {}
            extra.append((UPDATE, {"channel": self.targets.audit_channel or (message[0] if message else None),
                                   **fallback}))
        audit = self._audit_log(entry_id=f"void:{v.payment_id}", at=v.recorded_at, actor=v.logged_by,
                                action="payment.void", result="ok",
                                detail={"void_id": v.payment_id, "payment_id": v.voids, "event_id": v.event_id,
                                        "amount_cents": v.amount_cents})
        return Announcement(audit, self._entries(v.payment_id, PAYMENT_VOIDED, facts, v.recorded_at, email=True,
                                                 extra=extra))

    def payment_refunded(self, outcome: RecordOutcome, event: Event, original: Payment) -> Announcement:
        """A Stripe refund recorded (or a failed one's money put back): its own line, and the payment's
        line marked with what was refunded of it (``original`` as it stands after the refund)."""
        r = outcome.payment
        facts = {"payment": payment_facts(r), "original": payment_facts(original),
                 **status_facts(EventStatus(event, outcome.totals.paid_cents, outcome.totals.payment_count))}
        extra = [(UPDATE, {"channel": self.targets.audit_channel})] if self.targets.audit_channel else []
        audit = self._audit_log(entry_id=f"{r.kind}:{r.payment_id}", at=r.recorded_at, actor=r.logged_by,
                                action=f"payment.{r.kind}", result="ok",
                                detail={"record_id": r.payment_id, "payment_id": r.voids, "event_id": r.event_id,
                                        "amount_cents": r.amount_cents, "stripe_refund": r.stripe_id})
        return Announcement(audit, self._entries(r.payment_id, PAYMENT_REFUNDED, facts, r.recorded_at, email=True,
                                                 extra=extra))

    def stripe_refund_kept(self, kept: dict[str, Any], now: datetime) -> Announcement:
        """A Stripe refund kept aside: opsbot has no payment it can take it from."""
        audit = self._audit_log(entry_id=f"refund-kept:{kept['refund_id']}", at=now, actor="stripe",
                                action="payment.refund", result="kept aside",
                                detail={k: kept.get(k) for k in ("refund_id", "payment_intent", "amount_cents",
                                                                  "reason")})
        return Announcement(audit, self._entries(kept["refund_id"], STRIPE_REFUND_KEPT, {"refund": kept}, now))

    def stripe_refund_note(self, note: dict[str, Any], now: datetime) -> Announcement:
        """A Stripe refund that changes nothing in the ledger (``note["situation"]`` says why), said once."""
        key = f"refund-note:{note['refund_id']}:{note['situation']}"
        audit = self._audit_log(entry_id=key, at=now, actor="stripe", action="payment.refund", result=note["situation"],
                                detail=dict(note))
        return Announcement(audit, self._entries(key, STRIPE_REFUND_NOTE, {"note": note}, now))

    # -- other changes ------------------------------------------------------------------------------------
    def refused(self, *, refusal_id: str, user_id: str, action: str, needed: str, entry_point: str,
                now: datetime, outsider_team: str | None = None) -> Announcement:
        """A refused request; ``outsider_team``: the other organisation's workspace of someone refused
        as an outsider (through a shared channel)."""
        facts = {"user_id": user_id, "action": action, "needed": needed, "entry_point": entry_point,
                 "outsider_team": outsider_team}
        detail = {"entry": entry_point, "needs": needed}
        if outsider_team is not None:
            detail["outsider_team"] = outsider_team
        audit = self._audit_log(entry_id=refusal_id, at=now, actor=user_id, action=action, result="refused",
                                detail=detail)
        return Announcement(audit, self._entries(refusal_id, REFUSED, facts, now))

    def link_created(self, link: dict[str, Any], now: datetime, *, reply_url: str | None) -> Announcement:
        """A payment link: its audit line, and the link itself posted where it was asked for."""
        extra = [(REPLY, {"response_url": reply_url})] if reply_url else []
        audit = self._audit_log(entry_id=f"paylink:{link['link_id']}", at=now, actor=link["created_by"],
                                action="paylink.create", result="ok",
                                detail={"link_id": link["link_id"], "event_id": link.get("event_id"),
                                        "amount_cents": link["amount_cents"]})
        return Announcement(audit, self._entries(link["link_id"], LINK_CREATED, {"link": link}, now, extra=extra))

    def stripe_unassigned(self, kept: dict[str, Any], now: datetime) -> Announcement:
        return Announcement(None, self._entries(kept["session_id"], STRIPE_UNASSIGNED, {"session": kept}, now))

    def deploy_finished(self, deploy: dict[str, Any], now: datetime) -> Announcement:
        audit = self._audit_log(entry_id=f"deploy:{deploy['deploy_id']}", at=now, actor=deploy["by"],
                                action="deploy.run", result="failed" if deploy.get("failed_step") else "ok",
                                detail={k: deploy.get(k) for k in ("deploy_id", "site", "target", "uploaded",
                                                                    "copied", "deleted", "invalidation_id",
                                                                    "failed_step")})
        return Announcement(audit, self._entries(deploy["deploy_id"], DEPLOY_FINISHED, {"deploy": deploy}, now))

    def email_failed(self, key: str, subject: str, recipients: Sequence[str], reason: str,
                     now: datetime) -> Announcement:
        """An email SES would not take (``key`` names what it copies: an outbox entry, a summary):
        said once in the ops channel, kept in the audit log."""
        audit = self._audit_log(entry_id=f"email-failed:{key}", at=now, actor="opsbot", action="email.send",
                                result="failed", detail={"email": key, "to": list(recipients), "reason": reason})
        facts = {"subject": subject, "to": list(recipients), "reason": reason}
        return Announcement(audit, self._entries(f"email-failed:{key}", EMAIL_FAILED, facts, now))


# -- when to try again -------------------------------------------------------------------------------------

# Seconds before each retry of a failed delivery; the last step repeats until the entry is parked.
BACKOFF = (2.0, 8.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)
PARK_AFTER = timedelta(days=1)


def next_try(entry: OutboxEntry, now: datetime, backoff: Sequence[float] = BACKOFF,
             park_after: timedelta = PARK_AFTER) -> datetime | None:
    """When a failed entry is tried again; None when it has failed for long enough to be parked."""
    step = backoff[min(max(entry.attempts - 1, 0), len(backoff) - 1)]
    due = now + timedelta(seconds=step)
    return None if due - entry.created_at > park_after else due
