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


def test_the_failed_resource_of_an_action_whose_template_failed_is_an_empty_string() -> None:
    # The parameters that name the resource were never rendered (get_thing_shadow without a
    # provider fails): the document keeps failedResource a string, as AWS's example has it.
    engine = iotsql.RulesEngine()
    queue = QUEUE + "${get_thing_shadow('t', 'arn:aws:iam::123456789012:role/r')}"
    engine.create_topic_rule("Template", payload(
        "SELECT * FROM 'err/#'", {"sqs": {"queueUrl": queue, "roleArn": ROLE}},
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "errors", "key": "k"}},
    ))  # fmt: skip
    engine.publish("err/dev", b"{}", {"clientid": "c"})
    (error,) = engine.recorder["s3"].requests
    (failure,) = error.body["failures"]
    assert failure["failedAction"] == "SqsAction" and failure["failedResource"] == ""
    assert failure["errorMessage"].startswith("ProviderError: get_thing_shadow() needs a provider")


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


def _batching_engine(batch_config: dict[str, Any]) -> iotsql.RulesEngine:
    from iotsql.actions.recording import RecordingSink

    engine = iotsql.RulesEngine()
    engine.register_sink("http", RecordingSink(fail_with="HttpAction failed: StatusCode: 500"))
    engine.register_sink("sqs", RecordingSink(fail_with="queue does not exist"))
    url = "https://example.foobar.com/HttpAction"
    engine.create_topic_rule("FailedTopicRule", payload(
        "SELECT * FROM 'topic/+'",
        {"http": {"url": url, "enableBatching": True, "batchConfig": batch_config}}, sqs(),
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "errors", "key": "k"}},
    ))  # fmt: skip
    return engine


def test_a_batching_http_action_posts_a_json_array_and_fails_in_the_batch_document() -> None:
    """http_batching.html: with enableBatching the body is a JSON array of the messages (here a
    batch of one), and the error action receives the batch document: the messages under
    payloadsWithMetadata, each failure with the affectedIds it concerns."""
    engine = _batching_engine({"maxBatchSize": 5})
    report = engine.publish("topic/rulesengine", b'{"user_id": "user1", "steps_today": 1000}',
                            {"clientid": "Test", "sourceip": "10.0.0.0"})  # fmt: skip
    (rule,) = report.rules
    post = rule.actions[0].request
    assert post is not None and post.payload == b'[{"user_id":"user1","steps_today":1000}]'
    assert ["Content-Type", "application/json"] in post.request["headers"]
    (error,) = engine.recorder["s3"].requests
    body = error.body
    assert list(body) == ["ruleName", "topic", "payloadsWithMetadata", "failures"]
    assert body["topic"] == "topic/rulesengine"
    (entry,) = body["payloadsWithMetadata"]
    assert list(entry) == ["id", "cloudwatchTraceId", "clientId", "sourceIp",
                           "base64OriginalPayload"]  # fmt: skip
    assert (entry["id"], entry["clientId"], entry["sourceIp"]) == (1, "Test", "10.0.0.0")
    assert [(f["affectedIds"], f["failedAction"]) for f in body["failures"]] == [
        ([1], "HttpAction"), ([1], "SqsAction"),
    ]  # fmt: skip
    assert list(body["failures"][0]) == ["affectedIds", "failedAction", "failedResource",
                                         "errorMessage"]  # fmt: skip


def test_with_batch_across_topics_the_topic_is_in_each_entry() -> None:
    engine = _batching_engine({"batchAcrossTopics": True})
    engine.publish("topic/sensor1", b'{"v": 1}', {"clientid": "Test"})
    (error,) = engine.recorder["s3"].requests
    assert "topic" not in error.body
    (entry,) = error.body["payloadsWithMetadata"]
    assert list(entry)[:2] == ["id", "topic"] and entry["topic"] == "topic/sensor1"


