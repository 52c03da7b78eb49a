"""``opsbot doctor``: every setting and every configured service checked, one
line each (✓ fine, ✗ needs fixing, – not configured), with what to do for each
✗. Exit status 1 when something required fails; a service that is simply not
configured (Slack, Stripe, AWS) is not a failure. No secret is ever printed:
tokens show as their prefix and, when long enough, their last four characters.

The adapters and probes (boto3, slack_sdk, stripe) are imported inside the check that uses them:
cold start, and a service that is not configured is never loaded."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from blocks.deploy import quoted
from bot.config import (
    DEFAULT_SLACK_API_URL,
    EMAIL_FROM_NAMES,
    EMAIL_TO_NAMES,
    ConfigError,
    Settings,
    diagnose_settings,
)
from bot.core.catalog import EventsFileError, load_catalog
from bot.core.deploy_plan import DeployError
from bot.core.domain import Site
from bot.core.outbox import LANES, describe
from bot.core.ports import StoreError
from bot.core.site_files import HashCache, scan_source
from bot.version import PACKAGE, opsbot_version

OK, FAIL, OFF, WARN = "ok", "fail", "off", "warn"
MARKS = {OK: "✓", FAIL: "✗", OFF: "–", WARN: "!"}
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.json"
# Installed as a package (the container image), the code is not beside the repository's
# files: the working directory's copy then (the image's /app/manifest.json).
MANIFEST_PLACES = (MANIFEST, Path("manifest.json"))
_SECRET_PREFIXES = ("xoxb-", "xapp-", "xoxp-", "sk_test_", "sk_live_", "rk_test_", "rk_live_", "whsec_")
_SHOWN_TAIL_MIN = 16  # a secret shows its last 4 characters only when this much follows its prefix
_SLACK_APPS = "https://api.slack.com/apps → opsbot"

# What to do when a setting is malformed (the problem itself comes from the ConfigError).
SETTING_FIXES = {
    "SLACK_BOT_TOKEN": f"copy the Bot User OAuth Token (xoxb-…) from {_SLACK_APPS} → OAuth & Permissions",
    "SLACK_APP_TOKEN": f"make an app-level token with connections:write: {_SLACK_APPS} → Basic Information → "
                       "App-Level Tokens (xapp-…)",
    "OPSBOT_SLACK_API_URL": "leave it unset for Slack itself (https://slack.com/api/)",
    "OPSBOT_STORE": "use sqlite:///PATH (for example sqlite:///opsbot.db) or dynamodb://TABLE",
    "AWS_ENDPOINT_URL": "leave it unset for AWS itself",
    "STRIPE_API_KEY": "copy a secret key (sk_test_… or sk_live_…) from the Stripe dashboard → Developers → API keys",
    "STRIPE_WEBHOOK_SECRET": "copy the endpoint's signing secret (whsec_…) from Stripe → Developers → Webhooks",
    "OPSBOT_STRIPE_API_BASE": "leave it unset for Stripe itself (https://api.stripe.com)",
    "OPSBOT_AUDIT_CHANNEL": "use the ops channel's ID: in Slack, open the channel's details; the ID is at the bottom",
    "OPSBOT_ADMINS": "use member IDs: in Slack, a profile's ⋮ menu → Copy member ID",
    "OPSBOT_CREW": "use member IDs: in Slack, a profile's ⋮ menu → Copy member ID",
    "ADMIN_PASS_HASH": "make one with `opsbot hash-password` and quote it in .env",
    "OPSBOT_TIMEZONE": "use an IANA zone such as America/Los_Angeles",
    "OPSBOT_SUMMARY_AT": "use HH:MM on a 24-hour clock, such as 18:00",
    "OPSBOT_REMINDER_AT": "use HH:MM on a 24-hour clock, such as 09:00",
}


@dataclass(frozen=True)
class Check:
    status: str  # OK | FAIL | OFF | WARN (works, but should be fixed; not a failure)
    name: str
    detail: str
    fix: str = ""


Section = tuple[str, list[Check]]


def mask(secret: str) -> str:
    """``xoxb-…abcd``: the kind of secret, never enough of it to use."""
    prefix = next((p for p in _SECRET_PREFIXES if secret.startswith(p)), "")
    rest = secret[len(prefix):]
    return f"{prefix}…{rest[-4:]}" if len(rest) >= _SHOWN_TAIL_MIN else f"{prefix}…"


def manifest_scopes(*places: Path) -> frozenset[str] | None:
    """The bot scopes manifest.json asks for: the first of ``places`` (default MANIFEST_PLACES)
    that is there and readable; None when none is."""
    for path in places or MANIFEST_PLACES:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # the next place; none at all is said as "manifest.json not found"
        return frozenset(data.get("oauth_config", {}).get("scopes", {}).get("bot", []))
    return None


# -- settings ----------------------------------------------------------------------------------


def setting_checks(settings: Settings, errors: list[ConfigError]) -> list[Check]:
    bad = {e.variable: e for e in errors}
    checks: list[Check] = []

    def add(variable: str, check: Callable[[], Check | None]) -> None:
        if variable in bad:
            problem = str(bad[variable]).split(": ", 1)[-1]
            checks.append(Check(FAIL, variable, problem, SETTING_FIXES.get(variable, "")))
            return
        result = check()
        if result is not None:
            checks.append(result)

    token, secret = settings.slack_bot_token, settings.slack_signing_secret
    add("SLACK_BOT_TOKEN", lambda: (
        Check(OK, "SLACK_BOT_TOKEN", mask(token)) if token else
        Check(FAIL, "SLACK_BOT_TOKEN", "not set, but other Slack settings are", SETTING_FIXES["SLACK_BOT_TOKEN"])
        if secret or settings.slack_app_token else
        Check(OFF, "SLACK_BOT_TOKEN", "not set: Slack is off (`opsbot console` works without it)")))
    app_token = settings.slack_app_token
    add("SLACK_SIGNING_SECRET", lambda: (
        Check(OK, "SLACK_SIGNING_SECRET", f"set ({len(secret)} characters, not shown)") if secret else
        Check(OFF, "SLACK_SIGNING_SECRET", "not set: not needed in Socket Mode (`opsbot serve` over HTTP needs it)")
        if app_token else
        Check(FAIL, "SLACK_SIGNING_SECRET", "not set: Slack's requests cannot be verified",
              f"copy the Signing Secret from {_SLACK_APPS} → Basic Information → App Credentials")
        if token or "SLACK_BOT_TOKEN" in bad else None))
    add("SLACK_APP_TOKEN", lambda: (
        Check(OK, "SLACK_APP_TOKEN", f"{mask(app_token)}: `opsbot run` uses Socket Mode") if app_token else
        Check(OFF, "SLACK_APP_TOKEN", "not set: `opsbot run` serves HTTP at /slack/events, which Slack must reach "
                                      "at a public HTTPS URL; set it to use Socket Mode instead")))
    add("OPSBOT_SLACK_API_URL", lambda: None if settings.slack_api_url == DEFAULT_SLACK_API_URL else
        Check(OK, "OPSBOT_SLACK_API_URL", f"{settings.slack_api_url} (not Slack's own)"))
    add("OPSBOT_STORE", lambda: Check(OK, "OPSBOT_STORE", f"{settings.store.kind}: {settings.store.location}"))
    channel = settings.audit_channel
    add("OPSBOT_AUDIT_CHANNEL", lambda: (
        Check(OK, "OPSBOT_AUDIT_CHANNEL", channel) if channel else
        Check(FAIL, "OPSBOT_AUDIT_CHANNEL", "not set: audit lines, summaries and reminders have nowhere to go",
              SETTING_FIXES["OPSBOT_AUDIT_CHANNEL"]) if token else
        Check(OFF, "OPSBOT_AUDIT_CHANNEL", "not set (needed once Slack is)")))
    admins = sorted(settings.admins)
    add("OPSBOT_ADMINS", lambda: (
        Check(OK, "OPSBOT_ADMINS", f"{len(admins)} admin{'s' if len(admins) != 1 else ''}: {', '.join(admins)}")
        if admins else
        Check(OFF, "OPSBOT_ADMINS", "nobody: no one can void payments, deploy sites or make payment links")))
    add("OPSBOT_CREW", lambda: (
        Check(OK, "OPSBOT_CREW", f"{len(settings.crew)} people") if settings.crew else
        Check(OFF, "OPSBOT_CREW", "not set: everyone in the workspace counts as crew")))
    add("ADMIN_PASS_HASH", lambda: (
        Check(OK, "ADMIN_PASS_HASH", "set: the web page's API (/api/...) is on") if settings.admin_pass_hash else
        Check(OFF, "ADMIN_PASS_HASH", "not set: the web page's API (/api/...) refuses every request")))
    add("OPSBOT_TIMEZONE", lambda: Check(OK, "OPSBOT_TIMEZONE", str(settings.timezone)))
    add("OPSBOT_SUMMARY_AT", lambda: Check(OK, "OPSBOT_SUMMARY_AT", f"{settings.summary_at:%H:%M}"))
    add("OPSBOT_REMINDER_AT", lambda: Check(OK, "OPSBOT_REMINDER_AT", f"{settings.reminder_at:%H:%M}"))
    # Stripe's and AWS's variables are checked with their services below.
    return checks


# -- events.json and the store ----------------------------------------------------------------------


def catalog_checks(settings: Settings) -> tuple[list[Check], object | None]:

    try:
        catalog = load_catalog(settings.events_file, protected=settings.private_files)
    except EventsFileError as exc:
        return [Check(FAIL, "events.json", str(exc), "fix the entry and field named (OPSBOT_EVENTS_FILE says "
                                                     "where the file is)")], None
    events, sites = len(catalog.events), len(catalog.sites)
    checks = [Check(OK, "events.json", f"{settings.events_file}: {events} event{'s' if events != 1 else ''}, "
                                       f"{sites} site{'s' if sites != 1 else ''}")]
    for site in catalog.sites:
        if not site.source.is_dir():
            checks.append(Check(FAIL, f"site {site.id} source", f"{site.source} is not a folder",
                                "create it, or fix the site's \"source\" (relative to events.json)"))
            continue
        try:  # what a deploy would publish, counted without reading the files
            scan = scan_source(site, HashCache(hasher=lambda path: ""), quote=quoted)
        except DeployError as exc:
            checks.append(Check(FAIL, f"site {site.id} source", exc.message, "a deploy refuses this: fix it"))
            continue
        hidden = f" ({scan.hidden_count} dotfiles not published: list them in \"include\" to publish them)" if (
            scan.hidden_count) else ""
        checks.append(Check(OK, f"site {site.id} source", f"{site.source}: {len(scan.files)} files{hidden}"))
    return checks, catalog


def store_checks(settings: Settings) -> list[Check]:
    from infra import open_store

    name = settings.store.describe()
    if settings.store.kind == "sqlite" and not Path(settings.store.location).is_file():
        return [Check(FAIL, "store", f"{name}: the file does not exist",
                      "run `opsbot init-store` (or check OPSBOT_STORE and the working directory)")]
    try:
        open_store(settings).ping()
    except StoreError as exc:
        fix = ("run `opsbot init-store`" if settings.store.kind == "sqlite" else
               "run `opsbot init-store` to create the table, and check AWS_REGION and the credentials")
        return [Check(FAIL, "store", f"{name}: {exc}", fix)]
    checks = [Check(OK, "store", f"{name}: reachable, schema present")]
    if settings.store.kind == "sqlite":
        checks.append(ledger_file_check(settings.store.location))
    return checks


def ledger_file_check(path: str) -> Check:
    """Patron names, amounts and payers' emails are in the file: only its owner should read it."""
    from infra.sqlite_store import SIDE_FILES, readable_by_others

    exposed = readable_by_others(path)
    if not exposed:
        return Check(OK, "ledger file", f"{path}: readable by its owner only")
    files = " ".join([path, *(path + suffix for suffix in SIDE_FILES)])
    return Check(WARN, "ledger file", f"others can read or write {', '.join(exposed)}",
                 f"chmod 600 {files} (the ones that exist), and keep the folder private (chmod 700)")


