"""Republish actions back into the broker, and the hop marker that makes each republished
message run through the rules exactly once, as in AWS IoT, whatever the number of bridges.

The design: a bridge's engine never feeds a republished message back to itself
(`RulesEngine(feed_back_republish=False)` is implied by a republish sink); the message goes to
the broker, and the broker delivers it, like any message, once per subscription group: to this
bridge, or with `--share` to one bridge of the group. So each hop runs once, on whichever
bridge the broker picks, and what the rules see is what the broker really carried.

The hop marker says how many republish actions produced a message: the MQTT 5 user property
`iotsql-hop` (HOP_PROPERTY), added last to the republished message's user properties. A
bridge that receives a message takes the marker off (rules see exactly the properties the
republish action's headers set) and publishes it into the engine with that depth, so the loop
guard (`Limits.max_republish_depth`) counts hops across the broker and across bridges.
Subscribers other than bridges see the marker as one more user property.

MQTT 3.1.1 has no properties: headers and marker are lost on the way (AWS IoT drops MQTT 5
properties for 3.1.1 clients too). Each republished message still runs once, since that comes
from the broker's delivery, but the depth can only be known by the bridge that published the
message: it remembers the topic and body of what it republished for a minute (`EchoMemory`)
and gives the depth back when the message returns to it. A message that another bridge of the
group receives starts again at depth 0, so on 3.1.1 a republish loop through several bridges
is stopped later, not never (each bridge's own share of the hops is counted)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from iotsql.actions.base import ActionRequest
from iotsql.bridge.paho import header_user_properties, publish_properties
from iotsql.errors import ActionError

#: The user property that carries a republished message's depth.
HOP_PROPERTY = "iotsql-hop"


def split_hop(user_properties: list[tuple[str, str]]) -> tuple[int | None, list[tuple[str, str]]]:
    """(the depth the marker says, or None; the user properties without the marker)."""
    hop: int | None = None
    rest = []
    for name, value in user_properties:
        if name == HOP_PROPERTY:
            try:
                hop = max(0, int(value))
            except ValueError:
                hop = None
        else:
            rest.append((name, value))
    return hop, rest


class EchoMemory:
    """The depth of what this bridge republished, by (topic, body digest), for `ttl` seconds:
    MQTT 3.1.1 has no user property to carry it."""

    def __init__(self, ttl: float = 60.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[tuple[str, bytes], list[tuple[int, float]]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(topic: str, body: bytes) -> tuple[str, bytes]:
        return topic, hashlib.blake2b(body, digest_size=16).digest()

    def remember(self, topic: str, body: bytes, depth: int) -> None:
        key = self._key(topic, body)
        with self._lock:
            self._entries.setdefault(key, []).append((depth, time.monotonic() + self.ttl))
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def recall(self, topic: str, body: bytes) -> int | None:
        key = self._key(topic, body)
        now = time.monotonic()
        with self._lock:
            entries = self._entries.get(key)
            while entries:
                depth, expires = entries.pop(0)
                if expires >= now:
                    if not entries:
                        del self._entries[key]
                    return depth
            self._entries.pop(key, None)
            return None


class RepublishError(ActionError):
    """The broker did not take a republished message."""


class Refusals:
    """What the broker said it refused, by packet id: an MQTT 5 broker answers a QoS 1 PUBLISH
    it will not take (a topic its ACL denies, a quota) with a PUBACK whose reason code is a
    failure (0x87 Not authorized...), and paho marks that message published all the same
    (`MQTTMessageInfo.is_published()`), so the republish sink asks here before it reports
    success. Fed by the client's `on_publish` callback, which paho calls before it marks the
    message published; a success clears what a refused message with the same packet id
    left."""

    def __init__(self) -> None:
        self._by_mid: dict[int, str] = {}
        self._lock = threading.Lock()

    def note(self, mid: int, reason: Any) -> None:
        """The broker's answer to the message `mid` (a paho ReasonCode)."""
        with self._lock:
            if getattr(reason, "is_failure", False):
                self._by_mid[mid] = str(reason)
            else:
                self._by_mid.pop(mid, None)

    def take(self, mid: int) -> str | None:
        """Why the broker refused the message `mid`, or None when it took it."""
        with self._lock:
            return self._by_mid.pop(mid, None)


class RepublishSink:
    """The sink of `republish` actions: executes the `iot-data` Publish request the action
    rendered (topic with `$$` already read as `$`, qos, retain, payload, MQTT 5 headers) on the
    bridge's MQTT connection, and returns once the broker has it (PUBACK for QoS 1), so that
    the message that caused it is acknowledged only afterwards. A PUBACK with a failure reason
    code (MQTT 5: the broker refused the topic) fails the action (`refusals`); a refusal the
    broker does not report (QoS 0, MQTT 3.1.1) cannot be seen."""

    instant = False

    def __init__(
        self,
        publish: Callable[[str, bytes, int, bool, Any], Any],
        *,
        mqtt5: bool,
        timeout: float = 10.0,
        memory: EchoMemory | None = None,
        on_sent: Callable[[], None] | None = None,
        refusals: Refusals | None = None,
    ) -> None:
        self._publish = publish
        self.refusals = refusals
        self.mqtt5 = mqtt5
        self.timeout = timeout
        self.memory = memory
        self.on_sent = on_sent

    def __call__(self, request: ActionRequest) -> dict[str, Any]:
        call = request.request
        arguments: Mapping[str, Any] = call.get("arguments", {}) if call else {}
        topic = str(arguments.get("topic") or request.params.get("topic") or "")
        qos = int(arguments.get("qos") or 0)
        retain = bool(arguments.get("retain", False))
        payload = arguments.get("payload", request.payload)
        if not isinstance(payload, bytes):
            payload = str(payload).encode("utf-8")
        depth = request.depth + 1
        properties = None
        if self.mqtt5:
            users = header_user_properties(arguments.get("userProperties"))
            users.append((HOP_PROPERTY, str(depth)))
            properties = publish_properties(users, arguments)
        elif self.memory is not None:
            self.memory.remember(topic, payload, depth)
        try:
            info = self._publish(topic, payload, qos, retain, properties)
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as err:
            raise RepublishError(f"Failed to republish to topic {topic}: {err}") from None
        if not info.is_published():
            raise RepublishError(
                f"Failed to republish to topic {topic}: the broker did not take the message "
                f"within {self.timeout:g} s"
            )
        refused = self.refusals.take(info.mid) if self.refusals is not None else None
        if refused is not None:
            raise RepublishError(
                f"Failed to republish to topic {topic}: the broker refused it ({refused})"
            )
        if self.on_sent is not None:
            self.on_sent()
        return {"topic": topic, "qos": qos, "mid": info.mid}
