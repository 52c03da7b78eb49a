"""Settings: read once from the environment (and .env), validated at start.

This is the only module that reads ``os.environ``; everything else receives a
``Settings``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.ports import EmailSettings

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_STRIPE_API_BASE = "https://api.stripe.com"
DEFAULT_STORE = "sqlite:///opsbot.db"

_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_BCRYPT_HASH = re.compile(r"^\$2[abyx]?\$\d{2}\$[./A-Za-z0-9]{53}$")
_DYNAMO_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_EMAIL_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[A-Za-z]{2,}$")
# Email settings, each with the name the old Lambda page used (read when the new one is absent).
EMAIL_FROM_NAMES = ("OPSBOT_EMAIL_FROM", "SES_SENDER_EMAIL")
EMAIL_TO_NAMES = ("OPSBOT_EMAIL_TO", "ADMIN_NOTIFY_EMAILS")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_CLIENT_IP_HEADER = "X-Forwarded-For"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the variable."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class StoreSpec:
    kind: str  # "sqlite" or "dynamodb"
    location: str  # file path or table name

    def describe(self) -> str:
        """As the CLI, the console and the doctor name it: "SQLite store opsbot.db"."""
        if self.kind == "dynamodb":
            return f"DynamoDB table {self.location}"
        return f"SQLite store {self.location}"


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    store: StoreSpec = field(default_factory=lambda: StoreSpec("sqlite", "opsbot.db"))
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str = DEFAULT_STRIPE_API_BASE
    events_file: Path = Path("events.json")
    audit_channel: str | None = None
    admins: frozenset[str] = frozenset()
    crew: frozenset[str] = frozenset()  # empty: everyone in the workspace is crew
    admin_pass_hash: str | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/Los_Angeles"))
    summary_at: time = time(18, 0)
    reminder_at: time = time(9, 0)
    secrets_id: str | None = None  # AWS Secrets Manager secret holding the tokens (on Lambda)
    email: EmailSettings | None = None  # None: email copies are off
    lambda_function_name: str | None = None  # set by AWS Lambda itself (AWS_LAMBDA_FUNCTION_NAME)
    log_level: str = "INFO"  # OPSBOT_LOG_LEVEL: the bot's log lines, on a server and on Lambda alike
    # Reverse proxies in front of the server: a request from one of them is attributed to the address it
    # names in client_ip_header (per-client limits); from anyone else that header is ignored.
    trusted_proxies: tuple[IpNetwork, ...] = ()
    client_ip_header: str = DEFAULT_CLIENT_IP_HEADER
    env_file: Path = Path(".env")  # where a .env is read from (whether or not there is one)

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def private_files(self) -> dict[str, Path]:
        """Files that hold secrets or the ledger: no site's source may hold them."""
        files = {".env": self.env_file}
        if self.store.kind == "sqlite":
            files["the store"] = Path(self.store.location)
        return files


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env",
                  overrides: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from ``environ`` (default: the process environment) on top
    of ``env_file`` when it exists, with ``overrides`` (e.g. secrets fetched from
    AWS Secrets Manager) on top. Raises ConfigError naming the variable."""
    values: dict[str, str] = {}
    values.update(_env_file_values(env_file))
    values.update(os.environ if environ is None else environ)
    values.update(overrides or {})
    env = {k: v.strip() for k, v in values.items() if isinstance(v, str) and v.strip() != ""}

    return Settings(
        slack_bot_token=_token(env, "SLACK_BOT_TOKEN", ("xoxb-",)),
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET"),
        slack_app_token=_token(env, "SLACK_APP_TOKEN", ("xapp-",)),
        slack_api_url=_slack_api_url(env),
        store=_store(env),
        aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        aws_endpoint_url=_url(env, "AWS_ENDPOINT_URL", None),
        stripe_api_key=_token(env, "STRIPE_API_KEY", ("sk_test_", "sk_live_", "rk_test_", "rk_live_")),
        stripe_webhook_secret=_token(env, "STRIPE_WEBHOOK_SECRET", ("whsec_",)),
        stripe_api_base=_url(env, "OPSBOT_STRIPE_API_BASE", DEFAULT_STRIPE_API_BASE).rstrip("/"),
        events_file=Path(env.get("OPSBOT_EVENTS_FILE", "events.json")),
        audit_channel=_channel(env, "OPSBOT_AUDIT_CHANNEL"),
        admins=_user_ids(env, "OPSBOT_ADMINS"),
        crew=_user_ids(env, "OPSBOT_CREW"),
        admin_pass_hash=_bcrypt_hash(env),
        timezone=_timezone(env),
        summary_at=_clock_time(env, "OPSBOT_SUMMARY_AT", time(18, 0)),
        reminder_at=_clock_time(env, "OPSBOT_REMINDER_AT", time(9, 0)),
        secrets_id=env.get("OPSBOT_SECRETS_ID"),
        email=_email(env),
        lambda_function_name=env.get("AWS_LAMBDA_FUNCTION_NAME"),
        log_level=_log_level(env),
        trusted_proxies=_networks(env, "OPSBOT_TRUSTED_PROXIES"),
        client_ip_header=_header_name(env, "OPSBOT_CLIENT_IP_HEADER", DEFAULT_CLIENT_IP_HEADER),
        env_file=Path(env_file) if env_file is not None else Path(".env"),
    )


def _env_file_values(env_file: str | Path | None) -> dict[str, str]:
    """The settings a .env file holds (none when there is no such file)."""
    if env_file is None or not Path(env_file).is_file():
        return {}
    from dotenv import dotenv_values  # cold start: on Lambda (no .env) python-dotenv is not needed

    return {k: v for k, v in dotenv_values(env_file).items() if v is not None}


def diagnose_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
                      ) -> tuple[Settings, list[ConfigError]]:
    """Every bad setting, not only the first (for ``opsbot doctor``): the
    settings without the bad variables (their defaults instead), and one
    ConfigError per bad variable."""
    values: dict[str, str] = {}
    values.update(_env_file_values(env_file))
    values.update(os.environ if environ is None else environ)
    errors: list[ConfigError] = []
    while True:
        try:
            return load_settings(environ=values, env_file=None), errors
        except ConfigError as exc:
            if exc.variable not in values:  # not a variable we can leave out: nothing more to learn
                raise
            errors.append(exc)
            del values[exc.variable]


def _token(env: Mapping[str, str], name: str, prefixes: tuple[str, ...]) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    if not value.startswith(prefixes):
        # Never echo the value: it may be a real secret pasted in the wrong place.
        raise ConfigError(name, f"expected a value starting with {' or '.join(prefixes)}")
    return value


def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = env.get(name)
    if value is None:
        return default
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(name, f"expected an http(s) URL, got {_redact(value)!r}")
    return value


def _redact(value: str) -> str:
    """A URL for an error message, without a password it may carry (postgres://user:pw@host)."""
    return re.sub(r"(//[^/@]*?:)[^/@]*@", r"\1***@", value)


def _slack_api_url(env: Mapping[str, str]) -> str:
    value = _url(env, "OPSBOT_SLACK_API_URL", DEFAULT_SLACK_API_URL)
    assert value is not None
    return value if value.endswith("/") else value + "/"


def _store(env: Mapping[str, str]) -> StoreSpec:
    value = env.get("OPSBOT_STORE", DEFAULT_STORE)
    if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
        return StoreSpec("sqlite", value[len("sqlite:///") :])
    if value.startswith("dynamodb://"):
        table = value[len("dynamodb://") :]
        if _DYNAMO_TABLE.match(table):
            return StoreSpec("dynamodb", table)
        raise ConfigError("OPSBOT_STORE", f"{table!r} is not a valid DynamoDB table name")
    raise ConfigError("OPSBOT_STORE", f"expected sqlite:///PATH or dynamodb://TABLE, got {_redact(value)!r}")


def _channel(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    if not _SLACK_CHANNEL_ID.match(value):
        raise ConfigError(name, f"expected a Slack channel ID like C0123456789 (not a #name), got {value!r}")
    return value


def _user_ids(env: Mapping[str, str], name: str) -> frozenset[str]:
    value = env.get(name)
    if value is None:
        return frozenset()
    ids = [part.strip() for part in value.split(",") if part.strip()]
    bad = [i for i in ids if not _SLACK_USER_ID.match(i)]
    if bad:
        raise ConfigError(
            name, f"expected comma-separated Slack user IDs like U0123456789, not {', '.join(bad)}"
        )
    return frozenset(ids)


def _bcrypt_hash(env: Mapping[str, str]) -> str | None:
    value = env.get("ADMIN_PASS_HASH")
    if value is None:
        return None
    if not _BCRYPT_HASH.match(value):
        raise ConfigError(
            "ADMIN_PASS_HASH", "expected a bcrypt hash ($2b$12$...); make one with `opsbot hash-password`"
        )
    return value


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str | None]:
    """The first of ``names`` that is set (the new name before the old one): (name, value)."""
    for name in names:
        if name in env:
            return name, env[name]
    return names[0], None


def _email(env: Mapping[str, str]) -> EmailSettings | None:
    from_name, sender = _first_set(env, EMAIL_FROM_NAMES)
    to_name, recipients = _first_set(env, EMAIL_TO_NAMES)
    if sender is None and recipients is None:
        return None
    # The error names the variable that is set (doctor can leave it out and go on) and the one that is not.
    if sender is None:
        raise ConfigError(to_name, f"set, but {from_name} is not: set the SES sender address too, "
                                   f"or remove {to_name} to turn email off")
    if recipients is None:
        raise ConfigError(from_name, f"set, but {to_name} is not: set who gets the emails "
                                     f"(comma-separated addresses), or remove {from_name} to turn email off")
    _, sender_address = parseaddr(sender)  # "opsbot <ops@example.com>" names the sender too
    if not _EMAIL_ADDRESS.match(sender_address) or "," in sender:
        raise ConfigError(from_name, f"expected one email address like ops@example.com or "
                                     f"\"opsbot <ops@example.com>\", got {sender!r}")
    addresses = [part.strip() for part in recipients.split(",") if part.strip()]
    bad = [a for a in addresses if not _EMAIL_ADDRESS.match(a)]
    if bad or not addresses:
        raise ConfigError(to_name, "expected comma-separated email addresses like a@example.com,b@example.com"
                                   + (f", not {', '.join(repr(b) for b in bad)}" if bad else ""))
    return EmailSettings(sender, tuple(dict.fromkeys(addresses)), from_name, to_name)


def _log_level(env: Mapping[str, str]) -> str:
    value = env.get("OPSBOT_LOG_LEVEL", "INFO").upper()
    if value == "WARN":
        value = "WARNING"  # Lambda's spelling
    if value not in LOG_LEVELS:
        raise ConfigError("OPSBOT_LOG_LEVEL",
                          f"expected one of {', '.join(LOG_LEVELS)}, got {env['OPSBOT_LOG_LEVEL']!r}")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[IpNetwork, ...]:
    value = env.get(name)
    if value is None:
        return ()
    networks = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(name, f"expected comma-separated IP addresses or networks like 10.0.0.5 or "
                                    f"10.0.0.0/8, not {part!r}") from None
    return tuple(networks)


def _header_name(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    if not _HEADER_NAME.match(value):
        raise ConfigError(name, f"expected an HTTP header name like {default}, got {value!r}")
    return value


def _timezone(env: Mapping[str, str]) -> ZoneInfo:
    value = env.get("OPSBOT_TIMEZONE", "America/Los_Angeles")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "OPSBOT_TIMEZONE", f"expected an IANA time zone like America/Los_Angeles, got {value!r}"
        ) from None


def _clock_time(env: Mapping[str, str], name: str, default: time) -> time:
    value = env.get(name)
    if value is None:
        return default
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(name, f"expected a local time HH:MM (24-hour), got {value!r}")
    return time(int(match[1]), int(match[2]))
