"""`iotsql bench`: time iotsql against hand-written Python doing the same work.

Everything runs in one process, on workloads generated from a fixed seed:

- **rules**: five rules (SQL 2016-03-23), each on its own stream of messages, timed through
  `CompiledRule.evaluate(...).to_bytes()` and through a `RulesEngine` holding only that rule,
  against a hand-written function producing exactly the same bytes (JSON decode with whole
  numbers as Ints, the WHERE test, the projection, compact JSON encode), with the stdlib `json`
  and, when installed, with `orjson`. Every output is compared before anything is timed.
- **routing**: `TopicIndex.match` against a plain dict trie written by hand, at 1%, 10% and 100%
  of the rule count, after checking that both return the same rules for every topic.
- **engine**: `RulesEngine.publish` on a mixed stream with every routing rule plus the five.
- **compile**: distinct SQL texts compiled per second (`CompiledRule`, no cache).
- **memory**: what the engine holds per rule (tracemalloc, after minus before building it).

Each measurement is the best of `--repeat` runs, iotsql and hand-written runs interleaved, with
the garbage collector enabled (collected before each run) and `time.perf_counter_ns`.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import importlib
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_DOWN, Decimal
from types import ModuleType
from typing import Any

import iotsql
from iotsql import CompiledRule, Context, RulesEngine, TopicIndex
from iotsql.values import json_backend, set_json_backend

SECTIONS = ("rules", "routing", "engine", "compile", "memory")
SQL_VERSION = "2016-03-23"
DEFAULT_MESSAGES = 20_000
DEFAULT_RULES = 10_000
DEFAULT_REPEAT = 5
DEFAULT_SEED = 6
#: What `timestamp()` returns in every run (pinned through the context, on both sides).
TIMESTAMP = 1_700_000_000_000
#: Compile speed is measured on at most this many distinct texts per run.
COMPILE_SAMPLE = 2_000

RULES: dict[str, str] = {
    "R1": "SELECT * FROM 'building/+/+/+/temperature'",
    "R2": "SELECT device_id, temperature_c, humidity_pct FROM 'building/+/+/+/temperature' "
    "WHERE temperature_c > 28.0",
    "R3": "SELECT *, topic(3) AS machine_id, timestamp() AS ts FROM 'factory/cnc/+/telemetry'",
    "R4": "SELECT device_id, trunc((temperature_c * 9/5) + 32, 1) AS temperature_f, "
    "upper(status) AS status FROM 'building/#' WHERE humidity_pct < 40 AND battery_v >= 3.5",
    "R5": "SELECT state.reported.temp AS t, CASE state.reported.mode WHEN 'eco' THEN 1 ELSE 0 "
    "END AS eco FROM '$aws/things/+/shadow/update' WHERE state.reported.temp <> 0",
}

#: The one action of every rule the benchmark creates (the engine's recorder takes it).
SQS_ACTION: dict[str, Any] = {
    "sqs": {
        "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
        "roleArn": "arn:aws:iam::123456789012:role/bench",
        "useBase64": False,
    }
}

TARGET_RULE_RATIO = 1.5
TARGET_ROUTING_RATIO = 1.2
TARGET_ROUTING_GROWTH = 1.5
TARGET_COMPILE_PER_S = 1_000.0
TARGET_KB_PER_RULE = 10.0

Msg = tuple[str, bytes]
HandRule = Callable[[bytes, str], bytes | None]


class BenchmarkError(Exception):
    """iotsql and the hand-written baseline disagree: the numbers would compare different work."""


# ---- the messages -----------------------------------------------------------------------------


def _reading(rng: random.Random, mean: float, spread: float, whole_share: float = 0.1) -> float:
    """A sensor value with one or two decimals; `whole_share` of them whole (sent as `25.0`)."""
    value = rng.gauss(mean, spread)
    if rng.random() < whole_share:
        return float(round(value))
    return round(value, rng.choice((1, 2)))


def building_messages(rng: random.Random, count: int) -> list[Msg]:
    """Temperature sensors on `building/<building>/<floor>/<room>/temperature` (R1, R2, R4)."""
    out = []
    for _ in range(count):
        building = rng.choice(("north", "south", "east", "west", "hq"))
        floor = rng.randrange(1, 13)
        room = f"r{floor}{rng.randrange(1, 40):02d}"
        doc: dict[str, Any] = {
            "device_id": f"ts-{rng.randrange(16**6):06x}",
            "temperature_c": _reading(rng, 26.0, 4.0),
            "humidity_pct": _reading(rng, 45.0, 12.0, 0.2),
            "battery_v": round(rng.uniform(3.2, 4.2), 2),
            "status": rng.choice(("ok", "ok", "ok", "ok", "warn", "low_battery", "fault")),
        }
        if rng.random() < 0.02:  # older firmware: no status (upper(status) is then Undefined)
            del doc["status"]
        if rng.random() < 0.01:  # a battery-less sensor: the WHERE of R4 is Undefined
            del doc["battery_v"]
        out.append((f"building/{building}/f{floor}/{room}/temperature", json.dumps(doc).encode()))
    return out


def cnc_messages(rng: random.Random, count: int) -> list[Msg]:
    """CNC machine telemetry on `factory/cnc/<machine>/telemetry` (R3)."""
    out = []
    for _ in range(count):
        machine = f"cnc-{rng.randrange(1, 120):03d}"
        idle = rng.random() < 0.1
        doc = {
            "machine_id": machine,
            "vibration_rms": 0.0 if idle else round(abs(_reading(rng, 3.5, 1.8)), 2),
            "spindle_temp_c": _reading(rng, 48.0, 8.0),
            "spindle_rpm": 0 if idle else rng.randrange(6_000, 24_001, 50),
            "tool_id": f"T{rng.randrange(1, 40):02d}",
            "alarm": rng.random() < 0.03,
        }
        out.append((f"factory/cnc/{machine}/telemetry", json.dumps(doc).encode()))
    return out


def shadow_messages(rng: random.Random, count: int) -> list[Msg]:
    """Device shadow updates on `$aws/things/<thing>/shadow/update` (R5)."""
    out = []
    for _ in range(count):
        thing = f"thermostat-{rng.randrange(500):04d}"
        reported: dict[str, Any] = {}
        draw = rng.random()
        if draw < 0.05:
            reported["temp"] = 0
        elif draw < 0.10:
            reported["temp"] = 0.0  # whole: an Int 0 in 2016-03-23, so `<> 0` is false
        elif draw > 0.98:
            pass  # no temp: the WHERE is Undefined
        else:
            reported["temp"] = _reading(rng, 21.0, 2.5)
        if rng.random() > 0.03:
            reported["mode"] = rng.choice(("eco", "comfort", "away", "off"))
        body = json.dumps({"state": {"reported": reported}}).encode()
        out.append((f"$aws/things/{thing}/shadow/update", body))
    return out


def rule_messages(count: int, seed: int) -> dict[str, list[Msg]]:
    """The message stream of each rule R1..R5 (R1, R2 and R4 share the building stream)."""
    building = building_messages(random.Random(seed), count)
    cnc = cnc_messages(random.Random(seed + 1), count)
    shadow = shadow_messages(random.Random(seed + 2), count)
    return {"R1": building, "R2": building, "R3": cnc, "R4": building, "R5": shadow}


# ---- the hand-written rules ---------------------------------------------------------------------

INT_LIMIT = 10**34
_TENTH = Decimal("0.1")
_NUMBER_TYPES = frozenset((int, float))


def _whole_float(text: str) -> int | float:
    """2016-03-23: a JSON number with a fraction that is whole (`25.0`) is the Int 25."""
    number = float(text)
    if number.is_integer() and -INT_LIMIT < number < INT_LIMIT:
        return int(number)
    return number


_JSON_DECODER = json.JSONDecoder(parse_float=_whole_float)
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_loads(body: bytes) -> Any:
    return _JSON_DECODER.decode(body.decode("utf-8"))


def json_dumps(value: Any) -> bytes:
    return _JSON_ENCODER.encode(value).encode("utf-8")


def _ints_in_place(value: Any) -> Any:
    """Whole-number floats to ints, in place (orjson has no parse_float hook)."""
    if type(value) is dict:
        for key, item in value.items():
            t = type(item)
            if t is float:
                if item.is_integer() and -INT_LIMIT < item < INT_LIMIT:
                    value[key] = int(item)
            elif t is dict or t is list:
                _ints_in_place(item)
    elif type(value) is list:
        for index, item in enumerate(value):
            t = type(item)
            if t is float:
                if item.is_integer() and -INT_LIMIT < item < INT_LIMIT:
                    value[index] = int(item)
            elif t is dict or t is list:
                _ints_in_place(item)
    return value


def _fahrenheit_trunc1(celsius: float) -> int | float:
    """`trunc((c * 9/5) + 32, 1)` in exact decimal arithmetic; an Int when whole."""
    exact = Decimal(repr(celsius)) if type(celsius) is float else Decimal(celsius)
    value = (exact * 9 / 5 + 32).quantize(_TENTH, rounding=ROUND_DOWN)
    return int(value) if value == value.to_integral_value() else float(value)


def hand_written(
    loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes]
) -> dict[str, HandRule]:
    """R1..R5 as an application would write them for these messages (JSON objects), with
    AWS's semantics for the types they hold: a missing attribute is Undefined (left out of
    the output; a WHERE on it does not fire), numbers are int or float, never bool."""
    numbers = _NUMBER_TYPES

    def r1(body: bytes, topic: str) -> bytes | None:
        return dumps(loads(body))

    def r2(body: bytes, topic: str) -> bytes | None:
        doc = loads(body)
        temp = doc.get("temperature_c")
        if type(temp) not in numbers or not temp > 28.0:
            return None
        out = {}
        for key in ("device_id", "temperature_c", "humidity_pct"):
            if key in doc:
                out[key] = doc[key]
        return dumps(out)

    def r3(body: bytes, topic: str) -> bytes | None:
        doc = loads(body)
        return dumps({**doc, "machine_id": topic.split("/")[2], "ts": TIMESTAMP})

    def r4(body: bytes, topic: str) -> bytes | None:
        doc = loads(body)
        humidity = doc.get("humidity_pct")
        battery = doc.get("battery_v")
        if not (
            type(humidity) in numbers
            and humidity < 40
            and type(battery) in numbers
            and battery >= 3.5
        ):
            return None
        out: dict[str, Any] = {}
        if "device_id" in doc:
            out["device_id"] = doc["device_id"]
        celsius = doc.get("temperature_c")
        if type(celsius) in numbers:
            out["temperature_f"] = _fahrenheit_trunc1(celsius)
        status = doc.get("status")
        if type(status) is str:
            out["status"] = status.upper()
        return dumps(out)

    def r5(body: bytes, topic: str) -> bytes | None:
        doc = loads(body)
        state = doc.get("state")
        reported = state.get("reported") if type(state) is dict else None
        if type(reported) is not dict or "temp" not in reported:
            return None
        temp = reported["temp"]
        if type(temp) in numbers and temp == 0:
            return None
        out = {"t": temp}
        if "mode" in reported:
            out["eco"] = 1 if reported["mode"] == "eco" else 0
        return dumps(out)

    return {"R1": r1, "R2": r2, "R3": r3, "R4": r4, "R5": r5}


def _optional_orjson() -> ModuleType | None:
    try:
        return importlib.import_module("orjson")
    except ImportError:
        return None


def baselines() -> dict[str, dict[str, HandRule]]:
    """The hand-written rules by JSON library: `json` always, `orjson` when installed."""
    out = {"json": hand_written(json_loads, json_dumps)}
    orjson = _optional_orjson()
    if orjson is not None:
        loads = orjson.loads

        def orjson_loads(body: bytes) -> Any:
            return _ints_in_place(loads(body))

        out["orjson"] = hand_written(orjson_loads, orjson.dumps)
    return out


def iotsql_json_backend() -> str:
    """The JSON library iotsql uses by default (orjson when installed)."""
    return json_backend()


# ---- timing -------------------------------------------------------------------------------------


def _timed(run: Callable[[], object], setup: Callable[[], object] | None = None) -> int:
    if setup is not None:
        setup()
    gc.collect()
    start = time.perf_counter_ns()
    run()
    return time.perf_counter_ns() - start


def best_of(
    repeat: int, runs: dict[str, Callable[[], object]], setup: Callable[[], object] | None = None
) -> dict[str, int]:
    """The best time (ns) of each run over `repeat` rounds; each round runs every one, in an
    order rotated from round to round so that drift and warm-up fall on all alike. `setup`
    runs, untimed, before each run."""
    best: dict[str, int] = {}
    names = list(runs)
    for round_ in range(max(1, repeat)):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed = _timed(runs[name], setup)
            if name not in best or elapsed < best[name]:
                best[name] = elapsed
    return best


def _us(ns: int, count: int) -> float:
    return ns / max(1, count) / 1000.0


def _evaluate_all(rule: CompiledRule, messages: list[Msg], context: Context) -> None:
    evaluate = rule.evaluate
    for topic, body in messages:
        out = evaluate(body, topic=topic, context=context)
        if out is not None:
            out.to_bytes()


def _hand_all(fn: HandRule, messages: list[Msg]) -> None:
    for topic, body in messages:
        fn(body, topic)


def _publish_all(engine: RulesEngine, messages: Sequence[Msg], context: Context) -> None:
    publish = engine.publish
    for topic, body in messages:
        publish(topic, body, context)


# ---- section: rules -----------------------------------------------------------------------------


@dataclass
class RuleResult:
    rule: str
    sql: str
    messages: int
    fired: int
    iotsql_us: dict[str, float]
    publish_us: float
    hand_us: dict[str, float]
    ratio: dict[str, float]

    @property
    def passed(self) -> bool:
        return all(ratio <= TARGET_RULE_RATIO for ratio in self.ratio.values())


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


def _single_rule_engine(name: str, sql: str) -> RulesEngine:
    engine = RulesEngine()
    engine.create_topic_rule(
        name, {"sql": sql, "awsIotSqlVersion": SQL_VERSION, "actions": [SQS_ACTION]}
    )
    return engine


def bench_rules(count: int, repeat: int, seed: int) -> list[RuleResult]:
    streams = rule_messages(count, seed)
    hands = baselines()
    context = Context(timestamp=TIMESTAMP)
    results = []
    for name, sql in RULES.items():
        messages = streams[name]
        rule = CompiledRule(sql, SQL_VERSION)
        fired = check_rule(name, rule, messages, hands, context)
        engine = _single_rule_engine(name, sql)

        default_backend = json_backend()
        runs: dict[str, Callable[[], object]] = {
            "publish": functools.partial(_publish_with, default_backend, engine, messages, context),
        }
        for library, rules in hands.items():
            # Same JSON library on both sides: iotsql switches its codec for its own runs.
            runs[f"iotsql {library}"] = functools.partial(
                _evaluate_with, library, rule, messages, context
            )
            runs[library] = functools.partial(_hand_all, rules[name], messages)
        try:
            best = best_of(repeat, runs, engine.recorder.clear)
        finally:
            set_json_backend(default_backend)
        engine.recorder.clear()
        iotsql_us = {library: _us(best[f"iotsql {library}"], len(messages)) for library in hands}
        hand_us = {library: _us(best[library], len(messages)) for library in hands}
        results.append(RuleResult(
            rule=name, sql=sql, messages=len(messages), fired=fired, iotsql_us=iotsql_us,
            publish_us=_us(best["publish"], len(messages)), hand_us=hand_us,
            ratio={library: iotsql_us[library] / us for library, us in hand_us.items()},
        ))  # fmt: skip
    return results


def _evaluate_with(library: str, rule: CompiledRule, messages: list[Msg], context: Context) -> None:
    set_json_backend(library)
    _evaluate_all(rule, messages, context)


def _publish_with(
    library: str, engine: RulesEngine, messages: Sequence[Msg], context: Context
) -> None:
    set_json_backend(library)
    _publish_all(engine, messages, context)


# ---- section: routing ---------------------------------------------------------------------------


def _vocab(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(count))


#: Topic shapes of the routing workload: one tuple of possible values per level.
SCHEMAS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("fleet",), _vocab("region", 12), _vocab("truck", 400),
     ("gps", "speed", "fuel", "engine", "door", "tire", "cargo", "driver")),
    (("plant",), _vocab("site", 20), _vocab("line", 30), _vocab("cell", 60),
     ("power", "temp", "vibration", "count", "state", "alarm")),
    (("campus",), _vocab("bldg", 40), _vocab("floor", 12), _vocab("room", 30),
     ("temp", "co2", "occupancy", "light")),
    (("$aws",), ("things",), _vocab("thing", 3000), ("shadow",),
     ("update", "get", "delete", "documents")),
)  # fmt: skip
_SCHEMA_WEIGHTS = (3, 3, 3, 1)


@dataclass(frozen=True)
class Filter:
    text: str
    schema: int


def _concrete(rng: random.Random, schema: int) -> list[str]:
    return [rng.choice(values) for values in SCHEMAS[schema]]


def routing_filters(rng: random.Random, count: int) -> list[Filter]:
    """`count` distinct topic filters: 60% exact, 25% with `+` (a few on the first level), 15%
    ending in `#`; kinds shuffled so that any prefix of the list has about the same mix."""
    kinds = ["exact"] * round(count * 0.60) + ["plus"] * round(count * 0.25)
    kinds += ["hash"] * (count - len(kinds))
    rng.shuffle(kinds)
    seen: set[str] = set()
    out = []
    for kind in kinds:
        while True:
            schema = rng.choices(range(len(SCHEMAS)), _SCHEMA_WEIGHTS)[0]
            levels = _concrete(rng, schema)
            if kind == "plus":
                positions = rng.sample(range(1, len(levels)), 1 if rng.random() < 0.75 else 2)
                if rng.random() < 0.05:
                    positions[0] = 0
                for position in positions:
                    levels[position] = "+"
            elif kind == "hash":
                levels = [*levels[: rng.randint(2, len(levels) - 1)], "#"]
                if rng.random() < 0.03:
                    levels[0] = "+"
            text = "/".join(levels)
            if text not in seen:
                seen.add(text)
                out.append(Filter(text, schema))
                break
    return out


def routing_topics(rng: random.Random, filters: list[Filter], count: int) -> list[str]:
    """Publish topics: instances of exact filters (55%) and of wildcard filters (25%), random
    topics of the same shapes (15%), and topics under a prefix no filter names (5%)."""
    exact = [f for f in filters if "+" not in f.text and "#" not in f.text] or filters
    wild = [f for f in filters if "+" in f.text or "#" in f.text] or filters
    out = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.55:
            out.append(rng.choice(exact).text)
        elif draw < 0.80:
            chosen = rng.choice(wild)
            levels = chosen.text.split("/")
            values = SCHEMAS[chosen.schema]
            if levels[-1] == "#":
                levels = levels[:-1] + [rng.choice(v) for v in values[len(levels) - 1 :]]
            out.append(
                "/".join(rng.choice(values[i]) if lv == "+" else lv for i, lv in enumerate(levels))
            )
        elif draw < 0.95:
            schema = rng.choices(range(len(SCHEMAS)), _SCHEMA_WEIGHTS)[0]
            out.append("/".join(_concrete(rng, schema)))
        else:
            out.append("/".join(["lab", *_concrete(rng, 0)[1:]]))
    return out


class HandTrie:
    """A topic trie in plain dicts, as one would write it by hand: a level maps to its child
    node, `+` and `#` are children like any other, and the key None holds a node's items."""

    def __init__(self) -> None:
        self.root: dict[Any, Any] = {}

    def add(self, topic_filter: str, item: str) -> None:
        node = self.root
        for level in topic_filter.split("/"):
            child = node.get(level)
            if child is None:
                child = node[level] = {}
            node = child
        node.setdefault(None, []).append(item)

    def match(self, topic: str) -> list[str]:
        """`+` is one level, `#` one or more levels; neither matches a first level that starts
        with `$`."""
        found: list[str] = []
        nodes = [self.root]
        for depth, level in enumerate(topic.split("/")):
            following = []
            wildcards = depth > 0 or level[:1] != "$"
            for node in nodes:
                if wildcards:
                    rest = node.get("#")
                    if rest is not None:
                        found.extend(rest[None])
                    plus = node.get("+")
                    if plus is not None:
                        following.append(plus)
                child = node.get(level)
                if child is not None:
                    following.append(child)
            nodes = following
            if not nodes:
                return found
        for node in nodes:
            items = node.get(None)
            if items is not None:
                found.extend(items)
        return found


