"""The AWS IoT SQL value model.

Values are plain Python objects so that evaluation costs what hand-written Python costs:

| AWS type  | Python                                                                 |
| --------- | ---------------------------------------------------------------------- |
| Int       | `int` (never `bool`)                                                   |
| Decimal   | `float` (a double: payload numbers, double-precision functions) or     |
|           | `decimal.Decimal` (34-digit results of SQL arithmetic and conversions) |
| String    | `str`                                                                  |
| Boolean   | `bool`                                                                 |
| Array     | `list`                                                                 |
| Object    | `dict`                                                                 |
| Null      | `None`                                                                 |
| Undefined | `UNDEFINED`                                                            |
| (binary)  | `Binary`, the raw body of a payload that is not JSON                   |

This module also owns the conversion tables of iot-sql-data-types.md (as data, keyed by AWS type
name), JSON in and out, and the differences between SQL versions.
"""

from __future__ import annotations

import decimal
import enum
import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from iotsql.errors import InvalidPayloadError, IotSqlError
from iotsql.limits import current_limits

# ---- SQL versions -----------------------------------------------------------------------------


class SqlVersion(str, enum.Enum):
    """The `awsIotSqlVersion` of a rule."""

    V2015_10_08 = "2015-10-08"
    V2016_03_23 = "2016-03-23"
    BETA = "beta"

    @classmethod
    def parse(cls, value: str | SqlVersion | None) -> SqlVersion:
        """The version named by `value`; None means the API default, 2015-10-08."""
        if value is None:
            return cls.V2015_10_08
        if isinstance(value, SqlVersion):
            return value
        for version in cls:
            if version.value == value:
                return version
        raise IotSqlError(
            f"unknown SQL version {value!r}: expected one of " + ", ".join(v.value for v in cls)
        )

    @property
    def whole_decimals_are_ints(self) -> bool:
        """2016-03-23 and later process a whole-number Decimal (`10.0`) as an Int (`10`)."""
        return self is not SqlVersion.V2015_10_08

    @property
    def supports_nested_queries(self) -> bool:
        return self is not SqlVersion.V2015_10_08

    @property
    def supports_literals(self) -> bool:
        """Array and object literals arrived with 2016-03-23 (iot-sql-literals.md)."""
        return self is not SqlVersion.V2015_10_08

    @property
    def supports_top_level_arrays(self) -> bool:
        return self is not SqlVersion.V2015_10_08

    def at_least(self, other: SqlVersion) -> bool:
        """Whether a feature introduced in `other` exists in this version (beta has them all)."""
        order = (SqlVersion.V2015_10_08, SqlVersion.V2016_03_23, SqlVersion.BETA)
        return order.index(self) >= order.index(other)


V1: Final = SqlVersion.V2015_10_08
V2: Final = SqlVersion.V2016_03_23
DEFAULT_SQL_VERSION: Final = V1

# ---- Undefined and Binary -----------------------------------------------------------------------


class UndefinedType:
    """The type of `UNDEFINED`: not a value, the absence of one (a missing attribute, a function
    given bad arguments). Keys whose value is Undefined are left out of the output."""

    _instance: UndefinedType | None = None

    def __new__(cls) -> UndefinedType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = UndefinedType()


class Binary(bytes):
    """The raw body of a message that is not JSON (or not UTF-8)."""

    def __repr__(self) -> str:
        return f"Binary({bytes(self)!r})"


# ---- decimals -----------------------------------------------------------------------------------

#: Java's MathContext.DECIMAL128, with the magnitudes of iot-sql-data-types.md: a non-zero
#: Decimal lies between 1E-999 and 9.999...E999. A value past either end is not a Decimal, so
#: both ends trap (Subnormal and Underflow below, Overflow above): a string that converts to
#: one is Undefined, a literal is a parse error and arithmetic that reaches one is Undefined,
#: rather than the small end being kept as a subnormal or silently made zero.
DECIMAL_CONTEXT: Final = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999,
    Emin=-999,
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Subnormal,
        decimal.Underflow,
    ],
)

