"""One contract, three stores: in memory (service tests), SQLite (embedded default) and DynamoDB (moto server)."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.domain import REFUND, REFUND_FAILED, AuditEntry, EventOverview, EventTotals, Payment, RecordOutcome
from bot.core.outbox import (
    AUDIT,
    DELIVERED,
    EMAIL,
    EMAIL_LANE,
    HELD,
    PARKED,
    PAYMENT_RECORDED,
    PENDING,
    RECEIPT,
    REFUSED,
    SLACK_LANE,
    Announcement,
    Claim,
    OutboxEntry,
    Settled,
    new_entry,
)
from bot.core.patrons import patron_totals
from bot.core.ports import (
    SUMMARIES_KEPT,
    Fold,
    IdempotencyConflict,
    NothingLeft,
    OverTotal,
    PaymentNotFound,
    PaymentVoided,
    StoreError,
    refund_failed_key,
    refund_key,
)
from infra.dynamo_store import DynamoStore
from infra.memory_store import MemoryStore
from infra.sqlite_store import SqliteStore
from tests.stores import STORE_KINDS, fresh_store, make_dynamo_store

T0 = datetime(2026, 6, 1, 19, 30, tzinfo=UTC)
_ids = itertools.count(1)
_ids_lock = threading.Lock()


def payment(event_id="gala", amount=10_000, *, at=T0, day="2026-06-01", patron="Ana Ruiz", kind="payment",
            voids=None, method="cash") -> Payment:
    with _ids_lock:
        n = next(_ids)
    return Payment(
        payment_id=f"{'void' if kind == 'void' else 'pay'}_{n:08d}", event_id=event_id, patron=patron,
        amount_cents=amount, method=method, notes="", logged_by="U0CREW0001", recorded_at=at, day=day,
        kind=kind, voids=voids,
    )


def void_for(original: Payment, at=None) -> Payment:
    at = at or original.recorded_at + timedelta(minutes=5)
    return payment(original.event_id, -original.amount_cents, at=at, day=original.day, patron=original.patron,
                   kind="void", voids=original.payment_id)


@pytest.fixture(params=["memory", *STORE_KINDS])
def store(request, tmp_path):
    """Every store the Store port has, each fresh and initialised."""
    return fresh_store(request.param, request, tmp_path)


def test_init_schema_is_idempotent_and_ping_answers(store):
    store.init_schema()
    store.init_schema()
    store.ping()


def test_ping_without_schema_says_to_init(tmp_path, moto_endpoint):  # noqa: F811
    for empty in (MemoryStore(), SqliteStore(tmp_path / "empty.db"),
                  DynamoStore("opsbot-never-made", region="us-west-2", endpoint_url=moto_endpoint)):
        with pytest.raises(StoreError, match="init-store"):
            empty.ping()


def test_ping_fails_when_dynamodb_is_unreachable():
    unreachable = DynamoStore("opsbot", region="us-west-2", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StoreError):
        unreachable.ping()


def test_record_updates_totals_and_reads_back(store):
    first = payment(amount=25_000)
    outcome = store.record_payment(first, total_cents=156_000, idempotency_key="k1")
    assert outcome.replayed is False
    assert outcome.totals == EventTotals("gala", 25_000, 1)
    second = payment(amount=30_050, at=T0 + timedelta(minutes=1))
    outcome = store.record_payment(second, total_cents=156_000, idempotency_key="k2")
    assert outcome.totals == EventTotals("gala", 55_050, 2)

    assert store.get_payment(first.payment_id) == first
    assert store.get_payment("pay_nope") is None
    assert store.event_payments("gala") == [first, second]
    assert store.event_totals(["gala", "other"]) == {"gala": EventTotals("gala", 55_050, 2)}


def test_same_idempotency_key_returns_first_outcome_and_writes_nothing(store):
    first = store.record_payment(payment(amount=5_000), total_cents=100_000, idempotency_key="view-V1")
    # A retry: the same payment (another record id and time, as a retry makes them) under the same key.
    again = store.record_payment(payment(amount=5_000, at=T0 + timedelta(seconds=3)), total_cents=100_000,
                                 idempotency_key="view-V1")
    assert again.replayed is True
    assert again.payment == first.payment
    assert again.totals == first.totals == EventTotals("gala", 5_000, 1)
    assert len(store.event_payments("gala")) == 1
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", 5_000, 1)


@pytest.mark.parametrize("other", [{"amount": 7_000}, {"patron": "Bo Chen"}, {"event_id": "boat"},
                                   {"method": "venmo"}])
def test_same_idempotency_key_with_another_payment_is_a_conflict_and_writes_nothing(store, other):
    first = store.record_payment(payment(amount=5_000), total_cents=100_000, idempotency_key="api:page-1")
    with pytest.raises(IdempotencyConflict) as conflict:
        store.record_payment(payment(**{"amount": 5_000, **other}), total_cents=100_000,
                             idempotency_key="api:page-1")
    assert conflict.value.first == first.payment
    assert store.event_totals(["gala", "boat"]) == {"gala": EventTotals("gala", 5_000, 1)}
    assert [p.payment_id for p in store.event_payments("gala")] == [first.payment.payment_id]
    assert store.event_payments("boat") == []
    assert store.replay("api:page-1").payment == first.payment


def test_racing_different_payments_under_one_key_record_one_and_refuse_the_rest(store):
    barrier = threading.Barrier(THREADS)

    def pay(i: int):
        barrier.wait()
        try:
            return store.record_payment(payment(amount=1_000 + i), total_cents=10_000_000, idempotency_key="one-key")
        except IdempotencyConflict as exc:
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(pay, range(THREADS)))

    recorded = [r for r in results if not isinstance(r, IdempotencyConflict)]
    refused = [r for r in results if isinstance(r, IdempotencyConflict)]
    assert (len(recorded), len(refused)) == (1, THREADS - 1)
    [winner] = store.event_payments("gala")
    assert recorded[0].payment == winner and all(r.first == winner for r in refused)
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", winner.amount_cents, 1)


def test_payment_past_the_total_is_refused_with_what_is_paid(store):
    store.record_payment(payment(amount=150_000), total_cents=156_000, idempotency_key="a")
    with pytest.raises(OverTotal) as refused:
        store.record_payment(payment(amount=6_001), total_cents=156_000, idempotency_key="b")
    assert (refused.value.paid_cents, refused.value.balance_cents) == (150_000, 6_000)
    exact = store.record_payment(payment(amount=6_000), total_cents=156_000, idempotency_key="c")
    assert exact.totals == EventTotals("gala", 156_000, 2)
    assert len(store.event_payments("gala")) == 2


def test_allow_over_total_records_money_that_already_arrived(store):
    store.record_payment(payment(amount=156_000), total_cents=156_000, idempotency_key="a")
    over = store.record_payment(payment(amount=12_500, method="stripe"), total_cents=156_000,
                                idempotency_key="evt_1", allow_over_total=True)
    assert over.totals == EventTotals("gala", 168_500, 2)


def test_void_reverses_once(store):
    paid = payment(amount=12_500)
    store.record_payment(paid, total_cents=100_000, idempotency_key="a")
    store.record_payment(payment(amount=2_500), total_cents=100_000, idempotency_key="b")
    first_void = void_for(paid)
    outcome = store.void_payment(paid.payment_id, first_void)
    assert outcome.replayed is False
    assert outcome.payment == first_void
    assert outcome.totals == EventTotals("gala", 2_500, 1)
    assert store.get_payment(paid.payment_id).voided_by == first_void.payment_id

    again = store.void_payment(paid.payment_id, void_for(paid))
    assert again.replayed is True
    assert again.payment == first_void
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", 2_500, 1)
    records = store.event_payments("gala")
    assert [r.kind for r in records] == ["payment", "payment", "void"]
    assert sum(r.amount_cents for r in records) == 2_500


def test_a_void_of_a_payment_read_before_another_payment_landed_counts_that_payment(store):
    # The payment and its event's totals as read before the other payment landed: the void must not write
    # (or announce) totals from that read.
    paid = payment(amount=12_500)
    store.record_payment(paid, total_cents=100_000, idempotency_key="a")
    read = store.get_payment(paid.payment_id)
    store.record_payment(payment(amount=2_500), total_cents=100_000, idempotency_key="b")
    void = void_for(paid)
    outcome = store.void_payment(paid.payment_id, void, announce=announcing(), original=read)
    assert outcome.totals == EventTotals("gala", 2_500, 1)
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", 2_500, 1)
    assert store.get_entry(f"{void.payment_id}:audit").facts["paid_cents"] == 2_500


def test_owed_sums_each_events_unpaid_balance_and_nothing_for_an_overpaid_one(store):
    store.record_payment(payment("gala", 30_000), total_cents=100_000, idempotency_key="a")
    store.record_payment(payment("boat", 60_000), total_cents=50_000, idempotency_key="b", allow_over_total=True)
    # gala owes 70,000; boat is overpaid (owes nothing); "quiet" has no payments: all of its total.
    assert store.owed({"gala": 100_000, "boat": 50_000, "quiet": 25_000}) == 95_000
    assert store.owed({"gala": 20_000}) == 0
    assert store.owed({}) == 0


def test_void_of_unknown_payment(store):
    with pytest.raises(PaymentNotFound):
        store.void_payment("pay_missing", payment(amount=-1, kind="void", voids="pay_missing"))


def test_day_payments_lists_one_day_oldest_first(store):
    late = payment("gala", 1_000, at=T0 + timedelta(hours=2))
    early = payment("boat", 2_000, at=T0)
    other_day = payment("gala", 3_000, at=T0 + timedelta(days=1), day="2026-06-02")
    for p in (late, early, other_day):
        store.record_payment(p, total_cents=100_000, idempotency_key=p.payment_id)
    voided = void_for(early)
    store.void_payment(early.payment_id, voided)
    assert [p.payment_id for p in store.day_payments("2026-06-01")] == [
        early.payment_id, voided.payment_id, late.payment_id,
    ]
    assert [p.payment_id for p in store.day_payments("2026-06-02")] == [other_day.payment_id]
    assert store.day_payments("2026-06-03") == []


def test_event_totals_for_many_events(store):
    ids = [f"ev-{i:03d}" for i in range(130)]  # more than one DynamoDB batch of 100 keys
    for event_id, amount in (("ev-007", 107), ("ev-125", 225)):
        store.record_payment(payment(event_id, amount), total_cents=10_000, idempotency_key=event_id)
    assert store.event_totals(ids) == {
        "ev-007": EventTotals("ev-007", 107, 1),
        "ev-125": EventTotals("ev-125", 225, 1),
    }
    assert store.event_totals([]) == {}


THREADS = 64


def test_64_concurrent_payments_give_exact_totals(store):
    amounts = [1_000 + i * 37 for i in range(THREADS)]  # distinct odd-cent amounts
    barrier = threading.Barrier(THREADS)

    def pay(i: int):
        barrier.wait()
        return store.record_payment(payment(amount=amounts[i]), total_cents=10_000_000,
                                    idempotency_key=f"race-{i}")

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(pay, range(THREADS)))

    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", sum(amounts), THREADS)
    assert sorted(p.amount_cents for p in store.event_payments("gala")) == amounts
    # Every outcome's totals include its own payment.
    assert all(o.totals.paid_cents >= o.payment.amount_cents for o in outcomes)


def test_64_threads_racing_on_the_last_dollars_never_overpay(store):
    total = 50_000
    store.record_payment(payment(amount=40_000), total_cents=total, idempotency_key="deposit")
    barrier = threading.Barrier(THREADS)

    def pay(i: int):
        barrier.wait()
        try:
            return store.record_payment(payment(amount=1_000), total_cents=total, idempotency_key=f"last-{i}")
        except OverTotal as exc:
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(pay, range(THREADS)))

    accepted = [r for r in results if not isinstance(r, OverTotal)]
    refused = [r for r in results if isinstance(r, OverTotal)]
    assert len(accepted) == 10 and len(refused) == 54
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", total, 11)
    assert sum(p.amount_cents for p in store.event_payments("gala")) == total


def test_64_threads_with_one_idempotency_key_record_once(store):
    barrier = threading.Barrier(THREADS)

    def pay(i: int):
        barrier.wait()
        return store.record_payment(payment(amount=4_200), total_cents=100_000, idempotency_key="retry-me")

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(pay, range(THREADS)))

    assert sum(not o.replayed for o in outcomes) == 1
    assert len({o.payment.payment_id for o in outcomes}) == 1
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", 4_200, 1)


def test_replay_finds_an_earlier_write_by_key(store):
    assert store.replay("view-V9") is None
    first = store.record_payment(payment(amount=1_500), total_cents=10_000, idempotency_key="view-V9")
    found = store.replay("view-V9")
    assert found.replayed is True and found.payment == first.payment
    assert found.totals == EventTotals("gala", 1_500, 1)


LEASE = timedelta(minutes=5)


def test_a_claim_is_taken_once(store):
    assert store.claim("summary:2026-06-01", holder="a", now=T0, lease=LEASE) is True
    assert store.claim("summary:2026-06-01", holder="b", now=T0, lease=LEASE) is False
    assert store.claim("summary:2026-06-02", holder="b", now=T0, lease=LEASE) is True


def test_a_released_claim_can_be_retried_and_a_done_one_cannot(store):
    assert store.claim("k", holder="a", now=T0, lease=LEASE)
    store.release_claim("k", holder="b")  # not the holder: nothing happens
    assert store.claim("k", holder="b", now=T0, lease=LEASE) is False
    store.release_claim("k", holder="a")
    assert store.claim("k", holder="b", now=T0, lease=LEASE) is True
    store.complete_claim("k", holder="b")
    store.release_claim("k", holder="b")  # done claims stay done
    assert store.claim("k", holder="c", now=T0 + timedelta(days=30), lease=LEASE) is False


def test_an_expired_claim_of_a_dead_holder_can_be_taken(store):
    assert store.claim("k", holder="dead", now=T0, lease=LEASE)
    assert store.claim("k", holder="b", now=T0 + LEASE - timedelta(seconds=1), lease=LEASE) is False
    assert store.claim("k", holder="b", now=T0 + LEASE + timedelta(seconds=1), lease=LEASE) is True


def test_64_threads_claiming_one_marker_one_wins(store):
    barrier = threading.Barrier(THREADS)

    def take(i: int) -> bool:
        barrier.wait()
        return store.claim("summary:2026-06-01", holder=f"h{i}", now=T0, lease=LEASE)

    with ThreadPoolExecutor(THREADS) as pool:
        assert sum(pool.map(take, range(THREADS))) == 1




def test_records_put_get_list_delete(store):
    assert store.get_record("paylink", "jada", "k1") is None
    assert store.put_record("paylink", "jada", "2026-05-01T10:00#plink_1", {"url": "https://buy/1", "cents": 156_000})
    store.put_record("paylink", "jada", "2026-05-02T10:00#plink_2", {"url": "https://buy/2"})
    store.put_record("paylink", "other", "2026-05-03T10:00#plink_3", {"url": "https://buy/3"})
    assert store.get_record("paylink", "jada", "2026-05-01T10:00#plink_1") == {"url": "https://buy/1", "cents": 156_000}
    assert [r["url"] for r in store.list_records("paylink", "jada")] == ["https://buy/1", "https://buy/2"]
    assert [r["url"] for r in store.list_records("paylink", "jada", newest_first=True, limit=1)] == ["https://buy/2"]
    assert store.list_records("paylink", "nobody") == []
    store.put_record("paylink", "jada", "2026-05-01T10:00#plink_1", {"url": "https://buy/1b"})
    assert store.get_record("paylink", "jada", "2026-05-01T10:00#plink_1") == {"url": "https://buy/1b"}
    store.delete_record("paylink", "jada", "2026-05-01T10:00#plink_1")
    assert [r["url"] for r in store.list_records("paylink", "jada")] == ["https://buy/2"]


def test_a_conditional_record_is_written_once(store):
    assert store.put_record("pending-deploy", "", "dep_1", {"site": "birthday"}, if_absent=True) is True
    assert store.put_record("pending-deploy", "", "dep_1", {"site": "other"}, if_absent=True) is False
    assert store.get_record("pending-deploy", "", "dep_1") == {"site": "birthday"}


# -- the outbox ---------------------------------------------------------------------------------------------


def audit_log(record_id: str, at=T0) -> AuditEntry:
    return AuditEntry(entry_id=f"payment:{record_id}", at=at, day="2026-06-01", actor="U0CREW0001",
                      action="payment.log", result="ok", detail={"payment_id": record_id})


def announcing(seen: list[RecordOutcome] | None = None):
    """An ``announce`` for a ledger write: an audit line and an email copy carrying the totals it is given."""

    def announce(outcome: RecordOutcome) -> Announcement:
        if seen is not None:
            seen.append(outcome)
        p = outcome.payment
        facts = {"payment_id": p.payment_id, "paid_cents": outcome.totals.paid_cents,
                 "payment_count": outcome.totals.payment_count, "channel": "C0AUDIT0001"}
        return Announcement(audit_log(p.payment_id, p.recorded_at), (
            new_entry(p.payment_id, PAYMENT_RECORDED, AUDIT, facts, p.recorded_at),
            new_entry(p.payment_id, PAYMENT_RECORDED, EMAIL, facts, p.recorded_at)))

    return announce


def entries(n: int, *, lane_target=AUDIT, at=T0, prefix="rec") -> list[OutboxEntry]:
    return [new_entry(f"{prefix}_{i:03d}", REFUSED, lane_target, {"i": i, "channel": "C0AUDIT0001"},
                      at + timedelta(microseconds=i)) for i in range(n)]


LEASE_30S = timedelta(seconds=30)


def test_a_payment_and_its_announcements_are_one_write(store):
    seen: list[RecordOutcome] = []
    first = payment(amount=25_000)
    outcome = store.record_payment(first, total_cents=100_000, idempotency_key="k1", announce=announcing(seen))
    assert [o.totals for o in seen] == [EventTotals("gala", 25_000, 1)] == [outcome.totals]
    audit = store.get_entry(f"{first.payment_id}:audit")
    assert (audit.state, audit.attempts, audit.record_id, audit.event) == (PENDING, 0, first.payment_id,
                                                                          PAYMENT_RECORDED)
    assert audit.facts == {"payment_id": first.payment_id, "paid_cents": 25_000, "payment_count": 1,
                           "channel": "C0AUDIT0001"}
    assert store.get_entry(f"{first.payment_id}:email").lane == EMAIL_LANE
    assert [e.entry_id for e in store.day_audit("2026-06-01")] == [f"payment:{first.payment_id}"]

    # A replay (the same payment again) announces nothing new. (DynamoDB builds the announcement before
    # it knows: the key is checked by the write itself, which a replay cancels, announcement and all.)
    again = store.record_payment(first, total_cents=100_000, idempotency_key="k1", announce=announcing(seen))
    assert again.replayed and again.totals == outcome.totals
    assert [e.entry_id for e in store.day_audit("2026-06-01")] == [f"payment:{first.payment_id}"]
    assert [e.entry_id for e in store.due_entries(SLACK_LANE, T0, 10)] == [f"{first.payment_id}:audit"]
    assert [e.entry_id for e in store.due_entries(EMAIL_LANE, T0, 10)] == [f"{first.payment_id}:email"]


def test_a_refused_payment_announces_nothing(store):
    store.record_payment(payment(amount=90_000), total_cents=100_000, idempotency_key="a")
    over = payment(amount=20_000)
    with pytest.raises(OverTotal):
        store.record_payment(over, total_cents=100_000, idempotency_key="b", announce=announcing())
    assert store.get_entry(f"{over.payment_id}:audit") is None
    assert store.due_entries(SLACK_LANE, T0 + timedelta(days=1), 10) == []


def test_no_record_without_its_announcement(store):
    """An announcement that cannot be made leaves no record behind either."""

    def broken(outcome: RecordOutcome) -> Announcement:
        raise RuntimeError("cannot announce")

    lost = payment(amount=5_000)
    with pytest.raises(RuntimeError):
        store.record_payment(lost, total_cents=100_000, idempotency_key="k", announce=broken)
    assert store.get_payment(lost.payment_id) is None
    assert store.event_totals(["gala"]) == {}
    assert store.replay("k") is None


def test_a_void_is_announced_with_the_totals_after_it(store):
    paid = payment(amount=12_500)
    store.record_payment(paid, total_cents=100_000, idempotency_key="a")
    store.record_payment(payment(amount=2_500), total_cents=100_000, idempotency_key="b")
    void = void_for(paid)
    store.void_payment(paid.payment_id, void, announce=announcing())
    assert store.get_entry(f"{void.payment_id}:audit").facts["paid_cents"] == 2_500
    assert store.get_entry(f"{void.payment_id}:audit").facts["payment_count"] == 1
    store.void_payment(paid.payment_id, void_for(paid), announce=announcing())  # a replay: nothing more
    assert len(store.due_entries(SLACK_LANE, T0 + timedelta(days=1), 10)) == 1


def test_a_record_and_its_announcement_are_one_write(store):
    link = new_entry("plink_1", "link.created", AUDIT, {"channel": "C0AUDIT0001"}, T0)
    announcement = Announcement(audit_log("plink_1"), (link,))
    assert store.put_record("paylink-id", "plink_1", "link", {"url": "u"}, if_absent=True, announce=announcement)
    assert store.get_entry("plink_1:audit").state == PENDING
    store.settle_entries([Settled("plink_1:audit", DELIVERED, result={"channel": "C", "ts": "1.1"})],
                         holder="nobody", now=T0)  # not held by that holder: left alone
    # Already there: neither the record nor the announcement is written again.
    assert not store.put_record("paylink-id", "plink_1", "link", {"url": "other"}, if_absent=True,
                                announce=Announcement(None, (new_entry("plink_1", "x", AUDIT, {}, T0),)))
    assert store.get_record("paylink-id", "plink_1", "link") == {"url": "u"}
    assert store.get_entry("plink_1:audit").event == "link.created"
    assert len(store.day_audit("2026-06-01")) == 1


# -- summaries kept by the writes (Fold) and reads by key (read_keys) ---------------------------------------------


def appended(key: str):
    """A fold that keeps every key written, in the order the folds were applied."""
    def apply(summary):
        return {"keys": [*(summary or {"keys": []})["keys"], key]}
    return apply


def test_a_new_store_keeps_summaries_from_its_first_record(store):
    assert store.get_record(*SUMMARIES_KEPT) is not None


def test_a_fold_is_written_with_its_record_and_sees_the_store_before_the_write(store):
    seen = []

    def apply(summary):
        seen.append((summary, store.list_records("deploy", "birthday")))  # the store as it is before this write
        return {"last": "k2"}

    store.put_record("deploy", "birthday", "k1", {"n": 1})
    assert store.put_record("deploy", "birthday", "k2", {"n": 2}, fold=Fold(("deploy-last", "birthday", "last"), apply))
    assert seen == [(None, [{"n": 1}])]
    assert store.get_record("deploy-last", "birthday", "last") == {"last": "k2"}
    assert store.get_record("deploy", "birthday", "k2") == {"n": 2}


def test_a_fold_that_changes_nothing_leaves_the_summary_and_one_not_written_is_not_applied(store):
    at = ("paylink-recent", "jada", "newest")
    store.put_record("paylink", "jada", "k1", {"n": 1}, if_absent=True, fold=Fold(at, appended("k1")))
    store.put_record("paylink", "jada", "k0", {"n": 0}, fold=Fold(at, lambda summary: None))
    assert store.get_record(*at) == {"keys": ["k1"]}
    assert store.get_record("paylink", "jada", "k0") == {"n": 0}
    applied = []
    assert not store.put_record("paylink", "jada", "k1", {"n": 9}, if_absent=True,
                                fold=Fold(at, lambda summary: applied.append(summary) or {"keys": []}))
    assert store.get_record(*at) == {"keys": ["k1"]}
    assert store.get_record("paylink", "jada", "k1") == {"n": 1}


def test_a_record_its_fold_and_its_announcement_are_one_write(store):
    at = ("paylink-recent", "-", "newest")
    link = new_entry("plink_9", "link.created", AUDIT, {"channel": "C0AUDIT0001"}, T0)
    assert store.put_record("paylink", "-", "k9", {"url": "u"}, if_absent=True,
                            announce=Announcement(audit_log("plink_9"), (link,)), fold=Fold(at, appended("k9")))
    assert store.get_entry("plink_9:audit").state == PENDING
    assert store.get_record(*at) == {"keys": ["k9"]}

    def broken(summary):
        raise RuntimeError("the fold failed")

    with pytest.raises(RuntimeError):
        store.put_record("paylink", "-", "k10", {"url": "v"}, announce=Announcement(audit_log("plink_10"), ()),
                         fold=Fold(at, broken))
    assert store.get_record("paylink", "-", "k10") is None
    assert len(store.day_audit("2026-06-01")) == 1


def test_concurrent_writes_to_one_summary_lose_nothing(store):
    at = ("paylink-recent", "gala", "newest")
    keys = [f"2026-06-01T10:00:{i:02d}#plink_{i}" for i in range(12)]

    def put(key: str) -> bool:
        return store.put_record("paylink", "gala", key, {"key": key}, if_absent=True, fold=Fold(at, appended(key)))

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert all(pool.map(put, keys))
    assert sorted(store.get_record(*at)["keys"]) == keys  # each write's fold applied once, none lost


def test_concurrent_writes_keep_the_newest_in_a_summary(store):
    at = ("deploy-last", "birthday", "last")

    def newest(key: str):
        return lambda summary: None if summary is not None and summary["key"] > key else {"key": key}

    keys = [f"2026-06-01T10:00:{i:02d}#dep_{i}" for i in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda key: store.put_record("deploy", "birthday", key, {}, fold=Fold(at, newest(key))),
                      reversed(keys)))
    assert store.get_record(*at) == {"key": keys[-1]}


def test_read_keys_reads_totals_and_records_together(store):
    store.record_payment(payment(amount=2_500), total_cents=10_000, idempotency_key="rk1")
    store.put_record("deploy-last", "birthday", "last", {"key": "k"})
    many = [("deploy-last", f"site{i}", "last") for i in range(150)]  # past DynamoDB's 100 keys a request
    store.put_record("deploy-last", "site149", "last", {"key": "far"})
    totals, found = store.read_keys(events=["gala", "nothing-yet"],
                                    records=[SUMMARIES_KEPT, ("deploy-last", "birthday", "last"), *many])
    assert totals == {"gala": EventTotals("gala", 2_500, 1)}
    assert found == {SUMMARIES_KEPT: store.get_record(*SUMMARIES_KEPT),
                     ("deploy-last", "birthday", "last"): {"key": "k"},
                     ("deploy-last", "site149", "last"): {"key": "far"}}
    assert store.read_keys() == ({}, {})


def test_an_announcement_on_its_own_keeps_what_was_written_first(store):
    first = entries(3)
    store.announce(Announcement(audit_log("refusal"), tuple(first)))
    store.announce(Announcement(None, (new_entry("rec_000", "other", AUDIT, {"changed": True}, T0),)))
    assert store.get_entry("rec_000:audit").facts == {"i": 0, "channel": "C0AUDIT0001"}
    assert [e.entry_id for e in store.due_entries(SLACK_LANE, T0 + timedelta(seconds=1), 10)] == [
        "rec_000:audit", "rec_001:audit", "rec_002:audit"]


def test_due_entries_are_the_earliest_due_of_their_lane_and_no_more(store):
    store.announce(Announcement(None, tuple(entries(130))))  # more than one DynamoDB transaction
    store.announce(Announcement(None, tuple(entries(2, lane_target=EMAIL, prefix="mail"))))
    later = new_entry("later", REFUSED, AUDIT, {}, T0 + timedelta(minutes=5))
    store.announce(Announcement(None, (later,)))
    due = store.due_entries(SLACK_LANE, T0 + timedelta(seconds=1), 50)
    assert [e.entry_id for e in due] == [f"rec_{i:03d}:audit" for i in range(50)]
    assert len(store.due_entries(SLACK_LANE, T0 + timedelta(seconds=1), 500)) == 130
    assert len(store.due_entries(SLACK_LANE, T0 + timedelta(minutes=5), 500)) == 131
    assert [e.entry_id for e in store.due_entries(EMAIL_LANE, T0 + timedelta(seconds=1), 10)] == [
        "mail_000:email", "mail_001:email"]
    assert store.due_entries(SLACK_LANE, T0 - timedelta(seconds=1), 10) == []


def test_a_claimed_entry_is_held_until_its_lease_runs_out_then_taken_over(store):
    [entry] = entries(1)
    store.announce(Announcement(None, (entry,)))
    now = T0 + timedelta(seconds=1)
    [seen] = store.due_entries(SLACK_LANE, now, 10)
    [taken] = store.claim_entries([seen], holder="a", attempt="a-1", now=now, lease=LEASE_30S)
    assert (taken.state, taken.holder, taken.attempts) == (PENDING, None, 0)  # as it was read, before the claim
    held = store.get_entry(entry.entry_id)
    assert (held.state, held.holder, held.attempt, held.attempts) == (HELD, "a", "a-1", 1)
    assert store.claim_entries([seen], holder="b", attempt="b-1", now=now, lease=LEASE_30S) == []
    assert store.due_entries(SLACK_LANE, now + LEASE_30S - timedelta(seconds=1), 10) == []

    store.mark_in_doubt([entry.entry_id], holder="a", attempt="a-1")
    # a dies; once the lease has run out, b takes the entry over and sees what a was doing
    expired = now + LEASE_30S + timedelta(seconds=1)
    [stale] = store.due_entries(SLACK_LANE, expired, 10)
    assert (stale.state, stale.holder, stale.attempt, stale.in_doubt) == (HELD, "a", "a-1", True)
    # A claim made on an older reading (before a's claim and its in-doubt mark) does not hold.
    assert store.claim_entries([seen], holder="b", attempt="b-0", now=expired, lease=LEASE_30S) == []
    [over] = store.claim_entries([stale], holder="b", attempt="b-1", now=expired, lease=LEASE_30S)
    assert over == stale
    # a's late answer changes nothing: the entry is b's now
    assert store.settle_entries([Settled(entry.entry_id, DELIVERED, result={"ts": "1"})], holder="a",
                                now=expired) == []
    assert store.get_entry(entry.entry_id).holder == "b"


def test_64_deliverers_claiming_one_entry_one_wins(store):
    [entry] = entries(1)
    store.announce(Announcement(None, (entry,)))
    [seen] = store.due_entries(SLACK_LANE, T0 + timedelta(seconds=1), 1)
    barrier = threading.Barrier(THREADS)

    def take(i: int) -> int:
        barrier.wait()
        return len(store.claim_entries([seen], holder=f"h{i}", attempt=f"h{i}-1", now=T0 + timedelta(seconds=1),
                                       lease=LEASE_30S))

    with ThreadPoolExecutor(THREADS) as pool:
        assert sum(pool.map(take, range(THREADS))) == 1


def test_settled_entries_leave_the_due_index(store):
    made = entries(4)
    store.announce(Announcement(None, tuple(made)))
    now = T0 + timedelta(seconds=1)
    ids = [e.entry_id for e in made]
    due = store.due_entries(SLACK_LANE, now, 10)
    assert [e.entry_id for e in store.claim_entries(due, holder="a", attempt="a-1", now=now, lease=LEASE_30S)
            ] == ids
    retry_at = now + timedelta(seconds=8)
    settled = store.settle_entries([
        Settled(ids[0], DELIVERED, result={"channel": "C0AUDIT0001", "ts": "1700000000.000100"}),
        Settled(ids[1], DELIVERED, result={"channel": "C0AUDIT0001", "ts": "1700000000.000200", "digest": True}),
        Settled(ids[2], PENDING, due=retry_at, error="ratelimited", in_doubt=True),
        Settled(ids[3], PARKED, error="channel_not_found for a day"),
    ], holder="a", now=now)
    assert settled == ids
    first = store.get_entry(ids[0])
    assert (first.state, first.due_at, first.result) == (DELIVERED, None, {"channel": "C0AUDIT0001",
                                                                           "ts": "1700000000.000100"})
    assert store.message_ref("rec_000") == ("C0AUDIT0001", "1700000000.000100")
    assert store.message_ref("rec_001") is None  # folded into a digest: no line of its own
    assert store.message_ref("rec_002") is None  # not delivered yet
    again = store.get_entry(ids[2])
    assert (again.state, again.due_at, again.last_error, again.in_doubt) == (PENDING, retry_at, "ratelimited", True)
    assert store.due_entries(SLACK_LANE, retry_at - timedelta(seconds=1), 10) == []
    assert [e.entry_id for e in store.due_entries(SLACK_LANE, retry_at, 10)] == [ids[2]]
    [parked] = store.parked_entries(10)
    assert (parked.entry_id, parked.state, parked.last_error) == (ids[3], PARKED, "channel_not_found for a day")

    # An admin fixed the cause: the parked entry is due again.
    assert store.requeue_parked(retry_at, 10) == 1
    assert store.parked_entries(10) == []
    assert [e.entry_id for e in store.due_entries(SLACK_LANE, retry_at, 10)] == [ids[2], ids[3]]
    assert store.get_entry(ids[3]).attempts == 0


def test_racing_writers_announce_what_their_outcome_says(store):
    """Under contention each payment's announcement carries the same totals as its outcome (the receipt)."""
    barrier = threading.Barrier(16)

    def pay(i: int) -> RecordOutcome:
        barrier.wait()
        return store.record_payment(payment(amount=1_000 + i), total_cents=10_000_000, idempotency_key=f"r{i}",
                                    announce=announcing())

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(pay, range(16)))
    for outcome in outcomes:
        facts = store.get_entry(f"{outcome.payment.payment_id}:audit").facts
        assert (facts["paid_cents"], facts["payment_count"]) == (outcome.totals.paid_cents,
                                                                  outcome.totals.payment_count)
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", sum(1_000 + i for i in range(16)), 16)


