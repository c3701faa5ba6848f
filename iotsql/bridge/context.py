"""The context of a message received from a broker: what a subscriber knows of it.

A subscriber sees the topic, the body and the MQTT 5 properties of a message, never the
publisher's connection: its client id, principal and source IP stay with the broker. So in a
bridge `clientid()`, `principal()` and `sourceip()` are Undefined unless a `ContextMap` takes
them from the message, for example `clientid=topic:2` (the second topic level, as
`topic(2)`) or `clientid=user-property:client` (the first value of a user property), or sets a
constant (`principal=value:bridge`). `timestamp()` is the time the bridge received the message;
`traceid()` a new UUID per message."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iotsql.errors import IotSqlError
from iotsql.message import Context
from iotsql.topics import parse_basic_ingest, topic_level

#: The context fields a map can set, and the sources they can come from.
MAPPABLE = ("clientid", "principal", "sourceip")
SOURCES = ("topic:N", "user-property:NAME", "value:TEXT")


class ContextMapError(IotSqlError):
    code = "InvalidRequestException"


@dataclass(frozen=True)
class _Source:
    kind: str  # "topic", "user-property" or "value"
    argument: str
    level: int = 0

    def read(self, topic: str, user_properties: list[tuple[str, str]]) -> str | None:
        if self.kind == "value":
            return self.argument
        if self.kind == "topic":
            ingest = parse_basic_ingest(topic)
            return topic_level(ingest.topic if ingest else topic, self.level)
        return next((value for name, value in user_properties if name == self.argument), None)


class ContextMap:
    """Where the bridge takes `clientid`, `principal` and `sourceip` from: `NAME=SOURCE`
    specs, SOURCE being `topic:N`, `user-property:NAME` or `value:TEXT`."""

    def __init__(self, specs: Iterable[str] | Mapping[str, str] = ()) -> None:
        items = specs.items() if isinstance(specs, Mapping) else (_split(s) for s in specs)
        self.sources: dict[str, _Source] = {}
        for name, source in items:
            if name not in MAPPABLE:
                raise ContextMapError(
                    f"context mapping {name}={source}: {name!r} cannot be mapped; "
                    f"mappable: {', '.join(MAPPABLE)}"
                )
            self.sources[name] = _parse_source(name, source)

    def context(
        self,
        topic: str,
        user_properties: list[tuple[str, str]],
        mqtt_properties: Mapping[str, Any],
        received_at: int | None = None,
    ) -> Context:
        fields: dict[str, Any] = {
            name: source.read(topic, user_properties) for name, source in self.sources.items()
        }
        return Context(
            timestamp=received_at if received_at is not None else int(time.time() * 1000),
            user_properties=tuple(user_properties),
            mqtt_properties=dict(mqtt_properties),
            **fields,
        )

    def __bool__(self) -> bool:
        return bool(self.sources)


def _split(spec: str) -> tuple[str, str]:
    name, sep, source = spec.partition("=")
    if not sep:
        raise ContextMapError(
            f"context mapping {spec!r}: expected NAME=SOURCE, for example clientid=topic:2 "
            "or clientid=user-property:client"
        )
    return name.strip(), source.strip()


def _parse_source(name: str, source: str) -> _Source:
    kind, sep, argument = source.partition(":")
    if sep and kind == "topic":
        try:
            level = int(argument)
        except ValueError:
            level = 0
        if level < 1:
            raise ContextMapError(
                f"context mapping {name}={source}: a topic level is a number from 1 (as topic(N))"
            )
        return _Source("topic", argument, level)
    if sep and kind == "user-property" and argument:
        return _Source("user-property", argument)
    if sep and kind == "value":
        return _Source("value", argument)
    raise ContextMapError(
        f"context mapping {name}={source}: unknown source; expected one of {', '.join(SOURCES)}"
    )