#: AWS's test for strings that convert to Decimal (iot-sql-data-types.md), with Java's ASCII \d.
DECIMAL_STRING: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?")

#: An Int has at most 34 digits; larger whole numbers stay Decimal.
INT_LIMIT: Final = 10**34


def is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float or t is Decimal


def to_exact(value: int | float | Decimal) -> Decimal:
    """A number as an exact Decimal; a double enters as its shortest decimal text, as Java's
    `BigDecimal.valueOf(double)` does."""
    t = type(value)
    if t is Decimal:
        return value  # type: ignore[return-value]
    if t is float:
        return Decimal(repr(value))
    return Decimal(value)


#: The longest string that converts to a Decimal: 34 digits, an exponent, and the zeros a
#: writer may put around them; the regular expression that checks the form is not run on more.
MAX_DECIMAL_STRING: Final = 1100


def parse_decimal_string(text: str) -> Decimal | UndefinedType:
    """The string-to-Decimal conversion: only strings AWS's regular expression accepts."""
    if len(text) > MAX_DECIMAL_STRING or DECIMAL_STRING.fullmatch(text) is None:
        return UNDEFINED
    try:
        return DECIMAL_CONTEXT.create_decimal(text)
    except decimal.DecimalException:
        return UNDEFINED


def is_whole(value: Any) -> bool:
    t = type(value)
    if t is float:
        return value.is_integer()  # type: ignore[no-any-return]
    if t is Decimal:
        return value.is_finite() and value == value.to_integral_value()  # type: ignore[no-any-return]
    return t is int


#: Doubles below 2**53 convert to int exactly; larger ones go through their decimal text.
_EXACT = 2.0**53


def whole_to_int(value: Any) -> Any:
    """2016-03-23's rule: a Decimal whose value is a whole number is an Int."""
    t = type(value)
    if t is float:
        if value.is_integer() and -INT_LIMIT < value < INT_LIMIT:
            return int(value) if -_EXACT < value < _EXACT else int(Decimal(repr(value)))
    elif (
        t is Decimal
        and value.is_finite()
        and value == value.to_integral_value()
        and -INT_LIMIT < value < INT_LIMIT
    ):
        return int(value)
    return value


def _float_of(value: Decimal) -> float | int:
    if value.as_tuple().exponent >= 0:  # type: ignore[operator]
        return int(value)  # a Decimal with no decimal point, as AWS prints it
    result = float(value)
    if math.isinf(result):
        return int(value)
    return result


def finalize(value: Any, whole_ints: bool) -> Any:
    """A scalar as it is stored in an output object or array: `Decimal` becomes a JSON number
    (`float`, or `int` when it has no decimal point), and in 2016-03-23 every whole-number
    Decimal becomes an Int."""
    t = type(value)
    if t is Decimal:
        if whole_ints and value.is_finite():
            # whole_to_int and _float_of with one integral test and no digit tuple: a Decimal
            # that is not whole has a fraction, so it prints as a double.
            integral = value.to_integral_value()
            if integral == value:
                return int(integral) if -INT_LIMIT < value < INT_LIMIT else _float_of(value)
            result = float(value)
            return int(value) if result - result != 0.0 else result  # (past the doubles)
        return _float_of(value)
    if whole_ints and t is float:
        return whole_to_int(value)
    return value


def finalize_fraction(value: Decimal, whole_ints: bool) -> Any:
    """`finalize(value, whole_ints)` of a Decimal that is whole only past an Int's range (what
    the functions declared `ints_when_whole` return, FunctionSpec): within 10**33 it is not
    whole, so it is stored as its double, without finalize's test for a whole number."""
    if value.is_finite() and value.adjusted() < 33:
        return float(value)
    return finalize(value, whole_ints)