def test_many_entries_are_claimed_and_settled_in_batches(store):
    made = entries(230)  # more than two DynamoDB transactions' worth
    store.announce(Announcement(None, tuple(made)))
    now = T0 + timedelta(seconds=1)
    due = store.due_entries(SLACK_LANE, now, 500)
    # Someone else took three of them meanwhile: the rest are still taken.
    others = [due[5], due[150], due[229]]
    assert store.claim_entries(others, holder="other", attempt="o-1", now=now, lease=LEASE_30S) == others
    taken = store.claim_entries(due, holder="a", attempt="a-1", now=now, lease=LEASE_30S)
    assert len(taken) == 227 and not {e.entry_id for e in others} & {e.entry_id for e in taken}
    settled = store.settle_entries([Settled(e.entry_id, DELIVERED, result={"channel": "C", "ts": "1", "digest": True})
                                    for e in due], holder="a", now=now)
    assert settled == [e.entry_id for e in taken]  # not the other holder's
    assert [e.entry_id for e in store.due_entries(SLACK_LANE, now + LEASE_30S * 2, 500)] == [
        e.entry_id for e in others]


def test_a_claim_under_way_is_in_doubt_and_a_doubt_keeps_its_claim_id(store):
    [entry] = entries(1)
    store.announce(Announcement(None, (entry,)))
    now = T0 + timedelta(seconds=1)
    [seen] = store.due_entries(SLACK_LANE, now, 1)
    store.claim_entries([seen], holder="a", attempt="a-1", now=now, lease=timedelta(0), under_way=True)
    claimed = store.get_entry(entry.entry_id)
    assert (claimed.state, claimed.in_doubt, claimed.attempt) == (HELD, True, "a-1")
    # a died mid-call: b's claim keeps a's claim id, the one to look for.
    [stale] = store.due_entries(SLACK_LANE, now, 1)
    [taken] = store.claim_entries([stale], holder="b", attempt="b-1", now=now, lease=LEASE_30S, under_way=True)
    assert (taken.holder, taken.attempt, taken.in_doubt) == ("a", "a-1", True)
    assert (store.get_entry(entry.entry_id).holder, store.get_entry(entry.entry_id).attempt) == ("b", "a-1")
    # a's message is not in the channel: b posts under its own claim id from now on.
    store.mark_in_doubt([entry.entry_id], holder="b", attempt="b-1")
    assert store.get_entry(entry.entry_id).attempt == "b-1"
    # Settled as failed for sure (Slack refused it): no longer in doubt; the next claim has its own id.
    store.settle_entries([Settled(entry.entry_id, PENDING, due=now, error="channel_not_found")], holder="b", now=now)
    [again] = store.due_entries(SLACK_LANE, now, 1)
    assert again.in_doubt is False
    store.claim_entries([again], holder="c", attempt="c-1", now=now, lease=LEASE_30S)
    assert (store.get_entry(entry.entry_id).attempt, store.get_entry(entry.entry_id).in_doubt) == ("c-1", False)


