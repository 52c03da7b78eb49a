"""Parsing the text people type after a slash command. No Slack here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.core.user_text import echo

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


EXPORT_USAGE = ("Usage: `/opsbot export [EVENT|all] [--from YYYY-MM-DD] [--to YYYY-MM-DD]` — for example "
                "`/opsbot export all --from 2026-05-01 --to 2026-05-31`. The CSV comes to you as a direct message.")


@dataclass(frozen=True)
class ExportCommand:
    event: str | None = None  # None: every event
    first: date | None = None
    last: date | None = None


def parse_export(words: list[str]) -> ExportCommand:
    """``[EVENT|all] [--from D] [--to D]`` (``--from=D`` too), the words after ``export``."""
    event: str | None = None
    days: dict[str, date] = {}
    rest = list(words)
    while rest:
        word = rest.pop(0)
        flag, _, value = word.partition("=")
        if flag.lower() in ("--from", "--to"):
            if not value:
                if not rest:
                    raise UsageError(f"{flag} needs a date, like 2026-05-01.")
                value = rest.pop(0)
            name = flag.lower()[2:]
            if name in days:
                raise UsageError(f"{flag} is given twice.")
            days[name] = parse_day(value, flag)
        elif word.startswith("-"):
            raise UsageError(f"'{echo(word)}' is not an option: use --from and --to.")
        elif event is not None:
            raise UsageError("Give one event id, or `all`.")
        else:
            event = word
    return ExportCommand(None if event is None or event.lower() == "all" else event, days.get("from"),
                         days.get("to"))


def parse_day(text: str, what: str = "the date") -> date:
    """A YYYY-MM-DD date; UsageError naming ``what`` otherwise."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise UsageError(f"{what} '{echo(text)}' is not a date like 2026-05-01.")