def unmatchable(item: Filter) -> Filter:
    """The same filter with its last concrete level (after the first) changed into a value no
    generated topic has: its trie branches exist and are walked, but never match."""
    levels = item.text.split("/")
    for position in range(len(levels) - 1, 0, -1):
        if levels[position] not in ("+", "#"):
            levels[position] += "-x"
            return Filter("/".join(levels), item.schema)
    return Filter(f"nomatch/{item.text}", item.schema)


@dataclass
class RoutingPoint:
    rules: int
    topics: int
    index_us: float
    hand_us: float
    ratio: float
    matches_per_topic: float
    matched_share: float


@dataclass
class RoutingResult:
    #: The routing workload at each size: topics drawn from that size's own filters.
    points: list[RoutingPoint]
    #: Growth: topics drawn from the smallest size's filters; the filters added at the larger
    #: sizes have the same shapes but cannot match them.
    growth_points: list[RoutingPoint]

    @property
    def ratio(self) -> float:
        return self.points[-1].ratio

    @property
    def growth(self) -> float:
        return self.growth_points[-1].index_us / self.growth_points[0].index_us

    @property
    def hand_growth(self) -> float:
        return self.growth_points[-1].hand_us / self.growth_points[0].hand_us

    @property
    def natural_growth(self) -> float:
        return self.points[-1].index_us / self.points[0].index_us


