"""Every benchmark in one run, and one table: row | figure | baseline | ratio | goal | met?

    .venv/bin/python -m bench              # the figures of BENCHMARKS.md (about 10 minutes on 2 cores)
    .venv/bin/python -m bench --quick      # smaller runs of the same, about 3 minutes
    .venv/bin/python bench/run_all.py --only ack ledger --markdown

Each bench also runs alone (bench/ack_bench.py, ledger_bench.py, coldstart_bench.py,
summary_bench.py, deploy_bench.py, edge_bench.py, outbox_bench.py, round_trips_bench.py,
startup_bench.py, events_bench.py) and prints its own table. The deploy rows need awscli in
the venv (see bench/deploy_bench.py); without it they show opsbot's side only and say so.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (  # noqa: E402
    ack_bench,
    coldstart_bench,
    deploy_bench,
    edge_bench,
    events_bench,
    ledger_bench,
    outbox_bench,
    round_trips_bench,
    startup_bench,
    summary_bench,
)
from bench.common import Row, machine, print_table  # noqa: E402

BENCHES = ("ack", "ledger", "coldstart", "startup", "summary", "deploy", "edge", "outbox", "round_trips", "events")


def run_ack(quick: bool) -> list[Row]:
    result = ack_bench.run(rounds=2 if quick else 5, per_client=15 if quick else 25, solo=30 if quick else 100,
                           single_per_round=30 if quick else 80)
    ack_bench.report(result)
    if not result.exact:
        raise RuntimeError("ack bench: the store does not hold exactly the payments sent")
    return ack_bench.rows(result)


def run_ledger(quick: bool) -> list[Row]:
    result = ledger_bench.run(payments=5_000 if quick else 20_000, rounds=2 if quick else 5,
                              dynamo_payments=150 if quick else 500)
    if not result.exact:
        raise RuntimeError("ledger bench: totals are not exact")
    return ledger_bench.rows(result)


def run_coldstart(quick: bool) -> list[Row]:
    return coldstart_bench.rows(coldstart_bench.run(runs=7 if quick else 15))


def run_summary(quick: bool) -> list[Row]:
    results = summary_bench.run(runs=10 if quick else 20,
                                dynamo_histories=(1_000, 20_000) if quick else None)
    return summary_bench.table_rows(results)


def run_deploy(quick: bool) -> list[Row]:
    aws = deploy_bench.find_aws()
    if aws is None:
        print("awscli is not installed: the deploy rows show opsbot's side only "
              "(see bench/deploy_bench.py for the pip command).")
    result = deploy_bench.run(files=100 if quick else 500, aws=aws)
    deploy_bench.report(result)
    big = deploy_bench.run_big(megabytes=50 if quick else 200, aws=aws, rounds=1 if quick else 3)
    deploy_bench.report_big(big)
    return deploy_bench.rows(result) + deploy_bench.big_rows(big)


def run_edge(quick: bool) -> list[Row]:
    result = edge_bench.run(held=1_000, acks=100 if quick else 300)
    edge_bench.report(result)
    if not result.exact:
        raise RuntimeError("edge bench: the store does not hold exactly the payments acked")
    return edge_bench.rows(result)


def run_outbox(quick: bool) -> list[Row]:
    result = outbox_bench.run(payments=3_000 if quick else 30_000, dynamo_payments=100 if quick else 600)
    if not result.exact:
        raise RuntimeError("outbox bench: a store does not hold exactly the payments sent")
    return outbox_bench.rows(result)


def run_startup(quick: bool) -> list[Row]:
    return startup_bench.rows(startup_bench.run(runs=3 if quick else 7))


def run_events(quick: bool) -> list[Row]:
    pairs = events_bench.run(small=1_000 if quick else 10_000, large=10_000 if quick else 100_000,
                             runs=7 if quick else 15, dynamodb=not quick)
    return events_bench.rows(pairs)


def run_round_trips(quick: bool) -> list[Row]:
    counts = round_trips_bench.run(history=100 if quick else 300)
    round_trips_bench.report(counts)
    return round_trips_bench.rows(counts)


RUNNERS: dict[str, Callable[[bool], list[Row]]] = {
    "ack": run_ack, "ledger": run_ledger, "coldstart": run_coldstart, "summary": run_summary, "deploy": run_deploy,
    "edge": run_edge, "outbox": run_outbox, "round_trips": run_round_trips, "startup": run_startup,
    "events": run_events,
}


def print_markdown(rows: list[Row]) -> None:
    print("| row | figure | baseline | ratio | goal | met? | command |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}×"
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        print(f"| {r.name} | {r.figure} | {r.baseline} | {ratio} | {r.goal or '—'} | {met} | `{r.command}` |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs of every bench")
    parser.add_argument("--only", nargs="+", choices=BENCHES, help="run only these benches")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)
    about = machine()
    print(f"{about['cores']} cores ({about['cpu']}), {about['memory']}, Python {about['python']}, {about['os']}")
    rows: list[Row] = []
    for name in args.only or BENCHES:
        print(f"\n== {name} ==")
        started = time.perf_counter()
        rows += RUNNERS[name](args.quick)
        print(f"({name}: {time.perf_counter() - started:.0f} s)")
    print_table(rows, "All benchmarks" + (" (--quick)" if args.quick else ""))
    if args.markdown:
        print()
        print_markdown(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