@pytest.mark.parametrize(
    "batching", [{"enableBatching": True}, {"batchConfig": {"maxBatchSize": 5}}]
)
def test_an_http_error_action_cannot_batch(batching: dict[str, Any]) -> None:
    """https-rule-action.html's example: in the errorAction's http, "batchConfig is not allowed
    here"; http_batching.html: no separate batching logic in the error action."""
    engine = iotsql.RulesEngine()
    error_action = {"http": {"url": "https://www.example.com/subpath", **batching}}
    with pytest.raises(iotsql.RuleValidationError) as info:
        engine.create_topic_rule("R", payload("SELECT * FROM 'a'", sqs(), errorAction=error_action))
    (name,) = batching
    assert info.value.field == f"topicRulePayload.errorAction.http.{name}"
    assert "not allowed in the error action" in str(info.value)
    assert "R" not in engine.rules
    accepted = {"http": {"url": "https://www.example.com/subpath", "enableBatching": False}}
    engine.create_topic_rule("R", payload("SELECT * FROM 'a'", sqs(), errorAction=accepted))


def test_a_failed_http_action_without_batching_keeps_the_plain_document() -> None:
    engine = _batching_engine({})
    engine.replace_topic_rule("FailedTopicRule", payload(
        "SELECT * FROM 'topic/+'", {"http": {"url": "https://example.foobar.com/HttpAction"}},
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "errors", "key": "k"}},
    ))  # fmt: skip
    engine.publish("topic/a", b'{"v": 1}', {"clientid": "Test"})
    (error,) = engine.recorder["s3"].requests
    assert (
        "payloadsWithMetadata" not in error.body and "affectedIds" not in error.body["failures"][0]
    )


# ---- a republished message is a new message -----------------------------------------------------


def _relay_engine(headers: dict[str, Any] | None = None) -> iotsql.RulesEngine:
    engine = iotsql.RulesEngine()
    action: dict[str, Any] = {"topic": "hop/${topic(2)}", "roleArn": ROLE}
    if headers is not None:
        action["headers"] = headers
    engine.create_topic_rule("First", payload("SELECT * FROM 'in/+'", {"republish": action}))
    engine.create_topic_rule("Second", payload(
        "SELECT get_user_properties('hop') AS hop, get_user_properties('orig') AS orig, "
        "get_mqtt_property('content_type') AS type, get_mqtt_property('format_indicator') AS fmt, "
        "get_mqtt_property('response_topic') AS reply, "
        "get_mqtt_property('correlation_data') AS corr, clientid() AS client, "
        "principal() AS principal, sourceip() AS ip, traceid() AS trace, "
        "accountid() AS account, topic() AS topic FROM 'hop/+'", sqs(),
    ))  # fmt: skip
    return engine


ORIGINAL = {
    "clientid": "sensor-1", "principal": "ba67293af50bf2506f5f93469686da66", "accountid": "111122223333",
    "sourceip": "203.0.113.5", "traceid": "12345678-1234-1234-1234-123456789012",
    "userProperties": [["orig", "from-device"], ["hop", "device-value"]],
    "mqttProperties": {"contentType": "device/type", "responseTopic": "device/reply"},
}  # fmt: skip


def test_a_republished_message_carries_the_headers_of_the_republish_action() -> None:
    engine = _relay_engine({
        "payloadFormatIndicator": "UTF8_DATA", "contentType": "rule/${clientid()}",
        "correlationData": "cnVsZSBjb3JyZWxhdGlvbiBkYXRh", "responseTopic": "reply/${topic(2)}",
        "userProperties": [{"key": "hop", "value": "r1"}, {"key": "by", "value": "${clientid()}"}],
    })  # fmt: skip
    report = engine.publish("in/a", b'{"t": 1}', ORIGINAL)
    (sub,) = report.republished
    assert sub.fired == ["Second"]
    (seen,) = engine.recorder["sqs"].bodies
    # The headers, rendered from the original message; none of the original's properties.
    assert seen == {
        "hop": ["r1"], "type": "rule/sensor-1", "fmt": "UTF8_DATA", "reply": "reply/a",
        "corr": "cnVsZSBjb3JyZWxhdGlvbiBkYXRh", "client": "n/a", "account": "111122223333",
        "topic": "hop/a",
    }  # fmt: skip


