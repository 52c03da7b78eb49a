"""Python values <-> DynamoDB's attribute values (``{"S": ...}``, ``{"N": ...}``, ...), as
``boto3.dynamodb.types.TypeSerializer`` / ``TypeDeserializer`` make them, without importing
boto3 (about 20 ms of Lambda's first request: boto3's package pulls in s3transfer).

The same rules where they matter: numbers are int or Decimal, written in DynamoDB's decimal
context (38 digits; a number that would be rounded is refused, never silently changed), floats
are refused; numbers read back are Decimal; None is NULL, bool BOOL, str S, bytes B; a mapping
is M and a list or tuple L, recursively; a set of numbers NS, of strings SS, of bytes BS.
Stricter in two places DynamoDB would refuse anyway: an empty set, and any non-finite number."""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# boto3.dynamodb.types.DYNAMODB_CONTEXT: what DynamoDB stores, every loss of precision an error.
DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _number(value: int | Decimal) -> str:
    number = DYNAMODB_CONTEXT.create_decimal(value)
    if not number.is_finite():
        raise TypeError(f"DynamoDB cannot store {value!r}: Infinity and NaN are not numbers it keeps")
    return str(number)


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value; TypeError for what DynamoDB cannot hold."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": value}
    if isinstance(value, Mapping):
        return {"M": {key: serialize(item) for key, item in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize(item) for item in value]}
    if isinstance(value, Set):
        if not value:
            raise TypeError("DynamoDB cannot store an empty set")
        if all(_is_number(item) for item in value):
            return {"NS": [_number(item) for item in value]}
        if all(isinstance(item, str) for item in value):
            return {"SS": list(value)}
        if all(isinstance(item, (bytes, bytearray)) for item in value):
            return {"BS": list(value)}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(attribute: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as Python: numbers as Decimal, M as dict, L as list, sets as set."""
    if len(attribute) != 1:
        raise TypeError(f"a DynamoDB attribute value has exactly one type, not {sorted(attribute)}")
    [(kind, value)] = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: deserialize(item) for key, item in value.items()}
    if kind == "L":
        return [deserialize(item) for item in value]
    if kind == "B":
        return bytes(value)
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(item) for item in value}
    if kind == "BS":
        return {bytes(item) for item in value}
    raise TypeError(f"DynamoDB type {kind} is not supported")
