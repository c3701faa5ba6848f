"""The action-type catalogue: for every action, the documented example rule rendered for a
realistic output, each option, and each failure (iotsql/actions/types.py)."""

from __future__ import annotations

import base64
import functools
import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from iotsql.actions import types
from iotsql.actions.base import ActionRequest
from iotsql.actions.schema import action_shape_names, model, validate_topic_rule_payload
from iotsql.actions.types import ACTION_TYPES
from iotsql.errors import RuleValidationError
from iotsql.message import Message
from iotsql.output import Output
from iotsql.rule import TopicRule

ROLE = "arn:aws:iam::123456789012:role/aws_iot"
STAMP = 1700000000123  # 2023-11-14T22:13:20.123Z
UUID = "00000000-0000-4000-8000-00000000000{}"


@pytest.fixture(autouse=True)
def fixed_uuids(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    counter = itertools.count(1)
    monkeypatch.setattr(types, "_new_uuid", lambda: UUID.format(next(counter)))
    yield


def message(body: bytes = b'{"temperature": 28}', topic: str = "some/topic") -> Message:
    return Message(body, topic, {"timestamp": STAMP, "clientid": "dev1"})


def render(
    name: str, params: Mapping[str, Any], value: Any, msg: Message | None = None
) -> tuple[bytes, Mapping[str, Any]]:
    """Render action `name` the way the engine does for a rule output `value`."""
    output = Output(value)
    return ACTION_TYPES[name].render(params, output.to_bytes(), output, msg or message())


def args(name: str, params: Mapping[str, Any], value: Any, msg: Message | None = None) -> Any:
    return render(name, params, value, msg)[1]["arguments"]


# ---- the catalogue ------------------------------------------------------------------------------


def test_one_entry_per_action_of_the_service_model() -> None:
    assert ACTION_TYPES.keys() == action_shape_names().keys()
    for key, shape in action_shape_names().items():
        assert ACTION_TYPES[key].name == key
        assert ACTION_TYPES[key].shape == shape


def test_the_packaged_model_is_the_installed_botocores_where_it_has_every_action() -> None:
    """topic_rule_model.json is botocore's model (iotsql.actions.schema's docstring): with a
    botocore that has the same actions, every shape is the same, so a change upstream (a new
    limit, a new field) fails here until the snapshot is regenerated. An older botocore (one
    without InfluxDB) may only lack actions, never add one iotsql does not know."""
    from iotsql.actions.schema import extract_from_botocore

    installed = extract_from_botocore()
    packaged = model()
    assert set(installed["Action"]["members"]) <= set(packaged["Action"]["members"])
    if installed["Action"] == packaged["Action"]:
        assert installed == packaged


def test_the_influxdb_tag_limits_of_the_model_are_applied() -> None:
    """Tag names are 1-256 characters not starting with `_`, values 1-1024 (InfluxDBTagName,
    InfluxDBTagValue): the snapshot once had them unconstrained."""
    base = {
        "destinationArn": "arn:aws:iot:us-east-1:123456789012:ruledestination/influxdb/x",
        "roleArn": ROLE,
        "databaseName": "telemetry",
        "tableName": "readings",
    }

    def problem(tags: dict[str, str]) -> str | None:
        payload = {"sql": "SELECT * FROM 't'", "actions": [{"influxDB": {**base, "tags": tags}}]}
        try:
            validate_topic_rule_payload(payload)
        except RuleValidationError as err:
            return str(err)
        return None

    assert problem({"site": "${topic(2)}"}) is None
    assert problem({"n" * 256: "v"}) is None
    assert "tags" in (problem({"_site": "v"}) or "")
    assert "tags" in (problem({"n" * 257: "v"}) or "")
    assert "tags" in (problem({"site": ""}) or "")
    assert "tags" in (problem({"site": "v" * 1025}) or "")


def test_the_failed_action_names_of_the_error_handling_page() -> None:
    assert ACTION_TYPES["s3"].shape == "S3Action"
    assert ACTION_TYPES["http"].shape == "HttpAction"
    assert ACTION_TYPES["lambda"].shape == "LambdaAction"
    assert ACTION_TYPES["sqs"].shape == "SqsAction"


def _field_exists(shape_name: str, parts: list[str]) -> bool:
    shapes = model()
    shape = shapes[shape_name]
    while shape["type"] == "list":
        shape = shapes[shape["member"]["shape"]]
    if not parts or parts == ["*"]:
        return True
    if shape["type"] == "map":
        return True  # map keys may contain dots (kafka's `ssl.truststore`)
    members = shape.get("members", {})
    return parts[0] in members and _field_exists(members[parts[0]]["shape"], parts[1:])


@pytest.mark.parametrize("name", sorted(ACTION_TYPES))
def test_templated_fields_are_fields_of_the_shape_and_never_the_role(name: str) -> None:
    action = ACTION_TYPES[name]
    for path in action.templated:
        assert _field_exists(action.shape, path.split(".")), path
        assert "roleArn" not in path
    assert action.summary


def test_templated_field_choices() -> None:
    templated = {name: set(t.templated) for name, t in ACTION_TYPES.items()}
    assert templated["s3"] == {"bucketName", "key"}
    assert templated["sqs"] == {"queueUrl"}
    assert templated["http"] == {"url", "confirmationUrl", "headers.value"}
    assert templated["timestream"] == {
        "databaseName", "tableName", "dimensions.value", "timestamp.value",
    }  # fmt: skip
    assert templated["iotSiteWise"] == {"putAssetPropertyValueEntries.*"}
    assert templated["republish"] == {"topic", "headers.*"}
    assert templated["salesforce"] == set()
    # location-rule-action.html: the timestamp's unit "Supports substitution templates: API and
    # AWS CLI only", as its value does.
    assert {"timestamp.value", "timestamp.unit"} <= templated["location"]
    assert "useBase64" not in templated["sqs"] and "cannedAcl" not in templated["s3"]
    assert "batchMode" not in templated["firehose"] and "separator" not in templated["firehose"]


def test_binary_support() -> None:
    no_binary = {name for name, t in ACTION_TYPES.items() if not t.supports_binary}
    assert no_binary == {
        "dynamoDBv2", "elasticsearch", "influxDB", "lambda", "openSearch", "salesforce",
        "stepFunctions", "timestream",
    }  # fmt: skip


def test_templates_of_a_topic_rule_follow_the_catalogue() -> None:
    payload = {
        "sql": "SELECT * FROM 'some/topic'",
        "actions": [
            {"http": {"url": "https://www.example.com/${topic(2)}",
                      "confirmationUrl": "https://www.example.com",
                      "headers": [{"key": "k-${topic()}", "value": "${value_from_payload}"}]}},
            {"timestream": {"roleArn": ROLE, "databaseName": "db", "tableName": "t",
                            "dimensions": [{"name": "device_${x}", "value": "${clientid()}"}]}},
            {"sqs": {"queueUrl": "https://sqs.us-east-2.amazonaws.com/1/${topic(1)}",
                     "roleArn": ROLE}},
        ],
    }  # fmt: skip
    rule = TopicRule("r", payload)
    msg = message(b'{"value_from_payload": "v1"}')
    rendered = [a.render_params(msg, "some/topic", [], None, "2016-03-23") for a in rule.actions]
    assert rendered[0]["url"] == "https://www.example.com/topic"
    assert rendered[0]["headers"] == [{"key": "k-${topic()}", "value": "v1"}]
    assert rendered[1]["dimensions"] == [{"name": "device_${x}", "value": "dev1"}]
    assert rendered[2]["queueUrl"] == "https://sqs.us-east-2.amazonaws.com/1/some"


def test_nested_templates_of_a_topic_rule() -> None:
    payload = {
        "sql": "SELECT * FROM 'a/b'",
        "actions": [
            {"kafka": {"destinationArn": "arn:aws:iot:us-east-1:1:ruledestination/vpc/x",
                       "topic": "t-${topic(2)}", "headers": [{"key": "${k}", "value": "${v}"}],
                       "clientProperties": {"ssl.keystore": "${v}",
                                            "bootstrap.servers": "${k}:9092"}}},
            {"republish": {"topic": "$$aws/things/${topic(2)}/shadow/update", "roleArn": ROLE,
                           "headers": {"contentType": "${k}",
                                       "userProperties": [{"key": "${k}", "value": "${v}"}]}}},
            {"iotSiteWise": {"roleArn": ROLE, "putAssetPropertyValueEntries": [
                {"propertyAlias": "${topic()}", "propertyValues": [
                    {"timestamp": {"timeInSeconds": "${timestamp() / 1000}"},
                     "value": {"integerValue": "${v}"}}]}]}},
        ],
    }  # fmt: skip
    rule = TopicRule("r", payload)
    msg = Message(b'{"k": "K", "v": 7}', "a/b", {"timestamp": 1700000000000})
    kafka, republish, sitewise = (
        a.render_params(msg, "a/b", [], None, "2016-03-23") for a in rule.actions
    )
    assert kafka["topic"] == "t-b"
    assert kafka["headers"] == [{"key": "K", "value": "7"}]
    assert kafka["clientProperties"] == {"ssl.keystore": "7", "bootstrap.servers": "${k}:9092"}
    assert republish["topic"] == "$aws/things/b/shadow/update"
    assert republish["headers"] == {"contentType": "K",
                                    "userProperties": [{"key": "K", "value": "7"}]}  # fmt: skip
    entry = sitewise["putAssetPropertyValueEntries"][0]
    assert entry["propertyAlias"] == "a/b"
    assert entry["propertyValues"][0] == {"timestamp": {"timeInSeconds": "1700000000"},
                                          "value": {"integerValue": "7"}}  # fmt: skip


# ---- SQS ---------------------------------------------------------------------------------------

SQS = {"queueUrl": "https://sqs.us-east-2.amazonaws.com/123456789012/my_sqs_queue", "roleArn": ROLE}


def test_sqs_sends_the_output_as_the_message_body() -> None:
    delivered, request = render("sqs", SQS, {"temperature": 28})
    assert delivered == b'{"temperature":28}'
    assert request == {
        "service": "sqs",
        "operation": "SendMessage",
        "arguments": {"QueueUrl": SQS["queueUrl"], "MessageBody": '{"temperature":28}'},
    }
    assert ACTION_TYPES["sqs"].resource(SQS) == SQS["queueUrl"]


def test_sqs_use_base64_encodes_the_body() -> None:
    params = {**SQS, "useBase64": True}
    delivered, request = render("sqs", params, {"temperature": 28})
    assert delivered == base64.b64encode(b'{"temperature":28}')
    assert request["arguments"]["MessageBody"] == "eyJ0ZW1wZXJhdHVyZSI6Mjh9"
    assert args("sqs", params, b"\x00\xff")["MessageBody"] == "AP8="
    # The standard alphabet (+ and /), not the URL-safe one (- and _), as SQS consumers decode it.
    assert args("sqs", params, b"\xfb\xff")["MessageBody"] == "+/8="
    assert render("sqs", params, b"\xfb\xef\xbe")[0] == b"++++"
    assert args("sqs", {**SQS, "useBase64": False}, "hi")["MessageBody"] == '"hi"'


def test_sqs_cannot_send_binary_without_base64() -> None:
    with pytest.raises(ValueError, match="not valid UTF-8"):
        render("sqs", SQS, b"\x00\xff")
    assert args("sqs", SQS, b"plain text")["MessageBody"] == "plain text"


def test_an_error_action_delivers_the_error_message() -> None:
    error = b'{"ruleName":"r","failures":[]}'
    delivered, request = ACTION_TYPES["sqs"].render(SQS, error, None, message())
    assert delivered == error
    assert request["arguments"]["MessageBody"] == error.decode()


# ---- SNS ---------------------------------------------------------------------------------------

SNS = {"targetArn": "arn:aws:sns:us-east-2:123456789012:my_sns_topic", "roleArn": ROLE}


def test_sns_publishes_raw_by_default() -> None:
    assert render("sns", SNS, {"default": "hi"})[1] == {
        "service": "sns",
        "operation": "Publish",
        "arguments": {"TargetArn": SNS["targetArn"], "Message": '{"default":"hi"}'},
    }
    assert "MessageStructure" not in args("sns", {**SNS, "messageFormat": "RAW"}, {"a": 1})
    assert ACTION_TYPES["sns"].resource(SNS) == SNS["targetArn"]


def test_sns_json_message_format_sets_the_message_structure() -> None:
    params = {
        **SNS,
        "targetArn": "arn:aws:sns:us-east-1:123456789012:some",
        "messageFormat": "JSON",
    }
    assert args("sns", params, {"default": "hi"}) == {
        "TargetArn": "arn:aws:sns:us-east-1:123456789012:some",
        "Message": '{"default":"hi"}',
        "MessageStructure": "json",
    }


def test_sns_cannot_publish_binary() -> None:
    with pytest.raises(ValueError, match="SNS"):
        render("sns", SNS, b"\xff\xfe")


# ---- S3 ----------------------------------------------------------------------------------------

S3 = {"bucketName": "my-bucket", "cannedAcl": "public-read", "key": "some/topic/1460685389",
      "roleArn": ROLE}  # fmt: skip


def test_s3_puts_the_object_with_the_canned_acl() -> None:
    delivered, request = render("s3", S3, {"temperature": 28})
    assert delivered == b'{"temperature":28}'
    assert request == {
        "service": "s3",
        "operation": "PutObject",
        "arguments": {"Bucket": "my-bucket", "Key": "some/topic/1460685389",
                      "Body": b'{"temperature":28}', "ACL": "public-read"},
    }  # fmt: skip
    assert ACTION_TYPES["s3"].resource({**S3, "bucketName": "us-east-1-s3-verify-user"}) == (
        "us-east-1-s3-verify-user"
    )


def test_s3_without_acl_and_with_a_binary_body() -> None:
    params = {"bucketName": "my-bucket", "key": "myS3Key", "roleArn": ROLE}
    assert args("s3", params, b"\x00\x01") == {"Bucket": "my-bucket", "Key": "myS3Key",
                                               "Body": b"\x00\x01"}  # fmt: skip


def test_s3_needs_a_key() -> None:
    with pytest.raises(ValueError, match="Failed to put S3 object"):
        render("s3", {**S3, "key": ""}, {"a": 1})


# ---- Lambda ------------------------------------------------------------------------------------

LAMBDA = {"functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myLambdaFunction"}


def test_lambda_invokes_asynchronously() -> None:
    delivered, request = render("lambda", LAMBDA, {"temperature": 28})
    assert request == {
        "service": "lambda",
        "operation": "Invoke",
        "arguments": {"FunctionName": LAMBDA["functionArn"], "InvocationType": "Event",
                      "Payload": b'{"temperature":28}'},
    }  # fmt: skip
    assert delivered == b'{"temperature":28}'
    assert ACTION_TYPES["lambda"].resource(LAMBDA) == LAMBDA["functionArn"]


def test_lambda_does_not_take_binary_payloads() -> None:
    assert not ACTION_TYPES["lambda"].supports_binary
    with pytest.raises(ValueError, match="binary"):
        render("lambda", LAMBDA, b"\x00\x01")


# ---- republish ---------------------------------------------------------------------------------

REPUBLISH = {"topic": "another/topic", "qos": 1, "roleArn": ROLE}


def test_republish_publishes_the_output() -> None:
    assert render("republish", REPUBLISH, {"temperature": 28}) == (
        b'{"temperature":28}',
        {"service": "iot-data", "operation": "Publish",
         "arguments": {"topic": "another/topic", "qos": 1, "payload": b'{"temperature":28}'}},
    )  # fmt: skip
    assert ACTION_TYPES["republish"].resource(REPUBLISH) == "another/topic"


def test_republish_defaults_to_qos_0_and_reaches_reserved_topics() -> None:
    params = {"topic": "$aws/things/MyThing/shadow/update", "roleArn": ROLE}
    assert args("republish", params, {"state": {}}) == {
        "topic": "$aws/things/MyThing/shadow/update", "qos": 0, "payload": b'{"state":{}}',
    }  # fmt: skip


def test_republish_mqtt5_headers() -> None:
    headers = {
        "payloadFormatIndicator": "UTF8_DATA",
        "contentType": "rule/contentType",
        "correlationData": "cnVsZSBjb3JyZWxhdGlvbiBkYXRh",
        "responseTopic": "rule/response",
        "messageExpiry": "3600",
        "userProperties": [{"key": "ruleKey1", "value": "ruleValue1"},
                           {"key": "sourceip", "value": "198.51.100.7"}],
    }  # fmt: skip
    assert args("republish", {**REPUBLISH, "headers": headers}, {"a": 1}) == {
        "topic": "another/topic",
        "qos": 1,
        "payload": b'{"a":1}',
        "payloadFormatIndicator": "UTF8_DATA",
        "contentType": "rule/contentType",
        "correlationData": "cnVsZSBjb3JyZWxhdGlvbiBkYXRh",
        "responseTopic": "rule/response",
        "messageExpiry": 3600,
        "userProperties": '[{"ruleKey1":"ruleValue1"},{"sourceip":"198.51.100.7"}]',
    }


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"topic": ""}, "topic name must be a non-empty"),
        ({"topic": "a/+/b"}, "wildcards"),
        ({"topic": "a/#"}, "wildcards"),
        ({"topic": "$aws/things/MyThing/jobs/get"}, "reserved job topics"),
        # republish-rule-action.html: Device Defender reserved topics don't support HTTP publish
        ({"topic": "$aws/things/MyThing/defender/metrics/json"}, "Device Defender reserved"),
        ({"topic": "a/b/c/d/e/f/g/h/i"}, "depth"),
        ({"topic": "t", "headers": {"payloadFormatIndicator": "UTF8"}}, "not one of"),
        ({"topic": "t", "headers": {"messageExpiry": "soon"}}, "not a number"),
    ],
)
def test_republish_failures(params: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render("republish", {**params, "roleArn": ROLE}, {"a": 1})


# ---- DynamoDB (v1) -----------------------------------------------------------------------------

DDB = {"tableName": "my_ddb_table", "hashKeyField": "key", "hashKeyValue": "some/topic",
       "rangeKeyField": "timestamp", "rangeKeyValue": "1700000000123", "roleArn": ROLE}  # fmt: skip


def test_dynamodb_puts_the_output_in_the_payload_column() -> None:
    # The page's example: SELECT * AS message, hashKeyValue ${topic()}, rangeKeyValue ${timestamp()}.
    output = {"message": {"temperature": 28, "on": True, "tags": ["a"], "none": None}}
    assert render("dynamoDB", DDB, output)[1] == {
        "service": "dynamodb",
        "operation": "PutItem",
        "arguments": {
            "TableName": "my_ddb_table",
            "Item": {
                "key": {"S": "some/topic"},
                "timestamp": {"S": "1700000000123"},
                "payload": {"M": {"message": {"M": {
                    "temperature": {"N": "28"}, "on": {"BOOL": True},
                    "tags": {"L": [{"S": "a"}]}, "none": {"NULL": True},
                }}}},
            },
        },
    }  # fmt: skip
    assert ACTION_TYPES["dynamoDB"].resource(DDB) == "my_ddb_table"


def test_dynamodb_number_keys_and_payload_field() -> None:
    # The tutorial's rule: sample_time ${timestamp()}, device_id ${cast(topic(2) AS DECIMAL)}.
    params = {"tableName": "wx_data", "hashKeyField": "sample_time", "hashKeyType": "NUMBER",
              "hashKeyValue": "1700000000123", "rangeKeyField": "device_id",
              "rangeKeyType": "NUMBER", "rangeKeyValue": "22", "payloadField": "device_data",
              "roleArn": ROLE}  # fmt: skip
    output = {"temperature": 28, "humidity": 80, "barometer": 1013, "wind_velocity": 22,
              "wind_bearing": 255}  # fmt: skip
    assert args("dynamoDB", params, output) == {
        "TableName": "wx_data",
        "Item": {
            "sample_time": {"N": "1700000000123"},
            "device_id": {"N": "22"},
            "device_data": {"M": {k: {"N": str(v)} for k, v in output.items()}},
        },
    }


def test_dynamodb_hash_key_only_and_string_types() -> None:
    params = {"tableName": "t", "hashKeyField": "id", "hashKeyType": "STRING",
              "hashKeyValue": "42", "roleArn": ROLE}  # fmt: skip
    assert args("dynamoDB", params, {"v": 1.5}) == {
        "TableName": "t", "Item": {"id": {"S": "42"}, "payload": {"M": {"v": {"N": "1.5"}}}},
    }  # fmt: skip


def test_dynamodb_stores_a_binary_output_as_binary() -> None:
    item = args("dynamoDB", DDB, b"\x00\x01")["Item"]
    assert item["payload"] == {"B": b"\x00\x01"}


def test_dynamodb_operations() -> None:
    key = {"key": {"S": "some/topic"}, "timestamp": {"S": "1700000000123"}}
    assert args("dynamoDB", {**DDB, "operation": "INSERT"}, {"a": 1})["Item"]["payload"] == {
        "M": {"a": {"N": "1"}}
    }
    _, update = render("dynamoDB", {**DDB, "operation": "UPDATE", "payloadField": "data"}, {"a": 1})
    assert update == {
        "service": "dynamodb",
        "operation": "UpdateItem",
        "arguments": {
            "TableName": "my_ddb_table", "Key": key,
            "UpdateExpression": "SET #payload = :payload",
            "ExpressionAttributeNames": {"#payload": "data"},
            "ExpressionAttributeValues": {":payload": {"M": {"a": {"N": "1"}}}},
        },
    }  # fmt: skip
    _, delete = render("dynamoDB", {**DDB, "operation": "DELETE"}, {"a": 1})
    assert delete == {"service": "dynamodb", "operation": "DeleteItem",
                      "arguments": {"TableName": "my_ddb_table", "Key": key}}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({**DDB, "operation": "UPSERT"}, "is not INSERT, UPDATE or DELETE"),
        ({**DDB, "hashKeyValue": ""}, "empty string. Key: key"),
        ({**DDB, "rangeKeyValue": ""}, "empty string. Key: timestamp"),
        ({k: v for k, v in DDB.items() if k != "rangeKeyValue"}, "Key: timestamp"),
        ({**DDB, "hashKeyType": "NUMBER"}, "'some/topic' is not a number"),
        ({**DDB, "rangeKeyType": "BINARY"}, "not one of STRING, NUMBER"),
    ],
)
def test_dynamodb_failures(params: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render("dynamoDB", params, {"a": 1})


def _nested(depth: int) -> Any:
    value: Any = 1
    for index in range(depth):
        value = {"a": value} if index % 2 else [value]
    return value


def test_dynamodb_refuses_values_nested_deeper_than_32_levels() -> None:
    # DynamoDB: "nested attributes up to 32 levels deep". A payload nested a thousand levels
    # (which the JSON decoders read) failed with a RecursionError's text; now with the reason.
    # dynamoDB's payload column is the 32 levels; dynamoDBv2's attributes are one level in.
    assert args("dynamoDB", DDB, _nested(32))["Item"]["payload"]
    assert args("dynamoDBv2", DDB2, {"a": _nested(32)})["Item"]["a"]
    for name, params, value in (("dynamoDB", DDB, _nested(33)),
                                ("dynamoDBv2", DDB2, {"a": _nested(33)}),
                                ("dynamoDBv2", DDB2, {"a": _nested(200)})):  # fmt: skip
        with pytest.raises(ValueError, match="nested attributes up to 32 levels deep"):
            render(name, params, value)


# ---- DynamoDBv2 --------------------------------------------------------------------------------

DDB2 = {"putItem": {"tableName": "my_ddb_table"}, "roleArn": ROLE}


def test_dynamodbv2_writes_each_top_level_key_to_a_column() -> None:
    output = {"id": "dev1", "temp": 54.98, "count": 3, "ok": False, "none": None,
              "coords": {"latitude": 47.615694, "longitude": -122.3359976},
              "list": [1, "a", [True]], "big": 1e20, "empty": ""}  # fmt: skip
    assert render("dynamoDBv2", DDB2, output)[1] == {
        "service": "dynamodb",
        "operation": "PutItem",
        "arguments": {"TableName": "my_ddb_table", "Item": {
            "id": {"S": "dev1"}, "temp": {"N": "54.98"}, "count": {"N": "3"},
            "ok": {"BOOL": False}, "none": {"NULL": True},
            "coords": {"M": {"latitude": {"N": "47.615694"}, "longitude": {"N": "-122.3359976"}}},
            "list": {"L": [{"N": "1"}, {"S": "a"}, {"L": [{"BOOL": True}]}]},
            "big": {"N": "1E+20"}, "empty": {"S": ""},
        }},
    }  # fmt: skip
    assert ACTION_TYPES["dynamoDBv2"].resource(DDB2) == "my_ddb_table"


@pytest.mark.parametrize("output", [[1, 2], 5, "text", None, b"\x00\x01"])
def test_dynamodbv2_needs_an_object(output: Any) -> None:
    with pytest.raises(ValueError, match="Failed to put DynamoDB item"):
        render("dynamoDBv2", DDB2, output)


def test_dynamodbv2_as_an_error_action_writes_the_error_message() -> None:
    error = b'{"ruleName":"r","topic":"t","failures":[{"failedAction":"SqsAction"}]}'
    _, request = ACTION_TYPES["dynamoDBv2"].render(DDB2, error, None, message())
    assert request["arguments"]["Item"]["ruleName"] == {"S": "r"}
    assert request["arguments"]["Item"]["failures"] == {
        "L": [{"M": {"failedAction": {"S": "SqsAction"}}}]
    }


# ---- Kinesis -----------------------------------------------------------------------------------

KINESIS = {"streamName": "my_kinesis_stream", "partitionKey": "some/topic", "roleArn": ROLE}


def test_kinesis_puts_a_record() -> None:
    assert render("kinesis", KINESIS, {"temperature": 28})[1] == {
        "service": "kinesis",
        "operation": "PutRecord",
        "arguments": {"StreamName": "my_kinesis_stream", "Data": b'{"temperature":28}',
                      "PartitionKey": "some/topic"},
    }  # fmt: skip
    assert ACTION_TYPES["kinesis"].resource(KINESIS) == "my_kinesis_stream"


def test_kinesis_without_a_partition_key_uses_a_random_one() -> None:
    params = {"streamName": "s", "roleArn": ROLE}
    assert args("kinesis", params, {"a": 1})["PartitionKey"] == UUID.format(1)


@pytest.mark.parametrize("key", ["", "k" * 257])
def test_kinesis_partition_key_length(key: str) -> None:
    with pytest.raises(ValueError, match="partition key must have 1 to 256"):
        render("kinesis", {**KINESIS, "partitionKey": key}, {"a": 1})


@pytest.mark.parametrize("key", ["k", "k" * 256])
def test_kinesis_partition_key_of_1_or_256_characters_is_put(key: str) -> None:
    # PutRecord's PartitionKey is 1 to 256 characters: both ends are kept.
    assert args("kinesis", {**KINESIS, "partitionKey": key}, {"a": 1})["PartitionKey"] == key


# ---- Firehose ----------------------------------------------------------------------------------

FIREHOSE = {"deliveryStreamName": "my_firehose_stream", "roleArn": ROLE}


def test_firehose_puts_a_record() -> None:
    assert render("firehose", FIREHOSE, {"temperature": 28}) == (
        b'{"temperature":28}',
        {"service": "firehose", "operation": "PutRecord",
         "arguments": {"DeliveryStreamName": "my_firehose_stream",
                       "Record": {"Data": b'{"temperature":28}'}}},
    )  # fmt: skip
    assert ACTION_TYPES["firehose"].resource(FIREHOSE) == "my_firehose_stream"


@pytest.mark.parametrize("separator", [",", "\t", "\n", "\r\n"])
def test_firehose_appends_the_separator(separator: str) -> None:
    delivered, request = render("firehose", {**FIREHOSE, "separator": separator}, {"a": 1})
    assert delivered == b'{"a":1}' + separator.encode()
    assert request["arguments"]["Record"] == {"Data": delivered}


def test_firehose_binary_output() -> None:
    assert args("firehose", FIREHOSE, b"\x00\x01")["Record"] == {"Data": b"\x00\x01"}


def test_firehose_batch_mode_puts_one_record_per_element() -> None:
    params = {**FIREHOSE, "batchMode": True, "separator": "\n"}
    delivered, request = render("firehose", params, [{"a": 1}, {"a": 2}, "x", 3])
    assert delivered == b'[{"a":1},{"a":2},"x",3]'
    assert request == {
        "service": "firehose",
        "operation": "PutRecordBatch",
        "arguments": {"DeliveryStreamName": "my_firehose_stream", "Records": [
            {"Data": b'{"a":1}\n'}, {"Data": b'{"a":2}\n'}, {"Data": b'"x"\n'}, {"Data": b"3\n"},
        ]},
    }  # fmt: skip
    assert len(args("firehose", params, list(range(500)))["Records"]) == 500


@pytest.mark.parametrize(
    ("output", "error"),
    [({"a": 1}, "not a JSON array"), ([], "empty array"), (list(range(501)), "maximum of 500"),
     (b"\x00", "not a JSON array")],
)  # fmt: skip
def test_firehose_batch_mode_failures(output: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render("firehose", {**FIREHOSE, "batchMode": True}, output)


# ---- Kafka -------------------------------------------------------------------------------------

KAFKA_PROPERTIES = {
    "bootstrap.servers": "kafka.com:9092",
    "security.protocol": "SASL_SSL",
    "ssl.truststore": "dHJ1c3RzdG9yZQ==",
    "ssl.truststore.password": "kafka password",
    "sasl.mechanism": "GSSAPI",
    "sasl.kerberos.service.name": "kafka",
    "sasl.kerberos.krb5.kdc": "kerberosdns.com",
    "sasl.kerberos.keytab": "a2V5dGFi",
    "sasl.kerberos.krb5.realm": "KERBEROSREALM",
    "sasl.kerberos.principal": "kafka-keytab/kafka-keytab.com",
}
KAFKA = {"destinationArn": "arn:aws:iot:us-east-1:123456789012:ruledestination/vpc/x",
         "topic": "TopicName", "clientProperties": KAFKA_PROPERTIES}  # fmt: skip


def test_kafka_sends_the_output_as_the_record_value() -> None:
    assert render("kafka", KAFKA, {"temperature": 28}) == (
        b'{"temperature":28}',
        {"service": "kafka", "destinationArn": KAFKA["destinationArn"], "topic": "TopicName",
         "key": None, "partition": None, "headers": [], "clientProperties": KAFKA_PROPERTIES,
         "value": b'{"temperature":28}'},
    )  # fmt: skip
    assert ACTION_TYPES["kafka"].resource(KAFKA) == "TopicName"


def test_kafka_key_partition_and_headers() -> None:
    params = {**KAFKA, "key": "dev1", "partition": "2",
              "headers": [{"key": "source", "value": "some/topic"}]}  # fmt: skip
    _, request = render("kafka", params, b"\x00")
    assert (request["key"], request["partition"], request["headers"]) == (
        "dev1", 2, [["source", "some/topic"]],
    )  # fmt: skip
    assert request["value"] == b"\x00"
    with pytest.raises(ValueError, match="Kafka partition"):
        render("kafka", {**KAFKA, "partition": "first"}, {"a": 1})


# ---- HTTP --------------------------------------------------------------------------------------

HTTP = {"url": "https://www.example.com/subpath", "confirmationUrl": "https://www.example.com",
        "headers": [{"key": "static_header_key", "value": "static_header_value"},
                    {"key": "substitutable_header_key", "value": "v1"}]}  # fmt: skip


def test_http_posts_the_output_with_its_headers() -> None:
    assert render("http", HTTP, {"temperature": 28}) == (
        b'{"temperature":28}',
        {"service": "http", "method": "POST", "url": "https://www.example.com/subpath",
         "headers": [["static_header_key", "static_header_value"],
                     ["substitutable_header_key", "v1"], ["Content-Type", "application/json"]],
         "body": b'{"temperature":28}', "confirmationUrl": "https://www.example.com"},
    )  # fmt: skip
    assert ACTION_TYPES["http"].resource(HTTP) == "https://www.example.com/subpath"


def test_http_content_type() -> None:
    binary = render("http", {"url": "https://e.com"}, b"\x00\x01")[1]
    assert binary["headers"] == [["Content-Type", "application/octet-stream"]]
    assert binary["body"] == b"\x00\x01"
    custom = {"url": "https://e.com", "headers": [{"key": "content-TYPE", "value": "text/csv"}]}
    assert render("http", custom, {"a": 1})[1]["headers"] == [["content-TYPE", "text/csv"]]


def test_http_keeps_sigv4_auth_and_batching() -> None:
    auth = {"sigv4": {"signingRegion": "us-east-1", "serviceName": "execute-api",
                      "roleArn": ROLE}}  # fmt: skip
    params = {"url": "https://e.com", "auth": auth, "enableBatching": True,
              "batchConfig": {"maxBatchSize": 5}}  # fmt: skip
    payload, request = render("http", params, {"a": 1})
    assert request["auth"] == auth
    assert (request["enableBatching"], request["batchConfig"]) == (True, {"maxBatchSize": 5})
    # http_batching.html: "the batch is sent as a JSON array" (a batch of one message here)
    assert payload == request["body"] == b'[{"a":1}]'
    assert request["headers"] == [["Content-Type", "application/json"]]
    with pytest.raises(ValueError, match="binary payloads cannot be batched"):
        render("http", params, b"\x00")


def test_http_url_must_begin_with_the_confirmation_url() -> None:
    with pytest.raises(ValueError, match="is not under the confirmationUrl"):
        render("http", {**HTTP, "url": "https://other.example.com/x"}, {"a": 1})


# ---- Salesforce --------------------------------------------------------------------------------

SALESFORCE = {"token": "ABCDEFGHI123456789abcdefghi123456789",
              "url": "https://ingestion-cluster-id.my-env.sfdcnow.com/streams/stream-id/"
                     "connection-id/my-event"}  # fmt: skip


def test_salesforce_posts_the_output_with_the_token() -> None:
    assert render("salesforce", SALESFORCE, {"temperature": 28})[1] == {
        "service": "http", "method": "POST", "url": SALESFORCE["url"],
        "headers": [["Content-Type", "application/json"],
                    ["Authorization", "Bearer ABCDEFGHI123456789abcdefghi123456789"]],
        "body": b'{"temperature":28}',
    }  # fmt: skip
    assert ACTION_TYPES["salesforce"].resource(SALESFORCE) == SALESFORCE["url"]
    with pytest.raises(ValueError, match="binary"):
        render("salesforce", SALESFORCE, b"\x00")


# ---- Elasticsearch / OpenSearch ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["elasticsearch", "openSearch"])
def test_opensearch_indexes_the_output(name: str) -> None:
    params = {"endpoint": "https://my-endpoint", "index": "my-index", "type": "my-type",
              "id": "4f0b3c1e-0d5e-4a36-9f0f-3c8a3f1a6b27", "roleArn": ROLE}  # fmt: skip
    output = {"temperature": 28, "timestamp": STAMP}
    assert render(name, params, output) == (
        b'{"temperature":28,"timestamp":1700000000123}',
        {"service": "opensearch", "endpoint": "https://my-endpoint", "index": "my-index",
         "type": "my-type", "id": "4f0b3c1e-0d5e-4a36-9f0f-3c8a3f1a6b27", "document": output},
    )  # fmt: skip
    assert ACTION_TYPES[name].resource(params) == "https://my-endpoint"
    for bad in ([1, 2], "text", b"\x00"):
        with pytest.raises(ValueError, match="Failed to index the document"):
            render(name, params, bad)


# ---- CloudWatch --------------------------------------------------------------------------------

ALARM = {"alarmName": "IotAlarm", "stateReason": "Temperature stabilized.", "stateValue": "OK",
         "roleArn": ROLE}  # fmt: skip


def test_cloudwatch_alarm_sets_the_alarm_state() -> None:
    assert render("cloudwatchAlarm", ALARM, {"a": 1})[1] == {
        "service": "cloudwatch",
        "operation": "SetAlarmState",
        "arguments": {"AlarmName": "IotAlarm", "StateValue": "OK",
                      "StateReason": "Temperature stabilized."},
    }  # fmt: skip
    assert ACTION_TYPES["cloudwatchAlarm"].resource(ALARM) == "IotAlarm"
    with pytest.raises(ValueError, match="not one of OK, ALARM, INSUFFICIENT_DATA"):
        render("cloudwatchAlarm", {**ALARM, "stateValue": "ok"}, {"a": 1})


METRIC = {"metricName": "IotMetric", "metricNamespace": "IotNamespace", "metricUnit": "Count",
          "metricValue": "1", "metricTimestamp": "1456821314", "roleArn": ROLE}  # fmt: skip


def test_cloudwatch_metric_puts_a_data_point() -> None:
    assert render("cloudwatchMetric", METRIC, {"a": 1})[1] == {
        "service": "cloudwatch",
        "operation": "PutMetricData",
        "arguments": {"Namespace": "IotNamespace", "MetricData": [
            {"MetricName": "IotMetric", "Value": 1.0, "Unit": "Count",
             "Timestamp": "2016-03-01T08:35:14.000Z"},
        ]},
    }  # fmt: skip
    assert ACTION_TYPES["cloudwatchMetric"].resource(METRIC) == "IotMetric"


def test_cloudwatch_metric_timestamp_defaults_to_the_message_time() -> None:
    params = {"metricName": "some/topic", "metricNamespace": "ns", "metricUnit": "Bytes/Second",
              "metricValue": "-12.5E1", "roleArn": ROLE}  # fmt: skip
    datum = args("cloudwatchMetric", params, {"a": 1})["MetricData"][0]
    assert datum == {"MetricName": "some/topic", "Value": -125.0, "Unit": "Bytes/Second",
                     "Timestamp": "2023-11-14T22:13:20.123Z"}  # fmt: skip


#: CloudWatch's StandardUnit, the units "supported by CloudWatch" that the action's metricUnit
#: names (cloudwatch-metrics-rule-action.md; the MetricDatum Unit of the CloudWatch API).
STANDARD_UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
]  # fmt: skip


@pytest.mark.parametrize("unit", STANDARD_UNITS)
def test_cloudwatch_metric_takes_every_standard_unit(unit: str) -> None:
    # (a catalogue that lost one unit refused its data points, and no test used that unit)
    datum = args("cloudwatchMetric", {**METRIC, "metricUnit": unit}, {"a": 1})["MetricData"][0]
    assert datum["Unit"] == unit


@pytest.mark.parametrize(
    ("change", "error"),
    [({"metricValue": ""}, "'' is not a number"), ({"metricValue": "NaN"}, "not a number"),
     ({"metricValue": "1e999"}, "out of the range"), ({"metricUnit": "count"}, "standard unit"),
     ({"metricTimestamp": "1456821314.5"}, "not a whole number")],
)  # fmt: skip
def test_cloudwatch_metric_failures(change: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render("cloudwatchMetric", {**METRIC, **change}, {"a": 1})


LOGS = {"logGroupName": "IotLogs", "roleArn": ROLE}


def test_cloudwatch_logs_puts_the_output_as_one_event() -> None:
    assert render("cloudwatchLogs", LOGS, {"temperature": 28})[1] == {
        "service": "logs",
        "operation": "PutLogEvents",
        "arguments": {"logGroupName": "IotLogs", "logStreamName": UUID.format(1),
                      "logEvents": [{"timestamp": STAMP, "message": '{"temperature":28}'}]},
    }  # fmt: skip
    assert ACTION_TYPES["cloudwatchLogs"].resource(LOGS) == "IotLogs"
    assert args("cloudwatchLogs", LOGS, b"plain text")["logEvents"][0]["message"] == "plain text"


def test_cloudwatch_logs_batch_mode() -> None:
    records = [{"timestamp": 1673520691093, "message": "Test message 1"},
               {"timestamp": 1673520692879, "message": "Test message 2"},
               {"timestamp": 1673520693442, "message": {"n": 3}}]  # fmt: skip
    events = args("cloudwatchLogs", {**LOGS, "batchMode": True}, records)["logEvents"]
    assert events == [{"timestamp": 1673520691093, "message": "Test message 1"},
                      {"timestamp": 1673520692879, "message": "Test message 2"},
                      {"timestamp": 1673520693442, "message": '{"n":3}'}]  # fmt: skip


@pytest.mark.parametrize(
    ("output", "error"),
    [({"timestamp": 1, "message": "m"}, "not a JSON array"),
     ([{"message": "m"}], "timestamp and message"), (["m"], "timestamp and message"),
     ([{"timestamp": "1", "message": "m"}], "not a number of milliseconds")],
)  # fmt: skip
def test_cloudwatch_logs_batch_failures(output: Any, error: str) -> None:
    # (the error action's errorMessage says which call failed, as each action's does)
    with pytest.raises(ValueError, match=f"^Failed to put CloudWatch log events: .*{error}"):
        render("cloudwatchLogs", {**LOGS, "batchMode": True}, output)


# ---- Step Functions ----------------------------------------------------------------------------

STEP = {"stateMachineName": "myStateMachine", "executionNamePrefix": "myExecution",
        "roleArn": "arn:aws:iam::123456789012:role/aws_iot_step_functions"}  # fmt: skip


def test_step_functions_starts_an_execution() -> None:
    assert render("stepFunctions", STEP, {"temperature": 28})[1] == {
        "service": "stepfunctions",
        "operation": "StartExecution",
        "arguments": {
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:myStateMachine",
            "input": '{"temperature":28}',
            "name": "myExecution" + UUID.format(1),
        },
    }
    assert ACTION_TYPES["stepFunctions"].resource(STEP) == "myStateMachine"


def test_step_functions_without_prefix_lets_step_functions_name_it() -> None:
    params = {"stateMachineName": "m", "roleArn": "arn:aws-cn:iam::210987654321:role/r"}
    assert args("stepFunctions", params, {"a": 1}) == {
        "stateMachineArn": "arn:aws-cn:states:us-east-1:210987654321:stateMachine:m",
        "input": '{"a":1}',
    }
    with pytest.raises(ValueError, match="binary"):
        render("stepFunctions", params, b"\x00")


# ---- Timestream --------------------------------------------------------------------------------

TIMESTREAM = {"roleArn": ROLE, "tableName": "devices_metrics", "databaseName": "record_devices",
              "dimensions": [{"name": "device_id", "value": "iotconsole-159EXAMPLE738-0"},
                             {"name": "device_firmware_sku", "value": "My Static Metadata"}]}  # fmt: skip
TIMESTREAM_PAYLOAD = {
    "boolean_value": True,
    "integer_value": 123456789012,
    "double_value": 123.456789012,
    "string_value": "String value",
    "boolean_value_as_string": "true",
    "integer_value_as_string": "123456789012",
    "double_value_as_string": "123.456789012",
    "array_of_integers": [23, 36, 56, 72],
    "array of strings": ["red", "green", "blue"],
    "complex_value": {"simple_element": 42, "array_of_integers": [23, 36, 56, 72],
                      "array of strings": ["red", "green", "blue"]},
}  # fmt: skip


def test_timestream_writes_one_record_per_attribute() -> None:
    arguments = args("timestream", TIMESTREAM, TIMESTREAM_PAYLOAD)
    dimensions = [
        {"Name": "device_id", "Value": "iotconsole-159EXAMPLE738-0", "DimensionValueType": "VARCHAR"},
        {"Name": "device_firmware_sku", "Value": "My Static Metadata", "DimensionValueType": "VARCHAR"},
    ]  # fmt: skip
    expected = [
        ("boolean_value", "true", "BOOLEAN"),
        ("integer_value", "123456789012", "BIGINT"),
        ("double_value", "123.456789012", "DOUBLE"),
        ("string_value", "String value", "VARCHAR"),
        ("boolean_value_as_string", "true", "VARCHAR"),
        ("integer_value_as_string", "123456789012", "VARCHAR"),
        ("double_value_as_string", "123.456789012", "VARCHAR"),
        ("array_of_integers", "[23,36,56,72]", "VARCHAR"),
        ("array of strings", '["red","green","blue"]', "VARCHAR"),
        ("complex_value", '{"simple_element":42,"array_of_integers":[23,36,56,72],'
                          '"array of strings":["red","green","blue"]}', "VARCHAR"),
    ]  # fmt: skip
    assert arguments == {
        "DatabaseName": "record_devices",
        "TableName": "devices_metrics",
        "Records": [
            {"Dimensions": dimensions, "MeasureName": name, "MeasureValue": value,
             "MeasureValueType": kind, "Time": str(STAMP), "TimeUnit": "MILLISECONDS"}
            for name, value, kind in expected
        ],
    }  # fmt: skip
    assert ACTION_TYPES["timestream"].resource(TIMESTREAM) == "devices_metrics"


def test_timestream_timestamp_and_nulls() -> None:
    params = {**TIMESTREAM, "timestamp": {"value": "1598481736", "unit": "SECONDS"}}
    records = args("timestream", params, {"a": 1, "b": None, "c": 10.0})["Records"]
    assert [(r["MeasureName"], r["MeasureValue"], r["MeasureValueType"]) for r in records] == [
        ("a", "1", "BIGINT"), ("c", "10.0", "DOUBLE"),
    ]  # fmt: skip
    assert {(r["Time"], r["TimeUnit"]) for r in records} == {("1598481736", "SECONDS")}
    default_unit = {**TIMESTREAM, "timestamp": {"value": "1598481736000"}}
    record = args("timestream", default_unit, {"a": 1})["Records"][0]
    assert (record["Time"], record["TimeUnit"]) == ("1598481736000", "MILLISECONDS")


@pytest.mark.parametrize(
    ("params", "output", "error"),
    [(TIMESTREAM, [1, 2], "must be a JSON object"), (TIMESTREAM, b"\x00", "binary"),
     (TIMESTREAM, {}, "no attribute"), (TIMESTREAM, {"n": None}, "no attribute"),
     (TIMESTREAM, {str(i): i for i in range(101)}, "maximum of 100"),
     ({**TIMESTREAM, "timestamp": {"value": "1", "unit": "DAYS"}}, {"a": 1}, "not one of"),
     ({**TIMESTREAM, "timestamp": {"value": "soon"}}, {"a": 1}, "not a number")],
)  # fmt: skip
def test_timestream_failures(params: dict[str, Any], output: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render("timestream", params, output)


def test_timestream_writes_100_measures_in_one_request() -> None:
    # WriteRecords takes at most 100 records; an output of exactly 100 attributes is written.
    records = args("timestream", TIMESTREAM, {str(i): i for i in range(100)})["Records"]
    assert [r["MeasureName"] for r in records] == [str(i) for i in range(100)]


# ---- IoT Analytics -----------------------------------------------------------------------------

ANALYTICS = {"channelName": "mychannel", "roleArn": "arn:aws:iam::123456789012:role/analyticsRole"}


def test_iot_analytics_sends_one_message() -> None:
    assert render("iotAnalytics", ANALYTICS, {"temperature": 28})[1] == {
        "service": "iotanalytics",
        "operation": "BatchPutMessage",
        "arguments": {"channelName": "mychannel", "messages": [
            {"messageId": UUID.format(1), "payload": b'{"temperature":28}'},
        ]},
    }  # fmt: skip
    assert ACTION_TYPES["iotAnalytics"].resource(ANALYTICS) == "mychannel"


def test_iot_analytics_channel_arn_and_batch_mode() -> None:
    params = {"channelArn": "arn:aws:iotanalytics:us-west-2:123456789012:channel/mychannel",
              "batchMode": True}  # fmt: skip
    arguments = args("iotAnalytics", params, [{"a": 1}, {"a": 2}])
    assert arguments == {"channelName": "mychannel", "messages": [
        {"messageId": UUID.format(1), "payload": b'{"a":1}'},
        {"messageId": UUID.format(2), "payload": b'{"a":2}'},
    ]}  # fmt: skip
    with pytest.raises(ValueError, match="maximum of 100"):
        render("iotAnalytics", params, list(range(101)))
    with pytest.raises(ValueError, match="not a JSON array"):
        render("iotAnalytics", params, {"a": 1})
    with pytest.raises(ValueError, match="no channel"):
        render("iotAnalytics", {"roleArn": ROLE}, {"a": 1})


# ---- IoT Events --------------------------------------------------------------------------------

EVENTS = {"inputName": "MyIoTEventsInput", "messageId": "7e0a2b3c-1111-4222-8333-944455556666",
          "roleArn": ROLE}  # fmt: skip


def test_iot_events_sends_one_message() -> None:
    assert render("iotEvents", EVENTS, {"temperature": 28})[1] == {
        "service": "iotevents-data",
        "operation": "BatchPutMessage",
        "arguments": {"messages": [
            {"messageId": EVENTS["messageId"], "inputName": "MyIoTEventsInput",
             "payload": b'{"temperature":28}'},
        ]},
    }  # fmt: skip
    assert ACTION_TYPES["iotEvents"].resource(EVENTS) == "MyIoTEventsInput"
    without_id = {"inputName": "in", "roleArn": ROLE}
    assert args("iotEvents", without_id, {"a": 1})["messages"][0]["messageId"] == UUID.format(1)


def test_iot_events_batch_mode() -> None:
    params = {"inputName": "in", "batchMode": True, "roleArn": ROLE}
    assert args("iotEvents", params, [{"a": 1}, {"a": 2}])["messages"] == [
        {"messageId": UUID.format(1), "inputName": "in", "payload": b'{"a":1}'},
        {"messageId": UUID.format(2), "inputName": "in", "payload": b'{"a":2}'},
    ]
    with pytest.raises(ValueError, match="maximum of 10"):
        render("iotEvents", params, list(range(11)))
    with pytest.raises(ValueError, match="messageId cannot be specified"):
        render("iotEvents", {**params, "messageId": "m"}, [{"a": 1}])


# ---- IoT SiteWise ------------------------------------------------------------------------------


def sitewise(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"putAssetPropertyValueEntries": list(entries), "roleArn": ROLE}


def test_iot_sitewise_basic_example() -> None:
    params = sitewise({"propertyAlias": "/some/property/alias", "propertyValues": [
        {"timestamp": {"timeInSeconds": "1700000000"}, "value": {"integerValue": "42"}},
    ]})  # fmt: skip
    assert render("iotSiteWise", params, {"my": {}})[1] == {
        "service": "iotsitewise",
        "operation": "BatchPutAssetPropertyValue",
        "arguments": {"entries": [
            {"entryId": UUID.format(1), "propertyAlias": "/some/property/alias",
             "propertyValues": [{"value": {"integerValue": 42},
                                 "timestamp": {"timeInSeconds": 1700000000}}]},
        ]},
    }  # fmt: skip
    assert ACTION_TYPES["iotSiteWise"].resource(params) == "/some/property/alias"


def test_iot_sitewise_topic_alias_example_and_every_value_type() -> None:
    stamp = {"timeInSeconds": "1700000000", "offsetInNanos": "123000000"}
    params = sitewise(
        {"propertyAlias": "/company/windfarm/3/turbine/7/rpm", "propertyValues": [
            {"timestamp": stamp, "value": {"doubleValue": "23.5"}},
            {"timestamp": stamp, "value": {"booleanValue": "TRUE"}, "quality": "GOOD"},
        ]},
        {"entryId": "e2", "assetId": "a1", "propertyId": "p1", "propertyValues": [
            {"timestamp": stamp, "value": {"stringValue": "on"}, "quality": "UNCERTAIN"},
        ]},
    )  # fmt: skip
    stamp_out = {"timeInSeconds": 1700000000, "offsetInNanos": 123000000}
    assert args("iotSiteWise", params, {"a": 1}) == {"entries": [
        {"entryId": UUID.format(1), "propertyAlias": "/company/windfarm/3/turbine/7/rpm",
         "propertyValues": [
             {"value": {"doubleValue": 23.5}, "timestamp": stamp_out},
             {"value": {"booleanValue": True}, "timestamp": stamp_out, "quality": "GOOD"},
         ]},
        {"entryId": "e2", "assetId": "a1", "propertyId": "p1", "propertyValues": [
            {"value": {"stringValue": "on"}, "timestamp": stamp_out, "quality": "UNCERTAIN"},
        ]},
    ]}  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "error"),
    [({"propertyValues": []}, "propertyAlias or both an assetId and a propertyId"),
     ({"assetId": "a", "propertyValues": []}, "propertyAlias or both"),
     ({"propertyAlias": "p", "propertyValues": [{"timestamp": {"timeInSeconds": "1"},
       "value": {}}]}, "exactly one of"),
     ({"propertyAlias": "p", "propertyValues": [{"timestamp": {"timeInSeconds": "1"},
       "value": {"integerValue": "1", "doubleValue": "1"}}]}, "exactly one of"),
     ({"propertyAlias": "p", "propertyValues": [{"timestamp": {"timeInSeconds": "1"},
       "value": {"integerValue": "1.5"}}]}, "not a whole number"),
     ({"propertyAlias": "p", "propertyValues": [{"timestamp": {"timeInSeconds": "1"},
       "value": {"integerValue": ""}}]}, "not a number"),
     ({"propertyAlias": "p", "propertyValues": [{"timestamp": {"timeInSeconds": "1"},
       "value": {"booleanValue": "yes"}}]}, "not true or false"),
     ({"propertyAlias": "p", "propertyValues": [{"timestamp": {"timeInSeconds": "now"},
       "value": {"stringValue": "s"}}]}, "timeInSeconds"),
     ({"propertyAlias": "p", "propertyValues": [{"timestamp": {"timeInSeconds": "1"},
       "value": {"stringValue": "s"}, "quality": "FINE"}]}, "not one of GOOD, BAD, UNCERTAIN")],
)  # fmt: skip
def test_iot_sitewise_failures(entry: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render("iotSiteWise", sitewise(entry), {"a": 1})


# ---- Location ----------------------------------------------------------------------------------

LOCATION = {"deviceId": "thing1", "latitude": "-12.3456", "longitude": "65.4321",
            "trackerName": "MyTracker", "roleArn": ROLE}  # fmt: skip


def test_location_updates_the_device_position() -> None:
    msg = message(b'{"position": ["-12.3456", "65.4321"]}')
    assert render("location", LOCATION, {"position": ["-12.3456", "65.4321"]}, msg)[1] == {
        "service": "location",
        "operation": "BatchUpdateDevicePosition",
        "arguments": {"TrackerName": "MyTracker", "Updates": [
            {"DeviceId": "thing1", "Position": [65.4321, -12.3456],
             "SampleTime": "2023-11-14T22:13:20.123Z"},
        ]},
    }  # fmt: skip
    assert ACTION_TYPES["location"].resource(LOCATION) == "MyTracker"


@pytest.mark.parametrize(
    ("timestamp", "sample_time"),
    [({"value": "1700000000", "unit": "SECONDS"}, "2023-11-14T22:13:20.000Z"),
     ({"value": "1700000000456"}, "2023-11-14T22:13:20.456Z"),
     ({"value": "1700000000456789", "unit": "MICROSECONDS"}, "2023-11-14T22:13:20.456Z"),
     ({"value": "1700000000456789012", "unit": "NANOSECONDS"}, "2023-11-14T22:13:20.456Z")],
)  # fmt: skip
def test_location_timestamp_units(timestamp: dict[str, str], sample_time: str) -> None:
    update = args("location", {**LOCATION, "timestamp": timestamp}, {"a": 1})["Updates"][0]
    assert update["SampleTime"] == sample_time


def test_location_timestamp_unit_from_a_template() -> None:
    import iotsql

    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Where", {
        "sql": "SELECT * FROM 'some/topic'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"location": {**LOCATION, "timestamp": {"value": "${ts}", "unit": "${u}"}}}],
    })  # fmt: skip
    report = engine.publish("some/topic", b'{"ts": 1700000000, "u": "SECONDS"}')
    (action,) = report.rules[0].actions
    assert action.ok and action.request is not None, action.error
    (update,) = action.request.request["arguments"]["Updates"]
    assert update["SampleTime"] == "2023-11-14T22:13:20.000Z"


