"""Boto3Sink against a real moto server on 127.0.0.1 (moto's ThreadedMotoServer: in-process,
but every call is real HTTP through botocore): each AWS-service action's request, written by
hand in the documented convention (`{"service", "operation", "arguments"}`), is delivered and
then read back through boto3 from the same server.

Lambda Invoke needs docker under moto, so it is tested with botocore's Stubber instead, as are
the partial failures moto never reports (Firehose FailedPutCount)."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3", reason="Boto3Sink needs the aws extra (boto3)")
pytest.importorskip("moto", reason="these tests run a moto server (the dev extra)")

from botocore.config import Config  # noqa: E402
from botocore.response import StreamingBody  # noqa: E402
from botocore.stub import Stubber  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from iotsql.actions.aws import (  # noqa: E402
    AWS_ACTION_KEYS,
    AwsActionError,
    Boto3Sink,
    aws_sinks,
)
from iotsql.actions.base import ActionRequest, Sink  # noqa: E402
from iotsql.errors import ActionError  # noqa: E402
from iotsql.message import Message  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/rules"
TOPIC = "sensors/dev1/data"
PAYLOAD = b'{"device":"dev1","temp":21.5}'
BINARY = bytes(range(256))


# ---- the moto server --------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def dummy_credentials(offline_aws: None) -> None:
    """Every test here runs offline (tests/conftest.py)."""


@pytest.fixture(scope="module")
def endpoint(dummy_credentials: None) -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sink(endpoint: str) -> Boto3Sink:
    return Boto3Sink(endpoint_url=endpoint, region_name=REGION)


@pytest.fixture(scope="module")
def aws(endpoint: str) -> Callable[[str], Any]:
    """boto3 clients of the same moto server, to set up and read back."""
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = boto3.client(service, endpoint_url=endpoint, region_name=REGION)
        return clients[service]

    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def action(
    action_type: str,
    service: str,
    operation: str,
    arguments: Mapping[str, Any],
    *,
    params: Mapping[str, Any] | None = None,
    payload: bytes = PAYLOAD,
) -> ActionRequest:
    """An ActionRequest as the dispatcher hands it to a sink."""
    return ActionRequest(
        rule_name="rule1",
        action_type=action_type,
        params=dict(params or {"roleArn": ROLE}),
        payload=payload,
        message=Message(payload, TOPIC),
        topic=TOPIC,
        request={"service": service, "operation": operation, "arguments": dict(arguments)},
    )


def _receive(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    return messages


# ---- SQS, SNS -----------------------------------------------------------------------------------


def test_sqs_send_message(sink: Boto3Sink, aws: Callable[[str], Any]) -> None:
    queue = aws("sqs").create_queue(QueueName=unique("plain"))["QueueUrl"]
    request = action(
        "sqs", "sqs", "SendMessage", {"QueueUrl": queue, "MessageBody": PAYLOAD.decode()}
    )
    response = sink(request)
    [message] = _receive(aws("sqs"), queue)
    assert message["Body"] == PAYLOAD.decode()
    assert message["MessageId"] == response["MessageId"]


def test_a_sink_for_an_emulator_needs_no_credentials_and_ignores_configured_endpoints(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Boto3Sink.for_emulator: an emulator's process with no AWS credentials and an
    AWS_ENDPOINT_URL elsewhere still delivers into the emulator, with its extra headers (here
    moto's account header, so the message lands in that account's queue)."""
    account = "111122223333"
    owner = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    owner.meta.events.register(
        "before-sign",
        lambda request, **_: request.headers.__setitem__("x-moto-account-id", account),
    )
    queue = owner.create_queue(QueueName=unique("emulated"))["QueueUrl"]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    request = action("sqs", "sqs", "SendMessage", {"QueueUrl": queue, "MessageBody": "hi"})
    with pytest.raises(AwsActionError, match="credentials"):
        Boto3Sink(endpoint_url=endpoint, region_name=REGION)(request)  # the environment's
    sink = Boto3Sink.for_emulator(endpoint, region_name=REGION,
                                  headers={"x-moto-account-id": account})  # fmt: skip
    sink(request)
    assert [m["Body"] for m in _receive(owner, queue)] == ["hi"]
    assert sink.client("sqs").meta.endpoint_url == endpoint
    # Without an endpoint (moto's mock_aws intercepts in process), never the environment's.
    in_process = Boto3Sink.for_emulator(None, region_name=REGION).client("sqs")
    assert in_process.meta.endpoint_url == f"https://sqs.{REGION}.amazonaws.com"
    assert boto3.client("sqs", region_name=REGION).meta.endpoint_url == "http://127.0.0.1:9"