def a_write(prefix="pay_fast") -> list[OutboxEntry]:
    """What one payment's write announces: its audit line, the receipt, the email copy."""
    facts = {"payment_id": prefix, "paid_cents": 5_000, "channel": "C0AUDIT0001"}
    return [new_entry(prefix, PAYMENT_RECORDED, AUDIT, facts, T0),
            new_entry(prefix, PAYMENT_RECORDED, RECEIPT, {**facts, "user": "U0CREW0001"}, T0),
            new_entry(prefix, PAYMENT_RECORDED, EMAIL, facts, T0)]


def claims_of(made: list[OutboxEntry], holder="a") -> list[Claim]:
    return [Claim(e, f"{holder}-{i}", under_way=e.target == AUDIT) for i, e in enumerate(made, 1)]


def test_a_writes_entries_are_claimed_together_each_under_its_own_claim_id(store):
    made = a_write()
    store.announce(Announcement(None, tuple(made)))
    now = T0 + timedelta(seconds=1)
    assert store.claim_fresh(claims_of(made), holder="a", now=now, lease=LEASE_30S) == made
    held = [store.get_entry(e.entry_id) for e in made]
    assert [(e.state, e.holder, e.attempts, e.attempt, e.in_doubt) for e in held] == [
        (HELD, "a", 1, "a-1", True), (HELD, "a", 1, "a-2", False), (HELD, "a", 1, "a-3", False)]
    assert store.due_entries(SLACK_LANE, now + LEASE_30S - timedelta(seconds=1), 10) == []
    # Claimed once: the same payload again (Lambda retrying the invocation) takes nothing.
    assert store.claim_fresh(claims_of(made, "b"), holder="b", now=now + LEASE_30S * 2, lease=LEASE_30S) == []
    # Nor does the general claim on a reading from before.
    assert store.claim_entries(made, holder="c", attempt="c-1", now=now, lease=LEASE_30S) == []

    # Settled together, as the drain settles them one by one.
    line = Settled(made[0].entry_id, DELIVERED, result={"channel": "C0AUDIT0001", "ts": "1.2"})
    settled = store.settle_entries([line, Settled(made[1].entry_id, DELIVERED, result={"sent": True}),
                                    Settled(made[2].entry_id, PENDING, due=now + timedelta(seconds=8), error="x")],
                                   holder="a", now=now, together=True)
    assert settled == [e.entry_id for e in made]
    assert store.message_ref("pay_fast") == ("C0AUDIT0001", "1.2")
    assert store.get_entry(made[1].entry_id).state == DELIVERED
    assert [e.entry_id for e in store.due_entries(EMAIL_LANE, now + timedelta(seconds=8), 10)] == [made[2].entry_id]


