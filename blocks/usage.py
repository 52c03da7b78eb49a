"""What to type, and what was wrong with what was typed: the usage lines of the slash commands and the
words for bot/core/commands.py's UsageError and bot/core/paylinks.py's PaylinkInputError (their facts).
Plain sentences with `code` marks; the reply escapes them once for mrkdwn (blocks/failures.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the usage words need no more than the errors' facts (cold start: no Stripe services)
    from bot.core.commands import UsageError
    from bot.core.paylinks import PaylinkInputError

LOG_PAYMENT_USAGE = (
    "Usage: `/log-payment EVENT AMOUNT METHOD PATRON…` — for example `/log-payment jada 500 venmo Ana Ruiz`. "
    "`/log-payment` alone opens the form."
)
EVENTS_USAGE = "Usage: `/events` (upcoming), `/events all` (past too) or `/events EVENT` (one event and its payments)."
EXPORT_USAGE = ("Usage: `/opsbot export [EVENT|all] [--from YYYY-MM-DD] [--to YYYY-MM-DD]` — for example "
                "`/opsbot export all --from 2026-05-01 --to 2026-05-31`. The CSV comes to you as a direct message.")
PAYLINK_USAGE = ("Usage: `/paylink AMOUNT [DESCRIPTION…] [--event EVENT]` — for example "
                 "`/paylink 250 Charter deposit --event jada`.")

_USAGE_PROBLEMS = {
    "missing": "Missing {missing}.",
    "one_event": "Give one event id, or `all`.",
    "needs_date": "{flag} needs a date, like 2026-05-01.",
    "twice": "{flag} is given twice.",
    "not_an_option": "'{word}' is not an option: use --from and --to.",
    "not_a_date": "{what} '{text}' is not a date like 2026-05-01.",
}
_PAYLINK_PROBLEMS = {
    "event_twice": "Give `--event` once.",
    "event_needs_id": "`--event` needs an event id, like `--event jada`.",
    "unknown_option": "Unknown option `{option}`: the only option is `--event`.",
    "no_amount": "Give the amount to charge, like 250 or 1,560.00.",
    "too_long": "The description is {length} characters; the limit is {limit}.",
    "said": "{message}",  # the amount's or the event's own message (bot/core/money.py, bot/core/catalog.py)
}


def usage_problem(error: UsageError) -> str:
    """What does not fit the command's usage (the words typed are already cut by ``echo``)."""
    facts = dict(error.facts)
    if "missing" in facts:
        facts["missing"] = " and ".join(facts["missing"])
    return _USAGE_PROBLEMS[error.problem].format(**facts)


def paylink_problem(error: PaylinkInputError) -> str:
    return _PAYLINK_PROBLEMS[error.problem].format(**error.facts)
