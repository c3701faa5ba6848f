"""Section `engine`: `RulesEngine.publish` with the 10,000 routing rules and R1..R5 (one `sqs`
action each) on a mixed stream, with the engine's recorder and with an instant sink that keeps
nothing (with its report, and with `report=False`), against a publish by hand of the same rules (`HandPublisher`: a dict trie of the
10,005 filters, the hand-written rule functions on the body decoded once, a sink call), after
checking that both deliver the same bodies for the same rules on every message."""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from iotsql import Context, RulesEngine
from iotsql.actions.base import ActionRequest, unrendered_request
from iotsql.benchmark.baselines import (
    HandPublisher,
    HandTrie,
    codecs,
    document_rules,
    routing_rule,
)
from iotsql.benchmark.errors import BenchmarkError
from iotsql.benchmark.rules import discard
from iotsql.benchmark.timing import best_of, us
from iotsql.benchmark.workload import (
    RULES,
    TIMESTAMP,
    Filter,
    Msg,
    engine_payloads,
    mixed_stream,
    routing_filters,
    routing_topics,
    rule_filter,
    rule_messages,
)
from iotsql.codegen import NOT_FIRED
from iotsql.message import ContextRun, Message
from iotsql.output import Output
from iotsql.rule import StatementCall
from iotsql.values import codec, json_backend

TARGET_ENGINE_RATIO = 1.5


@dataclass
class EngineResult:
    rules: int
    messages: int
    build_s: float
    #: With the recorder (which keeps every request, and with it every message and its decoded
    #: document, for the garbage collector to scan).
    publish_us: float
    messages_per_s: float
    #: With an instant sink that keeps nothing.
    discarding_publish_us: float
    discarding_messages_per_s: float
    #: The same, publish(..., report=False).
    quiet_publish_us: float
    quiet_messages_per_s: float
    #: The publish by hand, with the JSON library iotsql uses.
    hand_us: float
    #: What the deliveries alone cost (DeliveryFloor): the same statements, outputs and
    #: requests made by a plain loop over routes resolved beforehand, without the engine.
    floor_us: float
    json_library: str
    matched_per_message: float
    fired_per_message: float

    @property
    def ratio(self) -> float:
        """publish(..., report=False) (instant sink) / publish by hand."""
        return self.quiet_publish_us / self.hand_us

    @property
    def floor_ratio(self) -> float:
        """DeliveryFloor / publish by hand: what no dispatch can go under with these
        statements and these request objects."""
        return self.floor_us / self.hand_us

    @property
    def report_ratio(self) -> float:
        """publish with its report (instant sink) / publish by hand."""
        return self.discarding_publish_us / self.hand_us


def build_engine(payloads: Iterable[tuple[str, dict[str, Any]]]) -> RulesEngine:
    engine = RulesEngine()
    for name, payload in payloads:
        engine.create_topic_rule(name, payload)
    return engine


def hand_engine(filters: list[Filter], library: str, sink: Callable[[str, bytes], object]
                ) -> HandPublisher:  # fmt: skip
    """The engine's rules by hand: each routing rule, then R1..R5, under its filter."""
    loads, dumps = codecs()[library]
    publisher = HandPublisher(loads, sink)
    for number, item in enumerate(filters):
        publisher.add(item.text, f"route_{number}", routing_rule(number, dumps))
    for name, rule in document_rules(dumps).items():
        publisher.add(rule_filter(name), name, rule)
    return publisher


