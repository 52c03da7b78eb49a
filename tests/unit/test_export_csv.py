"""The export's CSV writer (blocks/export.py): pure, rows in, text out."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.export import COLUMNS, csv_text, file_name, row_values, selection_words, spreadsheet_text, tally_words
from bot.core.domain import Event
from bot.core.records import ExportRow, ExportTally, Selection

LA = ZoneInfo("America/Los_Angeles")
ROW = ExportRow(
    record_id="pay_k7m2x9q4ab", time=datetime(2026, 5, 21, 1, 30, 15, 123456, tzinfo=UTC).astimezone(LA),
    day="2026-05-20", event_id="2026-05-23-jada-charter", event_title="JADA Charter", patron="Ana Ruiz",
    amount_cents=50_000, method="venmo", notes="", logged_by="U0CREW00001", source="slack", reverses="",
    stripe_id="", kind="payment",
)
VOID = replace(ROW, record_id="void_zkbafwc8gq", amount_cents=-50_000, notes="void of pay_k7m2x9q4ab",
               reverses="pay_k7m2x9q4ab", kind="void")


def parse(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # the byte-order mark Excel needs to read UTF-8
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


def test_the_header_is_the_documented_columns_and_each_record_is_a_row():
    text = csv_text([ROW, VOID])
    assert text.splitlines()[0] == "\ufeff" + ",".join(COLUMNS)
    assert COLUMNS == ("record_id", "time", "day", "event_id", "event_title", "patron", "amount_cents", "amount",
                       "method", "notes", "logged_by", "source", "reverses", "stripe_id")
    assert text.endswith("\r\n")  # RFC 4180 line ends
    payment, void = parse(text)
    assert payment == {
        "record_id": "pay_k7m2x9q4ab", "time": "2026-05-20T18:30:15-07:00", "day": "2026-05-20",
        "event_id": "2026-05-23-jada-charter", "event_title": "JADA Charter", "patron": "Ana Ruiz",
        "amount_cents": "50000", "amount": "500.00", "method": "venmo", "notes": "", "logged_by": "U0CREW00001",
        "source": "slack", "reverses": "", "stripe_id": "",
    }
    # A reversal: its own row, negative, naming what it reverses; the amounts stay plain numbers.
    assert (void["amount_cents"], void["amount"], void["reverses"]) == ("-50000", "-500.00", "pay_k7m2x9q4ab")


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\0"])
def test_a_text_cell_a_spreadsheet_would_run_gets_a_quote_in_front(start):
    hostile = replace(ROW, patron=f"{start}HYPERLINK(\"https://evil.example\",\"x\")", notes=f"{start}1+1",
                      event_title=f"{start}cmd|' /C calc'!A0", logged_by=f"{start}U1", method=f"{start}m")
    [row] = parse(csv_text([hostile]))
    for column in ("patron", "notes", "event_title", "logged_by", "method"):
        assert row[column].startswith("'" + start), column
    assert row["patron"] == f"'{start}HYPERLINK(\"https://evil.example\",\"x\")"


def test_amounts_are_numbers_never_neutralised_and_harmless_text_is_left_alone():
    [row] = parse(csv_text([replace(VOID, patron="Zoë \"Z\" O'Brien, Jr.\nline two", notes="paid 1+1=2 @dock")]))
    assert row["amount_cents"] == "-50000" and row["amount"] == "-500.00"  # no quote in front of a number
    assert row["patron"] == "Zoë \"Z\" O'Brien, Jr.\nline two"  # quoted as RFC 4180 says, read back whole
    assert row["notes"] == "paid 1+1=2 @dock"  # only the first character matters
    assert spreadsheet_text("") == ""


@given(st.text(max_size=60), st.text(max_size=60), st.integers(min_value=-100_000_000, max_value=100_000_000))
def test_any_text_round_trips_and_no_cell_starts_a_formula(patron, notes, cents):
    patron, notes = (t.encode("utf-8", "replace").decode("utf-8") for t in (patron, notes))  # storable text
    [row] = parse(csv_text([replace(ROW, patron=patron, notes=notes, amount_cents=cents)]))
    for column, typed in (("patron", patron), ("notes", notes)):
        assert row[column] == spreadsheet_text(typed)
        assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r", "\0"))
    assert int(row["amount_cents"]) == cents
    assert row["amount"] == row_values(replace(ROW, amount_cents=cents))["amount"]
    assert round(float(row["amount"]) * 100) == cents


def test_names_and_words_around_the_file():
    jada = Event(id="2026-05-23-jada-charter", title="JADA Charter", date=date(2026, 5, 23), total_cents=156_000)
    assert file_name(Selection()) == "opsbot-export-all.csv"
    assert file_name(Selection(jada, date(2026, 5, 1), date(2026, 5, 31))) == (
        "opsbot-export-2026-05-23-jada-charter-from-2026-05-01-to-2026-05-31.csv")
    assert selection_words(Selection(None, date(2026, 5, 1), None)) == "all events, from 2026-05-01"
    assert selection_words(Selection(jada, None, date(2026, 5, 31))) == "JADA Charter, up to 2026-05-31"
    tally = ExportTally().add(ROW).add(ROW).add(VOID)
    assert (tally.rows, tally.payments, tally.reversals, tally.net_cents) == (3, 2, 1, 50_000)
    assert tally_words(tally) == "3 rows: 2 payments $1,000.00, 1 reversal -$500.00, net $500.00"
