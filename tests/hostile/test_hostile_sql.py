"""Hostile SQL: deep nesting, very long statements, huge literals, statements whose evaluation
multiplies. Every one ends in SqlParseError or LimitExceededError (or compiles, when AWS would
take it), never a RecursionError, in bounded time."""

from __future__ import annotations

import json

import pytest
from hostile_support import bounded

import iotsql
from iotsql import LimitExceededError, Limits, SqlParseError
from iotsql.errors import EvaluationError, IotSqlError

V1 = "2015-10-08"
V2 = "2016-03-23"


def _compile(sql: str, version: str = V2, limits: Limits | None = None) -> iotsql.CompiledRule:
    return iotsql.compile(sql, version, limits=limits)


# ---- nesting -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "suffix"),
    [
        ("- ", ""),
        ("NOT ", ""),
        ("abs(", ")"),
        ("[", "]"),
        ("{'a': ", "}"),
        ("(SELECT VALUE ", " FROM a)"),
        ("CASE WHEN true THEN ", " END"),
        ("get(", ", 0)"),
        ("cast(", " AS String)"),
    ],
)
def test_deep_expression_nesting_is_a_parse_error(prefix: str, suffix: str) -> None:
    depth = 20_000 // (len(prefix) + len(suffix))
    sql = "SELECT " + prefix * depth + "1" + suffix * depth + " AS x FROM 'a'"
    with pytest.raises(SqlParseError, match="nested deeper than 150 levels"):
        bounded(lambda: _compile(sql))


@pytest.mark.parametrize(
    "step", [" + a", " - 1", " * 2", " % 3", " AND a", " OR a", " = a", " IN a", ".b", "[0]"]
)
def test_long_operator_chains_are_a_parse_error(step: str) -> None:
    # `a + a + ... + a` is a left-deep tree: one level per operator.
    sql = "SELECT a" + step * (20_000 // len(step)) + " AS x FROM 'a'"
    with pytest.raises(SqlParseError, match="nested deeper"):
        bounded(lambda: _compile(sql))


def test_parentheses_alone_do_not_count_as_nesting() -> None:
    depth = 30_000  # 60 KB of parentheses
    rule = bounded(lambda: _compile("SELECT " + "(" * depth + "a" + ")" * depth + " AS x FROM 'a'"))
    assert rule.evaluate(b'{"a": 1}').value == {"x": 1}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "(" * 60_000 + "1 FROM 'a'",
        "SELECT " + "[" * 60_000,
        "SELECT " + "- " * 60_000,
        "SELECT " + "a," * 15_000 + ", FROM 'a'",  # an empty item (one comma may end the list)
        "SELECT " + "(SELECT a, FROM b), " * 3_000 + "c FROM 'a'",  # too many lists ending in ,
        "SELECT " + "'" * 60_001,
        "SELECT a FROM 'a' WHERE " + "(" * 30_000 + ")" * 30_001,
    ],
    ids=lambda sql: f"{sql[:12]}...{len(sql)}",
)
def test_long_invalid_statements_fail_quickly_with_a_position(sql: str) -> None:
    with pytest.raises(SqlParseError) as info:
        bounded(lambda: _compile(sql))
    assert info.value.line >= 1 and info.value.column >= 1


def test_nesting_limit_is_configurable() -> None:
    nested = "SELECT " + "abs(" * 10 + "-1" + ")" * 10 + " AS x FROM 'a'"
    assert _compile(nested).evaluate(b"{}").value == {"x": 1}
    with pytest.raises(SqlParseError, match="nested deeper than 5 levels"):
        _compile(nested, limits=Limits(max_nesting_depth=5))


def test_a_nesting_limit_past_the_recursion_limit_still_never_raises_recursion_error() -> None:
    limits = Limits(max_nesting_depth=100_000)
    sql = "SELECT " + "- " * 5_000 + "a AS x FROM 'a'"
    try:
        rule = bounded(lambda: _compile(sql, limits=limits))
    except SqlParseError as err:
        assert "too deeply" in str(err)
        return
    with pytest.raises(EvaluationError, match="too deeply"):
        rule.evaluate(b'{"a": 1}')


# ---- size ----------------------------------------------------------------------------------------


def test_a_statement_over_the_sql_size_limit_is_refused_before_parsing() -> None:
    sql = "SELECT '" + "x" * 200_000 + "' AS s FROM 'a'"
    with pytest.raises(LimitExceededError) as info:
        bounded(lambda: _compile(sql), 1.0)
    assert info.value.limit == "SQL statement size (bytes)"
    assert info.value.value == len(sql) and info.value.maximum == 128 * 1024