def check_engine(engine: RulesEngine, filters: list[Filter], stream: list[Msg], library: str,
                 context: Context) -> tuple[int, int]:  # fmt: skip
    """Publish every message through the engine (with its report, then without) and by hand;
    each must deliver the same (rule, body) pairs. Returns the rules matched and fired over the
    stream."""
    delivered: list[tuple[str, bytes]] = []
    by_hand: list[tuple[str, bytes]] = []

    def keep(request: ActionRequest) -> None:
        delivered.append((request.rule_name, request.payload))

    keep.instant = True  # type: ignore[attr-defined]
    engine.register_sink("sqs", keep)
    publisher = hand_engine(filters, library, lambda name, out: by_hand.append((name, out)))
    matched = fired = 0
    for index, (topic, body) in enumerate(stream):
        report = engine.publish(topic, body, context)
        matched += len(report.rules)
        fired += len(report.fired)
        publisher.publish(topic, body)
        reported = Counter(delivered)
        delivered.clear()
        engine.publish(topic, body, context, report=False)
        for way, got in (("", reported), (" (report=False)", Counter(delivered))):
            if got != Counter(by_hand):
                raise BenchmarkError(
                    f"engine: message {index} on {topic!r}: the engine{way} delivers "
                    f"{sorted(got)!r}, the publish by hand {sorted(by_hand)!r}; body {body!r}"
                )
        delivered.clear()
        by_hand.clear()
    return matched, fired


#: One rule on a route of DeliveryFloor: its statement, and its one action's key, constant
#: parameters, render and deliver functions.
_FloorStep = tuple[
    str, StatementCall, str, dict[str, Any], Callable[..., Any], Callable[..., Any], bool
]


class DeliveryFloor:
    """The work every delivery of this section makes, whatever dispatches it, written as a
    plain loop: per message on a topic some rule takes, a Message (its body decoded once per
    kind of document); per rule, its generated statement (CompiledRule.statement_call); per
    rule that fires, the Output with its body, the payload the SQS action delivers
    (BoundAction.deliver, or the body itself where its verbatim_json says so) and the ActionRequest, its request rendered when a sink reads it, as
    the engine's quiet publish makes it (actions.base.unrendered_request), handed to the sink.
    The routes are
    resolved before timing (as the engine's route cache holds them). The engine's own cost is
    what it takes over this: routing, plans, limits, budgets and failure handling."""

    def __init__(self, engine: RulesEngine, filters: list[Filter], topics: Iterable[str],
                 sink: Callable[[ActionRequest], object]) -> None:  # fmt: skip
        trie = HandTrie()
        for number, item in enumerate(filters):
            trie.add(item.text, f"route_{number}")
        for name in RULES:
            trie.add(rule_filter(name), name)
        self.sink = sink
        self.routes: dict[str, list[_FloorStep]] = {}
        for topic in topics:
            steps = self.routes[topic] = []
            for name in trie.match(topic):
                rule = engine.rule(name)
                call = rule.compiled.statement_call()
                (action,) = rule.actions
                constant, deliver = action.constant_params, action.deliver
                if call is None or constant is None or deliver is None:
                    raise BenchmarkError(f"engine: rule {name} is not a plain statement")
                steps.append((name, call, action.key, constant, action.render, deliver,
                              action.verbatim_json))  # fmt: skip

    def deliver(self, context: Context, part: Sequence[Msg]) -> None:
        routes, sink, dumps = self.routes, self.sink, codec.dumps
        for topic, body in part:
            steps = routes[topic]
            if not steps:
                continue
            message = Message(body, topic, context)
            for name, call, key, constant, render, deliver, verbatim in steps:
                whole = call.whole_ints
                doc = message.raw_document(whole) if call.raw else message.document(whole)
                version = call.run_version
                run = None if version is None else ContextRun(message, topic, version)
                value = call.function(doc, run)
                if value is NOT_FIRED:
                    continue
                encoded = dumps(value)
                output = Output(value, encoded, call.max_output)
                if verbatim and type(value) is dict:  # (BoundAction.verbatim_json)
                    delivered = encoded
                else:
                    delivered = deliver(constant, encoded, output, message)
                sink(unrendered_request(name, key, delivered, message, topic, output, render,
                                        constant))  # fmt: skip


