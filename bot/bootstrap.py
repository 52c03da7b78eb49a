"""Composition root: settings in, wired services (and the Slack app) out.

Nothing here runs at import time; every adapter can be injected."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.container import Services
from bot.core.access import Access
from bot.core.catalog import load_catalog
from bot.core.email_copies import EmailCopies, NoEmail
from bot.core.gate import Gate
from bot.core.ledger import Clock, Ledger, utc_now
from bot.core.once import Once
from bot.core.outbox import Announcer, Doorbell, Targets
from bot.core.ports import Mailer, NoMailer, NoSlack, Notifier, Store, mail_on, slack_on

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.core.deliverer import Deliverer, DeliveryPolicy
    from bot.core.deploy import Deployer
    from bot.core.health import Health
    from bot.core.links import OpsLinks
    from bot.core.paylinks import Paylinks
    from bot.core.records import LedgerRecords
    from bot.core.refunds import StripeRefunds
    from bot.core.stripe_intake import StripeIntake
    from infra.stripe_payments import StripePayments

SLACK_NOT_CONFIGURED = "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"


class _NoTokenSkippedWarning(logging.Filter):
    """Bolt warns that ``token`` is unused whenever a client is given and
    SLACK_BOT_TOKEN is in the environment; the client carries that same token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_FILTER = _NoTokenSkippedWarning()


class SlackSetupError(Exception):
    """The Slack app cannot be built: not configured, or Slack refused the token."""


def build_services(settings: Settings, *, store: Store | None = None, clock: Clock | None = None,
                   notifier: Notifier | None = None, mailer: Mailer | None = None,
                   doorbell: Doorbell | None = None, slack_client: WebClient | None = None) -> Services:
    """Load events.json (raises EventsFileError), open the store named by the
    settings and, when Slack is configured, the Slack client and notifier; when
    email is configured, the mailer (SES unless ``mailer`` is given). ``doorbell``
    is what a write that announced something rings (on Lambda: another invocation);
    ``slack_client`` the client the Slack app uses (the console's local Slack).
    The container comes out complete: nothing is set on it afterwards (the services few requests
    need are built the first time they are asked for: bot/container.py)."""
    catalog = load_catalog(settings.events_file, protected=settings.private_files)
    if store is None:
        from infra import open_store  # cold start: boto3 is imported only when the store is DynamoDB

        store = open_store(settings)
    clock = clock or utc_now
    client = slack_client
    if notifier is None and settings.slack_bot_token:
        from infra.slack_notifier import SlackNotifier
        from infra.slack_notifier import slack_client as make_client  # cold start: slack_sdk only with Slack

        client = make_client(settings.slack_bot_token, settings.slack_api_url)
        notifier = SlackNotifier(client)
    notifier = notifier or NoSlack()
    if settings.email is not None and mailer is None:
        from infra.ses_mailer import SesMailer  # cold start: boto3 only with email

        mailer = SesMailer(settings.aws_region, settings.aws_endpoint_url)
    targets = Targets(audit_channel=settings.audit_channel if slack_on(notifier) else None,
                      email=settings.email is not None)
    announcer = Announcer(targets, day_of=lambda moment: moment.astimezone(settings.timezone).date().isoformat(),
                          doorbell=doorbell or Doorbell())
    ledger = Ledger(store, catalog, settings.timezone, clock=clock, announcer=announcer)
    once = Once(store, clock)
    access = Access(settings.admins, settings.crew)
    mailer = mailer if settings.email is not None and mailer is not None else NoMailer()
    return Services(
        settings=settings, store=store, catalog=catalog, ledger=ledger,
        access=access, gate=Gate(access, store, announcer, clock), once=once, notifier=notifier,
        announcer=announcer, clock=clock, mailer=mailer, slack_client=client,
        email=_email_copies(settings, mailer, once, store, announcer, clock),
        on_first_use=_OnFirstUse(),
    )


def _email_copies(settings: Settings, mailer: Mailer, once: Once, store: Store, announcer: Announcer,
                  clock: Clock) -> EmailCopies | NoEmail:
    if settings.email is None or not mail_on(mailer):
        return NoEmail()
    return EmailCopies(mailer, settings.email, once, store, announcer, clock)


def build_deliverer(services: Services, *, policy: DeliveryPolicy | None = None,
                    notifier: Notifier | None = None) -> Deliverer:
    """The outbox's deliverer for these services. Its Slack client does not retry by
    itself (the outbox does, after checking what got through); ``notifier`` replaces it
    (the console's). Not started: call ``start()`` for the in-process threads."""
    # cold start: the deliverer and its renderings (slack_sdk's models) when it is built, not on import
    from blocks import announcements
    from bot.core.deliverer import Deliverer, DeliveryPolicy

    settings = services.settings
    if notifier is None and services.slack_client is not None and settings.slack_bot_token:
        from infra.slack_notifier import SlackNotifier, slack_client  # cold start: slack_sdk only with Slack

        notifier = SlackNotifier(slack_client(settings.slack_bot_token, settings.slack_api_url, retries=False))
    return Deliverer(services.store, services.announcer, renderer=announcements,
                     notifier=notifier or services.notifier,
                     mailer=services.mailer, email=settings.email, tz=settings.timezone,
                     policy=policy or DeliveryPolicy(), clock=services.clock)


