"""The generated statement functions (iotsql/codegen.py) and raw documents (values.settle_leaf)
against the compiler's closures on the settled document: for generated statements and message
bodies, `evaluate` on a bytes body gives the same output with orjson (raw decode, whole floats
settled where paths read them) as with the standard library, and as the closures of the
statement compiled for settled documents."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import statements

import iotsql
from iotsql import RulesEngine, ast
from iotsql.codegen import NOT_FIRED, source_of
from iotsql.compiler import truthy
from iotsql.errors import IotSqlError
from iotsql.output import Output
from iotsql.values import (
    DECIMAL_CONTEXT,
    UNDEFINED,
    codec,
    decode_body,
    json_backend,
    set_json_backend,
)

orjson = pytest.importorskip("orjson")

BACKENDS = ("orjson", "json")
#: The time `timestamp()` reads, the same in every evaluation.
CONTEXT = iotsql.Context(timestamp=1_700_000_000_000)


@contextmanager
def backend(name: str) -> Iterator[None]:
    previous = json_backend()
    set_json_backend(name)
    try:
        yield
    finally:
        set_json_backend(previous)


# ---- bodies: JSON text with the number spellings that matter ------------------------------------

#: Number texts whose value depends on how they are read: whole doubles (an Int in 2016-03-23),
#: integers past 64 bits (orjson reads them as doubles), whole numbers past 2**53 written with a
#: fraction (the double is another number), exponents, negative zero.
NUMBER_TEXTS = [
    "0", "1", "-3", "2.5", "25.0", "25.00", "-0.0", "1e2", "1.5E1", "0.1", "28.05", "40",
    "3.5", "1e20", "-1e20", "123456789012345678901234", "9007199254740993.0",
    "9007199254740993", "18446744073709551616", "1e-7", "1e300", "4.0e0", "100000000000000000000",
]  # fmt: skip


class Number:
    def __init__(self, text: str) -> None:
        self.text = text


def write(value: Any) -> str:
    if isinstance(value, Number):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{write(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(write(v) for v in value) + "]"
    return json.dumps(value)


scalars = st.one_of(
    st.sampled_from(NUMBER_TEXTS).map(Number),
    st.sampled_from(["x", "y", "X", "true", "off", "on", "5", "2.5", ""]),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["x", "y", "a", "s"]), children, max_size=3),
    ),
    max_leaves=8,
)
NAMES = ["a", "b", "s", "n", "l", "status", "reading"]
bodies = st.dictionaries(st.sampled_from(NAMES), values, max_size=6).map(
    lambda doc: write(doc).encode()
)

# ---- statements: the shapes the generator writes out, and others --------------------------------

ITEMS = [
    "a", "b", "n.x", "n.x.y", "n", "l", "l[0]", "get(l, 1)", "upper(s)", "trunc(a, 1)",
    "abs(b)", "a * 9 / 5 + 32", "b * 2", "2 - a", "cast(a AS String)", "cast(s AS Int)", "-a",
    "NOT b", "CASE s WHEN 'x' THEN 1 WHEN 'y' THEN 'why' ELSE 0 END", "CASE s WHEN 'x' THEN a "
    "ELSE b END", "CASE WHEN a > 1 THEN 'big' END", "a + b", "'k'", "5", "2.50", "null",
    "isUndefined(a)", "concat(s, 'z')", "a > 2", "s = 'x'", "[a, 1]", "{'k': n}", "topic(1)",
    "get_or_default(n.x, 7)", "substring(s, 0, 1)", "status", "reading * 2", "{'m':a}",
    "timestamp()", "sql_version()", "topic()", "topic(2)", "topic(3)", "topic(0)", "clientid()",
    "trunc((a * 9 / 5) + 32, 1)", "round(b * 1.5)", "ceil(2 / b)", "floor(n.x - 0.1)", "sign(a)",
    "lower(s)", "1e308 * a * 10", "0.1 + b + 0.2", "(a - 32) * 5 / 9",
]  # fmt: skip
CONDITIONS = [
    "a > 2", "a <> 0", "a = 25", "s = 'x'", "s <> 'x'", "n.x >= 1.5", "b < 10", "upper(s) = 'X'",
    "isUndefined(a)", "a", "s", "a * 2 > 5", "NOT (a < 1)", "status <> 'off'", "reading > 12",
    "n.x.y = 4", "l[0] = 1", "a IN [1, 25]", "cast(a AS String) = '25'",
]  # fmt: skip


@st.composite
def sql_statements(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 4))
    items = draw(st.lists(st.sampled_from(ITEMS), min_size=count, max_size=count))
    aliased = draw(st.booleans())
    shape = draw(st.sampled_from(["list", "list", "list", "star", "value", "star-and"]))
    if shape == "star":
        select = "*"
    elif shape == "value":
        select = f"VALUE {items[0]}"
    else:
        nested = draw(st.booleans())
        listed = ", ".join(
            f"{item} AS {'k.z' if nested and index == 0 else f'k{index}'}"
            if aliased or "(" in item or " " in item
            else item
            for index, item in enumerate(items)
        )
        select = f"*, {listed}" if shape == "star-and" else listed
    conditions = draw(st.lists(st.sampled_from(CONDITIONS), max_size=3))
    joiner = draw(st.sampled_from([" AND ", " OR "]))
    where = f" WHERE {joiner.join(conditions)}" if conditions else ""
    return f"SELECT {select} FROM 't/#'{where}"


def outcome(rule: iotsql.CompiledRule, body: bytes, name: str) -> Any:
    """What `evaluate` gives on `body` with JSON library `name`: the output's value, its type
    tree and its bytes, or the error's type and text."""
    with backend(name):
        try:
            out = rule.evaluate(body, topic="t/q", context=CONTEXT)
            if out is None:
                return None
            return (repr(out.value), typed(out.value), as_json(out.to_bytes()))
        except IotSqlError as err:
            return (type(err).__name__, str(err))