def check_floor(floor: DeliveryFloor, engine: RulesEngine, stream: list[Msg],
                context: Context) -> None:  # fmt: skip
    """The floor delivers what the engine delivers, message by message (else its figure would
    measure other work)."""
    mine: list[tuple[str, bytes]] = []
    theirs: list[tuple[str, bytes]] = []
    sink = floor.sink
    floor.sink = lambda request: mine.append((request.rule_name, request.payload))

    def keep(request: ActionRequest) -> None:
        theirs.append((request.rule_name, request.payload))

    keep.instant = True  # type: ignore[attr-defined]
    previous = engine.sink_for("sqs")
    engine.register_sink("sqs", keep)
    try:
        for index, (topic, body) in enumerate(stream):
            floor.deliver(context, [(topic, body)])
            engine.publish(topic, body, context, report=False)
            if Counter(mine) != Counter(theirs):
                raise BenchmarkError(
                    f"engine: message {index} on {topic!r}: the delivery floor makes "
                    f"{sorted(mine)!r}, the engine {sorted(theirs)!r}"
                )
            mine.clear()
            theirs.clear()
    finally:
        floor.sink = sink
        engine.register_sink("sqs", previous)


def _publish_all(engine: RulesEngine, context: Context, part: Sequence[Msg]) -> None:
    publish = engine.publish
    for topic, body in part:
        publish(topic, body, context)


def _quiet_all(engine: RulesEngine, context: Context, part: Sequence[Msg]) -> None:
    publish = engine.publish
    for topic, body in part:
        publish(topic, body, context, report=False)


def _hand_all(publisher: HandPublisher, part: Sequence[Msg]) -> None:
    publish = publisher.publish
    for topic, body in part:
        publish(topic, body)


def _discard_output(rule_name: str, out: bytes) -> None:
    return None


def bench_engine(rules: int, count: int, repeat: int, seed: int) -> EngineResult:
    rng = random.Random(seed + 10)
    filters = routing_filters(rng, rules)
    topics = routing_topics(rng, filters, count)
    stream = mixed_stream(random.Random(seed + 20), topics, rule_messages(count, seed), count)
    payloads = engine_payloads(filters)
    start = time.perf_counter()
    engine = build_engine(payloads)
    build_s = time.perf_counter() - start
    context = Context(timestamp=TIMESTAMP)
    library = json_backend()
    matched, fired = check_engine(engine, filters, stream, library, context)

    engine.register_sink("sqs", engine.recorder.sink("sqs"))
    publish = functools.partial(_publish_all, engine, context)
    recorded = best_of(repeat, {"publish": publish}, stream, engine.recorder.clear)["publish"]
    engine.recorder.clear()
    engine.register_sink("sqs", discard)
    hand = functools.partial(_hand_all, hand_engine(filters, library, _discard_output))
    quiet = functools.partial(_quiet_all, engine, context)
    floor = DeliveryFloor(engine, filters, (topic for topic, _ in stream), discard)
    check_floor(floor, engine, stream, context)
    runs: dict[str, Callable[[Sequence[Msg]], object]] = {
        "publish": publish, "quiet": quiet, "hand": hand,
        "floor": functools.partial(floor.deliver, context),
    }  # fmt: skip
    best = best_of(repeat, runs, stream)
    return EngineResult(
        rules=len(payloads), messages=len(stream), build_s=build_s,
        publish_us=us(recorded, len(stream)), messages_per_s=len(stream) / (recorded / 1e9),
        discarding_publish_us=us(best["publish"], len(stream)),
        discarding_messages_per_s=len(stream) / (best["publish"] / 1e9),
        quiet_publish_us=us(best["quiet"], len(stream)),
        quiet_messages_per_s=len(stream) / (best["quiet"] / 1e9),
        hand_us=us(best["hand"], len(stream)), json_library=library,
        floor_us=us(best["floor"], len(stream)),
        matched_per_message=matched / len(stream), fired_per_message=fired / len(stream),
    )  # fmt: skip
