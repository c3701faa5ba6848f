"""`iotsql.bridge.Bridge` in process against a live Mosquitto (and amqtt for MQTT 3.1.1):
rules fire on published messages, republish back, MQTT 5 properties reach the rules, each
republished message runs once, websockets, TLS with a client certificate, dead letters."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import iotsql
from iotsql.actions.recording import RecordingSink
from iotsql.bridge import HOP_PROPERTY, Bridge, BridgeError
from iotsql.testing.broker import BrokerError, MqttBroker

from .conftest import BridgeProcess, need, unique
from .conftest import wait_until as _wait

ROLE = "arn:aws:iam::123456789012:role/iot"


def rule(sql: str, *actions: dict[str, Any], error_action: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sql": sql,
        "awsIotSqlVersion": "2016-03-23",
        "actions": list(actions),
    }
    if error_action is not None:
        payload["errorAction"] = error_action
    return payload


def republish(topic: str, qos: int = 1, **headers: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"topic": topic, "qos": qos, "roleArn": ROLE}
    if headers:
        action["headers"] = headers
    return {"republish": action}


SQS = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "roleArn": ROLE}}


@pytest.fixture
def engine() -> iotsql.RulesEngine:
    return iotsql.RulesEngine()


def test_rules_fire_on_published_messages_and_republish_back(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine
) -> None:
    p = unique()
    engine.create_topic_rule("Hot", rule(
        f"SELECT device, temp FROM '{p}/sensors/+/data' WHERE temp > 30",
        republish(f"{p}/alerts/${{topic(3)}}"),
    ))  # fmt: skip
    alerts = mosquitto.collect(f"{p}/alerts/#")
    with Bridge(engine, mosquitto.url) as bridge:
        assert f"{p}/sensors/+/data" in bridge.subscriptions
        mosquitto.publish(f"{p}/sensors/d1/data", b'{"device": "d1", "temp": 31.5}')
        mosquitto.publish(f"{p}/sensors/d2/data", b'{"device": "d2", "temp": 20}')
        (message,) = alerts.wait(1)
        assert _wait(lambda: bridge.stats.received == 2) and bridge.wait_idle()
        stats = bridge.stats
    assert message.topic == f"{p}/alerts/d1"
    assert json.loads(message.payload) == {"device": "d1", "temp": 31.5}
    # no rule reads alerts/#, so the bridge did not subscribe to what it republished
    assert (stats.received, stats.matched, stats.fired, stats.actions_ok) == (2, 2, 1, 1)
    assert stats.republished == 1 and alerts.wait(2, timeout=0.3) == [message]


def test_refresh_subscriptions_returns_once_the_broker_acknowledged_them(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine
) -> None:
    """A rule added while the bridge runs: `refresh_subscriptions` returns after the SUBACK, so
    a message published as soon as it returns reaches the rule (the watcher logs "rules
    reloaded" after it). The bridge's SUBACK handler is slowed here so that a return before the
    acknowledgement cannot go unseen."""
    p = unique()
    engine.create_topic_rule("First", rule(f"SELECT * FROM '{p}/one'", SQS))
    bridge = Bridge(engine, mosquitto.url)
    handle_suback = bridge._on_subscribe
    acked: list[float] = []

    def slow_suback(*args: Any) -> None:
        time.sleep(0.3)
        acked.append(time.monotonic())
        handle_suback(*args)

    bridge._on_subscribe = slow_suback  # type: ignore[method-assign]
    with bridge.start():
        engine.create_topic_rule("Second", rule(f"SELECT * FROM '{p}/two'", SQS))
        assert bridge.refresh_subscriptions() == (["$aws/rules/Second/#", f"{p}/two"], [])
        returned = time.monotonic()
        assert len(acked) == 2 and returned >= acked[1]
        mosquitto.publish(f"{p}/two", b'{"n": 2}')
        assert bridge.wait_received(1)
    assert [r.body for r in engine.recorder["sqs"].requests] == [{"n": 2}]


def test_mqtt5_properties_reach_the_rules(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine
) -> None:
    p = unique()
    engine.create_topic_rule("Props", rule(
        "SELECT get_user_properties() AS all, get_user_properties('k') AS k, "
        "get_mqtt_property('content_type') AS ct, get_mqtt_property('format_indicator') AS fi, "
        "get_mqtt_property('response_topic') AS rt, get_mqtt_property('correlation_data') AS cd, "
        "clientid() AS c, timestamp() > 0 AS ts "
        f"FROM '{p}/in'",
        SQS,
    ))  # fmt: skip
    with Bridge(engine, mosquitto.url) as bridge:
        mosquitto.publish(
            f"{p}/in", b"{}", user_properties=[("k", "v1"), ("other", "x"), ("k", "v2")],
            ContentType="application/json", PayloadFormatIndicator=1, ResponseTopic="r/t",
            CorrelationData=b"\x00\x01id",
        )  # fmt: skip
        mosquitto.publish(f"{p}/in", b"{}")
        assert bridge.wait_idle() and _wait(lambda: len(engine.recorder["sqs"]) == 2)
    first, second = (r.body for r in engine.recorder["sqs"].requests)
    assert first == {
        "all": [{"k": "v1"}, {"other": "x"}, {"k": "v2"}],
        "k": ["v1", "v2"],
        "ct": "application/json",
        "fi": "UTF8_DATA",
        "rt": "r/t",
        "cd": "AAFpZA==",
        "ts": True,
    }  # fmt: skip  (no clientid: a subscriber cannot see the publisher's)
    assert second == {"fi": "UNSPECIFIED_BYTES", "ts": True}


def test_context_mapping_from_topic_levels_and_user_properties(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine
) -> None:
    p = unique()
    engine.create_topic_rule("Who", rule(
        f"SELECT clientid() AS c, principal() AS pr FROM '{p}/+/up'", SQS,
    ))  # fmt: skip
    mapping = ["clientid=topic:2", "principal=user-property:cert"]
    with Bridge(engine, mosquitto.url, context=mapping) as bridge:
        mosquitto.publish(f"{p}/dev-7/up", b"{}", user_properties=[("cert", "abc123")])
        assert _wait(lambda: len(engine.recorder["sqs"]) == 1) and bridge.wait_idle()
    assert engine.recorder["sqs"].bodies == [{"c": "dev-7", "pr": "abc123"}]


def test_republish_headers_reach_the_rules_on_the_republished_topic_once(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine
) -> None:
    p = unique()
    engine.create_topic_rule("First", rule(
        f"SELECT * FROM '{p}/in'",
        republish(f"{p}/mid", contentType="rule/json",
                  userProperties=[{"key": "hop", "value": "r1"},
                                  {"key": "from", "value": "${topic()}"}]),
    ))  # fmt: skip
    engine.create_topic_rule("Second", rule(
        "SELECT n, get_user_properties() AS props, get_mqtt_property('content_type') AS ct, "
        f"clientid() AS c FROM '{p}/mid'",
        SQS,
    ))  # fmt: skip
    outside = mosquitto.collect(f"{p}/mid")
    with Bridge(engine, mosquitto.url) as bridge:
        for n in range(5):
            mosquitto.publish(f"{p}/in", json.dumps({"n": n}))
        assert _wait(lambda: len(engine.recorder["sqs"]) >= 5) and bridge.wait_idle()
        seen = outside.wait(5)
    bodies = sorted(engine.recorder["sqs"].bodies, key=lambda b: b["n"])
    assert bodies == [
        {"n": n, "props": [{"hop": "r1"}, {"from": f"{p}/in"}], "ct": "rule/json", "c": "n/a"}
        for n in range(5)
    ]  # the marker is taken off before the rules see the properties; each hop ran once; a
    # republished message is the engine's, not a device's (clientid() n/a, docs/semantics.md)
    # other subscribers see the headers and the marker
    assert seen[0].properties.UserProperty == [
        ("hop", "r1"),
        ("from", f"{p}/in"),
        (HOP_PROPERTY, "1"),
    ]


def test_a_republish_loop_through_the_broker_stops_at_the_depth_limit(
    mosquitto: MqttBroker,
) -> None:
    p = unique()
    engine = iotsql.RulesEngine(limits=iotsql.Limits(max_republish_depth=3))
    engine.create_topic_rule("Ping", rule(f"SELECT * FROM '{p}/a'", republish(f"{p}/b")))
    engine.create_topic_rule("Pong", rule(f"SELECT * FROM '{p}/b'", republish(f"{p}/a")))
    with Bridge(engine, mosquitto.url) as bridge:
        mosquitto.publish(f"{p}/a", b'{"x": 1}')
        assert _wait(lambda: bridge.stats.dead_letters == 1)
        assert bridge.wait_idle()
        stats = bridge.stats
    # depths 0, 1, 2 republish; the message at depth 3 is stopped by the loop guard
    assert (stats.received, stats.fired, stats.republished, stats.actions_failed) == (4, 4, 3, 1)
    (letter,) = engine.drain_dead_letters()
    assert "republish loop stopped" in (letter.failures[0].error or "")


def test_basic_ingest_runs_only_the_named_rule(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine
) -> None:
    p = unique()
    engine.create_topic_rule("Ingest", rule(f"SELECT topic() AS t FROM '{p}/ingest/#'", SQS))
    engine.create_topic_rule("Other", rule(f"SELECT topic() AS t FROM '{p}/ingest/#'", SQS))
    with Bridge(engine, mosquitto.url) as bridge:
        assert "$aws/rules/Ingest/#" in bridge.subscriptions
        mosquitto.publish(f"$aws/rules/Ingest/{p}/ingest/x", b"{}")
        assert _wait(lambda: len(engine.recorder["sqs"]) == 1) and bridge.wait_idle()
        assert bridge.stats.fired == 1
    (request,) = engine.recorder["sqs"].requests
    assert request.rule_name == "Ingest" and request.body == {"t": f"{p}/ingest/x"}


def test_failed_actions_go_to_the_error_action_then_to_the_dead_letter_file(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine, tmp_path: Path
) -> None:
    p = unique()
    engine.register_sink("sqs", RecordingSink(fail_with="queue does not exist"))
    engine.register_sink("s3", RecordingSink(fail_with="bucket does not exist"))
    engine.register_sink("sns", RecordingSink())
    engine.create_topic_rule("Broken", rule(
        f"SELECT * FROM '{p}/x'", SQS,
        error_action={"s3": {"bucketName": "b", "key": "k", "roleArn": ROLE}},
    ))  # fmt: skip
    engine.create_topic_rule("Rescued", rule(
        f"SELECT * FROM '{p}/x'", SQS,
        error_action={"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t", "roleArn": ROLE}},
    ))  # fmt: skip
    dead = tmp_path / "dead.jsonl"
    out = tmp_path / "out.jsonl"
    with Bridge(engine, mosquitto.url, dead_letters=dead, out=out) as bridge:
        mosquitto.publish(f"{p}/x", b'{"v": 1}')
        assert _wait(lambda: bridge.stats.received == 1) and bridge.wait_idle()
        stats = bridge.stats
    assert (stats.actions_ok, stats.actions_failed, stats.dead_letters) == (1, 3, 1)
    (letter,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert letter["rule"] == "Broken" and "queue does not exist" in letter["failures"][0]["error"]
    assert "bucket does not exist" in letter["errorActionFailure"]["error"]
    assert letter["message"]["topic"] == f"{p}/x"
    requests = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["rule"], r["action"], r["errorAction"]) for r in requests) == [
        ("Broken", "s3", True), ("Broken", "sqs", False),
        ("Rescued", "sns", True), ("Rescued", "sqs", False),
    ]  # fmt: skip


def test_a_message_the_engine_refuses_is_kept(mosquitto: MqttBroker) -> None:
    p = unique()
    engine = iotsql.RulesEngine(limits=iotsql.Limits(max_payload_bytes=16))
    engine.create_topic_rule("R", rule(f"SELECT * FROM '{p}/x'", SQS))
    with Bridge(engine, mosquitto.url) as bridge:
        mosquitto.publish(f"{p}/x", b'{"much": "too long for the limit"}')
        assert _wait(lambda: bridge.stats.received == 1) and bridge.wait_idle()
        assert bridge.stats.rejected == 1
    (record,) = bridge.rejected
    assert "payload size" in record["rejected"] and record["message"]["topic"] == f"{p}/x"


def test_websocket_transport(mosquitto: MqttBroker, engine: iotsql.RulesEngine) -> None:
    p = unique()
    engine.create_topic_rule("Ws", rule(f"SELECT * FROM '{p}/ws'", republish(f"{p}/out")))
    out = mosquitto.collect(f"{p}/out")
    assert mosquitto.ws_url is not None
    with Bridge(engine, mosquitto.ws_url) as bridge:
        assert bridge.url.transport == "websockets"
        mosquitto.publish(f"{p}/ws", b'{"over": "websocket"}')
        (message,) = out.wait(1)
    assert json.loads(message.payload) == {"over": "websocket"}


def test_the_broker_cannot_be_reached(engine: iotsql.RulesEngine) -> None:
    from iotsql.testing.broker import free_port

    engine.create_topic_rule("R", rule("SELECT * FROM 'a'", SQS))
    bridge = Bridge(engine, f"mqtt://127.0.0.1:{free_port()}", connect_timeout=1)
    with pytest.raises(BridgeError, match=r"cannot connect to mqtt://127\.0\.0\.1"):
        bridge.start()


def test_a_broker_saying_the_session_was_taken_over_stops_the_bridge(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine
) -> None:
    # Mosquitto 2.0 closes the connection without a reason; brokers that send DISCONNECT with
    # reason 0x8E (session taken over) are recognised: the bridge stops instead of fighting.
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    class Client:
        disconnected = False

        def disconnect(self) -> None:
            self.disconnected = True

    bridge = Bridge(engine, mosquitto.url, client_id="taken", log=lambda text: None)
    client = Client()
    bridge._on_disconnect(
        client, None, None, ReasonCode(PacketTypes.DISCONNECT, identifier=142), None
    )
    assert bridge.failed.is_set() and client.disconnected
    assert bridge.error is not None and "its own --client-id" in bridge.error


@pytest.fixture(scope="module")
def password_broker() -> Iterator[MqttBroker]:
    """A Mosquitto that lets in only the user `rules` with the password `s3cret`."""
    try:
        broker = MqttBroker("mosquitto", websockets=False, users={"rules": "s3cret"}).start()
    except BrokerError as err:
        need(f"needs Mosquitto: {err}")
        raise
    try:
        yield broker
    finally:
        broker.stop()


def test_username_and_password(engine: iotsql.RulesEngine, password_broker: MqttBroker) -> None:
    p, broker = unique(), password_broker
    engine.create_topic_rule("Auth", rule(f"SELECT * FROM '{p}/x'", republish(f"{p}/y")))
    out = broker.collect(f"{p}/y")
    with Bridge(engine, broker.url, username="rules", password="s3cret"):
        broker.publish(f"{p}/x", b'{"ok": 1}')
        (message,) = out.wait(1)
    assert json.loads(message.payload) == {"ok": 1}
    with pytest.raises(BridgeError, match="refused the connection: Not authorized"):
        Bridge(iotsql.RulesEngine(), broker.url.replace("mqtt://", "mqtt://rules:wrong@"),
               connect_timeout=5).start()  # fmt: skip


def test_the_bridge_reconnects_and_subscribes_again(engine: iotsql.RulesEngine) -> None:
    p = unique()
    engine.create_topic_rule("Again", rule(f"SELECT * FROM '{p}/x'", SQS))
    try:
        broker = MqttBroker("mosquitto", websockets=False).start()
    except BrokerError as err:
        need(f"needs Mosquitto: {err}")
        raise
    lines: list[str] = []
    try:
        with Bridge(engine, broker.url, reconnect_delay=(1, 1), log=lines.append) as bridge:
            broker.publish(f"{p}/x", b'{"n": 1}')
            assert bridge.wait_received(1)
            broker.restart()  # a clean broker: the bridge's subscriptions are gone with it
            assert _wait(lambda: any("reconnected" in line for line in lines), 15)
            assert _wait(lambda: bridge.connected)
            time.sleep(0.3)  # the SUBACK of the new subscriptions
            broker.publish(f"{p}/x", b'{"n": 2}')
            assert bridge.wait_received(2)
    finally:
        broker.stop()
    assert [r.body for r in engine.recorder["sqs"].requests] == [{"n": 1}, {"n": 2}]
    assert any("disconnected from" in line for line in lines)


# ---- TLS with an X.509 client certificate ----------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MqttBroker, Path]]:
    import shutil

    if shutil.which("openssl") is None:
        need("needs the openssl command to make certificates (apt-get install -y openssl)")
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)  # fmt: skip
    for name, cn in (("server", "127.0.0.1"), ("client", "thing-1")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)  # fmt: skip
        extra = ["-extfile", "san.cnf"] if name == "server" else []
        if name == "server":
            (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra, cwd=folder)  # fmt: skip
    try:
        broker = MqttBroker("mosquitto", websockets=True,
                            tls=(str(folder / "ca.pem"), str(folder / "server.pem"),
                                 str(folder / "server.key"))).start()  # fmt: skip
    except BrokerError as err:
        need(f"needs Mosquitto: {err}")
        raise
    try:
        yield broker, folder
    finally:
        broker.stop()


def test_tls_with_a_client_certificate(tls_broker: tuple[MqttBroker, Path]) -> None:
    broker, pki = tls_broker
    p = unique()
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Tls", rule(f"SELECT * FROM '{p}/secure'", republish(f"{p}/out")))
    out = broker.collect(f"{p}/out")
    assert broker.tls_url is not None
    files = {"cafile": str(pki / "ca.pem"), "certfile": str(pki / "client.pem"),
             "keyfile": str(pki / "client.key")}  # fmt: skip
    with Bridge(engine, broker.tls_url, **files) as bridge:
        assert bridge.url.tls
        broker.publish(f"{p}/secure", b'{"tls": true}')
        (message,) = out.wait(1)
    assert json.loads(message.payload) == {"tls": True}
    without_certificate = Bridge(iotsql.RulesEngine(), broker.tls_url, cafile=files["cafile"],
                                 connect_timeout=3)  # fmt: skip
    with pytest.raises(BridgeError, match="cannot connect"):
        without_certificate.start()


def test_wss_with_a_client_certificate(tls_broker: tuple[MqttBroker, Path]) -> None:
    """MQTT over a TLS WebSocket (wss://, AWS IoT's port 443 transport): the bridge verifies
    the broker against the CA and presents its client certificate."""
    broker, pki = tls_broker
    p = unique()
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Wss", rule(f"SELECT *, topic(2) AS via FROM '{p}/ws'",
                                         republish(f"{p}/out")))  # fmt: skip
    out = broker.collect(f"{p}/out")
    assert broker.wss_url is not None and broker.wss_url.startswith("wss://")
    files = {"cafile": str(pki / "ca.pem"), "certfile": str(pki / "client.pem"),
             "keyfile": str(pki / "client.key")}  # fmt: skip
    with Bridge(engine, broker.wss_url, **files) as bridge:
        assert bridge.url.tls and bridge.url.transport == "websockets"
        broker.publish(f"{p}/ws", b'{"secure": 1}')
        (message,) = out.wait(1)
    assert json.loads(message.payload) == {"secure": 1, "via": "ws"}
    untrusted = Bridge(iotsql.RulesEngine(), broker.wss_url, connect_timeout=3)  # system CAs
    with pytest.raises(BridgeError, match="cannot connect"):
        untrusted.start()


# ---- MQTT 3.1.1 on the pure-Python broker ---------------------------------------------------------


@pytest.fixture(scope="module")
def amqtt_broker() -> Iterator[MqttBroker]:
    try:
        broker = MqttBroker("amqtt").start()
    except BrokerError as err:
        need(f"needs amqtt (the dev extra): {err}")
        raise
    try:
        yield broker
    finally:
        broker.stop()


def test_mqtt_3_1_1_on_a_pure_python_broker(amqtt_broker: MqttBroker) -> None:
    p = unique()
    engine = iotsql.RulesEngine(limits=iotsql.Limits(max_republish_depth=2))
    engine.create_topic_rule("Hot", rule(
        f"SELECT temp FROM '{p}/t' WHERE temp > 30", republish(f"{p}/alerts"),
    ))  # fmt: skip
    # a loop: without properties the depth travels in the bridge's own memory
    engine.create_topic_rule("Ping", rule(f"SELECT * FROM '{p}/a'", republish(f"{p}/b")))
    engine.create_topic_rule("Pong", rule(f"SELECT * FROM '{p}/b'", republish(f"{p}/a")))
    alerts = amqtt_broker.collect(f"{p}/alerts")
    with Bridge(engine, amqtt_broker.url, mqtt_version="3.1.1") as bridge:
        amqtt_broker.publish(f"{p}/t", b'{"temp": 35}')
        amqtt_broker.publish(f"{p}/t", b'{"temp": 5}')
        (message,) = alerts.wait(1)
        amqtt_broker.publish(f"{p}/a", b'{"loop": 1}')
        assert _wait(lambda: bridge.stats.dead_letters == 1) and bridge.wait_idle()
    assert json.loads(message.payload) == {"temp": 35}
    (letter,) = engine.drain_dead_letters()
    assert letter.rule_name == "Ping" and "republish loop stopped" in (
        letter.failures[0].error or ""
    )


# ---- the command's login options (docs/bridge.md, "The command") -------------------------------


def _copy_rule(folder: Path, p: str) -> Path:
    path = folder / "rules.json"
    path.write_text(json.dumps({"Copy": rule(f"SELECT n FROM '{p}/in'", republish(f"{p}/out"))}))
    return path


def test_the_command_logs_in_with_a_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password_broker: MqttBroker
) -> None:
    # "--username, --password: credentials ($IOTSQL_MQTT_PASSWORD when --password is absent)";
    # a broker that refuses the connection is exit status 2.
    p, broker = unique(), password_broker
    rules, out = _copy_rule(tmp_path, p), broker.collect(f"{p}/out")
    monkeypatch.setenv("IOTSQL_MQTT_PASSWORD", "s3cret")
    command = [str(rules), "--broker", broker.url, "--username", "rules"]
    bridge = BridgeProcess(command, tmp_path).wait_ready()
    broker.publish(f"{p}/in", b'{"n": 1}')
    (message,) = out.wait(1)
    assert bridge.stop() == 0 and json.loads(message.payload) == {"n": 1}
    wrong = BridgeProcess([*command, "--password", "wrong"], tmp_path)
    assert wrong.finish() == 2 and "Not authorized" in wrong.stderr, wrong.stderr
    monkeypatch.delenv("IOTSQL_MQTT_PASSWORD")
    anonymous = BridgeProcess(command, tmp_path)
    assert anonymous.finish() == 2 and "refused the connection" in anonymous.stderr


def test_the_command_presents_a_client_certificate_and_insecure_skips_the_host_name(
    tls_broker: tuple[MqttBroker, Path], tmp_path: Path
) -> None:
    # "--cafile, --cert, --key: TLS: the CA to trust; a client certificate and its key";
    # "--insecure: TLS without checking the broker's host name". The broker's certificate
    # names 127.0.0.1 only, so at mqtts://localhost the host name check fails.
    broker, pki = tls_broker
    p = unique()
    rules, out = _copy_rule(tmp_path, p), broker.collect(f"{p}/out")
    assert broker.tls_url is not None
    files = ["--cafile", str(pki / "ca.pem"), "--cert", str(pki / "client.pem"),
             "--key", str(pki / "client.key")]  # fmt: skip
    bridge = BridgeProcess([str(rules), "--broker", broker.tls_url, *files], tmp_path)
    bridge.wait_ready()
    broker.publish(f"{p}/in", b'{"n": 2}')
    (message,) = out.wait(1)
    assert bridge.stop() == 0 and json.loads(message.payload) == {"n": 2}
    by_name = broker.tls_url.replace("127.0.0.1", "localhost")
    checked = BridgeProcess([str(rules), "--broker", by_name, *files], tmp_path)
    assert checked.finish() == 2 and "cannot connect" in checked.stderr, checked.stderr
    insecure = BridgeProcess([str(rules), "--broker", by_name, *files, "--insecure"], tmp_path)
    insecure.wait_ready()
    assert insecure.stop() == 0
    without_certificate = BridgeProcess([str(rules), "--broker", broker.tls_url, *files[:2]],
                                        tmp_path)  # fmt: skip
    assert without_certificate.finish() == 2


def test_a_republished_message_is_never_retained(
    mosquitto: MqttBroker, engine: iotsql.RulesEngine
) -> None:
    # docs/bridge.md (Republish): "A republished message is never retained (the republish
    # action has no retain field in AWS)": a rule cannot ask for it, and a subscriber that comes
    # after the republish receives nothing.
    p = unique()
    with pytest.raises(iotsql.RuleValidationError, match="retain: is not a field"):
        engine.create_topic_rule("Retained", rule(f"SELECT * FROM '{p}/x'",
                                                  {"republish": {**republish(f"{p}/y")["republish"],
                                                                 "retain": True}}))  # fmt: skip
    engine.create_topic_rule("Copy", rule(f"SELECT * FROM '{p}/x'", republish(f"{p}/y")))
    before = mosquitto.collect(f"{p}/y")
    with Bridge(engine, mosquitto.url):
        mosquitto.publish(f"{p}/x", b'{"n": 1}')
        (message,) = before.wait(1)
    assert not message.retain
    after = mosquitto.collect(f"{p}/y")
    time.sleep(0.5)  # a retained message comes right after the SUBACK
    assert after.messages == []


def test_the_python_api_example_of_the_page_runs(
    mosquitto: MqttBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docs/bridge.md (The Python API), run as printed with the test broker's URL and, for
    # "serve until done", one message published and waited for.
    import contextlib
    import io
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "bridge.md").read_text(encoding="utf-8")
    api = doc[doc.index("## The Python API") :]
    (block,) = re.findall(r"```python\n(.*?)```", api[: api.index("\n## ", 5)], re.S)
    serve = "    ...                       # serve until done\n"
    assert serve in block and "mqtt://127.0.0.1:1883" in block
    p = unique()
    block = block.replace("mqtt://127.0.0.1:1883", mosquitto.url).replace(
        serve,
        f"    publisher.publish('{p}/thing-7/data', b'{{\"t\": 31}}')\n"
        "    assert bridge.wait_received(1)\n",
    )
    monkeypatch.chdir(tmp_path)
    Path("template.yaml").write_text(
        "Resources:\n  Hot:\n    Type: AWS::IoT::TopicRule\n    Properties:\n"
        "      TopicRulePayload:\n        AwsIotSqlVersion: '2016-03-23'\n"
        f"        Sql: SELECT t, clientid() AS device FROM '{p}/+/data'\n"
        "        Actions:\n          - Sqs:\n              QueueUrl: https://sqs.us-east-1.amazonaws.com/1/q\n"
        "              RoleArn: arn:aws:iam::123456789012:role/iot\n"
    )  # fmt: skip
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "docs/bridge.md (The Python API)", "exec"), {"publisher": mosquitto})
    assert printed.getvalue().startswith("BridgeStats(received=1, matched=1, fired=1,")
    (line,) = Path("requests.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["body"] == {"t": 31, "device": "thing-7"}  # clientid=topic:2