def as_json(body: bytes) -> Any:
    """The JSON value of an output body, numbers as their exact text reads (each library
    writes the same double its own way: `1e20`, `1e+20`); a body that is not JSON as is."""
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError:
        return body


def typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return type(value).__name__


def closures_outcome(rule: iotsql.CompiledRule, body: bytes) -> Any:
    """The same through the closures of the statement compiled for settled documents, on the
    standard library's decode (no generated function, no raw document)."""
    settled = rule.settled_statement()
    whole = rule.sql_version.whole_decimals_are_ints
    with backend("json"):
        doc = decode_body(body, whole)
        message = iotsql.Message(body, "t/q", CONTEXT)
        run = iotsql.message.Run(message, "t/q", rule.sql_version.value, None, None, 0)
        try:
            if settled.condition is not None and not settled.condition(doc, run):
                return None
            value = doc if settled.select.passthrough else settled.select.build(doc, run)
            out = (
                Output(value, None, rule.limits.max_output_bytes)
                if type(value) is dict
                else rule._output(value, doc, body)
            )
            if out is None:
                return None
            return (repr(out.value), typed(out.value), as_json(out.to_bytes()))
        except IotSqlError as err:
            return (type(err).__name__, str(err))


@given(sql_statements(), bodies, st.sampled_from(["2015-10-08", "2016-03-23"]))
@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_statements_and_raw_documents_match_the_closures(
    sql: str, body: bytes, version: str
) -> None:
    try:
        rule = iotsql.CompiledRule(sql, version)
    except IotSqlError:
        return  # a shape this version does not take (literals, nested queries...)
    expected = closures_outcome(rule, body)
    for name in BACKENDS:
        assert outcome(rule, body, name) == expected, (sql, body, name, source_of(rule._statement))


@given(statements, bodies)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_statement_evaluates_alike_with_both_json_libraries(
    statement: ast.Statement, body: bytes
) -> None:
    """Random statements of the whole grammar: orjson (raw documents where the statement reads
    only paths) and the standard library give the same outcome."""
    sql = ast.unparse(statement)
    try:
        rule = iotsql.CompiledRule(sql, "2016-03-23")
    except IotSqlError:
        return
    if rule.external_calls or "newuuid" in sql.lower() or "rand" in sql.lower():
        return  # different on every call
    results = [outcome(rule, body, name) for name in BACKENDS]
    assert results[0] == results[1], (sql, body)