# ---- type names ---------------------------------------------------------------------------------

TYPE_NAMES: Final[dict[type, str]] = {
    int: "Int",
    float: "Decimal",
    Decimal: "Decimal",
    str: "String",
    bool: "Boolean",
    list: "Array",
    dict: "Object",
    type(None): "Null",
    UndefinedType: "Undefined",
    Binary: "Binary",
    bytes: "Binary",
}


def type_name(value: Any) -> str:
    """The AWS type of a value: Int, Decimal, String, Boolean, Array, Object, Null, Undefined
    (or Binary for a raw non-JSON body)."""
    return TYPE_NAMES.get(type(value), "Undefined")


# ---- text forms -------------------------------------------------------------------------------


def java_double_text(value: float) -> str:
    """Java's `Double.toString`: plain between 1e-3 and 1e7, else `1.2345E10` notation."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    magnitude = abs(value)
    if magnitude == 0 or 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if ("e" not in text) else format(Decimal(text), "f")
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    coefficient = "".join(str(d) for d in digits).rstrip("0") or "0"
    scientific = len(digits) - 1 + int(exponent)
    mantissa = coefficient[0] + "." + (coefficient[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{scientific}"


def decimal_text(value: float | Decimal) -> str:
    """The String form of a Decimal ("possibly in scientific notation"): Java's
    `Double.toString` for a double, `BigDecimal.toString` for an exact decimal."""
    if type(value) is float:
        return java_double_text(value)  # type: ignore[arg-type]
    return str(value)


def json_text(value: Any) -> str:
    """Compact JSON, as AWS serialises an Array or Object converted to a String."""
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# ---- sizes --------------------------------------------------------------------------------------
#
# A statement can repeat a value without copying it (`[s, s, s, ...]` holds one string many
# times), so a value's memory says little about its JSON text, which is what an action gets.
# Sizes are therefore measured as JSON, before the text is made: `json_size_at_least` walks the
# value and stops as soon as it passes the limit, so its cost is bounded by the limit too.


def json_size_at_least(value: Any, limit: int) -> int:
    """A lower bound of the size of `value` as compact UTF-8 JSON (characters of strings and
    keys, quotes, brackets, separators; 1 per number), exact enough to refuse what is too big
    before building it; once past `limit` it stops and returns what it has counted."""
    t = type(value)
    if t is str:
        return len(value) + 2
    if t is not list and t is not dict:
        return len(value) if isinstance(value, bytes) else 1
    size = 0
    stack: list[Any] = [value]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        t = type(item)
        if t is str:
            size += len(item) + 2
        elif t is dict:
            size += 1 + 2 * len(item)  # braces, colons and commas
            for key, member in item.items():
                size += len(key) + 2
                t = type(member)
                if t is list or t is dict:
                    push(member)
                else:
                    size += len(member) + 2 if t is str else 1
        elif t is list:
            size += 1 + len(item)  # brackets and commas
            for member in item:
                t = type(member)
                if t is list or t is dict:
                    push(member)
                else:
                    size += len(member) + 2 if t is str else 1
        else:
            size += 1
        if size > limit:
            return size
    return size


def json_size(value: Any, limit: int) -> int:
    """The size of `value` as compact UTF-8 JSON when it is at most about `limit` (the JSON is
    made only then), else a number above `limit` found without making it."""
    estimate = json_size_at_least(value, limit)
    if estimate > limit:
        return estimate
    t = type(value)
    if t is str:  # a lone surrogate counts as Java writes it: "?"
        return len(value.encode("utf-8", "replace")) + 2
    if t is list or t is dict:
        return len(json_text(value).encode("utf-8", "replace"))
    return estimate


def bounded_json_text(value: Any) -> Any:
    """`json_text` for a String conversion, Undefined when the text would pass
    `Limits.max_value_bytes` (a conversion is a function's result), found before it is made."""
    limit = current_limits().max_value_bytes
    if json_size_at_least(value, limit) > limit:
        return UNDEFINED
    return json_text(value)


def _plain(value: Any) -> Any:
    t = type(value)
    if t is dict:
        return {k: _plain(v) for k, v in value.items() if v is not UNDEFINED}
    if t is list:
        return [_plain(v) for v in value if v is not UNDEFINED]
    if t is Decimal:
        return _float_of(value)
    return value


# ---- the conversion tables (iot-sql-data-types.md#iot-sql-conversions) ---------------------------

Converter = Callable[[Any], Any]
_ConverterTable = dict[type, Converter]


def _undefined(_: Any) -> UndefinedType:
    return UNDEFINED


def _same(value: Any) -> Any:
    return value


def _null(_: Any) -> None:
    return None


def _bool_from_string(text: str) -> bool | UndefinedType:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return UNDEFINED


def _int_from_decimal(value: float | Decimal) -> int | UndefinedType:
    """'The source value rounded to the nearest Int' (half up, as Java's Math.round)."""
    exact = to_exact(value)
    if not exact.is_finite():
        return UNDEFINED
    return int(exact.to_integral_value(rounding=decimal.ROUND_HALF_UP))


def _int_from_string(text: str) -> int | UndefinedType:
    """'Converts the String to a Decimal, and then truncates the decimal places'."""
    number = parse_decimal_string(text)
    if number is UNDEFINED:
        return UNDEFINED
    return int(number.to_integral_value(rounding=decimal.ROUND_DOWN))  # type: ignore[union-attr]


def _string_from_binary(value: bytes) -> str | UndefinedType:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return UNDEFINED


#: Each table maps an AWS type name to the conversion of a value of that type.
TO_DECIMAL: Final[Mapping[str, Converter]] = {
    "Int": _same,  # "A Decimal with no decimal point"
    "Decimal": _same,
    "Boolean": _undefined,
    "String": parse_decimal_string,
    "Array": _undefined,
    "Object": _undefined,
    "Null": _null,
    "Undefined": _undefined,
    "Binary": _undefined,
}

TO_INT: Final[Mapping[str, Converter]] = {
    "Int": _same,
    "Decimal": _int_from_decimal,
    "Boolean": _undefined,
    "String": _int_from_string,
    "Array": _undefined,
    "Object": _undefined,
    "Null": _null,
    "Undefined": _undefined,
    "Binary": _undefined,
}

TO_BOOLEAN: Final[Mapping[str, Converter]] = {
    "Int": _undefined,
    "Decimal": _undefined,
    "Boolean": _same,
    "String": _bool_from_string,
    "Array": _undefined,
    "Object": _undefined,
    "Null": _undefined,
    "Undefined": _undefined,
    "Binary": _undefined,
}

TO_STRING: Final[Mapping[str, Converter]] = {
    "Int": str,
    "Decimal": decimal_text,
    "Boolean": lambda b: "true" if b else "false",
    "String": _same,
    "Array": bounded_json_text,
    "Object": bounded_json_text,
    "Null": _undefined,
    "Undefined": _undefined,
    "Binary": _string_from_binary,
}


def _by_python_type(table: Mapping[str, Converter]) -> _ConverterTable:
    return {py: table[name] for py, name in TYPE_NAMES.items()}


_TO_DECIMAL: _ConverterTable = _by_python_type(TO_DECIMAL)
_TO_INT: _ConverterTable = _by_python_type(TO_INT)
_TO_BOOLEAN: _ConverterTable = _by_python_type(TO_BOOLEAN)
_TO_STRING: _ConverterTable = _by_python_type(TO_STRING)
_UNDEFINED_CONVERTER: Converter = lambda _: UNDEFINED  # noqa: E731


def to_decimal(value: Any) -> Any:
    """Int, float, Decimal, None (Null stays Null) or UNDEFINED, per the To decimal table."""
    t = type(value)
    if t is int or t is float or t is Decimal:
        return value
    return _TO_DECIMAL.get(t, _UNDEFINED_CONVERTER)(value)


def to_int(value: Any) -> Any:
    """int, None (Null stays Null) or UNDEFINED, per the To int table."""
    if type(value) is int:
        return value
    return _TO_INT.get(type(value), _UNDEFINED_CONVERTER)(value)


def to_boolean(value: Any) -> Any:
    """bool or UNDEFINED, per the To Boolean table."""
    if type(value) is bool:
        return value
    return _TO_BOOLEAN.get(type(value), _UNDEFINED_CONVERTER)(value)


def to_string(value: Any) -> Any:
    """str or UNDEFINED, per the To string table."""
    if type(value) is str:
        return value
    return _TO_STRING.get(type(value), _UNDEFINED_CONVERTER)(value)


def to_number(value: Any) -> Any:
    """Like `to_decimal` but Null is UNDEFINED: what arithmetic and most math functions take."""
    t = type(value)
    if t is int or t is float or t is Decimal:
        return value
    if t is str:
        return parse_decimal_string(value)
    return UNDEFINED


# ---- JSON in and out ------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; AWS treats such a body as non-JSON.
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or an exponent as a double; one beyond the doubles
    (`1e400`) is refused like NaN, so the body is not JSON (orjson refuses it too)."""
    number = float(text)
    if number - number != 0.0:  # infinite
        raise ValueError(f"{text} is out of the range of a double")
    return number


def _whole_float_as_int(text: str) -> float | int:
    number = float(text)
    if number - number != 0.0:  # infinite: as _finite_float, inline (one call per number)
        raise ValueError(f"{text} is out of the range of a double")
    if number.is_integer() and -INT_LIMIT < number < INT_LIMIT:
        return int(number) if -_EXACT < number < _EXACT else int(Decimal(text))
    return number


_INT64_LIMIT = 2.0**63


def _float_int(value: float) -> int:
    """A whole double as the Int its decimal text names (`1e30` is 10**30, not 2**99...)."""
    return int(Decimal(repr(value)))


class _BigNumber(Exception):
    """orjson read a number whose exact value its double may not hold (an integer past 64 bits,
    which it reads as a float, or a whole number past 2**53 written with a fraction or an
    exponent): the standard library, which keeps the text's value, decides."""


#: Raised by `settle_leaf`: the value read from a raw document may not be the number its text
#: names; the caller evaluates again on the settled document.
AmbiguousNumber = _BigNumber


def _settle_floats(value: Any, whole_ints: bool) -> None:
    """In place, over an orjson document: in 2016-03-23 every whole-number float becomes an
    int; a whole float past 2**53 raises _BigNumber (its text may have named another number,
    which orjson rounded). Only whole floats need either check: a double of 2**53 or more is
    always whole."""
    if type(value) is dict:
        for key, item in value.items():
            t = type(item)
            if t is float:
                if item.is_integer():
                    if item >= _EXACT or item <= -_EXACT:
                        raise _BigNumber
                    if whole_ints:
                        value[key] = int(item)
            elif t is dict or t is list:
                _settle_floats(item, whole_ints)
    else:
        for index, item in enumerate(value):
            t = type(item)
            if t is float:
                if item.is_integer():
                    if item >= _EXACT or item <= -_EXACT:
                        raise _BigNumber
                    if whole_ints:
                        value[index] = int(item)
            elif t is dict or t is list:
                _settle_floats(item, whole_ints)


# ---- raw documents: settled where they are read -------------------------------------------------
#
# A statement that reads the document only through paths (`a.b`, `a[0]`: no `*`) does not need
# the whole-number walk over the data it drops. It evaluates on the raw decode (orjson's, whole
# floats still floats) and settles each value where a path reads it, without changing the raw
# document, which other rules of the same message share whatever their SQL version.


def settle_whole_float(value: float, whole_ints: bool) -> Any:
    """A whole float read from a raw document: an Int in 2016-03-23. Raises AmbiguousNumber
    past 2**53, where the double may not be the number its text named."""
    if value >= _EXACT or value <= -_EXACT:
        raise _BigNumber
    return int(value) if whole_ints else value


def settle_container(value: Any, whole_ints: bool) -> Any:
    """An object or array read from a raw document, settled: itself when nothing in it needs
    settling, else a settled copy (the raw document stays as it was). Raises AmbiguousNumber
    like settle_whole_float, and for an object nested deeper than this walk can go (the
    settled decode decides: such a body is not one the standard library reads)."""
    try:
        return _settle_container(value, whole_ints)
    except RecursionError:
        raise _BigNumber from None


def _settle_container(value: Any, whole_ints: bool) -> Any:
    is_object = type(value) is dict
    copy: Any = None
    for key, item in value.items() if is_object else enumerate(value):
        t = type(item)
        if t is float:
            if not item.is_integer():
                continue
            settled = settle_whole_float(item, whole_ints)
        elif t is dict or t is list:
            settled = _settle_container(item, whole_ints)
        else:
            continue
        if settled is not item:
            if copy is None:
                copy = dict(value) if is_object else list(value)
            copy[key] = settled
    return value if copy is None else copy


def settle_leaf(value: Any, whole_ints: bool) -> Any:
    """A value read from a raw document by a path, as the settled document holds it."""
    t = type(value)
    if t is float:
        return settle_whole_float(value, whole_ints) if value.is_integer() else value
    if t is dict or t is list:
        return settle_container(value, whole_ints)
    return value


#: What `decode_raw` returns for a body it leaves to `decode_body` (no raw form).
NO_RAW: Final = object()


_DECODE_V1 = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_DECODE_V2 = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_whole_float_as_int)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _stdlib_decode(text: str, whole_ints: bool) -> Any:
    decoder = _DECODE_V2 if whole_ints else _DECODE_V1
    try:
        return decoder.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