def test_an_entry_another_holder_took_is_not_claimed_the_rest_are(store):
    made = a_write()
    store.announce(Announcement(None, tuple(made)))
    now = T0 + timedelta(seconds=1)
    [receipt] = store.claim_entries([made[1]], holder="drain", attempt="d-1", now=now, lease=LEASE_30S)
    assert store.claim_fresh(claims_of(made), holder="a", now=now, lease=LEASE_30S) == [made[0], made[2]]
    assert store.get_entry(receipt.entry_id).holder == "drain"
    # and the other way round: what the payload's claim took, the drain's reading no longer takes
    assert store.claim_entries([made[0], made[2]], holder="drain", attempt="d-2", now=now, lease=LEASE_30S) == []


def test_only_an_entry_the_store_holds_as_given_and_untouched_is_claimed(store):
    made = a_write()
    store.announce(Announcement(None, tuple(made)))
    [line, receipt, email] = made
    now = T0 + timedelta(seconds=1)
    forged = [
        replace(line, facts={**line.facts, "paid_cents": 1}),  # other facts: a message the store never held
        replace(receipt, facts={**receipt.facts, "user": "U0INTRUDER"}),
        replace(email, created_at=T0 + timedelta(microseconds=1)),
        replace(email, entry_id="pay_other:email", record_id="pay_other"),  # not in the store at all
        replace(receipt, event=REFUSED),
    ]
    for wrong in forged:
        assert store.claim_fresh(claims_of([wrong]), holder="x", now=now, lease=LEASE_30S) == []
    assert all(store.get_entry(e.entry_id).state == PENDING for e in made)
    # Not due yet (a clock behind the writer's), or tried before (a retry): not for this claim either.
    assert store.claim_fresh(claims_of(made), holder="x", now=T0 - timedelta(seconds=1), lease=LEASE_30S) == []
    store.claim_entries([line], holder="drain", attempt="d-1", now=now, lease=timedelta(0))
    store.settle_entries([Settled(line.entry_id, PENDING, due=now, error="ratelimited")], holder="drain", now=now)
    assert store.claim_fresh(claims_of(made), holder="a", now=now, lease=LEASE_30S) == [receipt, email]
    assert store.get_entry(line.entry_id).state == PENDING


