"""iotsql/hosts.py: the glue every host uses (error codes, publish context, an engine following a
host's rule store, dead letters logged)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

import iotsql
from iotsql.actions.recording import RecordingSink
from iotsql.actions.types import republished_context
from iotsql.errors import IotSqlError, LimitExceededError, RuleValidationError, SqlParseError
from iotsql.hosts import (
    DeadLetterLog,
    Mqtt5Properties,
    RuleMirror,
    describe_dead_letter,
    mqtt5_properties,
    publish_context,
    publish_request_context,
    topic_rule_error_code,
    user_properties,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SqlParseError("bad", "SELECT"), "SqlParseException"),
        (RuleValidationError("bad", "topicRulePayload.actions"), "InvalidRequestException"),
        (LimitExceededError("payload size (bytes)", 2, 1), "InvalidRequestException"),
        (IotSqlError("unknown SQL version"), "InvalidRequestException"),
    ],
)
def test_a_refused_rule_answers_with_a_create_topic_rule_error_code(
    error: IotSqlError, code: str
) -> None:
    assert topic_rule_error_code(error) == code


def _outputs(context: Any) -> Any:
    sql = ("SELECT clientid() AS c, traceid() AS t, principal() AS p, sourceip() AS ip, "
           "get_user_properties('k') AS k, get_mqtt_property('content_type') AS ct FROM 'a'")  # fmt: skip
    out = iotsql.compile(sql).evaluate(b"{}", topic="a", context=context)
    assert out is not None
    return out.value


def test_the_context_of_an_http_publish_has_no_client_id_nor_trace_id() -> None:
    context = publish_context(protocol="http", clientid="ignored", traceid="ignored",
                              principal="AIDA1", sourceip="198.51.100.4")  # fmt: skip
    assert _outputs(context) == {"c": "n/a", "p": "AIDA1", "ip": "198.51.100.4"}


def test_the_context_of_an_mqtt_publish_carries_what_the_host_knows() -> None:
    context = publish_context(
        protocol="mqtt", clientid="dev-1", traceid="3f1c4a0e-0000-4000-8000-000000000000",
        user_properties=[("k", "v")], mqtt_properties={"contentType": "text/plain"},
    )  # fmt: skip
    assert _outputs(context) == {"c": "dev-1", "t": "3f1c4a0e-0000-4000-8000-000000000000",
                                 "k": ["v"], "ct": "text/plain"}  # fmt: skip


def _record(sql: str, disabled: bool = False) -> dict[str, Any]:
    return {"sql": sql, "ruleDisabled": disabled, "actions": [{"sqs": {
        "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "roleArn": "arn:aws:iam::123456789012:role/r"}}]}  # fmt: skip


def _mirror() -> tuple[RuleMirror, list[tuple[str, str]]]:
    refused: list[tuple[str, str]] = []
    engine = iotsql.RulesEngine(sinks={"sqs": RecordingSink()})
    return RuleMirror(engine, lambda name, err: refused.append((name, str(err)))), refused


def _sync(mirror: RuleMirror, store: dict[str, dict[str, Any]]) -> iotsql.RulesEngine:
    return mirror.sync(store.items(), lambda r: r, lambda r: bool(r["ruleDisabled"]))


def test_the_mirror_follows_every_change_of_the_host_store() -> None:
    mirror, refused = _mirror()
    store: dict[str, dict[str, Any]] = {}
    record = _record("SELECT 1 AS v FROM 'a'")
    stored = mirror.put("R", record, lambda rule: store.setdefault("R", record))
    assert stored is store["R"]
    engine = _sync(mirror, store)
    compiled = engine.rule("R").compiled
    assert _sync(mirror, store).rule("R").compiled is compiled  # unchanged: not compiled again

    store["R"]["ruleDisabled"] = True  # an in-place disable
    assert _sync(mirror, store).rule("R").disabled
    store["R"] = _record("SELECT 2 AS v FROM 'a'")  # replaced behind the mirror's back
    assert engine.publish("a", b"{}").fired == []
    _sync(mirror, store)
    assert engine.publish("a", b"{}").requests[0].payload == b'{"v":2}'
    store["Old"] = _record("SELECT FROM 'a'")  # a record iotsql refuses
    _sync(mirror, store)
    assert sorted(engine.rules) == ["R"]
    assert refused and refused[0][0] == "Old"
    del store["R"]
    assert _sync(mirror, store).rules == {}


def test_a_refused_put_leaves_the_engine_and_the_host_store_unchanged() -> None:
    mirror, _ = _mirror()
    stored: list[object] = []
    mirror.put("R", _record("SELECT 1 AS v FROM 'a'"), stored.append)
    with pytest.raises(SqlParseError):
        mirror.put("R", _record("SELECT FROM 'a'"), stored.append)
    assert len(stored) == 1
    assert mirror.engine.rule("R").compiled.sql == "SELECT 1 AS v FROM 'a'"


def test_dead_letters_are_logged_and_the_last_ones_kept(caplog: pytest.LogCaptureFixture) -> None:
    engine = iotsql.RulesEngine(sinks={"sqs": RecordingSink(fail_with="queue is gone")})
    engine.create_topic_rule("Lost", _record("SELECT * FROM 'a'"))
    log = DeadLetterLog(logging.getLogger("iotsql.test_hosts"), keep=2)
    for _ in range(3):
        engine.publish("a", b"{}")
    with caplog.at_level(logging.WARNING, logger="iotsql.test_hosts"):
        letters = log.collect(engine)
    assert len(letters) == 3 and len(log.letters) == 2
    assert engine.dead_letters == []
    line = describe_dead_letter(letters[0])
    assert line.startswith("dead letter: rule Lost, topic 'a': actions failed (sqs: ")
    assert "queue is gone" in line and line.endswith("and the rule has no error action")
    assert [r.getMessage() for r in caplog.records] == [line] * 3


def test_the_context_of_an_iot_data_publish_request_is_its_members() -> None:
    """iotsql.hosts.publish_request_context: the Publish members, whichever form the user
    properties come in (decoded, JSON text, JSON text of JSON text as the SDKs send what
    they are given, the header's base64)."""
    pairs = [{"k": "v1"}, {"k": "v2"}]
    text = json.dumps(pairs)
    forms = [pairs, text, json.dumps(text), base64.b64encode(text.encode()).decode(),
             base64.b64encode(json.dumps(text).encode()).decode()]  # fmt: skip
    for form in forms:
        context = publish_request_context(
            {"topic": "a", "qos": 1, "contentType": "text/plain", "messageExpiry": "30",
             "userProperties": form, "correlationData": "YWJj"},
            principal="AIDA1", sourceip="198.51.100.4", accountid="111111111111",
        )  # fmt: skip
        assert _outputs(context) == {"c": "n/a", "p": "AIDA1", "ip": "198.51.100.4",
                                     "k": ["v1", "v2"], "ct": "text/plain"}  # fmt: skip
        assert context.mqtt_properties == {"contentType": "text/plain", "messageExpiry": 30,
                                           "correlationData": "YWJj"}  # fmt: skip
        assert context.accountid == "111111111111" and context.protocol == "http"
    assert publish_request_context({"messageExpiry": 5}).mqtt_properties == {"messageExpiry": 5}
    assert publish_request_context({"messageExpiry": "soon"}).mqtt_properties == {}
    assert user_properties(None) == user_properties("") == []
    for bad in ("{", '{"k": "v"}', "[1]", 7):
        with pytest.raises(RuleValidationError) as caught:
            user_properties(bad)
        assert caught.value.code == "InvalidRequestException"
        assert str(caught.value).startswith("userProperties: expected an array of objects")


def test_check_publish_refuses_what_publish_would_refuse_and_nothing_else() -> None:
    engine = iotsql.RulesEngine(limits=iotsql.Limits(max_payload_bytes=8))
    engine.check_publish("a/b", b"12345678")
    engine.check_publish("a/b", "12345678")
    engine.check_publish("$aws/rules/R/x", bytearray(8))
    for topic, body, error in [
        ("a/#", b"", iotsql.InvalidTopicError),
        ("", b"", iotsql.InvalidTopicError),
        ("a/b", b"123456789", iotsql.LimitExceededError),
        ("a/b", "12345678é", iotsql.LimitExceededError),  # 10 bytes of UTF-8
        ("a/b", "\ud800", iotsql.InvalidPayloadError),
        ("a/b", {"k": "123456789"}, iotsql.LimitExceededError),
    ]:
        with pytest.raises(error):
            engine.check_publish(topic, body)
        with pytest.raises(error):
            engine.publish(topic, body)
    engine.publish("a/b", b"")  # a remembered route is still checked for size
    with pytest.raises(iotsql.LimitExceededError):
        engine.check_publish("a/b", b"123456789")


def test_the_mqtt5_properties_of_a_republish_reach_a_broker_and_come_back_as_the_rules_saw_them() -> (
    None
):
    """iotsql.hosts.mqtt5_properties: a republish action's headers as a broker encodes them
    (Mqtt5Properties, (identifier, value) pairs by the MQTT 5 specification); read back from
    the pairs, the rules see what they see on the engine's own republished message."""
    engine = iotsql.RulesEngine()
    headers = {"contentType": "text/plain", "responseTopic": "reply/${topic(2)}",
               "correlationData": "AAFpZA==", "payloadFormatIndicator": "UTF8_DATA",
               "messageExpiry": "30", "userProperties": [{"key": "k", "value": "v1"},
                                                         {"key": "k", "value": "v2"}]}  # fmt: skip
    engine.register_sink("republish", RecordingSink())
    engine.create_topic_rule("R", {"sql": "SELECT * FROM 'in/+'", "actions": [{"republish": {
        "topic": "out", "roleArn": "arn:aws:iam::1:role/r", "headers": headers}}]})  # fmt: skip
    (request,) = engine.publish("in/d1", b"{}").requests
    values = mqtt5_properties(request.request["arguments"])
    assert values == Mqtt5Properties(
        payload_format_indicator=1, message_expiry_interval=30, content_type="text/plain",
        response_topic="reply/d1", correlation_data=b"\x00\x01id",
        user_properties=(("k", "v1"), ("k", "v2")),
    )  # fmt: skip
    pairs = values.identifiers()
    assert pairs == [(0x01, 1), (0x02, 30), (0x03, "text/plain"), (0x08, "reply/d1"),
                     (0x09, b"\x00\x01id"), (0x26, ("k", "v1")), (0x26, ("k", "v2"))]  # fmt: skip
    received = Mqtt5Properties.from_identifiers([*pairs, (0x23, 7)])  # a topic alias: skipped
    assert received == values
    users, mqtt = received.context_properties()
    sql = ("SELECT get_mqtt_property('format_indicator') AS f, get_mqtt_property('content_type') "
           "AS ct, get_mqtt_property('response_topic') AS rt, get_mqtt_property('correlation_data')"
           " AS cd, get_user_properties('k') AS k FROM 'out'")  # fmt: skip
    rule = iotsql.compile(sql)
    seen = rule.evaluate(b"{}", topic="out", context=publish_context(
        protocol="mqtt", user_properties=users, mqtt_properties=mqtt))  # fmt: skip
    own = rule.evaluate(b"{}", topic="out", context=republished_context(
        request.params, request.message.context))  # fmt: skip
    assert (
        seen is not None
        and own is not None
        and seen.value
        == own.value
        == {
            "f": "UTF8_DATA",
            "ct": "text/plain",
            "rt": "reply/d1",
            "cd": "AAFpZA==",
            "k": ["v1", "v2"],
        }
    )
    assert mqtt["messageExpiry"] == 30
    assert mqtt5_properties({"payloadFormatIndicator": "UNSPECIFIED_BYTES",
                             "correlationData": "not base64!"}) == Mqtt5Properties(
        payload_format_indicator=0, correlation_data=b"not base64!")  # fmt: skip
    assert mqtt5_properties({"correlationData": "Yw"}).correlation_data == b"c"  # padding optional
    assert mqtt5_properties({}, [("a", "b")]) == Mqtt5Properties(user_properties=(("a", "b"),))