#: The decoders' scanners (C): JSONDecoder.decode without its two Python-level wrappers,
#: which a message pays for on every publish.
_SCAN_V1: Callable[[str, int], tuple[Any, int]] = _DECODE_V1.scan_once  # type: ignore[attr-defined]
_SCAN_V2: Callable[[str, int], tuple[Any, int]] = _DECODE_V2.scan_once  # type: ignore[attr-defined]
#: JSON's whitespace, which may surround the value (json.decoder.WHITESPACE).
_JSON_WHITESPACE = " \t\n\r"


def _stdlib_decode_body(body: bytes, whole_ints: bool) -> Any:
    """JSONDecoder.decode of the body's UTF-8 text, as its scanner reads it: the one value,
    between whitespace only; else the body is not JSON (Binary)."""
    try:
        text = body.decode("utf-8")
        if text[:1] in _JSON_WHITESPACE or text[-1:] in _JSON_WHITESPACE:  # ("" is in any str)
            text = text.strip(_JSON_WHITESPACE)
        value, end = (_SCAN_V2 if whole_ints else _SCAN_V1)(text, 0)
    except (ValueError, RecursionError, StopIteration):
        # UnicodeDecodeError, JSONDecodeError, deep nesting, no value where one must start
        return Binary(body)
    if end != len(text):  # something after the value
        return Binary(body)
    return value