PARKED_SHOWN = 5
STUCK_AFTER = timedelta(minutes=5)


def outbox_checks(settings: Settings, now: datetime | None = None) -> list[Check]:
    """Announcements that could not be delivered (parked), or that wait with no deliverer running."""
    from infra import open_store

    if settings.store.kind == "sqlite" and not Path(settings.store.location).is_file():
        return []  # the store's own check says what to do
    now = now or datetime.now(UTC)
    store = open_store(settings)
    try:
        parked = store.parked_entries(PARKED_SHOWN + 1)
        stuck = [e for lane in LANES for e in store.due_entries(lane, now - STUCK_AFTER, 1)]
    except StoreError as exc:
        return [Check(FAIL, "outbox", f"cannot be read: {exc}", "run `opsbot init-store`")]
    checks = []
    if parked:
        count = f"{len(parked)}{'+' if len(parked) > PARKED_SHOWN else ''}"
        checks.append(Check(FAIL, "outbox", f"{count} announcement(s) parked: they kept failing (or may have gone "
                                            "out already) and are not tried again by themselves",
                            "fix what each line says, then `opsbot worker --retry-parked` tries them again"))
        checks += [Check(FAIL, "parked", f"{describe(e)}: {e.last_error or 'no error kept'}")
                   for e in parked[:PARKED_SHOWN]]
    if stuck:
        oldest = min(e.due_at or now for e in stuck)
        checks.append(Check(FAIL, "outbox", f"announcements waiting since {oldest:%Y-%m-%d %H:%M} UTC: no deliverer "
                                            "has sent them", "start `opsbot serve`, `opsbot run` or `opsbot worker` "
                                                             "(each delivers the outbox)"))
    if not checks:
        checks.append(Check(OK, "outbox", "nothing parked, nothing waiting"))
    return checks


