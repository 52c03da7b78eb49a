"""The per-patron section of /events and the /opsbot find reply stay within Block Kit's limits whatever
the names hold and however many patrons and records there are; and what they say, on small cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from blocks.events import event_detail
from blocks.find import find_reply
from bot.core.domain import Event, EventStatus, Payment
from bot.core.patrons import patron_totals
from bot.core.records import FindResult
from infra.local_slack.block_kit_limits import message_problems, message_text_too_long

AT = datetime(2026, 5, 20, 17, 0, tzinfo=UTC)
CHARS = st.one_of(st.sampled_from("&<>&*_~`|@!#:\n "), st.characters(exclude_categories=("Cs",)))
NAME = st.text(CHARS, min_size=1, max_size=100)
LONG = st.text(CHARS, min_size=1, max_size=4000)
EVENT = Event(id="jada", title="JADA Charter", date=date(2026, 5, 23), total_cents=10_000_000)


def fits(text: str, blocks: list[dict]) -> None:
    message = {"text": text, "blocks": blocks}
    assert not message_text_too_long(message)
    assert message_problems(message) == []


@st.composite
def ledger(draw) -> list[Payment]:
    """Payments by patrons (names drawn, some typed twice), some reversed in full."""
    names = draw(st.lists(NAME, min_size=1, max_size=60))
    records: list[Payment] = []
    for i in range(draw(st.integers(min_value=1, max_value=150))):
        patron = names[draw(st.integers(0, len(names) - 1))]
        paid = Payment(payment_id=f"pay_{i:010d}", event_id="jada", patron=patron,
                       amount_cents=draw(st.integers(1, 100_000_000)), method="cash", notes=draw(NAME),
                       logged_by="U0CREW00001", recorded_at=AT + timedelta(minutes=2 * i), day="2026-05-20")
        if draw(st.booleans()) and draw(st.booleans()):
            void = Payment(payment_id=f"void_{i:09d}", event_id="jada", patron=patron,
                           amount_cents=-paid.amount_cents, method="cash", notes=f"void of {paid.payment_id}",
                           logged_by="U0ADMIN0001", recorded_at=paid.recorded_at + timedelta(minutes=1),
                           day="2026-05-20", kind="void", voids=paid.payment_id)
            records += [Payment(**{**paid.__dict__, "voided_by": void.payment_id}), void]
        else:
            records.append(paid)
    return records


@settings(max_examples=40, deadline=None)
@given(ledger(), LONG)
def test_one_event_with_its_patrons_fits(records, title):
    status = EventStatus(Event(id="jada", title=title, date=None, total_cents=1), 0, 0)
    fits(*event_detail(status, records, (), patron_totals(records)))


@settings(max_examples=40, deadline=None)
@given(ledger(), st.text(CHARS, min_size=1, max_size=100), LONG)
def test_a_search_reply_fits(records, query, title):
    found = FindResult(query, tuple(reversed(records)), tuple(patron_totals(records)), {"jada": title})
    fits(*find_reply(found))
    fits(*find_reply(FindResult(query, (), (), {})))


def test_the_patron_section_comes_before_the_records_and_cuts_with_the_money_left_out():
    records = [Payment(payment_id=f"pay_{i:010d}", event_id="jada", patron=f"Patron {i:02d}", amount_cents=1_000,
                       method="cash", notes="", logged_by="U0CREW00001", recorded_at=AT + timedelta(minutes=i),
                       day="2026-05-20") for i in range(43)]
    _, blocks = event_detail(EventStatus(EVENT, 43_000, 43), records, (), patron_totals(records))
    texts = [b["text"]["text"] if b["type"] == "section" else b["elements"][0]["text"] for b in blocks[1:]]
    patrons_at = next(i for i, t in enumerate(texts) if t.startswith("*Who paid* · 43 patrons"))
    more = texts.index("…and 3 more patrons, $30.00 in all.")
    shown = "\n".join(texts[patrons_at:more]).splitlines()
    assert shown[1:] == [f"*Patron {i:02d}* · $10.00 · 1 payment" for i in range(40)]  # in name order
    records_at = next(i for i, t in enumerate(texts) if t.startswith("`pay_"))
    assert patrons_at < more < records_at
    # No patrons (no records yet): no section for them.
    _, empty = event_detail(EventStatus(EVENT, 0, 0), [], (), [])
    assert not any("Who paid" in str(b) for b in empty)