_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)


def _compact_text_encoder() -> Callable[[Any], str]:
    """`_ENCODER.encode` without its Python-level wrappers: JSONEncoder.encode makes a new C
    encoder on every call (for its circular-reference markers), which costs as much as the
    encoding of a small document. Output values are built from decoded JSON and never refer
    to themselves, so one C encoder without markers serves every call. `_ENCODER.encode` when
    the C encoder is missing (another Python implementation) or does not write what it
    writes."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    try:
        iterencode = make(None, _ENCODER.default, json.encoder.encode_basestring, None,
                          ":", ",", False, False, True)  # fmt: skip

        def encode(value: Any) -> str:
            return "".join(iterencode(value, 0))

        sample = {"a": [1, -2.5, 1e300, 'é\n"', None, True, False, {}, []], "": {"b": -0.0}}
        if encode(sample) != _ENCODER.encode(sample) or encode("x") != _ENCODER.encode("x"):
            return _ENCODER.encode
    except Exception:  # a signature this Python's C encoder does not take
        return _ENCODER.encode
    return encode


#: The compact JSON text of a value (_compact_text_encoder).
_encode_text: Final = _compact_text_encoder()


def _stdlib_encode(value: Any) -> bytes:
    try:
        return _encode_text(value).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a "\ud800" escape in the payload) has no UTF-8 form: write the
        # document with \u escapes, valid JSON that reads back as the same value.
        return _ASCII_ENCODER.encode(value).encode("ascii")


_orjson: Any
try:
    import orjson as _orjson
except ImportError:  # the optional `fast` extra
    _orjson = None


def _orjson_decode_body(body: bytes, whole_ints: bool) -> Any:
    try:
        value = _orjson.loads(body)
    except ValueError:
        # orjson refuses what the standard library may still read (integers past 64 bits,
        # lone surrogates, documents deeper than 1024 levels): let it decide.
        return _stdlib_decode_body(body, whole_ints)
    t = type(value)
    try:
        if t is dict or t is list:
            _settle_floats(value, whole_ints)
        elif t is float:
            if value.is_integer() and not -_EXACT < value < _EXACT:
                raise _BigNumber
            if whole_ints:
                value = whole_to_int(value)
    except (_BigNumber, RecursionError):
        return _stdlib_decode_body(body, whole_ints)
    return value


def _orjson_decode_raw(body: bytes) -> Any:
    """orjson's decode of a body, whole floats left as they are (see settle_leaf), or NO_RAW
    when the standard library must decide (what `_orjson_decode_body` falls back on). A
    top-level number stays raw too: no path reads into it."""
    try:
        return _orjson.loads(body)
    except ValueError:
        return NO_RAW


def _no_raw(body: bytes) -> Any:
    """The standard library's decode settles numbers as it parses (its parse_float hook)."""
    return NO_RAW


