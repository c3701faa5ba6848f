"""A published message as the rules engine sees it: the body (decoded once, lazily, and shared
by every rule), the topic, and the context of the publish (client id, principal, time, MQTT 5
properties...). Also `Run`, the state of one rule's evaluation of one message."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iotsql.errors import InvalidPayloadError, IotSqlError
from iotsql.values import NO_RAW, UNDEFINED, Binary, codec, encode_json, normalize_json

_CONTEXT_KEYS = {
    "clientid": "clientid",
    "clientId": "clientid",
    "client_id": "clientid",
    "principal": "principal",
    "timestamp": "timestamp",
    "accountid": "accountid",
    "accountId": "accountid",
    "account_id": "accountid",
    "sourceip": "sourceip",
    "sourceIp": "sourceip",
    "source_ip": "sourceip",
    "traceid": "traceid",
    "traceId": "traceid",
    "trace_id": "traceid",
    "protocol": "protocol",
    "userProperties": "user_properties",
    "user_properties": "user_properties",
    "mqttProperties": "mqtt_properties",
    "mqtt_properties": "mqtt_properties",
}

#: The account id `accountid()` returns when the context names none (the docs' example id).
DEFAULT_ACCOUNT_ID = "123456789012"


@dataclass(frozen=True, slots=True)
class Context:
    """What a message carries besides its body. Unset fields make the matching functions
    return Undefined, except `timestamp` (the time of the publish), `accountid`
    (DEFAULT_ACCOUNT_ID), `traceid` (a fresh UUID per MQTT message) and `clientid` over HTTP
    (`n/a`, as documented)."""

    clientid: str | None = None
    principal: str | None = None
    timestamp: int | None = None
    accountid: str | None = None
    sourceip: str | None = None
    traceid: str | None = None
    protocol: str = "mqtt"
    user_properties: tuple[tuple[str, str], ...] = ()
    mqtt_properties: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Context | Mapping[str, Any] | None) -> Context:
        """A Context from itself, None, or a mapping with the conformance format's keys
        (`clientid`, `userProperties`...; snake_case and camelCase spellings are accepted)."""
        if value is None:
            return _EMPTY_CONTEXT
        if isinstance(value, Context):
            return value
        if not isinstance(value, Mapping):
            raise IotSqlError(f"context must be a mapping, not {type(value).__name__}")
        fields: dict[str, Any] = {}
        for key, item in value.items():
            name = _CONTEXT_KEYS.get(key)
            if name is None:
                raise IotSqlError(
                    f"unknown context key {key!r}; known keys: "
                    + ", ".join(sorted({k for k in _CONTEXT_KEYS if k.islower() or "_" not in k}))
                )
            fields[name] = item
        if "user_properties" in fields:
            fields["user_properties"] = _user_properties(fields["user_properties"])
        if "mqtt_properties" in fields:
            props = fields["mqtt_properties"]
            if not isinstance(props, Mapping):
                raise IotSqlError("mqttProperties must be an object")
            fields["mqtt_properties"] = dict(props)
        if fields.get("timestamp") is not None:
            fields["timestamp"] = _timestamp(fields["timestamp"])
        for name in _TEXT_FIELDS:
            text = fields.get(name)
            if text is not None and type(text) is not str:
                # (what the context functions return goes into outputs as it is: a value that
                # is not text would be a non-JSON output, or text AWS never gives)
                raise IotSqlError(f"context {name} must be a string, not {type(text).__name__}")
        protocol = str(fields.get("protocol", "mqtt")).lower()
        if protocol not in ("mqtt", "http", "websocket", "mqtt-over-websocket"):
            raise IotSqlError(f"unknown protocol {protocol!r}: expected mqtt or http")
        fields["protocol"] = protocol
        return cls(**fields)

    @property
    def over_mqtt(self) -> bool:
        return self.protocol != "http"


_EMPTY_CONTEXT = Context()

#: The context fields that hold text (a context function returns them as they are).
_TEXT_FIELDS = ("clientid", "principal", "accountid", "sourceip", "traceid")

#: A timestamp is a Java long of milliseconds, as AWS's `timestamp()` returns.
_LONG_RANGE = range(-(2**63), 2**63)


def _timestamp(stamp: Any) -> int:
    """The context's `timestamp` as whole milliseconds: a finite number within a Java long."""
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        raise IotSqlError("context timestamp must be milliseconds since the epoch")
    if isinstance(stamp, float) and not math.isfinite(stamp):
        raise IotSqlError(f"context timestamp must be a finite number, not {stamp}")
    millis = int(stamp)
    if millis not in _LONG_RANGE:
        raise IotSqlError(
            "context timestamp must be milliseconds since the epoch within a Java long "
            f"(-2^63..2^63-1), not {millis}"
        )
    return millis


