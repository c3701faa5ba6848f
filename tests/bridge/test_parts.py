"""The parts of the bridge that need no broker: subscriptions, URLs, context maps, the hop
marker, acknowledgement order, records, the paho version check."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.bridge import Bridge, BridgeError, BrokerUrl, ContextMap, subscriptions_for
from iotsql.bridge.acks import AckSequencer
from iotsql.bridge.context import ContextMapError
from iotsql.bridge.paho import PahoVersionError, check_version, header_user_properties
from iotsql.bridge.records import JsonLinesWriter, dead_letter_record
from iotsql.bridge.republish import HOP_PROPERTY, EchoMemory, split_hop
from iotsql.bridge.subscriptions import covers, merge_filters, overlap
from iotsql.bridge.url import BrokerUrlError
from iotsql.cli import main
from iotsql.errors import IotSqlError

# ---- subscriptions -------------------------------------------------------------------------------


def test_filters_are_deduplicated_and_covered_ones_dropped() -> None:
    assert merge_filters(["sensors/+/data", "sensors/#", "sensors/#", "x/y"]) == [
        "sensors/#", "x/y",
    ]  # fmt: skip
    assert merge_filters(["a/b", "a/b/#"]) == ["a/b/#"]  # `a/b/#` also matches `a/b`
    assert merge_filters(["a/+", "a/b", "c"]) == ["a/+", "c"]


def test_overlapping_filters_become_their_narrowest_cover() -> None:
    assert merge_filters(["a/+/c", "a/b/+"]) == ["a/+/+"]
    assert merge_filters(["a/+/c", "a/b/+", "a/x/y/z"]) == ["a/+/+", "a/x/y/z"]
    assert merge_filters(["+/x", "a/#"]) == ["+/#"]


def test_dollar_topics_are_not_matched_by_leading_wildcards() -> None:
    assert not covers("#", "$aws/things/t/shadow/update")
    assert not overlap("+/things/#", "$aws/things/#")
    assert merge_filters(["#", "$aws/things/t/shadow/update"]) == [
        "#", "$aws/things/t/shadow/update",
    ]  # fmt: skip


def test_subscriptions_add_basic_ingest_and_the_share_prefix() -> None:
    assert subscriptions_for(["s/+", None], ["R2", "R1"]) == [
        "$aws/rules/R1/#", "$aws/rules/R2/#", "s/+",
    ]  # fmt: skip
    assert subscriptions_for(["s/+"], ["R"], share="g") == [
        "$share/g/$aws/rules/R/#",
        "$share/g/s/+",
    ]
    with pytest.raises(IotSqlError, match="share group"):
        subscriptions_for(["s"], [], share="a/b")


_LEVELS = st.sampled_from(["a", "b", "c", "+"])


@st.composite
def _filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(_LEVELS, min_size=1, max_size=4))
    if draw(st.booleans()):
        levels.append("#")
    return "/".join(levels)


def mqtt_matches(topic_filter: str, topic: str) -> bool:
    """MQTT's matching, as the broker does it (`a/#` also matches `a`, unlike AWS IoT rules)."""
    f, t = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(f):
        if level == "#":
            return True
        if index >= len(t) or (level != "+" and level != t[index]):
            return False
    return len(f) == len(t)


_TOPICS = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=5).map("/".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_filters(), min_size=1, max_size=6), st.lists(_TOPICS, max_size=20))
def test_every_topic_a_rule_wants_matches_exactly_one_subscription(
    filters: list[str], topics: list[str]
) -> None:
    merged = merge_filters(filters)
    for topic in topics:
        hits = [f for f in merged if mqtt_matches(f, topic)]
        assert len(hits) <= 1, (merged, topic)
        if any(mqtt_matches(f, topic) for f in filters):
            assert len(hits) == 1, (merged, topic)
    for first in merged:
        for second in merged:
            assert first == second or not overlap(first, second)


# ---- URLs ------------------------------------------------------------------------------------------


def test_broker_urls() -> None:
    url = BrokerUrl.parse("mqtt://localhost")
    assert (url.transport, url.tls, url.port) == ("tcp", False, 1883)
    assert BrokerUrl.parse("mqtts://h").port == 8883 and BrokerUrl.parse("mqtts://h").tls
    ws = BrokerUrl.parse("wss://user:p%40ss@h:9443/custom/path")
    assert (ws.transport, ws.tls, ws.port, ws.path) == ("websockets", True, 9443, "/custom/path")
    assert (ws.username, ws.password) == ("user", "p@ss")
    assert str(ws) == "wss://user@h:9443/custom/path"  # never the password
    assert BrokerUrl.parse("ws://h:8080").path == "/mqtt"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost:1883", "no scheme"),
        ("http://h", "unknown scheme"),
        ("mqtt://h:x", "port is not a number"),
        ("mqtt://h/path", "only means something"),
        ("mqtt://:1883", "names no host"),
    ],
)
def test_bad_broker_urls(text: str, message: str) -> None:
    with pytest.raises(BrokerUrlError, match=message):
        BrokerUrl.parse(text)


