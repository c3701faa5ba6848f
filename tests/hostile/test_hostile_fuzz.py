"""A short run of each fuzz target of tests/fuzz/fuzz_compile_and_evaluate.py (the long runs are
on demand), and the findings of the long runs, each kept as a regression test."""

from __future__ import annotations

import json

import pytest
from fuzz.fuzz_compile_and_evaluate import STRATEGIES, build, check_engine, check_statement
from hostile_support import SQS

import iotsql
from iotsql import LimitExceededError, RuleValidationError, SqlParseError
from iotsql.errors import IotSqlError

EXAMPLES = {"ast": 60, "valid": 100, "mutate": 150, "engine": 40}


@pytest.mark.parametrize("target", sorted(STRATEGIES))
def test_fuzz_target_short_run(target: str) -> None:
    build(target, EXAMPLES[target], seed_value=7, shrink=True)()


# ---- findings, kept as regression tests ---------------------------------------------------------


def test_lone_surrogates_in_the_output_serialise(backend: str) -> None:
    # Found by the mutate target: `SELECT * FROM 'a/b'` on {"a": "\ud800"} raised
    # UnicodeEncodeError from Output.to_bytes() (orjson refuses the string, json's UTF-8 too).
    check_statement("SELECT * FROM 'a/b'", [b'{"a": "\\ud800"}', b'{"a": "\\udfff\\ud800"}'])
    body = iotsql.compile("SELECT * FROM 'a'").evaluate(b'{"a": "\\ud800"}').to_bytes()  # type: ignore[union-attr]
    assert json.loads(body) == {"a": "\ud800"}


def test_transform_of_lone_surrogates_is_not_undefined() -> None:
    rule = iotsql.compile("SELECT transform('enrichArray', {'k': s}, [{}]) AS t FROM 'a'")
    assert rule.evaluate(b'{"s": "\\ud800"}').value == {"t": [{"k": "\ud800"}]}  # type: ignore[union-attr]


def test_numbers_beyond_the_doubles_are_not_json(backend: str) -> None:
    # Found while probing payloads: with the json library, {"a": 1e400} read as infinity, and
    # `a + 1` crashed with TypeError in Decimal formatting; orjson refused the body.
    for sql in ("SELECT a FROM 'a'", "SELECT a + 1 AS b, cast(a AS String) AS s FROM 'a'"):
        check_statement(sql, [b'{"a": 1e400}', b'{"a": -1e400}', b"[1e999]"])
        out = iotsql.compile(sql).evaluate(b'{"a": 1e400}')
        assert out is not None and out.value == {}


def test_int_literals_too_long_for_python_are_parse_errors() -> None:
    # An Int literal of more than 4300 digits raised lark's VisitError (ValueError inside).
    with pytest.raises(SqlParseError, match="at most 34 digits"):
        iotsql.compile("SELECT " + "9" * 10_000 + " AS n FROM 'a'")


def test_int_arithmetic_past_python_printable_integers() -> None:
    # `a * a` on a 3000-digit payload Int made an integer str() refuses: ValueError from
    # to_bytes() and from cast(... AS String).
    for sql in ("SELECT a * a AS b FROM 'a'", "SELECT cast(a * a AS String) AS b FROM 'a'"):
        check_statement(sql, [b'{"a": 1' + b"0" * 3_000 + b"}"])


def test_deep_python_payloads_are_iotsql_errors() -> None:
    # A decoded payload nested 5000 levels raised RecursionError from Message().
    payload: list[object] = []
    for _ in range(5_000):
        payload = [payload]
    with pytest.raises(IotSqlError):
        iotsql.compile("SELECT * FROM 'a'").evaluate(payload)


def test_actions_over_the_limit_name_the_limit_and_the_field() -> None:
    # The schema check ran first: 11 actions were a RuleValidationError only, the limit check
    # was unreachable and a raised max_actions could not take effect.
    payload = {"sql": "SELECT * FROM 'a'", "actions": [SQS] * 11}
    with pytest.raises(LimitExceededError) as info:
        iotsql.RulesEngine().create_topic_rule("R", payload)
    assert isinstance(info.value, RuleValidationError) and info.value.limit == "actions per rule"


def test_protobuf_decodes_are_counted_per_statement() -> None:
    # decode(..., 'proto') is not declared external: it was never counted.
    # A third one: the rule terminates without invoking any actions (accepted at creation).
    proto = "decode(*, 'proto', 'b', 'k', 'p', 'm')"
    rule = iotsql.compile(f"SELECT {proto} AS a, {proto} AS b, {proto} AS c FROM 'a'")
    assert rule.termination is not None and rule.evaluate(b"", "a") is None


def test_nested_queries_multiplying_each_other_are_bounded() -> None:
    sql = "SELECT VALUE " + "(SELECT VALUE " * 8 + "1" + " FROM [1,2,3,4,5,6,7,8,9,10])" * 8
    check_engine(sql + " FROM 'a'", "topic()", b"{}")
    with pytest.raises(LimitExceededError):
        iotsql.compile(sql + " FROM 'a'").evaluate(b"{}")


def test_set_variables_holding_lone_surrogates() -> None:
    # Found by the ast and engine targets: `SET @0 = *` (and `SET @0 = * + ''`) on
    # {"a": "\ud800"} raised UnicodeEncodeError while measuring the variable's size.
    payload = b'{"a": "\\ud800"}'
    check_statement("SET @0 = * SELECT VALUE 0", [payload])
    check_engine("SET @0 = * + '' SELECT 0", "0", payload)
    rule = iotsql.compile("SET @v = a SELECT @v AS v FROM 'a'")
    assert rule.evaluate(payload).value == {"v": "\ud800"}  # type: ignore[union-attr]


def test_concat_of_an_array_and_an_exact_decimal() -> None:
    # Found by the mutate target: concat([1, 2, 3], 1e400) left a Decimal inside the array,
    # and serialising the output raised TypeError; so did the plain concat(arr, 1.5 * 3).
    check_statement("SELECT concat([1, 2, 3], 1e400) AS r FROM 't'", [b""])
    rule = iotsql.compile("SELECT concat(arr, 1.5 * 3, 2.5 * 2) AS r FROM 't'", "2015-10-08")
    assert rule.evaluate(b'{"arr": [1]}').to_bytes() == b'{"r":[1,4.5,5.0]}'  # type: ignore[union-attr]
    rule = iotsql.compile("SELECT concat(arr, 1.5 * 3, 2.5 * 2) AS r FROM 't'", "2016-03-23")
    assert rule.evaluate(b'{"arr": [1]}').to_bytes() == b'{"r":[1,4.5,5]}'  # type: ignore[union-attr]
