"""What a person is told when the bot's own store fails under their request. Pure text."""

from __future__ import annotations

from blocks.fit import mrkdwn
from blocks.mrkdwn import escape

# What is shown of a refusal's explanation: it may echo what was typed (a slash command's text can
# be 50,000 characters long), and a reply must stay short and within a message's 40,000.
PROBLEM_SHOWN = 1000

# The modal's submission carries the view id as its idempotency key: sending the same form again is safe.
FORM_NOT_SAVED = ("The ledger's store did not answer, so this payment may not have been recorded. Submit the "
                  "form again in a minute: the same form is never recorded twice.")
# A one-line /log-payment run again is a new request: check first.
PAYMENT_NOT_SAVED = ("The ledger's store did not answer, so this payment may not have been recorded. Check "
                     "`/events` in a minute before logging it again.")


def store_unavailable(command: str | None) -> str:
    """For a slash command whose work the store failed."""
    if command == "/log-payment":
        return PAYMENT_NOT_SAVED
    name = escape(command or "it")
    return f"The bot's store did not answer, so `{name}` could not be done. Try again in a minute."


def problem(text: str) -> str:
    """Why a request was refused (a service's message, which may echo what was typed), for mrkdwn:
    escaped once and shortened."""
    return mrkdwn(text, PROBLEM_SHOWN)
