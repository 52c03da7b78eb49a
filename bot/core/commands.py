"""Parsing the text people type after a slash command. No Slack here: what was wrong is a
UsageError's facts, and blocks/usage.py says it (with the usage lines)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.core.user_text import echo


class UsageError(ValueError):
    """The command text does not fit the command's usage. ``problem``: "missing" (missing: the
    placeholders), "one_event", "needs_date" / "twice" (flag), "not_an_option" (word), "not_a_date"
    (what, text); the words typed are cut by ``echo``."""

    def __init__(self, problem: str, **facts: Any):
        super().__init__(problem, *facts.values())
        self.problem, self.facts = problem, facts


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
        raise UsageError("missing", missing=tuple(missing))
    return LogPaymentCommand(event=words[0], amount=words[1], method=words[2], patron=" ".join(words[3:]))


@dataclass(frozen=True)
class EventsCommand:
    include_past: bool = False
    event: str | None = None


def parse_events(text: str | None) -> EventsCommand:
    words = (text or "").split()
    if not words:
        return EventsCommand()
    if len(words) > 1:
        raise UsageError("one_event")
    if words[0].lower() == "all":
        return EventsCommand(include_past=True)
    return EventsCommand(event=words[0])


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
                    raise UsageError("needs_date", flag=flag)
                value = rest.pop(0)
            name = flag.lower()[2:]
            if name in days:
                raise UsageError("twice", flag=flag)
            days[name] = parse_day(value, flag)
        elif word.startswith("-"):
            raise UsageError("not_an_option", word=echo(word))
        elif event is not None:
            raise UsageError("one_event")
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
    raise UsageError("not_a_date", what=what, text=echo(text))
