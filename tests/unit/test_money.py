"""bot.core.money: one parser and one formatter for integer cents (DESIGN.md, "Money is integer cents")."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.core.money import MAX_CENTS, AmountError, format_cents, parse_amount

cents_in_range = st.integers(min_value=1, max_value=MAX_CENTS)


# --- round trips -------------------------------------------------------------------------------------


@given(cents_in_range)
@example(1)
@example(MAX_CENTS)
@example(156000)
def test_parse_of_format_is_identity(cents: int) -> None:
    assert parse_amount(format_cents(cents)) == cents


@given(cents_in_range)
def test_without_dollar_sign(cents: int) -> None:
    text = format_cents(cents)
    assert text.startswith("$")
    assert parse_amount(text[1:]) == cents


@given(cents_in_range)
def test_without_commas(cents: int) -> None:
    text = format_cents(cents).replace(",", "")
    assert "," not in text
    assert parse_amount(text) == cents
    assert parse_amount(text[1:]) == cents


@given(st.integers(min_value=1, max_value=MAX_CENTS // 10).map(lambda tens: tens * 10))
def test_one_decimal_when_it_ends_in_zero(cents: int) -> None:
    text = format_cents(cents)
    assert text.endswith("0")
    assert parse_amount(text[:-1]) == cents  # "$1,560.5" for 156050
    assert parse_amount(text[1:-1].replace(",", "")) == cents  # "1560.5"


@given(st.integers(min_value=1, max_value=MAX_CENTS // 100))
def test_whole_dollars_as_int_and_str(dollars: int) -> None:
    assert parse_amount(dollars) == dollars * 100
    assert parse_amount(str(dollars)) == dollars * 100
    assert parse_amount(f"{dollars:,}") == dollars * 100
    assert parse_amount(f"{dollars}.00") == dollars * 100


@given(cents_in_range)
def test_float_repr_where_exact(cents: int) -> None:
    # JSON numbers from the old web page arrive as floats: 150.5, 1560.25, 125.0. Below $10^14 the
    # shortest repr of cents / 100 has at most two decimals, so every such float parses exactly.
    value = cents / 100
    assert "e" not in repr(value)
    assert parse_amount(value) == cents


@pytest.mark.parametrize(
    ("value", "cents"),
    [(150.5, 15050), (1560.0, 156000), (125.25, 12525), (0.05, 5), (1_000_000.0, MAX_CENTS)],
)
def test_float_examples(value: float, cents: int) -> None:
    assert parse_amount(value) == cents


def test_float_that_is_not_exact_is_refused() -> None:
    with pytest.raises(AmountError, match="more than two decimals"):
        parse_amount(0.1 + 0.2)  # repr: 0.30000000000000004


# --- accepted examples from DESIGN.md ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("$1,560.00", 156000),
        ("1560", 156000),
        ("1,560", 156000),
        ("1560.5", 156050),
        ("$1,000,000.00", MAX_CENTS),
        ("  $125  ", 12500),
        ("0.01", 1),
        ("$0.05", 5),
        ("999,999.99", 99_999_999),
        (".5", 50),
    ],
)
def test_accepted_examples(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


# --- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("-5", "positive"),
        ("$-5", "positive"),
        ("-$5", "positive"),
        (-5, "positive"),
        ("0", "more than $0.00"),
        ("0.00", "more than $0.00"),
        (0, "more than $0.00"),
        ("1e3", "not a dollar amount"),
        ("nan", "not a dollar amount"),
        (float("nan"), "not a dollar amount"),
        ("inf", "not a dollar amount"),
        (float("inf"), "not a dollar amount"),
        ("12.345", "more than two decimals"),
        ("$1,000,000.01", "limit"),
        ("1000001", "limit"),
        ("", "missing"),
        ("   ", "missing"),
        ("\t\n", "missing"),
        ("1,56", "not a dollar amount"),
        ("12,3456", "not a dollar amount"),
        ("abc", "not a dollar amount"),
        ("1.2.3", "not a dollar amount"),
        ("$", "not a dollar amount"),
        (".", "not a dollar amount"),
        (True, "number of dollars"),
        (False, "number of dollars"),
        (None, "number of dollars"),
    ],
)
def test_refused_forms(value: object, word: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(value)  # type: ignore[arg-type]
    assert word in str(caught.value)


def test_refusal_names_the_bad_text() -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount("12.345")
    assert "'12.345'" in str(caught.value)
    with pytest.raises(AmountError) as caught:
        parse_amount("$1,000,000.01")
    assert str(caught.value) == "$1,000,000.01 is over the $1,000,000.00 limit: check the amount."


def test_amount_error_is_a_value_error() -> None:
    assert issubclass(AmountError, ValueError)


@given(
    st.integers(min_value=0, max_value=10**9),
    st.text(alphabet="0123456789", min_size=3, max_size=12),
    st.booleans(),
)
def test_more_than_two_decimals_is_refused(whole: int, frac: str, dollar: bool) -> None:
    text = ("$" if dollar else "") + f"{whole}.{frac}"
    with pytest.raises(AmountError) as caught:
        parse_amount(text)
    assert "more than two decimals" in str(caught.value)


@given(st.integers(min_value=MAX_CENTS + 1, max_value=10**15))
def test_above_max_cents_is_refused_in_every_form(cents: int) -> None:
    for text in (format_cents(cents), format_cents(cents)[1:], format_cents(cents).replace(",", "")):
        with pytest.raises(AmountError) as caught:
            parse_amount(text)
        assert "limit" in str(caught.value)


@given(st.integers(min_value=MAX_CENTS // 100 + 1))
def test_above_max_whole_dollars_is_refused(dollars: int) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(dollars)
    assert "limit" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    ["9" * 5000, "1" + "0" * 20, "$" + "9" * 4301 + ".00", 10**5000],
    ids=["5000-nines", "1e20-digits", "4301-nines-dollars", "int-10-pow-5000"],
)
def test_absurdly_long_amounts_are_refused_with_the_limit_message(value: str | int) -> None:
    # Not Python's own "Exceeds the limit (4300 digits)" ValueError.
    with pytest.raises(AmountError) as caught:
        parse_amount(value)
    assert "over the $1,000,000.00 limit" in str(caught.value)


def test_absurdly_negative_int_is_refused_as_not_positive() -> None:
    with pytest.raises(AmountError, match="positive"):
        parse_amount(-(10**5000))


@given(st.integers(max_value=0))
def test_non_positive_ints_are_refused(value: int) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(value)
    assert "positive" in str(caught.value) or "more than $0.00" in str(caught.value)


@given(st.text(max_size=30))
def test_any_text_gives_cents_in_range_or_amount_error(text: str) -> None:
    try:
        cents = parse_amount(text)
    except AmountError as exc:
        assert str(exc)
    else:
        assert isinstance(cents, int)
        assert 1 <= cents <= MAX_CENTS


# --- format_cents ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "$0.00"),
        (156000, "$1,560.00"),
        (-500, "-$5.00"),
        (5, "$0.05"),
        (50, "$0.50"),
        (100, "$1.00"),
        (MAX_CENTS, "$1,000,000.00"),
        (-123456789, "-$1,234,567.89"),
    ],
)
def test_format_cents_examples(cents: int, text: str) -> None:
    assert format_cents(cents) == text


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_cents_shape(cents: int) -> None:
    text = format_cents(cents)
    assert text.startswith("-$" if cents < 0 else "$")
    assert text[-3] == "."
    assert int(text.lstrip("-$").replace(",", "").replace(".", "")) == abs(cents)
