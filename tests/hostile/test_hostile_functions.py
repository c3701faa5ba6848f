"""Hostile function calls: catastrophic regular expressions, enormous results asked of lpad,
rpad, concat, transform, replace, regexp_replace, upper..., huge exponents, extreme indices,
huge date patterns. Each is Undefined (or a clear error) in bounded time, and the bounds are
the limits the rule was compiled with."""

from __future__ import annotations

import json
import time

import pytest
from hostile_support import bounded

import iotsql
from iotsql import Limits
from iotsql.limits import DEFAULT_LIMITS, current_limits, using_limits

CATASTROPHIC = "(a|aa)+b"  # exponential backtracking on a run of a's without a b
SLOW_REGEX = Limits(regex_timeout=0.2)


def _value(sql: str, payload: object, limits: Limits | None = None) -> object:
    out = bounded(lambda: iotsql.compile(sql, limits=limits).evaluate(payload))
    assert out is not None
    json.loads(bounded(out.to_bytes))
    return out.value


@pytest.mark.parametrize(
    "call",
    [
        f"regexp_matches(s, '{CATASTROPHIC}')",
        f"regexp_substr(s, '{CATASTROPHIC}')",
        f"regexp_replace(s, '{CATASTROPHIC}', 'x')",
        f"regexp_replace(s, '{CATASTROPHIC}', '$99')",  # an invalid replacement: still searched
    ],
)
def test_catastrophic_regular_expressions_time_out_to_undefined(call: str) -> None:
    payload = {"s": "a" * 40}
    assert bounded(lambda: _value(f"SELECT {call} AS r FROM 'a'", payload, SLOW_REGEX), 2) == {}


def test_the_default_regex_time_out_is_one_second() -> None:
    assert DEFAULT_LIMITS.regex_timeout == 1.0
    rule = iotsql.compile(f"SELECT regexp_matches(s, '{CATASTROPHIC}') AS r FROM 'a'",
                          limits=Limits(evaluation_timeout=None))  # fmt: skip
    # The regex package's time-out counts this process's CPU time, which the load of the
    # machine does not stretch (its wall-clock time would, and the evaluation's budget with
    # it): the call stops after one second of that clock, not before (the time-out, not
    # something else, ended it) and not much after (hours of backtracking without it).
    start = time.process_time()
    out = rule.evaluate({"s": "a" * 40})
    spent = time.process_time() - start
    assert out is not None and out.value == {}
    assert 0.9 <= spent < 5.0, f"{spent:.2f} s of CPU time"


def test_regex_time_outs_do_not_poison_later_calls() -> None:
    sql = f"SELECT regexp_matches(s, '{CATASTROPHIC}') AS r FROM 'a'"
    assert _value(sql, {"s": "a" * 40}, SLOW_REGEX) == {}
    assert _value(sql, {"s": "aaab"}, SLOW_REGEX) == {"r": True}


def test_huge_patterns_are_undefined() -> None:
    sql = "SELECT regexp_matches('a', p) AS r, regexp_substr('a', q) AS s FROM 'a'"
    payload = {"p": "a{100000}{100000}", "q": "(" * 5_000 + "a" + ")" * 5_000}
    assert _value(sql, payload) == {}


@pytest.mark.parametrize(
    "call",
    [
        "lpad(s, 1000000000)",
        "rpad(s, 1e300)",
        "lpad(s, -1e300)",
        "concat(s, s)",
        "concat(s, s, s, s, s, s, s, s, s, s)",
        "concat(arr, arr)",
        "replace(s, 'x', s)",
        "replace(s, '', '!')",
        "regexp_replace(s, 'x', 'yy')",
        "regexp_replace(s, '', '!')",
        "transform('enrichArray', {'pad': s}, [{}, {}])",
        "upper(s) || lower(s)",
    ],
)
def test_results_over_max_value_bytes_are_undefined(call: str) -> None:
    limits = Limits(max_value_bytes=1_000)
    payload = {"s": "x" * 600, "arr": ["y" * 300]}
    call = call.replace(" || ", ", ")  # two items when the call is a pair
    out = _value(f"SELECT {call} AS r FROM 'a'", payload, limits)
    assert out == {} or (isinstance(out, dict) and len(json.dumps(out["r"])) <= 1_002)


def test_the_rule_limits_reach_functions_at_compile_time_too() -> None:
    limits = Limits(max_value_bytes=10)
    # Constant folding runs lpad when the rule compiles: it must see the rule's limits.
    assert _value("SELECT lpad('x', 20) AS p, lpad('x', 5) AS q FROM 'a'", {}, limits) == {
        "q": "     x"
    }
    assert _value("SELECT lpad('x', 20) AS p FROM 'a'", {}) == {"p": " " * 20 + "x"}


