"""Nothing the broker does loses a message in the bridge: a republish the broker refuses (its
ACL) fails into the error action, and a broker that crashes and comes back while the bridge
forwards at QoS 1 sends again what was not acknowledged (docs/bridge.md, "Delivery")."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import iotsql
from iotsql.actions.base import ActionRequest
from iotsql.bridge import Bridge
from iotsql.testing.broker import BrokerError, MqttBroker

from .conftest import need, wait_until

ROLE = "arn:aws:iam::123456789012:role/iot"


@pytest.fixture(scope="module")
def guarded() -> Iterator[MqttBroker]:
    """A Mosquitto whose ACL lets anonymous clients read `denied/#` but not publish there, and
    that keeps sessions and queued messages on disk after every change (so a crash loses
    nothing on the broker's side)."""
    broker = MqttBroker("mosquitto", websockets=False)
    (broker.folder / "acl").write_text(
        "topic readwrite in/#\ntopic readwrite out/#\ntopic read denied/#\n"
    )
    try:
        broker.start([f"acl_file {broker.folder / 'acl'}", "persistence true",
                      f"persistence_location {broker.folder}/", "autosave_interval 1",
                      "autosave_on_changes true"])  # fmt: skip
    except BrokerError as err:
        need(f"needs Mosquitto: {err}")
        raise
    try:
        yield broker
    finally:
        broker.stop()


def republish(topic: str, qos: int) -> dict[str, Any]:
    return {"republish": {"topic": topic, "qos": qos, "roleArn": ROLE}}


@pytest.mark.parametrize("version", ["5", "3.1.1"])
def test_a_republish_the_broker_refuses_goes_to_the_error_action(
    guarded: MqttBroker, version: str
) -> None:
    # One republish per rule: Mosquitto 2.0 also drops the connection of a client whose
    # publish it denied, which would fail any other republish of the rule still on its way.
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Denied", {
        "sql": f"SELECT * FROM 'in/acl{version}'", "awsIotSqlVersion": "2016-03-23",
        "actions": [republish(f"denied/acl{version}", 1)],
        "errorAction": {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/e",
                                "roleArn": ROLE}},
    })  # fmt: skip
    with Bridge(engine, guarded.url, mqtt_version=version, log=lambda text: None) as bridge:
        guarded.publish(f"in/acl{version}", b'{"n": 1}')
        assert bridge.wait_received(1)
        stats = bridge.stats
    errors = engine.recorder["sqs"].bodies
    if version == "5":
        # the PUBACK says 0x87 Not authorized: the action failed, the error action has it
        (error,) = errors
        (failure,) = error["failures"]
        assert failure["failedAction"] == "RepublishAction"
        assert failure["errorMessage"] == (
            f"Failed to republish to topic denied/acl{version}: "
            "the broker refused it (Not authorized)"
        )
        assert (stats.actions_ok, stats.actions_failed, stats.republished) == (1, 1, 0)
    else:
        # MQTT 3.1.1 has no reason codes: Mosquitto acknowledges and drops the message
        assert errors == [] and (stats.actions_ok, stats.actions_failed) == (1, 0)
    assert engine.dead_letters == []


def test_a_broker_crash_while_forwarding_at_qos_1_loses_nothing(guarded: MqttBroker) -> None:
    count = 40
    first: Counter[int] = Counter()
    second: Counter[int] = Counter()

    def slow(request: ActionRequest) -> None:  # keeps messages in flight when the broker dies
        time.sleep(0.02)
        first[request.body["n"]] += 1

    def hop(request: ActionRequest) -> None:
        second[request.body["n"]] += 1

    hop.instant = True  # type: ignore[attr-defined]
    engine = iotsql.RulesEngine()
    engine.register_sink("sqs", slow)
    engine.register_sink("sns", hop)
    engine.create_topic_rule("Forward", {
        "sql": "SELECT * FROM 'in/crash/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queueUrl": "https://q", "roleArn": ROLE}},
                    republish("out/crash/${topic(3)}", 1)]})  # fmt: skip
    engine.create_topic_rule("Hop", {
        "sql": "SELECT * FROM 'out/crash/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t", "roleArn": ROLE}}]})  # fmt: skip
    lines: list[str] = []
    with Bridge(engine, guarded.url, client_id="noloss-crash", reconnect_delay=(1, 1),
                log=lines.append) as bridge:  # fmt: skip
        for n in range(count):
            guarded.publish(f"in/crash/{n % 3}", json.dumps({"n": n}))
        assert wait_until(lambda: len(first) >= 5)
        guarded.restart(crash=True)
        done = wait_until(lambda: len(first) == count and len(second) == count, 30)
        assert done, (set(range(count)) - set(first), set(range(count)) - set(second))
        assert bridge.wait_idle()
    # at-least-once: what was in flight at the crash ran again, nothing was dropped
    assert any("unacknowledged message(s) of the last connection" in line for line in lines)
    assert engine.dead_letters == []


