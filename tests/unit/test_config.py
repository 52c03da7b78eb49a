"""bot.config: settings from the environment and .env, validated at start (DESIGN.md, "Configuration")."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, Settings, StoreSpec, load_settings

BCRYPT_HASH = "$2b$12$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"  # 53 chars after the cost


def load(**environ: str) -> Settings:
    return load_settings(environ=environ, env_file=None)


def refused(**environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(**environ)
    return caught.value


# --- defaults ----------------------------------------------------------------------------------------


def test_defaults_match_design() -> None:
    settings = load()
    assert settings.store == StoreSpec("sqlite", "opsbot.db")
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert settings.events_file == Path("events.json")
    assert settings.timezone == ZoneInfo("America/Los_Angeles")
    assert settings.summary_at == time(18, 0)


def test_credentials_default_to_none() -> None:
    settings = load()
    assert settings.slack_bot_token is None
    assert settings.slack_signing_secret is None
    assert settings.slack_app_token is None
    assert settings.stripe_api_key is None
    assert settings.stripe_webhook_secret is None
    assert settings.audit_channel is None
    assert settings.admin_pass_hash is None
    assert settings.admins == frozenset()
    assert settings.slack_configured is False


def test_environ_does_not_leak_from_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSBOT_TIMEZONE", "Europe/Paris")
    assert load().timezone == ZoneInfo("America/Los_Angeles")


# --- good values -------------------------------------------------------------------------------------


def test_full_good_configuration() -> None:
    settings = load(
        SLACK_BOT_TOKEN="xoxb-1-2-abc",
        SLACK_SIGNING_SECRET="8f742231b10e8888abcd99yyyzzz85a5",
        SLACK_APP_TOKEN="xapp-1-A1-xyz",
        OPSBOT_SLACK_API_URL="http://127.0.0.1:8080/api",
        OPSBOT_STORE="sqlite:///var/lib/opsbot/ledger.db",
        STRIPE_API_KEY="sk_test_abc",
        STRIPE_WEBHOOK_SECRET="whsec_abc",
        OPSBOT_STRIPE_API_BASE="http://localhost:12111/",
        OPSBOT_EVENTS_FILE="/srv/events.json",
        OPSBOT_AUDIT_CHANNEL="C0AUDIT0001",
        ADMIN_PASS_HASH=BCRYPT_HASH,
        OPSBOT_TIMEZONE="UTC",
        OPSBOT_SUMMARY_AT="07:30",
    )
    assert settings.slack_configured is True
    assert settings.slack_app_token == "xapp-1-A1-xyz"
    assert settings.slack_api_url == "http://127.0.0.1:8080/api/"  # a trailing slash is added
    assert settings.store == StoreSpec("sqlite", "var/lib/opsbot/ledger.db")
    assert settings.stripe_api_key == "sk_test_abc"
    assert settings.stripe_api_base == "http://localhost:12111"  # trailing slash removed
    assert settings.events_file == Path("/srv/events.json")
    assert settings.audit_channel == "C0AUDIT0001"
    assert settings.admin_pass_hash == BCRYPT_HASH
    assert settings.timezone == ZoneInfo("UTC")
    assert settings.summary_at == time(7, 30)


def test_dynamodb_store() -> None:
    assert load(OPSBOT_STORE="dynamodb://opsbot").store == StoreSpec("dynamodb", "opsbot")
    assert load(OPSBOT_STORE="dynamodb://ops-bot_v1.prod").store == StoreSpec("dynamodb", "ops-bot_v1.prod")


def test_admins_list_with_spaces() -> None:
    settings = load(OPSBOT_ADMINS=" U0ADMIN0001 ,U0ADMIN0002,  W0ENTERPRISE1 ,")
    assert settings.admins == frozenset({"U0ADMIN0001", "U0ADMIN0002", "W0ENTERPRISE1"})


@pytest.mark.parametrize("key", ["sk_live_x", "rk_test_x", "rk_live_x", "sk_test_x"])
def test_stripe_key_prefixes(key: str) -> None:
    assert load(STRIPE_API_KEY=key).stripe_api_key == key


def test_values_are_stripped() -> None:
    settings = load(OPSBOT_TIMEZONE="  Europe/Paris ", SLACK_BOT_TOKEN=" xoxb-abc\n")
    assert settings.timezone == ZoneInfo("Europe/Paris")
    assert settings.slack_bot_token == "xoxb-abc"


def test_empty_values_are_unset() -> None:
    settings = load(
        OPSBOT_STORE="",
        OPSBOT_TIMEZONE="   ",
        OPSBOT_SUMMARY_AT="",
        SLACK_BOT_TOKEN="",
        STRIPE_API_KEY=" ",
        OPSBOT_ADMINS="",
        OPSBOT_AUDIT_CHANNEL="",
        ADMIN_PASS_HASH="",
        OPSBOT_SLACK_API_URL="",
    )
    assert settings.store == StoreSpec("sqlite", "opsbot.db")
    assert settings.timezone == ZoneInfo("America/Los_Angeles")
    assert settings.summary_at == time(18, 0)
    assert settings.slack_bot_token is None
    assert settings.stripe_api_key is None
    assert settings.admins == frozenset()
    assert settings.audit_channel is None
    assert settings.admin_pass_hash is None
    assert settings.slack_api_url == "https://slack.com/api/"


def test_env_file_is_read_and_environ_overrides_it(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# crew settings\n"
        "SLACK_BOT_TOKEN=xoxb-from-file\n"
        "OPSBOT_TIMEZONE=Europe/Paris\n"
        'OPSBOT_SUMMARY_AT="19:15"\n'
        "OPSBOT_ADMINS=U0FILE00001\n",
        encoding="utf-8",
    )
    settings = load_settings(environ={"OPSBOT_TIMEZONE": "UTC"}, env_file=env_file)
    assert settings.slack_bot_token == "xoxb-from-file"
    assert settings.summary_at == time(19, 15)
    assert settings.admins == frozenset({"U0FILE00001"})
    assert settings.timezone == ZoneInfo("UTC")  # environ wins over the file


def test_env_file_values_are_validated(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPSBOT_SUMMARY_AT=6pm\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, env_file=env_file)
    assert caught.value.variable == "OPSBOT_SUMMARY_AT"


def test_missing_env_file_is_ignored(tmp_path: Path) -> None:
    settings = load_settings(environ={"OPSBOT_TIMEZONE": "UTC"}, env_file=tmp_path / "nope.env")
    assert settings.timezone == ZoneInfo("UTC")


def test_env_file_none_reads_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("OPSBOT_TIMEZONE=Europe/Paris\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}, env_file=None).timezone == ZoneInfo("America/Los_Angeles")
    assert load_settings(environ={}).timezone == ZoneInfo("Europe/Paris")  # default env_file is ./.env


# --- bad values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("OPSBOT_STORE", "postgres://x", "sqlite:///PATH or dynamodb://TABLE"),
        ("OPSBOT_STORE", "sqlite:///", "sqlite:///PATH or dynamodb://TABLE"),
        ("OPSBOT_STORE", "opsbot.db", "sqlite:///PATH or dynamodb://TABLE"),
        ("OPSBOT_STORE", "dynamodb://ab", "not a valid DynamoDB table name"),
        ("OPSBOT_STORE", "dynamodb://bad/name", "not a valid DynamoDB table name"),
        ("OPSBOT_STORE", "dynamodb://ops bot", "not a valid DynamoDB table name"),
        ("OPSBOT_STORE", "dynamodb://", "not a valid DynamoDB table name"),
        ("OPSBOT_TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("OPSBOT_TIMEZONE", "../../etc/passwd", "IANA time zone"),
        ("OPSBOT_TIMEZONE", "America", "IANA time zone"),
        ("OPSBOT_SUMMARY_AT", "25:00", "HH:MM"),
        ("OPSBOT_SUMMARY_AT", "24:00", "HH:MM"),
        ("OPSBOT_SUMMARY_AT", "18:60", "HH:MM"),
        ("OPSBOT_SUMMARY_AT", "6pm", "HH:MM"),
        ("OPSBOT_SUMMARY_AT", "18", "HH:MM"),
        ("OPSBOT_ADMINS", "U0ADMIN0001,alice", "Slack user IDs"),
        ("OPSBOT_ADMINS", "@alice", "Slack user IDs"),
        ("OPSBOT_ADMINS", "u0admin0001", "Slack user IDs"),
        ("OPSBOT_AUDIT_CHANNEL", "#ops", "channel ID"),
        ("OPSBOT_AUDIT_CHANNEL", "ops", "channel ID"),
        ("ADMIN_PASS_HASH", "hunter2", "bcrypt hash"),
        ("ADMIN_PASS_HASH", "$2b$12$tooshort", "bcrypt hash"),
        ("OPSBOT_SLACK_API_URL", "ftp://x", "http(s) URL"),
        ("OPSBOT_SLACK_API_URL", "slack.com/api", "http(s) URL"),
        ("OPSBOT_STRIPE_API_BASE", "https://", "http(s) URL"),
        ("AWS_ENDPOINT_URL", "localhost:4566", "http(s) URL"),
        ("STRIPE_API_KEY", "pk_test_x", "sk_test_"),
        ("STRIPE_WEBHOOK_SECRET", "sk_test_x", "whsec_"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-bot-token", "xapp-"),
    ],
)
def test_bad_value_names_the_variable_and_what_is_expected(variable: str, value: str, expected: str) -> None:
    error = refused(**{variable: value})
    assert error.variable == variable
    assert str(error).startswith(f"{variable}: ")
    assert expected in str(error)


def test_bad_admin_message_names_only_the_bad_ids() -> None:
    error = refused(OPSBOT_ADMINS="U0ADMIN0001, alice ,W0OK00001, #bob")
    assert str(error).endswith("not alice, #bob")


def test_audit_channel_message_says_not_a_name() -> None:
    assert "not a #name" in str(refused(OPSBOT_AUDIT_CHANNEL="#ops"))


@pytest.mark.parametrize(
    ("variable", "secret", "expected"),
    [
        ("SLACK_BOT_TOKEN", "secret-abc123", "expected a value starting with xoxb-"),
        ("SLACK_APP_TOKEN", "secret-abc123", "expected a value starting with xapp-"),
        ("STRIPE_API_KEY", "pk_test_secret-abc123", "sk_test_ or sk_live_ or rk_test_ or rk_live_"),
        ("STRIPE_WEBHOOK_SECRET", "secret-abc123", "whsec_"),
        ("ADMIN_PASS_HASH", "secret-abc123", "hash-password"),
    ],
)
def test_secret_values_are_never_echoed(variable: str, secret: str, expected: str) -> None:
    error = refused(**{variable: secret})
    assert error.variable == variable
    assert expected in str(error)
    assert "secret-abc123" not in str(error)
    assert "abc123" not in repr(error)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPSBOT_STORE", "postgres://opsbot:secret-abc123@db.internal/opsbot"),
        ("OPSBOT_SLACK_API_URL", "ftp://admin:secret-abc123@files.internal/api"),
        ("AWS_ENDPOINT_URL", "s3://key:secret-abc123@minio:9000"),
    ],
)
def test_passwords_in_urls_are_not_echoed(variable: str, value: str) -> None:
    error = refused(**{variable: value})
    assert error.variable == variable
    assert "secret-abc123" not in str(error)
    assert "***@" in str(error)  # the rest of the value is still shown, to find the typo


def test_non_secret_bad_values_are_shown_to_help_fix_them() -> None:
    assert "'Mars/Olympus'" in str(refused(OPSBOT_TIMEZONE="Mars/Olympus"))
    assert "'25:00'" in str(refused(OPSBOT_SUMMARY_AT="25:00"))
    assert "'postgres://x'" in str(refused(OPSBOT_STORE="postgres://x"))


def test_config_error_carries_the_variable() -> None:
    error = ConfigError("OPSBOT_STORE", "broken")
    assert error.variable == "OPSBOT_STORE"
    assert str(error) == "OPSBOT_STORE: broken"
