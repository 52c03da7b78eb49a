"""What a start loads and does, as names and states, never timings (issue 19's start-up goals are
measured by bench/startup_bench.py and bench/coldstart_bench.py): importing the Lambda entry loads
no Slack, AWS or listener module; a server's imports leave APScheduler and bcrypt for later; the
garbage collector paused for a start is back on afterwards, whatever happened, and what a start
that succeeded built is frozen out of its passes, once per process; a thread done with
the SQLite store closes its connection."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.bootstrap import build_services, release_thread_connection
from bot.config import load_settings
from bot.entrypoints import aws_lambda
from bot.entrypoints.startup import pause_collection
from tests.conftest import EVENTS_FILE, REPO


def modules_after(statement: str) -> set[str]:
    """The top-level packages loaded in a fresh interpreter after ``statement``."""
    done = subprocess.run([sys.executable, "-c", f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in done.stdout.split()}


def test_importing_the_lambda_entry_loads_no_slack_aws_listener_or_scheduler_module():
    loaded = modules_after("import bot.entrypoints.aws_lambda")
    assert "bot" in loaded
    assert loaded.isdisjoint({"slack_sdk", "slack_bolt", "boto3", "botocore", "handlers", "blocks", "apscheduler",
                              "waitress", "bcrypt", "stripe", "dotenv"})


def test_a_server_loads_its_scheduler_after_it_listens_and_bcrypt_at_the_first_token_check():
    # What `opsbot serve` imports before it listens (cli, the composition root, the server, the listeners).
    loaded = modules_after("import bot.entrypoints.cli, bot.bootstrap, bot.entrypoints.http, "
                           "bot.entrypoints.web_api, handlers, infra.sqlite_store")
    assert {"slack_bolt", "handlers", "blocks"} <= loaded
    assert loaded.isdisjoint({"apscheduler", "bcrypt", "boto3", "botocore", "tomllib", "getpass"})


def test_the_collector_paused_for_a_start_comes_back_as_it_was():
    assert gc.isenabled()
    resume = pause_collection()
    assert not gc.isenabled()
    resume()
    assert gc.isenabled()
    gc.disable()
    try:
        resume()  # already done: does not turn it on again
        assert not gc.isenabled()
        pause_collection()()  # paused while off: stays off
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_building_the_lambda_bot_leaves_the_collector_on_even_when_it_fails(tmp_path):
    environ = {"OPSBOT_STORE": f"sqlite:///{tmp_path / 'ledger.db'}", "OPSBOT_EVENTS_FILE": str(EVENTS_FILE)}
    built = aws_lambda.build_lambda_bot(load_settings(environ=environ, env_file=None))
    assert built.slack is None and gc.isenabled()
    broken = load_settings(environ={**environ, "OPSBOT_EVENTS_FILE": str(tmp_path / "missing.json")}, env_file=None)
    with pytest.raises(Exception, match="missing.json"):
        aws_lambda.build_lambda_bot(broken)
    assert gc.isenabled()


FREEZE_PROBE = """
import gc, json
from bot.config import load_settings
from bot.entrypoints import aws_lambda
environ = {{"OPSBOT_STORE": "sqlite:///{db}", "OPSBOT_EVENTS_FILE": "{events}"}}
assert gc.get_freeze_count() == 0
try:
    aws_lambda.build_lambda_bot(load_settings(environ={{**environ, "OPSBOT_EVENTS_FILE": "{missing}"}}, env_file=None))
    failure = None
except Exception as refused:
    failure = str(refused)
after_failure = gc.get_freeze_count()
aws_lambda.build_lambda_bot(load_settings(environ=environ, env_file=None))
after_start = gc.get_freeze_count()
aws_lambda.build_lambda_bot(load_settings(environ=environ, env_file=None))
after_second = gc.get_freeze_count()
enabled = gc.isenabled()
gc.unfreeze()
kept_garbage = gc.collect()
print(json.dumps([failure, after_failure, after_start, after_second, enabled, kept_garbage]))
"""


def test_a_start_that_succeeded_is_frozen_out_of_the_collector_once_and_keeps_little_garbage(tmp_path):
    probe = FREEZE_PROBE.format(db=tmp_path / "ledger.db", events=EVENTS_FILE, missing=tmp_path / "missing.json")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    failure, after_failure, after_start, after_second, enabled, kept_garbage = json.loads(done.stdout.splitlines()[-1])
    assert "missing.json" in failure and after_failure == 0  # a start that failed froze nothing
    assert after_start > 10_000  # the modules, the services, the catalog: never walked again
    assert after_second == after_start  # once per process: a later build's objects are collected as usual
    assert enabled
    # What freezing kept of the imports' cyclic garbage (836 objects when measured): bounded, not growing.
    assert 0 < kept_garbage < 5_000


SERVE_FREEZE_PROBE = """
import argparse, gc, json
from bot.config import load_settings
from bot.entrypoints import cli, http
seen = []

def refused(services, host, port, on_listening):
    raise OSError("address already in use")  # before it listens

def listens(services, host, port, on_listening):
    seen.append(gc.get_freeze_count())
    on_listening()
    seen.extend([gc.get_freeze_count(), gc.isenabled()])

settings = load_settings(environ={{"OPSBOT_STORE": "sqlite:///{db}", "OPSBOT_EVENTS_FILE": "{events}"}}, env_file=None)
args = argparse.Namespace(host="127.0.0.1", port=0, no_deliverer=True)
http.serve = refused
try:
    cli.cmd_serve(settings, args)
except OSError:
    seen.extend([gc.get_freeze_count(), gc.isenabled()])
http.serve = listens
cli.cmd_serve(settings, args)
print(json.dumps(seen))
"""


def test_opsbot_serve_freezes_its_start_once_it_listens_and_not_when_it_could_not(tmp_path):
    probe = SERVE_FREEZE_PROBE.format(db=tmp_path / "ledger.db", events=EVENTS_FILE)
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    after_refusal, enabled_after_refusal, before_listening, after_listening, enabled = json.loads(
        done.stdout.splitlines()[-1])
    assert (after_refusal, enabled_after_refusal) == (0, True)
    assert before_listening == 0 and after_listening > 10_000 and enabled


def open_handles(path) -> int:
    """This process's open files on ``path`` (Linux's /proc): one per SQLite connection to it."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if fd.resolve() == path) if fds.exists() else -1


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files through Linux's /proc")
def test_a_thread_done_with_the_sqlite_store_lets_its_connection_go_and_opens_another_when_it_needs_one(tmp_path):
    # `opsbot serve`'s main thread after the start's checks, the schedule's worker after a job.
    db = (tmp_path / "ledger.db").resolve()
    services = build_services(load_settings(environ={"OPSBOT_STORE": f"sqlite:///{db}",
                                                     "OPSBOT_EVENTS_FILE": str(EVENTS_FILE)}, env_file=None))
    services.store.init_schema()
    services.store.ping()
    assert open_handles(db) == 1
    release_thread_connection(services)
    assert open_handles(db) == 0
    services.store.ping()  # the next use opens another
    assert open_handles(db) == 1