def _orjson_encode(value: Any) -> bytes:
    try:
        return _orjson.dumps(value)  # type: ignore[no-any-return]
    except TypeError:  # an integer past 64 bits
        return _stdlib_encode(value)


class _Codec:
    """The JSON library in use: orjson when installed (several times faster), else json.
    `dumps` may raise TypeError (orjson: an integer past 64 bits); `encode` never does."""

    name = "json"
    decode_body: Callable[[bytes, bool], Any] = staticmethod(_stdlib_decode_body)
    #: `decode_raw(body)`: the document with whole floats not settled yet, or NO_RAW.
    decode_raw: Callable[[bytes], Any] = staticmethod(_no_raw)
    #: What decode_raw calls when it has a raw form (orjson.loads; it raises ValueError where
    #: decode_raw gives NO_RAW), for the evaluation hot path; None when it has none.
    raw_loads: Callable[[bytes], Any] | None = None
    encode: Callable[[Any], bytes] = staticmethod(_stdlib_encode)
    dumps: Callable[[Any], bytes] = staticmethod(_stdlib_encode)


codec = _Codec()


def set_json_backend(name: str) -> None:
    """Choose the JSON library: "orjson" (the default when it is installed) or "json". Outputs
    are the same JSON values either way; only the speed differs."""
    if name == "orjson":
        if _orjson is None:
            raise IotSqlError("orjson is not installed: pip install 'iotsql[fast]'")
        codec.name = "orjson"
        codec.decode_body = _orjson_decode_body  # type: ignore[method-assign,assignment]
        codec.decode_raw = _orjson_decode_raw  # type: ignore[method-assign,assignment]
        codec.raw_loads = _orjson.loads
        codec.encode = _orjson_encode  # type: ignore[method-assign,assignment]
        codec.dumps = _orjson.dumps  # type: ignore[method-assign]
    elif name == "json":
        codec.name = "json"
        codec.decode_body = _stdlib_decode_body  # type: ignore[method-assign,assignment]
        codec.decode_raw = _no_raw  # type: ignore[method-assign,assignment]
        codec.raw_loads = None
        codec.encode = _stdlib_encode  # type: ignore[method-assign,assignment]
        codec.dumps = _stdlib_encode  # type: ignore[method-assign,assignment]
    else:
        raise IotSqlError(f"unknown JSON backend {name!r}: expected orjson or json")


