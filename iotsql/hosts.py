"""What every host of iotsql (moto, ministack, a broker bridge) does the same way: answer a
refused topic rule with the AWS error code, build the context of a publish, keep the engine's
rules equal to the rules the host stores, and log the dead letters.

A host module (`iotsql/moto.py`, `iotsql/ministack.py`...) owns its host's internals; this
module knows nothing of any host and sits just above the engine.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from iotsql.engine import DeadLetter, RulesEngine
from iotsql.errors import IotSqlError, ResourceNotFoundError, RuleValidationError
from iotsql.message import Context
from iotsql.rule import TopicRule

__all__ = [
    "DeadLetterLog",
    "Mqtt5Properties",
    "RuleMirror",
    "describe_dead_letter",
    "mqtt5_properties",
    "publish_context",
    "publish_request_context",
    "topic_rule_error_code",
    "user_properties",
]

#: The validation errors CreateTopicRule and ReplaceTopicRule answer with (the API has no other:
#: a payload over a quota is an InvalidRequestException there, not a LimitExceededException).
SQL_PARSE = "SqlParseException"
INVALID_REQUEST = "InvalidRequestException"


def topic_rule_error_code(err: IotSqlError) -> str:
    """The error code CreateTopicRule / ReplaceTopicRule answer for a payload iotsql refused:
    `SqlParseException` for the statement, `InvalidRequestException` for everything else."""
    return SQL_PARSE if err.code == SQL_PARSE else INVALID_REQUEST


def publish_context(
    *,
    protocol: str,
    clientid: str | None = None,
    principal: str | None = None,
    sourceip: str | None = None,
    accountid: str | None = None,
    traceid: str | None = None,
    user_properties: Sequence[tuple[str, str]] = (),
    mqtt_properties: Mapping[str, Any] | None = None,
    timestamp: int | None = None,
) -> Context:
    """The context of one publish as a host knows it. `protocol` is `mqtt` or `http`; over HTTP
    `clientid()` is `n/a` and `traceid()` Undefined whatever is passed, as on AWS. `timestamp`:
    when the host received the message, in epoch milliseconds (`timestamp()`; by default the
    time the engine takes it)."""
    over_http = protocol == "http"
    return Context(
        clientid=None if over_http else clientid,
        principal=principal,
        timestamp=timestamp,
        accountid=accountid,
        sourceip=sourceip,
        traceid=None if over_http else traceid,
        protocol="http" if over_http else "mqtt",
        user_properties=tuple((str(k), str(v)) for k, v in user_properties),
        mqtt_properties=dict(mqtt_properties or {}),
    )


#: The members of an iot-data Publish request that are MQTT 5 properties, with their context keys.
_PUBLISH_PROPERTIES: Final = ("contentType", "responseTopic", "payloadFormatIndicator",
                              "correlationData")  # fmt: skip


def publish_request_context(
    request: Mapping[str, Any],
    *,
    principal: str | None = None,
    sourceip: str | None = None,
    accountid: str | None = None,
    timestamp: int | None = None,
) -> Context:
    """The context of an iot-data Publish (an HTTP publish: `clientid()` is `n/a`, `traceid()`
    Undefined). `request` holds the operation's members as botocore names them: `contentType`,
    `responseTopic`, `messageExpiry` (an integer or its digits; anything else is left out, as
    an absent one), `payloadFormatIndicator`, `correlationData` (its base64 text, as the header
    carries it) and `userProperties` (see `user_properties`); other members (`topic`,
    `payload`, `qos`, `retain`) are not context. `principal` is the caller's IAM identity as
    `principal()` returns it, `sourceip` the caller's address, `timestamp` as in
    `publish_context`."""
    properties: dict[str, Any] = {
        name: str(request[name]) for name in _PUBLISH_PROPERTIES if request.get(name)
    }
    expiry = request.get("messageExpiry")
    if isinstance(expiry, int) and not isinstance(expiry, bool):
        properties["messageExpiry"] = expiry
    elif isinstance(expiry, str) and expiry.isdigit():
        properties["messageExpiry"] = int(expiry)
    pairs = user_properties(request.get("userProperties"))
    return publish_context(
        protocol="http", principal=principal, accountid=accountid, sourceip=sourceip,
        timestamp=timestamp, mqtt_properties=properties, user_properties=pairs,
    )  # fmt: skip


def user_properties(value: Any) -> list[tuple[str, str]]:
    """The user properties of an iot-data Publish as (name, value) pairs, from any of the forms
    a host meets: the `x-amz-mqtt5-user-properties` header (base64 of a JSON array of one-pair
    objects), the JSON text of the array (botocore's parsed member, or what an SDK user passes,
    which the SDKs encode once more as a JSON string), or the decoded array. None or empty: no
    properties. Anything else raises RuleValidationError (InvalidRequestException)."""
    if value is None or value == "" or value == []:
        return []
    items = value
    try:
        if isinstance(items, (str, bytes)):
            text = items.decode("utf-8") if isinstance(items, bytes) else items
            try:
                items = json.loads(text)
            except ValueError:  # not JSON: the header's base64 of it
                items = json.loads(base64.b64decode(text, validate=True))
        if isinstance(items, str):  # JSON text given where the array was expected
            items = json.loads(items)
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise ValueError("not an array of objects")
    except (ValueError, binascii.Error, UnicodeError) as err:
        raise RuleValidationError(
            f"expected an array of objects as JSON, or its base64 ({err})", "userProperties"
        ) from None
    return [(str(key), str(item)) for pairs in items for key, item in pairs.items()]


# ---- MQTT 5 properties: what a host's broker carries ----------------------------------------

#: The MQTT 5 property identifiers of a PUBLISH that the rules see (MQTT 5.0, section 2.2.2.2).
PAYLOAD_FORMAT_INDICATOR: Final = 0x01
MESSAGE_EXPIRY_INTERVAL: Final = 0x02
CONTENT_TYPE: Final = 0x03
RESPONSE_TOPIC: Final = 0x08
CORRELATION_DATA: Final = 0x09
USER_PROPERTY: Final = 0x26


@dataclass(frozen=True, slots=True)
class Mqtt5Properties:
    """The MQTT 5 properties of one PUBLISH as a broker encodes them (None: absent):
    `payload_format_indicator` 0 or 1, `message_expiry_interval` in seconds, `correlation_data`
    as bytes, `user_properties` in order. `from_identifiers` reads (identifier, value) pairs as
    a broker decodes them; `identifiers` gives them back; `context_properties` is what the rules
    see (`publish_context(user_properties=..., mqtt_properties=...)`)."""

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_identifiers(cls, pairs: Iterable[tuple[int, Any]]) -> Mqtt5Properties:
        """From decoded (identifier, value) pairs; a user property's value is its (name,
        value) pair; identifiers the rules do not see (topic alias, subscription id) are
        skipped."""
        found: dict[str, Any] = {}
        users: list[tuple[str, str]] = []
        for identifier, value in pairs:
            if identifier == USER_PROPERTY:
                users.append((str(value[0]), str(value[1])))
            elif identifier == CORRELATION_DATA:
                found["correlation_data"] = bytes(value)
            elif identifier in _FIELDS:
                name, kind = _FIELDS[identifier]
                found[name] = kind(value)
        return cls(user_properties=tuple(users), **found)

    def identifiers(self) -> list[tuple[int, Any]]:
        """The (identifier, value) pairs to encode, user properties last and in order."""
        pairs: list[tuple[int, Any]] = [
            (identifier, getattr(self, name))
            for identifier, (name, _) in _FIELDS.items()
            if getattr(self, name) is not None
        ]
        if self.correlation_data is not None:
            pairs.append((CORRELATION_DATA, self.correlation_data))
        pairs.extend((USER_PROPERTY, pair) for pair in self.user_properties)
        return pairs

    def context_properties(self) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """(user properties, mqttProperties in the conformance format's keys): the format
        indicator as `UTF8_DATA`/`UNSPECIFIED_BYTES`, the correlation data as base64, as
        `get_mqtt_property()` returns them."""
        mqtt: dict[str, Any] = {}
        if self.content_type is not None:
            mqtt["contentType"] = self.content_type
        if self.payload_format_indicator is not None:
            mqtt["payloadFormatIndicator"] = _INDICATORS[self.payload_format_indicator == 1]
        if self.response_topic is not None:
            mqtt["responseTopic"] = self.response_topic
        if self.correlation_data is not None:
            mqtt["correlationData"] = correlation_data(self.correlation_data)
        if self.message_expiry_interval is not None:
            mqtt["messageExpiry"] = self.message_expiry_interval
        return list(self.user_properties), mqtt


_FIELDS: Final[Mapping[int, tuple[str, Callable[[Any], Any]]]] = {
    PAYLOAD_FORMAT_INDICATOR: ("payload_format_indicator", int),
    MESSAGE_EXPIRY_INTERVAL: ("message_expiry_interval", int),
    CONTENT_TYPE: ("content_type", str),
    RESPONSE_TOPIC: ("response_topic", str),
}
_INDICATORS: Final = {False: "UNSPECIFIED_BYTES", True: "UTF8_DATA"}


def mqtt5_properties(
    arguments: Mapping[str, Any], pairs: Sequence[tuple[str, str]] | None = None
) -> Mqtt5Properties:
    """The MQTT 5 properties an iot-data Publish call gives its message: a republish action's
    `request.request["arguments"]` (its headers, rendered), for a host whose broker delivers
    republished messages to MQTT 5 subscribers. `payloadFormatIndicator` `UTF8_DATA` (or 1) is
    1, anything else 0; `correlationData` is base64, and text that is not is taken as its UTF-8
    bytes; `userProperties` in any form `user_properties` reads, unless `pairs` gives them."""
    indicator = arguments.get("payloadFormatIndicator")
    expiry = arguments.get("messageExpiry")
    correlation = arguments.get("correlationData")
    content_type = arguments.get("contentType")
    response_topic = arguments.get("responseTopic")
    if pairs is None:
        pairs = user_properties(arguments.get("userProperties"))
    return Mqtt5Properties(
        payload_format_indicator=None if indicator is None else int(indicator in ("UTF8_DATA", 1)),
        message_expiry_interval=None if expiry is None else int(expiry),
        content_type=None if content_type is None else str(content_type),
        response_topic=None if response_topic is None else str(response_topic),
        correlation_data=None if correlation is None else _correlation_bytes(correlation),
        user_properties=tuple(pairs),
    )


def _correlation_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    text = str(value)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8")


def correlation_data(value: bytes) -> str:
    """MQTT 5 correlation data as `get_mqtt_property('correlation_data')` returns it (base64)."""
    return base64.b64encode(value).decode("ascii")


# ---- rules: the host's store is the truth ------------------------------------------------------


class RuleMirror:
    """Keeps one RulesEngine's rules equal to the rules a host stores for one account and
    region, whichever door changed them (the API, CloudFormation, a restore of saved state, a
    reset, an in-place enable or disable).

    `put` validates and stores a rule in the engine before the host stores it (so the host can
    refuse it with the AWS error code) and remembers the object the host stored. `sync`
    is cheap when nothing changed: an object the mirror has bound is the rule it compiled, so
    only its enabled state is read again; any other object is compiled, and names the host no
    longer stores are deleted. A stored rule iotsql cannot compile (saved by an older host
    without iotsql) is reported to `on_invalid` once and left out of the engine.
    """

    def __init__(
        self,
        engine: RulesEngine,
        on_invalid: Callable[[str, IotSqlError], None] | None = None,
    ) -> None:
        self.engine = engine
        self._on_invalid = on_invalid
        self._sources: dict[str, object] = {}
        self._lock = threading.RLock()

    def put(
        self,
        name: str,
        payload: Mapping[str, Any],
        store: Callable[[TopicRule], object] | None = None,
    ) -> object:
        """Create or replace `name` in the engine (raising the IotSqlError that refuses it), then
        call `store(rule)`, which stores the rule in the host and returns the stored object; all
        under the mirror's lock, so a `sync` never sees the host's store half updated. Returns
        what `store` returned, else the TopicRule."""
        with self._lock:
            if self._has(name):
                rule = self.engine.replace_topic_rule(name, payload)
            else:
                rule = self.engine.create_topic_rule(name, payload)
            if store is None:
                self._sources.pop(name, None)
                return rule
            source = self._sources[name] = store(rule)
            return source

    def _has(self, name: str) -> bool:
        try:
            self.engine.rule(name)
        except ResourceNotFoundError:
            return False
        return True

    def sync(
        self,
        stored: Iterable[tuple[str, object]],
        payload_of: Callable[[object], Mapping[str, Any]],
        disabled_of: Callable[[object], bool],
    ) -> RulesEngine:
        """Bring the engine in line with `stored`, the (name, stored object) pairs of the host."""
        engine = self.engine
        with self._lock:
            seen = set()
            for name, source in stored:
                seen.add(name)
                if self._sources.get(name) is not source:
                    self._adopt(name, source, payload_of)
                try:
                    rule = engine.rule(name)
                except ResourceNotFoundError:  # stored, but iotsql refused it
                    continue
                rule.disabled = disabled_of(source)
            for name in [n for n in engine.rules if n not in seen]:
                engine.delete_topic_rule(name)
            for name in [n for n in self._sources if n not in seen]:
                del self._sources[name]
        return engine

    def _adopt(
        self, name: str, source: object, payload_of: Callable[[object], Mapping[str, Any]]
    ) -> None:
        try:
            self.put(name, payload_of(source))
        except IotSqlError as err:
            if self._has(name):
                self.engine.delete_topic_rule(name)
            if self._on_invalid is not None:
                self._on_invalid(name, err)
        self._sources[name] = source


# ---- dead letters ----------------------------------------------------------------------------


def describe_dead_letter(letter: DeadLetter) -> str:
    """One line saying what was lost where and why (what a host logs)."""
    if letter.evaluation_error is not None:
        why = f"the rule could not be evaluated: {letter.evaluation_error}"
    else:
        failed = "; ".join(f"{f.action_type}: {f.error}" for f in letter.failures)
        why = f"actions failed ({failed})"
        if letter.error_action_failure is not None:
            why += f" and so did the error action ({letter.error_action_failure.error})"
        elif letter.failures:
            why += " and the rule has no error action"
    return f"dead letter: rule {letter.rule_name}, topic {letter.topic!r}: {why}"


#: Dead letters a host keeps for inspection once it has logged them (`DeadLetterLog.letters`).
DEAD_LETTER_LOG_SIZE: Final = 1000


class DeadLetterLog:
    """Takes the dead letters out of engines, logs each one (WARNING) and keeps the last
    `keep` of them for inspection, so a long-running host neither loses nor hoards them."""

    def __init__(self, logger: logging.Logger, keep: int = DEAD_LETTER_LOG_SIZE) -> None:
        self.logger = logger
        self.letters: deque[DeadLetter] = deque(maxlen=keep)

    def collect(self, engine: RulesEngine) -> list[DeadLetter]:
        letters = engine.drain_dead_letters()
        for letter in letters:
            self.logger.warning("%s", describe_dead_letter(letter))
            self.letters.append(letter)
        return letters

    def clear(self) -> None:
        self.letters.clear()