# ---- context --------------------------------------------------------------------------------------


def test_context_map_reads_topic_levels_user_properties_and_constants() -> None:
    mapping = ContextMap(["clientid=topic:2", "principal=user-property:who", "sourceip=value:n/a"])
    context = mapping.context("d/dev-7/t", [("who", "alice"), ("who", "bob")], {}, 5)
    assert (context.clientid, context.principal, context.sourceip) == ("dev-7", "alice", "n/a")
    assert context.timestamp == 5 and context.user_properties == (("who", "alice"), ("who", "bob"))
    ingest = mapping.context("$aws/rules/R/d/dev-9", [], {}, 5)
    assert ingest.clientid == "dev-9" and ingest.principal is None  # topic() drops the prefix


def test_unmapped_connection_fields_are_undefined() -> None:
    context = ContextMap().context("a/b", [], {"contentType": "text/plain"})
    out = iotsql.compile(
        "SELECT clientid() AS c, principal() AS p, sourceip() AS s, "
        "get_mqtt_property('content_type') AS ct FROM 'a/b'"
    ).evaluate(b"{}", topic="a/b", context=context)
    assert out is not None and out.value == {"ct": "text/plain"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("clientid", "expected NAME=SOURCE"),
        ("topic=topic:1", "cannot be mapped"),
        ("clientid=topic:0", "topic level"),
        ("clientid=header:x", "unknown source"),
        ("clientid=user-property:", "unknown source"),
    ],
)
def test_bad_context_maps(spec: str, message: str) -> None:
    with pytest.raises(ContextMapError, match=message):
        ContextMap([spec])


# ---- settings checked against MQTT's ranges -------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"keepalive": 99_999_999_999}, "the keep-alive (seconds) must be between 0 and 65,535"),
        ({"keepalive": -1}, "the keep-alive (seconds) must be between 0 and 65,535, not -1"),
        (
            {"session_expiry": -1},
            "the session expiry (seconds) must be between 0 and 4,294,967,295",
        ),
        ({"session_expiry": 2**32}, "the session expiry (seconds) must be between 0 and"),
        ({"workers": 100_000_000}, "the number of workers must be between 1 and 1,024"),
        ({"workers": 0}, "the number of workers must be between 1 and 1,024, not 0"),
        ({"keepalive": 1.5}, "the keep-alive (seconds) must be a whole number, not 1.5"),
        ({"drain_timeout": float("nan")}, "the drain time-out (seconds) must be a finite number"),
        (
            {"connect_timeout": -1.0},
            "the connect time-out (seconds) must be a finite number, at least 0, not -1.0",
        ),
        ({"publish_timeout": "10"}, "the publish time-out (seconds) must be a number, not str"),
        (
            {"client_id": "c" * 70_000},
            "the client id is 70,000 bytes of UTF-8; MQTT allows at most",
        ),
        ({"client_id": "\udcff"}, "the client id must be UTF-8 text: '\\udcff' at position 0"),
        ({"username": "é" * 40_000}, "the user name is 80,000 bytes of UTF-8"),
        ({"password": "a\0b"}, "the password cannot hold the null character"),
        ({"share": "g\udcff"}, "the share group must be UTF-8 text"),
    ],
)
def test_settings_mqtt_cannot_carry_are_bridge_errors(settings: dict[str, object],
                                                       message: str) -> None:  # fmt: skip
    # paho packed them into CONNECT on its own thread: a struct.error or UnicodeEncodeError
    # traceback and a connection that never came (or minutes spent starting 10**8 threads).
    with pytest.raises(BridgeError) as info:
        Bridge(iotsql.RulesEngine(), "mqtt://127.0.0.1:1", **settings)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_the_user_name_of_the_broker_url_is_checked_too() -> None:
    with pytest.raises(BridgeError, match="the user name is 70,000 bytes"):
        Bridge(iotsql.RulesEngine(), f"mqtt://{'u' * 70_000}:p@127.0.0.1:1")


def test_the_settings_at_the_ends_of_mqtts_ranges_are_taken() -> None:
    bridge = Bridge(iotsql.RulesEngine(), "mqtt://127.0.0.1:1", client_id="c" * 65_535,
                    keepalive=65_535, session_expiry=2**32 - 1, workers=1024,
                    drain_timeout=0.0)  # fmt: skip
    assert (bridge.keepalive, bridge.workers) == (65_535, 1024)