def test_limits_in_force_are_those_of_the_rule_being_evaluated() -> None:
    small = iotsql.compile("SELECT lpad(s, 50) AS p FROM 'a'", limits=Limits(max_value_bytes=20))
    large = iotsql.compile("SELECT lpad(s, 50) AS p FROM 'a'")
    assert small.evaluate({"s": "x"}).value == {}  # type: ignore[union-attr]
    assert large.evaluate({"s": "x"}).value == {"p": " " * 50 + "x"}  # type: ignore[union-attr]
    assert current_limits() is DEFAULT_LIMITS
    with using_limits(Limits(max_value_bytes=5)):
        assert current_limits().max_value_bytes == 5
        assert large.evaluate({"s": "x"}).value == {"p": " " * 50 + "x"}
    assert current_limits() is DEFAULT_LIMITS


def test_engine_limits_reach_functions_and_templates() -> None:
    engine = iotsql.RulesEngine(limits=Limits(max_value_bytes=8))
    engine.create_topic_rule("Pad", {
        "sql": "SELECT lpad(s, 10) AS p, s FROM 'a'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"topic": "out/${lpad(s, 3)}/${lpad(s, 30)}",
                                   "roleArn": "arn:aws:iam::1:role/r"}}],
    })  # fmt: skip
    report = engine.publish("a", b'{"s": "x"}')
    (request,) = [r for r in report.requests if r.action_type == "republish"][:1]
    assert request.body == {"s": "x"}
    assert request.params["topic"] == "out/   x/"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("power(10, 1e300)", {}),
        ("power(2, 1e308)", {}),
        ("power(-8, 1e-300)", {}),
        ("power(1e308, 1e308)", {}),
        ("power(0, -1)", {}),
        ("power(2, 1024)", {}),
        ("power(2, 10)", {"r": 1024}),
        ("exp(1e10)", {}),
        ("ln(0)", {}),
        ("sqrt(-1)", {}),
        ("log(1e308 * 1e308)", {"r": 616}),
        ("mod(1e308, 7)", {"r": 1}),
        ("round(1e308)", {"r": 10**308}),
        ("trunc(1.5, 99999999999)", {"r": 1.5}),
        ("bitand(1e308, 7)", {"r": 0}),
        ("1e308 * 1e308 * 1e308 * 1e308", {}),
    ],
)
def test_math_on_huge_numbers_is_undefined_or_exact(call: str, expected: object) -> None:
    value = _value(f"SELECT {call} AS r FROM 'a'", {})
    assert value == expected or (call.startswith(("log", "mod")) and isinstance(value, dict))


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("substring(s, -1e300, 1e300)", {"r": "héllo"}),  # clamped to 0 and the length
        ("substring(s, 9223372036854775807)", {"r": ""}),
        ("substring(s, 1e308, -1e308)", {"r": ""}),  # start >= end
        ("substring(s, 'NaN')", {}),  # 'NaN' is not a Decimal
        ("get(s, 1e300)", {}),  # out of bounds
        ("get(arr, -9223372036854775809)", {}),
        ("arr[99999999999999999999999999999999]", {}),
        ("topic(99999999999999999999)", {}),
        ("indexof(s, s)", {"r": 0}),
        ("chr(1e300)", {}),  # not an ASCII code
    ],
)
def test_extreme_indices_are_bounded(call: str, expected: object) -> None:
    assert _value(f"SELECT {call} AS r FROM 'a'", {"s": "héllo", "arr": [1, 2]}) == expected


@pytest.mark.parametrize(
    "call",
    [
        "parse_time(p, 0)",
        "parse_time(p, 0, 'UTC')",
        "parse_time(q, 0)",
        "time_to_epoch(t, p)",
        "time_to_epoch(t, q)",
        "parse_time('yyyy', 1e300)",
        "parse_time('yyyy', -1e300)",
        "time_to_epoch('9' * 100, 'yyyy')",
    ],
)
def test_huge_date_patterns_are_undefined_in_bounded_time(call: str) -> None:
    call = call.replace("'9' * 100", "'" + "9" * 100_000 + "'")
    values = {"p": "yyyy" * 15_000, "q": "'" + "x" * 60_000 + "'", "t": "1" * 60_000}
    # Only what the call reads: together they would pass max_payload_bytes, which evaluate honours.
    payload = {
        name: value for name, value in values.items() if f"{name})" in call or f"{name}," in call
    }
    assert _value(f"SELECT {call} AS r FROM 'a'", payload) == {}


def test_encode_and_hashes_of_large_values_are_bounded() -> None:
    payload = {"s": "x" * 90_000}  # its base64 and the hashes fit max_output_bytes
    value = _value("SELECT encode(s, 'base64') AS e, sha512(s) AS h, md2(s) AS m FROM 'a'", payload)
    assert isinstance(value, dict) and set(value) == {"e", "h", "m"}
    limits = Limits(max_payload_bytes=1_000)
    small = {"s": "x" * 600}  # the payload fits; the value encode() is given does not
    assert _value("SELECT encode(concat(s, s), 'base64') AS e FROM 'a'", small, limits) == {}
