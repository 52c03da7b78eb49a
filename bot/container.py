"""The container the composition root (bot/bootstrap.py) builds and every listener is given.

Its own module, below handlers/, so that listeners can name its type without importing the
composition root (which imports them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.access import Access
from bot.core.catalog import Catalog
from bot.core.health import Health
from bot.core.ledger import Clock, Ledger, utc_now
from bot.core.once import Once
from bot.core.outbox import Announcer
from bot.core.ports import Notifier, Store
from bot.core.records import LedgerRecords

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.core.deploy import Deployer
    from bot.core.email_copies import EmailCopies
    from bot.core.links import OpsLinks
    from bot.core.paylinks import Paylinks
    from bot.core.ports import Mailer
    from bot.core.refunds import StripeRefunds
    from bot.core.stripe_intake import StripeIntake


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