def test_without_headers_a_republished_message_has_no_mqtt_5_properties() -> None:
    engine = _relay_engine()
    engine.publish("in/a", b"{}", ORIGINAL)
    (seen,) = engine.recorder["sqs"].bodies
    assert seen == {"fmt": "UNSPECIFIED_BYTES", "client": "n/a", "account": "111122223333",
                    "topic": "hop/a"}  # fmt: skip


def test_a_republished_message_has_its_own_receive_time_and_the_broker_sees_it() -> None:
    engine = _relay_engine({"userProperties": [{"key": "hop", "value": "r1"}]})
    engine.create_topic_rule("Time", payload("SELECT timestamp() AS at FROM 'hop/+'", sqs()))
    seen: list[Any] = []
    engine.subscribe("hop/#", lambda topic, body, context: seen.append(context))
    engine.publish("in/a", b"{}", {**ORIGINAL, "timestamp": 1_000})
    times = [b["at"] for b in engine.recorder["sqs"].bodies if "at" in b]
    assert times and times[0] > 1_000
    (context,) = seen
    assert context.user_properties == (("hop", "r1"),) and context.clientid is None
    assert context.sourceip is None and context.protocol == "http"


def test_the_error_document_of_a_republished_message_says_client_id_n_a() -> None:
    from iotsql.actions.recording import RecordingSink

    engine = _relay_engine()
    engine.register_sink("sns", RecordingSink(fail_with="down"))
    engine.create_topic_rule("Third", payload(
        "SELECT * FROM 'hop/+'", {"sns": {"roleArn": ROLE, "targetArn": "arn:aws:sns:us-east-1:1:t"}},
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "errors", "key": "k"}},
    ))  # fmt: skip
    engine.publish("in/a", b"{}", ORIGINAL)
    (error,) = engine.recorder["s3"].bodies
    assert error["clientId"] == "N/A" and "sourceIp" not in error and error["topic"] == "hop/a"


# ---- actions that read the output as structured data, on pass-through bodies --------------------

LOG_BATCH = (
    b'[{"timestamp": 1673520691093, "message": "Test message 1"}, '
    b'{"timestamp": 1673520692879, "message": "Test message 2"}, '
    b'{"timestamp": 1673520693442, "message": "Test message 3"}]'
)


def test_cloudwatch_logs_batch_mode_writes_one_event_per_element_of_the_documented_body() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Logs", payload("SELECT * FROM 'some/topic'", {"cloudwatchLogs": {
        "logGroupName": "my-logs", "roleArn": ROLE, "batchMode": True}}))  # fmt: skip
    report = engine.publish("some/topic", LOG_BATCH)
    assert report.failures == []
    (request,) = engine.recorder["cloudwatchLogs"].requests
    assert request.request["operation"] == "PutLogEvents"
    assert request.request["arguments"]["logEvents"] == [
        {"timestamp": 1673520691093, "message": "Test message 1"},
        {"timestamp": 1673520692879, "message": "Test message 2"},
        {"timestamp": 1673520693442, "message": "Test message 3"},
    ]
    assert request.payload == LOG_BATCH  # the body itself is delivered unchanged


@pytest.mark.parametrize(("action", "operation", "count"), [
    ({"firehose": {"deliveryStreamName": "s", "roleArn": ROLE, "batchMode": True}},
     "PutRecordBatch", 3),
    ({"iotAnalytics": {"channelName": "c", "roleArn": ROLE, "batchMode": True}},
     "BatchPutMessage", 3),
])  # fmt: skip
def test_other_batch_modes_read_a_pass_through_array(
    action: dict[str, Any], operation: str, count: int
) -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Batch", payload("SELECT * FROM 'some/topic'", action))
    assert engine.publish("some/topic", LOG_BATCH).failures == []
    (kind,) = action
    (request,) = engine.recorder[kind].requests
    assert request.request["operation"] == operation
    arguments = request.request["arguments"]
    assert len(arguments.get("Records") or arguments.get("messages")) == count


