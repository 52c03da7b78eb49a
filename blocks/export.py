"""The ledger export as CSV, and the words around it. Pure: rows in, text out.

The CSV opens in a spreadsheet as is: UTF-8 with a byte-order mark (without one, Excel
reads UTF-8 as the machine's legacy code page and mangles "José"), a header row, one
row per record, RFC 4180 quoting (Python's csv module). A text cell that a spreadsheet
would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage
return or a NUL: OWASP's CSV injection list) gets a ``'`` in front, which spreadsheets
read as "this is text" and do not show. The two amount columns are numbers the bot
wrote, never a person's text: a reversal's ``-500.00`` stays a number."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from blocks.fit import fallback, plural
from bot.core.money import cents_as_decimal, format_cents
from bot.core.records import ExportRow, ExportTally, Selection

COLUMNS = ("record_id", "time", "day", "event_id", "event_title", "patron", "amount_cents", "amount", "method",
           "notes", "logged_by", "source", "reverses", "stripe_id")
NUMBER_COLUMNS = frozenset({"amount_cents", "amount"})
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
BYTE_ORDER_MARK = "\ufeff"


def row_values(row: ExportRow) -> dict[str, Any]:
    """A record's columns as plain values (the web API's JSON): amount_cents an int, amount a decimal string."""
    return {
        "record_id": row.record_id, "time": row.time.isoformat(timespec="seconds"), "day": row.day,
        "event_id": row.event_id, "event_title": row.event_title, "patron": row.patron,
        "amount_cents": row.amount_cents, "amount": cents_as_decimal(row.amount_cents), "method": row.method,
        "notes": row.notes, "logged_by": row.logged_by, "source": row.source, "reverses": row.reverses,
        "stripe_id": row.stripe_id,
    }


def spreadsheet_text(text: str) -> str:
    """A text cell a spreadsheet shows as the text it is, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(rows: Iterable[ExportRow]) -> Iterator[str]:
    """The CSV, a line at a time: the byte-order mark and header first, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: fields with a comma, quote or line break are quoted

    def line(values: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield BYTE_ORDER_MARK + line(COLUMNS)
    for row in rows:
        values = row_values(row)
        yield line(values[c] if c in NUMBER_COLUMNS else spreadsheet_text(str(values[c])) for c in COLUMNS)


def csv_text(rows: Iterable[ExportRow]) -> str:
    return "".join(csv_lines(rows))


def selection_words(selection: Selection) -> str:
    """``JADA Charter``, ``all events``, ``all events, 2026-05-01 to 2026-05-31`` (plain text)."""
    what = selection.event.title if selection.event else "all events"
    first, last = selection.first_day, selection.last_day
    if first and last:
        return f"{what}, {first.isoformat()} to {last.isoformat()}"
    if first:
        return f"{what}, from {first.isoformat()}"
    if last:
        return f"{what}, up to {last.isoformat()}"
    return what


def file_name(selection: Selection) -> str:
    """``opsbot-export-all-2026-05-01-to-2026-05-31.csv``."""
    parts = ["opsbot-export", selection.event.id if selection.event else "all"]
    if selection.first_day:
        parts.append(f"from-{selection.first_day.isoformat()}")
    if selection.last_day:
        parts.append(f"to-{selection.last_day.isoformat()}")
    return "-".join(parts) + ".csv"


def tally_words(tally: ExportTally) -> str:
    """``12 rows: 10 payments $1,500.00, 2 reversals -$200.00, net $1,300.00`` (plain text)."""
    return (f"{plural(tally.rows, 'row')}: {plural(tally.payments, 'payment')} {format_cents(tally.payments_cents)}, "
            f"{plural(tally.reversals, 'reversal')} {format_cents(tally.reversals_cents)}, "
            f"net {format_cents(tally.net_cents)}")


def export_summary(selection: Selection, tally: ExportTally) -> str:
    """The one line sent beside the file in Slack (mrkdwn)."""
    return fallback(f"Ledger export of {selection_words(selection)}: {tally_words(tally)}.")


def export_started(selection: Selection) -> str:
    """The ack of ``/opsbot export`` (mrkdwn)."""
    return fallback(f"Exporting {selection_words(selection)} as CSV: the file comes to you in a direct "
                    "message from opsbot in a moment.")


def nothing_to_export(selection: Selection) -> str:
    return fallback(f"No records for {selection_words(selection)}: there is nothing to export.")
