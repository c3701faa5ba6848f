"""Section `rules`: each of R1..R5 on its own message stream, with each JSON library:

- *evaluate*: `rule.evaluate(body, topic=..., context=...).to_bytes()` against the hand-written
  function (decode, WHERE, projection, encode);
- *publish*: `RulesEngine.publish(topic, body, context, report=False)` on an engine holding
  only that rule, whose one `sqs` action goes to an instant sink that keeps nothing, against a
  publish by hand (`HandPublisher`: a dict-trie match of the topic, the hand-written function,
  a sink call); and the same publish building its report (`report=True`, the default), for
  reference;
- *floor*: the hand-written rule behind evaluate's call shape (`HandEvaluator`: keyword
  arguments, a result object whose `to_bytes()` encodes) against the hand-written function, for
  reference: the part of the evaluate ratio that the API's shape costs, whatever runs the rule.

Before anything is timed, the output bytes of every side are compared on every message."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from iotsql import CompiledRule, Context, RulesEngine
from iotsql.actions.base import ActionRequest, Sink
from iotsql.benchmark.baselines import (
    HandEvaluator,
    HandPublisher,
    HandRule,
    baselines,
    codecs,
    document_rules,
    hand_evaluators,
)
from iotsql.benchmark.errors import BenchmarkError
from iotsql.benchmark.timing import best_of, us
from iotsql.benchmark.workload import (
    RULES,
    SQL_VERSION,
    SQS_ACTION,
    TIMESTAMP,
    Msg,
    rule_filter,
    rule_messages,
)
from iotsql.values import json_backend, set_json_backend

TARGET_EVALUATE_RATIO = 1.2
TARGET_PUBLISH_RATIO = 1.5


@dataclass
class RuleResult:
    rule: str
    sql: str
    messages: int
    fired: int
    #: µs per message, by JSON library.
    iotsql_us: dict[str, float]
    hand_us: dict[str, float]
    #: RulesEngine.publish building its report (the default).
    publish_us: dict[str, float]
    hand_publish_us: dict[str, float]
    #: RulesEngine.publish(..., report=False).
    quiet_publish_us: dict[str, float]
    #: HandEvaluator: the hand-written rule behind evaluate's call shape.
    floor_us: dict[str, float]

    @property
    def ratio(self) -> dict[str, float]:
        """evaluate / hand-written, by JSON library."""
        return {lib: self.iotsql_us[lib] / self.hand_us[lib] for lib in self.hand_us}

    @property
    def floor_ratio(self) -> dict[str, float]:
        """evaluate's call shape by hand / hand-written, by JSON library."""
        return {lib: self.floor_us[lib] / self.hand_us[lib] for lib in self.hand_us}

    @property
    def publish_ratio(self) -> dict[str, float]:
        """publish with its report / hand-written publish, by JSON library."""
        return {lib: self.publish_us[lib] / self.hand_publish_us[lib] for lib in self.hand_us}

    @property
    def quiet_publish_ratio(self) -> dict[str, float]:
        """publish(..., report=False) / hand-written publish, by JSON library."""
        return {lib: self.quiet_publish_us[lib] / self.hand_publish_us[lib] for lib in self.hand_us}


def discard(request: object) -> None:
    """An action sink that keeps nothing."""
    return None


# A no-op never blocks: marked instant, the engine calls it inline rather than in a worker
# thread under the action time-out (what a plain user function gets).
discard.instant = True  # type: ignore[attr-defined]


def single_rule_engine(name: str, sql: str, sink: Sink) -> RulesEngine:
    engine = RulesEngine()
    engine.register_sink("sqs", sink)
    engine.create_topic_rule(
        name, {"sql": sql, "awsIotSqlVersion": SQL_VERSION, "actions": [SQS_ACTION]}
    )
    return engine


def check_rule(
    name: str, rule: CompiledRule, messages: list[Msg], hands: dict[str, dict[str, HandRule]],
    context: Context,
) -> int:  # fmt: skip
    """Compare iotsql's output bytes with every baseline's on every message; the number of
    messages the rule fires on. Raises BenchmarkError on the first difference."""
    fired = 0
    for index, (topic, body) in enumerate(messages):
        out = rule.evaluate(body, topic=topic, context=context)
        expected = None if out is None else out.to_bytes()
        fired += out is not None
        for library, rules in hands.items():
            actual = rules[name](body, topic)
            if actual != expected:
                raise BenchmarkError(
                    f"{name}: message {index} on {topic!r}: iotsql gives {expected!r}, the "
                    f"hand-written rule ({library}) gives {actual!r}; body {body!r}"
                )
    return fired


def check_floor(
    name: str, rule: CompiledRule, messages: list[Msg],
    floors: dict[str, dict[str, HandEvaluator]], context: Context,
) -> None:  # fmt: skip
    """The hand-written evaluate fires on the same messages as iotsql's, with the same bytes.
    Raises BenchmarkError on the first difference."""
    for index, (topic, body) in enumerate(messages):
        out = rule.evaluate(body, topic=topic, context=context)
        expected = None if out is None else out.to_bytes()
        for library, evaluators in floors.items():
            mine = evaluators[name].evaluate(body, topic=topic, context=context)
            actual = None if mine is None else mine.to_bytes()
            if actual != expected:
                raise BenchmarkError(
                    f"{name}: message {index} on {topic!r}: iotsql gives {expected!r}, the "
                    f"hand-written evaluate ({library}) gives {actual!r}; body {body!r}"
                )