def release_thread_connection(services: Services) -> None:
    """Close the calling thread's connection to a SQLite store (the other threads keep theirs),
    for a thread that will not touch the store for hours: its next use opens another. Each one
    holds about 110 KiB (SQLite's lookaside, the parsed schema, its page cache)."""
    if services.settings.store.kind != "sqlite":
        return
    from infra.sqlite_store import SqliteStore  # loaded already: the store is SQLite

    if isinstance(services.store, SqliteStore):
        services.store.close()


class _OnFirstUse:
    """The services few requests need, built when first asked for (bot/container.py): each import
    below is deferred for cold start, so that a Lambda container's first request imports only what
    it uses (a payment never loads the deployer, Stripe or the exports)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._payments: StripePayments | None = None

    def records(self, services: Services) -> LedgerRecords:
        from bot.core.records import LedgerRecords

        return LedgerRecords(services.store, services.catalog, services.settings.timezone, clock=services.clock)

    def paylinks(self, services: Services) -> Paylinks:
        from bot.core.paylinks import Paylinks

        return Paylinks(services.store, services.catalog, self._stripe_payments(services), announcer=services.announcer,
                        tz=services.settings.timezone, clock=services.clock)

    def refunds(self, services: Services) -> StripeRefunds:
        from bot.core.refunds import StripeRefunds

        return StripeRefunds(services.ledger, services.store, self._stripe_payments(services), services.announcer,
                             clock=services.clock)

    def stripe_intake(self, services: Services) -> StripeIntake:
        """Stripe webhooks, verified only when STRIPE_WEBHOOK_SECRET is set."""
        from bot.core.stripe_intake import StripeIntake

        verify = None
        if services.settings.stripe_webhook_secret:
            from infra.stripe_payments import WebhookVerifier  # cold start: stripe only with a secret

            verify = WebhookVerifier(services.settings.stripe_webhook_secret)
        return StripeIntake(services.ledger, services.store, services.paylinks, services.announcer, verify=verify,
                            clock=services.clock, refunds=services.refunds)

    def deploys(self, services: Services) -> Deployer:
        """The Deployer on S3 + CloudFront (boto3 clients made on first use)."""
        from blocks import deploy as deploy_words  # cold start: slack_sdk's models
        from bot.core.deploy import Deployer
        from infra.aws_sites import AwsSites  # cold start: boto3

        return Deployer(store=services.store, catalog=services.catalog, sites=AwsSites(services.settings),
                        notifier=services.notifier, announcer=services.announcer, once=services.once,
                        tz=services.settings.timezone, words=deploy_words, clock=services.clock, access=services.access)

    def links(self, services: Services) -> OpsLinks:
        from bot.core.links import OpsLinks

        return OpsLinks(services.catalog, services.paylinks, region=services.settings.aws_region,
                        today=services.ledger.today)

    def health(self, services: Services) -> Health:
        from bot.core.health import Health

        return Health()

    def _stripe_payments(self, services: Services) -> StripePayments | None:
        """Stripe's API when STRIPE_API_KEY is set, else None (/paylink answers with a dry run): one
        client, for payment links and refunds alike."""
        if not services.settings.stripe_api_key:
            return None
        with self._lock:
            if self._payments is None:
                from infra.stripe_payments import StripePayments  # cold start: stripe only with a key

                self._payments = StripePayments(services.settings.stripe_api_key, services.settings.stripe_api_base)
            return self._payments


def build_slack_app(services: Services, *, client: WebClient | None = None,
                    token_verification_enabled: bool = True, listener_executor: Executor | None = None) -> App:
    """The Bolt app with every listener registered.

    With token verification (the default) this calls ``auth.test`` once, so a
    wrong token fails at start, not at the first slash command."""
    # cold start: slack_bolt, the listeners and slack_sdk only when the Slack app is built (not for
    # Lambda's scheduled and outbox invocations)
    from slack_bolt import App
    from slack_bolt.error import BoltError

    import handlers
    from infra.slack_notifier import slack_client

    settings = services.settings
    if not settings.slack_configured:
        raise SlackSetupError(SLACK_NOT_CONFIGURED)
    if client is None:
        client = services.slack_client or slack_client(settings.slack_bot_token, settings.slack_api_url)
    elif client.token is None:
        client.token = settings.slack_bot_token
    bolt_logger = logging.getLogger("slack_bolt.App")
    if _BOLT_FILTER not in bolt_logger.filters:
        bolt_logger.addFilter(_BOLT_FILTER)
    try:
        # The token travels in the client (Bolt uses the client's when both are given).
        app = App(
            name="opsbot",
            signing_secret=settings.slack_signing_secret,
            client=client,
            process_before_response=True,
            token_verification_enabled=token_verification_enabled,
            **({"listener_executor": listener_executor} if listener_executor else {}),
        )
    except BoltError as exc:
        raise SlackSetupError(f"SLACK_BOT_TOKEN: Slack refused the token ({_slack_error(exc)})") from None
    except OSError as exc:  # urllib's URLError and socket errors
        reason = getattr(exc, "reason", None) or exc
        raise SlackSetupError(
            f"OPSBOT_SLACK_API_URL: cannot reach the Slack API at {settings.slack_api_url} ({reason})"
        ) from None
    handlers.register(app, services)
    return app


def _slack_error(exc: Exception) -> str:
    # Bolt wraps auth.test's SlackApiError in a BoltError; keep the error code only.
    from slack_sdk.errors import SlackApiError  # cold start, as in build_slack_app

    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, SlackApiError):
        return str(cause.response.get("error") or cause.response.status_code)
    return str(exc)
