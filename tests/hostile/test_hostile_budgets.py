"""Bounded cost (issue #12): what one publish may cost in total. Republish fan-out and action
executions per publish, one time budget per evaluation shared by every regex, nested-query
element and function call, the size of every value a statement builds, the payload limit in
`evaluate`, and text with no UTF-8 form. Each test hangs, exhausts memory or lets an exception
escape without the bound it checks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cost import cpu_at_most
from hostile_support import LAMBDA, S3_ERROR, SQS, bounded, peak_memory
from hypothesis import given, settings
from hypothesis import strategies as st

import iotsql
from iotsql import LimitExceededError, Limits
from iotsql.actions.base import ActionRequest
from iotsql.budget import start_budget, stop_budget, time_left
from iotsql.errors import (
    BudgetExceededError,
    InvalidPayloadError,
    InvalidTopicError,
    IotSqlError,
    SqlParseError,
)
from iotsql.providers import InMemoryProvider
from iotsql.values import json_size_at_least

ROLE = "arn:aws:iam::123456789012:role/r"
CATASTROPHIC = "(a|aa)+b"  # exponential backtracking on a run of a's without a b


def _republish(topic: str) -> dict[str, Any]:
    return {"republish": {"topic": topic, "roleArn": ROLE}}


def _ping_pong(engine: iotsql.RulesEngine, fan_out: int, error: Any = None) -> None:
    """Two rules republishing to each other `fan_out` times each: every message makes
    `fan_out` more, to the republish depth (8): 10**8 messages for a fan-out of 10."""
    for source, target in (("ping", "pong"), ("pong", "ping")):
        payload: dict[str, Any] = {"sql": f"SELECT * FROM '{source}'",
                                   "actions": [_republish(target)] * fan_out}  # fmt: skip
        if error is not None:
            payload["errorAction"] = error
        engine.create_topic_rule(source.title(), payload)


# ---- republish fan-out and action executions per publish -------------------------------------


def test_republish_fan_out_is_bounded_in_total_not_only_in_depth() -> None:
    engine = iotsql.RulesEngine()
    _ping_pong(engine, 10)
    report = bounded(lambda: engine.publish("ping", b'{"n": 1}'), 5.0)
    assert len(engine.recorder["republish"]) == 256 == engine.limits.max_republishes_per_publish
    refused = [f for f in report.failures if f.action_type == "republish"]
    assert refused and all(
        f.error == "BudgetExceededError: republished messages per publish limit exceeded: "
        "257 > 256: the action was not executed"
        for f in refused
    )
    # Nothing is lost: each message with refused republishes is a dead letter holding them,
    # ready to be replayed.
    letters = engine.drain_dead_letters()
    assert sum(len(letter.requests) for letter in letters) == len(refused)
    assert all(r.action_type == "republish" for letter in letters for r in letter.requests)


def test_refused_republishes_go_to_the_error_action() -> None:
    engine = iotsql.RulesEngine(limits=Limits(max_republishes_per_publish=3))
    _ping_pong(engine, 2, error=S3_ERROR)
    report = engine.publish("ping", b"{}")
    assert len(engine.recorder["republish"]) == 3
    bodies = engine.recorder["s3"].bodies
    assert bodies and all(
        "republished messages per publish limit exceeded" in failure["errorMessage"]
        for body in bodies
        for failure in body["failures"]
    )
    assert engine.dead_letters == [] and report.failures
    # A fresh publish has a fresh budget.
    engine.recorder.clear()
    engine.publish("ping", b"{}")
    assert len(engine.recorder["republish"]) == 3


def test_action_executions_per_publish_are_bounded() -> None:
    engine = iotsql.RulesEngine(limits=Limits(max_actions_per_publish=5))
    engine.create_topic_rule("Ten", {"sql": "SELECT * FROM 'a'", "actions": [SQS] * 10,
                                     "errorAction": S3_ERROR})  # fmt: skip
    report = engine.publish("a", b"{}")
    actions = report.rules[0].actions
    assert [a.ok for a in actions] == [True] * 5 + [False] * 5
    assert all("action executions per publish limit exceeded: 6 > 5" in (a.error or "")
               for a in actions[5:])  # fmt: skip
    # The error action is an action too: refused, so the message is kept as a dead letter.
    error_action = report.rules[0].error_action
    assert error_action is not None and not error_action.ok
    (letter,) = engine.dead_letters
    assert len(letter.requests) == 5 and len(engine.recorder["sqs"]) == 5


def test_the_last_action_execution_the_budget_allows_may_be_a_republish() -> None:
    # Two executions allowed, two made: the republish is the second (limits.md: only actions
    # *past* max_actions_per_publish fail).
    engine = iotsql.RulesEngine(limits=Limits(max_actions_per_publish=2))
    republish = {"republish": {"topic": "elsewhere", "roleArn": SQS["sqs"]["roleArn"]}}
    engine.create_topic_rule("Two", {"sql": "SELECT * FROM 'a'", "actions": [SQS, republish]})
    report = engine.publish("a", b"{}")
    assert [(a.action_type, a.ok) for a in report.rules[0].actions] == [
        ("sqs", True), ("republish", True)]  # fmt: skip
    assert engine.dead_letters == []


# ---- one time budget per evaluation ----------------------------------------------------------

SLOW = Limits(regex_timeout=0.2, evaluation_timeout=0.5)


def test_a_step_that_takes_a_time_out_is_refused_once_the_budget_is_spent() -> None:
    # time_left never hands out a time-out <= 0: the regex package takes a negative one as
    # none at all, so a regex started past the deadline would run unbounded.
    token = start_budget(0.0)
    try:
        with pytest.raises(BudgetExceededError, match="evaluation time"):
            time_left(1.0)
    finally:
        stop_budget(token)
    assert time_left(1.0) == 1.0  # (outside a timed evaluation: the step's own cap)


def test_thirty_hostile_regexes_share_one_budget() -> None:
    items = ", ".join(f"regexp_matches(s, '{CATASTROPHIC}') AS r{i}" for i in range(30))
    rule = iotsql.compile(f"SELECT {items} FROM 'a'", limits=SLOW)
    assert rule.timed
    # 30 calls of 0.2 s each, 6 s of CPU time without the shared budget (the regex package's
    # own time-out counts this process's CPU time, which the load of the machine does not
    # stretch); the budget itself is wall-clock time, which only ends it sooner.
    with cpu_at_most(3.0), pytest.raises(BudgetExceededError) as info:
        rule.evaluate({"s": "a" * 40})
    assert info.value.limit == "evaluation time (seconds)" and info.value.maximum == 0.5
    assert str(info.value).startswith("evaluation time (seconds) limit exceeded: ")


def test_a_nested_query_shares_the_budget_element_by_element() -> None:
    sql = f"SELECT (SELECT VALUE regexp_matches(e, '{CATASTROPHIC}') FROM arr AS e) AS r FROM 'a'"
    rule = iotsql.compile(sql, limits=SLOW)
    with cpu_at_most(3.0), pytest.raises(BudgetExceededError, match="evaluation time"):
        rule.evaluate({"arr": ["a" * 40] * 200})  # 200 x 0.2 s = 40 s without the budget


def test_many_calls_of_linear_functions_share_the_budget() -> None:
    # md2 runs in Python: ~0.4 s on 60 KB, 16 s for 40 calls.
    items = ", ".join(f"md2(s) AS h{i}" for i in range(40))
    rule = iotsql.compile(f"SELECT {items} FROM 'a'", limits=SLOW)
    with cpu_at_most(3.0), pytest.raises(BudgetExceededError):
        rule.evaluate({"s": "x" * 60_000})
    # So do many calls of fast ones past LINEAR_CALLS_UNTIMED: each checks the deadline.
    hashes = ", ".join(f"sha512(s) AS h{i}" for i in range(40))
    assert iotsql.compile(f"SELECT {hashes} FROM 'a'").timed


def test_external_lookups_stop_when_the_budget_is_spent() -> None:
    calls: list[float] = []

    def slow(event: Any) -> Any:
        calls.append(time.monotonic())
        time.sleep(0.2)
        return {"ok": True}

    provider = InMemoryProvider(lambdas={"arn:aws:lambda:us-east-1:1:function:f": slow})
    items = ", ".join(f"aws_lambda('arn:aws:lambda:us-east-1:1:function:f', *) AS l{i}"
                      for i in range(20))  # fmt: skip
    rule = iotsql.compile(f"SELECT {items} FROM 'a'", limits=SLOW)
    with pytest.raises(BudgetExceededError):
        rule.evaluate(b"{}", provider=provider)
    # 20 calls, 4 s, without the budget; with it, at most 3 fit in 0.5 s (each sleeps 0.2 s),
    # fewer when the machine is loaded, and the first is always made.
    assert 1 <= len(calls) <= 3


def test_cheap_statements_pay_for_no_budget() -> None:
    assert not iotsql.compile("SELECT a, upper(b) AS u, topic(2) AS t FROM 'x' WHERE c > 1").timed
    assert iotsql.compile("SELECT regexp_substr(a, 'b') AS r FROM 'x'").timed
    assert iotsql.compile("SELECT (SELECT VALUE x FROM arr AS x) AS r FROM 'x'").timed
    assert iotsql.compile("SELECT parse_time('yyyy', t) AS y FROM 'x'").timed


def test_a_rule_over_its_budget_fails_to_its_error_action_and_the_engine_goes_on() -> None:
    engine = iotsql.RulesEngine(limits=SLOW)
    items = ", ".join(f"regexp_matches(s, '{CATASTROPHIC}') AS r{i}" for i in range(30))
    engine.create_topic_rule("Slow", {"sql": f"SELECT {items} FROM 'in/#'",
                                      "actions": [SQS, LAMBDA], "errorAction": S3_ERROR})  # fmt: skip
    engine.create_topic_rule("Fast", {"sql": "SELECT s FROM 'in/#'", "actions": [SQS]})
    report = bounded(lambda: engine.publish("in/x", json.dumps({"s": "a" * 40})), 3.0)
    slow, fast = report.rules
    assert not slow.fired and "evaluation time (seconds) limit exceeded" in (slow.error or "")
    assert fast.fired and fast.actions[0].ok
    assert slow.error_action is not None and slow.error_action.ok
    (body,) = engine.recorder["s3"].bodies
    assert [f["failedAction"] for f in body["failures"]] == ["SqsAction", "LambdaAction"]
    assert all("evaluation time (seconds)" in f["errorMessage"] for f in body["failures"])
    assert engine.dead_letters == []
    # The next message is served, with a budget of its own.
    report = bounded(lambda: engine.publish("in/y", json.dumps({"s": "aab"})), 3.0)
    assert report.rules[0].fired and report.rules[0].actions[0].ok


def test_without_an_error_action_a_rule_over_its_budget_leaves_a_dead_letter() -> None:
    engine = iotsql.RulesEngine(limits=SLOW)
    sql = f"SELECT (SELECT VALUE regexp_matches(e, '{CATASTROPHIC}') FROM arr AS e) AS r FROM 'a'"
    engine.create_topic_rule("Slow", {"sql": sql, "awsIotSqlVersion": "2016-03-23",
                                      "actions": [SQS]})  # fmt: skip
    report = bounded(lambda: engine.publish("a", json.dumps({"arr": ["a" * 40] * 50})), 3.0)
    assert "evaluation time" in (report.rules[0].error or "")
    (letter,) = engine.dead_letters
    assert "evaluation time" in (letter.evaluation_error or "")
    assert letter.message.body == report.message.body


def test_a_rule_without_actions_over_its_budget_leaves_a_dead_letter() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Big", {"sql": "SELECT s AS a, s AS b FROM 'a'", "actions": [],
                                     "errorAction": S3_ERROR})  # fmt: skip
    report = engine.publish("a", json.dumps(BIG))
    assert "output size (bytes)" in (report.rules[0].error or "")
    (letter,) = engine.dead_letters
    assert "output size (bytes)" in (letter.evaluation_error or "") and letter.requests == []
    assert engine.recorder["s3"].requests == []  # no action failed: nothing to report there


def test_templates_are_in_the_rules_budget() -> None:
    engine = iotsql.RulesEngine(limits=SLOW)
    key = "".join(f"${{regexp_substr(s, '{CATASTROPHIC}')}}" for _ in range(30))
    engine.create_topic_rule("T", {"sql": "SELECT * FROM 'a'", "actions": [
        {"s3": {"bucketName": "b", "key": key, "roleArn": ROLE}}]})  # fmt: skip
    assert engine.rule("T").timed
    report = bounded(lambda: engine.publish("a", json.dumps({"s": "a" * 40})), 3.0)
    (action,) = report.rules[0].actions
    assert not action.ok and "evaluation time" in (action.error or "")


def test_the_error_actions_templates_have_a_budget_of_their_own() -> None:
    # The rule's budget may be what was spent, so its error action's templates get a fresh one
    # (not none at all: 30 hostile regexes of 0.2 s each would take 6 s).
    def down(request: ActionRequest) -> None:
        raise ConnectionError("down")

    engine = iotsql.RulesEngine(limits=SLOW, sinks={"sqs": down})
    key = "".join(f"${{regexp_substr(s, '{CATASTROPHIC}')}}" for _ in range(30))
    engine.create_topic_rule("E", {"sql": "SELECT regexp_substr(s, 'a') AS r FROM 'a'",
                                   "actions": [SQS], "errorAction": {
                                       "s3": {"bucketName": "b", "key": key, "roleArn": ROLE}}})  # fmt: skip
    assert engine.rule("E").timed
    report = bounded(lambda: engine.publish("a", json.dumps({"s": "a" * 40})), 3.0)
    error_action = report.rules[0].error_action
    assert error_action is not None and not error_action.ok
    assert "evaluation time" in (error_action.error or "")
    (letter,) = engine.dead_letters  # the failure is kept, with the error action's
    assert letter.error_action_failure is error_action


# ---- the size of what a statement builds ------------------------------------------------------

BIG = {"s": "x" * 100_000}


def test_an_output_repeating_a_large_value_is_refused_before_it_is_made() -> None:
    many = ", ".join(["s"] * 6_000)
    rule = iotsql.compile(f"SELECT [{many}] AS r FROM 'a'")

    def evaluate() -> Any:
        with pytest.raises(BudgetExceededError) as info:
            rule.evaluate(BIG)
        return info.value

    err, peak = peak_memory(lambda: bounded(evaluate, 2.0))
    assert err.limit == "output size (bytes)" and err.maximum == 128 * 1024
    assert peak < 20_000_000  # 600 MB of JSON (1.2 GB peak) without the bound


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT s AS a, s AS b FROM 'a'",
        "SELECT VALUE [s, s] FROM 'a'",
        "SELECT *, s AS copy FROM 'a'",
        "SELECT s + s AS r FROM 'a'",
        "SELECT {'a': s, 'b': s} AS r FROM 'a'",
        "SELECT (SELECT VALUE x FROM [s, s] AS x) AS r FROM 'a'",
        "SELECT r.a, r.b FROM 'a'",  # a path alias nests: the mixed builder
    ],
)
def test_every_built_value_is_bounded(sql: str) -> None:
    sql = sql.replace("SELECT r.a, r.b", "SELECT s AS r.a, s AS r.b")
    with pytest.raises(BudgetExceededError, match=r"output size \(bytes\) limit exceeded"):
        out = iotsql.compile(sql).evaluate(BIG)  # refused here, while it is built...
        assert out is not None
        out.to_bytes()  # ...or, for the message merged by `*`, when its body is made
    # The limit is configurable.
    big = Limits(max_output_bytes=400_000)
    assert iotsql.compile(sql, limits=big).evaluate(BIG) is not None


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    document=st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=6),
    copy=st.text(max_size=60),
    limit=st.integers(1, 400),
    with_context=st.booleans(),
)
def test_the_merged_document_counts_as_when_it_is_walked(
    document: dict[str, Any], copy: str, limit: int, with_context: bool
) -> None:
    """`SELECT *, ...` measures the message's document only when the body's length says it
    could reach the limit (compiler, build_mixed): the refusals are those of a walk of the
    whole document, whether the statement reads the context (the body is at hand) or not."""
    document = {**document, "s": copy}
    extra = ", topic() AS t" if with_context else ""
    rule = iotsql.compile(f"SELECT *, s AS copy{extra} FROM 'a/b'",
                          limits=Limits(max_output_bytes=limit))  # fmt: skip
    measure = json_size_at_least(document, 10**9) + len(copy) + 2 + (5 if with_context else 0)
    body = json.dumps(document).encode()
    if measure > limit:
        with pytest.raises(BudgetExceededError, match=r"output size \(bytes\)"):
            rule.evaluate(body, topic="a/b")  # refused before the output is made
    else:
        out = rule.evaluate(body, topic="a/b")
        assert out is not None and out.value["copy"] == copy


def test_string_additions_are_refused_before_they_are_joined() -> None:
    sql = "SET @a = s + s + s + s + s + s + s + s + s + s SELECT @a + @a AS r FROM 'a'"
    rule = iotsql.compile(sql, limits=Limits(max_variable_bytes=2**30))
    with pytest.raises(BudgetExceededError) as info:
        rule.evaluate(BIG)
    assert info.value.value == 200_000  # the first `+` is refused: nothing past 128 KB is made


def test_conversions_and_functions_of_huge_values_are_undefined() -> None:
    many = ", ".join(["s"] * 6_000)
    for call in (f"cast([{many}] AS String)", f"sha256([{many}])", f"concat({many})",
                 f"concat([{many}], [1])", f"length(concat([{many}], 'x'))"):  # fmt: skip
        rule = iotsql.compile(f"SELECT {call} AS r FROM 'a'")
        out, peak = peak_memory(lambda: rule.evaluate(BIG))  # noqa: B023
        assert out is not None and out.value == {}, call
        assert peak < 30_000_000, call


def test_transform_is_measured_before_it_copies() -> None:
    # 20,000 small objects each enriched with 2,000 attributes: 40 million entries.
    payload = {"arr": [{}] * 20_000, "o": {f"k{i}": 1 for i in range(2_000)}}
    rule = iotsql.compile("SELECT transform('enrichArray', o, arr) AS r FROM 'a'",
                          limits=Limits(max_payload_bytes=256 * 1024))  # fmt: skip
    out, peak = peak_memory(lambda: bounded(lambda: rule.evaluate(payload), 2.0))
    assert out is not None and out.value == {} and peak < 20_000_000


def test_transform_result_past_the_limit_is_undefined() -> None:
    # The measure before copying counts a number as one byte; the result's JSON decides.
    payload = {"arr": [{"n": 1234567890123456}] * 5, "o": {"m": 1234567890123456}}
    sql = "SELECT transform('enrichArray', o, arr) AS r FROM 'a'"
    small = iotsql.compile(sql, limits=Limits(max_value_bytes=200)).evaluate(payload)
    assert small is not None and small.value == {}
    wide = iotsql.compile(sql, limits=Limits(max_value_bytes=250)).evaluate(payload)
    assert wide is not None and wide.value == {
        "r": [{"n": 1234567890123456, "m": 1234567890123456}] * 5
    }


def test_set_variables_and_templates_are_measured_before_they_are_made() -> None:
    many = ", ".join(["s"] * 6_000)
    rule = iotsql.compile(f"SET @v = [{many}] SELECT 1 AS one FROM 'a'")
    with pytest.raises(LimitExceededError, match="SET variable @v size"):
        rule.evaluate(BIG)
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("T", {"sql": "SELECT 1 AS one FROM 'a'", "actions": [
        {"s3": {"bucketName": "b", "key": "${s}" * 20, "roleArn": ROLE}}]})  # fmt: skip
    report, peak = peak_memory(lambda: engine.publish("a", json.dumps(BIG)))
    (action,) = report.rules[0].actions
    assert not action.ok and "output size (bytes)" in (action.error or "")
    assert peak < 20_000_000


def test_an_oversized_output_fails_the_rule_to_its_error_action() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Big", {"sql": "SELECT s AS a, s AS b FROM 'a'",
                                     "actions": [SQS], "errorAction": S3_ERROR})  # fmt: skip
    report = engine.publish("a", json.dumps(BIG))
    assert "output size (bytes)" in (report.rules[0].error or "")
    (body,) = engine.recorder["s3"].bodies
    assert "output size (bytes)" in body["failures"][0]["errorMessage"]
    assert engine.recorder["sqs"].requests == []


def test_the_exact_output_size_is_checked_once_serialised() -> None:
    # Lower-bound estimates count a number as one byte: the serialised body is checked too.
    rule = iotsql.compile("SELECT VALUE arr FROM 'a'", limits=Limits(max_output_bytes=1_000))
    out = rule.evaluate({"arr": [123456.789] * 150})  # ~300 estimated, 1,650 written
    assert out is not None
    with pytest.raises(BudgetExceededError, match="output size"):
        out.to_bytes()


# ---- the payload limit in evaluate -----------------------------------------------------------


@pytest.mark.parametrize(
    "payload", [b"x" * (100 * 1024 * 1024), "x" * (200 * 1024), {"s": "x" * (200 * 1024)}]
)
def test_evaluate_honours_max_payload_bytes(payload: Any) -> None:
    for sql in ("SELECT * FROM 'a'", "SELECT topic() AS t FROM 'a'"):
        with pytest.raises(LimitExceededError) as info:
            bounded(lambda: iotsql.compile(sql).evaluate(payload), 2.0)  # noqa: B023
        assert info.value.limit == "payload size (bytes)" and info.value.maximum == 128 * 1024
    with pytest.raises(LimitExceededError):
        iotsql.compile("SELECT * FROM 'a'").explain(payload)
    large = Limits(max_payload_bytes=200 * 1024 * 1024)
    assert iotsql.compile("SELECT 1 AS one FROM 'a'", limits=large).evaluate(payload) is not None


# ---- text with no UTF-8 form -------------------------------------------------------------------


def test_unencodable_text_is_an_iotsql_error() -> None:
    with pytest.raises(SqlParseError, match="lone surrogate"):
        iotsql.compile("SELECT a FROM '\udc80'")
    engine = iotsql.RulesEngine()
    with pytest.raises(InvalidTopicError, match="lone surrogate"):
        engine.publish("\ud800", b"{}")
    with pytest.raises(InvalidTopicError):
        engine.subscribe("a/\udc80", lambda *args: None)
    with pytest.raises(InvalidPayloadError, match="lone surrogate"):
        engine.publish("a", "\ud800")
    with pytest.raises(InvalidPayloadError):
        iotsql.compile("SELECT * FROM 'a'").evaluate('{"a": "\ud800"}')
    with pytest.raises(IotSqlError):
        engine.create_topic_rule("R", {"sql": "SELECT * FROM 'a/\udc80'", "actions": []})
    # A surrogate inside an already-decoded JSON value is kept, as a \u escape.
    assert iotsql.compile("SELECT * FROM 'a'").evaluate({"a": "\ud800"}).to_bytes() == (
        b'{"a":"\\ud800"}'
    )