# -- Slack --------------------------------------------------------------------------------------------


def slack_checks(settings: Settings, manifest: frozenset[str] | None) -> list[Check]:
    from infra.probes import ProbeError, slack_channel, slack_identity, slack_socket_mode

    token, url = settings.slack_bot_token, settings.slack_api_url
    if not token:
        return [Check(OFF, "Slack", "not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET "
                                    "(README: Creating the Slack app)")]
    try:
        me = slack_identity(token, url)
    except ProbeError as exc:
        if exc.code == "unreachable":
            return [Check(FAIL, "auth.test", exc.message, "check the network (or OPSBOT_SLACK_API_URL)")]
        return [Check(FAIL, "auth.test", f"Slack refused SLACK_BOT_TOKEN ({exc.code})",
                      f"copy the Bot User OAuth Token again from {_SLACK_APPS} → OAuth & Permissions "
                      "(reinstalling the app issues a new one)")]
    checks = [Check(OK, "auth.test", f"@{me.user} ({me.user_id}) in {me.team} ({me.team_id})")]
    checks.append(_scopes_check(me.scopes, manifest))
    if settings.audit_channel:
        checks.append(_channel_check(token, url, settings.audit_channel, slack_channel, ProbeError))
    if settings.slack_app_token:
        try:
            slack_socket_mode(settings.slack_app_token, url)
        except ProbeError as exc:
            checks.append(Check(FAIL, "Socket Mode", f"Slack refused SLACK_APP_TOKEN ({exc.code})",
                                SETTING_FIXES["SLACK_APP_TOKEN"] + "; and turn Socket Mode on (manifest.json does)"))
        else:
            checks.append(Check(OK, "Socket Mode", "SLACK_APP_TOKEN accepted: `opsbot run` needs no public URL"))
    return checks


