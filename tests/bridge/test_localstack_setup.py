"""LocalStack Pro's IoT setup, reproduced with free parts: Mosquitto as the broker, `iotsql
bridge` as the rules engine, a moto server as the AWS side. A device publishes over MQTT;
kinesis, lambda, sqs, firehose and dynamoDBv2 actions land in moto and are read back with
boto3 (Lambda runs docker-less in moto, which keeps no trace of an invocation a client could
read, so its invocation is read from moto's own request recorder)."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

boto3 = pytest.importorskip("boto3", reason="the aws extra (boto3)")
pytest.importorskip("moto", reason="the dev extra runs a moto server")

from iotsql.testing.broker import MqttBroker, free_port  # noqa: E402

from .conftest import unique  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/iot"


@pytest.fixture(scope="module")
def moto_endpoint(offline_aws: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=tmp_path_factory.mktemp("moto"),  # its request recorder writes a file there
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the moto server did not start")
                time.sleep(0.1)
        _moto_api(endpoint, "config", {"lambda": {"use_docker": False}})
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def _moto_api(endpoint: str, path: str, body: Any = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(f"{endpoint}/moto-api/{path}", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def test_mosquitto_bridge_and_moto_run_kinesis_lambda_sqs_firehose_dynamodb_actions(
    mosquitto: MqttBroker, moto_endpoint: str, bridges: Any, tmp_path: Path
) -> None:
    def aws(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint)

    p = unique("ls")
    queue = aws("sqs").create_queue(QueueName=f"{p}-alerts")["QueueUrl"]
    aws("kinesis").create_stream(StreamName=f"{p}-telemetry", ShardCount=1)
    aws("s3").create_bucket(Bucket=f"{p}-lake")
    aws("firehose").create_delivery_stream(
        DeliveryStreamName=f"{p}-raw",
        S3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": f"arn:aws:s3:::{p}-lake"},
    )  # fmt: skip
    aws("dynamodb").create_table(
        TableName=f"{p}-latest", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "device", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "device", "AttributeType": "S"}],
    )  # fmt: skip
    role = aws("iam").create_role(RoleName=f"{p}-fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return event\n")
    function = aws("lambda").create_function(
        FunctionName=f"{p}-fn", Runtime="python3.12", Role=role, Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]  # fmt: skip

    sql = f"SELECT device, temp, topic(3) AS site FROM '{p}/plant/+/telemetry'"
    actions = [
        {"kinesis": {"streamName": f"{p}-telemetry", "partitionKey": "${device}", "roleArn": ROLE}},
        {"lambda": {"functionArn": function}},
        {"sqs": {"queueUrl": queue, "roleArn": ROLE}},
        {"firehose": {"deliveryStreamName": f"{p}-raw", "separator": "\n", "roleArn": ROLE}},
        {"dynamoDBv2": {"putItem": {"tableName": f"{p}-latest"}, "roleArn": ROLE}},
    ]
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"ruleName": "Telemetry", "topicRulePayload": {
        "sql": sql, "awsIotSqlVersion": "2016-03-23", "actions": actions}}]}))  # fmt: skip

    _moto_api(moto_endpoint, "recorder/start-recording")
    bridge = bridges(str(rules), "--broker", mosquitto.url, "--endpoint-url", moto_endpoint,
                     "--region", REGION, "--dead-letters", "dead.jsonl").wait_ready()  # fmt: skip
    body = {"device": "press-1", "temp": 71.5}
    mosquitto.publish(f"{p}/plant/north/telemetry", json.dumps({**body, "noise": 1}))
    expected = {**body, "site": "north"}

    messages: list[Any] = []
    deadline = time.monotonic() + 20
    while not messages and time.monotonic() < deadline:
        messages = aws("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert bridge.stop() == 0
    summary = bridge.wait_for("SIGTERM: received")
    assert "received: 1, matched: 1, fired: 1, actions ok: 5, actions failed: 0" in summary, (
        bridge.stderr
    )
    assert not (tmp_path / "dead.jsonl").read_text()

    assert [json.loads(m["Body"]) for m in messages] == [expected]

    kinesis = aws("kinesis")
    shard = kinesis.describe_stream(StreamName=f"{p}-telemetry")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(StreamName=f"{p}-telemetry", ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]  # fmt: skip
    (record,) = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert json.loads(record["Data"]) == expected and record["PartitionKey"] == "press-1"

    item = aws("dynamodb").get_item(TableName=f"{p}-latest", Key={"device": {"S": "press-1"}})
    assert item["Item"] == {
        "device": {"S": "press-1"},
        "temp": {"N": "71.5"},
        "site": {"S": "north"},
    }

    (stored,) = aws("s3").list_objects_v2(Bucket=f"{p}-lake")["Contents"]
    lines = aws("s3").get_object(Bucket=f"{p}-lake", Key=stored["Key"])["Body"].read().splitlines()
    assert [json.loads(line) for line in lines] == [expected]

    assert aws("lambda").get_function(FunctionName=f"{p}-fn")["Configuration"]["FunctionArn"]
    recording = _moto_api_get(moto_endpoint, "recorder/download-recording")
    invocations = [
        json.loads(base64.b64decode(entry["body"]) if entry.get("body_encoded") else entry["body"])
        for entry in map(json.loads, recording.splitlines())
        if entry["url"].endswith("/invocations") and f"{p}-fn" in unquote(entry["url"])
    ]
    assert invocations == [expected]


def _moto_api_get(endpoint: str, path: str) -> str:
    with urllib.request.urlopen(f"{endpoint}/moto-api/{path}", timeout=10) as response:
        return str(response.read().decode())


def test_without_aws_credentials_the_emulator_gets_placeholder_ones(
    mosquitto: MqttBroker,
    moto_endpoint: str,
    bridges: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/bridge.md's Mosquitto + moto setup on a machine with no AWS credentials (a newcomer
    has none, and moto needs none): botocore refused to sign, so every action was a dead letter
    ('Unable to locate credentials'). Now the bridge says it signs with placeholder ones and the
    actions land; `--aws` without credentials stops at start, naming what to configure."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    p = unique("nocred")
    queue = sqs.create_queue(QueueName=f"{p}-alerts")["QueueUrl"]
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"ruleName": "Hot", "topicRulePayload": {
        "sql": f"SELECT * FROM '{p}/+/data'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queueUrl": queue, "roleArn": ROLE}}]}}]}))  # fmt: skip
    bridge = bridges(str(rules), "--broker", mosquitto.url, "--endpoint-url", moto_endpoint,
                     "--dead-letters", "dead.jsonl", "--stats-interval", "0").wait_ready()  # fmt: skip
    assert bridge.wait_for("no AWS credentials found") == (
        f"iotsql bridge: note: no AWS credentials found: the actions sign their requests to "
        f"{moto_endpoint} with placeholder ones, which an emulator accepts (set AWS_PROFILE or "
        "AWS_ACCESS_KEY_ID for one that checks them)"
    )
    mosquitto.publish(f"{p}/d1/data", '{"temp": 31}')
    messages: list[Any] = []
    deadline = time.monotonic() + 20
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert bridge.stop() == 0, bridge.stderr
    assert [json.loads(m["Body"]) for m in messages] == [{"temp": 31}], bridge.stderr
    assert not (tmp_path / "dead.jsonl").read_text()

    refused = subprocess.run(
        [sys.executable, "-m", "iotsql", "bridge", str(rules), "--broker", mosquitto.url, "--aws"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "iotsql bridge: error: --aws performs the actions in AWS, but no AWS credentials were "
        "found: configure them (aws configure, AWS_PROFILE, AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY)\n"
    )
