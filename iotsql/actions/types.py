"""The catalogue of AWS IoT rule action types: `ACTION_TYPES`, one `ActionType` per key of the
`Action` shape of AWS's IoT model (`sqs`, `dynamoDBv2`, `republish`...).

Each entry says which parameters take substitution templates (from the "Supports substitution
templates" line of the action's page, counting "API and AWS CLI only" as yes), how AWS turns the
rule's output into the downstream call (`render`), and what an error-action message names as the
failed resource and action. `render` raises ValueError, worded like AWS's error messages, when
the output cannot be delivered (a dynamoDBv2 output that is not an object, a firehose batch that
is not an array...); the engine reports that as a failure of the action.

Requests follow the convention of actions/base.py: `{"service": <boto3 client>, "operation":
<API operation>, "arguments": {...}}` for AWS services, and the http, kafka, opensearch and
republish forms described there.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from iotsql.actions import influxdb
from iotsql.actions.base import ActionType
from iotsql.actions.destinations import check_destination
from iotsql.errors import IotSqlError
from iotsql.message import DEFAULT_ACCOUNT_ID, Context
from iotsql.suggest import did_you_mean
from iotsql.topics import validate_topic
from iotsql.values import encode_json

if TYPE_CHECKING:
    from iotsql.message import Message
    from iotsql.output import Output

Params = Mapping[str, Any]
Rendered = tuple[bytes, Mapping[str, Any]]

#: The region of the ARNs iotsql has to build (Step Functions takes a state machine ARN, the
#: action names the state machine) when the renderer is called without the rule's region.
DEFAULT_REGION = "us-east-1"

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_UNIT_NANOS = {"SECONDS": 10**9, "MILLISECONDS": 10**6, "MICROSECONDS": 10**3, "NANOSECONDS": 1}
_ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
_QUALITIES = ("GOOD", "BAD", "UNCERTAIN")
_FORMAT_INDICATORS = ("UNSPECIFIED_BYTES", "UTF8_DATA")
_SIZE_UNITS = ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits",
               "Megabits", "Gigabits", "Terabits")  # fmt: skip
#: CloudWatch's StandardUnit values.
_METRIC_UNITS = frozenset(
    ("Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None",
     *_SIZE_UNITS, *(f"{unit}/Second" for unit in _SIZE_UNITS))
)  # fmt: skip


# ---- helpers -------------------------------------------------------------------------------------


def _document(payload: bytes, output: Output | None) -> Any:
    """What the action delivers as a JSON value (the SELECT output, or the error-action message
    when `output` is None), or the raw bytes when it is not JSON. A body passed through by
    `SELECT *` (a JSON array or scalar is not an object, so `*` passes its bytes on) is read as
    the JSON it is: CloudWatch Logs' documented batch is exactly such a body."""
    if output is not None and not output.is_binary:
        return output.value
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return payload


def _is_json(payload: bytes) -> bool:
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _text(payload: bytes, what: str) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what}: the message payload is not valid UTF-8 text") from None


def _json_only(payload: bytes, output: Output | None, what: str) -> Any:
    value = _document(payload, output)
    if isinstance(value, bytes):
        raise ValueError(f"{what}: the action does not support binary (non-JSON) payloads")
    return value


def _array(value: Any, what: str, maximum: int) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what}: batchMode is true but the rule's output is not a JSON array")
    if not value:
        raise ValueError(f"{what}: batchMode is true but the rule's output is an empty array")
    if len(value) > maximum:
        raise ValueError(
            f"{what}: the batch has {len(value)} records, more than the maximum of {maximum}"
        )
    return value


def _number(text: Any, what: str) -> str:
    """The text of a number given as a string parameter (`"1"`, `"-12.5"`, `"1E3"`)."""
    stripped = str(text).strip()
    if _NUMBER.fullmatch(stripped) is None:
        raise ValueError(f"{what}: {str(text)!r} is not a number")
    return stripped


def _double(text: Any, what: str) -> float:
    value = float(_number(text, what))
    if math.isinf(value):
        raise ValueError(f"{what}: {text!r} is out of the range of a double")
    return value


def _long(text: Any, what: str) -> int:
    number = Decimal(_number(text, what))
    if number != number.to_integral_value():
        raise ValueError(f"{what}: {text!r} is not a whole number")
    return int(number)