def _scopes_check(granted: frozenset[str] | None, manifest: frozenset[str] | None) -> Check:
    if granted is None:
        return Check(OFF, "scopes", "Slack did not say which scopes the token has")
    if manifest is None:
        return Check(OK, "scopes", f"{', '.join(sorted(granted))} (manifest.json not found to compare)")
    missing, extra = sorted(manifest - granted), sorted(granted - manifest)
    if missing:
        return Check(FAIL, "scopes", f"missing {', '.join(missing)}",
                     f"add them under {_SLACK_APPS} → OAuth & Permissions → Bot Token Scopes (or paste "
                     "manifest.json under App Manifest), then reinstall the app")
    note = f"; also granted, not needed: {', '.join(extra)}" if extra else ""
    return Check(OK, "scopes", f"{', '.join(sorted(manifest))}: as manifest.json asks{note}")


def _channel_check(token: str, url: str, channel: str, probe: Callable[..., dict], error: type) -> Check:
    name = "audit channel"
    try:
        info = probe(token, url, channel)
    except error as exc:
        fixes = {
            "channel_not_found": "check OPSBOT_AUDIT_CHANNEL: use the channel's ID (its details pane), and for a "
                                 "private channel invite the bot first (/invite @opsbot)",
            "missing_scope": "add channels:read and groups:read (manifest.json has them) and reinstall the app",
        }
        return Check(FAIL, name, f"{channel}: Slack answered {exc.code}",
                     fixes.get(exc.code, "check OPSBOT_AUDIT_CHANNEL and the token"))
    label = f"#{info.get('name', channel)} ({channel})"
    if info.get("is_archived"):
        return Check(FAIL, name, f"{label} is archived", "unarchive it, or set OPSBOT_AUDIT_CHANNEL to another")
    if not info.get("is_member"):
        return Check(FAIL, name, f"{label}: the bot is not a member",
                     f"in #{info.get('name', channel)}, type /invite @opsbot")
    return Check(OK, name, f"{label}: the bot is a member")


