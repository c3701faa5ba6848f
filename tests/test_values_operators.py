"""The value model's conversion tables and the operator tables, tested directly (the
conformance suite tests them again through SQL)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from strategies import json_values

import iotsql
from iotsql import operators as ops
from iotsql import values as v
from iotsql.values import UNDEFINED as U

SAMPLES = {
    "Int": 5,
    "Decimal": 2.5,
    "Boolean": True,
    "String": "-1.2",
    "Array": [1, "a"],
    "Object": {"k": 1},
    "Null": None,
    "Undefined": U,
}


def test_type_names() -> None:
    assert {name: v.type_name(value) for name, value in SAMPLES.items()} == {
        name: name for name in SAMPLES
    }
    assert v.type_name(Decimal("1.5")) == "Decimal"
    assert v.type_name(v.Binary(b"x")) == "Binary"


def test_conversion_tables_cover_every_type() -> None:
    for table in (v.TO_DECIMAL, v.TO_INT, v.TO_BOOLEAN, v.TO_STRING):
        assert set(SAMPLES) <= set(table)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5), (2.5, 2.5), (True, U), ("-1.2", Decimal("-1.2")), ("5E-12", Decimal("5E-12")),
        ("1.", U), (".5", U), ("+5", U), (" 5", U), ("0x1A", U), ("١٢", U),
        ([1], U), ({"a": 1}, U), (None, None), (U, U),
    ],
)  # fmt: skip
def test_to_decimal(value: object, expected: object) -> None:
    assert v.to_decimal(value) == expected or (v.to_decimal(value) is expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), (2.5, 3), (2.4, 2), (-2.5, -3), ("7.9", 7), ("-7.9", -7), (True, U), (None, None),
     ([1], U)],
)  # fmt: skip
def test_to_int(value: object, expected: object) -> None:
    assert v.to_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("TRUE", True), ("False", False), ("yes", U), (1, U), (0.0, U), (None, U)],
)
def test_to_boolean(value: object, expected: object) -> None:
    assert v.to_boolean(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, "5"), (2.5, "2.5"), (100.0, "100.0"), (1e10, "1.0E10"), (1.5e-5, "1.5E-5"),
        (Decimal("0.30"), "0.30"), (Decimal("1E+3"), "1E+3"), (True, "true"), ("s", "s"),
        (["a", 1, None, 2.5], '["a",1,null,2.5]'), ({"k": "v"}, '{"k":"v"}'), (None, U), (U, U),
    ],
)  # fmt: skip
def test_to_string(value: object, expected: object) -> None:
    assert v.to_string(value) == expected


def test_whole_numbers_become_ints_only_in_2016_03_23() -> None:
    assert v.finalize(10.0, whole_ints=True) == 10 and type(v.finalize(10.0, True)) is int
    assert type(v.finalize(10.0, whole_ints=False)) is float
    for whole in (Decimal("5.00"), Decimal("-5.00")):  # (== alone would take 5.0 for 5)
        assert v.finalize(whole, True) == whole and type(v.finalize(whole, True)) is int
    assert v.finalize(Decimal("5"), False) == 5 and type(v.finalize(Decimal("5"), False)) is int
    assert type(v.finalize(Decimal("5.0"), False)) is float
    assert v.finalize(1e40, True) == 1e40  # past 34 digits an Int cannot hold it


def test_decode_body() -> None:
    assert v.decode_body(b'{"a": 10.0, "b": 1.5}', whole_ints=True) == {"a": 10, "b": 1.5}
    assert type(v.decode_body(b'{"a": 10.0}', whole_ints=False)["a"]) is float
    assert v.decode_body(b'{"a": 36.903999599999999}', False)["a"] == 36.9039996
    for body in (b"\xff\xfe", b"NaN", b'{"a": NaN}', b"[" * 100_000, b"", b"hello"):
        assert isinstance(v.decode_body(body, True), v.Binary)


_PADDING = st.sampled_from(["", " ", "\n", "\t\r\n ", "\u00a0", "\ufeff", "x", ",", "]"])


@given(st.one_of(json_values.map(json.dumps), st.text(max_size=12)), _PADDING, _PADDING)
@settings(max_examples=400, deadline=None)
def test_the_standard_library_body_decoder_reads_what_json_decode_reads(
    text: str, before: str, after: str
) -> None:
    """values._stdlib_decode_body calls the decoder's scanner without JSONDecoder.decode's
    Python wrappers: the same value, and the same refusals (something before or after the value
    other than JSON whitespace, no value, invalid JSON), for both SQL versions."""
    body = (before + text + after).encode("utf-8", "surrogatepass")
    for whole, decoder in ((True, v._DECODE_V2), (False, v._DECODE_V1)):
        try:
            expected = decoder.decode(body.decode("utf-8"))
        except (ValueError, RecursionError):
            assert isinstance(v._stdlib_decode_body(body, whole), v.Binary)
            continue
        got = v._stdlib_decode_body(body, whole)
        assert repr(got) == repr(expected), (body, got, expected)


_ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
_ENCODABLE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _ANY_FLOAT, st.text()),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.one_of(_ENCODABLE, json_values))
@settings(max_examples=400, deadline=None)
def test_the_standard_library_encoder_writes_what_json_encode_writes(value: object) -> None:
    """values._stdlib_encode calls one C encoder without JSONEncoder.encode's wrappers: the
    same text for every value (lone surrogates included, which take the \\u escapes)."""
    expected = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode(value)
    assert v._encode_text(value) == expected
    try:
        body = expected.encode("utf-8")
    except UnicodeEncodeError:
        body = json.dumps(value, separators=(",", ":")).encode("ascii")
    assert v._stdlib_encode(value) == body
    if json.encoder.c_make_encoder is not None:  # (CPython) the C encoder is in use
        assert v._encode_text != v._ENCODER.encode


_PLAIN_TEXT = st.text(alphabet="abc xyz019", max_size=8)
_PLAIN = st.recursive(
    _PLAIN_TEXT,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=4)
        | st.dictionaries(_PLAIN_TEXT, inner, min_size=1, max_size=4)
    ),
    max_leaves=12,
)


@given(_PLAIN, json_values)
@settings(max_examples=200, deadline=None)
def test_json_size_at_least_is_a_lower_bound_exact_for_plain_text(
    plain: object, value: object
) -> None:
    """What refuses a too-big value before it is built: never more than the JSON text, and
    exact for ASCII strings in nested non-empty arrays and objects (only numbers, literals,
    escapes and empty containers are counted short), so nothing nested escapes the measure."""
    unbounded = 10**9
    assert v.json_size_at_least(plain, unbounded) == len(v.json_text(plain))
    assert v.json_size_at_least(value, unbounded) <= len(v.json_text(value))
    assert v.json_size_at_least({"k": [plain]}, unbounded) == len(v.json_text({"k": [plain]}))


def test_sql_versions() -> None:
    assert v.SqlVersion.parse(None) is v.V1
    assert v.SqlVersion.parse("2016-03-23") is v.V2
    assert v.SqlVersion.BETA.at_least(v.V2) and not v.V1.at_least(v.V2)
    with pytest.raises(v.IotSqlError):
        v.SqlVersion.parse("2020-01-01")


# ---- operators ---------------------------------------------------------------------------------


def test_every_operator_has_its_table() -> None:
    assert {"AND", "OR", "NOT", "=", "<>", "+", "%", "IN"} <= set(ops.TABLES)


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("AND", True, True, True), ("AND", True, "FALSE", False), ("AND", True, 1, U),
        ("AND", False, U, False), ("OR", "true", False, True), ("OR", None, True, True),
        ("OR", True, U, True), ("OR", U, "TRUE", True), ("OR", False, U, U), ("OR", None, False, U),
        ("AND", U, "false", False), ("AND", True, None, U),
        ("=", 5, 5.0, True), ("=", "a", "a", True), ("=", [1, {"a": 2}], [1.0, {"a": 2}], True),
        ("=", {"a": 1, "b": 2}, {"b": 2, "a": 1}, True), ("=", 1, "1", False),
        ("=", True, 1, False), ("=", None, None, True), ("=", 1, U, U),
        ("<>", None, None, False), ("<>", 1, "a", True), ("<>", U, 1, U),
        ("<", 1, 2, True), ("<", "1", 2, True), ("<", "a", "b", U), ("<", True, 1, U),
        (">=", 28.1, Decimal("28.1"), True), (">", 28.1, Decimal("28.1"), False),
        ("+", 1, 2, 3), ("+", "a", 1, "a1"), ("+", 1.5, "x", "1.5x"), ("+", "a", None, U),
        ("+", 0.1, 0.2, Decimal("0.3")), ("+", "1", "2", "12"), ("+", True, 1, U),
        ("-", "5", 2, Decimal("3")), ("-", "x", 2, U), ("*", 2, 3, 6), ("*", 1.5, 2, Decimal("3.0")),
        ("/", 90, 9, 10), ("/", 7, 2, Decimal("3.5")), ("/", -7, 2, Decimal("-3.5")), ("/", 1, 0, U),
        ("/", 1.0, 3, Decimal("0.3333333333333333333333333333333333")),
        ("%", 7, -3, 1), ("%", -7, 3, -1), ("%", 7.5, 2, Decimal("1.5")), ("%", 1, 0, U),
        ("IN", 3, [1, 3.0], True), ("IN", "3", [3], False), ("IN", 3, "3", U), ("IN", U, [U], U),
    ],
)  # fmt: skip
def test_operator_rows(op: str, left: object, right: object, expected: object) -> None:
    result = ops.BINARY_OPERATORS[op](left, right)
    assert type(result) is type(expected) and (result == expected or result is expected)


def test_unary_operators() -> None:
    assert ops.op_not("TRUE") is False and ops.op_not(1) is U
    assert ops.op_neg(5) == -5 and ops.op_neg("2.5") == Decimal("-2.5") and ops.op_neg([1]) is U


def test_get_item() -> None:
    assert ops.get_item(["a", "b"], 1) == "b"
    assert ops.get_item(["a", "b"], "1") == "b"
    assert ops.get_item(["a"], -1) is U and ops.get_item(["a"], 5) is U
    assert ops.get_item("abc", 0) == "a"
    assert ops.get_item({"a": 1}, "a") == 1 and ops.get_item({"1": 1}, 1) is U
    assert ops.get_item(5, 0) is U


def _family(value: object) -> object:
    """What `=` compares: Int and Decimal as numbers, every other type only with itself."""
    return "number" if type(value) in (int, float, Decimal) else type(value)


_BOOLEAN_RESULTS = frozenset({"AND", "OR", "=", "<>", "!=", "<", "<=", ">", ">=", "IN"})


@given(json_values, json_values)
@example(True, 1)
@example(1, False)
@example("TRUE", "2")
@example("fAlSe", 10**40)
@example(1, 1.0)
@example([1, {"a": True}], [1.0, {"a": 1}])
@example({"k": [None]}, {"k": [None]})
@example("2", 10)
@settings(max_examples=300, deadline=None)
def test_operators_never_raise(left: object, right: object) -> None:
    # Each operator gives a value of its table's result type, or Undefined (never raises).
    for name, op in ops.BINARY_OPERATORS.items():
        result = op(left, right)
        if name in _BOOLEAN_RESULTS:
            assert result is U or type(result) is bool, (name, result)
        elif name == "+" and str in (type(left), type(right)):
            assert result is U or type(result) is str, (name, result)
        else:
            assert result is U or type(result) in (int, Decimal), (name, result)
    # = and <> never convert and are defined on defined operands: reflexive, symmetric, each
    # other's negation, and what IN applies to each element.
    equal = ops.op_eq(left, right)
    assert type(equal) is bool and ops.op_ne(left, right) is (not equal)
    assert ops.op_eq(right, left) is equal and ops.op_eq(left, left) is True
    assert ops.op_in(left, [right]) is equal and ops.op_in(left, []) is False
    if _family(left) != _family(right):
        assert equal is False  # mismatched types: a Boolean is not a number, "1" is not 1
    # < <= > >= are all defined or all Undefined, and consistent with each other.
    lt, le, gt, ge = (ops.BINARY_OPERATORS[o](left, right) for o in ("<", "<=", ">", ">="))
    if lt is U:
        assert le is U and gt is U and ge is U
    else:
        assert ge is (not lt) and le is (not gt) and not (lt and gt)
    if type(left) in (int, float) and type(right) in (int, float):
        assert lt is (left < right) and equal is (left == right)  # type: ignore[operator]
    negated = ops.op_not(left)
    if type(left) is bool:
        assert negated is (not left)
    elif type(left) is str and left.lower() in ("true", "false"):
        assert negated is (left.lower() == "false")
    else:
        assert negated is U
    minus = ops.op_neg(left)
    assert minus is U or type(minus) in (int, float, Decimal)
    if type(left) in (int, float):
        assert minus == -left  # type: ignore[operator]
    text = v.to_string(left)
    assert text is U or type(text) is str
    assert (text is U) is (left is None)
    number = v.to_int(left)
    assert number is U or number is None or type(number) is int
    if type(left) is int:
        assert number == left


@pytest.mark.parametrize("backend", ["json", "orjson"])
def test_both_json_backends_read_and_write_the_same_values(backend: str) -> None:
    pytest.importorskip(backend)
    previous = v.json_backend()
    v.set_json_backend(backend)
    try:
        body = b'{"a": 10.0, "b": [1.5, {"c": 2.0}], "big": 123456789012345678901234567890}'
        assert v.decode_body(body, True) == {"a": 10, "b": [1.5, {"c": 2}],
                                             "big": 123456789012345678901234567890}  # fmt: skip
        assert type(v.decode_body(body, False)["a"]) is float
        for bad in (b"NaN", b'{"a": 1e400}', b"\xff", b""):
            assert isinstance(v.decode_body(bad, True), v.Binary)
        assert v.encode_json({"k": "é", "n": [1, 2.5, None, True]}) == (
            '{"k":"é","n":[1,2.5,null,true]}'.encode()
        )
        assert v.encode_json({"big": 10**30}) == b'{"big":1000000000000000000000000000000}'
    finally:
        v.set_json_backend(previous)
    with pytest.raises(v.IotSqlError):
        v.set_json_backend("simplejson")


def _strict(value: object) -> object:
    """A JSON value with each number tagged by its type, so that 10 and 10.0 differ."""
    if isinstance(value, dict):
        return {k: _strict(item) for k, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return (type(value).__name__, value)


@pytest.mark.parametrize("backend", ["json", "orjson"])
def test_whole_doubles_in_arrays_become_ints_on_both_backends(backend: str) -> None:
    # 2016-03-23 processes whole-number Decimals as Ints wherever they sit: inside arrays,
    # arrays of arrays, and a top-level array or number; 2015-10-08 keeps them doubles.
    pytest.importorskip(backend)
    previous = v.json_backend()
    v.set_json_backend(backend)
    try:
        read = v.decode_body
        assert _strict(read(b'{"a": [10.0, 1.5]}', True)) == _strict({"a": [10, 1.5]})
        assert _strict(read(b"[2.0]", True)) == _strict([2])
        assert _strict(read(b'[[3.0, {"b": [4.0, -0.0]}], 1.5]', True)) == _strict(
            [[3, {"b": [4, 0]}], 1.5]
        )
        assert _strict(read(b"2.0", True)) == _strict(2)
        assert _strict(read(b'{"a": [10.0, 1.5]}', False)) == _strict({"a": [10.0, 1.5]})
        assert _strict(read(b"[2.0, [3.0]]", False)) == _strict([2.0, [3.0]])
        assert _strict(read(b"2.0", False)) == _strict(2.0)
        v2 = iotsql.compile("SELECT a, get(a, 0) AS first FROM 't'", "2016-03-23")
        out = v2.evaluate(b'{"a": [10.0, 1.5]}')
        assert out is not None and out.to_bytes() == b'{"a":[10,1.5],"first":10}'
        top = iotsql.compile("SELECT VALUE (SELECT VALUE x FROM * AS x) FROM 't'", "2016-03-23")
        out = top.evaluate(b"[2.0, [3.0]]")
        assert out is not None and out.to_bytes() == b"[2,[3]]"
        v1 = iotsql.compile("SELECT a, get(*, 0) AS first FROM 't'", "2015-10-08")
        out = v1.evaluate(b'{"a": [10.0, 1.5]}')
        assert out is not None and out.to_bytes() == b'{"a":[10.0,1.5]}'
        out = v1.evaluate(b"[2.0]")
        assert out is not None and out.to_bytes() == b'{"first":2.0}'
    finally:
        v.set_json_backend(previous)