def test_actions_without_binary_support_take_a_pass_through_json_body() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Fn", payload("SELECT * FROM 'some/topic'", {"lambda": {
        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}}))  # fmt: skip
    assert engine.publish("some/topic", b"[1, 2, 3]").failures == []
    assert engine.recorder["lambda"].bodies == [[1, 2, 3]]
    # A body that is not JSON is still refused by an action that takes no binary payloads.
    (failure,) = engine.publish("some/topic", b"\x00\x01").failures
    assert "does not support binary payloads" in (failure.error or "")


def test_timestream_and_dynamodbv2_refuse_a_pass_through_array_as_not_an_object() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Ts", payload("SELECT * FROM 'some/topic'", {"timestream": {
        "roleArn": ROLE, "databaseName": "db", "tableName": "t",
        "dimensions": [{"name": "device", "value": "d"}]}}))  # fmt: skip
    engine.create_topic_rule("Ddb", payload("SELECT * FROM 'some/topic'", {"dynamoDBv2": {
        "roleArn": ROLE, "putItem": {"tableName": "t"}}}))  # fmt: skip
    failures = {
        f.action_type: f.error or "" for f in engine.publish("some/topic", LOG_BATCH).failures
    }
    assert "must be a JSON object" in failures["timestream"]
    assert "must be a JSON object" in failures["dynamoDBv2"]
    assert "binary" not in failures["timestream"] + failures["dynamoDBv2"]


# ---- external-function call limits end the rule at run time --------------------------------------

LOOKUP = "get_dynamodb('Devices', 'id', {}, '" + ROLE + "')"


def _devices() -> Any:
    from iotsql.providers import InMemoryProvider

    provider = InMemoryProvider()
    provider.add_table("Devices", "id")
    provider.put_item("Devices", {"id": "d1", "room": "lab"})
    provider.put_item("Devices", {"id": "d2", "room": "hall"})
    return provider


def test_a_second_get_dynamodb_is_accepted_and_ends_the_rule_without_actions() -> None:
    sql = f"SELECT {LOOKUP.format('a')} AS x, {LOOKUP.format('b')} AS y FROM 'dev/+'"
    provider = _devices()
    engine = iotsql.RulesEngine(provider=provider)
    engine.create_topic_rule("Twice", payload(
        sql, sqs(), errorAction={"s3": {"roleArn": ROLE, "bucketName": "e", "key": "k"}},
    ))  # fmt: skip
    report = engine.publish("dev/1", b'{"a": "d1", "b": "d2"}')
    (rule,) = report.rules
    assert not rule.fired and rule.actions == [] and rule.error_action is None
    assert rule.error is not None and "get_dynamodb() is called 2 times" in rule.error
    assert report.requests == [] and provider.calls == []
    assert engine.recorder["s3"].requests == []  # no action at all, not even the error action
    (letter,) = engine.dead_letters  # nothing is lost: the message is kept with the reason
    assert letter.evaluation_error == rule.error
    explanation = engine.rules["Twice"].compiled.explain(b'{"a": "d1"}', "dev/1", provider=provider)
    assert explanation.terminated and not explanation.fired
    assert explanation.reason.startswith("the rule terminates without invoking any actions: ")