#: Expressions of one operand the generator writes out (decimal arithmetic with constants,
#: functions whose other arguments are constants), and operand texts of every kind.
WRITTEN_OUT = [
    "a * 9 / 5 + 32", "2 - a", "(a - 32) * 5 / 9", "10 / a", "a / 3", "trunc((a * 9 / 5) + 32, 1)",
    "round(a * 1.5)", "ceil(2 / a)", "floor(a - 0.1)", "sign(a)", "trunc(a, 2)", "upper(a)",
    "lower(a)", "substring(a, 1)", "1e308 * a * 10", "abs(a) - 1",
    "cast(power(a, 0) AS String)", "cast(a * 2 AS String)", "cast(a * 4 / 2 AS String)",
    "cast(trunc(a * 2, 1) AS String)", "upper(a * 2)", "concat(a * 4 / 2, 'x')",
]  # fmt: skip
OPERANDS = [
    "2.5", "-0.75", "28.05", "25.0", "0", "7", "-3", "1e-7", "1e300", "123456789012345678901234",
    "9007199254740993.0", '"4.5"', '"x"', "true", "null", "[1.5]", '{"b": 2.5}',
]  # fmt: skip


@pytest.mark.parametrize("version", ["2015-10-08", "2016-03-23"])
@pytest.mark.parametrize("expression", WRITTEN_OUT)
def test_written_out_arithmetic_and_calls_match_the_closures(expression: str, version: str) -> None:
    """Every operand kind through every written-out shape: the generated function gives what
    the closures give (a step order, a missed Undefined or a whole-number rule gone wrong
    shows here on some operand)."""
    rule = iotsql.CompiledRule(f"SELECT {expression} AS k FROM 't/#'", version)
    source = source_of(rule._statement)
    assert source is not None
    assert "_Decimal(repr(" in source or "_IotSqlError" in source  # written out, not called
    for operand in [*OPERANDS, None]:
        body = b"{}" if operand is None else f'{{"a": {operand}}}'.encode()
        expected = closures_outcome(rule, body)
        for name in BACKENDS:
            assert outcome(rule, body, name) == expected, (expression, operand, name)


#: Scalings by a power of two, which a SELECT item takes as a product of doubles where that
#: prints as the decimal arithmetic (codegen._scaling_factor); `a * 3` and 2**21 do not.
SCALINGS = ["a * 2", "a / 2", "0.5 * a", "a * -8", "a * 1048576", "a / 1048576", "a * 0.25",
            "-4 * a", "a * 2097152", "a * 3"]  # fmt: skip
#: Doubles at the edges of that: subnormal, the smallest normal, 17-digit texts whose product
#: needs 18 digits, halves and quarters near 2**52, the largest double.
EDGE_DOUBLES = [
    5e-324, 2.2250738585072014e-308, 4.450147717014403e-308, 1e-300, 1.0000000000000002e-300,
    0.1, 0.3, 5.0000000000000018, 9.999999999999998, 28.05, 41.25, 1.0000000000000002,
    1125899906842623.8, 2251799813685247.5, 4503599627370495.5, 2**52 - 0.25, 2.0**52,
    9007199254740991.0, 1e22, 1.7976931348623157e308, 8.98846567431158e307, 0.0, -0.0, -41.25,
    -0.1, 3.0517578125e-05, 123.456e-10,
]  # fmt: skip


@pytest.mark.parametrize("version", ["2015-10-08", "2016-03-23"])
@pytest.mark.parametrize("expression", SCALINGS)
@given(
    st.one_of(
        st.sampled_from(EDGE_DOUBLES),
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x, 3)),
    )
)
@settings(max_examples=150, deadline=None)
def test_doubles_scaled_by_a_power_of_two_print_as_the_decimal_arithmetic(
    expression: str, version: str, number: float
) -> None:
    rule = iotsql.CompiledRule(f"SELECT {expression} AS k FROM 't/#'", version)
    source = source_of(rule._statement)
    assert source is not None
    assert ("_SCALED_HIGH" in source) == (expression not in ("a * 2097152", "a * 3")), source
    body = json.dumps({"a": number}).encode()
    expected = closures_outcome(rule, body)
    for name in BACKENDS:
        assert outcome(rule, body, name) == expected, (expression, number, name)


