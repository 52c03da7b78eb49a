"""One contract, two stores: SQLite (embedded default) and DynamoDB (moto server)."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import EventTotals, Payment
from bot.ports import IdempotencyConflict, OverTotal, PaymentNotFound, StoreError
from infra.dynamo_store import DynamoStore
from infra.sqlite_store import SqliteStore

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


def test_init_schema_is_idempotent_and_ping_answers(store):
    store.init_schema()
    store.init_schema()
    store.ping()


def test_ping_without_schema_says_to_init(tmp_path, moto_endpoint):  # noqa: F811
    for empty in (SqliteStore(tmp_path / "empty.db"), DynamoStore("opsbot-never-made", region="us-west-2",
                                                                     endpoint_url=moto_endpoint)):
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


def test_message_refs(store):
    assert store.message_ref("pay_1") is None
    store.set_message_ref("pay_1", "C0AUDIT0001", "1700000000.000100")
    assert store.message_ref("pay_1") == ("C0AUDIT0001", "1700000000.000100")
    store.set_message_ref("pay_1", "C0AUDIT0001", "1700000000.000200")
    assert store.message_ref("pay_1") == ("C0AUDIT0001", "1700000000.000200")


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
