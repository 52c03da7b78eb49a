"""The container the composition root (bot/bootstrap.py) builds and every listener is given.

Its own module, below handlers/, so that listeners can name its type without importing the
composition root (which imports them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from slack_sdk import WebClient

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


class BuiltOnFirstUse(Protocol):
    """How the services that most requests never touch are built (bot/bootstrap.py), each the first
    time it is asked for: a Lambda container's first request then imports only what it uses."""

    def records(self, services: Services) -> LedgerRecords: ...

    def paylinks(self, services: Services) -> Paylinks: ...

    def refunds(self, services: Services) -> StripeRefunds: ...

    def stripe_intake(self, services: Services) -> StripeIntake: ...

    def deploys(self, services: Services) -> Deployer: ...

    def links(self, services: Services) -> OpsLinks: ...

    def health(self, services: Services) -> Health: ...


@dataclass(frozen=True)
class Services:
    """Everything a listener or entry point uses, complete when built (bot/bootstrap.py) and never
    changed after, but for the services few requests need (the properties after the fields): each is
    built the first time it is asked for and kept. A service that is off says so itself: Paylinks
    without a Stripe key answers with a dry run (``configured``), email off is NoEmail (``on``
    False), Slack off is NoSlack (``slack_on``)."""

    settings: Settings
    store: Store
    catalog: Catalog
    ledger: Ledger
    access: Access
    gate: Gate  # the permission table asked, each refusal recorded
    once: Once
    notifier: Notifier  # NoSlack when Slack is not configured
    announcer: Announcer  # which announcements each change writes to the outbox
    clock: Clock
    mailer: Mailer  # NoMailer when email is off
    slack_client: WebClient | None  # the notifier's client (None without Slack); the console's is its local Slack
    email: EmailCopies | NoEmail  # the daily summary by email, or NoEmail when email is off
    on_first_use: BuiltOnFirstUse = field(repr=False, compare=False)  # builds the properties below

    @cached_property
    def records(self) -> LedgerRecords:
        """Exports, the web API's pages, search."""
        return self.on_first_use.records(self)

    @cached_property
    def paylinks(self) -> Paylinks:
        """/paylink; a dry run without STRIPE_API_KEY."""
        return self.on_first_use.paylinks(self)

    @cached_property
    def refunds(self) -> StripeRefunds:
        """Stripe refunds: the webhook's, and a void's refund from Slack."""
        return self.on_first_use.refunds(self)

    @cached_property
    def stripe_intake(self) -> StripeIntake:
        """POST /stripe/webhook and /opsbot assign."""
        return self.on_first_use.stripe_intake(self)

    @cached_property
    def deploys(self) -> Deployer:
        """/deploy; dry runs without AWS credentials."""
        return self.on_first_use.deploys(self)

    @cached_property
    def links(self) -> OpsLinks:
        """/links and the App Home's links."""
        return self.on_first_use.links(self)

    @cached_property
    def health(self) -> Health:
        """What /healthz watches besides the store (the servers add their parts as they start)."""
        return self.on_first_use.health(self)
