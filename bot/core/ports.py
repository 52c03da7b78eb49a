"""Ports: what the services need from the outside world. Adapters live in infra/."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

from bot.core.domain import AuditEntry, EventOverview, EventTotals, Payment, RecordOutcome
from bot.core.outbox import Announce, Announcement, Claim, OutboxEntry, Settled


def record_position(record: Payment) -> str:
    """Where a record sits in the ledger's time order: its time (ISO, UTC) and id. Both stores keep
    each event's records and each day's records in this order (DynamoDB: the sort key after
    ``PAY#``, and the day index's sort key), and their reads start ``after`` one."""
    return f"{record.recorded_at.isoformat()}#{record.payment_id}"


def void_key(payment_id: str) -> str:
    """The idempotency key of a payment's void: a payment is voided at most once."""
    return f"void:{payment_id}"


def refund_key(refund_id: str) -> str:
    """The idempotency key of a Stripe refund's record: one record per Stripe refund (re_…), however it came."""
    return f"refund:{refund_id}"


def refund_failed_key(refund_id: str) -> str:
    """The idempotency key of the record that puts a failed refund's money back: once per refund."""
    return f"refund-failed:{refund_id}"


RecordKey = tuple[str, str, str]  # a record's address: (collection, group, key)

# Written by init_schema in the store it creates (never in one it upgrades): every summary (a Fold's record) has
# been kept since the store's first record, so a summary that is not there means the group has no history. A
# store upgraded from before summaries lacks it until they are built (bot/core/summaries.py): readers then read
# the history itself.
SUMMARIES_KEPT: RecordKey = ("store", "", "summaries-kept")


@dataclass(frozen=True)
class Fold:
    """A summary record kept by a write, so that a reader gets it by its key instead of querying the
    history (a site's last deploy, an event's newest payment links). ``apply`` gets the summary as it is
    before the write, the store as it was before it too (None when there is no summary yet), and returns
    what the summary becomes (None: it stays as it is). The store writes it in the record's transaction;
    when another write changed it meanwhile it reads it again and applies again (DynamoDB: compare-and-set
    on the summary's version), so concurrent writes lose nothing."""

    at: RecordKey
    apply: Callable[[dict[str, Any] | None], dict[str, Any] | None]


class StoreError(Exception):
    """The store could not be reached or answered something unexpected."""


class SchemaTooNew(StoreError):
    """The store was written by a newer opsbot: reading or writing it could lose what that version added."""


class OverTotal(Exception):
    """A payment would take the event's paid amount above its total."""

    def __init__(self, paid_cents: int, total_cents: int):
        super().__init__(f"paid {paid_cents} of {total_cents}")
        self.paid_cents = paid_cents
        self.total_cents = total_cents

    @property
    def balance_cents(self) -> int:
        return self.total_cents - self.paid_cents


class IdempotencyConflict(Exception):
    """An idempotency key already used for another payment: nothing was written.
    ``first`` is the record the key belongs to."""

    def __init__(self, key: str, first: Payment):
        super().__init__(f"idempotency key {key} was used for {first.payment_id}")
        self.key = key
        self.first = first


class PaymentNotFound(Exception):
    def __init__(self, payment_id: str):
        super().__init__(payment_id)
        self.payment_id = payment_id


class PaymentVoided(Exception):
    """The payment was voided: a refund of it moves no money in the ledger (the void took what was left)."""

    def __init__(self, payment: Payment):
        super().__init__(f"{payment.payment_id} was voided by {payment.voided_by}")
        self.payment = payment


class NothingLeft(Exception):
    """A change larger than what stands of the payment: a refund past what is left of it (``left_cents``),
    a void of a payment Stripe refunded in full (left 0), a failed refund of more than was refunded."""

    def __init__(self, payment: Payment, asked_cents: int):
        super().__init__(f"{payment.payment_id}: {asked_cents} asked, {payment.left_cents} left")
        self.payment = payment
        self.asked_cents = asked_cents

    @property
    def left_cents(self) -> int:
        return self.payment.left_cents


class Store(Protocol):
    """The ledger's durable store. Every write is one transaction and carries an
    idempotency key: the same key twice with the same payment (equal
    ``Payment.fingerprint``) returns the first record, marked ``replayed``, and
    writes nothing; the same key with another payment raises IdempotencyConflict
    and writes nothing. An outcome's totals are the event's totals
    read right after the write: they include it (and, under concurrency, may
    include writes that landed at the same moment)."""

    def init_schema(self) -> str | None:
        """Create the schema (tables), or bring an older one up to date; idempotent. Returns
        what was done, in words, or None when nothing was. Raises SchemaTooNew."""

    def upgrade_schema(self) -> str | None:
        """At start-up: bring an existing schema up to date, as init_schema does; a store
        with no schema yet is left as it is. Returns what was done, or None. Raises SchemaTooNew."""

    def ping(self) -> None:
        """Raise StoreError unless the store answers and its schema is present."""

    def record_payment(
        self,
        payment: Payment,
        *,
        total_cents: int,
        idempotency_key: str,
        allow_over_total: bool = False,
        announce: Announce | None = None,
    ) -> RecordOutcome:
        """Append a payment and update the event's totals atomically, with what
        ``announce`` makes of the outcome (its audit log entry and outbox entries)
        in the same transaction. A replay writes nothing and announces nothing.

        Raises OverTotal when ``paid + amount > total`` unless allow_over_total
        (Stripe money that has already arrived)."""

    def void_payment(self, payment_id: str, void: Payment, *, announce: Announce | None = None,
                     original: Payment | None = None) -> RecordOutcome:
        """Append ``void`` (a reversing record for payment_id) and mark the
        payment voided, atomically, with its announcement. The void reverses what
        is left of the payment as the transaction reads it (its amount less what
        Stripe refunded): ``void.amount_cents`` is set to that. The payment itself is
        the idempotency key: voiding a voided payment writes nothing and returns
        the first void with ``replayed=True``. Raises PaymentNotFound, NothingLeft
        (Stripe refunded all of it). ``original``: the payment as the caller has just read
        it (the store need not read it again; the write still checks that it is there, not
        voided, and what is left of it as it was read)."""

    def refund_payment(self, payment_id: str, record: Payment, *, idempotency_key: str,
                       announce: Announce | None = None) -> RecordOutcome:
        """Append ``record`` (a refund, negative, or a failed refund's money back, positive) and add
        it to the payment's ``refunded_cents`` (less a positive one), with the event's totals and the
        announcement, atomically. The payment stops counting in ``payment_count`` when nothing of it
        is left, and counts again when a failed refund gives some back. A failed refund's record
        (kind refund_failed) needs its refund (``stripe_id``) recorded before, under refund_key. The
        same key twice returns the first record, replayed (another record under it: IdempotencyConflict).
        Raises PaymentNotFound, PaymentVoided, NothingLeft (more than is left, more back than was
        refunded, or the failure of a refund never recorded)."""

    def stripe_payment(self, payment_intent: str) -> Payment | None:
        """The Stripe payment recorded for this PaymentIntent (pi_…), if any. An index lookup."""

    def replay(self, idempotency_key: str) -> RecordOutcome | None:
        """The outcome of an earlier write with this key (``replayed=True``), or None."""

    def get_payment(self, payment_id: str) -> Payment | None: ...

    def event_totals(self, event_ids: Iterable[str]) -> dict[str, EventTotals]:
        """Totals for the given events; events with no payments are absent."""

    def owed(self, totals: Mapping[str, int]) -> int:
        """What these events still owe in all: per event (id -> its total in cents), the total less what was
        paid, when more than nothing. Summed where the totals are: no figure per event comes back."""

    def event_payments(self, event_id: str, *, after: str | None = None, limit: int | None = None
                       ) -> list[Payment]:
        """The event's records (payments and voids), oldest first: those whose record_position
        is past ``after`` (all when None), at most ``limit``. One query on the event's records."""

    def event_overview(self, event_id: str, *, recent: int) -> EventOverview:
        """The event's totals, its record count, its ``recent`` newest records and its per-patron
        totals (kept by every write): a bounded read whatever the event's history."""

    def day_payments(self, day: str, *, after: str | None = None, limit: int | None = None) -> list[Payment]:
        """Records whose crew-time-zone day is ``day`` (YYYY-MM-DD), oldest first, past ``after``,
        at most ``limit``. An index lookup, never a scan of the whole ledger."""

    # -- exactly-once markers -------------------------------------------------------
    def claim(self, key: str, *, holder: str, now: datetime, lease: timedelta) -> bool:
        """Take the marker ``key`` (a conditional write). True for exactly one
        caller; a held claim whose lease ran out (its holder died) may be
        taken again. A claim marked done is never taken again."""

    def complete_claim(self, key: str, *, holder: str) -> None:
        """Mark a held claim done for good (the work it guarded happened)."""

    def release_claim(self, key: str, *, holder: str) -> None:
        """Give a held claim back (the work failed) so a retry can take it."""

    # -- small documents: pending deploys, payment links, Stripe sessions, ... -----------
    # Addressed by (collection, group, key); a group lists in key order with one
    # query (DynamoDB: PK=<collection>#<group>, SK=<key>).
    def put_record(self, collection: str, group: str, key: str, data: dict[str, Any], *,
                   if_absent: bool = False, announce: Announcement | None = None, fold: Fold | None = None) -> bool:
        """Write a JSON-able document, and ``announce`` in the same transaction.
        With if_absent, only when none is there (a conditional write); returns
        False when one was (and then nothing is announced or folded either).
        ``fold``: a summary record updated in the same transaction (see Fold)."""

    def get_record(self, collection: str, group: str, key: str) -> dict[str, Any] | None: ...

    def read_keys(self, *, events: Iterable[str] = (), records: Sequence[RecordKey] = ()
                  ) -> tuple[dict[str, EventTotals], dict[RecordKey, dict[str, Any]]]:
        """The totals of these events (as event_totals) and these records by address (those not there are
        absent), read together: DynamoDB one strongly consistent BatchGetItem per 100 keys, SQLite one
        snapshot. What a page that shows many things (the App Home) reads instead of a query for each."""

    def list_records(self, collection: str, group: str, *, newest_first: bool = False,
                     limit: int | None = None) -> list[dict[str, Any]]: ...

    def delete_record(self, collection: str, group: str, key: str) -> None: ...

    # -- the audit log ---------------------------------------------------------------
    def add_audit(self, entry: AuditEntry) -> None:
        """Append an audit entry (DynamoDB: PK=AUDIT#<day> SK=<iso-time>#<id>); an
        entry id already written is not written again."""

    def day_audit(self, day: str) -> list[AuditEntry]:
        """The day's audit entries, oldest first (one query)."""

    def announce(self, announcement: Announcement) -> None:
        """Write an announcement on its own (a refusal): its audit log entry and its
        outbox entries, in one transaction. Entry ids already written are kept as they are."""

    # -- the outbox (bot/core/outbox.py): announcements waiting to be delivered --------------------
    # DynamoDB: PK=OUTBOX#<entry id>; while due it is in GSI1 under GSI1PK=OUTBOX#<lane>,
    # GSI1SK=<due>#<entry id>, and under OUTBOX#parked once parked (a sparse index, never a scan).
    def due_entries(self, lane: str, now: datetime, limit: int) -> list[OutboxEntry]:
        """At most ``limit`` entries of ``lane`` due at ``now`` (pending, or held by a
        holder whose lease ran out), the earliest due first. An index query."""

    def claim_entries(self, entries: Sequence[OutboxEntry], *, holder: str, attempt: str, now: datetime,
                      lease: timedelta, under_way: bool = False) -> list[OutboxEntry]:
        """Take each entry that is still due at ``now`` and still as it was read (the same
        attempts and in-doubt mark: a conditional write per entry): held by ``holder`` until
        ``now + lease``, its claim id ``attempt``. With ``under_way`` the claim also marks the
        call as started (in doubt until settled: what an audit line does, which can be looked up
        later); an entry already in doubt keeps the claim id of the call that may have gone
        through. Returns the entries taken, as they were read."""

    def claim_fresh(self, claims: Sequence[Claim], *, holder: str, now: datetime, lease: timedelta
                    ) -> list[OutboxEntry]:
        """Take the entries one write just announced, together (DynamoDB: one request), each only
        if the store holds it as given and untouched since its write: pending, due at ``now``,
        never claimed, not in doubt, and the same record, event, target, creation time and facts
        (what a payload names must be what the store holds: nothing else can be said). Held by
        ``holder`` until ``now + lease`` under each claim's id; ``under_way`` as for claim_entries.
        Returns the entries taken, as given."""

    def mark_in_doubt(self, entry_ids: Sequence[str], *, holder: str, attempt: str) -> None:
        """Note, before a call, that it has started under claim id ``attempt``: whoever takes
        the entry over later must not simply send it again."""

    def settle_entries(self, settled: Sequence[Settled], *, holder: str, now: datetime,
                       together: bool = False) -> list[str]:
        """End each try held by ``holder``: delivered (with where it went), pending
        again at ``due``, or parked (at ``now``). Entries no longer held by ``holder``
        are left alone; returns the ids settled. ``together``: a write's few entries, in as few
        requests as the store can (DynamoDB: one transaction, at twice the write units of
        one update each; the general drain settles one at a time)."""

    def get_entry(self, entry_id: str) -> OutboxEntry | None: ...

    def parked_entries(self, limit: int) -> list[OutboxEntry]:
        """Parked entries, the earliest parked first (one query)."""

    def requeue_parked(self, now: datetime, limit: int) -> int:
        """Make up to ``limit`` parked entries due again at ``now`` (an admin fixed the
        cause); returns how many."""

    def message_ref(self, record_id: str) -> tuple[str, str] | None:
        """(channel, ts) of the record's own audit line once delivered (not folded into a digest)."""


class NotifyError(Exception):
    """Slack did not take a message (after the client's own retries, if it has any).
    ``retry_after``: Slack rate-limited the call and said how many seconds to wait.
    ``maybe_delivered``: the call may have taken effect even so (the connection dropped
    after it was sent, a 5xx, ``internal_error``): check before sending it again.
    ``retryable`` is False when Slack refused the message itself (``invalid_blocks``,
    ``msg_too_long``, ...): sending the same message again cannot help."""

    def __init__(self, message: str, *, retry_after: float | None = None, maybe_delivered: bool = False,
                 retryable: bool = True):
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_delivered = maybe_delivered
        self.retryable = retryable


class Notifier(Protocol):
    """Where the bot's messages go: Slack in production, a list in tests."""

    def post(self, channel: str, text: str, blocks: list[dict] | None = None, *,
             metadata: dict[str, Any] | None = None) -> str:
        """Post a message; returns its ts. ``metadata`` is kept on the message (Slack's
        message metadata) so ``find_message`` can find it again."""

    def update(self, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None: ...

    def post_ephemeral(self, channel: str, user: str, text: str, blocks: list[dict] | None = None) -> None: ...

    def direct_message(self, user: str, text: str, blocks: list[dict] | None = None) -> None: ...

    def respond(self, response_url: str, text: str, blocks: list[dict] | None = None, *,
                in_channel: bool = False) -> None:
        """Answer through a request's response_url (valid for 30 minutes)."""

    def find_message(self, channel: str, *, attempt: str, oldest: datetime) -> str | None:
        """The ts of a message the bot posted in ``channel`` since ``oldest`` whose metadata
        names ``attempt``, or None. Raises NotifyError when the history cannot be read."""


SLACK_OFF = "Slack is not configured in this process (SLACK_BOT_TOKEN)"


class NoSlack:
    """The Notifier when Slack is off (no SLACK_BOT_TOKEN): nothing is sent, every call is refused
    with a NotifyError that says so, and ``slack_on`` tells it from a real one."""

    def _off(self) -> NotifyError:
        return NotifyError(SLACK_OFF)

    def post(self, channel: str, text: str, blocks: list[dict] | None = None, *,
             metadata: dict[str, Any] | None = None) -> str:
        raise self._off()

    def update(self, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None:
        raise self._off()

    def post_ephemeral(self, channel: str, user: str, text: str, blocks: list[dict] | None = None) -> None:
        raise self._off()

    def direct_message(self, user: str, text: str, blocks: list[dict] | None = None) -> None:
        raise self._off()

    def respond(self, response_url: str, text: str, blocks: list[dict] | None = None, *,
                in_channel: bool = False) -> None:
        raise self._off()

    def find_message(self, channel: str, *, attempt: str, oldest: datetime) -> str | None:
        raise self._off()


def slack_on(notifier: Notifier | None) -> bool:
    """True for a notifier that reaches Slack (not NoSlack, not missing)."""
    return notifier is not None and not isinstance(notifier, NoSlack)


# -- static sites: S3 objects and CloudFront invalidations -----------------------------------------


class SitesError(Exception):
    """S3 or CloudFront refused or could not be reached; ``step`` says what was being done
    ("listing s3://bucket/_staging/", "uploading s3://bucket/index.html", ...)."""

    def __init__(self, step: str, reason: str, *, done: dict[str, str | None] | None = None):
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason
        self.done = done or {}  # a delete that failed part-way: the keys it did delete (as Sites.delete returns)


@dataclass(frozen=True)
class SiteObject:
    """One object of a site's bucket as a listing shows it."""

    key: str
    etag: str  # without quotes; the content MD5 for a single-part, unencrypted upload
    size: int


@dataclass(frozen=True)
class ObjectHead:
    """What a HEAD of an object (or of one of its versions) says."""

    size: int
    etag: str
    md5: str | None  # the content MD5 we kept in its metadata when we uploaded it
    version_id: str | None  # None on a bucket that was never versioned


class Sites(Protocol):
    """The buckets and CDN distributions the event sites are served from. Writes
    return the version id S3 gave what they wrote (None on an unversioned bucket)."""

    def has_credentials(self) -> bool:
        """False when no AWS credentials can be found (a deploy is then a dry run)."""

    def list_objects(self, bucket: str, prefix: str, *, skip_prefixes: Sequence[str] = ()) -> list[SiteObject]:
        """Every object whose key starts with ``prefix``, except those under
        ``skip_prefixes`` (which are never listed at all)."""

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None:
        """The object (or that version of it); None when there is none (a deleted
        key's delete marker included)."""

    def versioning(self, bucket: str) -> str:
        """The bucket's versioning: ``Enabled``, ``Suspended`` or "" (never turned on)."""

    def upload(self, bucket: str, key: str, path: Path, *, content_type: str, cache_control: str,
               md5: str) -> str | None:
        """Stream the file to ``key`` with these headers (multipart when it is
        large), keeping ``md5`` (hex, computed by the caller) in its metadata."""

    def copy(self, bucket: str, source_key: str, key: str, *, size: int, version_id: str | None = None) -> str | None:
        """Server-side copy within the bucket (of one version of ``source_key``
        when ``version_id`` is given), headers and metadata included."""

    def delete(self, bucket: str, keys: Sequence[str]) -> dict[str, str | None]:
        """Delete the keys; returns key -> the delete marker's version id (None on
        an unversioned bucket) for each key deleted."""

    def create_invalidation(self, distribution_id: str, paths: Sequence[str], caller_reference: str) -> str:
        """Start a CloudFront invalidation; returns its id. The same caller
        reference twice makes one invalidation."""

    def get_invalidation_status(self, distribution_id: str, invalidation_id: str) -> str:
        """``InProgress`` or ``Completed`` (compare without case)."""


# -- Stripe: products, prices and payment links -------------------------------------------


class PaymentsError(Exception):
    """Stripe refused a request or could not be reached, after the client's own
    retries. ``step`` names what was being created: product, price or payment link."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"Stripe could not create the {step}: {reason}")
        self.step = step
        self.reason = reason


class RefundRefused(Exception):
    """Stripe answered a refund request with an error about the refund itself (already refunded, too
    old, more than is left, not enough balance): ``code`` is Stripe's (None when it sends none)."""

    def __init__(self, code: str | None, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StripeRefund:
    """A Stripe Refund object, as much of it as the ledger reads."""

    refund_id: str  # re_…
    amount_cents: int
    currency: str
    status: str  # pending | requires_action | succeeded | failed | canceled
    payment_intent: str | None
    charge: str | None
    reason: str | None = None  # duplicate | fraudulent | requested_by_customer | …
    failure_reason: str | None = None
    metadata: dict[str, str] | None = None

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> StripeRefund:
        """From Stripe's JSON (``charge`` and ``payment_intent`` are ids, or objects when expanded).
        Raises ValueError for something that is not a refund."""
        amount = obj.get("amount")
        if obj.get("object") != "refund" or not isinstance(obj.get("id"), str) or isinstance(amount, bool) \
                or not isinstance(amount, int) or amount < 0:
            raise ValueError("not a Stripe refund")
        return cls(refund_id=obj["id"], amount_cents=amount, currency=str(obj.get("currency") or "usd").lower(),
                   status=str(obj.get("status") or "pending"), payment_intent=_stripe_ref(obj.get("payment_intent")),
                   charge=_stripe_ref(obj.get("charge")), reason=obj.get("reason"),
                   failure_reason=obj.get("failure_reason"),
                   metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()})


def _stripe_ref(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


class WebhookRejected(Exception):
    """A Stripe webhook that is not provably from Stripe (bad or missing signature) or not readable."""


class Payments(Protocol):
    """Stripe's objects API. Every call carries an idempotency key: the same key
    twice answers the first object and creates nothing new. Raise PaymentsError."""

    def create_product(self, name: str, *, metadata: dict[str, str], idempotency_key: str) -> str:
        """Create a product; returns its id (``prod_...``)."""

    def create_price(self, product_id: str, unit_amount_cents: int, *, currency: str,
                     idempotency_key: str) -> str:
        """Create a one-time price for the product; returns its id (``price_...``)."""

    def create_payment_link(self, price_id: str, *, metadata: dict[str, str],
                            idempotency_key: str) -> tuple[str, str]:
        """Create a payment link for one of the price; returns (id ``plink_...``, url).
        Its metadata is copied by Stripe onto every Checkout Session it makes."""

    def create_refund(self, *, payment_intent: str, amount_cents: int, metadata: dict[str, str],
                      idempotency_key: str) -> StripeRefund:
        """Refund ``amount_cents`` of the PaymentIntent's charge. Raises RefundRefused (Stripe said no:
        nothing was refunded) or PaymentsError (not reached: it may or may not have been made; the
        same key again makes it once)."""

    def list_refunds(self, *, payment_intent: str | None = None, charge: str | None = None) -> list[StripeRefund]:
        """Every refund of the PaymentIntent (or of the charge), newest first. Raises PaymentsError."""

    def payment_intent_session(self, payment_intent: str) -> str | None:
        """The Checkout Session that made the PaymentIntent (None: none did). Raises PaymentsError."""


# -- email: copies of payments and the daily summary for admins -------------------------------------


class MailError(Exception):
    """The mail service did not take a message. ``retryable`` is False when trying
    again cannot help (the sender is not verified, an address is refused);
    ``maybe_sent`` when the answer was lost after the message went out (a read timeout)."""

    def __init__(self, reason: str, *, retryable: bool, maybe_sent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.maybe_sent = maybe_sent


@dataclass(frozen=True)
class OutgoingEmail:
    """One email, plain text and HTML. ``key`` names what it is a copy of
    (``payment:pay_…``, ``summary:2026-11-21``): one email per key, ever."""

    key: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class EmailSettings:
    """Email copies through SES: who sends, who receives, and which variables said so."""

    sender: str  # as set: "ops@example.com" or "opsbot <ops@example.com>"
    recipients: tuple[str, ...]
    sender_variable: str = "OPSBOT_EMAIL_FROM"
    recipients_variable: str = "OPSBOT_EMAIL_TO"

    @property
    def sender_address(self) -> str:
        """The bare address: the SES identity that must be verified (it or its domain)."""
        return parseaddr(self.sender)[1]


class Mailer(Protocol):
    def send(self, sender: str, recipients: Sequence[str], email: OutgoingEmail) -> str:
        """Send one email to every recipient; returns the service's message id. Raises MailError."""


MAIL_OFF = "email is off in this process (OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO are not set)"


class NoMailer:
    """The Mailer when email is off: nothing is sent, every send is refused with a MailError that says so,
    and ``mail_on`` tells it from a real one."""

    def send(self, sender: str, recipients: Sequence[str], email: OutgoingEmail) -> str:
        raise MailError(MAIL_OFF, retryable=False)


def mail_on(mailer: Mailer) -> bool:
    """True for a mailer that sends (not NoMailer)."""
    return not isinstance(mailer, NoMailer)


Message = tuple[str, list[dict]]  # a Slack message: (notification text, Block Kit blocks as dicts)


class Renderer(Protocol):
    """What each outbox entry says (blocks/announcements.py implements it): the deliverer
    decides when and where an entry goes, the renderer what it says."""

    def audit_line(self, entry: OutboxEntry) -> Message: ...

    def struck_line(self, entry: OutboxEntry) -> Message: ...

    def receipt(self, entry: OutboxEntry) -> str: ...

    def reply(self, entry: OutboxEntry) -> Message: ...

    def email(self, entry: OutboxEntry, tz: tzinfo) -> OutgoingEmail: ...

    def plain_lines(self, entries: Sequence[OutboxEntry]) -> str: ...

    def digest(self, entries: Sequence[OutboxEntry], *, waiting: int) -> tuple[Message, int]: ...