@pytest.mark.parametrize("number", [5.0000000000000018, 0.1, 41.25, 2**52 - 0.25])
def test_only_an_item_of_the_output_takes_the_product_of_doubles(number: float) -> None:
    """A scaled value passed on to another operator keeps the decimal arithmetic (the double
    nearest 5.0000000000000018 * 2 is not the decimal 10.0000000000000036 it stands for): only
    the item that stores it takes the product of doubles."""
    rule = iotsql.CompiledRule("SELECT a * 2 AS k, (a * 2) - b AS rest FROM 't/#'", "2016-03-23")
    source = source_of(rule._statement)
    assert source is not None and source.count("_SCALED_HIGH") == 1
    body = json.dumps({"a": number, "b": 10}).encode()
    expected = closures_outcome(rule, body)
    for name in BACKENDS:
        assert outcome(rule, body, name) == expected, (number, name)


@pytest.mark.parametrize("version", ["2015-10-08", "2016-03-23"])
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT n.x AS a, n.x.y AS b, n AS c, n.z AS d FROM 't/#'",
        "SELECT n.x.y AS b, n.x AS a FROM 't/#' WHERE n.x.y = 4 AND n.z <> 0",
        "SELECT s.r.t AS t, CASE s.r.m WHEN 'eco' THEN 1 ELSE 0 END AS m, s.q AS q, s.r AS r "
        "FROM 't/#' WHERE s.r.t <> 0",
        "SELECT *, n.x.y AS b, n.x.w[0] AS w FROM 't/#'",
    ],
)
def test_paths_that_start_alike_match_the_closures(sql: str, version: str) -> None:
    """Paths sharing a prefix continue from the object read on the way: every document shape
    (the prefix an object, a scalar, an array, missing; whole doubles on the way and at the
    end) gives what the closures give."""
    rule = iotsql.CompiledRule(sql, version)
    bodies = [
        b'{"n": {"x": {"y": 4, "w": [2.0]}, "z": 1.0}}', b'{"n": {"x": 5, "z": 0}}',
        b'{"n": [1, {"x": 1}]}', b'{"n": {"x": {"y": 4.0}}, "z": 3}', b'{"n": 2.0}',
        b'{"s": {"r": {"t": 1, "m": "eco"}, "q": 2.0}}', b'{"s": {"r": 3, "q": [1.0]}}',
        b'{"s": {"r": {"t": 2.5, "m": 1}}}', b"{}", b"[1]", b"7",
    ]  # fmt: skip
    for body in bodies:
        expected = closures_outcome(rule, body)
        for name in BACKENDS:
            assert outcome(rule, body, name) == expected, (sql, body, name)


# ---- what raw documents must get right ----------------------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(
    ("sql", "body", "version", "expected"),
    [
        ("SELECT a FROM 't'", b'{"a": 25.0}', "2016-03-23", b'{"a":25}'),
        ("SELECT a FROM 't'", b'{"a": 25.0}', "2015-10-08", b'{"a":25.0}'),
        ("SELECT a FROM 't'", b'{"a": {"b": [1.0, 2.5, {"c": 3.00}]}}', "2016-03-23",
         b'{"a":{"b":[1,2.5,{"c":3}]}}'),
        ("SELECT a FROM 't'", b'{"a": 123456789012345678901234}', "2016-03-23",
         b'{"a":123456789012345678901234}'),
        ("SELECT a FROM 't'", b'{"a": 9007199254740993.0}', "2016-03-23",
         b'{"a":9007199254740993}'),
        ("SELECT a.b AS x FROM 't'", b'{"a": {"b": 18446744073709551616}}', "2015-10-08",
         b'{"x":18446744073709551616}'),
        ("SELECT a FROM 't' WHERE a = 25", b'{"a": 25.0, "z": 1e400}', "2016-03-23", None),
        ("SELECT a FROM 't' WHERE a = 25", b'{"a": 25.0, "z": [2.0]}', "2016-03-23",
         b'{"a":25}'),
        ("SELECT VALUE a FROM 't'", b'{"a": [3.0]}', "2016-03-23", b"[3]"),
        # Deeper than evaluation walks: not a body the standard library reads, so not JSON.
        ("SELECT a FROM 't'", b'{"a":' + b"[" * 1000 + b"1.0" + b"]" * 1000 + b"}",
         "2016-03-23", b"{}"),
    ],
)  # fmt: skip
def test_raw_documents_settle_what_paths_read(
    name: str, sql: str, body: bytes, version: str, expected: bytes | None
) -> None:
    """A whole double read by a path is an Int in 2016-03-23 and stays a double in 2015-10-08,
    inside objects and arrays too; a number the double cannot hold exactly is read from its
    text; a body that is not JSON (1e400 is beyond the doubles; nesting deeper than the
    standard library reads) fires no WHERE and has no attributes."""
    rule = iotsql.CompiledRule(sql, version)
    with backend(name):
        out = rule.evaluate(body, topic="t")
        assert (None if out is None else out.to_bytes()) == expected


