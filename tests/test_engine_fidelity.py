"""Topic rules as AWS IoT Core runs them, beyond the SQL: what CreateTopicRule and
ReplaceTopicRule refuse, how a rule ends at run time, the error-action document, what a
republished message is, and the SQL version of a rule that names none. Everything goes through
the public API (`RulesEngine.create_topic_rule` / `replace_topic_rule` / `publish`)."""

from __future__ import annotations

from typing import Any

import pytest

import iotsql

ROLE = "arn:aws:iam::123456789012:role/iot"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


def republish(topic: str) -> dict[str, Any]:
    return {"republish": {"topic": topic, "roleArn": ROLE}}


def sqs() -> dict[str, Any]:
    return {"sqs": {"queueUrl": QUEUE, "roleArn": ROLE}}


def payload(sql: str, *actions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"sql": sql, "awsIotSqlVersion": "2016-03-23", "actions": list(actions), **extra}


# ---- a republish into the rule's own topic space -------------------------------------------------

AWS_MESSAGE = "Republish topic cannot be within topic space of rule's topic pattern '{}'"

#: (FROM filter, republish topic as written): CreateTopicRule refuses these.
REFUSED = [
    ("loop/#", "loop/x"),
    ("loop/exact", "loop/exact"),
    ("loop/+/c", "loop/b/c"),
    ("loop/#", "loop/${clientid()}"),
    ("$aws/things/t/shadow/update", "$$aws/things/t/shadow/update"),
    ("$aws/things/+/shadow/update", "$$aws/things/${topic(3)}/shadow/update"),
    ("loop/#", "loop/a/b/c/d/e/f"),
    ("a/+/#", "a/b/c"),
    ("+", "x"),
    ("#", "any/thing"),
    ("loop/+", "loop/"),
    ("a/+", "a/${topic(2)}"),
]

#: (FROM filter, republish topic): not in the filter's topic space as written.
ALLOWED = [
    ("loop/+", "loop/a/b"),
    ("loop/#", "${topic()}"),
    ("loop/#", "loop"),  # `#` needs one more level, as in routing
    ("#", "$$aws/things/t/shadow/update"),  # wildcards never match a first level with `$`
    ("+/x", "$$aws/x"),
    ("loop/#", "other/loop/x"),
    ("loop/exact", "loop/exact/more"),
    ("loop/+/c", "loop/b/d"),
    ("$aws/things/t/shadow/update", "$aws/things/t/shadow/update/accepted"),
    # As written the topic starts with `$`, which no first-level wildcard matches.
    ("+/+", "${topic(1)}/${topic(2)}"),
]


@pytest.mark.parametrize(("topic_filter", "topic"), REFUSED)
def test_a_republish_into_the_rules_own_topic_space_is_refused(
    topic_filter: str, topic: str
) -> None:
    engine = iotsql.RulesEngine()
    with pytest.raises(iotsql.RepublishTopicSpaceError) as info:
        engine.create_topic_rule("Loop", payload(f"SELECT * FROM '{topic_filter}'",
                                                 republish(topic)))  # fmt: skip
    err = info.value
    assert isinstance(err, iotsql.RuleValidationError)
    assert err.code == "InvalidRequestException"
    assert str(err) == AWS_MESSAGE.format(topic_filter)
    assert err.field == "topicRulePayload.actions[0].republish.topic"
    assert (err.topic_filter, err.topic) == (topic_filter, topic)
    assert "Loop" not in engine.rules


@pytest.mark.parametrize(("topic_filter", "topic"), ALLOWED)
def test_a_republish_outside_the_topic_space_is_accepted(topic_filter: str, topic: str) -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Out", payload(f"SELECT * FROM '{topic_filter}'", republish(topic)))
    assert "Out" in engine.rules


def test_a_disabled_rule_is_checked_too() -> None:
    engine = iotsql.RulesEngine()
    with pytest.raises(iotsql.RepublishTopicSpaceError):
        engine.create_topic_rule("Off", payload("SELECT * FROM 'loop/#'", republish("loop/x"),
                                                ruleDisabled=True))  # fmt: skip


def test_every_republish_action_is_checked() -> None:
    engine = iotsql.RulesEngine()
    with pytest.raises(iotsql.RepublishTopicSpaceError) as info:
        engine.create_topic_rule("Two", payload("SELECT * FROM 'loop/#'", sqs(),
                                                republish("elsewhere"), republish("loop/x")))  # fmt: skip
    assert info.value.field == "topicRulePayload.actions[2].republish.topic"


