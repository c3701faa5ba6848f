"""Every limit of `iotsql.Limits`: documented in docs/limits.md, enforced with an error that
names it (at compile time or at publish time, as AWS does), and changeable."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hostile_support import ROLE, SQS

import iotsql
from iotsql import LimitExceededError, Limits, SqlParseError
from iotsql.errors import InvalidTopicError, IotSqlError, RuleValidationError
from iotsql.limits import DEFAULT_LIMITS
from iotsql.providers import InMemoryProvider

DOCS = Path(__file__).resolve().parents[2] / "docs" / "limits.md"
FIELDS = [f.name for f in dataclasses.fields(Limits)]


@pytest.mark.parametrize("name", FIELDS)
def test_every_limit_is_documented(name: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert f"`{name}`" in text, f"docs/limits.md does not describe Limits.{name}"
    row = next(line for line in text.splitlines() if line.startswith(f"| `{name}`"))
    default = getattr(DEFAULT_LIMITS, name)
    shown = f"{default:_}".replace("_", ",") if isinstance(default, int) else str(default)
    assert shown in row or str(default) in row, f"the row of {name} does not show {default}"


# ---- the fixed internal bounds ------------------------------------------------------------------

PACKAGE = Path(iotsql.__file__).resolve().parent
#: Constants whose names look like bounds but are rules of the semantics, not bounds on cost.
NOT_BOUNDS = {
    "JODA_MAX_YEAR": "Joda-Time's range of years, which parse_time follows",
    "_MAX_OFFSET_SECONDS": "java.time's range of zone offsets",
}
_CONSTANT = re.compile(r"^(_?[A-Z0-9_]*(?:MAX_[A-Z0-9_]*|_BUDGET|_CACHE_SIZE))\s*(?::[^=]*)?=",
                       re.MULTILINE)  # fmt: skip
_CACHE = re.compile(r"@functools\.lru_cache\(maxsize=(\d+)\)\s*\ndef (\w+)"
                    r"|^(\w+): Final = _Cache\((\d+)\)", re.MULTILINE)  # fmt: skip


def _fixed_rows() -> list[list[str]]:
    text = DOCS.read_text(encoding="utf-8").split("## Fixed internal bounds", 1)[1]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")]
            for line in text.splitlines() if line.startswith("| ")]  # fmt: skip
    return [row for row in rows[1:] if row[0] != "---"]


def _code_bounds() -> list[str]:
    """`iotsql/module.py` `NAME` of every bound-like constant and sized cache in the code."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if relative.startswith("iotsql/benchmark/"):  # targets of the benchmarks, not bounds
            continue
        text = path.read_text(encoding="utf-8")
        names = [m.group(1) for m in _CONSTANT.finditer(text) if m.group(1) not in NOT_BOUNDS]
        names += [m.group(2) or m.group(3) for m in _CACHE.finditer(text)
                  if int(m.group(1) or m.group(4)) > 1]  # fmt: skip
        found += [f"`{relative}` `{name}`" for name in names]
    return found


def _documented_value(value: str) -> float:
    power = re.match(r"(\d+)\^(\d+)", value)
    if power:
        return float(int(power.group(1)) ** int(power.group(2)))
    number = re.match(r"[\d,]+(?:\.\d+)?", value)
    assert number, value
    return float(number.group(0).replace(",", ""))


@pytest.mark.parametrize("row", _fixed_rows(), ids=lambda row: row[0])
def test_every_fixed_bound_shows_the_value_of_its_constant(row: list[str]) -> None:
    bound, value, where, _ = row
    place = re.fullmatch(r"`(iotsql/[\w/]+)\.py` `([\w.]+)`", where)
    assert place, f"{bound}: the row does not name a constant ({where})"
    target: Any = importlib.import_module(place.group(1).replace("/", "."))
    for attribute in place.group(2).split("."):
        target = getattr(target, attribute)
    if hasattr(target, "cache_info"):
        target = target.cache_info().maxsize
    elif hasattr(target, "size"):  # the regex cache
        target = target.size
    assert float(target) == _documented_value(value), f"{bound}: the code says {target}"


def test_every_bound_in_the_code_has_its_row() -> None:
    text = DOCS.read_text(encoding="utf-8").split("## Fixed internal bounds", 1)[1]
    missing = [place for place in _code_bounds() if place not in text]
    assert not missing, f"docs/limits.md's fixed internal bounds do not list {missing}"


def test_the_documented_example_runs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[:1]
    exec(compile(example, str(DOCS), "exec"), {})


def test_limit_errors_carry_the_limit_the_value_and_the_maximum() -> None:
    err = LimitExceededError("actions per rule", 11, 10, "detail")
    assert (err.limit, err.value, err.maximum) == ("actions per rule", 11, 10)
    assert str(err) == "actions per rule limit exceeded: 11 > 10: detail"
    assert isinstance(err, IotSqlError)


def _limit(step: Any) -> LimitExceededError:
    with pytest.raises(LimitExceededError) as info:
        step()
    return info.value


# ---- the rule (CreateTopicRule, compile time) ----------------------------------------------------