def test_a_statement_reads_raw_documents_only_through_paths() -> None:
    raw = iotsql.CompiledRule("SELECT a.b, upper(s) AS u FROM 't' WHERE c > 1", "2016-03-23")
    assert raw._raw
    for sql in (
        "SELECT * FROM 't'",
        "SELECT *, a FROM 't'",
        "SELECT (SELECT v FROM l) AS x FROM 't'",
        "SELECT get_dynamodb('t', 'k', 'v', 'arn:aws:iam::123456789012:role/r') AS d FROM 't'",
        "SELECT encode(*, 'base64') AS e FROM 't'",
    ):
        assert not iotsql.CompiledRule(sql, "2016-03-23")._raw, sql


def test_rules_of_both_versions_share_one_raw_document_without_changing_it() -> None:
    """The engine decodes a body once for all its rules: a 2016-03-23 rule settling `25.0` to
    25 where it reads it must leave the 2015-10-08 rule its double."""
    delivered: dict[str, bytes] = {}

    def keep(request: Any) -> None:
        delivered[request.rule_name] = request.payload

    keep.instant = True  # type: ignore[attr-defined]
    engine = RulesEngine()
    engine.register_sink("sqs", keep)
    action = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": "r"}}
    for name, version in (("new", "2016-03-23"), ("old", "2015-10-08"), ("new2", "2016-03-23")):
        engine.create_topic_rule(name, {"sql": "SELECT a, n FROM 't'", "awsIotSqlVersion": version,
                                        "actions": [action]})  # fmt: skip
    with backend("orjson"):
        engine.publish("t", b'{"a": 25.0, "n": {"m": [1.0]}}', report=False)
    assert delivered == {
        "new": b'{"a":25,"n":{"m":[1]}}',
        "old": b'{"a":25.0,"n":{"m":[1.0]}}',
        "new2": b'{"a":25,"n":{"m":[1]}}',
    }


def _keeper(delivered: dict[str, bytes]) -> Any:
    """An instant sink keeping each rule's last payload in `delivered`."""

    def keep(request: Any) -> None:
        delivered[request.rule_name] = request.payload

    keep.instant = True  # type: ignore[attr-defined]
    return keep


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("order", [("all", "some"), ("some", "all")])
@pytest.mark.parametrize(
    "body",
    [b'{"a": 25.0, "n": {"m": [1.0, 2.5]}, "b": "x"}', b'{"a": 1e300, "n": 9007199254740993.0}',
     b'[1.0]', b'not json', b'{"a": 18446744073709551616, "n": -0.0}'],
)  # fmt: skip
def test_a_rule_reading_paths_after_one_that_settled_the_document_reads_the_same(
    name: str, order: tuple[str, str], body: bytes
) -> None:
    """`SELECT *` decodes the settled document; a rule that reads only paths, run after it on
    the same message, reads that document instead of decoding the raw one (Message.raw_document):
    the same output as on its own, in either order, with both versions."""
    statements = {"all": "SELECT * FROM 't'", "some": "SELECT a, n.m[0] AS m, n FROM 't'"}
    for version in ("2015-10-08", "2016-03-23"):
        delivered: dict[str, bytes] = {}
        engine = RulesEngine()
        engine.register_sink("sqs", _keeper(delivered))
        action = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": "r"}}
        for rule_name in order:
            engine.create_topic_rule(rule_name, {"sql": statements[rule_name], "actions": [action],
                                                 "awsIotSqlVersion": version})  # fmt: skip
        with backend(name):
            engine.publish("t", body, report=False)
            for rule_name, sql in statements.items():
                alone = iotsql.CompiledRule(sql, version).evaluate(body, "t")
                expected = None if alone is None else alone.to_bytes()
                assert delivered.get(rule_name) == expected, (rule_name, version)