def check_publish(name: str, sql: str, messages: list[Msg], library: str, context: Context) -> None:
    """The bodies `RulesEngine.publish` delivers, with its report and without, equal those of
    the publish by hand, message by message. Raises BenchmarkError on the first difference."""
    delivered: list[bytes] = []

    def keep(request: ActionRequest) -> None:
        delivered.append(request.payload)

    keep.instant = True  # type: ignore[attr-defined]
    engine = single_rule_engine(name, sql, keep)
    by_hand: list[bytes] = []
    publisher = _hand_publisher(name, library, lambda rule_name, out: by_hand.append(out))
    previous = json_backend()
    set_json_backend(library)
    try:
        for index, (topic, body) in enumerate(messages):
            publisher.publish(topic, body)
            for report in (True, False):
                engine.publish(topic, body, context, report=report)
                if delivered != by_hand:
                    raise BenchmarkError(
                        f"{name}: publish (report={report}) of message {index} on {topic!r} "
                        f"({library}): the engine delivers {delivered!r}, the publish by hand "
                        f"{by_hand!r}; body {body!r}"
                    )
                delivered.clear()
            by_hand.clear()
    finally:
        set_json_backend(previous)


def _hand_publisher(name: str, library: str, sink: Callable[[str, bytes], object]) -> HandPublisher:
    loads, dumps = codecs()[library]
    publisher = HandPublisher(loads, sink)
    publisher.add(rule_filter(name), name, document_rules(dumps)[name])
    return publisher


def _discard_output(rule_name: str, out: bytes) -> None:
    return None


def bench_rules(count: int, repeat: int, seed: int) -> list[RuleResult]:
    streams = rule_messages(count, seed)
    hands = baselines()
    floors = hand_evaluators({name: rule_filter(name) for name in RULES})
    context = Context(timestamp=TIMESTAMP)
    default_backend = json_backend()
    results = []
    for name, sql in RULES.items():
        messages = streams[name]
        rule = CompiledRule(sql, SQL_VERSION)
        fired = check_rule(name, rule, messages, hands, context)
        check_floor(name, rule, messages, floors, context)
        for library in hands:
            check_publish(name, sql, messages, library, context)
        engine = single_rule_engine(name, sql, discard)
        runs: dict[str, Callable[[Sequence[Msg]], object]] = {}
        for library, rules in hands.items():
            # Same JSON library on both sides: iotsql switches its codec for its own runs.
            runs[f"evaluate {library}"] = functools.partial(_evaluate_with, library, rule, context)
            runs[f"hand {library}"] = functools.partial(_hand_all, rules[name])
            runs[f"floor {library}"] = functools.partial(_floor_all, floors[library][name], context)
            runs[f"publish {library}"] = functools.partial(_publish_with, library, engine, context)
            runs[f"quiet publish {library}"] = functools.partial(
                _quiet_publish_with, library, engine, context
            )
            publisher = _hand_publisher(name, library, _discard_output)
            runs[f"hand publish {library}"] = functools.partial(_hand_publish_all, publisher)
        try:
            best = best_of(repeat, runs, messages)
        finally:
            set_json_backend(default_backend)

        per_message = functools.partial(_per_message, best, list(hands), len(messages))
        results.append(RuleResult(
            rule=name, sql=sql, messages=len(messages), fired=fired,
            iotsql_us=per_message("evaluate"), hand_us=per_message("hand"),
            publish_us=per_message("publish"), hand_publish_us=per_message("hand publish"),
            quiet_publish_us=per_message("quiet publish"), floor_us=per_message("floor"),
        ))  # fmt: skip
    return results


def _per_message(best: dict[str, int], libraries: list[str], count: int, kind: str
                 ) -> dict[str, float]:  # fmt: skip
    return {library: us(best[f"{kind} {library}"], count) for library in libraries}


def _evaluate_with(library: str, rule: CompiledRule, context: Context, part: Sequence[Msg]) -> None:
    set_json_backend(library)
    evaluate = rule.evaluate
    for topic, body in part:
        out = evaluate(body, topic=topic, context=context)
        if out is not None:
            out.to_bytes()


def _floor_all(evaluator: HandEvaluator, context: Context, part: Sequence[Msg]) -> None:
    evaluate = evaluator.evaluate
    for topic, body in part:
        out = evaluate(body, topic=topic, context=context)
        if out is not None:
            out.to_bytes()


def _hand_all(fn: HandRule, part: Sequence[Msg]) -> None:
    for topic, body in part:
        fn(body, topic)


def _publish_with(library: str, engine: RulesEngine, context: Context, part: Sequence[Msg]) -> None:
    set_json_backend(library)
    publish = engine.publish
    for topic, body in part:
        publish(topic, body, context)


def _quiet_publish_with(
    library: str, engine: RulesEngine, context: Context, part: Sequence[Msg]
) -> None:
    set_json_backend(library)
    publish = engine.publish
    for topic, body in part:
        publish(topic, body, context, report=False)


def _hand_publish_all(publisher: HandPublisher, part: Sequence[Msg]) -> None:
    publish = publisher.publish
    for topic, body in part:
        publish(topic, body)