def test_a_settle_together_leaves_an_entry_taken_over_to_its_new_holder(store):
    made = a_write()
    store.announce(Announcement(None, tuple(made)))
    now = T0 + timedelta(seconds=1)
    store.claim_fresh(claims_of(made), holder="a", now=now, lease=LEASE_30S)
    # a's lease ran out; a drain took the receipt over
    expired = now + LEASE_30S + timedelta(seconds=1)
    stale = store.get_entry(made[1].entry_id)
    assert store.claim_entries([stale], holder="b", attempt="b-1", now=expired, lease=LEASE_30S) == [stale]
    settled = store.settle_entries([Settled(e.entry_id, DELIVERED, result={"sent": True}) for e in made],
                                   holder="a", now=expired, together=True)
    assert settled == [made[0].entry_id, made[2].entry_id]
    taken_over = store.get_entry(made[1].entry_id)
    assert (taken_over.state, taken_over.holder) == (HELD, "b")
    assert [store.get_entry(e.entry_id).state for e in (made[0], made[2])] == [DELIVERED, DELIVERED]


def test_dynamodb_claims_and_settles_a_writes_entries_in_one_request_each(moto_endpoint):  # noqa: F811
    from bench.round_trips_bench import RequestCounter

    store = make_dynamo_store(moto_endpoint)
    store.init_schema()
    made = a_write()
    store.announce(Announcement(None, tuple(made)))
    now = T0 + timedelta(seconds=1)
    counter = RequestCounter(store._client)
    assert len(store.claim_fresh(claims_of(made), holder="a", now=now, lease=LEASE_30S)) == 3
    store.settle_entries([Settled(e.entry_id, DELIVERED, result={"sent": True}) for e in made], holder="a", now=now,
                         together=True)
    assert counter.take() == ["TransactWriteItems", "TransactWriteItems"]
    # One lost to another holder: the transaction is cancelled and made again without it.
    again = a_write("pay_fast2")
    store.announce(Announcement(None, tuple(again)))
    store.claim_entries([again[2]], holder="drain", attempt="d-1", now=now, lease=LEASE_30S)
    counter.take()
    assert store.claim_fresh(claims_of(again), holder="a", now=now, lease=LEASE_30S) == again[:2]
    assert counter.take() == ["TransactWriteItems", "TransactWriteItems"]
    # A single entry is one UpdateItem (half a transaction's write units).
    alone = a_write("pay_fast3")[:1]
    store.announce(Announcement(None, tuple(alone)))
    counter.take()
    assert store.claim_fresh(claims_of(alone), holder="a", now=now, lease=LEASE_30S) == alone
    assert counter.take() == ["UpdateItem"]


