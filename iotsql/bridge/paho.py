"""The one import of paho-mqtt: the version check, and the conversions between paho's
`Properties` and the plain values the rest of the bridge uses.

paho-mqtt is the optional `mqtt` extra; importing this module does not import it, `load()`
does (when a Bridge is created), and fails with the install command when it is missing or
of a version this package was not written for."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from iotsql.errors import IotSqlError
from iotsql.hosts import correlation_data

#: The paho-mqtt versions the bridge supports (the `mqtt` extra pins the same range).
SUPPORTED = (2, 1), (3, 0)
INSTALL_HINT = "pip install 'iotsql[mqtt]'  (paho-mqtt>=2.1,<3)"


class PahoVersionError(IotSqlError):
    """paho-mqtt is missing or of an unsupported version."""


def version_tuple(text: str) -> tuple[int, int]:
    parts = [*text.split("."), "0"][:2]
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except ValueError:
        return 0, 0


def check_version(text: str) -> None:
    low, high = SUPPORTED
    if not low <= version_tuple(text) < high:
        raise PahoVersionError(
            f"the MQTT bridge needs paho-mqtt >=2.1,<3; paho-mqtt {text} is installed: "
            f"{INSTALL_HINT}"
        )


def load() -> ModuleType:
    """`paho.mqtt.client`, after checking that the installed paho-mqtt is supported."""
    try:
        import paho.mqtt
        import paho.mqtt.client as client
    except ImportError:
        raise PahoVersionError(f"the MQTT bridge needs paho-mqtt: {INSTALL_HINT}") from None
    check_version(str(getattr(paho.mqtt, "__version__", "0")))
    return client


def publish_properties(user_properties: list[tuple[str, str]], headers: Mapping[str, Any]) -> Any:
    """MQTT 5 PUBLISH properties from user properties and the republish request's headers
    (the `iot-data` Publish arguments: contentType, responseTopic, correlationData as base64,
    payloadFormatIndicator as UTF8_DATA/UNSPECIFIED_BYTES, messageExpiry in seconds)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if headers.get("contentType") is not None:
        props.ContentType = str(headers["contentType"])
    if headers.get("responseTopic") is not None:
        props.ResponseTopic = str(headers["responseTopic"])
    if headers.get("correlationData") is not None:
        props.CorrelationData = _correlation_bytes(headers["correlationData"])
    indicator = headers.get("payloadFormatIndicator")
    if indicator is not None:
        props.PayloadFormatIndicator = 1 if indicator in ("UTF8_DATA", 1) else 0
    if headers.get("messageExpiry") is not None:
        props.MessageExpiryInterval = int(headers["messageExpiry"])
    if user_properties:
        props.UserProperty = list(user_properties)
    return props


def _correlation_bytes(value: Any) -> bytes:
    """The republish header holds the correlation data as base64 (as in the AWS API); text that
    is not base64 is taken as its UTF-8 bytes."""
    if isinstance(value, bytes):
        return value
    text = str(value)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8")


def header_user_properties(value: Any) -> list[tuple[str, str]]:
    """The `userProperties` argument of an `iot-data` Publish request (a JSON text of
    `[{"key": "value"}, ...]`, as `iotsql.actions.types` renders it) as (name, value) pairs."""
    if not value:
        return []
    items = json.loads(value) if isinstance(value, (str, bytes)) else value
    pairs: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, Mapping) and set(item) == {"key", "value"}:
            pairs.append((str(item["key"]), str(item["value"])))
        elif isinstance(item, Mapping):
            pairs.extend((str(k), str(v)) for k, v in item.items())
        else:
            pairs.append((str(item[0]), str(item[1])))
    return pairs


def received_properties(properties: Any) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(user properties in order, mqttProperties in the conformance format's keys) of a
    received PUBLISH; empty for MQTT 3.1.1 messages (no properties)."""
    if properties is None:
        return [], {}
    pairs = [(str(k), str(v)) for k, v in (getattr(properties, "UserProperty", None) or [])]
    mqtt: dict[str, Any] = {}
    content_type = getattr(properties, "ContentType", None)
    if content_type is not None:
        mqtt["contentType"] = content_type
    indicator = getattr(properties, "PayloadFormatIndicator", None)
    if indicator is not None:
        mqtt["payloadFormatIndicator"] = "UTF8_DATA" if indicator == 1 else "UNSPECIFIED_BYTES"
    response_topic = getattr(properties, "ResponseTopic", None)
    if response_topic is not None:
        mqtt["responseTopic"] = response_topic
    correlation = getattr(properties, "CorrelationData", None)
    if correlation is not None:
        mqtt["correlationData"] = correlation_data(bytes(correlation))
    expiry = getattr(properties, "MessageExpiryInterval", None)
    if expiry is not None:
        mqtt["messageExpiry"] = int(expiry)
    return pairs, mqtt
