"""``opsbot doctor``, run as the operator runs it (``python -m bot doctor`` in a
subprocess) with missing, wrong and good settings, against the Slack and Stripe
stand-ins and moto's server. Secrets never appear in what it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bot.config import diagnose_settings
from bot.entrypoints import cli
from bot.entrypoints.doctor import mask
from tests.conftest import AUDIT_CHANNEL, EVENTS_FILE, PROJECT_VERSION, REPO
from tests.deploy_sites import REGION, SITE_FILES, site_on_moto
from tests.fakes.stripe_api import API_KEY, WEBHOOK_SECRET

BOT_TOKEN = "xoxb-1111111111-2222222222-abcdefghijklmnopqrstuvwx"
APP_TOKEN = "xapp-1-A0APP000001-3333333333-0123456789abcdef0123456789abcdef"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Only what the test sets: no AWS credentials unless given, no .env (cwd is tmp)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "OPSBOT_STORE": f"sqlite:///{tmp_path / 'opsbot.db'}",
        "OPSBOT_EVENTS_FILE": str(EVENTS_FILE),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        **extra,
    }
    return {k: v for k, v in env.items() if v}


def run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def doctor(env: dict[str, str], cwd: Path) -> tuple[int, list[str], str]:
    result = run(env, "doctor", cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    # Columns are padded to the longest name: compare with single spaces.
    lines = [re.sub(r" {2,}", " ", line.strip()) for line in result.stdout.splitlines()]
    return result.returncode, lines, result.stdout


def no_secret_in(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output
        assert secret[-12:] not in output


# -- missing --------------------------------------------------------------------------------------


def test_nothing_configured_is_not_a_failure_only_a_missing_store_is(tmp_path):
    env = base_env(tmp_path)
    status, lines, _ = doctor(env, tmp_path)
    assert status == 1
    db = tmp_path / "opsbot.db"
    assert f"✗ store SQLite store {db}: the file does not exist" in lines
    assert "→ run `opsbot init-store` (or check OPSBOT_STORE and the working directory)" in lines
    assert not db.exists()  # the doctor looks; it does not create
    assert lines[-1] == "1 problem: fix the ✗ lines above, then run `opsbot doctor` again."

    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    status, lines, _ = doctor(env, tmp_path)
    assert status == 0
    for line in [
        f"opsbot doctor (opsbot {PROJECT_VERSION}): the configuration from the environment",
        "– SLACK_BOT_TOKEN not set: Slack is off (`opsbot console` works without it)",
        "– SLACK_APP_TOKEN not set: `opsbot run` serves HTTP at /slack/events, which Slack must reach at a public "
        "HTTPS URL; set it to use Socket Mode instead",
        "– OPSBOT_ADMINS nobody: no one can void payments, deploy sites or make payment links",
        f"✓ events.json {EVENTS_FILE}: 6 events, 3 sites",
        f"✓ site gipsykings source {REPO / 'sites' / 'gipsykings'}: 5 files",
        f"✓ store SQLite store {db}: reachable, schema present",
        "– Slack not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (README: Creating the Slack app)",
        "– AWS no credentials found: /deploy runs as a dry run",
        "– STRIPE_API_KEY not set: /paylink shows what it would make (a dry run)",
        "Everything that is configured works. (– marks what is not configured.)",
    ]:
        assert line in lines, (line, lines)
    assert not any(line.startswith("✗") for line in lines)


# -- wrong ----------------------------------------------------------------------------------------


def test_malformed_settings_are_each_named_with_the_fix_and_never_echoed(tmp_path):
    token, stripe_key = "oops-not-a-token-S3CRETS3CRET", "pk_live_51Habcdefghijklmnop"
    env = base_env(tmp_path, SLACK_BOT_TOKEN=token, SLACK_SIGNING_SECRET=SIGNING, OPSBOT_AUDIT_CHANNEL="#ops",
                   STRIPE_API_KEY=stripe_key, OPSBOT_STORE="postgres://opsbot:hunter2@db.example/opsbot",
                   OPSBOT_SUMMARY_AT="6pm")
    status, lines, output = doctor(env, tmp_path)
    assert status == 1
    for line in [
        "✗ SLACK_BOT_TOKEN expected a value starting with xoxb-",
        "→ copy the Bot User OAuth Token (xoxb-…) from https://api.slack.com/apps → opsbot → OAuth & Permissions",
        "✓ SLACK_SIGNING_SECRET set (32 characters, not shown)",
        "✗ OPSBOT_STORE expected sqlite:///PATH or dynamodb://TABLE, got 'postgres://opsbot:***@db.example/opsbot'",
        "✗ OPSBOT_AUDIT_CHANNEL expected a Slack channel ID like C0123456789 (not a #name), got '#ops'",
        "→ use the ops channel's ID: in Slack, open the channel's details; the ID is at the bottom",
        "✗ OPSBOT_SUMMARY_AT expected a local time HH:MM (24-hour), got '6pm'",
        "✗ STRIPE_API_KEY expected a value starting with sk_test_ or sk_live_ or rk_test_ or rk_live_",
        "→ copy a secret key (sk_test_… or sk_live_…) from the Stripe dashboard → Developers → API keys",
    ]:
        assert line in lines, (line, lines)
    no_secret_in(output, token, stripe_key, SIGNING, "hunter2")


def test_services_that_refuse_are_failures_with_what_to_do(tmp_path, slack_api, stripe_api, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, SITE_FILES, distribution="E0NOSUCHDIST1")
    # The bucket exists for a moment only: the doctor then finds it gone.
    import boto3

    boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint).delete_bucket(Bucket=site.bucket)
    slack_api.fail_next("auth.test", "invalid_auth")
    wrong_key = "sk_test_51Hwrongwrongwrongwrong0000"
    env = base_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING,
                   OPSBOT_SLACK_API_URL=slack_api.base_url, OPSBOT_AUDIT_CHANNEL=AUDIT_CHANNEL,
                   STRIPE_API_KEY=wrong_key, OPSBOT_STRIPE_API_BASE=stripe_api.base_url,
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", **site.env())
    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    status, lines, output = doctor(env, tmp_path)
    assert status == 1
    for line in [
        "✗ auth.test Slack refused SLACK_BOT_TOKEN (invalid_auth)",
        "→ copy the Bot User OAuth Token again from https://api.slack.com/apps → opsbot → OAuth & Permissions "
        "(reinstalling the app issues a new one)",
        "✓ AWS identity arn:aws:sts::123456789012:user/moto (account 123456789012)",
        f"✗ site gipsykings bucket s3://{site.bucket}: not found",
        "→ create the bucket, or fix \"bucket\" in events.json",
        "✗ site gipsykings CDN E0NOSUCHDIST1: not found",
        "→ fix \"distributionId\" in events.json (CloudFront console → the site's distribution ID)",
        "✓ STRIPE_API_KEY sk_test_…0000: test mode",
        "✗ Stripe API Stripe refused STRIPE_API_KEY (HTTP 401)",
    ]:
        assert line in lines, (line, lines)
    assert lines[-1] == "4 problems: fix the ✗ lines above, then run `opsbot doctor` again."
    no_secret_in(output, BOT_TOKEN, wrong_key, SIGNING)


def test_a_slack_app_missing_a_scope_outside_the_channel_and_without_socket_mode(tmp_path, slack_api):
    slack_api.scopes = ("chat:write", "commands", "channels:read", "channels:history")
    slack_api.channels[AUDIT_CHANNEL] = {"id": AUDIT_CHANNEL, "name": "ops", "is_member": False,
                                         "is_archived": False}
    slack_api.fail_next("apps.connections.open", "invalid_auth")
    env = base_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING, SLACK_APP_TOKEN=APP_TOKEN,
                   OPSBOT_SLACK_API_URL=slack_api.base_url, OPSBOT_AUDIT_CHANNEL=AUDIT_CHANNEL)
    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    status, lines, output = doctor(env, tmp_path)
    assert status == 1
    for line in [
        "✓ auth.test @opsbot (U0BOT000001) in Opsbot Test (T0TEAM00001)",
        # files:write came with /opsbot export, groups:history with the outbox: an app installed before
        # them lacks the scopes until reinstalled.
        "✗ scopes missing files:write, groups:history, groups:read",
        "→ add them under https://api.slack.com/apps → opsbot → OAuth & Permissions → Bot Token Scopes (or paste "
        "manifest.json under App Manifest), then reinstall the app",
        f"✗ audit channel #ops ({AUDIT_CHANNEL}): the bot is not a member",
        "→ in #ops, type /invite @opsbot",
        "✗ Socket Mode Slack refused SLACK_APP_TOKEN (invalid_auth)",
    ]:
        assert line in lines, (line, lines)
    no_secret_in(output, BOT_TOKEN, APP_TOKEN, SIGNING)
    # The app-level token went to apps.connections.open, the bot token everywhere else.
    assert [c.token for c in slack_api.calls("apps.connections.open")] == [APP_TOKEN]
    assert {c.token for c in slack_api.calls() if c.method != "apps.connections.open"} == {BOT_TOKEN}


# -- good -----------------------------------------------------------------------------------------


def test_good_settings_pass_every_check(tmp_path, slack_api, stripe_api, moto_endpoint):
    site = site_on_moto(moto_endpoint, tmp_path, SITE_FILES)
    env = base_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING, SLACK_APP_TOKEN=APP_TOKEN,
                   OPSBOT_SLACK_API_URL=slack_api.base_url, OPSBOT_AUDIT_CHANNEL=AUDIT_CHANNEL,
                   OPSBOT_ADMINS="U0ADMIN0001", STRIPE_API_KEY=API_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                   OPSBOT_STRIPE_API_BASE=stripe_api.base_url, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", **site.env())
    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    status, lines, output = doctor(env, tmp_path)
    assert status == 0, output
    for line in [
        "✓ SLACK_BOT_TOKEN xoxb-…uvwx",
        "✓ SLACK_APP_TOKEN xapp-…cdef: `opsbot run` uses Socket Mode",
        f"✓ OPSBOT_AUDIT_CHANNEL {AUDIT_CHANNEL}",
        "✓ OPSBOT_ADMINS 1 admin: U0ADMIN0001",
        f"✓ events.json {site.events_file}: 6 events, 1 site",
        f"✓ site gipsykings source {site.source}: 8 files",
        "✓ auth.test @opsbot (U0BOT000001) in Opsbot Test (T0TEAM00001)",
        "✓ scopes channels:history, channels:read, chat:write, commands, files:write, groups:history, "
        "groups:read: as manifest.json asks",
        "✓ outbox nothing parked, nothing waiting",
        f"✓ audit channel #channel-c0audit0001 ({AUDIT_CHANNEL}): the bot is a member",
        "✓ Socket Mode SLACK_APP_TOKEN accepted: `opsbot run` needs no public URL",
        "✓ AWS identity arn:aws:sts::123456789012:user/moto (account 123456789012)",
        f"✓ site gipsykings bucket s3://{site.bucket}",
        f"– site gipsykings versioning off: `/deploy gipsykings rollback` cannot put production back (turn it on: "
        f"aws s3api put-bucket-versioning --bucket {site.bucket} --versioning-configuration Status=Enabled)",
        "✓ STRIPE_API_KEY sk_test_…0000: test mode",
        "✓ Stripe API the key is accepted",
        "✓ STRIPE_WEBHOOK_SECRET whsec_…0000",
        "Everything that is configured works. (– marks what is not configured.)",
    ]:
        assert line in lines, (line, lines)
    assert any(re.fullmatch(rf"✓ site gipsykings CDN {site.distribution_id} \(\S+\.cloudfront\.net, \w+\)", line)
               for line in lines), lines
    assert not any(line.startswith("✗") for line in lines)
    no_secret_in(output, BOT_TOKEN, APP_TOKEN, SIGNING, API_KEY, WEBHOOK_SECRET)
    # Read-only: the doctor asked Stripe for a list and created nothing.
    assert [(r.method, r.path) for r in stripe_api.requests()] == [("GET", "/v1/payment_links")]


# -- pieces ------------------------------------------------------------------------------------------


def test_mask_shows_the_kind_of_secret_and_at_most_its_last_four_characters():
    assert mask(BOT_TOKEN) == "xoxb-…uvwx"
    assert mask("xoxb-test") == "xoxb-…"  # too short to show any of it
    assert mask("sk_live_0123456789abcdefWXYZ") == "sk_live_…WXYZ"
    assert mask("some-other-secret-value-12345678") == "…5678"


def test_every_bad_setting_is_reported_not_only_the_first():
    settings, errors = diagnose_settings({"OPSBOT_ADMINS": "alice", "OPSBOT_TIMEZONE": "Mars/Base",
                                          "OPSBOT_CREW": "U0CREW00001"}, env_file=None)
    assert [e.variable for e in errors] == ["OPSBOT_ADMINS", "OPSBOT_TIMEZONE"]
    assert settings.crew == frozenset({"U0CREW00001"}) and settings.admins == frozenset()


def test_two_tokens_are_enough_for_socket_mode_with_auto_reconnect_and_the_scheduler(monkeypatch, tmp_path,
                                                                                     slack_api):
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    import bot.entrypoints.scheduler

    started: list[SocketModeHandler] = []
    schedulers: list = []
    real_start_scheduler = bot.entrypoints.scheduler.start_scheduler

    def start_scheduler(services):
        schedulers.append(real_start_scheduler(services))
        return schedulers[-1]

    monkeypatch.setattr(SocketModeHandler, "start", lambda self: started.append(self))
    monkeypatch.setattr(bot.entrypoints.scheduler, "start_scheduler", start_scheduler)
    monkeypatch.setattr(cli, "_exit_on_sigterm", lambda: None)
    monkeypatch.chdir(tmp_path)
    # No SLACK_SIGNING_SECRET: requests over the socket are not signed HTTP.
    for name, value in base_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN,
                                OPSBOT_SLACK_API_URL=slack_api.base_url).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["run"]) == 0
    [handler] = started
    assert handler.app_token == APP_TOKEN
    assert handler.client.auto_reconnect_enabled is True
    assert handler.client.default_auto_reconnect_enabled is True
    [scheduler] = schedulers
    assert not scheduler.running  # shut down when the handler returned
    assert [c.token for c in slack_api.calls("auth.test")] == [BOT_TOKEN]  # the token checked at start


def test_with_socket_mode_the_doctor_does_not_ask_for_a_signing_secret(tmp_path, slack_api):
    env = base_env(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN,
                   OPSBOT_SLACK_API_URL=slack_api.base_url, OPSBOT_AUDIT_CHANNEL=AUDIT_CHANNEL)
    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    status, lines, _ = doctor(env, tmp_path)
    assert status == 0, lines
    assert "– SLACK_SIGNING_SECRET not set: not needed in Socket Mode (`opsbot serve` over HTTP needs it)" in lines


def test_parked_and_waiting_announcements_fail_the_doctor(tmp_path):
    from datetime import UTC, datetime, timedelta

    from bot.core.outbox import Announcement, Settled, new_entry
    from infra.sqlite_store import SqliteStore

    env = base_env(tmp_path)
    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    store = SqliteStore(tmp_path / "opsbot.db")
    long_ago = datetime.now(UTC) - timedelta(hours=30)
    parked = new_entry("pay_k7m2x9q4ab", "payment.recorded", "audit", {"channel": "C0AUDIT0001"}, long_ago)
    waiting = new_entry("void_zkbafwc8gq", "payment.voided", "email", {}, datetime.now(UTC) - timedelta(minutes=9))
    store.announce(Announcement(None, (parked, waiting)))
    [seen] = store.due_entries("slack", datetime.now(UTC), 10)
    store.claim_entries([seen], holder="t", attempt="t#1:line", now=datetime.now(UTC), lease=timedelta(seconds=30))
    store.settle_entries([Settled(parked.entry_id, "parked", error="chat.postMessage to C0AUDIT0001 failed: "
                                                                   "not_in_channel")], holder="t",
                         now=datetime.now(UTC))
    status, lines, output = doctor(env, tmp_path)
    assert status == 1
    for line in [
        "✗ outbox 1 announcement(s) parked: they kept failing (or may have gone out already) and are not tried "
        "again by themselves",
        "→ fix what each line says, then `opsbot worker --retry-parked` tries them again",
        "✗ parked the audit line of pay_k7m2x9q4ab (payment): chat.postMessage to C0AUDIT0001 failed: "
        "not_in_channel",
        "→ start `opsbot serve`, `opsbot run` or `opsbot worker` (each delivers the outbox)",
    ]:
        assert line in lines, (line, lines)
    assert any(line.startswith("✗ outbox announcements waiting since ") for line in lines), lines


def test_the_doctor_says_whether_each_bucket_keeps_versions_and_what_a_deploy_publishes(tmp_path, moto_endpoint):
    import boto3

    site = site_on_moto(moto_endpoint, tmp_path, {**SITE_FILES, ".env": "SECRET=1", ".well-known/security.txt": "x"})
    boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint).put_bucket_versioning(
        Bucket=site.bucket, VersioningConfiguration={"Status": "Enabled"})
    env = base_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", **site.env())
    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    _status, lines, _output = doctor(env, tmp_path)
    for line in [
        f"✓ site gipsykings source {site.source}: 8 files (2 dotfiles not published: list them in \"include\" to "
        "publish them)",
        "✓ site gipsykings versioning on: `/deploy gipsykings rollback` can put production back",
    ]:
        assert line in lines, (line, lines)
    os.symlink(tmp_path / "opsbot.db", site.source / "ledger.db")
    _status, lines, _output = doctor(env, tmp_path)
    assert any(line.startswith("✗ site gipsykings source `ledger.db` in") and "is a symbolic link" in line
               for line in lines), lines


def test_a_webhook_secret_without_an_api_key_warns_that_refund_events_wait(tmp_path):
    env = base_env(tmp_path, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    assert run(env, "init-store", cwd=tmp_path).returncode == 0
    status, lines, _ = doctor(env, tmp_path)
    assert status == 0  # a warning, not a failure
    assert ("! Stripe refunds STRIPE_WEBHOOK_SECRET is set without STRIPE_API_KEY: refund events are answered 503 "
            "(Stripe retries them) until the key is set") in lines