def test_compile_accepts_it_evaluate_does_not_fire_and_explain_says_why() -> None:
    rule = iotsql.compile(f"SELECT {LOOKUP.format('a')}.room AS r FROM 't' "
                          f"WHERE {LOOKUP.format('b')}.room = 'hall'")  # fmt: skip
    assert (
        rule.termination
        == "get_dynamodb() is called 2 times in the statement; at most 1 is allowed"
    )
    (warning,) = rule.warnings
    assert (
        warning.code == "call-limit"
        and "terminates without invoking any actions" in warning.message
    )
    assert rule.evaluate(b'{"a": "d1", "b": "d2"}', "t", provider=_devices()) is None
    with pytest.raises(iotsql.RuleTerminatedError):
        rule.run(iotsql.Message(b"{}", "t"), "t")
    explanation = rule.explain(b"{}", "t")
    assert explanation.reason == (
        "the rule terminates without invoking any actions: get_dynamodb() is called 2 times in "
        "the statement; at most 1 is allowed"
    )


def test_one_call_that_runs_once_per_element_of_a_nested_query_ends_the_rule_too() -> None:
    provider = _devices()
    rule = iotsql.compile(f"SELECT (SELECT VALUE {LOOKUP.format('id')}.room FROM ids) AS rooms "
                          "FROM 't'")  # fmt: skip
    assert rule.termination is None
    one = rule.evaluate(b'{"ids": [{"id": "d1"}]}', "t", provider=provider)
    assert one is not None and one.value == {"rooms": ["lab"]}
    assert rule.evaluate(b'{"ids": [{"id": "d1"}, {"id": "d2"}]}', "t", provider=provider) is None
    explanation = rule.explain(b'{"ids": [{"id": "d1"}, {"id": "d2"}]}', "t", provider=provider)
    assert explanation.terminated and "was called 2 times in one evaluation" in explanation.reason


def test_get_or_default_does_not_swallow_the_termination() -> None:
    provider = _devices()
    rule = iotsql.compile(f"SELECT get_or_default((SELECT VALUE {LOOKUP.format('id')} FROM ids), "
                          "'none') AS rooms FROM 't'")  # fmt: skip
    assert rule.evaluate(b'{"ids": [{"id": "d1"}, {"id": "d2"}]}', "t", provider=provider) is None


def test_get_registry_data_counts_the_action_and_error_action_templates() -> None:
    lookup = f"get_registry_data('DescribeThing', topic(2), '{ROLE}')"
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Reg", payload(
        f"SELECT {lookup}.thingTypeName AS type FROM 'dev/+'",
        {"s3": {"roleArn": ROLE, "bucketName": "b", "key": "${" + lookup + ".thingName}"}},
    ))  # fmt: skip
    rule = engine.rules["Reg"]
    assert rule.compiled.termination is None
    assert rule.termination is not None and "substitution templates" in rule.termination
    report = engine.publish("dev/sensor1", b"{}")
    assert report.fired == [] and report.requests == []
    assert "get_registry_data() is called 2 times" in (report.rules[0].error or "")
    # One call in the error action's template alone is within the limit.
    engine.create_topic_rule("Once", payload(
        "SELECT * FROM 'one/+'", sqs(),
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "b", "key": "${" + lookup + "}"}},
    ))  # fmt: skip
    assert engine.rules["Once"].termination is None


def test_get_dynamodb_in_a_template_does_not_count_against_the_statement() -> None:
    engine = iotsql.RulesEngine(provider=_devices())
    engine.create_topic_rule("Tpl", payload(
        f"SELECT {LOOKUP.format('a')}.room AS room FROM 'dev/+'",
        {"s3": {"roleArn": ROLE, "bucketName": "b", "key": "${" + LOOKUP.format("b") + ".room}"}},
    ))  # fmt: skip
    assert engine.rules["Tpl"].termination is None
    report = engine.publish("dev/1", b'{"a": "d1", "b": "d2"}')
    assert report.fired == ["Tpl"]
    (request,) = engine.recorder["s3"].requests
    assert request.params["key"] == "hall" and request.body == {"room": "lab"}


# ---- the SQL version of a rule that names none ---------------------------------------------------