# -- AWS ----------------------------------------------------------------------------------------------


def aws_checks(settings: Settings, catalog: object | None) -> list[Check]:
    from infra.probes import (
        ProbeError,
        aws_has_credentials,
        aws_identity,
        cloudfront_distribution,
        s3_bucket,
        s3_versioning,
    )

    sites = list(getattr(catalog, "sites", ()) or ())
    needed_by = [what for what, needed in (("the DynamoDB store", settings.store.kind == "dynamodb"),
                                           ("/deploy", bool(sites))) if needed]
    if not needed_by:
        return [Check(OFF, "AWS", "not needed: SQLite store and no sites in events.json")]
    region, endpoint = settings.aws_region, settings.aws_endpoint_url
    if not aws_has_credentials():
        status = FAIL if settings.store.kind == "dynamodb" else OFF
        return [Check(status, "AWS", "no credentials found: /deploy runs as a dry run",
                      "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role"
                      if status == FAIL else "")]
    checks = []
    try:
        who = aws_identity(region, endpoint)
    except ProbeError as exc:
        return [Check(FAIL, "AWS identity", exc.message,
                      "check the credentials (aws sts get-caller-identity shows what they are)")]
    checks.append(Check(OK, "AWS identity", f"{who['arn']} (account {who['account']})"))
    for site in sites:
        try:
            s3_bucket(site.bucket, region, endpoint)
        except ProbeError as exc:
            fix = {"404": "create the bucket, or fix \"bucket\" in events.json",
                   "NoSuchBucket": "create the bucket, or fix \"bucket\" in events.json",
                   "403": "let these credentials list, read, write and delete objects in it"}.get(
                exc.code, "check the bucket name and the credentials' permissions")
            checks.append(Check(FAIL, f"site {site.id} bucket", f"s3://{site.bucket}: {_aws_problem(exc.code)}", fix))
        else:
            checks.append(Check(OK, f"site {site.id} bucket", f"s3://{site.bucket}" + (
                f" (prefix {site.prefix})" if site.prefix else "")))
            try:
                versioning = s3_versioning(site.bucket, region, endpoint)
            except ProbeError as exc:
                checks.append(Check(FAIL, f"site {site.id} versioning", f"s3://{site.bucket}: "
                                    f"{_aws_problem(exc.code)}", "let these credentials read the bucket's versioning "
                                                                 "(s3:GetBucketVersioning)"))
            else:
                checks.append(_versioning_check(site, versioning))
        try:
            dist = cloudfront_distribution(site.distribution_id, region, endpoint)
        except ProbeError as exc:
            fix = ("fix \"distributionId\" in events.json (CloudFront console → the site's distribution ID)"
                   if exc.code in ("NoSuchDistribution", "404") else
                   "let these credentials read the distribution and create invalidations")
            checks.append(Check(FAIL, f"site {site.id} CDN", f"{site.distribution_id}: {_aws_problem(exc.code)}", fix))
        else:
            checks.append(Check(OK, f"site {site.id} CDN", f"{site.distribution_id} ({dist['domain']}, "
                                                           f"{dist['status']})"))
    return checks


def _versioning_check(site: Site, status: str) -> Check:
    """Whether ``/deploy SITE rollback`` can work: the bucket must keep earlier versions."""
    name = f"site {site.id} versioning"
    if status == "Enabled":
        return Check(OK, name, f"on: `/deploy {site.id} rollback` can put production back")
    return Check(OFF, name, f"{'suspended' if status == 'Suspended' else 'off'}: `/deploy {site.id} rollback` cannot "
                            f"put production back (turn it on: aws s3api put-bucket-versioning --bucket {site.bucket} "
                            "--versioning-configuration Status=Enabled)")