def test_sql_size_counts_utf8_bytes_and_is_configurable() -> None:
    sql = "SELECT 'é' AS s FROM 'a'"  # 25 bytes in UTF-8, 24 characters
    assert _compile(sql, limits=Limits(max_sql_bytes=25)).evaluate(b"{}").value == {"s": "é"}
    with pytest.raises(LimitExceededError):
        _compile(sql, limits=Limits(max_sql_bytes=24))


def test_a_100_kb_string_literal_compiles_and_evaluates_in_bounded_time() -> None:
    # AWS takes it: the rule payload limit is 128 KB.
    rule = bounded(lambda: _compile("SELECT '" + "x" * 100_000 + "' AS s FROM 'a'"))
    body = bounded(lambda: rule.evaluate(b"{}").to_bytes())
    assert json.loads(body) == {"s": "x" * 100_000}


@pytest.mark.parametrize(
    "literal",
    ["9" * 10_000, "0" * 9_990 + "1" * 35, "9" * 10_000 + ".5", "1e" + "9" * 10_000, "1E99999"],
    ids=lambda literal: f"{literal[:6]}...{len(literal)}",
)
def test_huge_number_literals_are_parse_errors(literal: str) -> None:
    with pytest.raises(SqlParseError):
        bounded(lambda: _compile(f"SELECT {literal} AS n FROM 'a'"))


def test_leading_zeros_do_not_count_as_digits() -> None:
    assert _compile("SELECT " + "0" * 10_000 + "7 AS n FROM 'a'").evaluate(b"{}").value == {"n": 7}


def test_a_long_decimal_literal_is_rounded_to_34_digits() -> None:
    value = _compile("SELECT 0." + "3" * 10_000 + " AS n FROM 'a'").evaluate(b"{}").value
    assert value == {"n": 0.3333333333333333}


def test_a_50000_element_array_literal_compiles_and_evaluates_in_bounded_time() -> None:
    sql = "SELECT [" + ",".join(["1"] * 50_000) + "] AS a FROM 'a'"
    # About 2 s of CPU time (lark parses some 100,000 tokens), the same on a loaded machine
    # (bounded counts CPU time): a wider bound than the others; quadratic work would be hours.
    rule = bounded(lambda: _compile(sql), 10.0)
    assert bounded(lambda: len(rule.evaluate(b"{}").value["a"])) == 50_000


def test_many_items_many_when_clauses_bounded() -> None:
    items = ",".join(f"a.b.c AS k{i}" for i in range(4_000))
    rule = bounded(lambda: _compile(f"SELECT {items} FROM 'a'"))
    assert bounded(lambda: rule.evaluate(b'{"a": {"b": {"c": 1}}}').value["k3999"]) == 1
    whens = " ".join(f"WHEN {i} THEN {i}" for i in range(5_000))
    rule = bounded(lambda: _compile(f"SELECT CASE n {whens} END AS c FROM 'a'"))
    assert rule.evaluate(b'{"n": 4999}').value == {"c": 4999}


# ---- statements whose evaluation multiplies ---------------------------------------------------


def test_nested_queries_multiplying_each_other_hit_the_element_limit() -> None:
    array = "[" + ",".join(["1"] * 10) + "]"
    sql = "SELECT VALUE " + "(SELECT VALUE " * 12 + "1" + f" FROM {array})" * 12 + " FROM 'a'"
    rule = _compile(sql)  # 10**12 elements: years, without the limit
    with pytest.raises(LimitExceededError) as info:
        bounded(lambda: rule.evaluate(b"{}"))
    # The output (10**6 ones by the sixth level) is past max_output_bytes first...
    assert info.value.limit == "output size (bytes)"
    # ...and where the outputs stay small (each query a WHERE of the next), the elements stop
    # it (the time budget off: on a loaded machine it could come first).
    where = "true"
    for _ in range(12):
        where = f"(SELECT VALUE 1 FROM {array} WHERE {where}) = []"
    rule = _compile(f"SELECT {where} AS r FROM 'a'", limits=Limits(evaluation_timeout=None))
    with pytest.raises(LimitExceededError) as info:
        bounded(lambda: rule.evaluate(b"{}"))
    assert info.value.limit == "nested query elements per evaluation"
    assert info.value.maximum == 1_000_000


