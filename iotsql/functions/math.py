"""Numeric functions: abs, the double-precision functions (acos ... tanh, exp, ln, log, power,
sqrt, atan2), the rounding functions (ceil, floor, round, sign, trunc), mod/remainder, the
bitwise functions and nanvl.

Three kinds of arithmetic, as AWS (which runs on the JVM) does it:

- "Decimal (with double precision)": the arguments become doubles and `java.lang.Math` computes;
  a NaN or infinite result (an imaginary root, log of zero, an overflow) is Undefined;
- exact: abs of a Decimal, trunc, mod/remainder stay exact decimals (Java BigDecimal);
- Int results: ceil, floor, round and sign always give an Int, also in 2015-10-08.

`round_down_int` and `round_down_clamped` ("rounded down to the nearest Int", for any number or
numeric String: toward zero, as Java's `RoundingMode.DOWN`; docs/semantics.md says why) are
shared with cast and the string functions (chr, lpad, substring...).
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from iotsql.functions.registry import function
from iotsql.operators import op_mod
from iotsql.values import INT_LIMIT, UNDEFINED, parse_decimal_string, to_exact, to_number

U = UNDEFINED
FAMILY = "math"

#: Precision for exact truncation: enough for any 34-digit decimal at any of its 35 scales.
_WIDE: Final = decimal.Context(prec=200, traps=[decimal.InvalidOperation])


# ---- conversions shared with the string functions ------------------------------------------------


def _is_nan(number: int | float | Decimal) -> bool:
    t = type(number)
    if t is float:
        return math.isnan(number)
    return t is Decimal and number.is_nan()  # type: ignore[union-attr]


def _whole(value: Decimal) -> int | Decimal:
    """A whole Decimal as an Int; beyond the 34 digits of an Int it stays a (whole) Decimal."""
    return int(value) if -INT_LIMIT < value < INT_LIMIT else value


def _integral(value: Any, rounding: str) -> Any:
    """A number or numeric String rounded to a whole number with `rounding`: an Int (or, past
    34 digits, a whole Decimal), or UNDEFINED."""
    number = to_number(value)
    if number is U or type(number) is int:
        return number
    exact = to_exact(number)
    if not exact.is_finite():
        return U
    return _whole(exact.to_integral_value(rounding=rounding))


def round_down_int(value: Any) -> Any:
    """'Rounded down to the nearest Int': an Int, Decimal or numeric String truncated toward
    zero (`-2.7` is -2, as Java's `BigDecimal.intValue()` and `RoundingMode.DOWN`) to an exact
    Python int (any size), else UNDEFINED. Booleans, Null and the rest do not convert."""
    number = to_number(value)
    if number is U or type(number) is int:
        return number
    exact = to_exact(number)
    if not exact.is_finite():
        return U
    return int(exact.to_integral_value(rounding=decimal.ROUND_DOWN))


def round_down_clamped(value: Any, low: int, high: int) -> Any:
    """`round_down_int(value)` clamped to `low..high`, without building huge ints for huge values
    (`substring(false, -2.411E247)`)."""
    number = to_number(value)
    if number is U or _is_nan(number):
        return U
    if number <= low:
        return low
    if number >= high:
        return high
    return round_down_int(number)


# ---- abs and the double-precision functions ------------------------------------------------------


@function("abs", args=1, family=FAMILY, anchor="iot-func-abs", signature="abs(number)")
def abs_(value: Any) -> Any:
    """The absolute value of a number (an Int stays an Int, a Decimal stays exact)."""
    t = type(value)
    if t is int or t is float:
        return abs(value)
    if t is Decimal:
        return value.copy_abs()
    if t is str:
        number = parse_decimal_string(value)
        return U if number is U else number.copy_abs()  # type: ignore[union-attr]
    return U


def _double(value: Any) -> Any:
    """A number or numeric String rounded to a double, as Java's `doubleValue()` does (an Int
    too large for a double is infinite), or UNDEFINED."""
    number = to_number(value)
    if number is U:
        return U
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def _finite(result: float) -> Any:
    return result if math.isfinite(result) else U


def _apply(operation: Callable[[float], float], value: Any) -> Any:
    """`operation` on the double of `value`; NaN, infinite results and domain errors (Python
    raises where Java returns NaN or Infinity) are Undefined."""
    x = _double(value)
    if x is U:
        return U
    try:
        return _finite(operation(x))
    except (ValueError, OverflowError):
        return U


@function("acos", args=1, family=FAMILY, anchor="iot-func-acos", signature="acos(number)")
def acos(value: Any) -> Any:
    """The inverse cosine, in radians (double precision)."""
    return _apply(math.acos, value)


@function("asin", args=1, family=FAMILY, anchor="iot-func-asin", signature="asin(number)")
def asin(value: Any) -> Any:
    """The inverse sine, in radians (double precision)."""
    return _apply(math.asin, value)


@function("atan", args=1, family=FAMILY, anchor="iot-func-atan", signature="atan(number)")
def atan(value: Any) -> Any:
    """The inverse tangent, in radians (double precision)."""
    return _apply(math.atan, value)


@function("atan2", args=2, family=FAMILY, anchor="iot-func-atan2", signature="atan2(y, x)")
def atan2(y: Any, x: Any) -> Any:
    """The angle of the point (x, y) from the positive x-axis, in radians.

    The y coordinate comes first, as in Java's `Math.atan2(y, x)`: `atan2(1, 0)` is pi/2."""
    a = _double(y)
    b = _double(x)
    if a is U or b is U:
        return U
    return _finite(math.atan2(a, b))


