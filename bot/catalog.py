"""events.json: the crew's events and sites, loaded and validated once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.domain import Event, Link, LinkGroup, Site
from bot.money import AmountError, parse_amount
from bot.user_text import echo

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
LINK_URL_MAX = 2000  # what browsers and Slack reliably take in one link


class EventsFileError(Exception):
    """events.json is unreadable or wrong. The message names the file, the entry and the field."""


class EventNotFound(LookupError):
    def __init__(self, ref: str, message: str):
        super().__init__(message)
        self.ref = ref
        self.message = message


@dataclass(frozen=True)
class Catalog:
    events: tuple[Event, ...]
    sites: tuple[Site, ...]
    links: tuple[LinkGroup, ...] = ()  # the ops page's links, in the file's order

    def event(self, event_id: str) -> Event | None:
        return self._events_by_id.get(event_id)

    def site(self, site_id: str) -> Site | None:
        return self._sites_by_id.get(site_id)

    @cached_property
    def _events_by_id(self) -> dict[str, Event]:
        return {e.id: e for e in self.events}

    @cached_property
    def _sites_by_id(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}

    def find_event(self, ref: str) -> Event:
        """The event a person means by ``ref``: its exact id, or the only event
        whose id contains ``ref`` ("jada" for "2026-05-23-jada-charter")."""
        ref = ref.strip().lower()
        exact = self.event(ref)
        if exact is not None:
            return exact
        matches = [e for e in self.events if ref and ref in e.id] if len(ref) >= 3 else []
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(e.id for e in matches[:5])
            raise EventNotFound(ref, f"'{echo(ref)}' matches {len(matches)} events ({names}): give more of the id.")
        raise EventNotFound(ref, f"There is no event '{echo(ref)}'. Run /events to see the event ids.")

    def event_for_channel(self, channel_id: str) -> Event | None:
        """The event tied to a Slack channel (``"channel"`` in events.json), if any."""
        for event in self.events:
            if event.extra.get("channel") == channel_id:
                return event
        return None

    def upcoming(self, today: date) -> list[Event]:
        """Events from today on, soonest first."""
        return sorted((e for e in self.events if e.date and e.date >= today), key=_by_date)

    def ordered(self, today: date) -> list[Event]:
        """Upcoming events soonest first, then undated ones, then past ones newest first."""
        undated = [e for e in self.events if e.date is None]
        past = sorted((e for e in self.events if e.date and e.date < today), key=_by_date, reverse=True)
        return [*self.upcoming(today), *undated, *past]

    def search(self, query: str, today: date) -> list[Event]:
        """The events whose id, title or date hold every word of ``query``, in ``ordered``
        order (an empty query matches all). Any case; a date as 2026-05-23, May 23 or Sat;
        a number is the start of one ("2" finds the 2nd and the 23rd, not the 12th)."""
        words = query.lower().split()
        return [e for e in self.ordered(today) if all(_matches(word, *_searchable(e)) for word in words)]


def _searchable(event: Event) -> tuple[str, list[str]]:
    """(the event's text, its numbers) for search."""
    when = f" {event.date.isoformat()} {event.date:%a %b %-d %Y %A %B}" if event.date else ""
    text = f"{event.id} {event.title}{when}".lower()
    return text, re.findall(r"\d+", text)


def _matches(word: str, text: str, numbers: list[str]) -> bool:
    if word.isdigit():
        return any(number.startswith(word) for number in numbers)
    return word in text


def _by_date(event: Event) -> tuple[date, str]:
    assert event.date is not None
    return (event.date, event.id)


def load_catalog(path: str | Path) -> Catalog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EventsFileError(f"{path}: file not found (set OPSBOT_EVENTS_FILE to its location)") from None
    except OSError as exc:
        raise EventsFileError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise EventsFileError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventsFileError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # e.g. a number with more than 4300 digits
        raise EventsFileError(f"{path}: not valid JSON: {exc}") from None
    return parse_catalog(data, path)


def parse_catalog(data: Any, path: Path) -> Catalog:
    if not isinstance(data, dict):
        raise EventsFileError(f"{path}: expected an object with \"events\" and \"sites\"")
    raw_events = data.get("events")
    raw_sites = data.get("sites", [])
    if not isinstance(raw_events, list):
        raise EventsFileError(f"{path}: \"events\" must be a list")
    if not isinstance(raw_sites, list):
        raise EventsFileError(f"{path}: \"sites\" must be a list")

    sites = tuple(_parse_site(i, raw, path) for i, raw in enumerate(raw_sites))
    _no_duplicates((s.id for s in sites), "sites", path)
    site_ids = {s.id for s in sites}
    events = tuple(_parse_event(i, raw, path, site_ids) for i, raw in enumerate(raw_events))
    _no_duplicates((e.id for e in events), "events", path)
    return Catalog(events=events, sites=sites, links=_parse_links(data.get("links"), path))


def _no_duplicates(ids: Iterable[str], section: str, path: Path) -> None:
    seen: dict[str, int] = {}
    for index, ident in enumerate(ids):
        if ident in seen:
            raise EventsFileError(
                f"{path}: {section}[{index}] ({ident}): field \"id\": duplicate of {section}[{seen[ident]}]"
            )
        seen[ident] = index


class _Entry:
    """Reads fields of one entry; every error names file, entry and field."""

    def __init__(self, path: Path, section: str, index: int, raw: Any, *, named_by: str = "id"):
        self.path, self.section, self.index, self.raw = path, section, index, raw
        ident = raw.get(named_by) if isinstance(raw, dict) else None
        shown = ident if not isinstance(ident, str) or len(ident) <= 100 else ident[:99] + "…"
        self.label = f"{section}[{index}]" + (f" ({shown})" if isinstance(shown, str) else "")
        if not isinstance(raw, dict):
            raise EventsFileError(f"{path}: {self.label}: expected an object")

    def error(self, name: str, problem: str) -> EventsFileError:
        return EventsFileError(f"{self.path}: {self.label}: field \"{name}\": {problem}")

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.error(name, "missing")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, "must be a non-empty string")
        return value.strip()

    def ident(self) -> str:
        value = self.text("id")
        assert value is not None
        if not _ID.match(value):
            raise self.error("id", f"{value!r} must be lowercase letters, digits and dashes")
        return value

    def dollars(self, name: str) -> int:
        value = self.raw.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.error(name, "must be a dollar amount like 1560 or \"1,560.00\"")
        try:
            return parse_amount(value)
        except AmountError as exc:
            raise self.error(name, str(exc)) from None


