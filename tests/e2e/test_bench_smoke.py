"""The benchmarks in bench/ keep working: each runs its smallest configuration here
and its numbers must add up (every payment recorded, totals exact to the cent,
the right uploads). No timing is asserted: figures live in BENCHMARKS.md, made by
``python -m bench`` on a quiet machine. awscli is not used here (it is not a
project dependency): the deploy part runs opsbot's side only."""

from __future__ import annotations

import os

import pytest

from bench import (
    ack_bench,
    coldstart_bench,
    deploy_bench,
    edge_bench,
    events_bench,
    ledger_bench,
    outbox_bench,
    summary_bench,
)

pytestmark = pytest.mark.slow  # CI runs it; `pytest -m "not slow"` skips it for a quick run


def quiet(*_: object) -> None:
    """The benches' progress lines, dropped: the tests read the figures they return."""


def test_ack_bench_records_every_payment_it_sends():
    result = ack_bench.run(rounds=1, per_client=2, warmup_per_client=1, clients=4, solo=2, single_per_round=3,
                           log=quiet)

    # Per case: 4 warm-up + 8 measured with 4 clients + 3 from one client + 2 solo requests.
    assert [len(result.cases[c].latencies) for c in ack_bench.CASES] == [8] * 5
    assert [len(result.cases[c].single) for c in ack_bench.CASES] == [3] * 5
    assert [len(result.cases[c].solo) for c in ack_bench.CASES] == [2] * 5
    assert result.payments_sent == result.payments_recorded == 2 * 17  # opsbot's one-liners and modals
    assert result.paid_cents_recorded == result.paid_cents_expected and result.floor_exact
    # An audit line for each of opsbot's and the floor's payments; a receipt per modal payment.
    assert (result.audit_lines, result.receipts) == (3 * 17, 17)
    answer = result.cases["opsbot one-liner"].answers[0]
    assert answer.startswith('{"text": "Recorded: $') and "for Bench Big Night" in answer
    assert result.cases["floor one-liner"].answers[0].startswith('{"text": "Recorded: $')
    rows = {r.name: r for r in ack_bench.rows(result)}
    for clients in ("4 clients", "1 client"):
        for name in ("p50", "p99"):
            row = rows[f"ack: `/log-payment` one-liner vs the hand-written floor, {name}, {clients}"]
            assert row.ratio is not None and row.ratio > 0
    # CPU rows appear when both processes used measurable CPU (/proc counts in clock ticks: a tiny run may not).
    assert {n for n in rows if n.startswith("bot process CPU per one-liner vs the floor")} <= {
        "bot process CPU per one-liner vs the floor (after-ack work included), 4 clients",
        "bot process CPU per one-liner vs the floor (after-ack work included), 1 client"}


def test_ledger_bench_totals_are_exact_on_sqlite_the_floor_and_dynamodb():
    result = ledger_bench.run(payments=64, rounds=1, dynamo_payments=16, threads=8, log=quiet)

    expected = sum(ledger_bench.amount_cents(i) for i in range(64))
    for run in (*result.service, *result.floor, *result.fair):
        assert (run.payments, run.payment_count, run.rows, run.paid_cents) == (64, 64, 64, expected)
    assert len(result.fair) == 1
    dynamo = result.dynamo
    assert (dynamo.payments, dynamo.payment_count, dynamo.rows, dynamo.paid_cents) == (
        16, 16, 16, sum(ledger_bench.amount_cents(i) for i in range(16)))
    assert result.exact
    [sqlite_row, fair_row, dynamo_row] = ledger_bench.rows(result)
    assert sqlite_row.figure.endswith("/s (totals exact)") and sqlite_row.ratio > 0
    assert fair_row.baseline.startswith("same-rows sqlite3") and fair_row.ratio > 0
    # Per payment: one read (the key and the totals) and the transaction; a writer that another one
    # overtook tries again without a read (the totals come back with the cancellation) and reads
    # the totals after its write: four at most, 8 writers racing on one event.
    assert 16 * 2 <= dynamo.requests <= 16 * 4
    assert dynamo_row.figure.endswith("requests/payment)")


def test_events_bench_reads_the_same_whatever_the_history():
    pairs = events_bench.run(small=50, large=500, runs=1, dynamodb=False)
    assert [(p.what, p.store) for p in pairs] == [
        ("/events EVENT", "sqlite"), ("/events", "sqlite"), ("/events (signed request, as Slack waits)", "sqlite")]
    assert all(p.small_ms > 0 and p.large_ms > 0 for p in pairs)
    rows = events_bench.rows(pairs)
    # /events's goal is the time the crew waits for; the function alone (8× the lines to draw) is for the record.
    assert [(r.goal, r.met is None) for r in rows] == [("≤ 1.3×", False), ("for the record", True), ("≤ 2.0×", False)]


def test_coldstart_bench_times_every_variant_in_fresh_interpreters():
    result = coldstart_bench.run(runs=1, log=quiet)

    assert set(result.timed) == set(coldstart_bench.VARIANTS)
    assert all(len(times) == 1 and times[0] > 0 for times in result.timed.values())
    names = [r.name for r in coldstart_bench.rows(result)]
    assert names == ["cold start: import bot.entrypoints.aws_lambda", "cold start: import bot.bootstrap",
                     "cold start: import + build_lambda_bot + the /log-payment listener (first request's set-up)",
                     "cold start: the same vs a bare Bolt app that builds a DynamoDB client"]
    heaviest = dict(coldstart_bench.heaviest_imports("import bot.entrypoints.aws_lambda"))
    assert "bot.entrypoints.aws_lambda" in heaviest