def _aws_problem(code: str) -> str:
    return {"404": "not found", "NoSuchBucket": "not found", "NoSuchDistribution": "not found",
            "403": "access denied", "AccessDenied": "access denied"}.get(code, code)


# -- Stripe ---------------------------------------------------------------------------------------------


def stripe_checks(settings: Settings, errors: list[ConfigError]) -> list[Check]:
    from infra.probes import ProbeError, stripe_key

    bad = {e.variable: e for e in errors}
    checks: list[Check] = []
    key = settings.stripe_api_key
    if "STRIPE_API_KEY" in bad:
        checks.append(Check(FAIL, "STRIPE_API_KEY", str(bad["STRIPE_API_KEY"]).split(": ", 1)[-1],
                            SETTING_FIXES["STRIPE_API_KEY"]))
    elif not key:
        checks.append(Check(OFF, "STRIPE_API_KEY", "not set: /paylink shows what it would make (a dry run)"))
    else:
        mode = "test mode" if "_test_" in key else "LIVE mode: real money"
        checks.append(Check(OK, "STRIPE_API_KEY", f"{mask(key)}: {mode}"))
        try:
            stripe_key(key, settings.stripe_api_base)
        except ProbeError as exc:
            if exc.code == "unreachable":
                checks.append(Check(FAIL, "Stripe API", exc.message, "check the network (or OPSBOT_STRIPE_API_BASE)"))
            elif exc.code == "403":
                checks.append(Check(OK, "Stripe API", "the key is accepted (a restricted key that cannot list "
                                                      "payment links)"))
            else:
                checks.append(Check(FAIL, "Stripe API", f"Stripe refused STRIPE_API_KEY (HTTP {exc.code})",
                                    SETTING_FIXES["STRIPE_API_KEY"]))
        else:
            checks.append(Check(OK, "Stripe API", "the key is accepted"))
    if "STRIPE_WEBHOOK_SECRET" in bad:
        checks.append(Check(FAIL, "STRIPE_WEBHOOK_SECRET", str(bad["STRIPE_WEBHOOK_SECRET"]).split(": ", 1)[-1],
                            SETTING_FIXES["STRIPE_WEBHOOK_SECRET"]))
    elif settings.stripe_webhook_secret:
        checks.append(Check(OK, "STRIPE_WEBHOOK_SECRET", mask(settings.stripe_webhook_secret)))
        if not key and "STRIPE_API_KEY" not in bad:  # refund events are read back from Stripe's API
            checks.append(Check(WARN, "Stripe refunds", "STRIPE_WEBHOOK_SECRET is set without STRIPE_API_KEY: "
                                "refund events are answered 503 (Stripe retries them) until the key is set",
                                SETTING_FIXES["STRIPE_API_KEY"]))
    elif key:
        checks.append(Check(OFF, "STRIPE_WEBHOOK_SECRET", "not set: paid links are not recorded by themselves",
                            "add a webhook endpoint for https://YOUR-HOST/stripe/webhook in Stripe and copy its "
                            "signing secret"))
    for variable in ("OPSBOT_STRIPE_API_BASE",):
        if variable in bad:
            checks.append(Check(FAIL, variable, str(bad[variable]).split(": ", 1)[-1], SETTING_FIXES[variable]))
    return checks


# -- email --------------------------------------------------------------------------------------------

EMAIL_VARIABLES = frozenset(EMAIL_FROM_NAMES + EMAIL_TO_NAMES)