@pytest.mark.parametrize(
    ("change", "error"),
    [({"latitude": "north"}, "not a number"), ({"latitude": "91"}, "out of range"),
     ({"longitude": "-180.5"}, "out of range"),
     ({"timestamp": {"value": "1", "unit": "HOURS"}}, "not one of")],
)  # fmt: skip
def test_location_failures(change: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render("location", {**LOCATION, **change}, {"a": 1})


def test_requests_go_through_action_request_to_json() -> None:
    """What `iotsql replay` prints: bytes and timestamps in requests must stay JSON-friendly."""
    for name, params, output in [("cloudwatchMetric", METRIC, {"a": 1}),
                                 ("dynamoDB", DDB, b"\x00\xff"), ("s3", S3, {"a": 1})]:  # fmt: skip
        msg = message()
        delivered, request = render(name, params, output, msg)
        action = ActionRequest("r", name, params, delivered, msg, msg.topic, request)
        assert json.loads(json.dumps(action.to_json()))["request"]["service"]
        assert action.depth == 0  # (a request made outside a republish chain)


def test_action_request_to_json_keeps_lists_and_writes_bytes_as_text_or_base64() -> None:
    def request_json(name: str, params: Mapping[str, Any], output: Any) -> Any:
        msg = message()
        delivered, request = render(name, params, output, msg)
        return ActionRequest("r", name, params, delivered, msg, msg.topic, request).to_json()

    metric = request_json("cloudwatchMetric", METRIC, {"a": 1})["request"]["arguments"]
    assert metric["MetricData"] == [{"MetricName": "IotMetric", "Value": 1.0, "Unit": "Count",
                                     "Timestamp": "2016-03-01T08:35:14.000Z"}]  # fmt: skip
    item = request_json("dynamoDB", DDB, b"\x00\xff")["request"]["arguments"]["Item"]
    assert item["payload"] == {"B": {"base64": "AP8="}}  # bytes that are not UTF-8
    assert request_json("s3", S3, {"a": 1})["request"]["arguments"]["Body"] == '{"a":1}'


# ---- every AWS request is a valid boto3 call ---------------------------------------------------

SITEWISE_ENTRY = {"propertyAlias": "/p", "propertyValues": [
    {"timestamp": {"timeInSeconds": "1700000000", "offsetInNanos": "5"},
     "value": {"doubleValue": "1.5"}, "quality": "GOOD"}]}  # fmt: skip
AWS_RENDERS = [
    ("sqs", SQS, {"a": 1}), ("sqs", {**SQS, "useBase64": True}, b"\x00"),
    ("sns", {**SNS, "messageFormat": "JSON"}, {"default": "x"}),
    ("s3", S3, b"\x00"), ("lambda", LAMBDA, {"a": 1}),
    ("republish", {**REPUBLISH, "headers": {"messageExpiry": "5", "contentType": "c",
                   "payloadFormatIndicator": "UTF8_DATA", "correlationData": "Yw==",
                   "responseTopic": "r", "userProperties": [{"key": "k", "value": "v"}]}},
     {"a": 1}),
    ("dynamoDB", DDB, {"a": [1, None]}), ("dynamoDB", {**DDB, "operation": "UPDATE"}, {"a": 1}),
    ("dynamoDB", {**DDB, "operation": "DELETE"}, {"a": 1}), ("dynamoDB", DDB, b"\x00"),
    ("dynamoDBv2", DDB2, {"a": {"b": [1.5, True, None, "s"]}}),
    ("kinesis", KINESIS, {"a": 1}), ("firehose", {**FIREHOSE, "separator": "\n"}, {"a": 1}),
    ("firehose", {**FIREHOSE, "batchMode": True}, [{"a": 1}, 2]),
    ("cloudwatchAlarm", ALARM, {"a": 1}), ("cloudwatchMetric", METRIC, {"a": 1}),
    ("cloudwatchLogs", LOGS, {"a": 1}),
    ("cloudwatchLogs", {**LOGS, "batchMode": True}, [{"timestamp": 1, "message": "m"}]),
    ("stepFunctions", STEP, {"a": 1}), ("timestream", TIMESTREAM, TIMESTREAM_PAYLOAD),
    ("iotAnalytics", ANALYTICS, {"a": 1}), ("iotAnalytics", {**ANALYTICS, "batchMode": True}, [1]),
    ("iotEvents", EVENTS, {"a": 1}), ("iotSiteWise", sitewise(SITEWISE_ENTRY), {"a": 1}),
    ("location", {**LOCATION, "timestamp": {"value": "1700000000", "unit": "SECONDS"}}, {"a": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "params", "output"), AWS_RENDERS)
def test_aws_requests_are_valid_botocore_input(name: str, params: Any, output: Any) -> None:
    botocore_session = pytest.importorskip("botocore.session")
    from botocore.exceptions import UnknownServiceError
    from botocore.validate import ParamValidator

    request = render(name, params, output)[1]
    try:
        service = botocore_session.get_session().get_service_model(request["service"])
    except UnknownServiceError:
        # AWS retired IoT Analytics and IoT Events, and boto3 removed their clients
        # (boto/botocore#3630, #3738): such an action fails into the error action, saying so.
        from iotsql.actions.aws import RETIRED_SERVICES, AwsActionError, Boto3Sink

        retired = RETIRED_SERVICES[request["service"]]
        sink = Boto3Sink.for_emulator("http://127.0.0.1:9", region_name="us-east-1")
        with pytest.raises(AwsActionError) as info:
            sink.execute(request["service"], request["operation"], request["arguments"])
        assert info.value.code == "UnknownServiceError"
        assert f"AWS retired {retired} and boto3 removed its client" in str(info.value)
        assert len(str(info.value)) < 300  # (not botocore's list of every service)
        return
    shape = service.operation_model(request["operation"]).input_shape
    report = ParamValidator().validate(request["arguments"], shape)
    assert not report.has_errors(), report.generate_report()


def test_the_table_of_downstream_calls_in_docs_hosts_md() -> None:
    """docs/hosts.md tells an emulator author which service and operation each action's
    request is: every rendering above is in its row, and every row is rendered above."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "hosts.md"
    rows = {
        action: (service, set(re.findall(r"`([A-Za-z]+)`", operations)))
        for action, service, operations in re.findall(
            r"^\| `(\w+)` \| `([\w-]+)` \| (.+) \|$", page.read_text(encoding="utf-8"), re.M
        )
    }
    rendered = set()
    for name, params, output in AWS_RENDERS:
        request = render(name, params, output)[1]
        service, operations = rows[name]
        assert request["service"] == service and request["operation"] in operations, name
        rendered.add((name, request["operation"]))
    assert rows.keys() == {name for name, _ in rendered}
    assert {(n, op) for n, (_, ops) in rows.items() for op in ops} == rendered


def test_every_aws_action_is_covered_by_the_botocore_check() -> None:
    covered = {name for name, _, _ in AWS_RENDERS}
    # Not AWS service calls: HTTP endpoints, Kafka, OpenSearch, InfluxDB's write API.
    assert covered == set(ACTION_TYPES) - {"http", "salesforce", "kafka", "elasticsearch",
                                           "openSearch", "influxDB"}  # fmt: skip


# ---- deliver: what render delivers, without the request -------------------------------------

#: Parameters of each type that has a `deliver`, with the variants its checks read.
DELIVER_PARAMS: dict[str, list[dict[str, Any]]] = {
    "sqs": [SQS, {**SQS, "useBase64": True}, {**SQS, "useBase64": False}],
    "sns": [SNS, {**SNS, "messageFormat": "JSON"}],
    "lambda": [LAMBDA],
    "s3": [S3, {**S3, "key": ""}, {k: v for k, v in S3.items() if k != "key"}],
    "kinesis": [KINESIS, {**KINESIS, "partitionKey": ""}, {**KINESIS, "partitionKey": "k" * 257},
                {k: v for k, v in KINESIS.items() if k != "partitionKey"}],
}  # fmt: skip
#: Outputs as the engine hands them to actions: values, raw bodies of every kind, and an
#: error-action message (no Output).
DELIVER_OUTPUTS: list[tuple[bytes, Output | None]] = [
    *((Output(value).to_bytes(), Output(value)) for value in (
        {"temperature": 28}, [1, 2], "text", 3.5, {"é": "☃"},
        b"\x00\xff", b"\xffbinary", b"plain text", b"[1, 2]", b"", b"80")),
    (b'{"ruleName":"r","failures":[]}', None),
    (b"\xff", None),
]  # fmt: skip


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "delivered", call()
    except ValueError as err:
        return "refused", str(err)


def test_the_types_with_deliver_are_the_expected_ones() -> None:
    assert {name for name, kind in ACTION_TYPES.items() if kind.deliver} == set(DELIVER_PARAMS)
    for name in DELIVER_PARAMS:  # (the engine uses deliver only with the type's own render)
        assert ACTION_TYPES[name].bind is None and not ACTION_TYPES[name].located


@pytest.mark.parametrize("name", sorted(DELIVER_PARAMS))
def test_deliver_delivers_and_refuses_what_render_does(name: str) -> None:
    kind = ACTION_TYPES[name]
    assert kind.deliver is not None
    refused = delivered = 0
    for params in DELIVER_PARAMS[name]:
        for body, output in DELIVER_OUTPUTS:
            msg = message(body)
            rendered = _outcome(functools.partial(kind.render, params, body, output, msg))
            if rendered[0] == "delivered":
                rendered = ("delivered", rendered[1][0])
            deliver = functools.partial(kind.deliver, params, body, output, msg)
            assert _outcome(deliver) == rendered, (params, body)
            refused += rendered[0] == "refused"
            delivered += rendered[0] == "delivered"
    assert refused and delivered  # both sides of every type's checks were reached


def test_the_types_that_hand_json_text_on_as_it_is_are_those_with_deliver() -> None:
    verbatim = {name for name, kind in ACTION_TYPES.items() if kind.verbatim_json}
    assert verbatim == set(DELIVER_PARAMS)


@pytest.mark.parametrize("name", sorted(DELIVER_PARAMS))
def test_verbatim_json_holds_where_it_says_so(name: str) -> None:
    """Where `verbatim_json(params)` is true, `deliver` returns the body of an output value as
    it is, whatever the value (a quiet publish skips the call); where it is false, `deliver`
    refuses or changes such a body."""
    kind = ACTION_TYPES[name]
    assert kind.verbatim_json is not None and kind.deliver is not None
    values = [{"temperature": 28}, {"é": "☃", "n": [1, 2.5, None]}, {}, {"s": "\u0000"}]
    said = set()
    for params in DELIVER_PARAMS[name]:
        verbatim = kind.verbatim_json(params)
        said.add(verbatim)
        for value in values:
            output = Output(value)
            body = output.to_bytes()
            outcome = _outcome(functools.partial(kind.deliver, params, body, output,
                                                 message(body)))  # fmt: skip
            if verbatim:
                assert outcome == ("delivered", body), (params, value)
                assert outcome[1] is body  # (the very bytes: nothing made)
            else:
                assert outcome != ("delivered", body), (params, value)
    assert True in said