def test_the_error_action_is_not_checked() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Err", payload("SELECT * FROM 'loop/#'", sqs(),
                                            errorAction=republish("loop/errors")))  # fmt: skip
    assert "Err" in engine.rules


def test_a_rule_without_from_is_not_checked() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Ingest", payload("SELECT *", republish("loop/x")))
    assert engine.rules["Ingest"].topic_filter is None


def test_replace_topic_rule_refuses_it_and_keeps_the_old_rule() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("R", payload("SELECT * FROM 'loop/#'", republish("out/x")))
    with pytest.raises(iotsql.RepublishTopicSpaceError) as info:
        engine.replace_topic_rule("R", payload("SELECT * FROM 'loop/#'", republish("loop/y")))
    assert info.value.code == "InvalidRequestException"
    assert engine.get_topic_rule("R")["rule"]["actions"] == [republish("out/x")]
    # Changing the FROM filter so that the existing republish topic falls inside it: refused.
    with pytest.raises(iotsql.RepublishTopicSpaceError):
        engine.replace_topic_rule("R", payload("SELECT * FROM 'out/+'", republish("out/x")))


def test_loops_through_templates_still_stop_at_run_time() -> None:
    # Not refused (the template is not expanded), so the run-time guard stops it.
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Echo", payload("SELECT * FROM 'loop/#'", republish("${topic()}")))
    report = engine.publish("loop/start", b"{}")
    assert report.republished and len(engine.recorder["republish"]) >= 1


# ---- the error-action document -------------------------------------------------------------------


def _failing_engine() -> iotsql.RulesEngine:
    from iotsql.actions.recording import RecordingSink

    engine = iotsql.RulesEngine()
    engine.register_sink("dynamoDBv2", RecordingSink(fail_with="ResourceNotFoundException"))
    engine.register_sink("sqs", RecordingSink(fail_with="queue does not exist"))
    engine.create_topic_rule("Fails", payload(
        "SELECT * FROM 'err/#'",
        {"dynamoDBv2": {"roleArn": ROLE, "putItem": {"tableName": "${topic(2)}-table"}}},
        sqs(),
        {"sns": {"roleArn": ROLE, "targetArn": "arn:aws:sns:us-east-1:1:ok"}},
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "errors", "key": "k"}},
    ))  # fmt: skip
    return engine


def test_the_error_document_as_aws_sends_it_for_an_mqtt_message() -> None:
    engine = _failing_engine()
    engine.publish("err/dev", b'{"v": 1}', {"clientid": "dev-7", "sourceip": "192.0.2.10"})
    (error,) = engine.recorder["s3"].requests
    body = error.body
    assert list(body) == ["ruleName", "topic", "cloudwatchTraceId", "clientId", "sourceIp",
                          "base64OriginalPayload", "failures"]  # fmt: skip
    assert (body["clientId"], body["sourceIp"]) == ("dev-7", "192.0.2.10")
    assert body["failures"] == [
        {"failedAction": "DynamoDBv2Action", "failedResource": "dev-table",
         "errorMessage": "RuntimeError: ResourceNotFoundException"},
        {"failedAction": "SqsAction", "failedResource": QUEUE,
         "errorMessage": "RuntimeError: queue does not exist"},
    ]  # fmt: skip


def test_the_error_document_of_an_http_message_says_client_id_n_a_in_upper_case() -> None:
    engine = _failing_engine()
    engine.publish("err/dev", b"{}", {"protocol": "http", "sourceip": "198.51.100.7"})
    (error,) = engine.recorder["s3"].requests
    assert error.body["clientId"] == "N/A"
    assert error.body["sourceIp"] == "198.51.100.7"


def test_the_error_document_has_no_source_ip_when_the_message_has_none() -> None:
    engine = _failing_engine()
    engine.publish("err/dev", b"{}", {"clientid": "c"})
    (error,) = engine.recorder["s3"].requests
    assert "sourceIp" not in error.body


def test_one_error_document_per_rule_and_message() -> None:
    engine = _failing_engine()
    engine.create_topic_rule("AlsoFails", payload(
        "SELECT * FROM 'err/+'", sqs(),
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "errors", "key": "k2"}},
    ))  # fmt: skip
    engine.publish("err/a", b"{}", {"clientid": "c"})
    engine.publish("err/b", b"{}", {"clientid": "c"})
    documents = [r.body for r in engine.recorder["s3"].requests]
    assert sorted((d["ruleName"], d["topic"], len(d["failures"])) for d in documents) == [
        ("AlsoFails", "err/a", 1), ("AlsoFails", "err/b", 1),
        ("Fails", "err/a", 2), ("Fails", "err/b", 2),
    ]  # fmt: skip