def test_summary_bench_counts_the_days_payments_on_both_stores():
    environment = dict(os.environ)
    results = summary_bench.run(runs=1, histories=(20, 200))
    assert dict(os.environ) == environment

    assert [(store, history) for store, history, _, _ in results] == [
        ("sqlite", 20), ("sqlite", 200), ("dynamodb", 20), ("dynamodb", 200)]
    # One summary asks DynamoDB the same whatever the history: the day's query (its 200 items), the same weekday's
    # a week before (its 100) and one batch read.
    assert [r[3] and (r[3]["requests"], r[3]["items"]) for r in results] == [None, None, (3, 300), (3, 300)]
    rows = summary_bench.table_rows(results)
    assert [(r.name, r.figure) for r in rows][1:] == [
        ("summary of a 200-payment day, dynamodb (moto): requests + items read, 200 vs 20 other payments",
         "3 requests, 300 items"),
        ("summary of a 200-payment day, dynamodb (moto): wall time, 200 vs 20 other payments", rows[2].figure)]
    assert rows[0].name == "summary of a 200-payment day, sqlite: 200 vs 20 other payments"
    assert (rows[1].ratio, rows[1].met) == (1.0, True)


def test_deploy_bench_uploads_only_what_changed():
    environment = dict(os.environ)
    result = deploy_bench.run(files=12, aws=None)
    assert dict(os.environ) == environment  # its AWS settings were this run's alone

    n = result.files  # the generator rounds each file kind's share: 11 files of 7 kinds
    assert n == 11
    puts = [result.run_of("opsbot", label)[0].get("PutObject", 0) for label in deploy_bench.LABELS]
    assert puts == [n, 0, 1]
    assert result.headers == {"opsbot": (n, n, n, n)}  # media type, exact Content-Type, Cache-Control on every file
    rows = deploy_bench.rows(result)
    assert [(r.name, r.baseline) for r in rows] == [
        ("deploy 11 files: first deploy", "aws s3 sync not run"),
        ("deploy 11 files: unchanged re-deploy", "aws s3 sync not run"),
        ("deploy 11 files: one file changed", "aws s3 sync not run")]


def test_deploy_bench_sends_a_large_file_in_parts_once():
    environment = dict(os.environ)
    result = deploy_bench.run_big(megabytes=17, aws=None, rounds=1)  # just over the 16 MiB threshold: two parts
    assert dict(os.environ) == environment

    first, again = result.big["runs"]
    assert (first["counts"].get("PutObject"), first["counts"].get("UploadPart")) == (1, 2)  # index.html, 2 parts
    assert deploy_bench.uploads(again["counts"]) == 0 and again["result"] == "up to date"
    assert result.baseline["peak_mib"] > 0 and result.big["peak_mib"] > 0
    [rss, redeploy] = deploy_bench.big_rows(result)
    assert rss.name == "deploy one 17 MB file: peak RSS" and rss.baseline.startswith("one-page deploy ")
    assert redeploy.figure.endswith(", 0 upload requests") and redeploy.met


def test_edge_bench_acks_every_payment_beside_held_connections_and_a_token_flood():
    result = edge_bench.run(held=20, acks=3, warmup=1, log=quiet)

    assert [len(result.quiet), len(result.with_held), len(result.flood)] == [3, 3, 3]
    assert result.payments_sent == result.payments_recorded == 10 and result.exact
    assert set(result.guesses) <= {401, 429} and result.checks >= 1
    names = [r.name for r in edge_bench.rows(result)]
    assert names[0] == "ack: one-liner, p50, 20 idle + half-open connections held"
    assert "wrong tokens checked with bcrypt" in names[-2]


@pytest.mark.parametrize("values, fraction, expected", [
    ([5.0, 1.0, 3.0, 2.0, 4.0], 0.5, 3.0),
    ([float(n) for n in range(1, 2001)], 0.99, 1980.0),
    ([7.0], 0.99, 7.0),
])
def test_percentiles_are_nearest_rank(values, fraction, expected):
    from bench.common import percentile

    assert percentile(values, fraction) == expected


def test_outbox_bench_announces_every_payment_and_keeps_the_stores_exact():
    result = outbox_bench.run(payments=60, dynamo_payments=12, clients=4, warmup=20, log=quiet)

    assert result.exact
    ours, floor, dynamo = result.opsbot, result.floor, result.dynamo
    assert (ours.payments, len(ours.latencies), ours.sent_total, ours.announced) == (60, 60, 80, 80)
    assert (dynamo.payments, dynamo.sent_total, dynamo.announced) == (12, 32, 32)
    # The floor posts a line per payment; Slack's pace refuses most of them (lost: it does not retry).
    assert floor.sent_total == 80 and floor.announced + floor.ratelimited == 80
    assert ours.rss_before_kib > 0 and ours.peak_kib >= ours.rss_after_kib
    names = [r.name for r in outbox_bench.rows(result)]
    assert names[:2] == [
        "outbox: 60 one-liners at full speed (4 clients, Slack pacing the channel): every payment announced, "
        "after the last ack", "outbox: 60 one-liners: bot process RSS growth (warm-up to all announced)"]
