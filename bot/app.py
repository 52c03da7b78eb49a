"""Composition root: settings in, wired services (and the Slack app) out.

Nothing here runs at import time; every adapter can be injected."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.access import Access
from bot.catalog import Catalog, load_catalog
from bot.config import Settings
from bot.deliverer import Deliverer, DeliveryPolicy
from bot.deploy import build_deployer
from bot.health import Health
from bot.ledger import Clock, Ledger, utc_now
from bot.once import Once
from bot.outbox import Announcer, Doorbell, Targets
from bot.ports import Notifier, Store
from bot.records import LedgerRecords

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.deploy import Deployer
    from bot.email_copies import EmailCopies
    from bot.links import OpsLinks
    from bot.paylinks import Paylinks
    from bot.ports import Mailer
    from bot.refunds import StripeRefunds
    from bot.stripe_intake import StripeIntake

SLACK_NOT_CONFIGURED = "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"


class _NoTokenSkippedWarning(logging.Filter):
    """Bolt warns that ``token`` is unused whenever a client is given and
    SLACK_BOT_TOKEN is in the environment; the client carries that same token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_FILTER = _NoTokenSkippedWarning()


class SlackSetupError(Exception):
    """The Slack app cannot be built: not configured, or Slack refused the token."""


@dataclass
class Services:
    settings: Settings
    store: Store
    catalog: Catalog
    ledger: Ledger
    records: LedgerRecords  # exports, the web API's pages, search
    access: Access
    once: Once
    notifier: Notifier | None  # None when Slack is not configured
    announcer: Announcer  # which announcements each change writes to the outbox
    clock: Clock = utc_now
    mailer: Mailer | None = None  # None when email is off
    slack_client: WebClient | None = None
    paylinks: Paylinks | None = None  # /paylink (set by build_services)
    stripe_intake: StripeIntake | None = None  # POST /stripe/webhook and /opsbot assign
    refunds: StripeRefunds | None = None  # Stripe refunds: the webhook's, and a void's refund from Slack
    deploys: Deployer | None = None  # /deploy (set by build_services)
    links: OpsLinks | None = None  # /links and the App Home's links (set by build_services)
    email: EmailCopies | None = None  # the daily summary by email; None when email is off
    health: Health = field(default_factory=Health)  # what /healthz watches besides the store


def build_services(settings: Settings, *, store: Store | None = None, clock: Clock | None = None,
                   notifier: Notifier | None = None, mailer: Mailer | None = None,
                   doorbell: Doorbell | None = None) -> Services:
    """Load events.json (raises EventsFileError), open the store named by the
    settings and, when Slack is configured, the Slack client and notifier; when
    email is configured, the mailer (SES unless ``mailer`` is given). ``doorbell``
    is what a write that announced something rings (on Lambda: another invocation)."""
    catalog = load_catalog(settings.events_file, protected=settings.private_files)
    if store is None:
        from infra import open_store

        store = open_store(settings)
    clock = clock or utc_now
    client = None
    if notifier is None and settings.slack_bot_token:
        from infra.slack_notifier import SlackNotifier, slack_client

        client = slack_client(settings.slack_bot_token, settings.slack_api_url)
        notifier = SlackNotifier(client)
    if settings.email is not None and mailer is None:
        from infra.ses_mailer import SesMailer

        mailer = SesMailer(settings.aws_region, settings.aws_endpoint_url)
    targets = Targets(audit_channel=settings.audit_channel if notifier is not None else None,
                      email=settings.email is not None)
    announcer = Announcer(targets, day_of=lambda moment: moment.astimezone(settings.timezone).date().isoformat(),
                          doorbell=doorbell or Doorbell())
    ledger = Ledger(store, catalog, settings.timezone, clock=clock, announcer=announcer)
    once = Once(store, clock)
    services = Services(
        settings=settings, store=store, catalog=catalog, ledger=ledger,
        records=LedgerRecords(store, catalog, settings.timezone, clock=clock), access=Access(settings), once=once,
        notifier=notifier, announcer=announcer, clock=clock, mailer=mailer if settings.email else None,
        slack_client=client,
    )
    services.paylinks, services.stripe_intake = _stripe_services(services, clock)
    services.refunds = services.stripe_intake.refunds
    services.links = _ops_links(services)
    services.deploys = build_deployer(services, clock)
    services.email = _email_copies(services)
    return services


def _email_copies(services: Services) -> EmailCopies | None:
    settings = services.settings
    if settings.email is None or services.mailer is None:
        return None
    from bot.email_copies import EmailCopies

    return EmailCopies(services.mailer, settings.email, services.once, services.store, services.announcer,
                       services.clock)


def build_deliverer(services: Services, *, policy: DeliveryPolicy | None = None,
                    notifier: Notifier | None = None) -> Deliverer:
    """The outbox's deliverer for these services. Its Slack client does not retry by
    itself (the outbox does, after checking what got through); ``notifier`` replaces it
    (the console's). Not started: call ``start()`` for the in-process threads."""
    settings = services.settings
    if notifier is None and services.slack_client is not None and settings.slack_bot_token:
        from infra.slack_notifier import SlackNotifier, slack_client

        notifier = SlackNotifier(slack_client(settings.slack_bot_token, settings.slack_api_url, retries=False))
    return Deliverer(services.store, services.announcer, notifier=notifier or services.notifier,
                     mailer=services.mailer, email=settings.email, tz=settings.timezone,
                     policy=policy or DeliveryPolicy(), clock=services.clock)


def _ops_links(services: Services) -> OpsLinks:
    from bot.links import OpsLinks

    return OpsLinks(services.catalog, services.paylinks, region=services.settings.aws_region,
                    today=services.ledger.today)


def _stripe_services(services: Services, clock: Clock) -> tuple[Paylinks, StripeIntake]:
    """Payment links and Stripe webhooks; Stripe's API only when STRIPE_API_KEY is set (else /paylink
    answers with a dry run), webhook verification only when STRIPE_WEBHOOK_SECRET is."""
    from bot.paylinks import Paylinks
    from bot.refunds import StripeRefunds
    from bot.stripe_intake import StripeIntake

    settings = services.settings
    payments = verify = None
    if settings.stripe_api_key:
        from infra.stripe_payments import StripePayments

        payments = StripePayments(settings.stripe_api_key, settings.stripe_api_base)
    if settings.stripe_webhook_secret:
        from infra.stripe_payments import WebhookVerifier

        verify = WebhookVerifier(settings.stripe_webhook_secret)
    paylinks = Paylinks(services.store, services.catalog, payments, announcer=services.announcer,
                        tz=settings.timezone, clock=clock)
    refunds = StripeRefunds(services.ledger, services.store, payments, services.announcer, clock=clock)
    intake = StripeIntake(services.ledger, services.store, paylinks, services.announcer, verify=verify, clock=clock,
                          refunds=refunds)
    return paylinks, intake


def build_slack_app(services: Services, *, client: WebClient | None = None,
                    token_verification_enabled: bool = True, listener_executor: Executor | None = None) -> App:
    """The Bolt app with every listener registered.

    With token verification (the default) this calls ``auth.test`` once, so a
    wrong token fails at start, not at the first slash command."""
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
    from slack_sdk.errors import SlackApiError

    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, SlackApiError):
        return str(cause.response.get("error") or cause.response.status_code)
    return str(exc)
