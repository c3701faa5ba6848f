"""Hostile payloads: invalid UTF-8, invalid JSON, NaN/Infinity, numbers beyond the doubles,
duplicate keys, deep nesting, huge arrays and strings. Each is JSON with AWS's semantics or a
binary body (SELECT * passes it through, attributes are Undefined), evaluation ends in an
output, Undefined or EvaluationError (never a RecursionError), in bounded time, with either
JSON library."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import pytest
from hostile_support import SQS, bounded, nested_object
from strategies import deep_json

import iotsql
from iotsql import LimitExceededError
from iotsql.errors import EvaluationError, InvalidPayloadError, IotSqlError
from iotsql.output import Output

STAR = "SELECT * FROM 'a'"
ATTR = "SELECT a FROM 'a'"


def _evaluate(sql: str, payload: bytes | object) -> iotsql.Output | None:
    return bounded(lambda: iotsql.compile(sql).evaluate(payload))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a": "\xff"}',
        b"\xff\xfe\x00",
        b'{"a": 1',
        b'{"a": 1} trailing',
        b"{'a': 1}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b"NaN",
        b'{"a": 1e400}',
        b'{"a": -1e400}',
        b"[1e999]",
        b'{"a": ' + b"9" * 5_000 + b"}",
    ],
    ids=lambda p: repr(p[:16]),
)
def test_bodies_that_are_not_json_are_binary(backend: str, payload: bytes) -> None:
    out = _evaluate(STAR, payload)
    assert out is not None and out.is_binary and out.to_bytes() == payload
    assert _evaluate(ATTR, payload).value == {}  # type: ignore[union-attr]
    assert _evaluate("SELECT encode(*, 'base64') AS b FROM 'a'", payload).value == {  # type: ignore[union-attr]
        "b": __import__("base64").b64encode(payload).decode()
    }


def test_numbers_that_underflow_are_zero(backend: str) -> None:
    assert _evaluate(ATTR, b'{"a": 1e-400}').value == {"a": 0}  # type: ignore[union-attr]


def test_duplicate_keys_keep_the_last_value(backend: str) -> None:
    assert _evaluate(ATTR, b'{"a": 1, "a": 2}').value == {"a": 2}  # type: ignore[union-attr]


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff", b"\\udc00\\ud800"])
def test_lone_surrogates_read_and_write_as_valid_json(backend: str, escape: bytes) -> None:
    payload = b'{"a": "x' + escape + b'y", "n": 1}'
    for sql in (STAR, ATTR, "SELECT *, 1 AS one FROM 'a'", "SELECT VALUE [a, a] FROM 'a'"):
        out = _evaluate(sql, payload)
        assert out is not None
        body = json.loads(out.to_bytes())
        assert json.loads(payload)["a"] in json.dumps(body, ensure_ascii=False)
    length = _evaluate("SELECT length(a) AS n, numbytes(a) AS b FROM 'a'", payload)
    assert length is not None and length.value["n"] == 2 + len(escape) // 6


@pytest.mark.parametrize("depth", [2_000, 5_000, 20_000])
@pytest.mark.parametrize("kind", ["{", "["])
def test_json_deeper_than_the_decoders_take_is_binary(backend: str, depth: int, kind: str) -> None:
    payload = deep_json(depth, kind)
    out = _evaluate(STAR, payload)
    assert out is not None and out.is_binary and out.to_bytes() == payload
    assert _evaluate("SELECT a.a.a AS x, *.a AS y FROM 'a'", payload).value == {}  # type: ignore[union-attr]


DEEP_SQL = [
    STAR,
    "SELECT *, 1 AS one FROM 'a'",
    "SELECT VALUE a FROM 'a'",
    "SELECT a.a.a.a.a AS x FROM 'a'",
    "SELECT a = a AS eq, a <> a AS ne, a IN [a] AS i FROM 'a'",
    "SELECT cast(a AS String) AS s FROM 'a'",
    "SELECT concat(a, 'x') AS s, md5(a) AS h, length(a) AS n FROM 'a'",
    "SELECT [a, a] AS arr, {'k': a} AS obj FROM 'a'",
    "SELECT (SELECT VALUE a FROM *) AS q FROM 'a'",
    "SELECT * FROM 'a' WHERE a = a",
    "SET @v = a SELECT @v AS v FROM 'a'",
    "SELECT transform('enrichArray', a, [a]) AS t FROM 'a'",
]


@pytest.mark.parametrize("depth", [100, 300, 600, 900, 990, 1_100])
@pytest.mark.parametrize("sql", DEEP_SQL)
def test_deep_json_the_decoders_take_evaluates_without_recursion_errors(
    backend: str, depth: int, sql: str
) -> None:
    payload = deep_json(depth, "{")
    try:
        out = _evaluate(sql, payload)
        if out is not None:
            body = out.to_bytes()
            if not out.is_binary:
                json.loads(body)
    except EvaluationError as err:
        assert "nested too deeply" in str(err)


def test_deep_json_through_the_engine_is_a_rule_failure_at_worst(backend: str) -> None:
    engine = iotsql.RulesEngine()
    for index, sql in enumerate(DEEP_SQL):
        engine.create_topic_rule(f"R{index}", {"sql": sql, "awsIotSqlVersion": "2016-03-23",
                                              "actions": [SQS]})  # fmt: skip
    for depth in (300, 900, 990, 5_000):
        report = bounded(lambda depth=depth: engine.publish("a", deep_json(depth, "{")))
        assert len(report.rules) == len(DEEP_SQL)
        for rule in report.rules:
            assert rule.error is None or "too deeply" in rule.error


def test_an_output_too_deep_to_serialise_is_an_evaluation_error_saying_so() -> None:
    # Past orjson's 255 levels the output goes to the pure-Python encoder; past the recursion
    # limit, what the actions would receive cannot be written: a rule failure that says why.
    doc = nested_object(5_001)
    with pytest.raises(EvaluationError, match=r"^the output is nested too deeply to serialise$"):
        Output(doc).to_bytes()


def test_a_deep_python_object_payload_is_an_iotsql_error() -> None:
    doc = nested_object(5_001)
    with pytest.raises(IotSqlError, match="nested too deeply"):
        iotsql.compile(STAR).evaluate(doc)
    with pytest.raises(IotSqlError):
        iotsql.RulesEngine().publish("a", doc)


@pytest.mark.parametrize(
    "number",
    [
        Decimal("NaN"),
        Decimal("-Infinity"),
        Decimal("sNaN"),
        Decimal("1E+400"),  # past the doubles, as the JSON body 1e400 is
        Decimal("-1E+100000"),
        10**5000,  # more digits than Python writes (sys.get_int_max_str_digits)
    ],
    ids=["nan", "-infinity", "snan", "1e400", "-1e100000", "int-5001-digits"],
)
def test_python_payload_numbers_that_no_json_body_holds_are_iotsql_errors(
    backend: str, number: object
) -> None:
    # A Python object payload holding them was a TypeError or ValueError traceback (or an
    # int of 10**999999999 being made); a JSON body with such a number is not JSON.
    with pytest.raises(InvalidPayloadError, match=r"not a JSON value|not JSON values"):
        bounded(lambda: iotsql.compile(STAR).evaluate({"a": [number]}))
    with pytest.raises(InvalidPayloadError):
        bounded(lambda: iotsql.RulesEngine().publish("a", {"a": number}))
    largest = {"a": Decimal(repr(sys.float_info.max)), "b": 10**4299}
    assert bounded(lambda: iotsql.compile(STAR).evaluate(largest)) is not None


def test_huge_arrays_and_strings_at_the_payload_limit_are_bounded(backend: str) -> None:
    array = b'{"arr": [' + b",".join([b"1"] * 60_000) + b"]}"  # about 120 KB
    text = b'{"s": "' + b"x" * 120_000 + b'"}'
    objects = b"[" + b",".join([b'{"v":1}'] * 16_000) + b"]"
    rules = [
        ("SELECT arr FROM 'a'", array),
        ("SELECT VALUE (SELECT VALUE x * 2 FROM arr AS x) FROM 'a'", array),
        ("SELECT get(arr, 59999) AS last, 59999 IN arr AS found FROM 'a'", array),
        ("SELECT concat(arr, arr) AS twice FROM 'a'", array),
        ("SELECT s, length(s) AS n FROM 'a'", text),
        ("SELECT upper(s) AS u, length(s) AS n FROM 'a'", text),
        ("SELECT regexp_replace(s, 'x', 'yy') AS r FROM 'a'", text),
        ("SELECT VALUE (SELECT VALUE v FROM *) FROM 'a'", objects),
        (STAR, objects),
    ]
    for sql, payload in rules:
        out = _evaluate(sql, payload)
        assert out is not None
        json.loads(bounded(out.to_bytes))


def test_payloads_over_the_size_limit_are_refused_at_publish() -> None:
    engine = iotsql.RulesEngine()
    payload = b'{"s": "' + b"x" * (128 * 1024) + b'"}'
    with pytest.raises(LimitExceededError) as info:
        engine.publish("a", payload)
    assert info.value.limit == "payload size (bytes)"
    assert info.value.value == len(payload) and info.value.maximum == 128 * 1024
    small = iotsql.RulesEngine(limits=iotsql.Limits(max_payload_bytes=10))
    small.publish("a", b"0123456789")
    with pytest.raises(LimitExceededError):
        small.publish("a", b"0123456789!")


def test_every_json_value_type_at_the_top_level(backend: str) -> None:
    for payload in (b"null", b"true", b"80", b"1.5", b'"s"', b"[]", b"[1,2]", b"", b" "):
        out = _evaluate(STAR, payload)
        assert out is not None and out.to_bytes() == payload
        assert _evaluate("SELECT a, *.b AS b FROM 'a'", payload).value == {}  # type: ignore[union-attr]


CONTEXT_SQL = "SELECT clientid() AS c, timestamp() AS t, traceid() AS tr FROM 'a'"


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"timestamp": float("inf")}, "finite number"),
        ({"timestamp": float("nan")}, "finite number"),
        ({"timestamp": 10**30}, "within a Java long"),
        ({"timestamp": -(2**63) - 1}, "within a Java long"),
        ({"clientid": 5}, "clientid must be a string, not int"),
        ({"traceid": object()}, "traceid must be a string, not object"),
        ({"principal": b"p"}, "principal must be a string, not bytes"),
        ({"sourceip": ["1.2.3.4"]}, "sourceip must be a string, not list"),
        ({"accountid": 123456789012}, "accountid must be a string, not int"),
    ],
)
def test_a_context_value_of_the_wrong_kind_is_an_iotsql_error(
    context: dict[str, object], message: str
) -> None:
    # Before: an infinite or NaN timestamp raised OverflowError/ValueError, and a context
    # value that was not text went into the output as it was (an object made the output
    # unserialisable).
    with pytest.raises(IotSqlError, match=message):
        iotsql.compile(CONTEXT_SQL).evaluate(b"{}", context=context)
    with pytest.raises(IotSqlError, match=message):
        iotsql.RulesEngine().publish("a", b"{}", context=context)


def test_context_timestamps_at_the_ends_of_a_java_long_are_kept() -> None:
    rule = iotsql.compile(CONTEXT_SQL)
    for stamp in (2**63 - 1, -(2**63), 1.7e12):
        out = rule.evaluate(b"{}", context={"timestamp": stamp, "clientid": "d1"})
        assert out is not None and out.value["t"] == int(stamp) and out.value["c"] == "d1"
