"""The slash commands the bot answers: the one list that help is built from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandHelp:
    usage: str  # what to type, with placeholders: "/events [SLUG|all]"
    summary: str  # one sentence: what it does
    example: str  # one real invocation
    admin_only: bool = False


COMMANDS: tuple[CommandHelp, ...] = (
    CommandHelp(
        "/log-payment [EVENT AMOUNT METHOD PATRON…]",
        "Alone, opens the payment form. With arguments, records the payment directly, with the same checks.",
        "/log-payment gipsykings 125 venmo Ana Ruiz",
    ),
    CommandHelp(
        "/events [SLUG|all]",
        "Events with a paid-of-total bar, the balance and whether they are cleared.",
        "/events all",
    ),
    CommandHelp(
        "/links [GROUP|TEXT]",
        "The ops page's links: Stripe (payment links too, with what each collected), sheets, consoles, each "
        "site's pages; or those whose group, title, note or address holds the text.",
        "/links stripe",
    ),
    CommandHelp(
        "/paylink AMOUNT [DESCRIPTION…] [--event SLUG]",
        "Makes a Stripe payment link and posts it.",
        "/paylink 250 Charter deposit --event 2026-05-23-jada-charter",
        admin_only=True,
    ),
    CommandHelp(
        "/deploy SITE [staging|production|promote|rollback|history]",
        "Publishes an event site to S3 and refreshes CloudFront. Production, promote and rollback show what they "
        "would change and ask for a confirmation; history lists the last deploys.",
        "/deploy gipsykings staging",
        admin_only=True,
    ),
    CommandHelp(
        "/opsbot help",
        "This list.",
        "/opsbot help",
    ),
    CommandHelp(
        "/opsbot summary",
        "Today's payment summary.",
        "/opsbot summary",
    ),
    CommandHelp(
        "/opsbot find TEXT",
        "Payments whose patron or notes match, in any case and with or without accents, across events, "
        "newest first, with each patron's total.",
        "/opsbot find ana ruiz",
    ),
    CommandHelp(
        "/opsbot void PAYMENT_ID",
        "Voids a payment with a reversing record; the original stays in the ledger. A Stripe payment asks first "
        "whether to refund it in Stripe too.",
        "/opsbot void pay_k7m2x9q4ab",
        admin_only=True,
    ),
    CommandHelp(
        "/opsbot assign SESSION_ID EVENT_ID",
        "Records a Stripe payment that came in without a known event on that event.",
        "/opsbot assign cs_live_a1B2c3D4 2026-05-23-jada-charter",
        admin_only=True,
    ),
    CommandHelp(
        "/opsbot export [EVENT|all] [--from YYYY-MM-DD] [--to YYYY-MM-DD]",
        "The ledger's records (payments and reversals) as a CSV file for a spreadsheet, sent to you as a "
        "direct message with a one-line summary.",
        "/opsbot export all --from 2026-05-01 --to 2026-05-31",
        admin_only=True,
    ),
)


def visible_commands(*, is_admin: bool) -> tuple[CommandHelp, ...]:
    """The commands a person may run: the crew's, and for admins the admin ones too."""
    return tuple(c for c in COMMANDS if is_admin or not c.admin_only)
