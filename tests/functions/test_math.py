"""The numeric functions (iotsql/functions/math.py) driven through SQL: every documented example,
every row of each argument-type table, the edge cases where Java and Python differ, and
properties (never raises, bounded time, mod agrees with %)."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from cost import cpu_at_most
from hypothesis import given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.functions import math as fmath
from iotsql.functions.registry import lookup
from iotsql.values import UNDEFINED, Binary

V1 = "2015-10-08"
V2 = "2016-03-23"
U = UNDEFINED


def call(expr: str, payload: Any = None, version: str = V2) -> Any:
    """The value of `expr` selected as `r`, or UNDEFINED when the key is left out."""
    body = json.dumps({} if payload is None else payload).encode()
    output = iotsql.compile(f"SELECT {expr} AS r FROM 't'", version).evaluate(body, "t")
    assert output is not None, "the rule did not fire"
    return output.value.get("r", U)


def check(expr: str, expected: Any, payload: Any = None, version: str = V2) -> None:
    actual = call(expr, payload, version)
    assert type(actual) is type(expected), f"{expr}: {actual!r} is not {expected!r}"
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual)
    else:
        assert actual == expected, f"{expr}: {actual!r} != {expected!r}"


# ---- declarations --------------------------------------------------------------------------------

DECLARED = {
    "abs": (1, 1, V1), "acos": (1, 1, V1), "asin": (1, 1, V1), "atan": (1, 1, V1),
    "atan2": (2, 2, V1), "bitand": (2, 2, V1), "bitor": (2, 2, V1), "bitxor": (2, 2, V1),
    "bitnot": (1, 1, V1), "ceil": (1, 1, V1), "cos": (1, 1, V1), "cosh": (1, 1, V1),
    "exp": (1, 1, V1), "floor": (1, 1, V1), "ln": (1, 1, V1), "log": (1, 1, V1),
    "mod": (2, 2, V1), "nanvl": (2, 2, V1), "power": (2, 2, V1), "remainder": (2, 2, V1),
    "round": (1, 1, V1), "sign": (1, 1, V1), "sin": (1, 1, V1), "sinh": (1, 1, V1),
    "sqrt": (1, 1, V1), "tan": (1, 1, V1), "tanh": (1, 1, V1), "trunc": (2, 2, V1),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_declaration(name: str) -> None:
    spec = lookup(name.upper())
    assert spec is not None
    low, high, since = DECLARED[name]
    assert (spec.min_args, spec.max_args, spec.since.value) == (low, high, since)
    assert spec.family == "math" and spec.pure and spec.anchor.startswith("iot-func-")
    assert spec.summary and spec.signature.startswith(name + "(")


def test_wrong_arity_is_undefined() -> None:
    assert call("abs(1, 2)") is U
    assert call("trunc(1)") is U


# ---- documented examples -------------------------------------------------------------------------

DOC_EXAMPLES = [
    ("abs(-5)", 5, V2),
    ("acos(0)", 1.5707963267948966, V2),
    ("asin(0)", 0.0, V1),
    ("atan(0)", 0.0, V1),
    ("atan2(1, 0)", 1.5707963267948966, V2),
    ("bitand(13, 5)", 5, V2),
    ("bitor(8, 5)", 13, V2),
    ("bitxor(13, 5)", 8, V2),
    ("ceil(1.2)", 2, V2),
    ("ceil(-1.2)", -1, V2),
    ("cos(0)", 1, V2),
    ("cos(0)", 1.0, V1),
    ("cosh(2.3)", 5.037220649268761, V2),
    ("exp(1)", 2.718281828459045, V2),
    ("floor(1.2)", 1, V2),
    ("floor(-1.2)", -2, V2),
    ("log(100)", 2.0, V1),
    ("mod(8, 3)", 2, V2),
    ("Nanvl(8, 3)", 8, V2),
    ("power(2, 5)", 32.0, V1),
    ("power(2, 5)", 32, V2),
    ("remainder(8, 3)", 2, V2),
    ("Round(1.2)", 1, V2),
    ("Round(1.5)", 2, V2),
    ("Round(1.7)", 2, V2),
    ("Round(-1.1)", -1, V2),
    ("Round(-1.5)", -2, V2),
    ("sign(-7)", -1, V2),
    ("sign(0)", 0, V2),
    ("sign(13)", 1, V2),
    ("sin(0)", 0.0, V1),
    ("sinh(2.3)", 4.936961805545957, V2),
    ("sqrt(9)", 3.0, V1),
    ("sqrt(9)", 3, V2),
    ("tan(3)", -0.1425465430742778, V2),
    ("tanh(2.3)", 0.9800963962661914, V2),
    ("trunc(2.3, 0)", 2, V2),
    ("trunc(2.3123, 2)", 2.31, V2),
    ("trunc(2.888, 2)", 2.88, V2),
    ("trunc(2.00, 5)", 2, V2),
    ("trunc(2.00, 5)", 2, V1),
]


@pytest.mark.parametrize(("expr", "expected", "version"), DOC_EXAMPLES)
def test_documented_example(expr: str, expected: Any, version: str) -> None:
    check(expr, expected, version=version)


def test_ln_of_e() -> None:
    check("ln(e)", 1, {"e": math.e})
    check("ln(e)", 1.0, {"e": math.e}, V1)


def test_bitnot_is_twos_complement() -> None:
    # Documented as bitnot(13) = 2 (a 4-bit NOT); Java's ~13 on an Int is -14.
    check("bitnot(13)", -14)
    check("bitnot(0)", -1)
    check("bitnot(x)", 5, {"x": -6})


# ---- argument-type tables --------------------------------------------------------------------------

NOT_NUMBERS = [
    ("Boolean", {"x": True}),
    ("Array", {"x": [1]}),
    ("Object", {"x": {"k": 1}}),
    ("Null", {"x": None}),
    ("Undefined", {}),
    ("String that is not a number", {"x": "abc"}),
    ("String with spaces", {"x": " 5"}),
    ("String with a plus sign", {"x": "+5"}),
]
UNARY = ["abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "exp", "floor", "ln", "log",
         "round", "sign", "sin", "sinh", "sqrt", "tan", "tanh", "bitnot"]  # fmt: skip
BINARY = ["atan2", "bitand", "bitor", "bitxor", "mod", "power", "remainder", "trunc"]


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize(("row", "payload"), NOT_NUMBERS, ids=[r for r, _ in NOT_NUMBERS])
def test_unary_other_types_are_undefined(name: str, row: str, payload: Any) -> None:
    assert call(f"{name}(x)", payload) is U


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize(("row", "payload"), NOT_NUMBERS, ids=[r for r, _ in NOT_NUMBERS])
def test_binary_other_types_are_undefined(name: str, row: str, payload: Any) -> None:
    assert call(f"{name}(x, 1)", payload) is U
    assert call(f"{name}(1, x)", payload) is U


DOUBLE_FUNCTIONS = {
    "acos": math.acos, "asin": math.asin, "atan": math.atan, "cos": math.cos,
    "cosh": math.cosh, "exp": math.exp, "ln": math.log, "log": math.log10, "sin": math.sin,
    "sinh": math.sinh, "sqrt": math.sqrt, "tan": math.tan, "tanh": math.tanh,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DOUBLE_FUNCTIONS))
@pytest.mark.parametrize(
    ("argument", "as_double"),
    [(1, 1.0), (0.5, 0.5), ("0.25", 0.25), ("-5E-1", -0.5)],
    ids=["Int", "Decimal", "String", "String with exponent"],
)
def test_double_functions_give_doubles(name: str, argument: Any, as_double: float) -> None:
    try:
        expected = DOUBLE_FUNCTIONS[name](as_double)
    except ValueError:
        assert call(f"{name}(x)", {"x": argument}) is U
        return
    check(f"{name}(x)", expected, {"x": argument}, V1)


@pytest.mark.parametrize(
    "expr",
    ["acos(2)", "asin(-1.5)", "ln(0)", "ln(-1)", "log(0)", "log(-10)", "sqrt(-1)",
     "exp(1000)", "cosh(1000)", "sinh(-1000)", "power(0, -1)", "power(-1, 0.5)",
     "power(10, 400)", "power(-8, 1.0 / 3)"],
)  # fmt: skip
def test_imaginary_nan_and_infinite_results_are_undefined(expr: str) -> None:
    assert call(expr) is U


def test_a_decimal_argument_is_rounded_to_a_double() -> None:
    text = "0.1234567890123456789012345678901234"
    check(f"sin({text})", math.sin(float(Decimal(text))))
    check("sin(x)", math.sin(0.12345678901234568), {"x": text})


def test_infinite_doubles() -> None:
    # "1E400" is a valid Decimal String; as a double it is infinite (Java's doubleValue()).
    assert call("sin(x)", {"x": "1E400"}) is U
    check("atan(x)", math.pi / 2, {"x": "1E400"})
    check("tanh(x)", 1, {"x": "1E400"})
    check("exp(x)", 0, {"x": "-1E400"})
    # Math.pow(1, Infinity) is NaN in Java (1.0 in C and Python).
    assert call("power(1, x)", {"x": "1E400"}) is U
    assert call("power(-1, x)", {"x": "-1E400"}) is U
    check("power(2, x)", 0, {"x": "-1E400"})


def test_atan2_takes_y_then_x() -> None:
    check("atan2(-1, 0)", -1.5707963267948966)
    check("atan2(x, y)", 2.356194490192345, {"x": 0.5, "y": -0.5})
    check("atan2(x, y)", 1.5707963267948966, {"x": "1", "y": "0"})
    check("atan2(0, 1)", 0.0, version=V1)


# ---- abs -------------------------------------------------------------------------------------------


def test_abs_table() -> None:
    check("abs(x)", 7, {"x": -7})
    check("abs(x)", 2.5, {"x": -2.5})
    check("abs(x)", 5.123, {"x": "-5.123"})
    check("abs(-5.0)", 5.0, version=V1)
    check("abs(-5.0)", 5)
    check("abs(x)", 10**40, {"x": -(10**40)})


def test_abs_of_an_exact_decimal_stays_exact() -> None:
    digits = "0.1234567890123456789012345678901234"
    check("concat('', abs(x))", digits, {"x": "-" + digits})
    check("concat('', abs(x))", "1.50", {"x": "-1.50"})


# ---- rounding --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [V1, V2])
@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("ceil(x)", {"x": 5}, 5),
        ("ceil(x)", {"x": 2.5}, 3),
        ("ceil(x)", {"x": -2.5}, -2),
        ("ceil(2.0)", None, 2),
        ("ceil(x)", {"x": "-5.123"}, -5),
        ("ceil(x)", {"x": 2.0000000000000004}, 3),
        ("floor(x)", {"x": 5}, 5),
        ("floor(x)", {"x": 2.5}, 2),
        ("floor(x)", {"x": -2.5}, -3),
        ("floor(x)", {"x": "-5.123"}, -6),
        ("floor(x)", {"x": 2.9999999999999996}, 2),
        ("round(x)", {"x": 5}, 5),
        ("round(x)", {"x": 2.5}, 3),
        ("round(x)", {"x": -2.5}, -3),
        ("round(x)", {"x": 0.5}, 1),
        ("round(x)", {"x": -0.5}, -1),
        ("round(x)", {"x": 2.4}, 2),
        ("round(x)", {"x": 2.6}, 3),
        ("round(x)", {"x": 0.49999999999999994}, 0),
        ("round(x)", {"x": "1.5"}, 2),
        ("round(x)", {"x": "-5.123"}, -5),
        ("sign(x)", {"x": 42}, 1),
        ("sign(x)", {"x": -2.5}, -1),
        ("sign(x)", {"x": 0.5}, 1),
        ("sign(0.0)", None, 0),
        ("sign(x)", {"x": -0.0}, 0),
        ("sign(x)", {"x": "-5.123"}, -1),
        ("sign(x)", {"x": "0"}, 0),
        ("sign(x)", {"x": -(10**40)}, -1),
    ],
)
def test_rounding_gives_ints(expr: str, payload: Any, expected: int, version: str) -> None:
    check(expr, expected, payload, version)


def test_rounding_huge_numbers() -> None:
    assert call("floor(x)", {"x": 1e40}) == 10**40
    check("ceil(x)", 10**40, {"x": 10**40})
    check(
        "round(x)", 123456789012345678901234567890124, {"x": "123456789012345678901234567890123.5"}
    )


# ---- trunc -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("trunc(x, 2)", {"x": 5}, 5),
        ("trunc(x, 1)", {"x": 2.888}, 2.8),
        ("trunc(x, 2)", {"x": -2.888}, -2.88),
        ("trunc(x, 2.9)", {"x": 2.888}, 2.88),
        ("trunc(7, 1.5)", None, 7),
        ("trunc(x, -1)", {"x": 2.888}, 2),
        ("trunc(x, 50)", {"x": 2.888}, 2.888),
        ("trunc(x, 3)", {"x": 2.5}, 2.5),
        ("trunc(x, 1)", {"x": "2.888"}, 2.8),
        ("trunc(x, 1.9)", {"x": "2.888"}, 2.8),
        ("trunc(x, 34)", {"x": 1e-300}, 0),
        ("trunc(x, 0)", {"x": -0.5}, 0),
        ("trunc(x, 2)", {"x": 1e300}, 10**300),
    ],
)
def test_trunc_table(expr: str, payload: Any, expected: Any) -> None:
    check(expr, expected, payload)


def test_trunc_is_exact_and_strips_zeros() -> None:
    check("concat('', trunc(2.3123, 2))", "2.31")
    check("concat('', trunc(x, 2))", "0.29", {"x": 0.29})  # not 0.28 (the double 0.28999...)
    check("concat('', trunc(x, 5))", "2.5", {"x": "2.50000"})
    check("concat('', trunc(x, 30))", "0.12345678901234567890123456789",
          {"x": "0.12345678901234567890123456789019"})  # fmt: skip
    check("trunc(2.3, 0)", 2, version=V1)
    check("trunc(x, 2)", 2.88, {"x": 2.888}, V1)


def test_trunc_places_must_be_a_number() -> None:
    # The table takes a String as the first argument only.
    assert call("trunc(2.888, '1')") is U
    assert call("trunc(2.888, x)", {"x": None}) is U
    assert call("trunc(2.888, x)", {"x": True}) is U


# ---- mod and remainder -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mod", "remainder"])
@pytest.mark.parametrize(
    ("args", "payload", "expected", "version"),
    [
        ("x, 3", {"x": -8}, -2, V2),
        ("8, x", {"x": -3}, 2, V2),
        ("x, 2", {"x": 7.5}, 1.5, V2),
        ("x, 2", {"x": -7.5}, -1.5, V2),
        ("8, x", {"x": 2.5}, 0.5, V2),
        ("8.0, 3", None, 2.0, V1),
        ("8.0, 3", None, 2, V2),
        ("x, y", {"x": "7.5", "y": "2"}, 1.5, V2),
        ("x, 3", {"x": "8"}, 2, V2),
        ("x, 0.1", {"x": 0.3}, 0.0, V1),
    ],
)
def test_remainder_table(name: str, args: str, payload: Any, expected: Any, version: str) -> None:
    check(f"{name}({args})", expected, payload, version)


@pytest.mark.parametrize("name", ["mod", "remainder"])
def test_remainder_by_zero_is_undefined(name: str) -> None:
    assert call(f"{name}(8, 0)") is U
    assert call(f"{name}(8.5, 0.0)") is U


@settings(max_examples=60, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(-(10**6), 10**6).filter(bool))
def test_mod_is_the_percent_operator(a: int, b: int) -> None:
    payload = {"a": a, "b": b}
    expected = call("a % b", payload)
    assert call("mod(a, b)", payload) == expected == call("remainder(a, b)", payload)
    assert expected == int(math.fmod(a, b)) if abs(a) < 2**52 else True


# ---- bitwise ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("bitand(x, y)", {"x": 12, "y": 10}, 8),
        ("bitand(x, y)", {"x": -6, "y": 3}, 2),
        ("bitand(x, 12)", {"x": 7.9}, 4),
        ("bitand(12, x)", {"x": 7.9}, 4),
        ("bitand(x, y)", {"x": "13", "y": "5"}, 5),
        ("bitand(x, 12)", {"x": "7.9"}, 4),
        ("bitor(x, y)", {"x": 12, "y": 10}, 14),
        ("bitor(x, y)", {"x": -6, "y": 3}, -5),
        ("bitor(x, 12)", {"x": 7.9}, 15),
        ("bitor(x, 12)", {"x": "7.9"}, 15),
        ("bitxor(x, y)", {"x": 12, "y": 10}, 6),
        ("bitxor(x, y)", {"x": -6, "y": 3}, -7),
        ("bitxor(x, 12)", {"x": 7.9}, 11),
        ("bitxor(x, 12)", {"x": "7.9"}, 11),
        ("bitnot(x)", {"x": 13.7}, -14),
        ("bitnot(x)", {"x": -7.5}, 6),  # -7.5 rounds down (toward zero) to -7; ~-7 = 6
        ("bitnot(x)", {"x": "13"}, -14),
        ("bitnot(x)", {"x": "13.7"}, -14),
        ("bitand(x, -1)", {"x": 2**62 + 1}, 2**62 + 1),
        ("bitor(x, 1)", {"x": "1E3"}, 1001),
    ],
)
def test_bitwise_table(expr: str, payload: Any, expected: int) -> None:
    check(expr, expected, payload)
    check(expr, expected, payload, V1)


# ---- nanvl ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, 3),
        ({"x": None}, 3),
        ({"x": 2.5}, 2.5),
        ({"x": 0}, 0),
        ({"x": "abc"}, "abc"),
        ({"x": True}, True),
        ({"x": [1]}, [1]),
        ({"x": {"k": 1}}, {"k": 1}),
    ],
)
def test_nanvl_table(payload: Any, expected: Any) -> None:
    check("nanvl(x, 3)", expected, payload)


def test_nanvl_second_argument() -> None:
    check("nanvl(x, 'dflt')", "dflt")
    assert call("nanvl(x, y)") is U
    check("nanvl(acos(2), 3)", 3)
    check("nanvl(x, y)", None, {"y": None})


def test_nanvl_nan_rows() -> None:
    # JSON has no NaN, so only a NaN produced inside the engine reaches this row.
    assert fmath.nanvl(float("nan"), 3) == 3
    assert fmath.nanvl(Decimal("NaN"), "d") == "d"
    assert fmath.nanvl(Decimal("1.5"), 3) == Decimal("1.5")
    assert fmath.nanvl(U, 3) == 3


# ---- shared conversions ---------------------------------------------------------------------------------


def test_round_down_int_and_round_down_clamped() -> None:
    # "Rounded down to the nearest Int" truncates toward zero (docs/semantics.md, Functions).
    assert fmath.round_down_int(7.9) == 7
    assert fmath.round_down_int(-7.1) == -7
    assert fmath.round_down_int(-0.5) == 0
    assert fmath.round_down_int("7.9") == 7
    assert fmath.round_down_int("-2.7") == -2
    assert fmath.round_down_int(Decimal("-2.5")) == -2
    assert fmath.round_down_int(Decimal("2.5")) == 2
    assert fmath.round_down_int(10**40) == 10**40
    assert fmath.round_down_int(True) is U
    assert fmath.round_down_int(None) is U
    assert fmath.round_down_int("x") is U
    assert fmath.round_down_int(Decimal("NaN")) is U
    assert fmath.round_down_clamped(Decimal("-2.411E247"), 0, 5) == 0
    assert fmath.round_down_clamped(1e300, 0, 1000) == 1000
    assert fmath.round_down_clamped("2.745", 0, 6) == 2
    assert fmath.round_down_clamped(-0.5, -1, 128) == 0
    assert fmath.round_down_clamped(-1.5, -1, 128) == -1
    assert fmath.round_down_clamped(5.5, 0, 5) == 5
    assert fmath.round_down_clamped(float("nan"), 0, 6) is U


# ---- properties ------------------------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.from_regex(r"-?[0-9]{1,40}(\.[0-9]{1,40})?([eE]-?[0-9]{1,3})?", fullmatch=True),
)
values = st.one_of(
    numbers,
    st.none(),
    st.booleans(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
python_values = st.one_of(
    values,
    st.sampled_from([float("nan"), float("inf"), -float("inf"), Decimal("NaN"),
                     Decimal("1E+999"), Decimal("-1E-999"), 10**400, U, Binary(b"\xff")]),
    st.decimals(allow_nan=False, allow_infinity=False),
)  # fmt: skip
ALL = sorted(DECLARED)
_RULES: dict[tuple[str, int], Any] = {}


def _rule(name: str, arity: int) -> Any:
    key = (name, arity)
    if key not in _RULES:
        args = ", ".join("abc"[:arity])
        _RULES[key] = iotsql.compile(f"SELECT {name}({args}) AS r FROM 't'", V2)
    return _RULES[key]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL), st.lists(st.one_of(values, st.just(U)), min_size=2, max_size=2))
def test_every_function_through_sql_never_raises(name: str, args: list[Any]) -> None:
    arity = DECLARED[name][0]
    payload = {k: v for k, v in zip("ab", args[:arity], strict=False) if v is not U}
    with cpu_at_most(2.0):
        output = _rule(name, arity).evaluate(json.dumps(payload).encode(), "t")
    assert output is not None
    result = output.value.get("r", U)
    assert result is U or type(result) in (int, float, str, bool, list, dict, type(None))
    json.dumps(output.value)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ALL), st.lists(python_values, min_size=2, max_size=2))
def test_every_implementation_never_raises(name: str, args: list[Any]) -> None:
    spec = lookup(name)
    assert spec is not None
    result = spec.impl(*args[: spec.min_args])
    assert result is U or type(result) in (
        int,
        float,
        Decimal,
        str,
        bool,
        list,
        dict,
        type(None),
        Binary,
    )
    if type(result) is float and math.isinf(result):
        assert any(type(a) is float and math.isinf(a) for a in args)  # abs(inf), nanvl(inf, x)