def test_sqs_send_message_base64(sink: Boto3Sink, aws: Callable[[str], Any]) -> None:
    queue = aws("sqs").create_queue(QueueName=unique("b64"))["QueueUrl"]
    body = base64.b64encode(BINARY).decode("ascii")  # useBase64: true
    sink(
        action(
            "sqs",
            "sqs",
            "SendMessage",
            {"QueueUrl": queue, "MessageBody": body},
            params={"queueUrl": queue, "useBase64": True, "roleArn": ROLE},
            payload=BINARY,
        )
    )
    [message] = _receive(aws("sqs"), queue)
    assert base64.b64decode(message["Body"]) == BINARY


def test_sns_publish(sink: Boto3Sink, aws: Callable[[str], Any]) -> None:
    sns, sqs = aws("sns"), aws("sqs")
    topic_arn = sns.create_topic(Name=unique("topic"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique("subscriber"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    response = sink(
        action("sns", "sns", "Publish", {"TopicArn": topic_arn, "Message": PAYLOAD.decode()})
    )
    assert response["MessageId"]
    [message] = _receive(sqs, queue)
    assert message["Body"] == PAYLOAD.decode()


# ---- Kinesis, Firehose ----------------------------------------------------------------------------


def test_kinesis_put_record(sink: Boto3Sink, aws: Callable[[str], Any]) -> None:
    kinesis = aws("kinesis")
    stream = unique("stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    response = sink(
        action(
            "kinesis",
            "kinesis",
            "PutRecord",
            {"StreamName": stream, "Data": PAYLOAD, "PartitionKey": "dev1"},
        )
    )
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=response["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    [record] = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert record["Data"] == PAYLOAD
    assert record["PartitionKey"] == "dev1"
    assert record["SequenceNumber"] == response["SequenceNumber"]


@pytest.fixture(scope="module")
def delivery_stream(aws: Callable[[str], Any]) -> tuple[str, str]:
    """A Firehose delivery stream writing to an S3 bucket (moto needs a destination)."""
    bucket = unique("firehose-dest")
    aws("s3").create_bucket(Bucket=bucket)
    stream = unique("delivery")
    aws("firehose").create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "iot/",
        },
    )
    return stream, bucket


def _bucket_contents(s3: Any, bucket: str) -> list[bytes]:
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in objects]


def test_firehose_put_record(
    sink: Boto3Sink, aws: Callable[[str], Any], delivery_stream: tuple[str, str]
) -> None:
    stream, bucket = delivery_stream
    before = _bucket_contents(aws("s3"), bucket)
    response = sink(
        action(
            "firehose",
            "firehose",
            "PutRecord",
            {"DeliveryStreamName": stream, "Record": {"Data": PAYLOAD + b"\n"}},
        )
    )
    assert response["RecordId"]
    after = _bucket_contents(aws("s3"), bucket)
    assert sorted(after) == sorted([*before, PAYLOAD + b"\n"])


def test_firehose_put_record_batch(
    sink: Boto3Sink, aws: Callable[[str], Any], delivery_stream: tuple[str, str]
) -> None:
    stream, bucket = delivery_stream
    before = _bucket_contents(aws("s3"), bucket)
    records = [{"Data": b'{"n":1}'}, {"Data": b'{"n":2}'}, {"Data": b'{"n":3}'}]  # batchMode
    response = sink(
        action(
            "firehose",
            "firehose",
            "PutRecordBatch",
            {"DeliveryStreamName": stream, "Records": records},
        )
    )
    assert response["FailedPutCount"] == 0
    assert len(response["RequestResponses"]) == 3
    new = [c for c in _bucket_contents(aws("s3"), bucket) if c not in before]
    assert new == [b'{"n":1}{"n":2}{"n":3}']


# ---- DynamoDB -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table(aws: Callable[[str], Any]) -> str:
    name = unique("readings")
    aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "device", "KeyType": "HASH"},
            {"AttributeName": "ts", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "device", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _scan(dynamodb: Any, table: str, device: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(
        TableName=table,
        FilterExpression="device = :d",
        ExpressionAttributeValues={":d": {"S": device}},
    )["Items"]
    return items


def test_dynamodb_v1_put_item(sink: Boto3Sink, aws: Callable[[str], Any], table: str) -> None:
    # dynamoDB (v1): hash and range key columns plus the payload in its payloadField.
    item = {
        "device": {"S": "v1-dev"},
        "ts": {"N": "1700000000000"},
        "payload": {"M": {"device": {"S": "v1-dev"}, "temp": {"N": "21.5"}}},
    }
    sink(action("dynamoDB", "dynamodb", "PutItem", {"TableName": table, "Item": item}))
    assert _scan(aws("dynamodb"), table, "v1-dev") == [item]


def test_dynamodb_v2_put_item(sink: Boto3Sink, aws: Callable[[str], Any], table: str) -> None:
    # dynamoDBv2: every top-level key of the SELECT output is its own column.
    item = {
        "device": {"S": "v2-dev"},
        "ts": {"N": "1700000000001"},
        "temp": {"N": "21.5"},
        "ok": {"BOOL": True},
        "tags": {"L": [{"S": "a"}, {"N": "2"}, {"NULL": True}]},
        "pos": {"M": {"lat": {"N": "47.6"}, "lon": {"N": "-122.3"}}},
    }
    sink(action("dynamoDBv2", "dynamodb", "PutItem", {"TableName": table, "Item": item}))
    assert _scan(aws("dynamodb"), table, "v2-dev") == [item]


def test_dynamodb_update_and_delete_item(
    sink: Boto3Sink, aws: Callable[[str], Any], table: str
) -> None:
    key = {"device": {"S": "upd-dev"}, "ts": {"N": "5"}}
    aws("dynamodb").put_item(TableName=table, Item={**key, "payload": {"S": "old"}})
    sink(
        action(
            "dynamoDB",
            "dynamodb",
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET #p = :p",
                "ExpressionAttributeNames": {"#p": "payload"},
                "ExpressionAttributeValues": {":p": {"M": {"temp": {"N": "30"}}}},
            },
        )
    )
    assert _scan(aws("dynamodb"), table, "upd-dev") == [
        {**key, "payload": {"M": {"temp": {"N": "30"}}}}
    ]
    sink(action("dynamoDB", "dynamodb", "DeleteItem", {"TableName": table, "Key": key}))
    assert _scan(aws("dynamodb"), table, "upd-dev") == []


# ---- S3 -----------------------------------------------------------------------------------------


def test_s3_put_object_binary(sink: Boto3Sink, aws: Callable[[str], Any]) -> None:
    bucket = unique("iot-bucket")
    aws("s3").create_bucket(Bucket=bucket)
    sink(
        action(
            "s3",
            "s3",
            "PutObject",
            {"Bucket": bucket, "Key": f"{TOPIC}/blob.bin", "Body": BINARY},
            payload=BINARY,
        )
    )
    stored = aws("s3").get_object(Bucket=bucket, Key=f"{TOPIC}/blob.bin")
    assert stored["Body"].read() == BINARY


# ---- CloudWatch -----------------------------------------------------------------------------------


def _log_events(timestamp: int, *messages: str) -> list[dict[str, Any]]:
    return [{"timestamp": timestamp + i, "message": m} for i, m in enumerate(messages)]


def test_cloudwatch_logs_creates_the_stream_then_puts(
    sink: Boto3Sink, aws: Callable[[str], Any]
) -> None:
    logs = aws("logs")
    group = unique("/iot/rules")
    logs.create_log_group(logGroupName=group)
    stream = unique("stream")
    now = int(time.time() * 1000)
    arguments = {"logGroupName": group, "logStreamName": stream}
    first = _log_events(now, PAYLOAD.decode())
    sink(action("cloudwatchLogs", "logs", "PutLogEvents", {**arguments, "logEvents": first}))
    second = _log_events(now + 10, '{"n":1}', '{"n":2}')  # batchMode: one event per record
    sink(action("cloudwatchLogs", "logs", "PutLogEvents", {**arguments, "logEvents": second}))
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert [e["message"] for e in events["events"]] == [PAYLOAD.decode(), '{"n":1}', '{"n":2}']


def test_cloudwatch_logs_missing_group_fails(sink: Boto3Sink) -> None:
    arguments = {
        "logGroupName": unique("no-such-group"),
        "logStreamName": "s",
        "logEvents": _log_events(int(time.time() * 1000), "x"),
    }
    with pytest.raises(AwsActionError) as info:
        sink(action("cloudwatchLogs", "logs", "PutLogEvents", arguments))
    assert info.value.code == "ResourceNotFoundException"
    assert "Service: CloudWatch Logs" in str(info.value)


def test_cloudwatch_put_metric_data(sink: Boto3Sink, aws: Callable[[str], Any]) -> None:
    namespace = unique("IoT/Rules")
    sink(
        action(
            "cloudwatchMetric",
            "cloudwatch",
            "PutMetricData",
            {
                "Namespace": namespace,
                "MetricData": [
                    {
                        "MetricName": "Temperature",
                        "Value": 21.5,
                        "Unit": "None",
                        "Timestamp": int(time.time()),
                    }
                ],
            },
        )
    )
    metrics = aws("cloudwatch").list_metrics(Namespace=namespace)["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["Temperature"]
    stats = aws("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName="Temperature",
        StartTime=time.time() - 600,
        EndTime=time.time() + 600,
        Period=60,
        Statistics=["Maximum"],
    )
    assert [p["Maximum"] for p in stats["Datapoints"]] == [21.5]


def test_cloudwatch_set_alarm_state(sink: Boto3Sink, aws: Callable[[str], Any]) -> None:
    cloudwatch = aws("cloudwatch")
    alarm = unique("overheat")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="Temperature",
        Namespace="IoT",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=30,
        ComparisonOperator="GreaterThanThreshold",
    )
    sink(
        action(
            "cloudwatchAlarm",
            "cloudwatch",
            "SetAlarmState",
            {
                "AlarmName": alarm,
                "StateValue": "ALARM",
                "StateReason": "temperature 31 > 30",
                "StateReasonData": PAYLOAD.decode(),
            },
        )
    )
    [state] = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert state["StateValue"] == "ALARM"
    assert state["StateReason"] == "temperature 31 > 30"
    assert state["StateReasonData"] == PAYLOAD.decode()


# ---- Step Functions ---------------------------------------------------------------------------------


def test_step_functions_start_execution(sink: Boto3Sink, aws: Callable[[str], Any]) -> None:
    sfn = aws("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique("machine"),
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    name = unique("run")
    response = sink(
        action(
            "stepFunctions",
            "stepfunctions",
            "StartExecution",
            {"stateMachineArn": machine, "name": name, "input": PAYLOAD.decode()},
        )
    )
    execution = sfn.describe_execution(executionArn=response["executionArn"])
    assert execution["name"] == name
    assert execution["input"] == PAYLOAD.decode()
    assert execution["stateMachineArn"] == machine


# ---- failures -------------------------------------------------------------------------------------


def test_missing_queue_raises(sink: Boto3Sink, endpoint: str) -> None:
    queue = f"{endpoint}/123456789012/{unique('missing')}"
    with pytest.raises(AwsActionError) as info:
        sink(action("sqs", "sqs", "SendMessage", {"QueueUrl": queue, "MessageBody": "x"}))
    error = info.value
    assert isinstance(error, ActionError)
    assert error.code == "AWS.SimpleQueueService.NonExistentQueue"
    assert error.status == 400
    assert str(error).startswith("Failed to call SendMessage. The error received was ")
    assert "(Service: Amazon SQS; Status Code: 400; Error Code: " in str(error)
    assert str(error).endswith(f"Message arrived on: {TOPIC}, Action: sqs")


def test_missing_bucket_message_is_aws_like(sink: Boto3Sink) -> None:
    bucket = unique("no-such-bucket")
    with pytest.raises(AwsActionError) as info:
        sink(action("s3", "s3", "PutObject", {"Bucket": bucket, "Key": "aaa", "Body": b"x"}))
    text = str(info.value)
    assert text.startswith(
        "Failed to put S3 object. The error received was The specified bucket does not exist "
        "(Service: Amazon S3; Status Code: 404; Error Code: NoSuchBucket; Request ID: "
    )
    assert text.endswith(f'Message arrived on: {TOPIC}, Action: s3, Bucket: {bucket}, Key: "aaa"')


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_endpoint_raises() -> None:
    unreachable = Boto3Sink(
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    request = action(
        "sqs",
        "sqs",
        "SendMessage",
        {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "MessageBody": "x"},
    )
    started = time.monotonic()
    with pytest.raises(AwsActionError) as info:
        unreachable(request)
    assert time.monotonic() - started < 5
    assert info.value.code == "EndpointConnectionError"
    assert info.value.status is None
    assert "Unable to execute HTTP request: Could not connect to the endpoint URL" in str(
        info.value
    )


def test_invalid_arguments_raise(sink: Boto3Sink) -> None:
    with pytest.raises(AwsActionError) as info:
        sink(action("s3", "s3", "PutObject", {"Bucket": "b", "Key": "k", "Bodyy": b"x"}))
    assert info.value.code == "ParamValidationError"


def test_unknown_operation_raises(sink: Boto3Sink) -> None:
    with pytest.raises(AwsActionError) as info:
        sink(action("sqs", "sqs", "LaunchRocket", {}))
    assert info.value.code == "UnknownOperation"


def test_a_service_this_botocore_lacks_is_named_in_a_short_error(sink: Boto3Sink) -> None:
    """botocore's UnknownServiceError lists every service it knows (over 6 KB, which a dead
    letter and an error action's message would carry); the error says which client is
    missing instead, and why when AWS retired the service."""
    with pytest.raises(AwsActionError) as info:
        sink(action("nosuch", "no-such-service", "PutThing", {}))
    assert info.value.code == "UnknownServiceError"
    message = str(info.value)
    assert "has no 'no-such-service' client (a newer boto3 may have it)" in message
    assert "Valid service names" not in message and len(message) < 300


def test_request_outside_the_convention_is_refused(sink: Boto3Sink) -> None:
    flat = ActionRequest(
        rule_name="rule1",
        action_type="sqs",
        params={},
        payload=PAYLOAD,
        message=Message(PAYLOAD, TOPIC),
        topic=TOPIC,
        request={"service": "sqs", "operation": "SendMessage", "QueueUrl": "q"},
    )
    with pytest.raises(ActionError, match="belong under 'arguments'"):
        sink(flat)
    nothing = ActionRequest(
        rule_name="rule1",
        action_type="sqs",
        params={},
        payload=PAYLOAD,
        message=Message(PAYLOAD, TOPIC),
        topic=TOPIC,
    )
    with pytest.raises(ActionError, match="names no AWS service"):
        sink(nothing)


# ---- the client cache -----------------------------------------------------------------------------


def test_client_cache_is_reused(endpoint: str, aws: Callable[[str], Any]) -> None:
    made: list[str] = []

    def factory(service: str, **options: Any) -> Any:
        made.append(service)
        time.sleep(0.05)  # widen the window in which threads would race to create it
        return boto3.session.Session().client(service, **options)

    cached = Boto3Sink(endpoint_url=endpoint, region_name=REGION, client_factory=factory)
    queue = aws("sqs").create_queue(QueueName=unique("cache"))["QueueUrl"]
    threads = [
        threading.Thread(
            target=cached,
            args=(action("sqs", "sqs", "SendMessage", {"QueueUrl": queue, "MessageBody": str(i)}),),
        )
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == ["sqs"]
    assert cached.client("sqs") is cached.client("sqs")
    received: list[str] = []
    while len(received) < 8:
        batch = _receive(aws("sqs"), queue)
        assert batch, f"only {received} arrived"
        received.extend(m["Body"] for m in batch)
    assert sorted(received) == [str(i) for i in range(8)]


def test_aws_sinks_share_one_sink(endpoint: str) -> None:
    sinks = aws_sinks(endpoint_url=endpoint, region_name=REGION)
    assert set(sinks) == set(AWS_ACTION_KEYS)
    assert set(sinks) == {
        "sqs",
        "sns",
        "kinesis",
        "firehose",
        "dynamoDB",
        "dynamoDBv2",
        "s3",
        "lambda",
        "cloudwatchLogs",
        "cloudwatchMetric",
        "cloudwatchAlarm",
        "stepFunctions",
        "timestream",
        "iotAnalytics",
        "iotEvents",
        "iotSiteWise",
        "location",
    }
    for other in ("http", "kafka", "republish", "elasticsearch", "openSearch", "salesforce"):
        assert other not in sinks
    [shared] = {id(s) for s in sinks.values()}
    sink = sinks["sqs"]
    assert isinstance(sink, Sink)
    assert isinstance(sink, Boto3Sink)
    assert id(sink) == shared
    assert sink.endpoint_url == endpoint


# ---- Lambda and partial failures, with botocore's Stubber -------------------------------------------


def _stubbed(service: str) -> tuple[Boto3Sink, Stubber]:
    client = boto3.session.Session().client(
        service, region_name=REGION, endpoint_url="http://127.0.0.1:9"
    )
    stubber = Stubber(client)
    stubber.activate()
    return Boto3Sink(client_factory=lambda name, **_: client), stubber


LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:process"


def test_lambda_invoke_with_stubber() -> None:
    # moto runs Lambda functions in docker, so the Invoke call is checked with Stubber instead.
    sink, stubber = _stubbed("lambda")
    stubber.add_response(
        "invoke",
        {"StatusCode": 202, "Payload": StreamingBody(io.BytesIO(b""), 0)},
        expected_params={"FunctionName": LAMBDA_ARN, "InvocationType": "Event", "Payload": PAYLOAD},
    )
    response = sink(
        action(
            "lambda",
            "lambda",
            "Invoke",
            {"FunctionName": LAMBDA_ARN, "InvocationType": "Event", "Payload": PAYLOAD},
        )
    )
    stubber.assert_no_pending_responses()
    assert response["StatusCode"] == 202
    assert response["Payload"] == b""


def test_lambda_errors_with_stubber() -> None:
    sink, stubber = _stubbed("lambda")
    stubber.add_client_error(
        "invoke",
        service_error_code="AccessDeniedException",
        service_message="not authorized",
        http_status_code=403,
    )
    failing = b'{"errorMessage":"boom"}'
    stubber.add_response(
        "invoke",
        {
            "StatusCode": 200,
            "FunctionError": "Unhandled",
            "Payload": StreamingBody(io.BytesIO(failing), len(failing)),
        },
    )
    request = action("lambda", "lambda", "Invoke", {"FunctionName": LAMBDA_ARN, "Payload": PAYLOAD})
    with pytest.raises(AwsActionError) as info:
        sink(request)
    assert info.value.status == 403
    assert str(info.value).startswith(
        "Failed to invoke lambda function. The error received was not authorized "
        "(Service: Lambda; Status Code: 403; Error Code: AccessDeniedException"
    )
    with pytest.raises(AwsActionError) as info:
        sink(request)
    assert info.value.code == "Unhandled"
    assert "boom" in str(info.value)


def test_firehose_partial_failure_raises() -> None:
    sink, stubber = _stubbed("firehose")
    stubber.add_response(
        "put_record_batch",
        {
            "FailedPutCount": 1,
            "RequestResponses": [
                {"RecordId": "a" * 20},
                {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."},
            ],
        },
    )
    request = action(
        "firehose",
        "firehose",
        "PutRecordBatch",
        {"DeliveryStreamName": "d", "Records": [{"Data": b"1"}, {"Data": b"2"}]},
    )
    with pytest.raises(AwsActionError) as info:
        sink(request)
    assert info.value.code == "ServiceUnavailableException"
    assert "1 record(s) failed: Slow down." in str(info.value)


# ---- boto3 stays optional ---------------------------------------------------------------------------


def test_import_does_not_load_boto3() -> None:
    code = (
        "import sys, iotsql.actions.aws, iotsql.actions.http\n"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_missing_boto3_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ImportError, match=r"pip install 'iotsql\[aws\]'"):
        Boto3Sink()


def test_an_action_of_a_retired_service_goes_to_the_error_action() -> None:
    """docs/hosts.md: an iotAnalytics action that this botocore cannot deliver (no client) is
    not lost: the error action gets the failure, with the short message."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    from iotsql.engine import RulesEngine

    delivered: list[ActionRequest] = []
    sink = Boto3Sink.for_emulator("http://127.0.0.1:9", region_name="us-east-1")
    engine = RulesEngine(sinks={"iotAnalytics": sink, "sqs": delivered.append})
    engine.create_topic_rule("to_analytics", {
        "sql": "SELECT * FROM 'plant/+'",
        "actions": [{"iotAnalytics": {"channelName": "telemetry",
                                      "roleArn": "arn:aws:iam::123456789012:role/r"}}],
        "errorAction": {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/e",
                                "roleArn": "arn:aws:iam::123456789012:role/r"}},
    })  # fmt: skip
    try:
        botocore.session.get_session().get_service_model("iotanalytics")
    except UnknownServiceError:
        retired = True
    else:  # an older botocore: the call goes out and finds no endpoint, which fails too
        retired = False
    engine.publish("plant/1", b'{"t": 1}')
    assert engine.dead_letters == []
    assert [request.action_type for request in delivered] == ["sqs"]
    failure = json.loads(delivered[0].payload)["failures"][0]
    assert failure["failedAction"] == "IotAnalyticsAction"
    if retired:
        assert "AWS retired AWS IoT Analytics" in failure["errorMessage"]
        assert len(failure["errorMessage"]) < 300