@pytest.mark.parametrize("persistent", [False, True])
def test_messages_unfinished_when_the_drain_ends_are_reported(
    guarded: MqttBroker, persistent: bool
) -> None:
    topic = f"in/drain{persistent}"
    # The sink holds its first message until stop() has returned, so that message at least is
    # unfinished however slowly a loaded machine delivers the rest (with a sleep, the bridge
    # could have received only a message it then finished within the drain).
    busy = threading.Event()
    release = threading.Event()

    def slow(request: ActionRequest) -> None:
        busy.set()
        release.wait(10)

    engine = iotsql.RulesEngine()
    engine.register_sink("sqs", slow)
    engine.create_topic_rule("Slow", {
        "sql": f"SELECT * FROM '{topic}'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queueUrl": "https://q", "roleArn": ROLE}}]})  # fmt: skip
    lines: list[str] = []
    bridge = Bridge(engine, guarded.url, workers=1, log=lines.append,
                    client_id=f"noloss-drain-{persistent}" if persistent else None).start()  # fmt: skip
    for n in range(20):
        guarded.publish(topic, json.dumps({"n": n}))
    assert busy.wait(10), "the bridge received no message"
    started = time.monotonic()
    try:
        bridge.stop(drain_timeout=0.2)
    finally:
        release.set()
    assert time.monotonic() - started < 3  # the drain time-out bounds stop()
    assert bridge.unfinished > 0
    note = f"{bridge.unfinished} message(s) received were not finished within the drain time-out"
    assert any(note in line for line in lines), lines
    if persistent:
        assert bridge.error is None and "the broker sends them again" in lines[-1]
    else:
        assert bridge.failed.is_set() and bridge.error is not None
        assert "with a clean session the broker does not send them again" in bridge.error


@pytest.mark.parametrize("dead_letter_file", [False, True])
def test_a_sink_raising_keyboard_interrupt_stops_the_bridge_with_the_message_kept(
    guarded: MqttBroker, tmp_path: Any, dead_letter_file: bool
) -> None:
    """Before: the KeyboardInterrupt ended the worker thread; the bridge ran on without it,
    the messages of its topics piled up unprocessed and the dead letter never reached the file."""
    topic = f"in/interrupt{dead_letter_file}"

    class Interrupting:
        instant = True  # called inline: the engine lets the KeyboardInterrupt through

        def __call__(self, request: ActionRequest) -> None:
            raise KeyboardInterrupt

    engine = iotsql.RulesEngine()
    engine.register_sink("sqs", Interrupting())
    engine.create_topic_rule("Stop", {
        "sql": f"SELECT * FROM '{topic}'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queueUrl": "https://q", "roleArn": ROLE}}]})  # fmt: skip
    letters = tmp_path / "dead.jsonl"
    bridge = Bridge(engine, guarded.url, workers=1, log=lambda line: None,
                    dead_letters=letters if dead_letter_file else None).start()  # fmt: skip
    guarded.publish(topic, b'{"n": 1}')
    assert bridge.failed.wait(10)
    assert "a sink raised KeyboardInterrupt" in str(bridge.error)
    assert all(thread.is_alive() for thread in bridge._threads)  # the worker goes on
    assert wait_until(lambda: bridge.inflight == 0, 10)  # before: 1 for ever, the worker gone
    assert bridge.stats.received == 1 and bridge.stats.dead_letters == 1
    bridge.stop(drain_timeout=5)
    assert bridge.unfinished == 0
    if dead_letter_file:
        (record,) = [json.loads(line) for line in letters.read_text().splitlines()]
        assert record["topic"] == topic and "KeyboardInterrupt" in json.dumps(record)
        assert engine.dead_letters == []
    else:
        (letter,) = engine.dead_letters
        assert "KeyboardInterrupt" in str(letter.evaluation_error)


def test_refused_messages_kept_in_memory_are_bounded(guarded: MqttBroker) -> None:
    """Before: `bridge.rejected` grew with every oversized message a device published."""
    topic = "in/oversized"
    engine = iotsql.RulesEngine(limits=iotsql.Limits(max_payload_bytes=10, max_dead_letters=2))
    engine.create_topic_rule("Any", {"sql": f"SELECT * FROM '{topic}'", "actions": []})
    lines: list[str] = []
    with Bridge(engine, guarded.url, workers=1, log=lines.append) as bridge:
        for n in range(5):
            guarded.publish(topic, json.dumps({"n": n, "pad": "x" * 20}))
        assert bridge.wait_received(5)
        kept = [json.loads(base64.b64decode(r["message"]["payloadBase64"]))["n"]
                for r in bridge.rejected]  # fmt: skip
        assert kept == [3, 4]
        assert bridge.dropped_rejected == 3 and bridge.stats.rejected == 5
    assert sum("the oldest are dropped" in line for line in lines) == 1
