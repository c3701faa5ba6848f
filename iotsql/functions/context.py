"""Functions that read the message's context rather than its body: topic, clientid,
principal, timestamp, accountid, sourceip, traceid, sql_version, the MQTT 5 properties, and
the random ones (newuuid, rand)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from iotsql.functions.registry import function
from iotsql.message import DEFAULT_ACCOUNT_ID, Run
from iotsql.topics import topic_level
from iotsql.values import UNDEFINED, V2, to_int

U = UNDEFINED
FAMILY = "context"
# No argument given: topic() is the whole topic and get_user_properties() every property, while
# topic(null) is a level that is no Int (To int keeps Null as Null), so Undefined like
# topic('a'), and get_user_properties(null) names no key, so Undefined.
_NO_LEVEL: Any = object()


@function("topic", args=(0, 1), family=FAMILY, context=True, anchor="iot-function-topic",
          signature="topic([level])")  # fmt: skip
def topic(run: Run, level: Any = _NO_LEVEL) -> Any:
    """The topic of the message (without a Basic Ingest prefix), or its 1-based `level`."""
    whole = run.topic
    if whole is None:
        return U
    if level is _NO_LEVEL:
        return whole
    if type(level) is int:
        levels = whole.split("/")
        return levels[level - 1] if 0 < level <= len(levels) else U
    index = to_int(level)
    if type(index) is not int:
        return U
    part = topic_level(whole, index)
    return U if part is None else part


@function("clientid", args=0, family=FAMILY, context=True, anchor="iot-sql-function-clientid")
def clientid(run: Run) -> Any:
    """The MQTT client id of the publisher, `n/a` for a message not sent over MQTT."""
    ctx = run.message.context
    if not ctx.over_mqtt:
        return "n/a"
    return U if ctx.clientid is None else ctx.clientid


@function("principal", args=0, family=FAMILY, context=True, anchor="iot-sql-function-principal")
def principal(run: Run) -> Any:
    """The principal (certificate thumbprint, IAM id) the publisher authenticated with."""
    value = run.message.context.principal
    return U if value is None else value


@function("accountid", args=0, family=FAMILY, context=True, anchor="iot-sql-function-accountid")
def accountid(run: Run) -> Any:
    """The id of the account that owns the rule."""
    value = run.message.context.accountid
    return DEFAULT_ACCOUNT_ID if value is None else value


@function("sourceip", args=0, family=FAMILY, context=True, since=V2, anchor="iot-function-sourceip")
def sourceip(run: Run) -> Any:
    """The public IP address the message came from (IPv4 or IPv6 text)."""
    value = run.message.context.sourceip
    return U if value is None else value


@function("traceid", args=0, family=FAMILY, context=True, anchor="iot-sql-function-traceid")
def traceid(run: Run) -> Any:
    """The trace id (a UUID) of an MQTT message, Undefined otherwise."""
    return run.message.traceid


@function("timestamp", args=0, family=FAMILY, context=True, anchor="iot-function-timestamp")
def timestamp(run: Run) -> Any:
    """Milliseconds since the epoch when the rules engine received the message."""
    return run.message.received_at


@function("sql_version", args=0, family=FAMILY, context=True,
          anchor="iot-sql-function-sql-version")  # fmt: skip
def sql_version(run: Run) -> Any:
    """The rule's SQL version."""
    return run.sql_version


_MQTT_PROPERTIES = {
    "format_indicator": ("payloadFormatIndicator", "format_indicator"),
    "content_type": ("contentType", "content_type"),
    "response_topic": ("responseTopic", "response_topic"),
    "correlation_data": ("correlationData", "correlation_data"),
}
_FORMAT_INDICATORS = {0: "UNSPECIFIED_BYTES", 1: "UTF8_DATA"}


@function("get_mqtt_property", args=1, family=FAMILY, context=True,
          anchor="iot-sql-function-get-mqtt-property", signature="get_mqtt_property(name)")  # fmt: skip
def get_mqtt_property(run: Run, name: Any) -> Any:
    """An MQTT 5 property of the publish: format_indicator, content_type, response_topic or
    correlation_data (base64)."""
    if type(name) is not str:
        return U
    keys = _MQTT_PROPERTIES.get(name)
    if keys is None:
        return U
    props = run.message.context.mqtt_properties
    value = next((props[k] for k in keys if k in props), None)
    if name == "format_indicator":
        if value is None:
            return "UNSPECIFIED_BYTES"
        if isinstance(value, int) and not isinstance(value, bool):
            return _FORMAT_INDICATORS.get(value, U)
        return str(value)
    return U if value is None else str(value)


@function("get_user_properties", args=(0, 1), family=FAMILY, context=True,
          anchor="iot-sql-function-get-user-properties",
          signature="get_user_properties([key])")  # fmt: skip
def get_user_properties(run: Run, key: Any = _NO_LEVEL) -> Any:
    """MQTT 5 user properties: the values under `key`, in header order, or every property
    as one-pair objects (without an argument; a Null key is no key, so Undefined)."""
    pairs = run.message.context.user_properties
    if key is _NO_LEVEL:
        return [{name: value} for name, value in pairs] if pairs else U
    if type(key) is not str:
        return U
    values = [value for name, value in pairs if name == key]
    return values if values else U


@function("newuuid", args=0, family=FAMILY, pure=False, anchor="iot-sql-function-newuuid")
def newuuid() -> Any:
    """A random version 4 UUID."""
    return str(uuid.uuid4())


@function("rand", args=0, family=FAMILY, pure=False, anchor="iot-sql-function-rand")
def rand() -> Any:
    """A pseudorandom double, uniformly distributed between 0.0 and 1.0."""
    return random.random()
