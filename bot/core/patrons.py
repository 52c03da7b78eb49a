"""Who paid: one patron however their name was typed, and what each has paid.

"Ana Ruiz", "ana  ruiz" and "Ána Ruíz" are one patron: names (and searches) are
compared by ``patron_key``. A search computes it as it reads (a substring search
could not use an index anyway); each event's per-patron totals are also kept by the
stores, updated by every write under the key (so ``/events EVENT`` reads one line per
patron, not every payment): a better key later is a migration that rebuilds them.
Totals count every record, reversals included: a reversal is any record with
``voids`` set (a void today), counted against the payment it names."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from bot.core.domain import PatronTotal, Payment

__all__ = ["PatronTotal", "patron_key", "patron_totals", "standing_cents", "stored_name"]


def patron_key(text: str) -> str:
    """``text`` as compared: compatibility forms unfolded (NFKD: "ﬁ" is "fi", a full-width "Ａ" is "A"),
    accents dropped, case folded ("ß" is "ss"), runs of spaces one space, no space at the ends."""
    folded = _without_marks(unicodedata.normalize("NFKD", text)).casefold()
    # Folding can bring marks back ("ǰ" folds to "j" + caron): unfold and drop them once more.
    folded = _without_marks(unicodedata.normalize("NFKD", folded))
    return " ".join(folded.split())


def _without_marks(text: str) -> str:
    return "".join(c for c in text if not unicodedata.combining(c))


def standing_cents(records: Iterable[Payment]) -> dict[str, int]:
    """payment id -> what is left of it once the reversals among ``records`` that name it are taken off."""
    records = list(records)
    left = {r.payment_id: r.amount_cents for r in records if not r.is_reversal}
    for r in records:
        if r.is_reversal and r.voids in left:
            left[r.voids] += r.amount_cents
    return left


def stored_name(text: str) -> str:
    """A patron's name as a line shows it: runs of spaces one space."""
    return " ".join(text.split())


def patron_totals(records: Iterable[Payment]) -> list[PatronTotal]:
    """One line per patron (by patron_key), in name order. A reversal counts for the patron of the
    payment it reverses when that payment is among ``records``, else for the name it carries."""
    records = sorted(records, key=lambda r: (r.recorded_at, r.payment_id))
    owner = {r.payment_id: patron_key(r.patron) for r in records if not r.is_reversal}
    left = standing_cents(records)
    names: dict[str, str] = {}
    totals: dict[str, int] = {}
    counts: dict[str, int] = {}
    seen: dict[str, int] = {}
    for r in records:
        key = owner.get(r.voids or "", patron_key(r.patron)) if r.is_reversal else owner[r.payment_id]
        if not r.is_reversal:
            names[key] = stored_name(r.patron)  # the latest spelling wins
            counts[key] = counts.get(key, 0) + (1 if left[r.payment_id] > 0 else 0)
        names.setdefault(key, stored_name(r.patron))
        totals[key] = totals.get(key, 0) + r.amount_cents
        seen[key] = seen.get(key, 0) + 1
    return sorted((PatronTotal(key, names[key], totals[key], counts.get(key, 0), seen[key]) for key in totals),
                  key=lambda t: (t.key, t.name))