def test_the_command_line_says_which_setting_is_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"ruleName": "r", "topicRulePayload": {
        "sql": "SELECT * FROM 't'", "actions": []}}), encoding="utf-8")  # fmt: skip
    for option, message in [
        ("--keepalive=99999999999", "the keep-alive (seconds) must be between 0 and 65,535"),
        ("--workers=100000000", "the number of workers must be between 1 and 1,024"),
        ("--client-id=" + "c" * 70_000, "the client id is 70,000 bytes of UTF-8"),
    ]:
        status = main(["bridge", str(rules), "--broker", "mqtt://127.0.0.1:1", option])
        err = capsys.readouterr().err
        assert status == 2, option
        assert f"iotsql bridge: error: {message}" in err and "Traceback" not in err, option


# ---- hop marker, echo memory ---------------------------------------------------------------------


def test_the_hop_marker_is_read_and_taken_off() -> None:
    assert split_hop([("a", "1"), (HOP_PROPERTY, "3"), ("b", "2")]) == (3, [("a", "1"), ("b", "2")])
    assert split_hop([("a", "1")]) == (None, [("a", "1")])
    assert split_hop([(HOP_PROPERTY, "x")]) == (None, [])


def test_echo_memory_gives_each_depth_back_once() -> None:
    memory = EchoMemory(ttl=60)
    memory.remember("t", b"x", 2)
    memory.remember("t", b"x", 3)
    assert memory.recall("t", b"y") is None
    assert [memory.recall("t", b"x"), memory.recall("t", b"x"), memory.recall("t", b"x")] == [
        2, 3, None,
    ]  # fmt: skip
    expired = EchoMemory(ttl=-1)
    expired.remember("t", b"x", 1)
    assert expired.recall("t", b"x") is None


def test_republish_header_user_properties() -> None:
    assert header_user_properties('[{"k":"v"},{"k":"w"}]') == [("k", "v"), ("k", "w")]
    assert header_user_properties([{"key": "a", "value": "b"}]) == [("a", "b")]
    assert header_user_properties(None) == []


# ---- acknowledgements ------------------------------------------------------------------------------


def test_acks_go_out_in_arrival_order_and_not_across_connections() -> None:
    sent: list[int] = []
    acks = AckSequencer(lambda mid, qos: sent.append(mid))
    first, second, third = acks.expect(1, 1), acks.expect(2, 1), acks.expect(3, 1)
    acks.done(third)
    acks.done(second)
    assert sent == []  # 1 is not finished: 2 and 3 wait
    acks.done(first)
    assert sent == [1, 2, 3] and acks.wait_idle(0)
    stale = acks.expect(4, 1)
    assert acks.reset() == 1
    acks.done(stale)  # a packet id of the old connection is never acknowledged on the new one
    assert sent == [1, 2, 3] and acks.outstanding == 0


# ---- records, versions -------------------------------------------------------------------------------


def test_a_dead_letter_record_holds_both_failures_and_a_replayable_message() -> None:
    from iotsql.actions.recording import RecordingSink

    engine = iotsql.RulesEngine()
    engine.register_sink("sqs", RecordingSink(fail_with="no queue"))
    engine.register_sink("s3", RecordingSink(fail_with="no bucket"))
    engine.create_topic_rule("R", {
        "sql": "SELECT * FROM 'a/b'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queueUrl": "https://q/1/q", "roleArn": "arn:aws:iam::1:role/r"}}],
        "errorAction": {"s3": {"bucketName": "b", "key": "k", "roleArn": "arn:aws:iam::1:role/r"}},
    })  # fmt: skip
    engine.publish("a/b", b'{"v": 1}', {"userProperties": [["k", "v"]]})
    (letter,) = engine.drain_dead_letters()
    stream = io.StringIO()
    JsonLinesWriter(stream).write([dead_letter_record(letter)])
    record = json.loads(stream.getvalue())
    assert record["rule"] == "R" and "no queue" in record["failures"][0]["error"]
    assert "no bucket" in record["errorActionFailure"]["error"]
    assert record["message"]["payloadBase64"] == "eyJ2IjogMX0="
    assert record["message"]["context"]["userProperties"] == [["k", "v"]]


def test_paho_versions() -> None:
    check_version("2.1.0")
    check_version("2.2.0rc1")
    for version in ("1.6.1", "3.0.0", "nonsense"):
        with pytest.raises(PahoVersionError, match=r"paho-mqtt >=2\.1,<3"):
            check_version(version)