@pytest.mark.parametrize(
    ("versions", "decodes"),
    [
        # A rule reading paths first, then `SELECT *` of its version: the settled document
        # serves both, one decode.
        (("2016-03-23", "2016-03-23"), ["settled"]),
        (("2015-10-08", "2015-10-08"), ["settled"]),
        # Of another version: the raw document for the paths, the settled one for `*`.
        (("2015-10-08", "2016-03-23"), ["raw", "settled"]),
    ],
)
@pytest.mark.parametrize("report", [False, True])
def test_a_publish_decodes_once_for_a_rule_reading_paths_before_select_all(
    versions: tuple[str, str], decodes: list[str], report: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route whose rules include one that decodes the settled document anyway gives it to
    the rules of that version that read raw documents, whatever their order
    (Message.prefer_settled, from the route), with a report and without; the outputs are those
    of each rule alone."""
    body = b'{"a": 25.0, "n": {"m": [1.0, 2.5]}, "b": "x"}'
    statements = {"some": "SELECT a, n.m[0] AS m, n FROM 't'", "all": "SELECT * FROM 't'"}
    delivered: dict[str, bytes] = {}
    engine = RulesEngine()
    engine.register_sink("sqs", _keeper(delivered))
    action = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": "r"}}
    for (rule_name, sql), version in zip(statements.items(), versions, strict=True):
        engine.create_topic_rule(rule_name, {"sql": sql, "actions": [action],
                                             "awsIotSqlVersion": version})  # fmt: skip
    seen: list[str] = []
    with backend("orjson"):
        settle, raw = codec.decode_body, codec.decode_raw

        def settled_decode(data: bytes, whole_ints: bool) -> Any:
            seen.append("settled")
            return settle(data, whole_ints)

        def raw_decode(data: bytes) -> Any:
            seen.append("raw")
            return raw(data)

        monkeypatch.setattr(codec, "decode_body", settled_decode)
        monkeypatch.setattr(codec, "decode_raw", raw_decode)
        engine.publish("t", body, report=report)
        monkeypatch.undo()
        assert seen == decodes
        for (rule_name, sql), version in zip(statements.items(), versions, strict=True):
            alone = iotsql.CompiledRule(sql, version).evaluate(body, "t")
            assert alone is not None and delivered[rule_name] == alone.to_bytes(), rule_name


def test_the_generated_function_writes_out_paths_comparisons_and_lookups() -> None:
    """The shapes the generator knows become code, not calls: a path read twice is read once,
    and paths that start alike share the objects on the way."""
    rule = iotsql.CompiledRule(
        "SELECT state.reported.temp AS t, CASE state.reported.mode WHEN 'eco' THEN 1 ELSE 0 END "
        "AS eco, upper(status) AS s FROM 'x' WHERE state.reported.temp <> 0 AND status <> 'off'",
        "2016-03-23",
    )
    source = source_of(rule._statement)
    assert source is not None
    # Two reads from the document: `state` (on the way to temp, read by WHERE and SELECT once,
    # and to mode, the CASE's subject, which continues from `state.reported`) and status (read
    # by WHERE and upper(), once); `reported` is read once.
    assert source.count("d.get(") == 2
    assert source.count(".get(_k") - source.count("d.get(") == 3  # reported, temp, mode
    assert "(doc, run)" not in source.split(":", 1)[1]  # no node's closure is called
    doc = {"state": {"reported": {"temp": 21, "mode": "eco"}}, "status": "on"}
    assert rule._statement(doc, None) == {"t": 21, "eco": 1, "s": "ON"}
    assert rule._statement({**doc, "status": "off"}, None) is NOT_FIRED


@pytest.mark.parametrize("name", BACKENDS)
def test_where_reads_the_string_true_and_stops_at_the_first_false_operand(name: str) -> None:
    rule = iotsql.CompiledRule("SELECT 1 AS one FROM 't' WHERE s AND a > 1", "2016-03-23")
    with backend(name):
        assert rule.evaluate(b'{"s": "TRUE", "a": 2}', topic="t") is not None
        assert rule.evaluate(b'{"s": "yes", "a": 2}', topic="t") is None
        assert rule.evaluate(b'{"s": true, "a": 1}', topic="t") is None
    assert truthy("True") and not truthy(UNDEFINED)


def test_topic_routing_of_evaluate_is_remembered_and_bounded() -> None:
    rule = iotsql.CompiledRule("SELECT 1 AS one FROM 'a/+'", "2016-03-23")
    assert rule.evaluate(b"{}", topic="a/b") is not None
    assert rule.evaluate(b"{}", topic="b/b") is None
    assert rule.evaluate(b"{}", topic="$aws/rules/r/a/c") is not None  # Basic Ingest
    for number in range(5000):
        rule.evaluate(b"{}", topic=f"a/{number}")
    assert len(rule._topics) <= 4096
    assert rule.evaluate(b"{}", topic="b/b") is None
    assert codec.name in BACKENDS


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT *, topic(3) AS machine, timestamp() AS ts FROM 'f/#'",
        "SELECT topic() AS t, topic(1) AS a.b, topic(4) AS d, timestamp() AS ts FROM 'f/#'",
        "SELECT topic(2) AS level, clientid() AS c FROM 'f/#' WHERE topic(3) = 'm7'",
        "SELECT VALUE topic(3) FROM 'f/#'",
    ],
)
def test_topic_and_timestamp_read_inline_as_the_functions_compute_them(sql: str) -> None:
    """`topic(n)` and `timestamp()` are read inline, and `evaluate` makes a Run only for the
    context functions: the same outputs as the closures, on the broker's topic and on its Basic
    Ingest form, with a Context and with a mapping (which takes the general path)."""
    rule = iotsql.CompiledRule(sql, "2016-03-23")
    body = b'{"x": 1.0, "machine": "from the body"}'
    context = iotsql.Context(timestamp=1_700_000_000_123, clientid="c-1")
    for topic in ("f/cnc/m7/telemetry", "f/cnc/m7", "f/cnc", "$aws/rules/r1/f/cnc/m7/x"):
        seen = "/".join(topic.split("/")[3:]) if topic.startswith("$aws/rules/") else topic
        message = iotsql.Message(body, topic, context)
        run = iotsql.message.Run(message, seen, "2016-03-23", None, None, 0)
        settled = rule.settled_statement()
        doc = decode_body(body, True)
        expected = None
        if settled.condition is None or settled.condition(doc, run):
            made = rule._output(settled.select.build(doc, run), doc, body)
            expected = None if made is None else made.to_bytes()
        for passed in (context, {"timestamp": 1_700_000_000_123, "clientid": "c-1"}):
            out = rule.evaluate(body, topic=topic, context=passed)
            assert (None if out is None else out.to_bytes()) == expected, (topic, passed)
    out = rule.evaluate(body, topic="f/cnc/m7/telemetry", context=context)
    if out is not None and isinstance(out.value, dict) and "ts" in out.value:
        assert out.value["ts"] == 1_700_000_000_123
    stamped = rule.evaluate(body, topic="f/cnc/m7/telemetry")
    if stamped is not None and isinstance(stamped.value, dict) and "ts" in stamped.value:
        assert abs(stamped.value["ts"] - time.time() * 1000) < 60_000  # the time of the publish


def test_a_statement_too_big_to_write_out_evaluates_through_its_closures() -> None:
    """Thousands of SELECT items (128 KB of SQL allows them) would cost Python's compiler
    seconds: past codegen.MAX_GENERATED_LINES the function only calls the closures, with the
    same output."""
    items = ", ".join(f"a.b AS k{index}" for index in range(1000))
    rule = iotsql.CompiledRule(f"SELECT {items} FROM 't' WHERE a.b > 1", "2016-03-23")
    source = source_of(rule._statement)
    assert source is not None and source.count("\n") < 10
    out = rule.evaluate(b'{"a": {"b": 2.0}}', topic="t")
    assert out is not None and out.value == {f"k{index}": 2 for index in range(1000)}
    small = iotsql.CompiledRule("SELECT a.b AS k0 FROM 't' WHERE a.b > 1", "2016-03-23")
    small_source = source_of(small._statement)
    assert small_source is not None and "d.get(" in small_source


def test_rules_of_one_shape_share_their_code_and_globals_and_keep_their_constants() -> None:
    """The routing rules of a fleet differ in their constants only: their functions share one
    code object and one globals dict (CPython specializes a global's read for one dict; a
    dict per rule made every call miss), the constants being each function's own."""
    low, high = (
        iotsql.CompiledRule(f"SELECT reading, unit FROM 'a/{n}' WHERE reading > {n}", "2016-03-23")
        for n in (1, 30)
    )
    assert low._statement.__code__ is high._statement.__code__
    assert low._statement.__globals__ is high._statement.__globals__
    body = b'{"reading": 12.5, "unit": "C"}'
    fired = low.evaluate(body, topic="a/1")
    assert fired is not None and fired.value == {"reading": 12.5, "unit": "C"}
    assert high.evaluate(body, topic="a/30") is None
    other = iotsql.CompiledRule("SELECT upper(status) AS s FROM 'b' WHERE status <> 'off'")
    assert other._statement.__globals__ is low._statement.__globals__
    assert other._statement.__code__ is not low._statement.__code__


@pytest.mark.parametrize("sql", [
    "SELECT device_id, trunc((t * 9/5) + 32, 1) AS f, upper(s) AS s FROM 'b/#' "
    "WHERE h < 40 AND v >= 3.5 AND t <> 0",
    "SELECT a AS a, a AS b, 0.0 AS z, -0.0 AS n, a * 2 AS d FROM 't' WHERE a > 1 AND b > 1.0",
])  # fmt: skip
def test_a_statements_free_variables_are_its_own_constants_each_once(sql: str) -> None:
    """Every call copies the function's free variables: the functions every rule binds alike
    (operators, function implementations, the decimal context's methods) are shared globals,
    and a constant written twice is one variable (but `0.0` and `-0.0` stay two)."""
    function = iotsql.CompiledRule(sql, "2016-03-23")._statement
    values = [cell.cell_contents for cell in function.__closure__ or ()]
    constants = [(type(v), repr(v)) for v in values if isinstance(v, (str, int, float, Decimal))]
    assert len(constants) == len(set(constants)), constants
    for value in values:
        module = sys.modules.get(getattr(value, "__module__", None) or "")
        shared = getattr(module, getattr(value, "__name__", ""), None) is value
        assert not shared and getattr(value, "__self__", None) is not DECIMAL_CONTEXT, value
    if "-0.0" in sql:  # (2015-10-08 keeps whole doubles, the sign of zero with them)
        out = iotsql.CompiledRule(sql, "2015-10-08").evaluate(b'{"a": 2.5, "b": 2}', "t")
        assert out is not None
        assert out.to_bytes() == b'{"a":2.5,"b":2.5,"z":0.0,"n":-0.0,"d":5.0}'


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM 't'",
        "SELECT a, topic() AS t FROM 't' WHERE a > 1",
        "SET @x = a SELECT @x AS a FROM 't'",
    ],
)
def test_a_rule_run_by_the_engine_decides_an_ambiguous_number_on_the_settled_decode(
    sql: str,
) -> None:
    """CompiledRule.execute (what a publish runs) meets a number the raw document cannot hold
    exactly, and runs the statement compiled for settled documents: the SET variables and the
    output are the text's number, once."""
    rule = iotsql.CompiledRule(sql, "2016-03-23")
    assert rule._raw
    with backend("orjson"):
        message = iotsql.Message(b'{"a": 9007199254740993.0}', "t")
        variables: list[Any] = []
        out = rule.execute(message, "t", None, "r", variables)
    assert out is not None and out.value["a"] == 9007199254740993
    assert variables == ([9007199254740993] if "SET" in sql else [])