def json_backend() -> str:
    return codec.name


if _orjson is not None:
    set_json_backend("orjson")


def decode_json(text: str, whole_ints: bool) -> Any:
    """Parse JSON text as AWS reads a payload: numbers with a fraction or exponent are doubles
    (whole ones are Ints in 2016-03-23), NaN/Infinity are not JSON. Raises ValueError."""
    return _stdlib_decode(text, whole_ints)


def decode_body(body: bytes, whole_ints: bool) -> Any:
    """A message body as a document: its JSON value, or `Binary` when it is not JSON."""
    return codec.decode_body(body, whole_ints)


def encode_json(value: Any) -> bytes:
    """The compact UTF-8 JSON body of an output value (which holds only JSON types)."""
    return codec.encode(value)


#: The largest double: a JSON body's number past it is not JSON (a binary body).
_LARGEST_DOUBLE: Final = Decimal(repr(sys.float_info.max))


def _json_decimal(value: Decimal) -> Decimal:
    """A Decimal of a Python payload as a JSON body's number would be read: NaN, Infinity and
    magnitudes past the doubles are refused, as such a body is not JSON (`1e400`); making an
    int of `Decimal('1e999999999')` would never end."""
    if not value.is_finite():
        raise InvalidPayloadError("NaN and Infinity are not JSON values")
    if value.copy_abs() > _LARGEST_DOUBLE:  # (abs() would round in the context: Overflow)
        raise InvalidPayloadError(
            f"the number {value:.6E} is beyond the range of a double: not a JSON value"
        )
    return value


