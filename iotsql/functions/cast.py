"""`cast(value AS Type)`: its keywords and its four casting tables (iot-sql-functions.md#iot-sql-
function-cast). Cast differs from the standard conversions: it also turns numbers into Booleans
and back, and rounds Decimals down (toward zero) when it makes an Int."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from iotsql.functions.math import round_down_int
from iotsql.values import (
    UNDEFINED,
    V1,
    V2,
    SqlVersion,
    bounded_json_text,
    decimal_text,
    parse_decimal_string,
    type_name,
)

U = UNDEFINED


def _undefined(_: Any) -> Any:
    return U


def _decimal_from_bool(value: bool) -> Decimal:
    return Decimal("1.0") if value else Decimal("0.0")


def _bool_from_number(value: Any) -> bool:
    return bool(value != 0)


def _bool_from_string(value: str) -> Any:
    lowered = value.lower()
    return True if lowered == "true" else (False if lowered == "false" else U)


#: The casting tables, keyed by the AWS type of the value being cast.
CAST_TO_DECIMAL: Final[Mapping[str, Callable[[Any], Any]]] = {
    "Int": Decimal,  # "A Decimal with no decimal point"
    "Decimal": lambda v: v,
    "Boolean": _decimal_from_bool,
    "String": parse_decimal_string,
    "Array": _undefined,
    "Object": _undefined,
    "Null": _undefined,
    "Undefined": _undefined,
    "Binary": _undefined,
}

CAST_TO_INT: Final[Mapping[str, Callable[[Any], Any]]] = {
    "Int": lambda v: v,
    "Decimal": round_down_int,  # "rounded down to the nearest Int": toward zero
    "Boolean": lambda v: 1 if v else 0,
    "String": round_down_int,  # parsed as a Decimal, then rounded down
    "Array": _undefined,
    "Object": _undefined,
    "Null": _undefined,
    "Undefined": _undefined,
    "Binary": _undefined,
}

CAST_TO_BOOLEAN: Final[Mapping[str, Callable[[Any], Any]]] = {
    "Int": _bool_from_number,
    "Decimal": _bool_from_number,
    "Boolean": lambda v: v,
    "String": _bool_from_string,
    "Array": _undefined,
    "Object": _undefined,
    "Null": _undefined,
    "Undefined": _undefined,
    "Binary": _undefined,
}

CAST_TO_STRING: Final[Mapping[str, Callable[[Any], Any]]] = {
    "Int": str,
    "Decimal": decimal_text,
    "Boolean": lambda v: "true" if v else "false",
    "String": lambda v: v,
    "Array": bounded_json_text,  # Undefined past Limits.max_value_bytes, found before it is made
    "Object": bounded_json_text,
    "Null": _undefined,
    "Undefined": _undefined,
    "Binary": _undefined,
}


def cast_to_decimal(value: Any) -> Any:
    return CAST_TO_DECIMAL[type_name(value)](value)


def cast_to_double(value: Any) -> Any:
    """`Double`: a Decimal with double precision."""
    number = cast_to_decimal(value)
    if number is U:
        return U
    result = float(number)
    return U if result in (float("inf"), float("-inf")) else result


def cast_to_int(value: Any) -> Any:
    return CAST_TO_INT[type_name(value)](value)


def cast_to_boolean(value: Any) -> Any:
    return CAST_TO_BOOLEAN[type_name(value)](value)


def cast_to_string(value: Any) -> Any:
    return CAST_TO_STRING[type_name(value)](value)


#: Keyword (lower case) -> (conversion, first SQL version that has it).
CAST_TYPES: Final[Mapping[str, tuple[Callable[[Any], Any], SqlVersion]]] = {
    "string": (cast_to_string, V1),
    "nvarchar": (cast_to_string, V1),
    "text": (cast_to_string, V1),
    "ntext": (cast_to_string, V1),
    "varchar": (cast_to_string, V1),
    "int": (cast_to_int, V1),
    "integer": (cast_to_int, V1),
    "double": (cast_to_double, V1),
    "decimal": (cast_to_decimal, V2),
    "bool": (cast_to_boolean, V2),
    "boolean": (cast_to_boolean, V2),
}