def test_event_overview_is_the_newest_records_and_each_patrons_totals_kept_by_every_write(store):
    """What /events EVENT reads: the same figures as summing every record, without reading them."""
    names = ["Ana Ruiz", "ana  ruiz", "Ána Ruíz", "Bo Chen", "Cy Diaz"]
    written = []
    for i in range(12):
        p = payment(amount=1_000 + i, at=T0 + timedelta(minutes=i), patron=names[i % len(names)])
        store.record_payment(p, total_cents=10_000_000, idempotency_key=f"ov-{i}")
        written.append(p)
    store.void_payment(written[3].payment_id, void_for(written[3], at=T0 + timedelta(hours=1)))  # Bo Chen's
    store.void_payment(written[2].payment_id, void_for(written[2], at=T0 + timedelta(hours=2)))  # Ána Ruíz's
    store.record_payment(payment(event_id="boat", amount=500, patron="Ana Ruiz"), total_cents=10_000,
                         idempotency_key="other-event")
    records = store.event_payments("gala")

    overview = store.event_overview("gala", recent=5)

    assert overview.totals == store.event_totals(["gala"])["gala"]
    assert overview.records == len(records) == 14
    assert overview.recent == tuple(records[-5:])  # the newest five, oldest first
    assert overview.patrons == tuple(patron_totals(records))
    [ana, bo, cy] = overview.patrons
    assert (ana.name, ana.payments, ana.records) == ("ana ruiz", 7, 9)  # the latest spelling; one voided
    assert (bo.payments, bo.total_cents) == (1, 1_008)
    assert store.event_overview("nothing-yet", recent=5) == EventOverview(EventTotals("nothing-yet"), 0, (), ())


