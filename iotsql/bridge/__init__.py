"""The host for a live MQTT broker: topic rules on the traffic of a real broker (Mosquitto,
EMQX, HiveMQ, AWS IoT Core itself...), scaled out with MQTT 5 shared subscriptions.

    engine = iotsql.RulesEngine()
    engine.load_rules("template.yaml")
    with Bridge(engine, "mqtt://127.0.0.1:1883", client_id="rules-1", share="rules"):
        ...   # every message on the rules' topics runs through the rules

What the bridge does with each of the host's four concerns (DESIGN.md, "Hosts"):

- rules in: the engine's rules; `refresh_subscriptions()` after they change;
- messages in: one subscription per rule topic filter (merged so that no topic matches two,
  see `subscriptions.py`) plus `$aws/rules/<name>/#`, QoS 1, each message handed to
  `RulesEngine.publish` with the MQTT 5 properties as its context (`context.py`);
- actions out: `republish` back to the broker with the action's headers as MQTT 5 properties
  and a hop marker (`republish.py`); other actions to the sinks the engine has;
- lifecycle: `start()` connects and subscribes, `stop()` drains and disconnects; a message is
  acknowledged only once its actions were dispatched (`acks.py`).

paho-mqtt internals and APIs this package relies on (all of them in `paho.py` and
`bridge.py`), for paho-mqtt >=2.1,<3 (the `mqtt` extra; checked when a Bridge is created):

- `paho.mqtt.client.Client(CallbackAPIVersion.VERSION2, client_id, clean_session, protocol,
  transport, manual_ack=True)` and its version-2 callbacks `on_connect(client, userdata, flags,
  reason_code, properties)`, `on_disconnect(client, userdata, flags, reason_code,
  properties)`, `on_publish(client, userdata, mid, reason_code, properties)` (called before
  the message is marked published: a refused republish is seen there), `on_subscribe(client, userdata, mid, reason_codes, properties)`,
  `on_message(client, userdata, message)`;
- `Client.ack(mid, qos)` (manual acknowledgement, new in 2.0), `connect_async(...,
  clean_start, properties)`, `loop_start()`/`loop_stop()`, `reconnect_delay_set()` (paho's
  own exponential backoff), `subscribe()`/`unsubscribe()`, `publish()` and
  `MQTTMessageInfo.wait_for_publish()`/`is_published()`, `tls_set()`,
  `tls_insecure_set()`, `ws_set_options(path)`, `username_pw_set()`, `disconnect()`;
- `MQTTMessage.topic`, `.payload`, `.qos`, `.mid`, `.properties`;
  `paho.mqtt.properties.Properties` attributes `UserProperty`, `ContentType`,
  `PayloadFormatIndicator`, `ResponseTopic`, `CorrelationData`, `MessageExpiryInterval`,
  `SessionExpiryInterval`, `ReceiveMaximum`; `paho.mqtt.packettypes.PacketTypes`;
  `paho.mqtt.subscribeoptions.SubscribeOptions(qos)`; `ReasonCode.is_failure` and
  `.value`; `paho.mqtt.__version__`.
"""

from __future__ import annotations

from iotsql.bridge.bridge import Bridge, BridgeError
from iotsql.bridge.context import ContextMap
from iotsql.bridge.republish import HOP_PROPERTY
from iotsql.bridge.stats import BridgeStats
from iotsql.bridge.subscriptions import subscriptions_for
from iotsql.bridge.url import BrokerUrl

__all__ = [
    "HOP_PROPERTY",
    "Bridge",
    "BridgeError",
    "BridgeStats",
    "BrokerUrl",
    "ContextMap",
    "subscriptions_for",
]