def _parse_event(index: int, raw: Any, path: Path, site_ids: set[str]) -> Event:
    entry = _Entry(path, "events", index, raw)
    ident = entry.ident()
    title = entry.text("title")
    assert title is not None

    when = None
    date_text = entry.text("date", required=False)
    if date_text is not None:
        try:
            if not _DATE.match(date_text):  # fromisoformat also takes 20260523 and 2026-W21-6
                raise ValueError(date_text)
            when = date.fromisoformat(date_text)
        except ValueError:
            raise entry.error("date", f"{date_text!r} is not a date in YYYY-MM-DD form") from None

    if "total" in raw:
        total = entry.dollars("total")
    elif "capacity" in raw or "pricePerPerson" in raw:
        capacity = raw.get("capacity")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
            raise entry.error("capacity", "must be a whole number of people above 0")
        total = capacity * entry.dollars("pricePerPerson")
    else:
        raise entry.error("total", "missing (give \"total\", or \"capacity\" and \"pricePerPerson\")")

    site = entry.text("site", required=False)
    if site is not None and site not in site_ids:
        raise entry.error("site", f"no site with id {site!r} in \"sites\"")

    known = {"id", "title", "date", "total", "capacity", "pricePerPerson", "site"}
    extra = {k: v for k, v in raw.items() if k not in known}
    return Event(id=ident, title=title, date=when, total_cents=total, site=site, extra=extra)


def _parse_site(index: int, raw: Any, path: Path) -> Site:
    entry = _Entry(path, "sites", index, raw)
    ident = entry.ident()
    bucket = entry.text("bucket")
    distribution = entry.text("distributionId")
    source = entry.text("source")
    url = entry.text("url")
    assert bucket and distribution and source and url
    if not url.startswith(("https://", "http://")):
        raise entry.error("url", f"{url!r} must start with https://")
    source_path = Path(source)
    if source_path.is_absolute() or ".." in source_path.parts:
        raise entry.error("source", f"{source!r} must be a folder inside the project, relative to the file")
    return Site(id=ident, bucket=bucket, distribution_id=distribution, source=path.parent / source_path, url=url)


def _parse_links(raw: Any, path: Path) -> tuple[LinkGroup, ...]:
    """``{"GROUP": [{"title", "url", "note"}, ...]}``: every URL https with a host."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise EventsFileError(f"{path}: \"links\" must be an object of named groups, like "
                              "{\"Stripe\": [{\"title\": \"Dashboard\", \"url\": \"https://dashboard.stripe.com\"}]}")
    groups: list[LinkGroup] = []
    seen: dict[str, str] = {}
    for name, entries in raw.items():
        label = f"links[{json.dumps(name, ensure_ascii=False)}]"
        if not name.strip():
            raise EventsFileError(f"{path}: {label}: a group needs a name")
        key = " ".join(name.split()).casefold()
        if key in seen:
            raise EventsFileError(f"{path}: {label}: the same group as {seen[key]} (names are compared without "
                                  "case): put its links in one group")
        seen[key] = label
        if not isinstance(entries, list):
            raise EventsFileError(f"{path}: {label}: must be a list of links, like "
                                  "[{\"title\": \"Dashboard\", \"url\": \"https://dashboard.stripe.com\"}]")
        groups.append(LinkGroup(" ".join(name.split()),
                                tuple(_parse_link(_Entry(path, label, i, item, named_by="title"))
                                      for i, item in enumerate(entries))))
    return tuple(groups)


def _parse_link(entry: _Entry) -> Link:
    title = entry.text("title")
    url = entry.text("url")
    assert title and url
    problem = link_url_problem(url)
    if problem:
        shown = url if len(url) <= 80 else url[:79] + "…"
        raise entry.error("url", f"{shown!r} {problem}")
    note = entry.raw.get("note")
    if note is not None and not isinstance(note, str):
        raise entry.error("note", "must be a string")
    return Link(title=title, url=url, note=(note or "").strip())


def link_url_problem(url: str) -> str | None:
    """Why ``url`` is not a link the ops page may hold (https, with a host), or None."""
    if len(url) > LINK_URL_MAX:
        return f"is {len(url):,} characters long; the limit is {LINK_URL_MAX:,}"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "holds a space or a control character: write a space as %20"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme.lower() != "https":
        return "must start with https:// (links are opened from phones: https only)"
    if not host:
        return "has no host: write it as https://HOST/..."
    return None