def test_a_rule_without_aws_iot_sql_version_runs_as_2015_10_08() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Default", {"sql": "SELECT v FROM 't'", "actions": [sqs()]})
    engine.create_topic_rule("V2", payload("SELECT v FROM 'u'", sqs()))
    assert engine.rules["Default"].sql_version is iotsql.SqlVersion.V2015_10_08
    assert engine.get_topic_rule("Default")["rule"]["awsIotSqlVersion"] == "2015-10-08"
    engine.publish("t", b'{"v": 10.0}')
    engine.publish("u", b'{"v": 10.0}')
    # 2015-10-08 keeps a whole Decimal a Decimal; 2016-03-23 makes it an Int.
    assert [r.payload for r in engine.recorder["sqs"].requests] == [b'{"v":10.0}', b'{"v":10}']
    # compile() keeps 2016-03-23 as its explicit default, and says so.
    assert iotsql.compile("SELECT v FROM 't'").sql_version is iotsql.SqlVersion.V2016_03_23


CFN_WITHOUT_VERSION = {"Resources": {"NoVersion": {"Type": "AWS::IoT::TopicRule", "Properties": {
    "TopicRulePayload": {"Sql": "SELECT v FROM 't'", "Actions": [
        {"Sqs": {"QueueUrl": QUEUE, "RoleArn": ROLE}}]}}}}}  # fmt: skip


@pytest.mark.parametrize(("source", "field"), [
    (CFN_WITHOUT_VERSION,
     "<rules>: Resources.NoVersion.Properties.TopicRulePayload.AwsIotSqlVersion"),
    ({"rules": [{"ruleName": "NoVersion", "topicRulePayload": {"sql": "SELECT v FROM 't'",
                                                              "actions": [sqs()]}}]},
     "<rules>: NoVersion.topicRulePayload.awsIotSqlVersion"),
    ({"service": "svc", "provider": {"name": "aws"}, "functions": {"f": {"handler": "h",
      "events": [{"iot": {"name": "NoVersion", "sql": "SELECT v FROM 't'"}}]}}},
     "<rules>: functions.f.events[0].iot.sqlVersion"),
])  # fmt: skip
def test_loaders_warn_sql_version_default_when_a_rule_omits_the_version(
    source: Any, field: str
) -> None:
    (rule,) = iotsql.load_rules(source)
    (warning,) = rule.warnings
    assert warning.code == "sql-version-default" and warning.field == field
    assert "2015-10-08" in warning.message and "2016-03-23" in warning.message
    assert rule.sql_version == "2015-10-08"
    engine = iotsql.RulesEngine()
    (created,) = engine.load_rules(source)
    assert created.sql_version is iotsql.SqlVersion.V2015_10_08


def test_loaders_do_not_warn_when_the_version_is_set() -> None:
    (rule,) = iotsql.load_rules({"NoWarning": payload("SELECT v FROM 't'", sqs())})
    assert rule.warnings == ()


# ---- ARNs the actions build: where the rule lives ------------------------------------------------


@pytest.mark.parametrize(
    ("role", "account"),
    [
        ("arn:aws:iam::210987654321:role/r", "210987654321"),
        ("role-without-account", "111122223333"),
    ],
)
def test_step_functions_starts_the_state_machine_of_the_rules_own_region(
    role: str, account: str
) -> None:
    engine = iotsql.RulesEngine(account_id="111122223333", region="eu-west-1")
    engine.create_topic_rule("Start", payload(
        "SELECT * FROM 'sfn'", {"stepFunctions": {"stateMachineName": "flow", "roleArn": role}}))  # fmt: skip
    assert (engine.rule("Start").region, engine.rule("Start").account_id) == (
        "eu-west-1", "111122223333")  # fmt: skip
    engine.publish("sfn", b'{"v": 1}')
    (request,) = engine.recorder["stepFunctions"].requests
    assert request.request["arguments"]["stateMachineArn"] == (
        f"arn:aws:states:eu-west-1:{account}:stateMachine:flow"
    )