def test_dynamodb_event_from_before_patron_totals_were_kept_is_summed_from_its_records(moto_endpoint):  # noqa: F811
    store = make_dynamo_store(moto_endpoint)
    store.init_schema()
    for i, name in enumerate(["Ana Ruiz", "Bo Chen", "ana ruiz"]):
        store.record_payment(payment(amount=100 + i, at=T0 + timedelta(minutes=i), patron=name),
                             total_cents=10_000, idempotency_key=f"old-{i}")
    # As an older opsbot left it: no patron items, no record count, no mark that they are kept.
    items = store._client.query(TableName=store.table, KeyConditionExpression="PK = :pk",
                                ExpressionAttributeValues={":pk": {"S": "EVENT#gala"}})["Items"]
    for item in items:
        if item["SK"]["S"].startswith("PATRON#"):
            store._client.delete_item(TableName=store.table, Key={"PK": item["PK"], "SK": item["SK"]})
    store._client.update_item(TableName=store.table, Key={"PK": {"S": "EVENT#gala"}, "SK": {"S": "META"}},
                              UpdateExpression="REMOVE patrons_kept, record_count")
    records = store.event_payments("gala")
    overview = store.event_overview("gala", recent=2)
    assert overview.patrons == tuple(patron_totals(records)) and len(overview.patrons) == 2
    assert (overview.records, overview.recent) == (3, tuple(records[-2:]))


# -- Stripe refunds: reversal records of part or all of a Stripe payment --------------------------------------


def stripe_paid(amount=10_000, *, intent="pi_test_0001", event_id="gala", patron="Ana Ruiz", at=T0) -> Payment:
    return replace(payment(event_id, amount, at=at, patron=patron, method="stripe"), source="stripe",
                   stripe_id=f"cs_test_{intent}", payment_intent=intent, notes=f"cs_test_{intent}")


def refund_of(original: Payment, cents: int, refund_id: str, *, failed=False, minutes=2) -> Payment:
    """A refund record (negative), or with ``failed`` the record that puts a failed refund's cents back."""
    at = original.recorded_at + timedelta(minutes=minutes)
    record = payment(original.event_id, cents if failed else -cents, at=at,
                     day=original.day, patron=original.patron, kind=REFUND_FAILED if failed else REFUND,
                     voids=original.payment_id, method="stripe")
    return replace(record, payment_id=f"{'rfl' if failed else 'ref'}_{record.payment_id[4:]}", source="stripe",
                   notes=f"refund {refund_id}", stripe_id=refund_id, payment_intent=original.payment_intent)


def refund(store, original: Payment, cents: int, refund_id: str, *, failed=False, announce=None) -> RecordOutcome:
    record = refund_of(original, cents, refund_id, failed=failed)
    key = refund_failed_key(refund_id) if failed else refund_key(refund_id)
    return store.refund_payment(original.payment_id, record, idempotency_key=key, announce=announce)


def ledger_state(store, event_id="gala") -> tuple[EventTotals, list[tuple[str, int]]]:
    return (store.event_totals([event_id]).get(event_id),
            [(r.kind, r.amount_cents) for r in store.event_payments(event_id)])


def test_partial_refunds_take_exactly_their_cents_and_the_payment_still_counts(store):
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1", allow_over_total=True)
    store.record_payment(payment(amount=2_500), total_cents=100_000, idempotency_key="cash")
    first = refund(store, paid, 3_000, "re_1")
    assert (first.replayed, first.totals) == (False, EventTotals("gala", 9_500, 2))
    assert (first.acted_on.refunded_cents, first.acted_on.left_cents) == (3_000, 7_000)
    second = refund(store, paid, 2_000, "re_2")
    assert second.totals == EventTotals("gala", 7_500, 2)
    stands = store.get_payment(paid.payment_id)
    assert (stands.refunded_cents, stands.left_cents, stands.voided_by) == (5_000, 5_000, None)
    assert ledger_state(store)[1] == [("payment", 10_000), ("payment", 2_500), ("refund", -3_000), ("refund", -2_000)]
    refunds = [r for r in store.event_payments("gala") if r.is_refund]
    assert [(r.voids, r.stripe_id, r.payment_intent) for r in refunds] == [
        (paid.payment_id, "re_1", "pi_test_0001"), (paid.payment_id, "re_2", "pi_test_0001")]
    assert store.stripe_payment("pi_test_0001") == stands
    assert store.stripe_payment("pi_test_unknown") is None


