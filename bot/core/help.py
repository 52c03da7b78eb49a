"""The slash commands the bot answers: the one list that help is built from. Which ones are for
admins is read from the permission table (bot/core/access.py), the same table every entry point checks."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.access import PERMISSIONS, Role, entry_action


@dataclass(frozen=True)
class CommandHelp:
    usage: str  # what to type, with placeholders: "/events [SLUG|all]"
    summary: str  # one sentence: what it does
    example: str  # one real invocation
    admin_only: bool = False


def _command(usage: str, summary: str, example: str) -> CommandHelp:
    """A command's help, marked for admins when the permission table says its entry needs an admin."""
    name, _, rest = usage.partition(" ")
    action = entry_action("command", name, rest)
    if action is None:
        raise KeyError(f"{usage!r} is not in the permission table")
    return CommandHelp(usage, summary, example, admin_only=PERMISSIONS[action] is Role.ADMIN)


COMMANDS: tuple[CommandHelp, ...] = (
    _command(
        "/log-payment [EVENT AMOUNT METHOD PATRON…]",
        "Alone, opens the payment form. With arguments, records the payment directly, with the same checks.",
        "/log-payment gipsykings 125 venmo Ana Ruiz",
    ),
    _command(
        "/events [SLUG|all]",
        "Events with a paid-of-total bar, the balance and whether they are cleared.",
        "/events all",
    ),
    _command(
        "/links [GROUP|TEXT]",
        "The ops page's links: Stripe (payment links too, with what each collected), sheets, consoles, each "
        "site's pages; or those whose group, title, note or address holds the text.",
        "/links stripe",
    ),
    _command(
        "/paylink AMOUNT [DESCRIPTION…] [--event SLUG]",
        "Makes a Stripe payment link and posts it.",
        "/paylink 250 Charter deposit --event 2026-05-23-jada-charter",
    ),
    _command(
        "/deploy SITE [staging|production|promote|rollback|history]",
        "Publishes an event site to S3 and refreshes CloudFront. Production, promote and rollback show what they "
        "would change and ask for a confirmation; history lists the last deploys.",
        "/deploy gipsykings staging",
    ),
    _command(
        "/opsbot help",
        "This list.",
        "/opsbot help",
    ),
    _command(
        "/opsbot summary",
        "Today's payment summary.",
        "/opsbot summary",
    ),
    _command(
        "/opsbot find TEXT",
        "Payments whose patron or notes match, in any case and with or without accents, across events, "
        "newest first, with each patron's total.",
        "/opsbot find ana ruiz",
    ),
    _command(
        "/opsbot void PAYMENT_ID",
        "Voids a payment with a reversing record; the original stays in the ledger. A Stripe payment asks first "
        "whether to refund it in Stripe too.",
        "/opsbot void pay_k7m2x9q4ab",
    ),
    _command(
        "/opsbot assign SESSION_ID EVENT_ID",
        "Records a Stripe payment that came in without a known event on that event.",
        "/opsbot assign cs_live_a1B2c3D4 2026-05-23-jada-charter",
    ),
    _command(
        "/opsbot export [EVENT|all] [--from YYYY-MM-DD] [--to YYYY-MM-DD]",
        "The ledger's records (payments and reversals) as a CSV file for a spreadsheet, sent to you as a "
        "direct message with a one-line summary.",
        "/opsbot export all --from 2026-05-01 --to 2026-05-31",
    ),
)


def visible_commands(*, is_admin: bool) -> tuple[CommandHelp, ...]:
    """The commands a person may run: the crew's, and for admins the admin ones too."""
    return tuple(c for c in COMMANDS if is_admin or not c.admin_only)