def email_checks(settings: Settings, errors: list[ConfigError]) -> list[Check]:
    from infra.probes import ProbeError, aws_has_credentials, ses_sender

    bad = [e for e in errors if e.variable in EMAIL_VARIABLES]
    if bad:
        # Only the first: leaving a bad variable out makes its partner look half-set, which is no news.
        first = bad[0]
        return [Check(FAIL, first.variable, str(first).split(": ", 1)[-1],
                      "set OPSBOT_EMAIL_FROM to a sender verified in SES and OPSBOT_EMAIL_TO to comma-separated "
                      "addresses, or set neither to turn email off")]
    email = settings.email
    if email is None:
        return [Check(OFF, "email", "off: set OPSBOT_EMAIL_FROM and OPSBOT_EMAIL_TO to email admins a copy of "
                                    "each payment, void and daily summary")]

    def named(variable: str, new: str) -> str:
        return new if variable == new else f"{new} (read from the old name {variable})"

    checks = [
        Check(OK, named(email.sender_variable, "OPSBOT_EMAIL_FROM"), email.sender),
        Check(OK, named(email.recipients_variable, "OPSBOT_EMAIL_TO"),
              f"{len(email.recipients)} recipient{'s' if len(email.recipients) != 1 else ''}: "
              f"{', '.join(email.recipients)}"),
    ]
    if not aws_has_credentials():
        checks.append(Check(FAIL, "SES", "no AWS credentials found: email copies cannot be sent",
                            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role "
                            "that may ses:SendEmail"))
        return checks
    address = email.sender_address
    try:
        found = ses_sender(address, settings.aws_region, settings.aws_endpoint_url)
    except ProbeError as exc:
        fix = (f"verify it: aws sesv2 create-email-identity --email-identity {address} (then open the link SES "
               "emails to it), or verify its domain" if exc.code == "NotFoundException" else
               "let these credentials read SES identities (ses:GetEmailIdentity) and send (ses:SendEmail)")
        checks.append(Check(FAIL, "SES sender", exc.message, fix))
        return checks
    where = f"{found['identity']} in {found['region']}"
    if found["status"] == "verified":
        checks.append(Check(OK, "SES sender", f"{where}: verified for sending"))
    else:
        checks.append(Check(FAIL, "SES sender", f"{where}: {found['status']}, not verified for sending",
                            "open the verification link SES emailed to the address (or finish the domain's DNS "
                            "records), then run `opsbot doctor` again"))
    return checks


# -- the report ------------------------------------------------------------------------------------------


def diagnose(settings: Settings, errors: list[ConfigError], *, manifest: frozenset[str] | None = None
             ) -> list[Section]:
    stripe_variables = {"STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "OPSBOT_STRIPE_API_BASE"}
    aws_variables = {"AWS_ENDPOINT_URL"}
    own = [e for e in errors if e.variable not in stripe_variables | aws_variables | EMAIL_VARIABLES]
    catalog_list, catalog = catalog_checks(settings)
    aws = [Check(FAIL, e.variable, str(e).split(": ", 1)[-1], SETTING_FIXES.get(e.variable, ""))
           for e in errors if e.variable in aws_variables]
    return [
        ("Settings", setting_checks(settings, own)),
        ("events.json", catalog_list),
        ("Store", _store_and_outbox(settings)),
        ("Slack", slack_checks(settings, manifest if manifest is not None else manifest_scopes())),
        ("AWS", aws + aws_checks(settings, catalog)),
        ("Stripe", stripe_checks(settings, errors)),
        ("Email", email_checks(settings, errors)),
    ]


def _store_and_outbox(settings: Settings) -> list[Check]:
    store = store_checks(settings)
    return store + outbox_checks(settings) if all(c.status == OK for c in store) else store


def render(sections: list[Section]) -> tuple[str, int]:
    """The checklist as text, and how many checks failed."""
    width = max((len(c.name) for _, checks in sections for c in checks), default=10) + 2
    lines: list[str] = []
    failed = warned = 0
    for title, checks in sections:
        lines += ["", title]
        for check in checks:
            failed += check.status == FAIL
            warned += check.status == WARN
            lines.append(f"  {MARKS[check.status]} {check.name.ljust(width)}{check.detail}")
            if check.fix and check.status in (FAIL, WARN):
                lines.append(f"      → {check.fix}")
    lines.append("")
    if failed:
        lines.append(f"{failed} problem{'s' if failed != 1 else ''}: fix the ✗ lines above, then run "
                     "`opsbot doctor` again.")
    else:
        lines.append("Everything that is configured works. (– marks what is not configured.)")
    if warned:
        lines.append(f"{warned} warning{'s' if warned != 1 else ''}: the ! lines work, but should be fixed.")
    return "\n".join(lines) + "\n", failed


def run_doctor(environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env",
               out: TextIO | None = None) -> int:
    out = out or sys.stdout
    settings, errors = diagnose_settings(environ, env_file)
    source = f"the environment and {env_file}" if env_file and Path(env_file).is_file() else "the environment"
    text, failed = render(diagnose(settings, errors))
    out.write(f"opsbot doctor ({PACKAGE} {opsbot_version()}): the configuration from {source}\n{text}")
    out.flush()
    return 1 if failed else 0
