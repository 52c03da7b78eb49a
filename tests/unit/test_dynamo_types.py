"""infra/dynamo_types.py writes and reads DynamoDB attribute values as boto3's TypeSerializer and
TypeDeserializer do (boto3 stays installed for S3: it is the judge here)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from infra.dynamo_store import _item, _plain
from infra.dynamo_types import deserialize, serialize

CORPUS = [
    None, True, False, 0, 1, -1, 50_000, -2**63, 10**37, 123456789012345678901234567890123456789 // 10,
    Decimal("0"), Decimal("12.50"), Decimal("-0.01"), Decimal("1E+5"), Decimal("1e-130"), Decimal("9.9E+125"),
    Decimal("1.000"), Decimal("-0"),
    "", "jada", "Ana Ruiz · café", "a&b <c>", "\u0000", "🎉" * 3,
    b"", b"\x00\xffbytes", bytearray(b"ba"),
    {}, {"PK": "EVENT#jada", "SK": "META", "paid_cents": 50_000, "nested": {"list": [1, "two", None, True]}},
    [], [1, Decimal("2.5"), "three", [b"four"], {"five": False}], (1, "tuple"),
    {"a", "b"}, {1, Decimal("2.5"), -3}, {b"x", b"y"}, frozenset({"f"}),
]


@pytest.mark.parametrize("value", CORPUS, ids=repr)
def test_values_are_written_and_read_as_boto3_does(value):
    ours, theirs = serialize(value), TypeSerializer().serialize(value)
    if "SS" in ours or "NS" in ours or "BS" in ours:  # a set's order is the set's: compare as sets
        [(kind, items)] = ours.items()
        assert list(theirs) == [kind] and sorted(items) == sorted(theirs[kind])
    else:
        assert ours == theirs
        assert type(next(iter(ours.values()))) is type(next(iter(theirs.values())))
    read, boto3_read = deserialize(theirs), TypeDeserializer().deserialize(theirs)
    assert read == boto3_read and type(read) is (bytes if type(boto3_read).__name__ == "Binary" else type(boto3_read))
    assert deserialize(ours) == boto3_read


@pytest.mark.parametrize("number", ["0", "12.50", "-0.01", "1E+5", "100", "99999999999999999999999999999999999999"])
def test_numbers_read_back_as_decimals_in_dynamodbs_context(number):
    read = deserialize({"N": number})
    assert isinstance(read, Decimal) and read == TypeDeserializer().deserialize({"N": number})
    assert str(read) == str(TypeDeserializer().deserialize({"N": number}))


@pytest.mark.parametrize("value, refused", [
    (1.5, "Float types are not supported"),
    ({"nested": [0.1]}, "Float types are not supported"),
    (Decimal("1.23456789012345678901234567890123456789"), None),  # 39 digits: would be rounded
    (10**38 + 1, None),
    (Decimal("1E+200"), None),
    (Decimal("1E-200"), None),
])
def test_what_boto3_refuses_is_refused(value, refused):
    with pytest.raises(Exception) as ours:
        serialize(value)
    with pytest.raises(Exception) as theirs:
        TypeSerializer().serialize(value)
    assert type(ours.value) is type(theirs.value)
    if refused:
        assert refused in str(ours.value)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), set(), object(),
                                   {1, "mixed"}, {True}])
def test_what_dynamodb_cannot_hold_is_refused_before_it_is_sent(value):
    with pytest.raises(TypeError):
        serialize(value)


@pytest.mark.parametrize("attribute", [{}, {"S": "a", "N": "1"}, {"X": "1"}])
def test_an_attribute_value_that_is_not_one_known_type_is_refused(attribute):
    with pytest.raises(TypeError):
        deserialize(attribute)


def test_items_keep_their_shape_through_the_store():
    row = {"PK": "EVENT#jada", "SK": "META", "paid_cents": 50_000, "void": None,
           "facts": {"cents": 1, "names": ["Ana"]}, "fmt": 1}
    written = _item(row)
    assert written == {k: TypeSerializer().serialize(v) for k, v in row.items() if v is not None}
    read = _plain(written)
    assert read == {k: v for k, v in row.items() if v is not None}
    assert type(read["paid_cents"]) is int  # numbers at the top are cents and counts: int
    assert read["facts"]["cents"] == Decimal(1) and type(read["facts"]["cents"]) is Decimal
