"""The production store: one DynamoDB table, as laid out in DESIGN.md.

Items:
  event totals   PK=EVENT#<id>        SK=META                  (and record_count; patrons_kept once the items below are)
  patron totals  PK=EVENT#<id>        SK=PATRON#<patron key>   (sorts between META and the records)
  payment / void PK=EVENT#<id>        SK=PAY#<iso-time>#<id>   GSI1PK=DAY#<day> GSI1SK=<iso-time>#<id>
  id pointer     PK=PAYMENT#<id>      SK=META                  (find a payment by id for a void)
  Stripe pointer PK=STRIPEPI#<pi>     SK=META                  (find a Stripe payment by its PaymentIntent)
  idempotency    PK=IDEM#<key>        SK=META                  (the first outcome of that key: record and totals)
  outbox entry   PK=OUTBOX#<entry id> SK=META                  while due: GSI1PK=OUTBOX#<lane> GSI1SK=<due>#<id>;
                                                               parked: GSI1PK=OUTBOX#parked GSI1SK=<parked>#<id>
  record         PK=REC#<collection>#<group> SK=<key>          (a summary record, kept by a Fold, carries ``ver``:
                                                               the version its compare-and-set writes against)

Payments, event totals, records and audit entries carry ``fmt``, the format version of
their shape (ITEM_FORMAT; an item without it is format 1, as written before formats
were stamped). A reader meets an item of a newer format only when a newer opsbot wrote
it, and refuses it (SchemaTooNew) rather than misread it. DynamoDB keeps no other
schema: there is nothing to migrate in place; a new shape gets the next format number
and its reader accepts both.

A payment is one read (its key's item and the event's totals, one BatchGetItem: a
replay ends there) and one TransactWriteItems: the idempotency item and the payment
are conditional puts, the patron's totals an ADD, and the event totals an atomic ADD
whose condition is first that they are as read (so the outcome is known without
reading again), and under contention pins the paid amount below (or exactly at) the
point where the payment would pass the total. Writers that stay under the total then
never conflict; near the total a failed condition means "look again", so racing
writers cannot pay past it. A cancelled transaction brings back the items whose
condition failed (ALL_OLD): a replay or the totals as they are, without a read.

The payment's announcements (its audit log entry and outbox entries, bot/core/outbox.py)
are puts in the same transaction. Their facts carry the totals as read before the
write plus this payment; under contention, when another writer landed at the same
moment, the entries not yet tried are corrected to the totals read after it (the receipt's).
An outbox entry leaves the day index (GSI1) once delivered: the deliverer's query
reads only the work still to do.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.core.domain import REFUND_FAILED, AuditEntry, EventOverview, EventTotals, PatronTotal, Payment, RecordOutcome
from bot.core.outbox import (
    AUDIT,
    DELIVERED,
    HELD,
    PARKED,
    PENDING,
    Announce,
    Announcement,
    Claim,
    OutboxEntry,
    Settled,
    entry_id,
    lone_line,
)
from bot.core.patrons import patron_key, patron_totals, stored_name
from bot.core.ports import (
    SUMMARIES_KEPT,
    Fold,
    IdempotencyConflict,
    NothingLeft,
    OverTotal,
    PaymentNotFound,
    PaymentVoided,
    RecordKey,
    SchemaTooNew,
    StoreError,
    refund_key,
    void_key,
)
from bot.version import opsbot_version
from infra.aws_session import aws_client
from infra.dynamo_types import deserialize, serialize

MAX_ATTEMPTS = 500  # optimistic retries under contention; each round at least one writer wins
MAX_RETRIES = 5  # the client's own retries of a throttled, failed or dropped request
TOGETHER_TRIES = 4  # a write's entries claimed or settled together: tries through conflicts, then left to the drain
UPDATE_WORKERS = 8  # outbox entries claimed or settled at a time (a digest holds hundreds)
_META = "META"
_PARKED = "OUTBOX#parked"
_PATRON = "PATRON#"  # SK of a patron's totals for the event: sorts after META and before PAY#
_LAST = "~"  # sorts after every entry id: "<time>#~" bounds a range of "<time>#<id>" keys
ITEM_FORMAT = 1  # the item shape this code writes unless an item needs a newer one (the ``fmt`` attribute)
# 2: Stripe refunds: a record of kind refund / refund_failed, a payment that refunds took part of. An opsbot
# that reads only format 1 would void what was refunded a second time, so it must refuse these items; every
# other item keeps format 1 (a Stripe id or a PaymentIntent on a payment is an attribute older readers skip).
REFUND_FORMAT = 2
READ_FORMAT = REFUND_FORMAT  # the newest format this code reads


PITR_ON_COMMAND = ("aws dynamodb update-continuous-backups --table-name {table} "
                   "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true")


@dataclass(frozen=True)
class RecoveryStatus:
    """The table's point-in-time recovery: on or off, and the window it can restore to."""

    enabled: bool
    earliest: datetime | None = None
    latest: datetime | None = None


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: serialize(v) for k, v in values.items() if v is not None}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item as plain Python values; every item read passes here, so a format this code
    does not know is refused in one place."""
    out = {}
    for key, value in item.items():
        plain = deserialize(value)
        out[key] = int(plain) if isinstance(plain, Decimal) else plain
    if out.get("fmt", 1) > READ_FORMAT:
        raise SchemaTooNew(f"a DynamoDB item ({out.get('PK')} {out.get('SK')}) has format version {out['fmt']}, "
                           f"newer than this opsbot ({opsbot_version()}) reads (up to {READ_FORMAT}): "
                           "run the newer opsbot that wrote it")
    return out


class DynamoStore:
    def __init__(self, table: str, *, region: str | None = None, endpoint_url: str | None = None,
                 client: Any = None):
        self.table = table
        self._pool: ThreadPoolExecutor | None = None  # made on first use: only a deliverer needs it
        self._pool_lock = threading.Lock()
        # Per thread, the last payment read by id and its event's totals read with it: a void of that payment
        # on the same thread starts from them (compare-and-set: were they stale, its write fails and it reads).
        self._read_with_totals = threading.local()
        self._client = client or aws_client(
            "dynamodb",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(
                # DynamoDB's own schedule (legacy mode: 50 ms doubling, at most 5 retries, 1.55 s in all) rather
                # than standard mode's 1 s base for throttling (up to 15 s over 4 retries). Most writes run
                # inside a Slack request, answered within 3 s: a write that lands after Slack gave up would
                # show the crew an error for a payment that was recorded, and they would log it again.
                retries={"max_attempts": MAX_RETRIES, "mode": "legacy"},
                connect_timeout=3,
                read_timeout=10,
                max_pool_connections=64,
            ),
        )

    # -- schema -----------------------------------------------------------------------
    def init_schema(self) -> str | None:
        """Create the table (and its day index) unless it is there, and turn point-in-time
        recovery on (the ledger's backup: infra/template.yaml turns it on for a stack's table)."""
        created = self._create_table()
        said = ["created the table"] if created else []
        if created:  # a new table keeps its summaries from its first record
            self.put_record(*SUMMARIES_KEPT, {"kept": True}, if_absent=True)
        recovery = self.point_in_time_recovery()
        if not recovery.enabled:
            try:
                self._client.update_continuous_backups(
                    TableName=self.table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
            except (ClientError, BotoCoreError) as exc:
                said.append(f"point-in-time recovery is OFF and could not be turned on ({_reason(exc)}): "
                            f"{PITR_ON_COMMAND.format(table=self.table)}")
            else:
                said.append("turned point-in-time recovery on")
        return ", ".join(said) or None

    def upgrade_schema(self) -> str | None:
        """Nothing to upgrade in place: items carry their own format version (see the module's notes)."""
        return None

    def point_in_time_recovery(self) -> RecoveryStatus:
        try:
            description = self._client.describe_continuous_backups(TableName=self.table)["ContinuousBackupsDescription"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("TableNotFoundException", "ResourceNotFoundException"):
                raise StoreError(f"DynamoDB table {self.table} does not exist: run `opsbot init-store`") from exc
            raise StoreError(f"DynamoDB table {self.table}: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach DynamoDB: {exc}") from exc
        pitr = description.get("PointInTimeRecoveryDescription", {})
        return RecoveryStatus(enabled=pitr.get("PointInTimeRecoveryStatus") == "ENABLED",
                              earliest=pitr.get("EarliestRestorableDateTime"),
                              latest=pitr.get("LatestRestorableDateTime"))

    def _create_table(self) -> bool:
        """Create the table; False when it was already there."""
        try:
            self._client.create_table(
                TableName=self.table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": "PK", "AttributeType": "S"},
                    {"AttributeName": "SK", "AttributeType": "S"},
                    {"AttributeName": "GSI1PK", "AttributeType": "S"},
                    {"AttributeName": "GSI1SK", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "GSI1",
                        "KeySchema": [
                            {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                            {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise StoreError(f"cannot create DynamoDB table {self.table}: {_reason(exc)}") from exc
            created = False
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach DynamoDB: {exc}") from exc
        else:
            created = True
        self._client.get_waiter("table_exists").wait(TableName=self.table, WaiterConfig={"Delay": 1})
        return created

    def ping(self) -> None:
        try:
            table = self._client.describe_table(TableName=self.table)["Table"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise StoreError(f"DynamoDB table {self.table} does not exist: run `opsbot init-store`") from exc
            raise StoreError(f"DynamoDB table {self.table}: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot reach DynamoDB: {exc}") from exc
        if table.get("TableStatus") not in ("ACTIVE", "UPDATING"):
            raise StoreError(f"DynamoDB table {self.table} is {table.get('TableStatus')}")
        if not any(i["IndexName"] == "GSI1" for i in table.get("GlobalSecondaryIndexes", [])):
            raise StoreError(f"DynamoDB table {self.table} has no GSI1 day index: it was not made by opsbot")

    # -- low-level helpers ------------------------------------------------------------------
    def _get(self, pk: str, sk: str = _META) -> dict[str, Any] | None:
        try:
            resp = self._client.get_item(
                TableName=self.table, Key=_item({"PK": pk, "SK": sk}), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"DynamoDB read failed: {_reason(exc)}") from exc
        item = resp.get("Item")
        return _plain(item) if item else None

    def _get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The ``META`` items of these partition keys (at most 100) in one request, by partition key."""
        return {pk: item for (pk, _), item in self._get_keys([(pk, _META) for pk in keys]).items()}

    def _get_keys(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """These items (PK, SK; at most 100) in one strongly consistent request (more only for what DynamoDB
        left unprocessed), by (PK, SK); those not there are absent."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        request = {self.table: {"Keys": [_item({"PK": pk, "SK": sk}) for pk, sk in keys], "ConsistentRead": True}}
        attempt = 0
        while request:
            try:
                resp = self._client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise StoreError(f"DynamoDB read failed: {_reason(exc)}") from exc
            for raw in resp.get("Responses", {}).get(self.table, []):
                item = _plain(raw)
                found[(item["PK"], item["SK"])] = item
            request = resp.get("UnprocessedKeys") or {}
            if request:
                self._backoff(attempt)
                attempt += 1
        return found

    def _write(self, operation: str, **kwargs: Any) -> bool:
        """One write (put_item, update_item, delete_item). False when its
        condition did not hold; StoreError for anything else that went wrong."""
        try:
            getattr(self._client, operation)(TableName=self.table, **kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise StoreError(f"DynamoDB write failed: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"DynamoDB write failed: {exc}") from exc
        return True

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction. None on success; on cancellation, the reason code per item."""
        reasons = self._transact_reasons(items)
        return None if reasons is None else [r.get("Code", "None") for r in reasons] or ["Unknown"]

    def _transact_reasons(self, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Run a transaction. None on success; on cancellation, DynamoDB's reason per item
        (``Code``, and ``Item`` where the item asked for ALL_OLD and its condition failed)."""
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return list(exc.response.get("CancellationReasons") or [])
            raise StoreError(f"DynamoDB write failed: {_reason(exc)}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"DynamoDB write failed: {exc}") from exc
        return None

    @staticmethod
    def _backoff(attempt: int) -> None:
        # Full jitter keeps racing writers from retrying in lockstep.
        time.sleep(random.uniform(0, min(0.1, 0.002 * (2 ** min(attempt, 10)))))

    def _totals_add(self, event_id: str, total: int, delta: int, count_delta: int, cleared: bool,
                    condition: str, condition_values: dict[str, Any], when: datetime, *,
                    new_event: bool) -> dict[str, Any]:
        """Add to the event's running totals atomically, if ``condition`` holds: the paid amount
        as read (compare-and-set), or the range it must be in for ``cleared`` to be right (writers
        that do not cross the total never conflict with each other). A failed condition returns
        the totals item as it is, so the writer can look again without reading it."""
        values = {
            ":delta": delta, ":count": count_delta, ":cleared": cleared, ":total": total,
            ":event": event_id, ":when": when.isoformat(), ":fmt": ITEM_FORMAT, ":one": 1, ":kept": new_event,
            **condition_values,
        }
        return {
            "Update": {
                "TableName": self.table,
                "Key": _item({"PK": f"EVENT#{event_id}", "SK": _META}),
                "UpdateExpression": (
                    "ADD paid_cents :delta, payment_count :count, record_count :one "
                    "SET payment_cleared = :cleared, total_cents = :total, event_id = :event, updated_at = :when, "
                    "fmt = :fmt, patrons_kept = if_not_exists(patrons_kept, :kept)"
                ),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": _item(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _patron_add(self, record: Payment, key: str, stands: int) -> dict[str, Any]:
        """One more record in the patron's totals for the event (PK=EVENT#<id> SK=PATRON#<key>, beside
        the event's totals); a payment's spelling becomes the name."""
        name = "patron = :name" if not record.is_reversal else "patron = if_not_exists(patron, :name)"
        return {
            "Update": {
                "TableName": self.table,
                "Key": _item({"PK": f"EVENT#{record.event_id}", "SK": f"{_PATRON}{key}"}),
                "UpdateExpression": (f"ADD total_cents :amount, payments :stands, records :one "
                                     f"SET {name}, patron_key = :key, #type = :type, fmt = :fmt"),
                "ExpressionAttributeNames": {"#type": "type"},
                "ExpressionAttributeValues": _item({":amount": record.amount_cents, ":stands": stands, ":one": 1,
                                                    ":name": record.patron, ":key": key, ":type": "patron",
                                                    ":fmt": ITEM_FORMAT}),
            }
        }

    def _put_new(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": _item(values),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    @staticmethod
    def _payment_values(p: Payment) -> dict[str, Any]:
        stamp = p.recorded_at.isoformat()
        return {
            "PK": f"EVENT#{p.event_id}",
            "SK": f"PAY#{stamp}#{p.payment_id}",
            "GSI1PK": f"DAY#{p.day}",
            "GSI1SK": f"{stamp}#{p.payment_id}",
            "type": "payment",
            "fmt": REFUND_FORMAT if p.is_refund or p.refunded_cents else ITEM_FORMAT,
            "payment_id": p.payment_id,
            "event_id": p.event_id,
            "recorded_at": stamp,
            "day": p.day,
            "patron": p.patron,
            "amount_cents": p.amount_cents,
            "method": p.method,
            "notes": p.notes,
            "logged_by": p.logged_by,
            "source": p.source,
            "kind": p.kind,
            "voids": p.voids,
            "voided_by": p.voided_by,
            "stripe_id": p.stripe_id,
            "payment_intent": p.payment_intent,
            "refunded_cents": p.refunded_cents or None,
        }

    def _pointer(self, p: Payment) -> dict[str, Any]:
        # No copy of the record here: a refund changes the payment item (refunded_cents), which a
        # copy would not follow. A payment found by id is two reads.
        return self._put_new({
            "PK": f"PAYMENT#{p.payment_id}", "SK": _META, "type": "pointer",
            "event_id": p.event_id, "payment_sk": f"PAY#{p.recorded_at.isoformat()}#{p.payment_id}",
        })

    def _stripe_pointer(self, p: Payment) -> list[dict[str, Any]]:
        """A Stripe payment's PaymentIntent pointer (a refund finds its payment through it). Unconditional:
        one PaymentIntent is paid by one Checkout Session, and the payment's own key makes it once."""
        if p.payment_intent is None or p.is_reversal:
            return []
        return [{"Put": {"TableName": self.table, "Item": _item({
            "PK": f"STRIPEPI#{p.payment_intent}", "SK": _META, "type": "pointer",
            "payment_id": p.payment_id, "event_id": p.event_id,
            "payment_sk": f"PAY#{p.recorded_at.isoformat()}#{p.payment_id}"})}}]

    def _idempotency(self, key: str, record: Payment, after: EventTotals | None) -> dict[str, Any]:
        """The key's item holds the outcome (the record, and the totals right after it when they
        are known exactly at write time): a replay is one read. A failed condition returns it."""
        values: dict[str, Any] = {
            "PK": f"IDEM#{key}", "SK": _META, "type": "idempotency", "payment_id": record.payment_id,
            "created_at": record.recorded_at.isoformat(), "record": _record_json(record),
        }
        if after is not None:
            values.update(paid_cents=after.paid_cents, payment_count=after.payment_count)
        put = self._put_new(values)
        put["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return put

    def _replay(self, key: str) -> RecordOutcome | None:
        idem = self._get(f"IDEM#{key}")
        return None if idem is None else self._replayed(key, idem)

    def _replayed(self, key: str, idem: dict[str, Any]) -> RecordOutcome:
        """The first outcome of ``key`` from its item (keys written before the item held the
        outcome: the record and the totals are read)."""
        if "record" in idem:
            payment = _payment(json.loads(idem["record"]))
        else:
            found = self.get_payment(idem["payment_id"])
            if found is None:
                raise StoreError(f"idempotency key {key} points at missing record {idem['payment_id']}")
            payment = found
        if "paid_cents" in idem:
            totals = EventTotals(payment.event_id, idem["paid_cents"], idem["payment_count"])
        else:
            totals = self._totals(payment.event_id)
        return RecordOutcome(payment, totals, replayed=True)

    @staticmethod
    def _same_payment(replay: RecordOutcome, payment: Payment, key: str) -> RecordOutcome:
        if replay.payment.fingerprint != payment.fingerprint:
            raise IdempotencyConflict(key, replay.payment)
        return replay

    def _totals(self, event_id: str) -> EventTotals:
        meta = self._get(f"EVENT#{event_id}")
        if meta is None:
            return EventTotals(event_id)
        return EventTotals(event_id, meta["paid_cents"], meta["payment_count"])

    @staticmethod
    def _unchanged(meta: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """The condition that the totals are still as read (compare-and-set)."""
        if meta is None:
            return "attribute_not_exists(paid_cents)", {}
        return "paid_cents = :seen_paid AND payment_count = :seen_count", {
            ":seen_paid": meta["paid_cents"], ":seen_count": meta["payment_count"]}

    def _cancelled(self, reasons: list[dict[str, Any]], at: int, pk: str) -> tuple[bool, dict[str, Any] | None]:
        """(whether item ``at`` of a cancelled transaction failed its condition, the item as it is):
        the item comes with the reason (ALL_OLD); read only when it did not."""
        reason = reasons[at] if at < len(reasons) else {}
        if reason.get("Code") != "ConditionalCheckFailed":
            return False, None
        item = reason.get("Item")
        return True, _plain(item) if item else self._get(pk)

    # -- writes ---------------------------------------------------------------------------
    # A ledger write reads the event's totals once, then writes in one transaction: first
    # compare-and-set (the totals exactly as read, so the outcome and the announcements are known
    # without reading again: two requests in all). Should another writer land in between, the
    # tries after that pin only the range the paid amount must be in (writers under the total never
    # conflict) and read the totals after the write. A cancelled transaction brings back the key's
    # item (a replay) and the totals as they are: nothing more is read to tell them apart.
    def record_payment(self, payment: Payment, *, total_cents: int, idempotency_key: str,
                       allow_over_total: bool = False, announce: Announce | None = None) -> RecordOutcome:
        amount = payment.amount_cents
        limit = total_cents - amount  # the most that may be paid before this payment
        # One read for the key and the totals: a replay costs that read alone.
        read = self._get_many([f"IDEM#{idempotency_key}", f"EVENT#{payment.event_id}"])
        if f"IDEM#{idempotency_key}" in read:
            return self._same_payment(self._replayed(idempotency_key, read[f"IDEM#{idempotency_key}"]), payment,
                                      idempotency_key)
        meta = read.get(f"EVENT#{payment.event_id}")
        for attempt in range(MAX_ATTEMPTS):
            paid, count = (meta["paid_cents"], meta["payment_count"]) if meta else (0, 0)
            if paid + amount > total_cents and not allow_over_total:
                replay = self._replay(idempotency_key)  # a retry of the payment that filled the event
                if replay is not None:
                    return self._same_payment(replay, payment, idempotency_key)
                raise OverTotal(paid, total_cents)
            exact = attempt == 0
            clears = paid + amount >= total_cents
            if exact:
                condition, values = self._unchanged(meta)
            elif not clears:
                condition, values = "attribute_not_exists(paid_cents) OR paid_cents < :limit", {":limit": limit}
            else:
                condition = "paid_cents >= :limit" if allow_over_total else "paid_cents = :limit"
                if limit <= 0:
                    condition = f"attribute_not_exists(paid_cents) OR {condition}"
                values = {":limit": limit}
            seen = EventTotals(payment.event_id, paid + amount, count + 1)
            stripe_items = self._stripe_pointer(payment)
            reasons = self._transact_reasons([
                self._idempotency(idempotency_key, payment, seen if exact else None),
                self._put_new(self._payment_values(payment)),
                self._pointer(payment),
                *stripe_items,
                self._totals_add(payment.event_id, total_cents, amount, 1, clears, condition, values,
                                 payment.recorded_at, new_event=meta is None),
                self._patron_add(payment, patron_key(payment.patron), int(amount > 0)),
                *self._announced(payment, seen, announce),
            ])
            if reasons is None:
                return RecordOutcome(payment, seen) if exact else self._written(payment, seen, announce)
            taken, idem = self._cancelled(reasons, 0, f"IDEM#{idempotency_key}")
            if taken and idem is not None:
                return self._same_payment(self._replayed(idempotency_key, idem), payment, idempotency_key)
            moved, meta_now = self._cancelled(reasons, 3 + len(stripe_items), f"EVENT#{payment.event_id}")
            if not moved:  # a conflict with another transaction in flight: read again after a pause
                self._backoff(attempt)
                meta_now = self._get(f"EVENT#{payment.event_id}")
            elif not exact:  # someone else moved the paid amount across the total
                self._backoff(attempt)
            meta = meta_now
        raise StoreError(f"too much contention recording a payment on {payment.event_id}; try again")

    def void_payment(self, payment_id: str, void: Payment, *, announce: Announce | None = None,
                     original: Payment | None = None) -> RecordOutcome:
        key = void_key(payment_id)
        given = original
        for attempt in range(MAX_ATTEMPTS):
            # The payment as the caller just read it, on the first try; the write checks it is still so.
            original = given if attempt == 0 and given is not None else self.get_payment(payment_id)
            if original is None:
                raise PaymentNotFound(payment_id)
            if original.voided_by is not None:  # its void and the void's key were written together
                replay = self._replay(key)
                if replay is not None:
                    return replace(replay, acted_on=original)
            if original.left_cents <= 0:
                raise NothingLeft(original, original.amount_cents)
            void = replace(void, amount_cents=-original.left_cents)  # what Stripe refunded is out already
            after = replace(original, voided_by=void.payment_id)
            read, meta = self._totals_read_with(original) if attempt == 0 else (False, None)
            items, seen, exact = self._reversal_items(original, void, key, -1, announce, after, exact=attempt == 0,
                                                      meta=meta, meta_read=read)
            failed = self._transact([
                self._payment_update(original, "SET voided_by = :void", {":void": void.payment_id}), *items])
            if failed is None:
                return RecordOutcome(void, seen, acted_on=after) if exact else self._written(void, seen, announce,
                                                                                             after)
            self._backoff(attempt)
        raise StoreError(f"too much contention voiding {payment_id}; try again")

    def refund_payment(self, payment_id: str, record: Payment, *, idempotency_key: str,
                       announce: Announce | None = None) -> RecordOutcome:
        for attempt in range(MAX_ATTEMPTS):
            replay = self._replay(idempotency_key)
            if replay is not None:
                if replay.payment.fingerprint != record.fingerprint:
                    raise IdempotencyConflict(idempotency_key, replay.payment)
                return replace(replay, acted_on=self.get_payment(payment_id))
            original = self.get_payment(payment_id)
            if original is None:
                raise PaymentNotFound(payment_id)
            if original.voided_by is not None:
                raise PaymentVoided(original)
            if record.kind == REFUND_FAILED and (record.stripe_id is None
                                                 or self._get(f"IDEM#{refund_key(record.stripe_id)}") is None):
                raise NothingLeft(original, record.amount_cents)  # that refund was never recorded: nothing to give back
            refunded = original.refunded_cents - record.amount_cents
            if not 0 <= refunded <= original.amount_cents:
                raise NothingLeft(original, abs(record.amount_cents))
            after = replace(original, refunded_cents=refunded)
            counted = int(after.left_cents > 0) - int(original.left_cents > 0)  # counted while something is left
            items, seen, exact = self._reversal_items(original, record, idempotency_key, counted, announce, after,
                                                      exact=attempt == 0)
            failed = self._transact([
                self._payment_update(original, "SET refunded_cents = :refunded, fmt = :fmt",
                                     {":refunded": refunded, ":fmt": REFUND_FORMAT}), *items])
            if failed is None:
                return RecordOutcome(record, seen, acted_on=after) if exact else self._written(record, seen, announce,
                                                                                               after)
            self._backoff(attempt)  # another change to this payment or its event's totals landed: look again
        raise StoreError(f"too much contention recording a refund of {payment_id}; try again")

    def _payment_update(self, original: Payment, update: str, values: dict[str, Any]) -> dict[str, Any]:
        """An update of a payment item, on condition that it is still as read: not voided, the same refunds."""
        condition = "attribute_exists(PK) AND attribute_not_exists(voided_by) AND "
        if original.refunded_cents:
            condition += "refunded_cents = :seen_refunded"
        else:
            condition += "(attribute_not_exists(refunded_cents) OR refunded_cents = :seen_refunded)"
        return {"Update": {
            "TableName": self.table,
            "Key": _item({"PK": f"EVENT#{original.event_id}",
                          "SK": f"PAY#{original.recorded_at.isoformat()}#{original.payment_id}"}),
            "UpdateExpression": update, "ConditionExpression": condition,
            "ExpressionAttributeValues": _item({**values, ":seen_refunded": original.refunded_cents}),
        }}

    def _reversal_items(self, original: Payment, record: Payment, key: str, count_delta: int,
                        announce: Announce | None, after: Payment, *, exact: bool,
                        meta: dict[str, Any] | None = None, meta_read: bool = False
                        ) -> tuple[list[dict[str, Any]], EventTotals, bool]:
        """The rest of a void's or a refund's transaction: the record, its pointer, its key, the event's
        totals, the patron's totals and its announcement; the totals it expects after, and whether they
        are exact. ``exact``: the totals must be as read (compare-and-set: nothing to read after the
        write); else the range that keeps ``cleared`` right, as a writer overtaken once does. ``meta_read``:
        ``meta`` is the event's totals item as read already (None: there is none)."""
        if not meta_read:
            meta = self._get(f"EVENT#{original.event_id}")
        paid, count, total = (meta["paid_cents"], meta["payment_count"], meta.get("total_cents") or 0) \
            if meta else (0, 0, 0)
        threshold = total - record.amount_cents  # paid must reach this for the event to be (stay) cleared
        clears = paid + record.amount_cents >= total
        if exact:
            condition, values = self._unchanged(meta)
        else:
            condition, values = ("paid_cents >= :limit" if clears else "paid_cents < :limit"), {":limit": threshold}
        seen = EventTotals(original.event_id, paid + record.amount_cents, count + count_delta)
        return [
            self._put_new(self._payment_values(record)),
            self._pointer(record),
            self._totals_add(original.event_id, total, record.amount_cents, count_delta, clears, condition, values,
                             record.recorded_at, new_event=meta is None),
            self._idempotency(key, record, seen if exact else None),
            # A reversal counts for the patron of the payment it acts on.
            self._patron_add(record, patron_key(original.patron), count_delta),
            *self._announced(record, seen, announce, after),
        ], seen, exact

    def _announced(self, record: Payment, seen: EventTotals, announce: Announce | None,
                   acted_on: Payment | None = None) -> list[dict[str, Any]]:
        """The announcement's items for a ledger write, from the totals seen before it plus the write."""
        if announce is None:
            return []
        return self._announcement_items(announce(RecordOutcome(record, seen, acted_on=acted_on)))

    def _written(self, record: Payment, seen: EventTotals, announce: Announce | None,
                 acted_on: Payment | None = None) -> RecordOutcome:
        """The outcome of a write made under contention: the totals read after it. When another writer
        landed at the same moment they differ from ``seen``; the entries not tried yet are corrected,
        so the audit line and the email say what the receipt says."""
        totals = self._totals(record.event_id)
        outcome = RecordOutcome(record, totals, acted_on=acted_on)
        if announce is not None and totals != seen:
            for entry in announce(outcome).entries:
                self._write("update_item", Key=_item({"PK": f"OUTBOX#{entry.entry_id}", "SK": _META}),
                            UpdateExpression="SET facts = :facts",
                            ConditionExpression="#state = :pending AND attempts = :zero",
                            ExpressionAttributeNames={"#state": "state"},
                            ExpressionAttributeValues=_item({":facts": json.dumps(entry.facts), ":pending": PENDING,
                                                             ":zero": 0}))
        return outcome

    # -- claims ------------------------------------------------------------------------------
    def claim(self, key: str, *, holder: str, now: datetime, lease: timedelta) -> bool:
        return self._write(
            "put_item",
            Item=_item({"PK": f"CLAIM#{key}", "SK": _META, "type": "claim", "holder": holder, "state": "held",
                        "expires_at": int((now + lease).timestamp())}),
            ConditionExpression="attribute_not_exists(PK) OR (#state = :held AND expires_at < :now)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=_item({":held": "held", ":now": int(now.timestamp())}),
        )

    def _update_claim(self, key: str, holder: str, update: str | None) -> None:
        common = {
            "Key": _item({"PK": f"CLAIM#{key}", "SK": _META}),
            "ConditionExpression": "holder = :holder AND #state = :held",
            "ExpressionAttributeNames": {"#state": "state"},
        }
        # A claim held by someone else, or already done, is left as it is.
        if update is None:
            self._write("delete_item", **common, ExpressionAttributeValues=_item({":holder": holder, ":held": "held"}))
        else:
            self._write("update_item", **common, UpdateExpression="SET #state = :done",
                        ExpressionAttributeValues=_item({":holder": holder, ":held": "held", ":done": update}))

    def complete_claim(self, key: str, *, holder: str) -> None:
        self._update_claim(key, holder, "done")

    def release_claim(self, key: str, *, holder: str) -> None:
        self._update_claim(key, holder, None)

    # -- records ------------------------------------------------------------------------------------
    def put_record(self, collection: str, group: str, key: str, data: dict[str, Any], *,
                   if_absent: bool = False, announce: Announcement | None = None, fold: Fold | None = None) -> bool:
        item = _record_item((collection, group, key), data)
        extra = {"ConditionExpression": "attribute_not_exists(PK)"} if if_absent else {}
        if fold is not None:
            return self._put_folded(item, extra, announce, fold)
        if not announce:
            return self._write("put_item", Item=item, **extra)
        failed = self._transact([{"Put": {"TableName": self.table, "Item": item, **extra}},
                                 *self._announcement_items(announce)])
        if failed is None:
            return True
        if if_absent and failed[0] == "ConditionalCheckFailed":
            return False
        raise StoreError(f"DynamoDB write failed: transaction cancelled ({', '.join(failed)})")

    def _put_folded(self, item: dict[str, Any], extra: dict[str, Any], announce: Announcement | None,
                    fold: Fold) -> bool:
        """The record, its summary compare-and-set on the summary's version (``ver``: read, applied, written
        one higher; not there: written only if still not there) and the announcement, in one transaction;
        read and applied again when another write changed the summary meanwhile."""
        announcing = self._announcement_items(announce) if announce else []
        for attempt in range(MAX_ATTEMPTS):
            current = self._get(*_record_address(fold.at))
            summary = fold.apply(json.loads(current["data"]) if current else None)
            writes = [{"Put": {"TableName": self.table, "Item": item, **extra}}]
            if summary is not None:
                version = int(current.get("ver", 0)) if current else 0
                if current is None:
                    condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
                elif "ver" in current:
                    condition = {"ConditionExpression": "#ver = :ver", "ExpressionAttributeNames": {"#ver": "ver"},
                                 "ExpressionAttributeValues": _item({":ver": version})}
                else:
                    condition = {"ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(#ver)",
                                 "ExpressionAttributeNames": {"#ver": "ver"}}
                summary_item = _record_item(fold.at, summary, version=version + 1)
                writes.append({"Put": {"TableName": self.table, "Item": summary_item, **condition}})
            failed = self._transact([*writes, *announcing])
            if failed is None:
                return True
            if extra and failed[0] == "ConditionalCheckFailed":
                return False  # the record is there: nothing was written, folded or announced
            if summary is None or (failed[1] not in ("ConditionalCheckFailed", "TransactionConflict")
                                   and "TransactionConflict" not in failed):
                raise StoreError(f"DynamoDB write failed: transaction cancelled ({', '.join(failed)})")
            self._backoff(attempt)  # another write changed the summary: read it and apply again
        raise StoreError(f"DynamoDB write failed: the summary {fold.at} kept changing ({MAX_ATTEMPTS} tries)")

    def get_record(self, collection: str, group: str, key: str) -> dict[str, Any] | None:
        item = self._get(*_record_address((collection, group, key)))
        return json.loads(item["data"]) if item else None

    def read_keys(self, *, events: Iterable[str] = (), records: Sequence[RecordKey] = ()
                  ) -> tuple[dict[str, EventTotals], dict[RecordKey, dict[str, Any]]]:
        ids = list(dict.fromkeys(events))
        addresses = list(dict.fromkeys(records))
        keys = [(f"EVENT#{i}", _META) for i in ids] + [_record_address(at) for at in addresses]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(keys), 100):  # BatchGetItem takes at most 100 keys
            found.update(self._get_keys(keys[start : start + 100]))
        totals = {}
        for event_id in ids:
            meta = found.get((f"EVENT#{event_id}", _META))
            if meta is not None:
                totals[event_id] = EventTotals(event_id, meta["paid_cents"], meta["payment_count"])
        documents = {at: json.loads(found[_record_address(at)]["data"])
                     for at in addresses if _record_address(at) in found}
        return totals, documents

    def list_records(self, collection: str, group: str, *, newest_first: bool = False,
                     limit: int | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": _item({":pk": _record_address((collection, group, ""))[0]}),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if limit is not None:
            query["Limit"] = limit
        items = self._query(**query, _max_items=limit)
        return [json.loads(i["data"]) for i in items]

    def delete_record(self, collection: str, group: str, key: str) -> None:
        pk, sk = _record_address((collection, group, key))
        self._write("delete_item", Key=_item({"PK": pk, "SK": sk}))

    # -- audit log ---------------------------------------------------------------------------------
    def add_audit(self, entry: AuditEntry) -> None:
        # The entry id is unique per day and time: a retry of the same entry is a no-op.
        self._write("put_item", Item=_audit_item(entry), ConditionExpression="attribute_not_exists(PK)")

    def announce(self, announcement: Announcement) -> None:
        items = self._announcement_items(announcement, keep_existing=True)
        for start in range(0, len(items), 100):  # TransactWriteItems takes at most 100 items
            chunk = items[start : start + 100]
            failed = self._transact(chunk)
            if failed is not None and "ConditionalCheckFailed" in failed:
                # Some were written before (a redelivery): write the others, keep those as they are.
                chunk = [item for item, code in zip(chunk, failed, strict=False) if code != "ConditionalCheckFailed"]
                failed = self._transact(chunk) if chunk else None
            if failed is not None:
                raise StoreError(f"DynamoDB write failed: transaction cancelled ({', '.join(failed)})")

    def _announcement_items(self, announcement: Announcement, *, keep_existing: bool = False
                            ) -> list[dict[str, Any]]:
        """Puts for a transaction. Beside a ledger write they are unconditional (the write's own
        idempotency item already makes it once; a condition here could only cancel the record);
        on their own (``keep_existing``) an item already there is kept."""
        items = [_audit_item(announcement.audit)] if announcement.audit is not None else []
        items += [_outbox_item(e) for e in announcement.entries]
        condition = {"ConditionExpression": "attribute_not_exists(PK)"} if keep_existing else {}
        return [{"Put": {"TableName": self.table, "Item": item, **condition}} for item in items]

    # -- the outbox ---------------------------------------------------------------------------------
    def due_entries(self, lane: str, now: datetime, limit: int) -> list[OutboxEntry]:
        items = self._query(IndexName="GSI1", KeyConditionExpression="GSI1PK = :lane AND GSI1SK <= :now",
                            ExpressionAttributeValues=_item({":lane": f"OUTBOX#{lane}",
                                                             ":now": _due_key(now, _LAST)}),
                            Limit=limit, _max_items=limit)
        return [_outbox_entry(i) for i in items]

    def _update_entries(self, updates: Sequence[tuple[str, str, str, dict[str, Any]]]) -> list[str]:
        """Conditional updates of entries, ``(entry id, update, condition, values)`` each; the ids
        whose condition held, in order. One UpdateItem each (a write unit each: a transaction
        would cost two and cancel all on one failed condition), several at a time."""
        if len(updates) <= 1:
            return [u[0] for u in updates if self._update_entry(*u)]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=UPDATE_WORKERS, thread_name_prefix="dynamo-outbox")
        held = list(self._pool.map(lambda u: self._update_entry(*u), updates))
        return [u[0] for u, ok in zip(updates, held, strict=True) if ok]

    def _update_entry(self, entry_id_: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional update of an entry; False when its condition did not hold."""
        return self._write("update_item", **self._entry_update(entry_id_, update, condition, values))

    def _entry_update(self, entry_id_: str, update: str, condition: str, values: dict[str, Any]) -> dict[str, Any]:
        return {"Key": _item({"PK": f"OUTBOX#{entry_id_}", "SK": _META}), "UpdateExpression": update,
                "ConditionExpression": condition, "ExpressionAttributeNames": _names(update, condition),
                "ExpressionAttributeValues": _item(values)}

    def _update_together(self, updates: Sequence[tuple[str, str, str, dict[str, Any]]]) -> list[str]:
        """Conditional updates of a write's few entries in one request each 100 (one alone: an
        UpdateItem, half a transaction's write units); the ids whose condition held, in order. A
        transaction is all or nothing: the items whose condition failed (its CancellationReasons
        say which) are left out and the others tried again; a conflict with another transaction
        in flight is tried again after a pause, a few times, then left (the entries stay due)."""
        held: set[str] = set()
        for start in range(0, len(updates), 100):  # TransactWriteItems takes at most 100 items
            left = list(updates[start : start + 100])
            for attempt in range(TOGETHER_TRIES):
                if len(left) == 1:
                    held |= {left[0][0]} if self._update_entry(*left[0]) else set()
                    break
                reasons = self._transact_reasons([{"Update": {"TableName": self.table, **self._entry_update(*u)}}
                                                  for u in left])
                if reasons is None:
                    held |= {u[0] for u in left}
                    break
                failed = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
                if not failed:
                    self._backoff(attempt)
                left = [u for i, u in enumerate(left) if i not in failed]
                if not left:
                    break
        return [u[0] for u in updates if u[0] in held]

    def claim_entries(self, entries: Sequence[OutboxEntry], *, holder: str, attempt: str, now: datetime,
                      lease: timedelta, under_way: bool = False) -> list[OutboxEntry]:
        until = now + lease
        updates = []
        for e in entries:
            sets = ["#state = :held", "holder = :holder", "attempts = :next", "due_us = :until", "GSI1SK = :key"]
            values = {":held": HELD, ":holder": holder, ":next": e.attempts + 1, ":until": _micros(until),
                      ":key": _due_key(until, e.entry_id), ":now": _micros(now), ":seen": e.attempts,
                      ":doubt": e.in_doubt}
            if not e.in_doubt:  # an entry in doubt keeps the claim id of the call that may have gone through
                sets.append("#attempt = :attempt")
                values[":attempt"] = attempt
            if under_way:
                sets.append("in_doubt = :yes")
                values[":yes"] = True
            updates.append((e.entry_id, "SET " + ", ".join(sets),
                            "due_us <= :now AND attempts = :seen AND in_doubt = :doubt", values))
        taken = set(self._update_entries(updates))
        return [e for e in entries if e.entry_id in taken]

    def claim_fresh(self, claims: Sequence[Claim], *, holder: str, now: datetime, lease: timedelta
                    ) -> list[OutboxEntry]:
        until = now + lease
        updates = []
        for c in claims:
            e = c.entry
            updates.append((
                e.entry_id,
                "SET #state = :held, holder = :holder, attempts = :one, due_us = :until, GSI1SK = :key, "
                "#attempt = :attempt, in_doubt = :doubt",
                "#state = :pending AND attempts = :zero AND in_doubt = :no AND due_us <= :now AND record_id = :record "
                "AND #event = :event AND #target = :target AND created_at = :created AND facts = :facts",
                {":held": HELD, ":holder": holder, ":one": 1, ":until": _micros(until),
                 ":key": _due_key(until, e.entry_id), ":attempt": c.attempt, ":doubt": c.under_way,
                 ":pending": PENDING, ":zero": 0, ":no": False, ":now": _micros(now), ":record": e.record_id,
                 ":event": e.event, ":target": e.target,
                 ":created": e.created_at.isoformat(), ":facts": json.dumps(e.facts)}))
        taken = set(self._update_together(updates))
        return [c.entry for c in claims if c.entry.entry_id in taken]

    def mark_in_doubt(self, entry_ids: Sequence[str], *, holder: str, attempt: str) -> None:
        self._update_entries([(entry_id_, "SET in_doubt = :yes, #attempt = :attempt",
                               "holder = :holder AND #state = :held",
                               {":yes": True, ":attempt": attempt, ":holder": holder, ":held": HELD})
                              for entry_id_ in entry_ids])

    def settle_entries(self, settled: Sequence[Settled], *, holder: str, now: datetime,
                       together: bool = False) -> list[str]:
        updates = []
        held = {":holder": holder, ":held": HELD}
        for s in settled:
            if s.state == DELIVERED:
                update = ("SET #state = :state, #result = :result, in_doubt = :no "
                          "REMOVE due_us, GSI1PK, GSI1SK, last_error")
                values = {":state": DELIVERED, ":result": json.dumps(s.result or {}), ":no": False}
            elif s.state == PENDING:
                assert s.due is not None, "a retry needs its due time"
                update = "SET #state = :state, due_us = :due, GSI1SK = :key, last_error = :error, in_doubt = :doubt"
                values = {":state": PENDING, ":due": _micros(s.due), ":key": _due_key(s.due, s.entry_id),
                          ":error": s.error or "", ":doubt": s.in_doubt}
            else:
                update = ("SET #state = :state, parked_at = :at, GSI1PK = :parked, GSI1SK = :key, "
                          "last_error = :error, in_doubt = :doubt REMOVE due_us")
                values = {":state": PARKED, ":at": now.astimezone(UTC).isoformat(), ":parked": _PARKED,
                          ":key": _due_key(now, s.entry_id), ":error": s.error or "", ":doubt": s.in_doubt}
            updates.append((s.entry_id, update, "holder = :holder AND #state = :held", {**values, **held}))
        done = set(self._update_together(updates) if together else self._update_entries(updates))
        return [s.entry_id for s in settled if s.entry_id in done]

    def get_entry(self, entry_id_: str) -> OutboxEntry | None:
        item = self._get(f"OUTBOX#{entry_id_}")
        return _outbox_entry(item) if item else None

    def parked_entries(self, limit: int) -> list[OutboxEntry]:
        items = self._query(IndexName="GSI1", KeyConditionExpression="GSI1PK = :parked",
                            ExpressionAttributeValues=_item({":parked": _PARKED}), Limit=limit, _max_items=limit)
        return [_outbox_entry(i) for i in items]

    def requeue_parked(self, now: datetime, limit: int) -> int:
        count = 0
        for entry in self.parked_entries(limit):
            if self._update_entry(
                entry.entry_id, "SET #state = :pending, due_us = :due, GSI1PK = :lane, GSI1SK = :key, "
                                "attempts = :zero, in_doubt = :no REMOVE parked_at",
                "#state = :parked",
                {":pending": PENDING, ":due": _micros(now), ":lane": f"OUTBOX#{entry.lane}",
                 ":key": _due_key(now, entry.entry_id), ":zero": 0, ":no": False, ":parked": PARKED}):
                count += 1
        return count

    def day_audit(self, day: str) -> list[AuditEntry]:
        items = self._query(KeyConditionExpression="PK = :pk",
                            ExpressionAttributeValues=_item({":pk": f"AUDIT#{day}"}), ConsistentRead=True)
        return [AuditEntry(entry_id=i["entry_id"], at=datetime.fromisoformat(i["at"]), day=i["day"],
                           actor=i["actor"], action=i["action"], result=i["result"], detail=json.loads(i["detail"]))
                for i in items]

    # -- message refs ---------------------------------------------------------------------------
    def message_ref(self, record_id: str) -> tuple[str, str] | None:
        entry = self.get_entry(entry_id(record_id, AUDIT))
        if entry is not None:
            return lone_line(entry)
        item = self._get(f"MSG#{record_id}")  # a line posted before the outbox existed
        return (item["channel"], item["ts"]) if item else None

    # -- reads --------------------------------------------------------------------------------
    def replay(self, idempotency_key: str) -> RecordOutcome | None:
        return self._replay(idempotency_key)

    def stripe_payment(self, payment_intent: str) -> Payment | None:
        return self._pointed_payment(f"STRIPEPI#{payment_intent}")

    def get_payment(self, payment_id: str) -> Payment | None:
        return self._pointed_payment(f"PAYMENT#{payment_id}")

    def _pointed_payment(self, pointer_key: str) -> Payment | None:
        """The payment a pointer item (by id, by PaymentIntent) names, if both are there; its event's totals
        are read in the same request and kept for a void of it (``_totals_read_with``)."""
        self._read_with_totals.last = None
        pointer = self._get(pointer_key)
        if pointer is None:
            return None
        event_pk = f"EVENT#{pointer['event_id']}"
        items = self._get_keys([(event_pk, pointer["payment_sk"]), (event_pk, _META)])
        item = items.get((event_pk, pointer["payment_sk"]))
        if item is None:
            return None
        payment = _payment(item)
        self._read_with_totals.last = (payment, items.get((event_pk, _META)))
        return payment

    def _totals_read_with(self, payment: Payment) -> tuple[bool, dict[str, Any] | None]:
        """(whether this thread read ``payment`` last, and its event's totals item read with it)."""
        last = getattr(self._read_with_totals, "last", None)
        self._read_with_totals.last = None
        if last is None or last[0] != payment:
            return False, None
        return True, last[1]

    def owed(self, totals: Mapping[str, int]) -> int:
        paid = self.event_totals(totals)
        return sum(max(total - (paid[e].paid_cents if e in paid else 0), 0) for e, total in totals.items())

    def event_totals(self, event_ids: Iterable[str]) -> dict[str, EventTotals]:
        return self.read_keys(events=event_ids)[0]

    def _query(self, _max_items: int | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs["TableName"] = self.table
        while _max_items is None or len(items) < _max_items:
            try:
                resp = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise StoreError(f"DynamoDB query failed: {_reason(exc)}") from exc
            items.extend(_plain(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return items if _max_items is None else items[:_max_items]

    def event_payments(self, event_id: str, *, after: str | None = None, limit: int | None = None
                       ) -> list[Payment]:
        if after is None:
            condition, values = "PK = :pk AND begins_with(SK, :pay)", {":pay": "PAY#"}
        else:
            # BETWEEN takes its ends: the record at ``after`` comes back first and is dropped below.
            condition, values = "PK = :pk AND SK BETWEEN :after AND :end", {":after": f"PAY#{after}", ":end": "PAY$"}
        items = self._query(
            KeyConditionExpression=condition,
            ExpressionAttributeValues=_item({":pk": f"EVENT#{event_id}", **values}),
            ConsistentRead=True,
            **self._page_limit(after, limit),
        )
        return _after(items, "SK", None if after is None else f"PAY#{after}", limit)

    def event_overview(self, event_id: str, *, recent: int) -> EventOverview:
        # The totals and the patrons' items sort before the records (META < PATRON#... < PAY#...): one
        # query reads them, another the newest records backwards.
        head = self._query(KeyConditionExpression="PK = :pk AND SK < :pay",
                           ExpressionAttributeValues=_item({":pk": f"EVENT#{event_id}", ":pay": "PAY#"}),
                           ConsistentRead=True)
        meta = next((i for i in head if i["SK"] == _META), None)
        if meta is not None and not meta.get("patrons_kept"):
            return self._overview_from_records(event_id, meta, recent)  # an event from before they were kept
        newest = self._query(KeyConditionExpression="PK = :pk AND begins_with(SK, :pay)",
                             ExpressionAttributeValues=_item({":pk": f"EVENT#{event_id}", ":pay": "PAY#"}),
                             ConsistentRead=True, ScanIndexForward=False, Limit=max(recent, 1), _max_items=recent)
        patrons = tuple(PatronTotal(i["patron_key"], stored_name(i["patron"]), i["total_cents"], i["payments"],
                                    i["records"]) for i in head if i["SK"].startswith(_PATRON))
        totals = EventTotals(event_id, meta["paid_cents"], meta["payment_count"]) if meta else EventTotals(event_id)
        return EventOverview(totals, meta.get("record_count", 0) if meta else 0,
                             tuple(_payment(i) for i in reversed(newest)), patrons)

    def _overview_from_records(self, event_id: str, meta: dict[str, Any], recent: int) -> EventOverview:
        records = self.event_payments(event_id)
        return EventOverview(EventTotals(event_id, meta["paid_cents"], meta["payment_count"]), len(records),
                             tuple(records[-recent:] if recent else ()), tuple(patron_totals(records)))

    def day_payments(self, day: str, *, after: str | None = None, limit: int | None = None) -> list[Payment]:
        condition, values = "GSI1PK = :day", {":day": f"DAY#{day}"}
        if after is not None:
            condition += " AND GSI1SK > :after"
            values[":after"] = after
        items = self._query(IndexName="GSI1", KeyConditionExpression=condition,
                            ExpressionAttributeValues=_item(values), **self._page_limit(None, limit))
        return _after(items, "GSI1SK", after, limit)

    @staticmethod
    def _page_limit(after: str | None, limit: int | None) -> dict[str, Any]:
        """Query arguments that read at most ``limit`` records (one more when the first may be ``after`` itself)."""
        if limit is None:
            return {}
        wanted = limit + (1 if after is not None else 0)
        return {"Limit": max(wanted, 1), "_max_items": wanted}


def _after(items: list[dict[str, Any]], sort_key: str, after: str | None, limit: int | None) -> list[Payment]:
    """The records of a query past ``after`` (its sort key's value), at most ``limit``."""
    records = [_payment(i) for i in items if after is None or i[sort_key] > after]
    return records if limit is None else records[:limit]


_NAMES = {"#state": "state", "#result": "result", "#attempt": "attempt", "#event": "event", "#target": "target"}


def _names(*expressions: str) -> dict[str, str]:
    """The attribute-name placeholders the expressions use (DynamoDB refuses unused ones)."""
    return {k: v for k, v in _NAMES.items() if any(k in e for e in expressions)}


def _record_address(at: RecordKey) -> tuple[str, str]:
    """A record's (PK, SK): a group's records share a partition, in key order."""
    collection, group, key = at
    return f"REC#{collection}#{group}", key


def _record_item(at: RecordKey, data: dict[str, Any], *, version: int | None = None) -> dict[str, Any]:
    pk, sk = _record_address(at)
    return _item({"PK": pk, "SK": sk, "type": "record", "fmt": ITEM_FORMAT, "data": json.dumps(data), "ver": version})


def _micros(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1_000_000))


def _due_key(moment: datetime, entry_id_: str) -> str:
    """An index sort key in time order: UTC, fixed width."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}#{entry_id_}"


def _audit_item(entry: AuditEntry) -> dict[str, Any]:
    return _item({
        "PK": f"AUDIT#{entry.day}", "SK": f"{entry.at.isoformat()}#{entry.entry_id}", "type": "audit",
        "fmt": ITEM_FORMAT, "entry_id": entry.entry_id, "at": entry.at.isoformat(), "day": entry.day,
        "actor": entry.actor, "action": entry.action, "result": entry.result, "detail": json.dumps(entry.detail),
    })


def _outbox_item(e: OutboxEntry) -> dict[str, Any]:
    values: dict[str, Any] = {
        "PK": f"OUTBOX#{e.entry_id}", "SK": _META, "type": "outbox", "fmt": ITEM_FORMAT, "entry_id": e.entry_id,
        "record_id": e.record_id, "event": e.event, "target": e.target, "lane": e.lane, "facts": json.dumps(e.facts),
        "created_at": e.created_at.isoformat(), "state": e.state, "attempts": e.attempts, "in_doubt": e.in_doubt,
        "holder": e.holder, "attempt": e.attempt, "last_error": e.last_error,
        "result": None if e.result is None else json.dumps(e.result),
    }
    if e.due_at is not None:
        values.update(due_us=_micros(e.due_at), GSI1PK=f"OUTBOX#{e.lane}", GSI1SK=_due_key(e.due_at, e.entry_id))
    return _item(values)


def _outbox_entry(item: dict[str, Any]) -> OutboxEntry:
    due = item.get("due_us")
    return OutboxEntry(
        entry_id=item["entry_id"], record_id=item["record_id"], event=item["event"], target=item["target"],
        facts=json.loads(item["facts"]), created_at=datetime.fromisoformat(item["created_at"]), state=item["state"],
        due_at=None if due is None else datetime.fromtimestamp(due / 1_000_000, UTC),
        attempts=int(item.get("attempts", 0)), holder=item.get("holder"), attempt=item.get("attempt"),
        in_doubt=bool(item.get("in_doubt", False)),
        result=json.loads(item["result"]) if item.get("result") else None, last_error=item.get("last_error") or None)


def _record_json(p: Payment) -> str:
    """A record as its idempotency item keeps a copy of it, as first written (``_payment`` reads it back)."""
    return json.dumps({
        "payment_id": p.payment_id, "event_id": p.event_id, "patron": p.patron, "amount_cents": p.amount_cents,
        "method": p.method, "notes": p.notes, "logged_by": p.logged_by, "recorded_at": p.recorded_at.isoformat(),
        "day": p.day, "source": p.source, "kind": p.kind, "voids": p.voids, "voided_by": p.voided_by,
        "stripe_id": p.stripe_id, "payment_intent": p.payment_intent, "refunded_cents": p.refunded_cents,
    })


def _payment(item: dict[str, Any]) -> Payment:
    return Payment(
        payment_id=item["payment_id"], event_id=item["event_id"], patron=item["patron"],
        amount_cents=item["amount_cents"], method=item["method"], notes=item.get("notes", ""),
        logged_by=item["logged_by"], recorded_at=datetime.fromisoformat(item["recorded_at"]), day=item["day"],
        source=item.get("source", "slack"), kind=item.get("kind", "payment"), voids=item.get("voids"),
        voided_by=item.get("voided_by"), stripe_id=item.get("stripe_id"), payment_intent=item.get("payment_intent"),
        refunded_cents=item.get("refunded_cents", 0),
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip()
    return str(exc)