def test_actions_per_rule() -> None:
    engine = iotsql.RulesEngine()
    err = _limit(lambda: engine.create_topic_rule("R", {"sql": "SELECT * FROM 'a'",
                                                       "actions": [SQS] * 11}))  # fmt: skip
    assert (err.limit, err.value, err.maximum) == ("actions per rule", 11, 10)
    engine.create_topic_rule("Ten", {"sql": "SELECT * FROM 'a'", "actions": [SQS] * 10})
    assert err.field == "topicRulePayload.actions"  # also a RuleValidationError, as the API says
    one = iotsql.RulesEngine(limits=Limits(max_actions=1))
    _limit(lambda: one.create_topic_rule("R", {"sql": "SELECT * FROM 'a'", "actions": [SQS] * 2}))
    twelve = iotsql.RulesEngine(limits=Limits(max_actions=12))
    rule = twelve.create_topic_rule("R", {"sql": "SELECT * FROM 'a'", "actions": [SQS] * 12})
    assert len(twelve.publish("a", b"{}").requests) == len(rule.actions) == 12
    with pytest.raises(RuleValidationError) as info:  # the extra actions are validated too
        twelve.create_topic_rule("S", {"sql": "SELECT * FROM 'a'",
                                       "actions": [SQS] * 11 + [{"sqs": {}}]})  # fmt: skip
    assert info.value.field.startswith("topicRulePayload.actions[11].sqs")


def test_rule_payload_size() -> None:
    engine = iotsql.RulesEngine()
    description = "d" * (128 * 1024)
    err = _limit(lambda: engine.create_topic_rule("R", {"sql": "SELECT * FROM 'a'", "actions": [],
                                                       "description": description}))  # fmt: skip
    assert err.limit == "topic rule payload size (bytes)" and err.maximum == 128 * 1024
    small = iotsql.RulesEngine(limits=Limits(max_rule_payload_bytes=200))
    small.create_topic_rule("R", {"sql": "SELECT * FROM 'a'", "actions": [SQS]})
    _limit(lambda: small.create_topic_rule("S", {"sql": "SELECT * FROM 'a'",
                                                "actions": [SQS, SQS]}))  # fmt: skip


def test_sql_size_through_create_topic_rule() -> None:
    small = iotsql.RulesEngine(limits=Limits(max_sql_bytes=20, max_rule_payload_bytes=10**6))
    err = _limit(lambda: small.create_topic_rule("R", {"sql": "SELECT a, b FROM 'topic'",
                                                      "actions": []}))  # fmt: skip
    assert err.limit == "SQL statement size (bytes)" and (err.value, err.maximum) == (24, 20)


def test_set_variables_count_name_and_sizes() -> None:
    eleven = ", ".join(f"@v{i} = {i}" for i in range(11))
    err = _limit(lambda: iotsql.compile(f"SET {eleven} SELECT 1 AS one FROM 'a'"))
    assert (err.limit, err.value, err.maximum) == ("SET variables", 11, 10)
    iotsql.compile("SET @a = 1, @b = 2 SELECT 1 AS one FROM 'a'", limits=Limits(max_variables=2))
    _limit(lambda: iotsql.compile("SET @a = 1, @b = 2 SELECT @a AS one FROM 'a'",
                                  limits=Limits(max_variables=1)))  # fmt: skip
    with pytest.raises(SqlParseError, match="longer than 64"):
        iotsql.compile(f"SET @{'v' * 65} = 1 SELECT 1 AS one FROM 'a'")
    with pytest.raises(SqlParseError, match="longer than 3"):
        iotsql.compile("SET @abcd = 1 SELECT 1 AS one FROM 'a'", limits=Limits(max_variable_name=3))
    # Value sizes are known only when a message arrives: publish time.
    # (A payload that may be larger than the variable: evaluate refuses what publish would.)
    rule = iotsql.compile("SET @s = s SELECT 1 AS one FROM 'a'",
                          limits=Limits(max_payload_bytes=256 * 1024))  # fmt: skip
    err = _limit(lambda: rule.evaluate({"s": "x" * (128 * 1024)}))
    assert err.limit == "SET variable @s size (bytes)"
    assert err.value == 128 * 1024 + 2 and err.maximum == 128 * 1024
    both = iotsql.compile("SET @a = s, @b = s SELECT 1 AS one FROM 'a'")
    err = _limit(lambda: both.evaluate({"s": "x" * (70 * 1024)}))
    assert err.limit == "SET variables total size (bytes)"
    small = iotsql.compile("SET @a = s SELECT 1 AS one FROM 'a'",
                           limits=Limits(max_variable_bytes=5, max_variables_total_bytes=5))  # fmt: skip
    assert small.evaluate({"s": "xyz"}) is not None
    _limit(lambda: small.evaluate({"s": "xyzw"}))


def test_set_variable_size_in_the_engine_is_a_rule_failure() -> None:
    engine = iotsql.RulesEngine(limits=Limits(max_variable_bytes=10))
    engine.create_topic_rule("R", {"sql": "SET @s = s SELECT @s AS s FROM 'a'",
                                   "awsIotSqlVersion": "2016-03-23", "actions": [SQS]})  # fmt: skip
    report = engine.publish("a", b'{"s": "much too long"}')
    assert "SET variable @s size" in (report.rules[0].error or "")
    assert report.requests == [] and len(engine.dead_letters) == 1