def _one_of(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _iso(nanos: int) -> str:
    """An epoch time in nanoseconds as ISO 8601 UTC text with milliseconds, which boto3 accepts
    for every timestamp parameter."""
    try:
        moment = _EPOCH + datetime.timedelta(microseconds=nanos // 1000)
    except OverflowError:
        raise ValueError(f"the timestamp {nanos} ns is out of range") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _epoch_nanos(spec: Any, message: Message, what: str) -> tuple[int, str]:
    """A `{value, unit}` timestamp parameter as (nanoseconds, unit); the time the message was
    received when there is none."""
    if not isinstance(spec, Mapping) or spec.get("value") in (None, ""):
        return message.received_at * 10**6, "MILLISECONDS"
    unit = spec.get("unit") or "MILLISECONDS"
    _one_of(unit, tuple(_UNIT_NANOS), f"{what} timestamp unit")
    return _long(spec["value"], f"{what} timestamp value") * _UNIT_NANOS[unit], unit


#: DynamoDB's limit: "nested attributes up to 32 levels deep" (a List or Map is a level).
MAX_DYNAMODB_NESTING = 32


def _attribute(value: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON value as a DynamoDB attribute value, with boto3 TypeSerializer's conventions.
    Lists and Maps nested deeper than DynamoDB takes fail the action with that reason (rather
    than with a RecursionError on a payload nested a thousand levels)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": _number_attribute(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, (list, Mapping)):
        if depth >= MAX_DYNAMODB_NESTING:
            raise ValueError(
                "DynamoDB supports nested attributes up to 32 levels deep: the value nests "
                "Lists and Maps deeper"
            )
        if isinstance(value, list):
            return {"L": [_attribute(item, depth + 1) for item in value]}
        return {"M": {str(key): _attribute(item, depth + 1) for key, item in value.items()}}
    raise ValueError(f"cannot store a {type(value).__name__} in DynamoDB")


def _number_attribute(value: int | float | Decimal) -> str:
    if isinstance(value, int):
        return str(value)
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not exact.is_finite():
        raise ValueError("DynamoDB does not support Infinity or NaN numbers")
    return str(exact)


def _request(service: str, operation: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {"service": service, "operation": operation, "arguments": dict(arguments)}


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _param(name: str) -> Callable[[Params], str]:
    def resource(params: Params) -> str:
        return str(params.get(name) or "")

    return resource


# ---- messaging: SQS, SNS, republish, Lambda, Step Functions --------------------------------------


# Each `_<type>_delivered` is the type's ActionType.deliver: its render's checks and delivered
# bytes, which the render calls first.


def _sqs_delivered(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> bytes:
    if params.get("useBase64") is True:
        return base64.b64encode(payload)
    if not payload.isascii():  # (ASCII is UTF-8: the one check most bodies need)
        _text(payload, "Failed to send message to SQS")
    return payload


def _sqs(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    delivered = _sqs_delivered(params, payload, output, message)
    # UTF-8 text: base64, or a payload its check read as UTF-8.
    arguments = {"QueueUrl": params["queueUrl"], "MessageBody": delivered.decode("utf-8")}
    return delivered, {"service": "sqs", "operation": "SendMessage", "arguments": arguments}


def _sns_delivered(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> bytes:
    if not payload.isascii():
        _text(payload, "Failed to publish to SNS")
    return payload


def _sns(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    _sns_delivered(params, payload, output, message)
    args: dict[str, Any] = {"TargetArn": params["targetArn"], "Message": payload.decode("utf-8")}
    if params.get("messageFormat") == "JSON":
        args["MessageStructure"] = "json"
    return payload, _request("sns", "Publish", args)


#: The Device Defender reserved topics (reserved-topics.html): $aws/things/THING/defender/...
_DEFENDER_TOPIC = re.compile(r"\$aws/things/[^/]+/defender(/|$)")


def _republish(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    topic = str(params.get("topic") or "")
    try:
        validate_topic(topic)
    except IotSqlError as err:
        raise ValueError(f"Failed to republish to topic {topic!r}: {err}") from None
    if topic.startswith("$aws/things/") and "/jobs" in topic:
        raise ValueError(
            f"Failed to republish to topic {topic!r}: reserved job topics are not supported"
        )
    if _DEFENDER_TOPIC.match(topic):
        # republish-rule-action.html: "AWS IoT Device Defender reserve topics don't support
        # HTTP publish", and the action publishes as the data plane's HTTP Publish does.
        raise ValueError(
            f"Failed to republish to topic {topic!r}: Device Defender reserved topics do not "
            "support HTTP publish"
        )
    args: dict[str, Any] = {"topic": topic, "qos": int(params.get("qos") or 0), "payload": payload}
    headers = params.get("headers") or {}
    for name in ("contentType", "responseTopic", "correlationData"):
        if headers.get(name) is not None:
            args[name] = headers[name]
    if headers.get("payloadFormatIndicator") is not None:
        args["payloadFormatIndicator"] = _one_of(
            headers["payloadFormatIndicator"],
            _FORMAT_INDICATORS,
            "Republish payloadFormatIndicator",
        )
    if headers.get("messageExpiry") is not None:
        args["messageExpiry"] = _long(headers["messageExpiry"], "Republish messageExpiry")
    if headers.get("userProperties"):
        pairs = [{p["key"]: p["value"]} for p in headers["userProperties"]]
        args["userProperties"] = json.dumps(pairs, separators=(",", ":"), ensure_ascii=False)
    return payload, _request("iot-data", "Publish", args)


#: The MqttHeaders members that become MQTT 5 properties of the republished message.
_HEADER_PROPERTIES = ("payloadFormatIndicator", "contentType", "responseTopic", "correlationData",
                      "messageExpiry")  # fmt: skip


def republished_context(params: Params, original: Context) -> Context:
    """The context of the message a republish action publishes, from the action's rendered
    parameters. It is a new message, published by AWS IoT with the rule's role (the action
    performs `iot:Publish`, as `iot-data publish` does), not over a client's MQTT connection:
    its MQTT 5 properties and user properties are the ones the action's `headers` set, its
    `clientid()` is `n/a`, `principal()` and `sourceip()` are Undefined (republish-rule-action.md:
    the original source IP is not passed on), `traceid()` Undefined, `timestamp()` the time it
    is received; only the account is the original message's."""
    headers = params.get("headers") or {}
    properties = {name: headers[name] for name in _HEADER_PROPERTIES
                  if headers.get(name) is not None}  # fmt: skip
    if "messageExpiry" in properties:
        properties["messageExpiry"] = _long(properties["messageExpiry"], "Republish messageExpiry")
    pairs = tuple((str(p["key"]), str(p["value"])) for p in headers.get("userProperties") or ())
    return Context(protocol="http", accountid=original.accountid, user_properties=pairs,
                   mqtt_properties=properties)  # fmt: skip


def _lambda_delivered(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> bytes:
    _json_only(payload, output, "Failed to invoke lambda function")
    return payload


def _lambda(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    _lambda_delivered(params, payload, output, message)
    args = {"FunctionName": params["functionArn"], "InvocationType": "Event", "Payload": payload}
    return payload, _request("lambda", "Invoke", args)


def _step_functions(
    params: Params,
    payload: bytes,
    output: Output | None,
    message: Message,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Rendered:
    """The action names a state machine; AWS starts the one of that name in the rule's own
    region, in the account of the action's role (the rule's account when the role ARN has
    none)."""
    _json_only(payload, output, "Failed to start the Step Functions execution")
    role = str(params.get("roleArn") or "").split(":")
    partition = role[1] if len(role) > 4 and role[1] else "aws"
    account = role[4] if len(role) > 4 and role[4] else account_id
    name = params["stateMachineName"]
    args: dict[str, Any] = {
        "stateMachineArn": f"arn:{partition}:states:{region}:{account}:stateMachine:{name}",
        "input": _text(payload, "Failed to start the Step Functions execution"),
    }
    if params.get("executionNamePrefix"):
        args["name"] = f"{params['executionNamePrefix']}{_new_uuid()}"
    return payload, _request("stepfunctions", "StartExecution", args)


# ---- storage: S3, DynamoDB, DynamoDBv2 -----------------------------------------------------------


def _has_key(params: Params) -> bool:
    return bool(params.get("key"))


def _s3_delivered(params: Params, payload: bytes, output: Output | None, message: Message) -> bytes:
    if not _has_key(params):
        raise ValueError("Failed to put S3 object. The object key is empty")
    return payload


def _s3(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    _s3_delivered(params, payload, output, message)
    args: dict[str, Any] = {"Bucket": params["bucketName"], "Key": params["key"], "Body": payload}
    if params.get("cannedAcl"):
        args["ACL"] = params["cannedAcl"]
    return payload, _request("s3", "PutObject", args)


def _key_attribute(params: Params, prefix: str) -> dict[str, Any]:
    field, value = params[f"{prefix}KeyField"], params.get(f"{prefix}KeyValue")
    if value is None or value == "":
        raise ValueError(
            "One or more parameter values were invalid: An AttributeValue may not contain an "
            f"empty string. Key: {field}"
        )
    kind = params.get(f"{prefix}KeyType") or "STRING"
    if _one_of(kind, ("STRING", "NUMBER"), f"DynamoDB {prefix}KeyType") == "NUMBER":
        return {"N": _number(value, f"DynamoDB {prefix} key {field}")}
    return {"S": str(value)}


def _dynamodb(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    table = params["tableName"]
    key = {params["hashKeyField"]: _key_attribute(params, "hash")}
    if params.get("rangeKeyField"):
        key[params["rangeKeyField"]] = _key_attribute(params, "range")
    column = params.get("payloadField") or "payload"
    operation = params.get("operation") or "INSERT"
    value = _attribute(_document(payload, output))
    if operation == "INSERT":
        args: dict[str, Any] = {"TableName": table, "Item": {**key, column: value}}
        return payload, _request("dynamodb", "PutItem", args)
    if operation == "UPDATE":
        args = {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET #payload = :payload",
            "ExpressionAttributeNames": {"#payload": column},
            "ExpressionAttributeValues": {":payload": value},
        }
        return payload, _request("dynamodb", "UpdateItem", args)
    if operation == "DELETE":
        return payload, _request("dynamodb", "DeleteItem", {"TableName": table, "Key": key})
    raise ValueError(f"DynamoDB operation {operation!r} is not INSERT, UPDATE or DELETE")


def _dynamodb_v2(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    value = _json_only(payload, output, "Failed to put DynamoDB item")
    if not isinstance(value, Mapping):
        raise ValueError(
            "Failed to put DynamoDB item: the rule's output must be a JSON object whose "
            "top-level keys become the item's attributes"
        )
    item = {str(key): _attribute(item) for key, item in value.items()}
    args = {"TableName": params["putItem"]["tableName"], "Item": item}
    return payload, _request("dynamodb", "PutItem", args)


# ---- streams: Kinesis, Firehose, Kafka -----------------------------------------------------------


def _partition_key_fits(params: Params) -> bool:
    key = params.get("partitionKey")
    return key is None or 1 <= len(key) <= 256  # (a generated key has 36)


def _kinesis_delivered(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> bytes:
    if not _partition_key_fits(params):
        key = params["partitionKey"]
        raise ValueError(
            "Failed to put Kinesis record: the partition key must have 1 to 256 characters, "
            f"not {len(key)}"
        )
    return payload


def _kinesis(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    _kinesis_delivered(params, payload, output, message)
    key = params.get("partitionKey")
    if key is None:
        key = _new_uuid()
    args = {"StreamName": params["streamName"], "Data": payload, "PartitionKey": key}
    return payload, _request("kinesis", "PutRecord", args)


def _firehose(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    separator = str(params.get("separator") or "").encode("utf-8")
    stream = params["deliveryStreamName"]
    if params.get("batchMode") is True:
        records = _array(_document(payload, output), "Failed to put Firehose record batch", 500)
        batch = [{"Data": encode_json(record) + separator} for record in records]
        args: dict[str, Any] = {"DeliveryStreamName": stream, "Records": batch}
        return payload, _request("firehose", "PutRecordBatch", args)
    data = payload + separator
    args = {"DeliveryStreamName": stream, "Record": {"Data": data}}
    return data, _request("firehose", "PutRecord", args)


def _kafka(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    partition = params.get("partition")
    request = {
        "service": "kafka",
        "destinationArn": params["destinationArn"],
        "topic": params["topic"],
        "key": params.get("key"),
        "partition": None if partition in (None, "") else _long(partition, "Kafka partition"),
        "headers": [[h["key"], h["value"]] for h in params.get("headers") or ()],
        "clientProperties": dict(params.get("clientProperties") or {}),
        "value": payload,
    }
    return payload, request


# ---- HTTP: http, salesforce, elasticsearch/openSearch --------------------------------------------


def _http(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    url = str(params["url"])
    confirmation = params.get("confirmationUrl") or None
    # Compared as parsed URLs: a text prefix lets `...:12000` through under `...:1`.
    check_destination(url, None if confirmation is None else str(confirmation))
    batching = params.get("enableBatching") is True
    if batching and not _is_json(payload):
        raise ValueError("HttpAction failed: binary payloads cannot be batched")
    if batching:
        # http_batching.html: "the batch is sent as a JSON array". iotsql sends each message
        # in a batch of its own (the page: batches "may be smaller than your configured
        # limits"), so the endpoint reads the array AWS sends it.
        payload = b"[" + payload + b"]"
    headers = [[h["key"], h["value"]] for h in params.get("headers") or ()]
    if not any(name.lower() == "content-type" for name, _ in headers):
        kind = "application/json" if _is_json(payload) else "application/octet-stream"
        headers.append(["Content-Type", kind])
    request: dict[str, Any] = {
        "service": "http", "method": "POST", "url": url, "headers": headers, "body": payload,
    }  # fmt: skip
    if confirmation:
        request["confirmationUrl"] = confirmation
    if params.get("auth"):
        request["auth"] = dict(params["auth"])
    if batching:
        request["enableBatching"] = True
        request["batchConfig"] = dict(params.get("batchConfig") or {})
    return payload, request


def _salesforce(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    _json_only(payload, output, "Failed to send the message to the Salesforce IoT input stream")
    headers = [["Content-Type", "application/json"], ["Authorization", f"Bearer {params['token']}"]]
    request = {"service": "http", "method": "POST", "url": params["url"], "headers": headers,
               "body": payload}  # fmt: skip
    return payload, request


def _opensearch(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    document = _json_only(payload, output, "Failed to index the document")
    if not isinstance(document, Mapping):
        raise ValueError("Failed to index the document: the rule's output must be a JSON object")
    request = {
        "service": "opensearch", "endpoint": params["endpoint"], "index": params["index"],
        "type": params["type"], "id": params["id"], "document": document,
    }  # fmt: skip
    return payload, request


# ---- CloudWatch ----------------------------------------------------------------------------------


def _cloudwatch_alarm(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    args = {
        "AlarmName": params["alarmName"],
        "StateValue": _one_of(params["stateValue"], _ALARM_STATES, "CloudWatch alarm stateValue"),
        "StateReason": params["stateReason"],
    }
    return payload, _request("cloudwatch", "SetAlarmState", args)


def _cloudwatch_metric(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    unit = params["metricUnit"]
    if unit not in _METRIC_UNITS:
        raise ValueError(f"CloudWatch metric unit {unit!r} is not a CloudWatch standard unit")
    stamp = params.get("metricTimestamp")
    if stamp in (None, ""):
        nanos = message.received_at * 10**6
    else:
        nanos = _long(stamp, "CloudWatch metricTimestamp") * 10**9
    datum = {
        "MetricName": params["metricName"],
        "Value": _double(params["metricValue"], "CloudWatch metricValue"),
        "Unit": unit,
        "Timestamp": _iso(nanos),
    }
    args = {"Namespace": params["metricNamespace"], "MetricData": [datum]}
    return payload, _request("cloudwatch", "PutMetricData", args)


def _cloudwatch_logs(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    what = "Failed to put CloudWatch log events"
    if params.get("batchMode") is True:
        events = [_log_event(e, what) for e in _array(_document(payload, output), what, 10000)]
    else:
        events = [{"timestamp": message.received_at, "message": _text(payload, what)}]
    args = {
        "logGroupName": params["logGroupName"],
        "logStreamName": _new_uuid(),
        "logEvents": events,
    }
    return payload, _request("logs", "PutLogEvents", args)


def _log_event(record: Any, what: str) -> dict[str, Any]:
    if not isinstance(record, Mapping) or "timestamp" not in record or "message" not in record:
        raise ValueError(f"{what}: each batch record must be an object with timestamp and message")
    stamp = record["timestamp"]
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise ValueError(f"{what}: timestamp {stamp!r} is not a number of milliseconds")
    text = record["message"]
    return {
        "timestamp": stamp,
        "message": text if isinstance(text, str) else encode_json(text).decode(),
    }


# ---- IoT services: Analytics, Events, SiteWise, Location; Timestream -----------------------------


def _iot_analytics(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    channel = params.get("channelName") or str(params.get("channelArn") or "").rpartition("/")[2]
    if not channel:
        raise ValueError("Failed to send the message to IoT Analytics: no channel is named")
    if params.get("batchMode") is True:
        records = _array(
            _document(payload, output), "Failed to send the batch to IoT Analytics", 100
        )
        bodies = [encode_json(record) for record in records]
    else:
        bodies = [payload]
    messages = [{"messageId": _new_uuid(), "payload": body} for body in bodies]
    args = {"channelName": channel, "messages": messages}
    return payload, _request("iotanalytics", "BatchPutMessage", args)


def _iot_events(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    name = params["inputName"]
    if params.get("batchMode") is True:
        if params.get("messageId"):
            raise ValueError("IoT Events: messageId cannot be specified when batchMode is true")
        records = _array(_document(payload, output), "Failed to send the batch to IoT Events", 10)
        messages = [
            {"messageId": _new_uuid(), "inputName": name, "payload": encode_json(record)}
            for record in records
        ]
    else:
        message_id = params.get("messageId") or _new_uuid()
        messages = [{"messageId": message_id, "inputName": name, "payload": payload}]
    return payload, _request("iotevents-data", "BatchPutMessage", {"messages": messages})


def _property_value(spec: Mapping[str, Any]) -> dict[str, Any]:
    what = "IoT SiteWise property value"
    given = {k: v for k, v in (spec.get("value") or {}).items() if v is not None}
    if len(given) != 1:
        raise ValueError(f"{what}: exactly one of stringValue, integerValue, doubleValue or "
                         f"booleanValue is required, not {len(given)}")  # fmt: skip
    kind, text = next(iter(given.items()))
    value: Any = text
    if kind == "integerValue":
        value = _long(text, f"{what} integerValue")
    elif kind == "doubleValue":
        value = _double(text, f"{what} doubleValue")
    elif kind == "booleanValue":
        if str(text).lower() not in ("true", "false"):
            raise ValueError(f"{what}: booleanValue {text!r} is not true or false")
        value = str(text).lower() == "true"
    stamp = spec.get("timestamp") or {}
    timestamp = {"timeInSeconds": _long(stamp.get("timeInSeconds"), f"{what} timeInSeconds")}
    if stamp.get("offsetInNanos") is not None:
        timestamp["offsetInNanos"] = _long(stamp["offsetInNanos"], f"{what} offsetInNanos")
    result: dict[str, Any] = {"value": {kind: value}, "timestamp": timestamp}
    if spec.get("quality") is not None:
        result["quality"] = _one_of(spec["quality"], _QUALITIES, f"{what} quality")
    return result


def _iot_sitewise(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    entries = []
    for spec in params["putAssetPropertyValueEntries"]:
        entry: dict[str, Any] = {"entryId": spec.get("entryId") or _new_uuid()}
        for name in ("assetId", "propertyId", "propertyAlias"):
            if spec.get(name) is not None:
                entry[name] = spec[name]
        if not (entry.get("propertyAlias") or (entry.get("assetId") and entry.get("propertyId"))):
            raise ValueError(
                "IoT SiteWise entry: either a propertyAlias or both an assetId and a propertyId "
                "are required"
            )
        entry["propertyValues"] = [_property_value(v) for v in spec["propertyValues"]]
        entries.append(entry)
    return payload, _request("iotsitewise", "BatchPutAssetPropertyValue", {"entries": entries})


def _sitewise_resource(params: Params) -> str:
    entries = params.get("putAssetPropertyValueEntries") or [{}]
    first = entries[0]
    return str(first.get("propertyAlias") or first.get("assetId") or "")


def _location(params: Params, payload: bytes, output: Output | None, message: Message) -> Rendered:
    latitude = _double(params["latitude"], "Location latitude")
    longitude = _double(params["longitude"], "Location longitude")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError(f"Location position ({latitude}, {longitude}) is out of range")
    nanos, _ = _epoch_nanos(params.get("timestamp"), message, "Location")
    update = {"DeviceId": params["deviceId"], "Position": [longitude, latitude],
              "SampleTime": _iso(nanos)}  # fmt: skip
    args = {"TrackerName": params["trackerName"], "Updates": [update]}
    return payload, _request("location", "BatchUpdateDevicePosition", args)


def _measure(value: Any) -> tuple[str, str]:
    """A Timestream measure value and its type, inferred as the Timestream page describes."""
    if isinstance(value, bool):
        return ("true" if value else "false"), "BOOLEAN"
    if isinstance(value, int):
        return str(value), "BIGINT"
    if isinstance(value, (float, Decimal)):
        return _number_attribute(value), "DOUBLE"
    if isinstance(value, str):
        return value, "VARCHAR"
    return encode_json(value).decode("utf-8"), "VARCHAR"


def _timestream(
    params: Params, payload: bytes, output: Output | None, message: Message
) -> Rendered:
    what = "Failed to write records to Timestream"
    value = _json_only(payload, output, what)
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: the rule's output must be a JSON object")
    nanos, unit = _epoch_nanos(params.get("timestamp"), message, "Timestream")
    dimensions = [{"Name": d["name"], "Value": d["value"], "DimensionValueType": "VARCHAR"}
                  for d in params["dimensions"]]  # fmt: skip
    records = []
    for name, item in value.items():
        if item is None:
            continue  # Timestream has no null measure values
        text, kind = _measure(item)
        records.append({
            "Dimensions": dimensions, "MeasureName": str(name), "MeasureValue": text,
            "MeasureValueType": kind, "Time": str(nanos // _UNIT_NANOS[unit]), "TimeUnit": unit,
        })  # fmt: skip
    if not records:
        raise ValueError(f"{what}: the rule's output has no attribute to write")
    if len(records) > 100:
        raise ValueError(f"{what}: {len(records)} measures, more than the maximum of 100")
    args = {"DatabaseName": params["databaseName"], "TableName": params["tableName"],
            "Records": records}  # fmt: skip
    return payload, _request("timestream-write", "WriteRecords", args)


# ---- the catalogue -------------------------------------------------------------------------------


def _always(params: Params) -> bool:
    return True


def _type(
    name: str,
    shape: str,
    templated: str,
    render: Callable[[Params, bytes, Output | None, Message], Rendered],
    resource: Callable[[Params], str],
    summary: str,
    *,
    binary: bool = True,
    templated_keys: str = "",
    bind: Any = None,
    located: bool = False,
    deliver: Callable[[Params, bytes, Output | None, Message], bytes] | None = None,
    verbatim_json: Callable[[Params], bool] | None = None,
) -> ActionType:
    return ActionType(name, shape, frozenset(templated.split()), render, resource, binary, summary,
                      frozenset(templated_keys.split()), bind, located, deliver,
                      verbatim_json)  # fmt: skip


_KAFKA_TEMPLATED = (
    "topic key partition headers.key headers.value clientProperties.ssl.truststore "
    "clientProperties.ssl.keystore clientProperties.ssl.keystore.password "
    "clientProperties.ssl.key.password clientProperties.sasl.kerberos.keytab"
)

_CATALOGUE = (
    _type("cloudwatchAlarm", "CloudwatchAlarmAction", "alarmName stateReason stateValue",
          _cloudwatch_alarm, _param("alarmName"), "Changes the state of a CloudWatch alarm"),
    _type("cloudwatchLogs", "CloudwatchLogsAction", "logGroupName", _cloudwatch_logs,
          _param("logGroupName"), "Sends the message to a CloudWatch Logs log group"),
    _type("cloudwatchMetric", "CloudwatchMetricAction",
          "metricName metricNamespace metricUnit metricValue metricTimestamp",
          _cloudwatch_metric, _param("metricName"), "Puts a CloudWatch metric data point"),
    _type("dynamoDB", "DynamoDBAction",
          "tableName hashKeyField hashKeyType hashKeyValue rangeKeyField rangeKeyType "
          "rangeKeyValue payloadField operation",
          _dynamodb, _param("tableName"), "Writes the message to one column of a DynamoDB item"),
    _type("dynamoDBv2", "DynamoDBv2Action", "putItem.tableName", _dynamodb_v2,
          lambda p: str((p.get("putItem") or {}).get("tableName") or ""),
          "Writes each top-level key of the output to its own DynamoDB column", binary=False),
    _type("elasticsearch", "ElasticsearchAction", "endpoint index type id", _opensearch,
          _param("endpoint"), "Indexes the output in an OpenSearch Service domain", binary=False),
    _type("firehose", "FirehoseAction", "deliveryStreamName", _firehose,
          _param("deliveryStreamName"), "Puts the message in a Firehose delivery stream"),
    _type("http", "HttpAction", "url confirmationUrl headers.value", _http, _param("url"),
          "POSTs the message to an HTTPS endpoint"),
    _type("iotAnalytics", "IotAnalyticsAction", "channelName", _iot_analytics,
          lambda p: str(p.get("channelName") or p.get("channelArn") or ""),
          "Sends the message to an IoT Analytics channel"),
    _type("iotEvents", "IotEventsAction", "inputName messageId", _iot_events,
          _param("inputName"), "Sends the message to an IoT Events input"),
    _type("influxDB", "InfluxDBAction", "tableName tags.*", influxdb.render,
          _param("tableName"), "Writes the output to InfluxDB as line protocol, one point per "
          "element", binary=False, templated_keys="tags", bind=influxdb.bind_render),
    _type("iotSiteWise", "IotSiteWiseAction", "putAssetPropertyValueEntries.*", _iot_sitewise,
          _sitewise_resource, "Puts asset property values in IoT SiteWise"),
    _type("kafka", "KafkaAction", _KAFKA_TEMPLATED, _kafka, _param("topic"),
          "Sends the message to an Apache Kafka topic"),
    _type("kinesis", "KinesisAction", "streamName partitionKey", _kinesis,
          _param("streamName"), "Puts the message in a Kinesis data stream",
          deliver=_kinesis_delivered, verbatim_json=_partition_key_fits),
    _type("lambda", "LambdaAction", "functionArn", _lambda, _param("functionArn"),
          "Invokes a Lambda function asynchronously with the output", binary=False,
          deliver=_lambda_delivered, verbatim_json=_always),
    _type("location", "LocationAction",
          "deviceId latitude longitude trackerName timestamp.value timestamp.unit",
          _location, _param("trackerName"), "Updates a device position in a Location tracker"),
    _type("openSearch", "OpenSearchAction", "endpoint index type id", _opensearch,
          _param("endpoint"), "Indexes the output in an OpenSearch Service domain", binary=False),
    _type("republish", "RepublishAction", "topic headers.*", _republish, _param("topic"),
          "Republishes the output to an MQTT topic"),
    _type("s3", "S3Action", "bucketName key", _s3, _param("bucketName"),
          "Stores the message as an S3 object", deliver=_s3_delivered,
          verbatim_json=_has_key),
    _type("salesforce", "SalesforceAction", "", _salesforce, _param("url"),
          "Sends the output to a Salesforce IoT input stream", binary=False),
    _type("sns", "SnsAction", "targetArn", _sns, _param("targetArn"),
          "Publishes the message to an SNS target", deliver=_sns_delivered,
          verbatim_json=_always),
    _type("sqs", "SqsAction", "queueUrl", _sqs, _param("queueUrl"),
          "Sends the message to an SQS queue", deliver=_sqs_delivered,
          verbatim_json=lambda params: params.get("useBase64") is not True),
    _type("stepFunctions", "StepFunctionsAction", "stateMachineName executionNamePrefix",
          _step_functions, _param("stateMachineName"),
          "Starts a Step Functions state machine with the output", binary=False, located=True),
    _type("timestream", "TimestreamAction",
          "databaseName tableName dimensions.value timestamp.value", _timestream,
          _param("tableName"), "Writes each top-level key of the output as a Timestream measure",
          binary=False),
)  # fmt: skip

#: Every action type, by its key in a rule's action (`{"sqs": {...}}`).
ACTION_TYPES: dict[str, ActionType] = {action.name: action for action in _CATALOGUE}

#: Action types whose service AWS retired, with the service and its end of support. The API
#: still takes them (the service model has their shapes), but the current rule actions page
#: (https://docs.aws.amazon.com/iot/latest/developerguide/iot-rule-actions.html) no longer lists
#: them, and past that date every delivery fails; `iotsql check` says so (retired-action).
RETIRED_ACTION_TYPES: dict[str, tuple[str, str]] = {
    "iotAnalytics": ("AWS IoT Analytics", "15 December 2025"),
    "iotEvents": ("AWS IoT Events", "20 May 2026"),
}


def unknown_action_type(name: str) -> str | None:
    """Why `name` is no action type of the CreateTopicRule API (`SQS`, CloudFormation's `Sqs`,
    boto3's `dynamodb`), naming the type meant; None for an action type. A sink or a recorder
    under such a name would never receive a request, since no rule can hold the type."""
    if name in ACTION_TYPES:
        return None
    meant = did_you_mean(name, ACTION_TYPES)
    if meant:
        return f"no action type {name!r}{meant}"
    return (f"no action type {name!r}: action types are the keys of the CreateTopicRule API "
            f"({', '.join(sorted(ACTION_TYPES))})")  # fmt: skip
