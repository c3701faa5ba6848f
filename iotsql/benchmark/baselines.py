"""The hand-written Python that iotsql is measured against: what an application would write to
do the same work on the benchmark's messages, with AWS's semantics for the types they hold (a
missing attribute is Undefined: left out of the output, a WHERE on it does not fire; numbers are
int or float, never bool; 2016-03-23 reads whole-number doubles as Ints).

- `hand_written(loads, dumps)`: R1..R5 as functions of (body, topic) -> output bytes or None;
- `HandTrie`: a topic trie in plain dicts;
- `HandPublisher`: a publish by hand: the trie's match, the body decoded once, each matching
  rule's function on the decoded document, and a sink call per output;
- `HandEvaluator`: the hand-written rule behind `CompiledRule.evaluate`'s call shape (what the
  API alone costs over a function returning bytes: the floor of the evaluate ratios);
- `routing_rule`: the four shapes of the engine section's routing rules, by hand.

Each exists for the stdlib `json` and, when installed, for `orjson` (`baselines()`), so that
every ratio compares the same JSON work on both sides."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from types import ModuleType
from typing import Any

from iotsql.benchmark.workload import TIMESTAMP

#: A rule by hand on a decoded document: (document, topic) -> output bytes, or None.
DocRule = Callable[[Any, str], "bytes | None"]
#: A rule by hand on a message: (body, topic) -> output bytes, or None.
HandRule = Callable[[bytes, str], "bytes | None"]
Loads = Callable[[bytes], Any]
Dumps = Callable[[Any], bytes]

INT_LIMIT = 10**34
_TENTH = Decimal("0.1")
_NUMBER_TYPES = frozenset((int, float))


# ---- JSON in and out, by library ----------------------------------------------------------------


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


def optional_orjson() -> ModuleType | None:
    try:
        return importlib.import_module("orjson")
    except ImportError:
        return None


def codecs() -> dict[str, tuple[Loads, Dumps]]:
    """(loads, dumps) by JSON library: `json` always, `orjson` when installed."""
    out: dict[str, tuple[Loads, Dumps]] = {"json": (json_loads, json_dumps)}
    orjson = optional_orjson()
    if orjson is not None:
        orjson_loads_raw = orjson.loads

        def orjson_loads(body: bytes) -> Any:
            return _ints_in_place(orjson_loads_raw(body))

        out["orjson"] = (orjson_loads, orjson.dumps)
    return out


# ---- R1..R5 -------------------------------------------------------------------------------------


def _fahrenheit_trunc1(celsius: float) -> int | float:
    """`trunc((c * 9/5) + 32, 1)` in exact decimal arithmetic; an Int when whole."""
    exact = Decimal(repr(celsius)) if type(celsius) is float else Decimal(celsius)
    value = (exact * 9 / 5 + 32).quantize(_TENTH, rounding=ROUND_DOWN)
    return int(value) if value == value.to_integral_value() else float(value)


def document_rules(dumps: Dumps) -> dict[str, DocRule]:
    """R1..R5 on a decoded document (a JSON object for these messages); none changes it, so
    several rules can share one decoded document, as in a publish."""
    numbers = _NUMBER_TYPES

    def r1(doc: Any, topic: str) -> bytes | None:
        return dumps(doc)

    def r2(doc: Any, topic: str) -> bytes | None:
        temp = doc.get("temperature_c")
        if type(temp) not in numbers or not temp > 28.0:
            return None
        out = {}
        for key in ("device_id", "temperature_c", "humidity_pct"):
            if key in doc:
                out[key] = doc[key]
        return dumps(out)

    def r3(doc: Any, topic: str) -> bytes | None:
        return dumps({**doc, "machine_id": topic.split("/")[2], "ts": TIMESTAMP})

    def r4(doc: Any, topic: str) -> bytes | None:
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

    def r5(doc: Any, topic: str) -> bytes | None:
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


def hand_written(loads: Loads, dumps: Dumps) -> dict[str, HandRule]:
    """R1..R5 on a message: decode, then the rule (what one rule's evaluation does)."""

    def on_body(rule: DocRule) -> HandRule:
        def evaluate(body: bytes, topic: str) -> bytes | None:
            return rule(loads(body), topic)

        return evaluate

    return {name: on_body(rule) for name, rule in document_rules(dumps).items()}


def baselines() -> dict[str, dict[str, HandRule]]:
    """The hand-written rules by JSON library: `json` always, `orjson` when installed."""
    return {library: hand_written(*codec) for library, codec in codecs().items()}


# ---- the routing rules of the engine section ---------------------------------------------------


def routing_rule(number: int, dumps: Dumps) -> DocRule:
    """Routing rule `number` (workload.routing_sql) by hand."""
    numbers = _NUMBER_TYPES
    shape = number % 4
    if shape == 0:

        def select_all(doc: Any, topic: str) -> bytes | None:
            return dumps(doc)

        return select_all
    if shape == 1:
        threshold = number % 40

        def above(doc: Any, topic: str) -> bytes | None:
            reading = doc.get("reading")
            if type(reading) not in numbers or not reading > threshold:
                return None
            out = {"reading": reading}
            if "unit" in doc:
                out["unit"] = doc["unit"]
            return dumps(out)

        return above
    if shape == 2:

        def with_topic(doc: Any, topic: str) -> bytes | None:
            return dumps({**doc, "topic": topic, "ts": TIMESTAMP})

        return with_topic

    def status_on(doc: Any, topic: str) -> bytes | None:
        status = doc.get("status")
        if type(status) is not str or status == "off":
            return None
        out: dict[str, Any] = {"status": status.upper()}
        reading = doc.get("reading")
        if type(reading) in numbers:
            doubled = reading * 2  # exact for a double; a whole result is an Int (2016-03-23)
            out["doubled"] = (
                int(doubled) if type(doubled) is float and doubled.is_integer() else doubled
            )
        return dumps(out)

    return status_on


# ---- routing and publishing ---------------------------------------------------------------------


class HandTrie:
    """A topic trie in plain dicts, as one would write it by hand: a level maps to its child
    node, `+` and `#` are children like any other, and the key None holds a node's items."""

    def __init__(self) -> None:
        self.root: dict[Any, Any] = {}

    def add(self, topic_filter: str, item: Any) -> None:
        node = self.root
        for level in topic_filter.split("/"):
            child = node.get(level)
            if child is None:
                child = node[level] = {}
            node = child
        node.setdefault(None, []).append(item)

    def match(self, topic: str) -> list[Any]:
        """`+` is one level, `#` one or more levels; neither matches a first level that starts
        with `$`."""
        found: list[Any] = []
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


#: The sink of a hand-written publish: (rule name, output bytes).
HandSink = Callable[[str, bytes], object]


class HandPublisher:
    """A publish by hand: match the topic in a `HandTrie` of (rule name, rule function), decode
    the body once if any rule matched, run each matching rule on the document, and call the
    sink with each output."""

    def __init__(self, loads: Loads, sink: HandSink) -> None:
        self.trie = HandTrie()
        self.loads = loads
        self.sink = sink

    def add(self, topic_filter: str, name: str, rule: DocRule) -> None:
        self.trie.add(topic_filter, (name, rule))

    def publish(self, topic: str, body: bytes) -> None:
        matched = self.trie.match(topic)
        if not matched:
            return
        doc = self.loads(body)
        sink = self.sink
        for name, rule in matched:
            out = rule(doc, topic)
            if out is not None:
                sink(name, out)


# ---- the call shape of evaluate -----------------------------------------------------------------


class HandResult:
    """What `HandEvaluator` returns: the output value, encoded by `to_bytes()` on first call
    (the shape of iotsql's `Output`, with none of its checks)."""

    __slots__ = ("_body", "value")

    #: The encoder of the JSON library in use (set on a subclass per library).
    dumps: Dumps

    def __init__(self, value: Any) -> None:
        self.value = value
        self._body: bytes | None = None

    def to_bytes(self) -> bytes:
        body = self._body
        if body is None:
            body = self._body = self.dumps(self.value)
        return body


class HandEvaluator:
    """A rule by hand behind `CompiledRule.evaluate`'s call shape: `evaluate(body, topic=...,
    context=...)` takes the message when its topic matches the filter (remembered per topic),
    decodes it, runs the rule and returns a `HandResult`, or None when the rule does not fire.
    No limits, no context functions, no checks of the body or the topic: what is left is the
    cost that any evaluate returning a result object pays over a function returning bytes.
    `evaluate` is a closure over its parts (no attribute reads): the floor, not a rival."""

    def __init__(self, topic_filter: str, rule: Callable[[Any, str], Any], codec: tuple[Loads, Dumps]
                 ) -> None:  # fmt: skip
        trie = HandTrie()
        trie.add(topic_filter, True)
        loads = codec[0]
        result = type(
            "HandResult", (HandResult,), {"__slots__": (), "dumps": staticmethod(codec[1])}
        )
        topics: dict[str, bool] = {}

        def evaluate(payload: bytes, topic: str | None = None, context: Any = None, *,
                     provider: Any = None, rule_name: str | None = None) -> HandResult | None:  # fmt: skip
            if topic is not None:
                try:
                    matched = topics[topic]
                except KeyError:
                    matched = topics[topic] = bool(trie.match(topic))
                if not matched:
                    return None
            value = rule(loads(payload), topic or "")
            return None if value is None else result(value)

        self.evaluate = evaluate


def hand_evaluators(topic_filters: dict[str, str]) -> dict[str, dict[str, HandEvaluator]]:
    """R1..R5 behind evaluate's call shape, by JSON library (the rules return their output
    values, which the result encodes)."""
    values = document_rules(_unencoded)
    return {
        library: {
            name: HandEvaluator(topic_filters[name], rule, codec) for name, rule in values.items()
        }
        for library, codec in codecs().items()
    }


def _unencoded(value: Any) -> Any:
    """The `dumps` of `document_rules` whose rules return output values, not bytes."""
    return value
