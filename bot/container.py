"""The container the composition root (bot/bootstrap.py) builds and every listener is given.

Its own module, below handlers/, so that listeners can name its type without importing the
composition root (which imports them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.access import Access
from bot.core.catalog import Catalog
from bot.core.deploy import Deployer
from bot.core.email_copies import EmailCopies, NoEmail
from bot.core.gate import Gate
from bot.core.health import Health
from bot.core.ledger import Clock, Ledger
from bot.core.links import OpsLinks
from bot.core.once import Once
from bot.core.outbox import Announcer
from bot.core.paylinks import Paylinks
from bot.core.ports import Mailer, Notifier, Store
from bot.core.records import LedgerRecords
from bot.core.refunds import StripeRefunds
from bot.core.stripe_intake import StripeIntake

if TYPE_CHECKING:
    from slack_sdk import WebClient


@dataclass(frozen=True)
class Services:
    """Everything a listener or entry point uses, complete when built (bot/bootstrap.py) and never
    changed after. A service that is off says so itself: Paylinks without a Stripe key answers with a
    dry run (``configured``), email off is NoEmail (``on`` False), Slack off is NoSlack (``slack_on``)."""

    settings: Settings
    store: Store
    catalog: Catalog
    ledger: Ledger
    records: LedgerRecords  # exports, the web API's pages, search
    access: Access
    gate: Gate  # the permission table asked, each refusal recorded
    once: Once
    notifier: Notifier  # NoSlack when Slack is not configured
    announcer: Announcer  # which announcements each change writes to the outbox
    clock: Clock
    mailer: Mailer  # NoMailer when email is off
    slack_client: WebClient | None  # the notifier's client (None without Slack); the console's is its local Slack
    paylinks: Paylinks  # /paylink; a dry run without STRIPE_API_KEY
    stripe_intake: StripeIntake  # POST /stripe/webhook and /opsbot assign
    refunds: StripeRefunds  # Stripe refunds: the webhook's, and a void's refund from Slack
    deploys: Deployer  # /deploy; dry runs without AWS credentials
    links: OpsLinks  # /links and the App Home's links
    email: EmailCopies | NoEmail  # the daily summary by email, or NoEmail when email is off
    health: Health  # what /healthz watches besides the store