@function("cos", args=1, family=FAMILY, anchor="iot-func-cos", signature="cos(number)")
def cos(value: Any) -> Any:
    """The cosine of an angle in radians (double precision)."""
    return _apply(math.cos, value)


@function("cosh", args=1, family=FAMILY, anchor="iot-func-cosh", signature="cosh(number)")
def cosh(value: Any) -> Any:
    """The hyperbolic cosine (double precision)."""
    return _apply(math.cosh, value)


@function("exp", args=1, family=FAMILY, anchor="iot-func-exp", signature="exp(number)")
def exp(value: Any) -> Any:
    """e raised to the argument (double precision)."""
    return _apply(math.exp, value)


@function("ln", args=1, family=FAMILY, anchor="iot-func-nln", signature="ln(number)")
def ln(value: Any) -> Any:
    """The natural logarithm (double precision)."""
    return _apply(math.log, value)


@function("log", args=1, family=FAMILY, anchor="iot-func-log", signature="log(number)")
def log(value: Any) -> Any:
    """The base-10 logarithm (double precision)."""
    return _apply(math.log10, value)


@function(
    "power", args=2, family=FAMILY, anchor="iot-func-power", signature="power(base, exponent)"
)
def power(base: Any, exponent: Any) -> Any:
    """The first argument raised to the second (double precision)."""
    a = _double(base)
    b = _double(exponent)
    if a is U or b is U:
        return U
    if math.isinf(b) and abs(a) == 1.0:
        return U  # Java's Math.pow gives NaN here; C (and Python) give 1.0
    try:
        return _finite(math.pow(a, b))
    except (ValueError, OverflowError):
        return U


@function("sin", args=1, family=FAMILY, anchor="iot-func-sin", signature="sin(number)")
def sin(value: Any) -> Any:
    """The sine of an angle in radians (double precision)."""
    return _apply(math.sin, value)


@function("sinh", args=1, family=FAMILY, anchor="iot-func-sinh", signature="sinh(number)")
def sinh(value: Any) -> Any:
    """The hyperbolic sine (double precision)."""
    return _apply(math.sinh, value)


@function("sqrt", args=1, family=FAMILY, anchor="iot-func-sqrt", signature="sqrt(number)")
def sqrt(value: Any) -> Any:
    """The square root (double precision); negative numbers give Undefined."""
    return _apply(math.sqrt, value)


@function("tan", args=1, family=FAMILY, anchor="iot-func-tan", signature="tan(number)")
def tan(value: Any) -> Any:
    """The tangent of an angle in radians (double precision)."""
    return _apply(math.tan, value)


@function("tanh", args=1, family=FAMILY, anchor="iot-func-tanh", signature="tanh(number)")
def tanh(value: Any) -> Any:
    """The hyperbolic tangent (double precision)."""
    return _apply(math.tanh, value)


# ---- rounding -------------------------------------------------------------------------------------


@function("ceil", args=1, family=FAMILY, anchor="iot-func-ceil", signature="ceil(number)",
          ints_when_whole=True)  # fmt: skip
def ceil(value: Any) -> Any:
    """The number rounded up to the nearest Int."""
    return _integral(value, decimal.ROUND_CEILING)


@function("floor", args=1, family=FAMILY, anchor="iot-func-floor", signature="floor(number)",
          ints_when_whole=True)  # fmt: skip
def floor(value: Any) -> Any:
    """The number rounded down to the nearest Int."""
    return _integral(value, decimal.ROUND_FLOOR)


@function("round", args=1, family=FAMILY, anchor="iot-func-round", signature="round(number)",
          ints_when_whole=True)  # fmt: skip
def round_(value: Any) -> Any:
    """The number rounded to the nearest Int, halves away from zero (`round(-1.5)` is -2)."""
    # The table says "rounded down", the five examples round to nearest with halves away from
    # zero (BigDecimal HALF_UP; not Java's Math.round, which gives -1 for -1.5).
    return _integral(value, decimal.ROUND_HALF_UP)


@function("sign", args=1, family=FAMILY, anchor="iot-func-sign", signature="sign(number)",
          ints_when_whole=True)  # fmt: skip
def sign(value: Any) -> Any:
    """-1, 0 or 1: the sign of the number, as an Int."""
    number = to_number(value)
    if number is U or _is_nan(number):
        return U
    return (number > 0) - (number < 0)


