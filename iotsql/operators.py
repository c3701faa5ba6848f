"""The operators of iot-sql-operators.md as pure functions on values.

Each operator's documented table is written down as data (`TABLES`), one row per documented
row, so a conformance case can cite the row it exercises; the functions below implement those
rows with fast paths for the common types. Every function returns a value or `UNDEFINED` and
never raises.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from iotsql.budget import output_too_big
from iotsql.limits import current_limits
from iotsql.values import (
    DECIMAL_CONTEXT,
    INT_LIMIT,
    UNDEFINED,
    parse_decimal_string,
    to_exact,
    to_int,
    to_string,
)

# The documented tables: (left operand, right operand, result), verbatim in substance.
TABLES: Final[dict[str, tuple[tuple[str, str, str], ...]]] = {
    "AND": (
        ("Boolean", "Boolean", "Boolean: true if both operands are true"),
        ("String/Boolean", "String/Boolean", "strings 'true'/'false' (any case) act as Booleans"),
        ("Other value", "Other value", "Undefined"),
    ),
    "OR": (
        ("Boolean", "Boolean", "Boolean: true if either operand is true"),
        ("String/Boolean", "String/Boolean", "strings 'true'/'false' (any case) act as Booleans"),
        ("Other value", "Other value", "Undefined"),
    ),
    "NOT": (
        ("Boolean", "", "Boolean: the opposite"),
        ("String", "", "'true'/'false' (any case) converted, then the opposite"),
        ("Other value", "", "Undefined"),
    ),
    "<, <=, >, >=": (
        ("Int/Decimal", "Int/Decimal", "Boolean: numeric comparison"),
        ("String/Int/Decimal", "String/Int/Decimal", "Boolean if every string converts to Decimal"),
        ("Other value", "Other value", "Undefined"),
    ),
    "=": (
        ("Int", "Int", "Boolean: equal"),
        ("Decimal", "Decimal", "Boolean: equal; an Int is converted to Decimal first"),
        ("String", "String", "Boolean: equal"),
        ("Array", "Array", "Boolean: equal items in the same order"),
        ("Object", "Object", "Boolean: equal keys and values, in any order"),
        ("Any value", "Undefined", "Undefined"),
        ("Undefined", "Any value", "Undefined"),
        ("Mismatched type", "Mismatched type", "false"),
    ),
    "<>": (
        ("Int", "Int", "Boolean: not equal"),
        ("Decimal", "Decimal", "Boolean: not equal; an Int is converted to Decimal first"),
        ("String", "String", "Boolean: not equal"),
        ("Array", "Array", "Boolean: not (equal items in the same order)"),
        ("Object", "Object", "Boolean: not (equal keys and values)"),
        ("Null", "Null", "false"),
        ("Any value", "Undefined", "Undefined"),
        ("Undefined", "Any value", "Undefined"),
        ("Mismatched type", "Mismatched type", "true"),
    ),
    "+": (
        ("String", "Any value", "the right operand converted to String, concatenated"),
        ("Any value", "String", "the left operand converted to String, concatenated"),
        ("Int", "Int", "Int: the sum"),
        ("Int/Decimal", "Int/Decimal", "Decimal: the sum"),
        ("Other value", "Other value", "Undefined"),
    ),
    "-, *, /": (
        ("Int", "Int", "Int (for /: when the division is exact, else Decimal)"),
        ("Int/Decimal", "Int/Decimal", "Decimal"),
        ("String/Int/Decimal", "String/Int/Decimal", "Decimal if every string converts"),
        ("Other value", "Other value", "Undefined"),
    ),
    "%": (
        ("Int", "Int", "Int: the remainder"),
        ("String/Int/Decimal", "String/Int/Decimal", "Decimal if every string converts"),
        ("Other value", "Other value", "Undefined"),
    ),
    "IN": (
        ("Any value", "Array", "Boolean: true if an element equals the left operand"),
        ("Undefined", "Any value", "Undefined"),
        ("Any value", "not an Array", "Undefined"),
    ),
}

U = UNDEFINED

# ---- logic ------------------------------------------------------------------------------------


def as_bool(value: Any) -> Any:
    """A Boolean operand: a bool, or a string 'true'/'false' in any case; else UNDEFINED."""
    if value is True or value is False:
        return value
    if type(value) is str:
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return U


# AND and OR are three-valued, as in SQL: an operand that is no Boolean is unknown, so a false
# operand makes AND false and a true one makes OR true whatever the other is (the pages' prose:
# OR "returns true if either the left or the right operands are true"; their tables list only
# two Booleans and two other values). AWS-observed for OR: a deployed rule's
# `isUndefined(previous.x) OR previous.x <> current.x` fires on the first update
# (docs/semantics.md, WHERE and Boolean logic). Both operands are still evaluated.
def op_and(left: Any, right: Any) -> Any:
    a = as_bool(left)
    b = as_bool(right)
    if a is False or b is False:
        return False
    if a is U or b is U:
        return U
    return True


def op_or(left: Any, right: Any) -> Any:
    a = as_bool(left)
    b = as_bool(right)
    if a is True or b is True:
        return True
    if a is U or b is U:
        return U
    return False


def op_not(operand: Any) -> Any:
    a = as_bool(operand)
    return U if a is U else not a


# ---- comparison ---------------------------------------------------------------------------------


def _ordered(value: Any) -> Any:
    """An operand of < <= > >=: a number, or a string that converts to Decimal."""
    t = type(value)
    if t is int or t is float or t is Decimal:
        return value
    if t is str:
        return parse_decimal_string(value)
    return U


def compare_numbers(a: Any, b: Any) -> int:
    """-1, 0 or 1; doubles compare as their shortest decimal text against exact decimals."""
    ta, tb = type(a), type(b)
    if (ta is Decimal) != (tb is Decimal) and (ta is float or tb is float):
        a, b = to_exact(a), to_exact(b)
    return -1 if a < b else (1 if a > b else 0)


def op_lt(left: Any, right: Any) -> Any:
    a = _ordered(left)
    b = _ordered(right)
    if a is U or b is U:
        return U
    return compare_numbers(a, b) < 0


def op_le(left: Any, right: Any) -> Any:
    a = _ordered(left)
    b = _ordered(right)
    if a is U or b is U:
        return U
    return compare_numbers(a, b) <= 0


def op_gt(left: Any, right: Any) -> Any:
    a = _ordered(left)
    b = _ordered(right)
    if a is U or b is U:
        return U
    return compare_numbers(a, b) > 0


def op_ge(left: Any, right: Any) -> Any:
    a = _ordered(left)
    b = _ordered(right)
    if a is U or b is U:
        return U
    return compare_numbers(a, b) >= 0


_NUMERIC = (int, float, Decimal)


def equal(a: Any, b: Any) -> bool:
    """Equality of two defined values by the `=` table (types must match, except Int and
    Decimal, which compare as numbers)."""
    ta, tb = type(a), type(b)
    if ta in _NUMERIC and tb in _NUMERIC:
        return compare_numbers(a, b) == 0
    if ta is not tb:
        return False
    if ta is list:
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=False))
    if ta is dict:
        if a.keys() != b.keys():
            return False
        return all(equal(a[k], b[k]) for k in a)
    return bool(a == b)


def op_eq(left: Any, right: Any) -> Any:
    if left is U or right is U:
        return U
    return equal(left, right)


def op_ne(left: Any, right: Any) -> Any:
    if left is U or right is U:
        return U
    return not equal(left, right)


def op_in(left: Any, right: Any) -> Any:
    if left is U or type(right) is not list:
        return U
    return any(equal(left, item) for item in right)


# ---- arithmetic ---------------------------------------------------------------------------------


def _java_int_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def _java_int_rem(a: int, b: int) -> int:
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _decimal_op(op: Callable[[Decimal, Decimal], Decimal], a: Any, b: Any) -> Any:
    try:
        return op(to_exact(a), to_exact(b))
    except (decimal.DecimalException, ArithmeticError):
        return U


_ctx = DECIMAL_CONTEXT


def _beyond_int(value: int) -> Any:
    """An Int has at most 34 digits: a sum, difference or product beyond that is the Decimal
    of its 34 leading digits (Undefined past 9.99E999), never an ever-growing integer."""
    try:
        return _ctx.create_decimal(value)
    except (decimal.DecimalException, ArithmeticError):
        return U


def _joined(left: str, right: str) -> str:
    """`left + right`, refused before it is made past `Limits.max_output_bytes` (a chain of
    `+` may repeat a long string as often as the statement writes it)."""
    size = len(left) + len(right)
    limit = current_limits().max_output_bytes
    if size > limit:
        raise output_too_big(size, limit)
    return left + right


def op_add(left: Any, right: Any) -> Any:
    ta, tb = type(left), type(right)
    if ta is int and tb is int:
        result = left + right
        return result if -INT_LIMIT < result < INT_LIMIT else _beyond_int(result)
    if ta is str:
        text = to_string(right)
        return U if text is U else _joined(left, text)
    if tb is str:
        text = to_string(left)
        return U if text is U else _joined(text, right)
    if ta in _NUMERIC and tb in _NUMERIC:
        return _decimal_op(_ctx.add, left, right)
    return U


def _arith_operands(left: Any, right: Any) -> tuple[Any, Any]:
    """Operands of - * / %: numbers, or strings that convert to Decimal."""
    ta, tb = type(left), type(right)
    a = left if ta in _NUMERIC else (parse_decimal_string(left) if ta is str else U)
    b = right if tb in _NUMERIC else (parse_decimal_string(right) if tb is str else U)
    return a, b


def op_sub(left: Any, right: Any) -> Any:
    if type(left) is int and type(right) is int:
        result = left - right
        return result if -INT_LIMIT < result < INT_LIMIT else _beyond_int(result)
    a, b = _arith_operands(left, right)
    if a is U or b is U:
        return U
    return _decimal_op(_ctx.subtract, a, b)


def op_mul(left: Any, right: Any) -> Any:
    if type(left) is int and type(right) is int:
        result = left * right
        return result if -INT_LIMIT < result < INT_LIMIT else _beyond_int(result)
    a, b = _arith_operands(left, right)
    if a is U or b is U:
        return U
    return _decimal_op(_ctx.multiply, a, b)


def op_div(left: Any, right: Any) -> Any:
    if type(left) is int and type(right) is int:
        if right == 0:
            return U
        # An Int when the division is exact; otherwise the exact decimal quotient (the
        # documented `SET @c = (75 - 32) * 5 / 9` gives 23.89, not 23).
        if left % right == 0:
            return _java_int_div(left, right)
        return _decimal_op(_ctx.divide, left, right)
    a, b = _arith_operands(left, right)
    if a is U or b is U:
        return U
    return _decimal_op(_ctx.divide, a, b)


def op_mod(left: Any, right: Any) -> Any:
    if type(left) is int and type(right) is int:
        return U if right == 0 else _java_int_rem(left, right)
    a, b = _arith_operands(left, right)
    if a is U or b is U:
        return U
    # Decimal's % keeps the dividend's sign, as Java's BigDecimal.remainder does.
    return _decimal_op(_ctx.remainder, a, b)


def op_neg(operand: Any) -> Any:
    t = type(operand)
    if t is int or t is float:
        return -operand
    if t is Decimal:
        return operand.copy_negate()  # exact: `-d` would round to the context's precision
    if t is str:
        number = parse_decimal_string(operand)
        return U if number is U else number.copy_negate()  # type: ignore[union-attr]
    return U


# ---- element access ---------------------------------------------------------------------------


def get_item(container: Any, key: Any) -> Any:
    """`get(container, key)` and `container[key]`: an Array or String element by 0-based
    index (the key converted to Int; out of bounds is Undefined), an Object member by String."""
    t = type(container)
    if t is dict:
        if type(key) is str:
            return container.get(key, U)
        return U
    if t is str and not container.isascii():
        # A String is indexed in UTF-16 code units, as Java's String (and iotsql's length,
        # indexof and substring) count them: get('😀a', 2) is 'a'. Half a surrogate pair
        # becomes U+FFFD, as substring's cut through one does.
        units = container.encode("utf-16-le", "surrogatepass")
        if len(units) != 2 * len(container):
            index = to_int(key)
            if type(index) is not int or index < 0 or 2 * index >= len(units):
                return U
            return units[2 * index : 2 * index + 2].decode("utf-16-le", "replace")
    if t is list or t is str:
        index = to_int(key)
        if type(index) is not int or index < 0 or index >= len(container):
            return U
        return container[index]
    return U


BINARY_OPERATORS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "AND": op_and,
    "OR": op_or,
    "=": op_eq,
    "<>": op_ne,
    "<": op_lt,
    "<=": op_le,
    ">": op_gt,
    ">=": op_ge,
    "IN": op_in,
    "+": op_add,
    "-": op_sub,
    "*": op_mul,
    "/": op_div,
    "%": op_mod,
}

#: Operators whose result is a number (normalised by 2016-03-23's whole-number rule).
ARITHMETIC: Final = frozenset({"+", "-", "*", "/", "%"})