def scale_sizes(rules: int) -> list[int]:
    return sorted({max(1, rules // 100), max(1, rules // 10), max(1, rules)})


def _match_all(match: Callable[[str], object], topics: list[str]) -> None:
    for topic in topics:
        match(topic)


def routing_point(filters: list[Filter], topics: list[str], repeat: int) -> RoutingPoint:
    """Check TopicIndex against the hand trie on every topic, then time both."""
    index: TopicIndex[str] = TopicIndex()
    trie = HandTrie()
    for number, item in enumerate(filters):
        index.add(item.text, f"route_{number}")
        trie.add(item.text, f"route_{number}")
    matches = matched = 0
    for topic in topics:
        got = index.match(topic)
        if set(got) != set(trie.match(topic)) or len(got) != len(set(got)):
            raise BenchmarkError(
                f"routing with {len(filters)} filters: TopicIndex.match({topic!r}) gives "
                f"{sorted(got)}, the hand-written trie {sorted(trie.match(topic))}"
            )
        matches += len(got)
        matched += bool(got)
    best = best_of(repeat, {
        "index": lambda: _match_all(index.match, topics),
        "hand": lambda: _match_all(trie.match, topics),
    })  # fmt: skip
    index_us, hand_us = _us(best["index"], len(topics)), _us(best["hand"], len(topics))
    return RoutingPoint(
        rules=len(filters), topics=len(topics), index_us=index_us, hand_us=hand_us,
        ratio=index_us / hand_us, matches_per_topic=matches / max(1, len(topics)),
        matched_share=matched / max(1, len(topics)),
    )  # fmt: skip


def bench_routing(rules: int, topic_count: int, repeat: int, seed: int) -> RoutingResult:
    filters = routing_filters(random.Random(seed + 10), rules)
    sizes = scale_sizes(rules)
    points = [
        routing_point(filters[:size],
                      routing_topics(random.Random(seed + 11), filters[:size], topic_count),
                      repeat)
        for size in sizes
    ]  # fmt: skip
    base = sizes[0]
    topics = routing_topics(random.Random(seed + 11), filters[:base], topic_count)
    others = [unmatchable(item) for item in filters[base:]]
    growth_points = [routing_point(filters[:base] + others[: size - base], topics, repeat)
                     for size in sizes]  # fmt: skip
    return RoutingResult(points, growth_points)


# ---- section: engine ----------------------------------------------------------------------------


def routing_sql(number: int, topic_filter: str) -> str:
    """The SQL of routing rule `number`: one of four common shapes, distinct by its filter."""
    shape = number % 4
    if shape == 0:
        return f"SELECT * FROM '{topic_filter}'"
    if shape == 1:
        return f"SELECT reading, unit FROM '{topic_filter}' WHERE reading > {number % 40}"
    if shape == 2:
        return f"SELECT *, topic() AS topic, timestamp() AS ts FROM '{topic_filter}'"
    return (
        f"SELECT upper(status) AS status, reading * 2 AS doubled FROM '{topic_filter}' "
        "WHERE status <> 'off'"
    )


def engine_payloads(filters: list[Filter]) -> list[tuple[str, dict[str, Any]]]:
    """(name, topicRulePayload) of every routing rule, then R1..R5, each with one sqs action."""
    out: list[tuple[str, dict[str, Any]]] = [
        (f"route_{number}", {"sql": routing_sql(number, item.text)})
        for number, item in enumerate(filters)
    ]
    out += [(name, {"sql": sql}) for name, sql in RULES.items()]
    for _, payload in out:
        payload["awsIotSqlVersion"] = SQL_VERSION
        payload["actions"] = [SQS_ACTION]
    return out


def build_engine(payloads: Iterable[tuple[str, dict[str, Any]]]) -> RulesEngine:
    engine = RulesEngine()
    for name, payload in payloads:
        engine.create_topic_rule(name, payload)
    return engine


def mixed_stream(rng: random.Random, topics: list[str], streams: dict[str, list[Msg]],
                 count: int) -> list[Msg]:  # fmt: skip
    """Half routing traffic (a small reading on a routing topic), half R1..R5 traffic."""
    out: list[Msg] = []
    for number in range(count // 2):
        reading = {"reading": round(rng.uniform(0, 80), rng.choice((1, 2))), "unit": "C",
                   "status": rng.choice(("on", "on", "off"))}  # fmt: skip
        out.append((topics[number % len(topics)], json.dumps(reading).encode()))
    sources = [streams["R1"], streams["R3"], streams["R5"]]
    for number in range(count - len(out)):
        source = sources[number % len(sources)]
        out.append(source[(number // len(sources)) % len(source)])
    rng.shuffle(out)
    return out


@dataclass
class EngineResult:
    rules: int
    messages: int
    build_s: float
    publish_us: float
    messages_per_s: float
    #: The same stream with a sink that keeps nothing instead of the recorder (which keeps every
    #: request, and with it every message and its decoded document, for the GC to scan).
    discarding_publish_us: float
    discarding_messages_per_s: float
    matched_per_message: float
    fired_per_message: float


def _discard(request: object) -> None:
    return None


# A no-op never blocks: marked instant, the engine calls it inline rather than in a worker
# thread under the action time-out (what a plain user function gets).
_discard.instant = True  # type: ignore[attr-defined]


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
    matched = fired = 0
    for topic, body in stream:
        report = engine.publish(topic, body, context)
        matched += len(report.rules)
        fired += len(report.fired)
    engine.recorder.clear()

    publish = functools.partial(_publish_all, engine, stream, context)
    best = best_of(repeat, {"publish": publish}, engine.recorder.clear)["publish"]
    engine.recorder.clear()
    engine.register_sink("sqs", _discard)
    discarding = best_of(repeat, {"publish": publish})["publish"]
    return EngineResult(
        rules=len(payloads), messages=len(stream), build_s=build_s,
        publish_us=_us(best, len(stream)), messages_per_s=len(stream) / (best / 1e9),
        discarding_publish_us=_us(discarding, len(stream)),
        discarding_messages_per_s=len(stream) / (discarding / 1e9),
        matched_per_message=matched / len(stream), fired_per_message=fired / len(stream),
    )  # fmt: skip


# ---- section: compile ---------------------------------------------------------------------------


@dataclass
class CompileResult:
    texts: int
    rules_per_s: float
    us_per_rule: float


def compile_all(texts: Iterable[str]) -> list[CompiledRule]:
    return [CompiledRule(sql, SQL_VERSION) for sql in texts]


def bench_compile(rules: int, repeat: int, seed: int) -> CompileResult:
    filters = routing_filters(random.Random(seed + 10), min(rules, COMPILE_SAMPLE))
    CompiledRule(RULES["R4"], SQL_VERSION)  # the grammar is loaded once, before timing
    rounds = max(1, repeat)
    # Distinct texts in every round (a first level of their own), so nothing can be reused.
    texts = [
        [routing_sql(n, f"bench{r}/{item.text}") for n, item in enumerate(filters)]
        for r in range(rounds)
    ]
    best = min(_timed(functools.partial(compile_all, batch)) for batch in texts)
    return CompileResult(len(filters), len(filters) / (best / 1e9), _us(best, len(filters)))


# ---- section: memory ----------------------------------------------------------------------------


@dataclass
class MemoryResult:
    rules: int
    engine_kb_per_rule: float
    engine_peak_kb_per_rule: float
    compiled_rules: int
    compiled_kb_per_rule: float


def _traced(build: Callable[[], object]) -> tuple[int, int, object]:
    """Bytes allocated by `build()` and still held after it (and its peak), with the result
    kept alive until measured."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = build()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - before, peak - before, result


def bench_memory(rules: int, seed: int) -> MemoryResult:
    filters = routing_filters(random.Random(seed + 10), rules)
    payloads = engine_payloads(filters)
    build_engine(engine_payloads(filters[:8]))  # loads the grammar, the action catalogue...
    held, peak, _ = _traced(lambda: build_engine(payloads))
    sample = payloads[:COMPILE_SAMPLE]
    compiled, _, _ = _traced(functools.partial(compile_all, [p["sql"] for _, p in sample]))
    return MemoryResult(
        rules=len(payloads), engine_kb_per_rule=held / len(payloads) / 1024,
        engine_peak_kb_per_rule=peak / len(payloads) / 1024, compiled_rules=len(sample),
        compiled_kb_per_rule=compiled / len(sample) / 1024,
    )  # fmt: skip


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    value: float
    limit: str
    passed: bool


@dataclass
class Report:
    environment: dict[str, Any]
    config: dict[str, Any]
    rules: list[RuleResult] | None = None
    routing: RoutingResult | None = None
    engine: EngineResult | None = None
    compile: CompileResult | None = None
    memory: MemoryResult | None = None
    elapsed_s: dict[str, float] = field(default_factory=dict)

    def targets(self) -> list[Target]:
        out = []
        for rule in self.rules or []:
            for library, ratio in rule.ratio.items():
                out.append(Target(f"{rule.rule} iotsql/hand ({library})", ratio,
                                  f"<= {TARGET_RULE_RATIO}", ratio <= TARGET_RULE_RATIO))  # fmt: skip
        if self.routing is not None:
            r = self.routing
            first, last = r.points[0].rules, r.points[-1].rules
            out.append(Target(f"routing TopicIndex/hand trie at {last} rules", r.ratio,
                              f"<= {TARGET_ROUTING_RATIO:g}",
                              r.ratio <= TARGET_ROUTING_RATIO))  # fmt: skip
            out.append(Target(f"routing cost {last}/{first} rules", r.growth,
                              f"<= {TARGET_ROUTING_GROWTH}",
                              r.growth <= TARGET_ROUTING_GROWTH))  # fmt: skip
        if self.compile is not None:
            c = self.compile
            out.append(Target("compile rules/s", c.rules_per_s, f">= {TARGET_COMPILE_PER_S:,.0f}",
                              c.rules_per_s >= TARGET_COMPILE_PER_S))  # fmt: skip
        if self.memory is not None:
            m = self.memory
            out.append(Target("engine KB per rule", m.engine_kb_per_rule,
                              f"< {TARGET_KB_PER_RULE:g}",
                              m.engine_kb_per_rule < TARGET_KB_PER_RULE))  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.routing is not None:
            r = self.routing
            data["routing"].update(growth=r.growth, hand_growth=r.hand_growth,
                                   natural_growth=r.natural_growth)  # fmt: skip
        data["targets"] = [asdict(t) for t in self.targets()]
        data["passed"] = all(t.passed for t in self.targets())
        return data


def environment() -> dict[str, Any]:
    orjson = _optional_orjson()
    return {
        "iotsql": iotsql.__version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "iotsql_json": iotsql_json_backend(),
        "orjson": getattr(orjson, "__version__", "installed") if orjson is not None else None,
    }


def run(
    sections: Sequence[str] = SECTIONS,
    messages: int = DEFAULT_MESSAGES,
    rules: int = DEFAULT_RULES,
    repeat: int = DEFAULT_REPEAT,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run the chosen sections; raises BenchmarkError when iotsql and a baseline disagree."""
    gc.enable()
    report = Report(environment(), {"sections": list(sections), "messages": messages,
                                    "rules": rules, "repeat": repeat, "seed": seed,
                                    "sql_version": SQL_VERSION})  # fmt: skip
    for section in SECTIONS:
        if section not in sections:
            continue
        if progress is not None:
            progress(section)
        start = time.perf_counter()
        if section == "rules":
            report.rules = bench_rules(messages, repeat, seed)
        elif section == "routing":
            report.routing = bench_routing(rules, messages, repeat, seed)
        elif section == "engine":
            report.engine = bench_engine(rules, messages, repeat, seed)
        elif section == "compile":
            report.compile = bench_compile(rules, repeat, seed)
        else:
            report.memory = bench_memory(rules, seed)
        report.elapsed_s[section] = round(time.perf_counter() - start, 2)
    return report


# ---- text output --------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
    return lines


def _mark(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def _rules_lines(results: list[RuleResult]) -> list[str]:
    libraries = list(results[0].hand_us)
    headers = ["rule", "fires", "publish"]
    for library in libraries:
        headers += [f"iotsql {library}", f"hand {library}", f"ratio {library}"]
    headers.append(f"target <= {TARGET_RULE_RATIO}")
    rows = []
    for r in results:
        row = [r.rule, f"{r.fired / r.messages:.0%}", f"{r.publish_us:.2f}"]
        for library in libraries:
            row += [f"{r.iotsql_us[library]:.2f}", f"{r.hand_us[library]:.2f}",
                    f"{r.ratio[library]:.2f}"]  # fmt: skip
        rows.append([*row, _mark(r.passed)])
    return [
        f"Rules: µs per message, {results[0].messages:,} messages each (outputs identical to the "
        "hand-written ones on every message)",
        *_table(headers, rows),
        "iotsql = rule.evaluate(body, topic=..., context=...).to_bytes(); publish = "
        "RulesEngine.publish with only that rule (one sqs action); ratio = iotsql / hand",
    ]


def _routing_lines(r: RoutingResult) -> list[str]:
    first, last = r.points[0].rules, r.points[-1].rules
    rows = []
    for label, points in (("all match", r.points), (f"{first:,} match", r.growth_points)):
        for p in points:
            rows.append([label if p is points[0] else "", f"{p.rules:,}", f"{p.index_us:.2f}",
                         f"{p.hand_us:.2f}", f"{p.ratio:.2f}", f"{p.matches_per_topic:.2f}",
                         f"{p.matched_share:.0%}"])  # fmt: skip
    headers = ["topics", "rules", "TopicIndex", "hand trie", "ratio", "matches/topic", "matched"]
    return [
        f"Routing: µs per topic, {r.points[0].topics:,} topics (TopicIndex.match and the hand "
        "trie agree on every topic)",
        *_table(headers, rows),
        f"all match: topics drawn from all the filters of the row; {first:,} match: topics drawn "
        f"from the first {first:,} filters, the others cannot match them",
        f"ratio at {last:,} rules {r.ratio:.2f} (target <= {TARGET_ROUTING_RATIO:g}): "
        f"{_mark(r.ratio <= TARGET_ROUTING_RATIO)}",
        f"cost {last:,}/{first:,} rules, {first:,} match: {r.growth:.2f} (target <= "
        f"{TARGET_ROUTING_GROWTH}): {_mark(r.growth <= TARGET_ROUTING_GROWTH)}; hand trie "
        f"{r.hand_growth:.2f}; all match: {r.natural_growth:.2f}",
    ]


def format_report(report: Report) -> str:
    env, config = report.environment, report.config
    lines = [
        f"iotsql bench: iotsql {env['iotsql']}, {env['python']}, {env['platform']}, "
        f"{env['cpus']} CPUs, {env['date']}",
        f"seed {config['seed']}, best of {config['repeat']} (gc on, perf_counter_ns); "
        f"iotsql JSON: {env['iotsql_json']}; orjson: {env['orjson'] or 'not installed'}",
    ]
    if report.rules is not None:
        lines += ["", *_rules_lines(report.rules)]
    if report.routing is not None:
        lines += ["", *_routing_lines(report.routing)]
    if report.engine is not None:
        e = report.engine
        lines += [
            "",
            f"Engine: RulesEngine.publish, {e.rules:,} rules (one sqs action each), "
            f"{e.messages:,} mixed messages",
            f"{e.messages_per_s:,.0f} messages/s ({e.publish_us:.1f} µs per message) with the "
            f"recorder; {e.discarding_messages_per_s:,.0f} messages/s "
            f"({e.discarding_publish_us:.1f} µs) with a sink that keeps nothing",
            f"{e.matched_per_message:.2f} rules matched and {e.fired_per_message:.2f} fired per "
            f"message; engine built in {e.build_s:.1f} s "
            f"({e.rules / e.build_s:,.0f} create_topic_rule calls/s)",
        ]
    if report.compile is not None:
        c = report.compile
        lines += [
            "",
            f"Compile: {c.rules_per_s:,.0f} rules/s ({c.us_per_rule:.0f} µs per rule, "
            f"{c.texts:,} distinct texts) (target >= {TARGET_COMPILE_PER_S:,.0f}): "
            f"{_mark(c.rules_per_s >= TARGET_COMPILE_PER_S)}",
        ]
    if report.memory is not None:
        m = report.memory
        lines += [
            "",
            f"Memory: {m.engine_kb_per_rule:.1f} KB per rule held by an engine of {m.rules:,} "
            f"rules (peak while building: {m.engine_peak_kb_per_rule:.1f} KB per rule) (target < "
            f"{TARGET_KB_PER_RULE:g}): {_mark(m.engine_kb_per_rule < TARGET_KB_PER_RULE)}; a bare "
            f"CompiledRule: {m.compiled_kb_per_rule:.1f} KB",
        ]
    targets = report.targets()
    if targets:
        missed = [t.name for t in targets if not t.passed]
        summary = f"Targets: {len(targets) - len(missed)} of {len(targets)} met"
        lines += ["", summary + (f"; missed: {', '.join(missed)}" if missed else "")]
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _sections(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown) or '(none)'}: choose from {','.join(SECTIONS)}"
        )
    return chosen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `iotsql bench`, for a parser or a sub-command parser."""
    parser.add_argument(
        "--messages", type=_positive, default=DEFAULT_MESSAGES, metavar="N",
        help=f"messages per rule and per routing row (default {DEFAULT_MESSAGES:,})",
    )  # fmt: skip
    parser.add_argument(
        "--rules", type=_positive, default=DEFAULT_RULES, metavar="N",
        help=f"routing rules (default {DEFAULT_RULES:,})",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=_positive, default=DEFAULT_REPEAT, metavar="N",
        help=f"runs per measurement, the best is kept (default {DEFAULT_REPEAT})",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED,
        help=f"seed of the generated workload (default {DEFAULT_SEED})",
    )  # fmt: skip
    parser.add_argument(
        "--section", type=_sections, default=list(SECTIONS), metavar=",".join(SECTIONS),
        help="the sections to run, comma-separated (default: all)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run_command(args: argparse.Namespace) -> int:
    """Run `iotsql bench` for parsed arguments: 0, or 1 when iotsql and a hand-written
    baseline disagree (the outputs must be identical for the numbers to mean anything)."""

    def progress(section: str) -> None:
        if sys.stderr.isatty():
            print(f"bench: {section}...", file=sys.stderr, flush=True)

    try:
        report = run(args.section, args.messages, args.rules, args.repeat, args.seed, progress)
    except BenchmarkError as err:
        print(f"iotsql bench: correctness check failed: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`iotsql bench [--messages N] [--rules N] [--repeat N] [--json] [--section ...]`."""
    parser = argparse.ArgumentParser(
        prog="iotsql bench",
        description="Time iotsql against hand-written Python doing the same work.",
    )
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