def test_a_full_refund_leaves_nothing_and_the_payment_stops_counting(store):
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=10_000, idempotency_key="stripe:cs_1")
    outcome = refund(store, paid, 10_000, "re_all")
    assert outcome.totals == EventTotals("gala", 0, 0)
    assert outcome.acted_on.reversed_in_full and outcome.acted_on.left_cents == 0
    assert store.event_totals(["gala"])["gala"] == EventTotals("gala", 0, 0)
    with pytest.raises(NothingLeft) as more:  # nothing left to refund, nor to void
        refund(store, paid, 1, "re_more")
    assert (more.value.asked_cents, more.value.left_cents) == (1, 0)
    with pytest.raises(NothingLeft):
        store.void_payment(paid.payment_id, void_for(paid))
    assert ledger_state(store) == (EventTotals("gala", 0, 0), [("payment", 10_000), ("refund", -10_000)])


def test_the_same_refund_twice_records_once_and_another_record_under_its_key_is_a_conflict(store):
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1")
    first = refund(store, paid, 4_000, "re_1", announce=announcing())
    again = refund(store, paid, 4_000, "re_1", announce=announcing())
    assert again.replayed and again.payment.payment_id == first.payment.payment_id
    assert again.acted_on.refunded_cents == 4_000
    with pytest.raises(IdempotencyConflict):
        refund(store, paid, 5_000, "re_1")
    assert ledger_state(store) == (EventTotals("gala", 6_000, 1), [("payment", 10_000), ("refund", -4_000)])
    assert len(store.due_entries(SLACK_LANE, T0 + timedelta(days=1), 10)) == 1


def test_a_refund_that_fails_later_puts_its_cents_back_once(store):
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1")
    refund(store, paid, 10_000, "re_1")
    back = refund(store, paid, 10_000, "re_1", failed=True)
    assert back.totals == EventTotals("gala", 10_000, 1)  # counted again: all of it stands
    assert (back.payment.kind, back.payment.amount_cents, back.acted_on.refunded_cents) == (REFUND_FAILED, 10_000, 0)
    assert refund(store, paid, 10_000, "re_1", failed=True).replayed  # delivered twice: once
    assert ledger_state(store) == (EventTotals("gala", 10_000, 1),
                                   [("payment", 10_000), ("refund", -10_000), ("refund_failed", 10_000)])


def test_a_failed_refund_gives_back_only_a_refund_that_was_recorded(store):
    """Out of order: the failure of a refund that was never recorded has nothing to give back, even when other
    refunds of the payment were (its cents are not theirs to give back)."""
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1")
    with pytest.raises(NothingLeft):
        refund(store, paid, 3_000, "re_1", failed=True)
    refund(store, paid, 5_000, "re_2")
    with pytest.raises(NothingLeft):
        refund(store, paid, 3_000, "re_1", failed=True)
    assert ledger_state(store) == (EventTotals("gala", 5_000, 1), [("payment", 10_000), ("refund", -5_000)])
    assert store.replay(refund_failed_key("re_1")) is None


def test_a_refund_past_what_is_left_is_refused_and_writes_nothing(store):
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1")
    refund(store, paid, 6_000, "re_1")
    too_much = refund_of(paid, 5_000, "re_2")
    with pytest.raises(NothingLeft) as refused:
        store.refund_payment(paid.payment_id, too_much, idempotency_key=refund_key("re_2"), announce=announcing())
    assert (refused.value.asked_cents, refused.value.left_cents) == (5_000, 4_000)
    assert store.get_payment(too_much.payment_id) is None and store.replay(refund_key("re_2")) is None
    assert store.get_entry(f"{too_much.payment_id}:audit") is None
    assert ledger_state(store) == (EventTotals("gala", 4_000, 1), [("payment", 10_000), ("refund", -6_000)])


def test_a_refund_of_a_voided_or_unknown_payment_is_refused_and_writes_nothing(store):
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1")
    void = void_for(paid)
    store.void_payment(paid.payment_id, void)
    with pytest.raises(PaymentVoided) as voided:
        refund(store, paid, 1_000, "re_1")
    assert voided.value.payment.voided_by == void.payment_id
    with pytest.raises(PaymentNotFound):
        store.refund_payment("pay_missing", refund_of(paid, 1_000, "re_2"), idempotency_key=refund_key("re_2"))
    assert ledger_state(store) == (EventTotals("gala", 0, 0), [("payment", 10_000), ("void", -10_000)])


def test_a_void_after_a_partial_refund_reverses_only_what_is_left(store):
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1")
    refund(store, paid, 3_500, "re_1")
    outcome = store.void_payment(paid.payment_id, void_for(paid))  # asked for all of it: the store takes what is left
    assert outcome.payment.amount_cents == -6_500
    assert outcome.totals == EventTotals("gala", 0, 0)
    assert outcome.acted_on.voided_by == outcome.payment.payment_id
    assert store.void_payment(paid.payment_id, void_for(paid)).replayed
    assert ledger_state(store) == (EventTotals("gala", 0, 0),
                                   [("payment", 10_000), ("refund", -3_500), ("void", -6_500)])


def test_refunds_and_voids_racing_on_one_payment_never_take_more_than_it_paid(store):
    paid = stripe_paid(10_000)
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1")

    def attempt(n: int) -> str:
        try:
            if n % 4 == 3:
                store.void_payment(paid.payment_id, void_for(paid))
                return "void"
            refund(store, paid, 1_500, f"re_{n}")
            return "refund"
        except (NothingLeft, PaymentVoided):
            return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        said = list(pool.map(attempt, range(16)))
    totals, records = ledger_state(store)
    assert totals.paid_cents == sum(cents for _, cents in records) >= 0
    assert sum(-cents for kind, cents in records if kind != "payment") == 10_000 - totals.paid_cents
    stands = store.get_payment(paid.payment_id)
    assert stands.refunded_cents == sum(-cents for kind, cents in records if kind == "refund")
    assert totals.payment_count == (1 if stands.left_cents > 0 else 0)
    assert said.count("refund") == sum(1 for kind, _ in records if kind == "refund")


def test_refunds_count_in_patron_totals_and_in_the_export_as_the_event_totals_do(store):
    paid = stripe_paid(10_000, patron="Ana Ruiz")
    store.record_payment(paid, total_cents=100_000, idempotency_key="stripe:cs_1")
    refunded = stripe_paid(4_000, intent="pi_test_0002", patron="ana  ruiz", at=T0 + timedelta(minutes=1))
    store.record_payment(refunded, total_cents=100_000, idempotency_key="stripe:cs_2")
    store.record_payment(payment(amount=2_500, patron="Bo Chen"), total_cents=100_000, idempotency_key="cash")
    refund(store, paid, 2_500, "re_1")
    refund(store, refunded, 4_000, "re_2")
    refund(store, refunded, 4_000, "re_2", failed=True)
    refund(store, refunded, 1_000, "re_3")
    records = store.event_payments("gala")
    totals = store.event_totals(["gala"])["gala"]
    lines = {t.key: t for t in patron_totals(records)}
    assert (lines["ana ruiz"].total_cents, lines["ana ruiz"].payments) == (10_500, 2)
    assert (lines["bo chen"].total_cents, lines["bo chen"].payments) == (2_500, 1)
    assert sum(t.total_cents for t in lines.values()) == totals.paid_cents == 13_000
    assert sum(t.payments for t in lines.values()) == totals.payment_count == 3
    # The per-patron totals every write keeps say the same.
    assert store.event_overview("gala", recent=5).patrons == tuple(patron_totals(records))