def _json_int(value: int) -> int:
    """An int of a Python payload that its JSON text can hold: Python writes and reads at most
    `sys.get_int_max_str_digits()` digits (a JSON body with more is not JSON either)."""
    digits = sys.get_int_max_str_digits()
    # 3.33 bits a digit: no int of 3.3 bits per allowed digit or fewer can have too many.
    if digits and value.bit_length() > 3 * digits and abs(value) >= 10**digits:
        raise InvalidPayloadError(
            f"an integer of more than {digits} digits is not a JSON value Python can write"
        )
    return value


def normalize_json(value: Any, whole_ints: bool) -> Any:
    """An already-decoded JSON value checked and converted to the value model (used when a
    caller hands iotsql a Python object instead of bytes)."""
    t = type(value)
    if t is dict:
        return {str(k): normalize_json(v, whole_ints) for k, v in value.items()}
    if t is list or t is tuple:
        return [normalize_json(v, whole_ints) for v in value]
    if t is float:
        if math.isnan(value) or math.isinf(value):
            raise InvalidPayloadError("NaN and Infinity are not JSON values")
        return whole_to_int(value) if whole_ints else value
    if t is Decimal:
        return finalize(_json_decimal(value), whole_ints)
    if t is int:
        return _json_int(value)
    if t is str or t is bool or value is None:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return _json_int(int(value))
    if isinstance(value, float):
        return normalize_json(float(value), whole_ints)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return normalize_json(dict(value), whole_ints)
    raise InvalidPayloadError(f"not a JSON value: {type(value).__name__}")
