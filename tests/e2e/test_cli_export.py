"""``opsbot export``, run as the operator runs it (``python -m bot`` in a subprocess), on SQLite and on
DynamoDB: the CSV on stdout or in a file, its columns and totals, and every refusal as one line."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from bot.bootstrap import build_services
from bot.core.ports import StoreError, StripeRefund
from bot.entrypoints.cli import write_private_file
from tests.conftest import ADMIN_USER, REPO

JADA = "2026-05-23-jada-charter"
WHALES = "2027-01-16-whale-watch-charter"
HEADER = ("record_id,time,day,event_id,event_title,patron,amount_cents,amount,method,notes,logged_by,source,"
          "reverses,stripe_id")


@pytest.fixture(params=["sqlite", "dynamodb"])
def ledger_env(request, opsbot_env, make_settings, tmp_path) -> tuple[dict[str, str], object]:
    """(the environment of a CLI run, the services over the same store) with a few records in it."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), "HOME": str(tmp_path),
           **opsbot_env}
    if request.param == "dynamodb":
        endpoint = request.getfixturevalue("moto_endpoint")
        env.update(OPSBOT_STORE=f"dynamodb://opsbot-{uuid.uuid4().hex[:10]}", AWS_ENDPOINT_URL=endpoint,
                   AWS_REGION="us-west-2", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    services = build_services(make_settings(**{k: env[k] for k in env if k.startswith(("OPSBOT_", "AWS_"))}))
    services.store.init_schema()
    ledger = services.ledger
    ana = ledger.record_payment(event_id="jada", patron="Ana Ruiz", amount="500", method="venmo", notes="",
                                logged_by="U0CREW00001", idempotency_key="k1").payment
    ledger.record_payment(event_id="whale", patron="-1 Bo, \"the\" boat", amount="1,850", method="check",
                          notes="=1+1", logged_by="U0CREW00001", idempotency_key="k2")
    ledger.void_payment(ana.payment_id, by=ADMIN_USER)
    ledger.record_payment(event_id="jada", patron="Ána Ruiz", amount="60.25", method="cash", notes="",
                          logged_by="U0CREW00001", idempotency_key="k3")
    return env, services


def run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "bot", "export", *args], env=env, cwd=cwd, capture_output=True,
                          timeout=60)
    # Decoded as they were written: the CSV's line ends are CRLF (RFC 4180), kept as they are.
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8"),
                                       done.stderr.decode("utf-8"))


def rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff" + HEADER + "\r\n")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


