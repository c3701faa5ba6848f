"""The one import of paho-mqtt: the version check, and the conversions between paho's
`Properties` and the plain values the rest of the bridge uses.

paho-mqtt is the optional `mqtt` extra; importing this module does not import it, `load()`
does (when a Bridge is created), and fails with the install command when it is missing or
of a version this package was not written for."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from iotsql.errors import IotSqlError
from iotsql.hosts import Mqtt5Properties, mqtt5_properties

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
    (the `iot-data` Publish arguments, read by iotsql.hosts.mqtt5_properties)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    values = mqtt5_properties(headers, user_properties)
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if values.content_type is not None:
        props.ContentType = values.content_type
    if values.response_topic is not None:
        props.ResponseTopic = values.response_topic
    if values.correlation_data is not None:
        props.CorrelationData = values.correlation_data
    if values.payload_format_indicator is not None:
        props.PayloadFormatIndicator = values.payload_format_indicator
    if values.message_expiry_interval is not None:
        props.MessageExpiryInterval = values.message_expiry_interval
    if values.user_properties:
        props.UserProperty = list(values.user_properties)
    return props


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
    correlation = getattr(properties, "CorrelationData", None)
    return Mqtt5Properties(
        payload_format_indicator=getattr(properties, "PayloadFormatIndicator", None),
        message_expiry_interval=getattr(properties, "MessageExpiryInterval", None),
        content_type=getattr(properties, "ContentType", None),
        response_topic=getattr(properties, "ResponseTopic", None),
        correlation_data=None if correlation is None else bytes(correlation),
        user_properties=tuple(
            (str(k), str(v)) for k, v in (getattr(properties, "UserProperty", None) or [])
        ),
    ).context_properties()
