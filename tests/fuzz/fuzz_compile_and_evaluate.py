"""Fuzz iotsql: compile generated and mutated statements, evaluate them on hostile payloads, run
them through a RulesEngine, and check that nothing escapes but the library's own errors.

Properties, for every input:

- compiling raises nothing but `IotSqlError` (never a RecursionError, a lark exception...);
- evaluating raises nothing but `IotSqlError`, and an output serialises to valid JSON (no NaN,
  no Infinity) or is raw bytes;
- a statement that parses unparses to text that parses to the same tree;
- every step finishes in bounded time (SLOW_SECONDS, generous: a catch for blow-ups);
- `RulesEngine.publish` raises nothing for a valid topic and payload, whatever the rule does,
  with its report or without.

Run on demand, as long as you like (hypothesis, no example database, a fresh seed each run):

    python tests/fuzz/fuzz_compile_and_evaluate.py --examples 200000
    python tests/fuzz/fuzz_compile_and_evaluate.py --target mutate --examples 50000 --seed 7

A short version of each target runs with the normal tests (tests/hostile/test_hostile_fuzz.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: strategies

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from strategies import (
    fuzz_expressions,
    fuzz_statements,
    hostile_payloads,
    mutated_sql,
    statements,
)

import iotsql
from iotsql import ast
from iotsql.errors import IotSqlError
from iotsql.parser import parse

VERSIONS = ("2015-10-08", "2016-03-23")
#: A step costing more CPU time than this is a finding (a blow-up), not noise: real steps take
#: milliseconds. CPU time of this process, which the load of the machine does not stretch (and
#: the regex package's time-outs count): see tests/cost.py.
SLOW_SECONDS = 5.0
ROLE = "arn:aws:iam::123456789012:role/fuzz"
CONTEXT = {"clientid": "fuzzer", "timestamp": 1_700_000_000_000, "principal": "p"}

#: Examples run so far, per target (the command line prints them).
COUNTS: dict[str, int] = {}


class Finding(AssertionError):
    """A property the fuzzer checks does not hold."""


def _timed(what: str, step: Callable[[], Any]) -> Any:
    start = time.process_time()
    try:
        return step()
    finally:
        spent = time.process_time() - start
        if spent > SLOW_SECONDS:
            raise Finding(f"{what} took {spent:.1f} s of CPU time")


def _strict_json(body: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise Finding(f"output holds {name}, which is not JSON: {body[:200]!r}")

    return json.loads(body, parse_constant=refuse)


def check_compile(sql: str, version: str) -> iotsql.CompiledRule | None:
    """Compile `sql`; None when iotsql rejects it (with an IotSqlError: anything else fails)."""
    try:
        return _timed(f"compiling {sql[:200]!r}", lambda: iotsql.compile(sql, version))
    except IotSqlError:
        return None
    except Finding:
        raise
    except BaseException as err:
        raise Finding(f"compile raised {type(err).__name__}: {err}\nSQL: {sql!r}") from err


def check_round_trip(sql: str) -> None:
    """A statement that parses unparses to text that parses to the same tree."""
    try:
        tree = parse(sql)
    except IotSqlError:
        return
    text = ast.unparse(tree)
    try:
        again = parse(text)
    except IotSqlError as err:
        raise Finding(f"unparse gave text that does not parse: {text!r} from {sql!r}") from err
    if again != tree:
        raise Finding(f"unparse does not round-trip: {sql!r} -> {text!r}")


def check_evaluate(rule: iotsql.CompiledRule, payload: bytes) -> None:
    """Evaluate `rule` on `payload` (as Basic Ingest, so the FROM filter does not matter); only
    IotSqlError may escape and the output must serialise to JSON or be bytes."""

    def step() -> None:
        try:
            out = rule.evaluate(payload, "$aws/rules/Fuzz/a/b", CONTEXT)
            if out is None:
                return
            body = out.to_bytes()
        except IotSqlError:
            return
        if not isinstance(body, bytes):
            raise Finding(f"to_bytes() returned {type(body).__name__}")
        if not out.is_binary:
            _strict_json(body)
        rule.explain(payload, "$aws/rules/Fuzz/a/b", CONTEXT)

    try:
        _timed(f"evaluating {rule.sql[:200]!r} on {payload[:100]!r}", step)
    except Finding:
        raise
    except BaseException as err:
        raise Finding(
            f"evaluate raised {type(err).__name__}: {err}\nSQL: {rule.sql!r}\n"
            f"payload: {payload[:300]!r}"
        ) from err


#: Small limits, so that the fuzzer reaches the code that enforces them.
SMALL = iotsql.Limits(
    max_value_bytes=64, regex_timeout=0.05, max_nesting_depth=20, max_nested_query_elements=50,
    max_variable_bytes=64, max_variables_total_bytes=96, max_variables=2,
)  # fmt: skip


def check_statement(sql: str, payloads: list[bytes]) -> None:
    check_round_trip(sql)
    for version in VERSIONS:
        rule = check_compile(sql, version)
        if rule is not None:
            for payload in payloads:
                check_evaluate(rule, payload)
    try:
        small = _timed(f"compiling {sql[:200]!r}", lambda: iotsql.compile(sql, limits=SMALL))
    except IotSqlError:
        return
    except Finding:
        raise
    except BaseException as err:
        raise Finding(f"compile raised {type(err).__name__}: {err}\nSQL: {sql!r}") from err
    check_evaluate(small, payloads[0])


def check_engine(sql: str, template: str, payload: bytes) -> None:
    """Publish through a RulesEngine holding a rule with `sql`, a templated republish action, an
    sqs action and an error action: publish never raises for a valid topic and payload."""
    engine = iotsql.RulesEngine()
    try:
        engine.create_topic_rule("Fuzz", {
            "sql": sql, "awsIotSqlVersion": "2016-03-23",
            "actions": [
                {"republish": {"topic": "out/${" + template + "}", "roleArn": ROLE}},
                {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": ROLE,
                         "useBase64": True}},
            ],
            "errorAction": {"s3": {"bucketName": "b", "key": "${" + template + "}",
                                   "roleArn": ROLE}},
        })  # fmt: skip
    except IotSqlError:
        return
    except BaseException as err:
        raise Finding(
            f"create_topic_rule raised {type(err).__name__}: {err}\nSQL: {sql!r}"
        ) from err
    if len(payload) > engine.limits.max_payload_bytes:
        return

    def step() -> None:
        engine.publish("$aws/rules/Fuzz/in/x", payload, CONTEXT)
        engine.publish("$aws/rules/Fuzz/in/x", payload, CONTEXT, report=False)  # the quiet path
        for request in engine.recorder.requests:
            request.to_json()

    try:
        _timed(f"publishing through {sql[:200]!r}", step)
    except Finding:
        raise
    except BaseException as err:
        raise Finding(
            f"publish raised {type(err).__name__}: {err}\nSQL: {sql!r}\ntemplate: {template!r}\n"
            f"payload: {payload[:300]!r}"
        ) from err


# ---- targets ------------------------------------------------------------------------------------

payload_lists = st.lists(hostile_payloads, min_size=1, max_size=3)


def target_ast(statement: ast.Statement, payloads: list[bytes]) -> None:
    """Statements generated from the grammar (valid ones and ones with hostile literals)."""
    COUNTS["ast"] = COUNTS.get("ast", 0) + 1
    sql = ast.unparse(statement)
    try:
        tree = parse(sql)
    except IotSqlError:
        tree = None  # a hostile literal (a 40-digit Int, a nesting too deep...) may be refused
    if tree is not None and tree != statement:
        raise Finding(f"unparse does not round-trip: {sql!r}")
    check_statement(sql, payloads)


def target_valid_ast(statement: ast.Statement) -> None:
    """Statements of the valid-only strategy must parse back to themselves."""
    COUNTS["valid"] = COUNTS.get("valid", 0) + 1
    sql = ast.unparse(statement)
    if parse(sql) != statement:
        raise Finding(f"unparse does not round-trip: {sql!r}")


def target_mutate(sql: str, payloads: list[bytes]) -> None:
    """Valid statements with random token edits."""
    COUNTS["mutate"] = COUNTS.get("mutate", 0) + 1
    check_statement(sql, payloads)


def target_engine(statement: ast.Statement, template: ast.Expr, payload: bytes) -> None:
    """Generated statements and templates through a RulesEngine."""
    COUNTS["engine"] = COUNTS.get("engine", 0) + 1
    check_engine(ast.unparse(statement), ast.unparse(template), payload)


STRATEGIES: dict[str, tuple[Callable[..., None], tuple[st.SearchStrategy[Any], ...]]] = {
    "ast": (target_ast, (fuzz_statements, payload_lists)),
    "valid": (target_valid_ast, (statements,)),
    "mutate": (target_mutate, (mutated_sql(), payload_lists)),
    "engine": (target_engine, (fuzz_statements, fuzz_expressions, hostile_payloads)),
}


def build(name: str, examples: int, seed_value: int | None = None, shrink: bool = True) -> Any:
    """The hypothesis test for target `name`, running `examples` examples."""
    function, strategies = STRATEGIES[name]
    phases = [Phase.explicit, Phase.generate, Phase.target] + ([Phase.shrink] if shrink else [])
    test = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )(given(*strategies)(function))
    return seed(seed_value)(test) if seed_value is not None else test


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000,
                        help="examples in all, shared by the targets (default 20,000)")  # fmt: skip
    parser.add_argument("--target", choices=sorted(STRATEGIES), action="append",
                        help="run only this target (repeatable; default: all)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed")
    args = parser.parse_args(argv)
    targets = args.target or list(STRATEGIES)
    share = max(1, args.examples // len(targets))
    started = time.perf_counter()
    failed = False
    for name in targets:
        begin = time.perf_counter()
        try:
            build(name, share, args.seed)()
        except Exception as err:
            failed = True
            print(f"{name}: FINDING after {COUNTS.get(name, 0)} examples:\n{err}", flush=True)
        else:
            print(f"{name}: {COUNTS.get(name, 0)} examples passed "
                  f"in {time.perf_counter() - begin:.0f} s", flush=True)  # fmt: skip
    total = sum(COUNTS.values())
    print(f"{total} examples in {time.perf_counter() - started:.0f} s: "
          f"{'findings above' if failed else 'no findings'}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
