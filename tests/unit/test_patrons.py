"""One patron however the name was typed, and what each has paid (bot/core/patrons.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.domain import Payment
from bot.core.patrons import patron_key, patron_totals, standing_cents

AT = datetime(2026, 5, 20, 17, 0, tzinfo=UTC)


def record(record_id: str, patron: str, cents: int, *, minutes: int = 0, kind: str = "payment",
           voids: str | None = None, voided_by: str | None = None) -> Payment:
    return Payment(payment_id=record_id, event_id="jada", patron=patron, amount_cents=cents, method="cash", notes="",
                   logged_by="U0CREW00001", recorded_at=AT + timedelta(minutes=minutes), day="2026-05-20", kind=kind,
                   voids=voids, voided_by=voided_by)


@pytest.mark.parametrize("typed", ["Ana Ruiz", "ana ruiz", "ANA RUIZ", "  Ana   Ruiz ", "Ána Ruíz", "Ana\tRuiz",
                                   "Ana\u00a0Ruiz", "Ａｎａ Ｒｕｉｚ", "A\u0301na Rui\u0301z"])
def test_case_spacing_accents_and_compatibility_forms_are_one_patron(typed):
    # NBSP, full-width letters, a decomposed "u" + combining acute: all the same patron.
    assert patron_key(typed) == "ana ruiz"


def test_what_still_tells_patrons_apart():
    assert patron_key("Straße") == patron_key("STRASSE") == "strasse"  # case folding, not just lower()
    assert patron_key("Ana Ruiz") != patron_key("Ana Ruis")
    assert patron_key("Zoë O'Brien") == "zoe o'brien"  # punctuation is part of the name
    assert patron_key("李 小龍") == "李 小龍"  # scripts without case or accents are kept as they are
    assert patron_key("ǰosé") == "jose"  # a mark that folding brings back is dropped too
    assert patron_key("   ") == ""


def test_a_patron_who_paid_twice_is_one_line_with_the_sum_and_the_count():
    totals = patron_totals([
        record("pay_1", "Ana Ruiz", 50_000, minutes=1),
        record("pay_2", "Bo & Co", 10_000, minutes=2),
        record("pay_3", "ána  ruiz", 25_000, minutes=3),
    ])
    assert [(t.name, t.total_cents, t.payments, t.records) for t in totals] == [
        ("ána ruiz", 75_000, 2, 2),  # named as typed last
        ("Bo & Co", 10_000, 1, 1),
    ]


def test_a_voided_payment_is_taken_off_and_no_longer_counted():
    records = [
        record("pay_1", "Ana Ruiz", 50_000, voided_by="void_1"),
        record("pay_2", "Ana Ruiz", 25_000, minutes=1),
        record("void_1", "Ana Ruiz", -50_000, minutes=2, kind="void", voids="pay_1"),
        record("pay_3", "Bo", 10_000, minutes=3, voided_by="void_3"),
        record("void_3", "Bo", -10_000, minutes=4, kind="void", voids="pay_3"),
    ]
    [ana, bo] = patron_totals(records)
    assert (ana.total_cents, ana.payments, ana.records, ana.reversed_in_full) == (25_000, 1, 3, False)
    assert (bo.total_cents, bo.payments, bo.records, bo.reversed_in_full) == (0, 0, 2, True)
    assert sum(t.total_cents for t in (ana, bo)) == sum(r.amount_cents for r in records)


def test_any_reversal_counts_by_what_it_names_whatever_its_kind():
    # A later kind of reversal (a partial refund) is read the same way: by ``voids``, not by ``kind``.
    records = [
        record("pay_1", "Ana Ruiz", 50_000),
        record("ref_1", "someone else typed", -20_000, minutes=1, kind="refund", voids="pay_1"),
    ]
    assert standing_cents(records) == {"pay_1": 30_000}
    [ana] = patron_totals(records)
    assert (ana.name, ana.total_cents, ana.payments, ana.records) == ("Ana Ruiz", 30_000, 1, 2)
    full = [*records, record("ref_2", "Ana Ruiz", -30_000, minutes=2, kind="refund", voids="pay_1")]
    [ana] = patron_totals(full)
    assert (ana.total_cents, ana.payments) == (0, 0)


def test_a_reversal_whose_payment_was_not_read_counts_for_the_name_it_carries():
    [ana] = patron_totals([record("void_9", "Ana Ruiz", -5_000, kind="void", voids="pay_elsewhere")])
    assert (ana.name, ana.total_cents, ana.payments, ana.records) == ("Ana Ruiz", -5_000, 0, 1)
