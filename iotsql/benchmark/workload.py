"""The benchmark's workload, generated from a seed: the five rules R1..R5 and their message
streams, the routing filters and topics, and the 10,000-rule engine with its mixed stream.
benchmarks/README.md describes each."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

SQL_VERSION = "2016-03-23"
#: What `timestamp()` returns in every run (pinned through the context, on both sides).
TIMESTAMP = 1_700_000_000_000

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

#: The one action of every rule the benchmark creates.
SQS_ACTION: dict[str, Any] = {
    "sqs": {
        "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
        "roleArn": "arn:aws:iam::123456789012:role/bench",
        "useBase64": False,
    }
}

_FROM = re.compile(r"FROM '([^']+)'")


def rule_filter(name: str) -> str:
    """The topic filter of rule `name` (R1..R5)."""
    found = _FROM.search(RULES[name])
    assert found is not None
    return found.group(1)


#: (topic, body) of one published message.
Msg = tuple[str, bytes]


# ---- the messages of R1..R5 -----------------------------------------------------------------


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


# ---- routing: filters and topics ------------------------------------------------------------


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


def unmatchable(item: Filter) -> Filter:
    """The same filter with its last concrete level (after the first) changed into a value no
    generated topic has: its trie branches exist and are walked, but never match."""
    levels = item.text.split("/")
    for position in range(len(levels) - 1, 0, -1):
        if levels[position] not in ("+", "#"):
            levels[position] += "-x"
            return Filter("/".join(levels), item.schema)
    return Filter(f"nomatch/{item.text}", item.schema)


# ---- the engine: 10,000 routing rules and R1..R5 ---------------------------------------------


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