def _user_properties(value: Any) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        value = list(value.items())
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise IotSqlError("userProperties must be a list of [name, value] pairs")
    for item in value:
        if isinstance(item, Mapping):
            if "key" in item and "value" in item:
                pairs.append((str(item["key"]), str(item["value"])))
                continue
            pairs.extend((str(k), str(v)) for k, v in item.items())
            continue
        if not isinstance(item, Sequence) or isinstance(item, (str, bytes)) or len(item) != 2:
            raise IotSqlError("each user property must be a [name, value] pair")
        pairs.append((str(item[0]), str(item[1])))
    return tuple(pairs)


def json_body(value: Any) -> bytes:
    """The body of a message written as a decoded JSON value (the `payload` of a conformance
    case or of a line of `iotsql replay`): its UTF-8 JSON text. A lone surrogate, which has no
    UTF-8 form, keeps its `\\u` escape (as AWS reads one in a body); NaN and Infinity (what a
    JSON reader makes of `NaN` or `1e400`) are not JSON: InvalidPayloadError."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise InvalidPayloadError(
            "NaN, Infinity and numbers beyond a double's range are not JSON values: give such a "
            "body as text (payloadText) or bytes (payloadBase64)"
        ) from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, allow_nan=False).encode("utf-8")


_NOTHING_SETTLED: frozenset[bool] = frozenset()


class Message:
    """One publish. `body` is the raw payload; `document(whole_ints)` decodes it once per
    number convention (2015-10-08 keeps `10.0` a Decimal, 2016-03-23 reads it as `10`), the
    first time a rule needs it."""

    __slots__ = (
        "_raw", "_received_at", "_traceid", "_v1", "_v2", "body", "context", "prefer_settled",
        "topic",
    )  # fmt: skip

    def __init__(
        self,
        payload: bytes | bytearray | memoryview | str | Any,
        topic: str = "",
        context: Context | Mapping[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        ctx = self.context = (
            context if type(context) is Context else Context.of(context)  # type: ignore[arg-type]
        )
        self._received_at: int | None = ctx.timestamp
        self._traceid: str | None = ctx.traceid
        self._v1: Any = UNDEFINED
        self._v2: Any = UNDEFINED
        self._raw: Any = UNDEFINED
        #: The `whole_ints` of the settled documents that rules of this message will decode
        #: anyway (set by RulesEngine from the message's route): `raw_document` gives a rule
        #: that reads raw documents that settled one instead, whichever rule runs first.
        self.prefer_settled: frozenset[bool] = _NOTHING_SETTLED
        if type(payload) is bytes:
            self.body = payload
        elif isinstance(payload, (bytes, bytearray, memoryview)):
            self.body = bytes(payload)
        elif isinstance(payload, str):
            try:
                self.body = payload.encode("utf-8")
            except UnicodeEncodeError as err:  # a lone surrogate: the text has no UTF-8 body
                raise InvalidPayloadError(
                    f"a str payload must be UTF-8 text: {payload[err.start]!r} at position "
                    f"{err.start} (a lone surrogate) has no UTF-8 form; pass bytes instead"
                ) from None
        else:
            # An already-decoded JSON value: keep it, serialise it for encode(*) and actions.
            self._raw = NO_RAW
            try:
                self._v1 = normalize_json(payload, False)
                self._v2 = normalize_json(payload, True)
                self.body = encode_json(self._v1)
            except RecursionError:
                raise InvalidPayloadError(
                    "the payload is nested too deeply to be a JSON value"
                ) from None

    def document(self, whole_ints: bool) -> Any:
        """The decoded body: a JSON value, or `Binary` when the body is not JSON."""
        if whole_ints:
            doc = self._v2
            if doc is UNDEFINED:
                doc = self._v2 = codec.decode_body(self.body, True)
            return doc
        doc = self._v1
        if doc is UNDEFINED:
            doc = self._v1 = codec.decode_body(self.body, False)
        return doc

    def raw_document(self, whole_ints: bool) -> Any:
        """The decoded body with whole floats not settled yet (see values.settle_leaf), shared
        by every rule whatever its SQL version; the settled `document(whole_ints)` when the
        JSON library settles as it parses, or when the body is not one orjson reads, or when
        an earlier rule of the message had it decoded already, or a later one will
        (`prefer_settled`): a statement that settles what it reads reads a settled document
        alike, and the body is decoded once."""
        doc = self._raw
        if doc is UNDEFINED:
            settled = self._v2 if whole_ints else self._v1
            if settled is not UNDEFINED:
                return settled
            if whole_ints in self.prefer_settled:  # a later rule decodes it: one decode
                return self.document(whole_ints)
            doc = self._raw = codec.decode_raw(self.body)
        if doc is NO_RAW:
            return self.document(whole_ints)
        return doc

    @property
    def received_at(self) -> int:
        """Milliseconds since the epoch when the message arrived (the context's `timestamp`
        when given); fixed on first use, so every rule of a message sees the same time."""
        stamp = self._received_at
        if stamp is None:
            stamp = self._received_at = int(time.time() * 1000)
        return stamp

    @property
    def is_json(self) -> bool:
        return not isinstance(self.document(False), Binary)

    @property
    def traceid(self) -> Any:
        """The trace id of an MQTT message (a UUID, stable for this message), else Undefined."""
        if self._traceid is None:
            if not self.context.over_mqtt:
                return UNDEFINED
            self._traceid = str(uuid.uuid4())
        return self._traceid

    def __repr__(self) -> str:
        return f"Message(topic={self.topic!r}, body={self.body[:60]!r})"


_NO_VARIABLES: list[Any] = []


class Run:
    """The state of one rule evaluating one message: SET variables, the topic as `topic()`
    sees it (without a Basic Ingest prefix), the external-function provider, and the counters
    behind per-evaluation limits."""

    __slots__ = (
        "calls", "elements", "message", "provider", "rule_name", "sql_version", "topic", "vars",
    )  # fmt: skip

    def __init__(
        self,
        message: Message,
        topic: str | None,
        sql_version: str,
        rule_name: str | None = None,
        provider: Any = None,
        variables: int = 0,
    ) -> None:
        self.message = message
        self.topic = topic
        self.sql_version = sql_version
        self.rule_name = rule_name
        self.provider = provider
        self.vars: list[Any] = [UNDEFINED] * variables if variables else _NO_VARIABLES
        #: Elements visited by nested queries so far (Limits.max_nested_query_elements).
        self.elements = 0
        #: Calls of the external functions limited per statement, by name (made on first call).
        self.calls: dict[str, int] | None = None


class ContextRun(Run):
    """The Run of a statement that reads only its message's context (the context functions
    and the generated code read `message`, `topic` and `sql_version`; a statement that reads
    more has `CompiledStatement.run_state`): those three set, the rest of a Run left unset,
    so that a read of it fails loudly. Half the cost of a full Run, on every message of a rule
    such as `SELECT *, topic(3) AS id, timestamp() AS ts`."""

    __slots__ = ()

    def __init__(self, message: Message, topic: str | None, sql_version: str) -> None:
        self.message = message
        self.topic = topic
        self.sql_version = sql_version