def test_the_whole_ledger_on_stdout_with_totals_that_are_events_figures(ledger_env, tmp_path):
    env, services = ledger_env
    done = run(env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = rows(done.stdout)
    assert [(r["event_id"], r["amount_cents"], r["amount"], r["method"]) for r in got] == [
        (JADA, "50000", "500.00", "venmo"), (WHALES, "185000", "1850.00", "check"),
        (JADA, "-50000", "-500.00", "venmo"), (JADA, "6025", "60.25", "cash")]
    assert got[2]["reverses"] == got[0]["record_id"]
    assert (got[1]["patron"], got[1]["notes"]) == ("'-1 Bo, \"the\" boat", "'=1+1")  # text, never a formula
    per_event: dict[str, int] = defaultdict(int)
    for row in got:
        per_event[row["event_id"]] += int(row["amount_cents"])
    for event_id, cents in per_event.items():
        assert cents == services.ledger.status(event_id).paid_cents
    assert done.stderr == ("Exported all events: 4 rows: 3 payments $2,410.25, 1 reversal -$500.00, "
                           "net $1,910.25.\n")


def test_one_event_to_a_file_readable_by_its_owner_only(ledger_env, tmp_path):
    env, _ = ledger_env
    out = tmp_path / "may.csv"
    out.write_text("an older export\n")
    done = run(env, "--event", "jada", "--from", "2000-01-01", "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert [r["amount_cents"] for r in rows(out.read_bytes().decode("utf-8"))] == ["50000", "-50000", "6025"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert done.stderr == (f"Exported JADA Charter, from 2000-01-01 to {out}: 3 rows: 2 payments $560.25, "
                           "1 reversal -$500.00, net $60.25.\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.parametrize("args, status, said", [
    (["--event", "nope"], 1, "opsbot: There is no event 'nope'. Run /events to see the event ids.\n"),
    (["--from", "2026-05-02", "--to", "2026-05-01"], 1,
     "opsbot: The first day (2026-05-02) is after the last (2026-05-01).\n"),
    (["--from", "2020-01-01", "--to", "2026-01-01"], 1, "opsbot: 2020-01-01 to 2026-01-01 is 2,193 days; "
     "a date range covers at most 366 days at a time (or give one event, which has no limit).\n"),
    (["--from", "2026-02-30"], 2, "argument --from: '2026-02-30' is not a real date"),
    (["--output", "/no/such/folder/x.csv"], 1, "opsbot: /no/such/folder/x.csv: no folder /no/such/folder\n"),
])
def test_what_cannot_be_exported_is_one_line_and_writes_nothing(ledger_env, tmp_path, args, status, said):
    env, _ = ledger_env
    done = run(env, *args, cwd=tmp_path)
    assert done.returncode == status
    assert said in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_store_that_fails_half_way_leaves_the_older_file_as_it_was(ledger_env, tmp_path):
    env, _ = ledger_env
    out = tmp_path / "ledger.csv"
    out.write_text("an older export\n")
    broken = {**env, "OPSBOT_STORE": f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}"} \
        if env["OPSBOT_STORE"].startswith("sqlite") else {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    done = run(broken, "--output", str(out), cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("opsbot: ") and "Traceback" not in done.stderr
    assert out.read_text() == "an older export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_a_failure_while_the_file_is_written_leaves_no_half_file(tmp_path):
    def lines_then_failure():
        yield "header\r\n"
        yield "a row\r\n"
        raise StoreError("DynamoDB query failed: ProvisionedThroughputExceededException")

    out = tmp_path / "ledger.csv"
    out.write_text("an older export\n")
    with pytest.raises(StoreError):
        write_private_file(out, lines_then_failure())
    assert out.read_text() == "an older export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.csv"]
    write_private_file(out, iter(["whole\r\n"]))
    assert out.read_bytes() == b"whole\r\n" and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_refunds_are_rows_of_their_own_and_the_totals_still_are_events_figures(ledger_env, tmp_path):
    env, services = ledger_env
    ledger = services.ledger
    paid = ledger.record_stripe_payment(event_id=JADA, patron="Cy Diaz", amount_cents=30_000, notes="cs_test_cy",
                                        idempotency_key="stripe:cs_test_cy", stripe_id="cs_test_cy",
                                        payment_intent="pi_test_cy").payment
    ledger.record_refund(paid, StripeRefund("re_test_a", 10_000, "usd", "succeeded", "pi_test_cy", "ch_test_cy"))
    ledger.record_refund(paid, StripeRefund("re_test_b", 5_000, "usd", "succeeded", "pi_test_cy", "ch_test_cy"))
    ledger.record_refund(paid, StripeRefund("re_test_b", 5_000, "usd", "failed", "pi_test_cy", "ch_test_cy"),
                         failed=True)
    done = run(env, "--event", "jada", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = rows(done.stdout)
    assert [(r["amount_cents"], r["reverses"], r["stripe_id"], r["source"]) for r in got[-4:]] == [
        ("30000", "", "cs_test_cy", "stripe"), ("-10000", paid.payment_id, "re_test_a", "stripe"),
        ("-5000", paid.payment_id, "re_test_b", "stripe"), ("5000", paid.payment_id, "re_test_b", "stripe")]
    assert sum(int(r["amount_cents"]) for r in got) == ledger.status(JADA).paid_cents == 6_025 + 20_000
