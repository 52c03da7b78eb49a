"""Parsing the text people type after a slash command. No Slack here."""

from __future__ import annotations

from dataclasses import dataclass

LOG_PAYMENT_USAGE = (
    "Usage: `/log-payment EVENT AMOUNT METHOD PATRON…` — for example `/log-payment jada 500 venmo Ana Ruiz`. "
    "`/log-payment` alone opens the form."
)


class UsageError(ValueError):
    """The command text does not fit the command's usage; the message says what is wrong."""


@dataclass(frozen=True)
class LogPaymentCommand:
    event: str | None = None
    amount: str | None = None
    method: str | None = None
    patron: str | None = None

    @property
    def opens_form(self) -> bool:
        return self.amount is None


def parse_log_payment(text: str | None) -> LogPaymentCommand:
    """``""`` or ``"EVENT"`` open the form (EVENT preselected);
    ``"EVENT AMOUNT METHOD PATRON…"`` records directly."""
    words = (text or "").split()
    if len(words) <= 1:
        return LogPaymentCommand(event=words[0] if words else None)
    if len(words) < 4:
        missing = ["AMOUNT", "METHOD", "PATRON"][len(words) - 1:]
        raise UsageError(f"Missing {' and '.join(missing)}.")
    return LogPaymentCommand(event=words[0], amount=words[1], method=words[2], patron=" ".join(words[3:]))


EVENTS_USAGE = "Usage: `/events` (upcoming), `/events all` (past too) or `/events EVENT` (one event and its payments)."


@dataclass(frozen=True)
class EventsCommand:
    include_past: bool = False
    event: str | None = None


def parse_events(text: str | None) -> EventsCommand:
    words = (text or "").split()
    if not words:
        return EventsCommand()
    if len(words) > 1:
        raise UsageError("Give one event id, or `all`.")
    if words[0].lower() == "all":
        return EventsCommand(include_past=True)
    return EventsCommand(event=words[0])
