"""Money is integer cents everywhere: one parser, one formatter."""

from __future__ import annotations

import re

from bot.core.user_text import echo

MAX_CENTS = 1_000_000 * 100  # $1,000,000.00: anything above is a typo, not a payment

# "$1,560.00", "1560", "1,560", "1560.5": an optional dollar sign, digits with
# optional well-formed thousands separators, and at most two decimals.
_AMOUNT = re.compile(
    r"""^\$?
    (?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?
    (?:\.(?P<frac>[0-9]*))?
    $""",
    re.VERBOSE,
)


class AmountError(ValueError):
    """An amount a person typed that is not a usable positive dollar amount."""


def parse_amount(text: str | int | float) -> int:
    """Parse a dollar amount as people write it and return integer cents.

    Accepts "$1,560.00", "1560", "1,560", "1560.5". Refuses negatives, zero,
    exponents, nan/inf, more than two decimals and amounts over $1,000,000.
    """
    if isinstance(text, bool):
        raise AmountError("Amount must be a number of dollars, like 125 or 1,560.00.")
    if isinstance(text, int):
        if abs(text) > MAX_CENTS:
            # Too many digits to be a payment (and str() refuses past 4300 digits).
            if text < 0:
                raise AmountError("Amount must be positive.")
            raise AmountError(f"Amount is over the {format_cents(MAX_CENTS)} limit: check the amount.")
        text = str(text)
    elif isinstance(text, float):
        # JSON numbers from the old web page arrive as floats; repr gives the
        # shortest form, so 150.5 stays "150.5" and 0.1+0.2 is refused.
        text = repr(text)
    if not isinstance(text, str):
        raise AmountError("Amount must be a number of dollars, like 125 or 1,560.00.")
    raw = text.strip()
    if not raw:
        raise AmountError("Amount is missing: give a dollar amount, like 125 or 1,560.00.")
    if raw.startswith("-") or raw.startswith("$-"):
        raise AmountError(f"Amount must be positive, not {echo(raw)}.")
    match = _AMOUNT.match(raw)
    if not match or (match["whole"] is None and not match["frac"]):
        raise AmountError(f"'{echo(raw)}' is not a dollar amount: write it like 125, 1,560 or $1,560.00.")
    digits = (match["whole"] or "0").replace(",", "")
    frac = match["frac"] or ""
    if len(frac) > 2:
        raise AmountError(f"'{echo(raw)}' has more than two decimals: cents are the smallest unit.")
    if len(digits.lstrip("0")) > 12:
        # Far over the limit; also keeps int() below its 4300-digit refusal.
        raise AmountError(f"Amount is over the {format_cents(MAX_CENTS)} limit: check the amount.")
    whole = int(digits)
    cents = whole * 100 + int(frac.ljust(2, "0"))
    if cents <= 0:
        raise AmountError("Amount must be more than $0.00.")
    if cents > MAX_CENTS:
        raise AmountError(
            f"{format_cents(cents)} is over the {format_cents(MAX_CENTS)} limit: check the amount."
        )
    return cents


def format_cents(cents: int) -> str:
    """Show cents as dollars: 156000 -> "$1,560.00", -500 -> "-$5.00"."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def cents_as_decimal(cents: int) -> str:
    """Cents as a plain decimal number for files and APIs: 156000 -> "1560.00", -500 -> "-5.00"
    (no dollar sign and no thousands separator, so a spreadsheet reads it as a number)."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}{dollars}.{rest:02d}"
