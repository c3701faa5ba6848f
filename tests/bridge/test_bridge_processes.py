"""`iotsql bridge` processes on a live Mosquitto: two bridges on a shared subscription split the
traffic with nothing lost or duplicated, a bridge killed with SIGKILL loses nothing (at-least-
once), SIGTERM drains, a republish chain runs each hop once with two bridges, stats lines."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from iotsql.testing.broker import Collector, MqttBroker

from .conftest import unique, wait_until

ROLE = "arn:aws:iam::123456789012:role/iot"
COUNT_LINE = re.compile(
    r"received: (\d+), matched: (\d+), fired: (\d+), actions ok: (\d+), actions failed: (\d+), "
    r"dead letters: (\d+), [\d.]+ messages/s"
)


def write_rules(folder: Path, rules: dict[str, tuple[str, str]]) -> Path:
    """A rules file: name -> (SQL, republish topic)."""
    path = folder / "rules.json"
    path.write_text(json.dumps({
        name: {"sql": sql, "awsIotSqlVersion": "2016-03-23",
               "actions": [{"republish": {"topic": topic, "qos": 1, "roleArn": ROLE}}]}
        for name, (sql, topic) in rules.items()
    }))  # fmt: skip
    return path


def publish_many(broker: MqttBroker, topic_of: Any, numbers: range) -> None:
    """QoS 1 publishes of {"n": n}, without waiting for each PUBACK (then for all)."""
    client = broker.client()
    infos = [client.publish(topic_of(n), json.dumps({"n": n}), qos=1) for n in numbers]
    for info in infos:
        info.wait_for_publish(30)


def numbers(collector: Collector) -> Counter[int]:
    return Counter(json.loads(m.payload)["n"] for m in collector.messages)


def counts(line: str) -> tuple[int, ...]:
    match = COUNT_LINE.search(line)
    assert match, line
    return tuple(int(g) for g in match.groups())


def test_two_bridges_on_a_shared_subscription_split_the_messages(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    p = unique("split")
    rules = write_rules(tmp_path, {
        "Double": (f"SELECT n, n * 2 AS twice, topic(3) AS dev FROM '{p}/d/+'", f"{p}/out"),
    })  # fmt: skip
    total = range(2000)

    def run(*groups: list[str]) -> tuple[Counter[str], list[str]]:
        out = mosquitto.collect(f"{p}/out")
        started = [bridges(str(rules), "--broker", mosquitto.url, *g).wait_ready() for g in groups]
        publish_many(mosquitto, lambda n: f"{p}/d/{n % 10}", total)
        assert wait_until(lambda: len(out.messages) >= len(total))
        time.sleep(0.3)  # a duplicate would arrive now
        summaries = []
        for bridge in started:
            assert bridge.stop() == 0, bridge.stderr
            summaries.append(bridge.wait_for("SIGTERM: received"))
        out.client.disconnect()
        return Counter(m.payload.decode() for m in out.messages), summaries

    single, (alone,) = run([])
    shared, summaries = run(
        ["--share", "g1", "--out", "a.jsonl"], ["--share", "g1", "--out", "b.jsonl"]
    )
    assert sum(single.values()) == len(total) and max(single.values()) == 1
    assert shared == single  # none lost, none duplicated: the same outputs as one process
    received = [counts(line)[0] for line in summaries]
    assert sum(received) == len(total) and min(received) > 0, summaries  # both took a share
    assert counts(alone)[:4] == (2000, 2000, 2000, 2000)
    recorded = [json.loads(line) for name in ("a.jsonl", "b.jsonl")
                for line in (tmp_path / name).read_text().splitlines()]  # fmt: skip
    assert len(recorded) == len(total) and {r["action"] for r in recorded} == {"republish"}


def test_a_killed_bridge_loses_no_qos1_message(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    p = unique("kill")
    rules = write_rules(tmp_path, {"Copy": (f"SELECT n FROM '{p}/in'", f"{p}/out")})
    args = (str(rules), "--broker", mosquitto.url, "--client-id", f"{p}-bridge", "--workers", "1")
    out = mosquitto.collect(f"{p}/out")
    first = bridges(*args).wait_ready()
    publish_many(mosquitto, lambda n: f"{p}/in", range(500))
    assert wait_until(lambda: len(out.messages) >= 20)
    first.signal(signal.SIGKILL)
    first.finish()
    at_kill = len(out.messages)
    publish_many(mosquitto, lambda n: f"{p}/in", range(500, 800))  # while no bridge runs
    second = bridges(*args).wait_ready()
    assert wait_until(lambda: set(numbers(out)) == set(range(800)))
    assert second.stop() == 0
    seen = numbers(out)
    duplicates = sum(seen.values()) - len(seen)
    # at-least-once: every message was processed; those in flight at the kill ran again
    assert set(seen) == set(range(800)) and duplicates <= 100, duplicates
    print(f"kill -9 after {at_kill} outputs: 800 messages processed, {duplicates} twice")


def test_sigterm_drains_and_acknowledges_what_was_received(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    p = unique("term")
    rules = write_rules(tmp_path, {"Copy": (f"SELECT n FROM '{p}/in'", f"{p}/out")})
    args = (str(rules), "--broker", mosquitto.url, "--client-id", f"{p}-bridge", "--workers", "1")
    out = mosquitto.collect(f"{p}/out")
    first = bridges(*args).wait_ready()
    publish_many(mosquitto, lambda n: f"{p}/in", range(600))
    assert wait_until(lambda: len(out.messages) >= 20)
    first.signal(signal.SIGTERM)
    assert first.finish() == 0, first.stderr
    summary = first.wait_for("SIGTERM: received")
    drained = counts(summary)[0]
    # everything the first bridge processed was acknowledged; the rest waits in its session
    second = bridges(*args).wait_ready()
    assert wait_until(lambda: set(numbers(out)) == set(range(600)))
    time.sleep(0.3)
    assert second.stop() == 0
    seen = numbers(out)
    assert sum(seen.values()) == 600 and max(seen.values()) == 1, (drained, seen.most_common(3))
    assert 0 < drained < 600 or drained == 600


def test_a_republish_chain_runs_each_hop_once_with_two_bridges(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    p = unique("chain")
    rules = write_rules(tmp_path, {
        "First": (f"SELECT n FROM '{p}/in'", f"{p}/mid"),
        "Second": (f"SELECT n, 'second' AS hop FROM '{p}/mid'", f"{p}/out"),
    })  # fmt: skip
    mid, out = mosquitto.collect(f"{p}/mid"), mosquitto.collect(f"{p}/out")
    started = [
        bridges(str(rules), "--broker", mosquitto.url, "--share", "chain", "--stats-interval",
                "0.5").wait_ready()
        for _ in range(2)
    ]  # fmt: skip
    publish_many(mosquitto, lambda n: f"{p}/in", range(300))
    assert wait_until(lambda: len(out.messages) >= 300)
    time.sleep(0.5)  # duplicates would arrive now
    for bridge in started:
        assert bridge.stop() == 0
    assert numbers(mid) == Counter(range(300)) and numbers(out) == Counter(range(300))
    assert {json.loads(m.payload)["hop"] for m in out.messages} == {"second"}
    summaries = [counts(b.wait_for("SIGTERM: received")) for b in started]
    # each bridge received in and mid messages; together: 300 + 300, each fired once
    assert sum(s[0] for s in summaries) == 600 and sum(s[2] for s in summaries) == 600
    assert all(counts(b.wait_for("messages/s")) for b in started)  # periodic stats lines
    assert "no $-topic to a shared subscription" in started[0].wait_for("note:")


def test_the_command_reports_what_it_cannot_do(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    rules = write_rules(tmp_path, {"R": ("SELECT * FROM 'a'", "b")})
    bad = bridges(str(rules), "--broker", "http://x")
    assert bad.finish() == 2 and "unknown scheme 'http'" in bad.stderr
    bad_map = bridges(str(rules), "--broker", mosquitto.url, "--context", "clientid=header:x")
    assert bad_map.finish() == 2 and "unknown source" in bad_map.stderr
    (tmp_path / "broken.json").write_text(
        '{"B": {"sql": "SELECT * FROM \'a\' WHERE", "actions": []}}'
    )
    broken = bridges("broken.json", "--broker", mosquitto.url)
    assert broken.finish() == 2 and "invalid SQL" in broken.stderr


def test_watch_reloads_the_rules_and_resubscribes(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    p = unique("watch")
    rules = write_rules(tmp_path, {"One": (f"SELECT n FROM '{p}/one'", f"{p}/out")})
    out = mosquitto.collect(f"{p}/out")
    bridge = bridges(str(rules), "--broker", mosquitto.url, "--watch").wait_ready()
    time.sleep(1.1)  # a modification time the watcher can tell from the first
    write_rules(tmp_path, {"Two": (f"SELECT n, 2 AS two FROM '{p}/two'", f"{p}/out")})
    bridge.wait_for("rules reloaded: 1 created, 0 replaced, 1 deleted")
    mosquitto.publish(f"{p}/one", json.dumps({"n": 1}))
    mosquitto.publish(f"{p}/two", json.dumps({"n": 2}))
    assert wait_until(lambda: len(out.messages) >= 1)
    time.sleep(0.3)
    assert [json.loads(m.payload) for m in out.messages] == [{"n": 2, "two": 2}]
    (tmp_path / "rules.json").write_text("{not json")
    bridge.wait_for("cannot be loaded; the rules in force stay")
    assert bridge.stop() == 0


def test_a_dead_letter_that_cannot_be_written_stops_the_bridge(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    p = unique("full")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"Fails": {
        "sql": f"SELECT * FROM '{p}/x'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"topic": f"{p}/${{w}}", "roleArn": ROLE}}],
    }}))  # fmt: skip
    bridge = bridges(str(rules), "--broker", mosquitto.url, "--dead-letters", "/dev/full")
    bridge.wait_ready()
    mosquitto.publish(f"{p}/x", b'{"w": "no/#/wildcards/in/a/topic"}')  # the action fails
    assert bridge.finish() == 1
    assert "error: OSError" in bridge.stderr or "No space left" in bridge.stderr, bridge.stderr


def test_mqtt_3_1_1_and_a_clean_start_from_the_command_line(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    p = unique("v311")
    rules = write_rules(tmp_path, {"Copy": (f"SELECT n FROM '{p}/in'", f"{p}/out")})
    out = mosquitto.collect(f"{p}/out")
    bridge = bridges(str(rules), "--broker", mosquitto.url, "--mqtt-version", "3.1.1",
                     "--client-id", f"{p}-id", "--clean-start").wait_ready()  # fmt: skip
    assert f"as {p}-id (MQTT 3.1.1, clean session)" in bridge.wait_for("connected to")
    mosquitto.publish(f"{p}/in", json.dumps({"n": 7}))
    assert wait_until(lambda: len(out.messages) == 1)
    assert bridge.stop() == 0
    assert json.loads(out.messages[0].payload) == {"n": 7}
    assert not hasattr(out.messages[0].properties, "UserProperty")  # no hop marker on 3.1.1


def test_the_broker_sees_the_keepalive_and_the_session_the_command_asks_for(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path
) -> None:
    # docs/bridge.md: "--keepalive SECONDS: the MQTT keep-alive (default 60)", "--client-id ID:
    # with one the session is persistent", "--clean-start: a clean session even with
    # --client-id"; Mosquitto logs each connection as "(p<protocol>, c<clean>, k<keepalive>)".
    p = unique("conn")
    rules = write_rules(tmp_path, {"R": (f"SELECT * FROM '{p}/x'", f"{p}/y")})
    default = bridges(str(rules), "--broker", mosquitto.url, "--client-id", f"{p}-a")
    default.wait_ready()
    chosen = bridges(str(rules), "--broker", mosquitto.url, "--client-id", f"{p}-b",
                     "--keepalive", "17", "--clean-start").wait_ready()  # fmt: skip
    assert default.stop() == 0 and chosen.stop() == 0
    assert wait_until(lambda: f"as {p}-b (p5, c1, k17)" in mosquitto.log, 5), mosquitto.log[-2000:]
    assert f"as {p}-a (p5, c0, k60)" in mosquitto.log


def test_the_documented_defaults_are_the_commands_and_the_bridges() -> None:
    # Each "(default N)" of docs/bridge.md's option table is the default of `iotsql bridge`
    # and, where the option is a Bridge argument, of Bridge() too (a library user gets the same).
    import inspect

    from iotsql.bridge import Bridge
    from iotsql.cli import build_parser

    doc = (Path(__file__).resolve().parents[2] / "docs" / "bridge.md").read_text(encoding="utf-8")
    table = doc[doc.index("| option | meaning |") : doc.index("Actions without a target")]
    documented = {
        option: value
        for option, value in re.findall(
            r"^\| `(--[a-z-]+)[^|]*\|[^\n]*\(default ([\d.]+)", table, re.M
        )
    }
    assert set(documented) == {"--mqtt-version", "--session-expiry", "--stats-interval",
                               "--workers", "--max-inflight", "--drain-timeout", "--keepalive"}  # fmt: skip
    args = build_parser().parse_args(["bridge", "rules.json", "--broker", "mqtt://h"])
    parameters = inspect.signature(Bridge).parameters
    for option, value in documented.items():
        name = option[2:].replace("-", "_")
        assert float(getattr(args, name)) == float(value), option
        if name in parameters:
            assert float(parameters[name].default) == float(value), option


def test_an_installed_plugin_takes_its_action_type_unless_no_plugins(
    mosquitto: MqttBroker, bridges: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/bridge.md: "An installed plugin takes its action types"; "--no-plugins: ignore
    # installed sink plugins (iotsql.sinks entry points)"; without a target an action is taken
    # by a sink that keeps nothing, and counted.
    site = tmp_path / "site"
    (site / "filesink-1.0.dist-info").mkdir(parents=True)
    (site / "filesink-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: filesink\nVersion: 1.0\n"
    )
    (site / "filesink-1.0.dist-info" / "entry_points.txt").write_text(
        "[iotsql.sinks]\nsqs = filesink:FileSink\n"
    )
    (site / "filesink.py").write_text(
        "import os\n\nclass FileSink:\n    instant = True\n\n    def __call__(self, request):\n"
        "        with open(os.environ['FILESINK_OUT'], 'ab') as out:\n"
        "            out.write(request.payload + b'\\n')\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    p = unique("plug")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"Queue": {
        "sql": f"SELECT n FROM '{p}/x'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q",
                             "roleArn": ROLE}}],
    }}))  # fmt: skip
    for number, extra in enumerate(([], ["--no-plugins"]), 1):
        monkeypatch.setenv("FILESINK_OUT", str(tmp_path / f"run{number}.out"))
        bridge = bridges(str(rules), "--broker", mosquitto.url, "--stats-interval", "0.2", *extra)
        bridge.wait_ready()
        mosquitto.publish(f"{p}/x", json.dumps({"n": number}))
        bridge.wait_for("actions ok: 1")
        assert bridge.stop() == 0
    assert (tmp_path / "run1.out").read_bytes() == b'{"n":1}\n'
    assert not (tmp_path / "run2.out").exists()