@function("trunc", args=2, family=FAMILY, anchor="iot-func-trunc",
          signature="trunc(number, places)", ints_when_whole=True)  # fmt: skip
def trunc(value: Any, places: Any) -> Any:
    """The number truncated toward zero to `places` (0..34) decimal places.

    Exact (no binary rounding: `trunc(2.3123, 2)` is 2.31), trailing zeros stripped, an Int
    when whole."""
    # The table takes a String only as the first argument; the places must be a number.
    if type(places) is int and 0 <= places <= 34:
        digits: Any = places
    elif type(places) is not int and type(places) is not float and type(places) is not Decimal:
        return U
    else:
        digits = round_down_clamped(places, 0, 34)
        if digits is U:
            return U
    t = type(value)
    if t is float:
        if value != value or value in (_INFINITY, -_INFINITY):
            return U
        exact = Decimal(repr(value))
    elif t is Decimal:
        if not value.is_finite():
            return U
        exact = value
    elif t is int:
        return value
    else:
        number = to_number(value)
        if number is U or digits is U:
            return U
        if type(number) is int:
            return number
        exact = to_exact(number)
        if not exact.is_finite():
            return U
    # Quantizing a number with fewer decimals only adds zeros, which normalize removes; it is
    # skipped only where the quantized digits could pass _WIDE's precision.
    if exact.adjusted() < _QUANTIZE_BELOW or exact.as_tuple().exponent < -digits:  # type: ignore[operator]
        exact = exact.quantize(_QUANTUM[digits], decimal.ROUND_DOWN, _WIDE)
    integral = exact.to_integral_value()
    if exact == integral:
        return _whole(integral)
    return exact.normalize(_WIDE)


#: The adjusted exponent below which trunc's quantized digits always fit _WIDE's precision.
_QUANTIZE_BELOW: Final = _WIDE.prec - 40
#: 1, 0.1, 0.01 ... 1E-34: what trunc quantizes to.
_QUANTUM: Final = tuple(Decimal(1).scaleb(-digits) for digits in range(35))
_INFINITY: Final = float("inf")


# ---- remainder ------------------------------------------------------------------------------------


@function("mod", args=2, family=FAMILY, anchor="iot-func-mod", signature="mod(dividend, divisor)")
def mod(dividend: Any, divisor: Any) -> Any:
    """The remainder of the division, with the sign of the dividend (the `%` operator)."""
    return op_mod(dividend, divisor)


@function("remainder", args=2, family=FAMILY, anchor="iot-func-remainder",
          signature="remainder(dividend, divisor)")  # fmt: skip
def remainder(dividend: Any, divisor: Any) -> Any:
    """The remainder of the division, with the sign of the dividend (same as mod)."""
    return op_mod(dividend, divisor)


# ---- bitwise ---------------------------------------------------------------------------------------


def _bits(a: Any, b: Any, operation: Callable[[int, int], int]) -> Any:
    x = round_down_int(a)
    y = round_down_int(b)
    if x is U or y is U:
        return U
    return operation(x, y)


@function("bitand", args=2, family=FAMILY, anchor="iot-func-bitand", signature="bitand(a, b)")
def bitand(a: Any, b: Any) -> Any:
    """The bitwise AND of the two arguments, each rounded down (toward zero) to an Int."""
    return _bits(a, b, lambda x, y: x & y)


@function("bitor", args=2, family=FAMILY, anchor="iot-func-bitor", signature="bitor(a, b)")
def bitor(a: Any, b: Any) -> Any:
    """The bitwise OR of the two arguments, each rounded down (toward zero) to an Int."""
    return _bits(a, b, lambda x, y: x | y)


@function("bitxor", args=2, family=FAMILY, anchor="iot-func-xbitor", signature="bitxor(a, b)")
def bitxor(a: Any, b: Any) -> Any:
    """The bitwise XOR of the two arguments, each rounded down (toward zero) to an Int."""
    return _bits(a, b, lambda x, y: x ^ y)


@function("bitnot", args=1, family=FAMILY, anchor="iot-func-bitnot", signature="bitnot(a)")
def bitnot(value: Any) -> Any:
    """The bitwise NOT (two's complement) of the argument rounded down (toward zero) to an Int.

    As Java's `~`, `bitnot(13)` is -14."""
    # The page's `bitnot(13) = 2` is the NOT of 13 in four bits, which no Int type has.
    number = round_down_int(value)
    return U if number is U else ~number


# ---- nanvl ----------------------------------------------------------------------------------------


@function("nanvl", args=2, family=FAMILY, undefined="pass", anchor="iot-func-nanvl",
          signature="nanvl(value, default)")  # fmt: skip
def nanvl(value: Any, default: Any) -> Any:
    """The first argument, unless it is Undefined, Null or NaN: then the second."""
    if value is U or value is None:
        return default
    t = type(value)
    if (t is float or t is Decimal) and _is_nan(value):
        return default
    return value
