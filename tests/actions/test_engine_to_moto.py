"""End to end: topic rules in a RulesEngine whose actions go through the boto3 sinks to a real
moto server process on 127.0.0.1; each result is read back from the server with boto3. This is
what an emulator embedding iotsql does."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3", reason="the aws extra (boto3)")
pytest.importorskip("moto", reason="the dev extra runs a moto server")

import iotsql  # noqa: E402
from iotsql.actions.aws import aws_sinks  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/iot"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/iotsql-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/iotsql-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **ENV},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the moto server did not start")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def aws(endpoint: str) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in ENV.items():
            patch.setenv(key, value)
        session = boto3.session.Session(region_name=REGION)
        yield lambda service: session.client(service, endpoint_url=endpoint)


@pytest.fixture(scope="module")
def resources(aws: Any) -> dict[str, Any]:
    sqs = aws("sqs")
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    sns_queue = sqs.create_queue(QueueName="from-sns")["QueueUrl"]
    sns_queue_arn = sqs.get_queue_attributes(QueueUrl=sns_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    topic = aws("sns").create_topic(Name="alarms")["TopicArn"]
    aws("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sns_queue_arn,
                         Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    aws("kinesis").create_stream(StreamName="telemetry", ShardCount=1)
    aws("s3").create_bucket(Bucket="archive")
    aws("s3").create_bucket(Bucket="firehose-out")
    aws("firehose").create_delivery_stream(
        DeliveryStreamName="raw",
        S3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::firehose-out",
                                    "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}},
    )  # fmt: skip
    dynamodb = aws("dynamodb")
    for table in ("readings", "latest"):
        dynamodb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "device", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "device", "AttributeType": "S"}],
        )  # fmt: skip
    aws("logs").create_log_group(logGroupName="/iot/rules")
    machine = aws("stepfunctions").create_state_machine(
        name="workflow", roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
    )["stateMachineArn"]  # fmt: skip
    return {"queue": queue, "sns_queue": sns_queue, "topic": topic, "machine": machine}


def rule(sql: str, action: dict[str, Any]) -> dict[str, Any]:
    return {"sql": sql, "awsIotSqlVersion": "2016-03-23", "actions": [action]}


def test_every_action_reaches_the_emulated_service(
    endpoint: str, aws: Any, resources: dict[str, Any]
) -> None:
    engine = iotsql.RulesEngine(sinks=aws_sinks(endpoint_url=endpoint, region_name=REGION))
    sql = "SELECT device, temp FROM 'plant/+/temp'"
    actions = {
        "ToSqs": {"sqs": {"queueUrl": resources["queue"], "roleArn": ROLE}},
        "ToSns": {"sns": {"targetArn": resources["topic"], "roleArn": ROLE}},
        "ToKinesis": {"kinesis": {"streamName": "telemetry", "partitionKey": "${device}",
                                  "roleArn": ROLE}},
        "ToFirehose": {"firehose": {"deliveryStreamName": "raw", "separator": "\n",
                                    "roleArn": ROLE}},
        "ToDynamo": {"dynamoDB": {"tableName": "readings", "hashKeyField": "device",
                                  "hashKeyValue": "${device}", "roleArn": ROLE}},
        "ToDynamoV2": {"dynamoDBv2": {"putItem": {"tableName": "latest"}, "roleArn": ROLE}},
        "ToS3": {"s3": {"bucketName": "archive", "key": "${topic(2)}/${device}.json",
                        "roleArn": ROLE}},
        "ToLogs": {"cloudwatchLogs": {"logGroupName": "/iot/rules", "roleArn": ROLE}},
        "ToMetric": {"cloudwatchMetric": {"metricNamespace": "Plant", "metricName": "Temp",
                                          "metricValue": "${temp}", "metricUnit": "None",
                                          "roleArn": ROLE}},
        "ToStepFunctions": {"stepFunctions": {"stateMachineName": "workflow", "roleArn": ROLE}},
    }  # fmt: skip
    for name, action in actions.items():
        engine.create_topic_rule(name, rule(sql, action))

    report = engine.publish("plant/press/temp", b'{"device": "d1", "temp": 71.5, "x": 1}')
    assert sorted(report.fired) == sorted(actions)
    assert report.failures == [], [(f.rule_name, f.error) for f in report.failures]
    body = {"device": "d1", "temp": 71.5}

    message = aws("sqs").receive_message(QueueUrl=resources["queue"])["Messages"][0]
    assert json.loads(message["Body"]) == body
    relayed = aws("sqs").receive_message(QueueUrl=resources["sns_queue"])["Messages"][0]
    assert json.loads(relayed["Body"]) == body

    kinesis = aws("kinesis")
    shard = kinesis.describe_stream(StreamName="telemetry")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(StreamName="telemetry", ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
    (record,) = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert json.loads(record["Data"]) == body and record["PartitionKey"] == "d1"

    stored = aws("dynamodb").get_item(TableName="readings", Key={"device": {"S": "d1"}})["Item"]
    assert stored["device"] == {"S": "d1"} and "payload" in stored
    latest = aws("dynamodb").get_item(TableName="latest", Key={"device": {"S": "d1"}})["Item"]
    assert latest == {"device": {"S": "d1"}, "temp": {"N": "71.5"}}

    obj = aws("s3").get_object(Bucket="archive", Key="press/d1.json")
    assert json.loads(obj["Body"].read()) == body

    streams = aws("logs").describe_log_streams(logGroupName="/iot/rules")["logStreams"]
    events = aws("logs").get_log_events(logGroupName="/iot/rules",
                                        logStreamName=streams[0]["logStreamName"])["events"]  # fmt: skip
    assert json.loads(events[0]["message"]) == body

    metrics = aws("cloudwatch").list_metrics(Namespace="Plant")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["Temp"]

    executions = aws("stepfunctions").list_executions(stateMachineArn=resources["machine"])
    (execution,) = executions["executions"]
    described = aws("stepfunctions").describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == body

    firehose = aws("firehose").describe_delivery_stream(DeliveryStreamName="raw")
    assert firehose["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE"


def test_a_failing_service_call_reaches_the_error_action(
    endpoint: str, aws: Any, resources: dict[str, Any]
) -> None:
    engine = iotsql.RulesEngine(sinks=aws_sinks(endpoint_url=endpoint, region_name=REGION))
    engine.create_topic_rule("Broken", {
        "sql": "SELECT * FROM 'plant/+/temp'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"s3": {"bucketName": "no-such-bucket", "key": "k", "roleArn": ROLE}}],
        "errorAction": {"sqs": {"queueUrl": resources["queue"], "roleArn": ROLE,
                                "useBase64": True}},
    })  # fmt: skip
    engine.publish("plant/oven/temp", b'{"temp": 1}', {"clientid": "oven"})
    received = aws("sqs").receive_message(QueueUrl=resources["queue"])["Messages"][0]
    error = json.loads(base64.b64decode(received["Body"]))
    assert error["ruleName"] == "Broken" and error["clientId"] == "oven"
    (failure,) = error["failures"]
    assert failure["failedAction"] == "S3Action" and failure["failedResource"] == "no-such-bucket"
    assert "Failed to put S3 object" in failure["errorMessage"]
    assert base64.b64decode(error["base64OriginalPayload"]) == b'{"temp": 1}'