def _terminates(sql: str, limits: Limits | None = None) -> str:
    """The statement compiles (AWS accepts it) but every evaluation ends without firing."""
    rule = iotsql.compile(sql, limits=limits)
    assert rule.termination is not None
    assert any(w.code == "call-limit" for w in rule.warnings)
    assert rule.evaluate(b"{}", "a") is None
    return rule.termination


@pytest.mark.parametrize(
    ("call", "count", "field"),
    [
        (f"get_dynamodb('T', 'id', id, '{ROLE}')", 1, "max_get_dynamodb_calls"),
        (f"get_registry_data('DescribeThing', 'thing', '{ROLE}')", 1,
         "max_get_registry_data_calls"),
        ("decode(*, 'proto', 'bucket', 'key.desc', 'proto', 'Message')", 2,
         "max_protobuf_decode_calls"),
    ],
)  # fmt: skip
def test_external_function_calls_per_statement(call: str, count: int, field: str) -> None:
    def sql(n: int) -> str:
        items = ", ".join(f"{call} AS r{i}" for i in range(n))
        return f"SELECT {items} FROM 'a'"

    assert iotsql.compile(sql(count)).termination is None
    reason = _terminates(sql(count + 1))
    assert f"called {count + 1} times" in reason and f"at most {count} is allowed" in reason
    # Across clauses: SET, WHERE and SELECT count together.
    _terminates(f"SET @v = {call} SELECT 1 AS one FROM 'a' WHERE " +
                " AND ".join([f"isUndefined({call})"] * count))  # fmt: skip
    raised = Limits(**{field: count + 1})
    assert iotsql.compile(sql(count + 1), limits=raised).termination is None
    _terminates(sql(count), limits=Limits(**{field: count - 1}))


def test_protobuf_decode_is_counted_base64_decode_is_not() -> None:
    base64 = ", ".join(f"decode(s, 'base64') AS b{i}" for i in range(5))
    assert iotsql.compile(f"SELECT {base64} FROM 'a'").external_calls == {}
    proto = "decode(*, 'proto', 'b', 'k', 'p', 'm')"
    rule = iotsql.compile(f"SELECT {proto} AS x, {proto} AS y, {base64} FROM 'a'")
    assert rule.external_calls == {"decode": 2} and rule.termination is None
    reason = _terminates(f"SELECT {proto} AS x, {proto} AS y, {proto} AS z FROM 'a'")
    assert reason.startswith("protobuf decode(..., 'proto') is called 3 times")


def test_the_counted_protobuf_decodes_still_run() -> None:
    provider = InMemoryProvider()
    provider.add_protobuf_decoder(lambda data: {"len": len(data)}, "b", "k", "p", "m")
    rule = iotsql.compile("SELECT decode(*, 'proto', 'b', 'k', 'p', 'm') AS x FROM 'a'")
    assert rule.evaluate(b"\x08\x01", provider=provider).value == {"x": {"len": 2}}  # type: ignore[union-attr]


def test_topic_filter_limits_at_compile_time() -> None:
    with pytest.raises(SqlParseError, match="depth"):
        iotsql.compile("SELECT * FROM 'a/b/c/d/e/f/g/h/i'")
    with pytest.raises(SqlParseError, match="length"):
        iotsql.compile(f"SELECT * FROM '{'a' * 257}'")
    iotsql.compile("SELECT * FROM 'a/b/c/d/e/f/g/h/i'", limits=Limits(max_topic_slashes=8))


# ---- the message (publish time) ----------------------------------------------------------------


def test_topic_limits_at_publish_time() -> None:
    engine = iotsql.RulesEngine()
    err = _limit(lambda: engine.publish("a" * 257, b"{}"))
    assert (err.limit, err.value, err.maximum) == ("topic length (bytes)", 257, 256)
    err = _limit(lambda: engine.publish("a/b/c/d/e/f/g/h/i", b"{}"))
    assert (err.limit, err.value, err.maximum) == ("topic depth (forward slashes)", 8, 7)
    # The Basic Ingest prefix does not count.
    engine.publish("$aws/rules/R/a/b/c/d/e/f/g/h", b"{}")
    with pytest.raises(InvalidTopicError):
        engine.publish("a/+", b"{}")
    wide = iotsql.RulesEngine(limits=Limits(max_topic_bytes=1000, max_topic_slashes=20))
    wide.publish("a/" * 20 + "b" * 900, b"{}")


def test_limits_are_immutable_and_compare_by_value() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_LIMITS.max_actions = 11  # type: ignore[misc]
    assert Limits() == DEFAULT_LIMITS
    assert iotsql.compile("SELECT 1 AS one FROM 'a'", limits=Limits()).limits is DEFAULT_LIMITS
    assert json.loads(json.dumps(dataclasses.asdict(DEFAULT_LIMITS)))["max_actions"] == 10