def test_nested_query_element_limit_is_configurable_and_counts_per_evaluation() -> None:
    sql = "SELECT VALUE (SELECT VALUE x FROM arr AS x) FROM 'a'"
    payload = json.dumps({"arr": list(range(100))}).encode()
    small = _compile(sql, limits=Limits(max_nested_query_elements=100))
    assert small.evaluate(payload).value == list(range(100))
    assert small.evaluate(payload).value == list(range(100))  # a fresh count each time
    with pytest.raises(LimitExceededError):
        _compile(sql, limits=Limits(max_nested_query_elements=99)).evaluate(payload)


def test_an_element_limit_failure_is_a_rule_failure_in_the_engine() -> None:
    engine = iotsql.RulesEngine(limits=Limits(max_nested_query_elements=10))
    engine.create_topic_rule(
        "Nested", {"sql": "SELECT VALUE (SELECT VALUE x FROM arr AS x) FROM 'a'",
                   "awsIotSqlVersion": V2, "actions": []},
    )  # fmt: skip
    report = engine.publish("a", json.dumps({"arr": list(range(11))}).encode())
    assert report.rules[0].error is not None and "nested query elements" in report.rules[0].error
    (letter,) = engine.drain_dead_letters()
    assert letter.evaluation_error == report.rules[0].error


_MAX_INT = "9" * 34  # the largest Int


@pytest.mark.parametrize(
    ("expression", "a", "expected"),
    [
        (" * ".join([_MAX_INT] * 140), "9" * 4_000, {}),
        (" * ".join(["a"] * 140), "9" * 4_000, {}),
        (" + ".join(["a * a * a * a"] * 30), "9" * 4_000, {}),
        (" * ".join(["a"] * 16), "9" * 4_000, {}),
        (" * ".join(["a"] * 140), _MAX_INT, {}),
        (" + ".join(["a * a * a * a"] * 30), _MAX_INT,
         {"n": 3 * 10**137, "s": "3.000000000000000000000000000000000E+137"}),
        (" * ".join(["a"] * 16), _MAX_INT,
         {"n": 9999999999999999999999999999999984 * 10**510,
          "s": "9.999999999999999999999999999999984E+543"}),
        (" * ".join(["a"] * 140), "99",
         {"n": 2448652990349297925454906030819652 * 10**246,
          "s": "2.448652990349297925454906030819652E+279"}),
        (" * ".join(["a"] * 16), "99", {"n": 99**16, "s": str(99**16)}),
        ("a * 10", _MAX_INT, {"n": 10**35 - 10, "s": "9.999999999999999999999999999999999E+34"}),
        ("a * a", "100000000000000001",
         {"n": 10**34 + 2 * 10**17, "s": "1.000000000000000020000000000000000E+34"}),
        ("a + a", "5" + "0" * 33, {"n": 10**34, "s": "1.000000000000000000000000000000000E+34"}),
        ("0 - a - a", "5" + "0" * 33,
         {"n": -(10**34), "s": "-1.000000000000000000000000000000000E+34"}),
    ],
    ids=["literals", "payload-ints", "sum-of-products", "long-product", "max-int-power-140",
         "max-int-sum-of-products", "max-int-long-product", "power-140", "int-product",
         "35-digit-product", "rounded-product", "35-digit-sum", "35-digit-difference"],
)  # fmt: skip
def test_int_arithmetic_never_builds_integers_python_cannot_print(
    expression: str, a: str, expected: object
) -> None:
    # An Int has at most 34 digits: beyond, the result is a 34-digit Decimal (rounded half
    # even at each step, as BigDecimal with DECIMAL128), then Undefined past the Decimal range
    # (9.99E999); a result of 34 digits or fewer stays an exact Int.
    rule = _compile(f"SELECT {expression} AS n, cast({expression} AS String) AS s FROM 'a'")
    out = bounded(lambda: rule.evaluate(b'{"a": ' + a.encode() + b"}"))
    assert out.value == expected
    assert json.loads(out.to_bytes()) == expected


def test_int_results_past_34_digits_are_decimals() -> None:
    rule = _compile("SELECT a * a AS n, a + a AS s, 0 - a - a AS d FROM 'a'")
    value = rule.evaluate(b'{"a": 9999999999999999999999999999999999}').value
    # (10**34 - 1)**2 and 2 * (10**34 - 1), rounded to 34 significant digits (half even)
    assert value == {"n": 9999999999999999999999999999999998 * 10**34, "s": 2 * 10**34,
                     "d": -2 * 10**34}  # fmt: skip


def test_compile_errors_are_always_iotsql_errors() -> None:
    for sql in [
        "SELECT " + "9" * 5_000 + " FROM 'a'",
        "SELECT a FROM 'a/#/b'",
        "SELECT @x FROM 'a'",
    ]:
        with pytest.raises(IotSqlError):
            _compile(sql)
