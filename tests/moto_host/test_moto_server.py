"""iotsql in moto's server: a ThreadedMotoServer on 127.0.0.1 in this process, and the
`iotsql moto-server` command in its own process. Every client is a plain boto3 client pointed at
the server, as any SDK or the AWS CLI would be; the actions go to the same server."""

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
from moto_support import ACCOUNT, ROLE, boto3, rule

import iotsql.moto

REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clients(endpoint: str, verify: bool = True) -> Any:
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing",
                                    aws_secret_access_key="testing")  # fmt: skip
    return lambda service: session.client(service, endpoint_url=endpoint, verify=verify)


@pytest.fixture(scope="module")
def server(offline_aws: None) -> Iterator[str]:
    """A ThreadedMotoServer with iotsql installed; its URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    threaded = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    threaded.start()
    try:
        with iotsql.moto.install():
            yield f"http://127.0.0.1:{port}"
    finally:
        threaded.stop()


def test_rules_run_on_publishes_to_the_server_and_act_on_it(server: str) -> None:
    aws = _clients(server)
    url = aws("sqs").create_queue(QueueName="alerts")["QueueUrl"]
    aws("s3").create_bucket(Bucket="errors", CreateBucketConfiguration={
        "LocationConstraint": REGION})  # fmt: skip
    iot = aws("iot")
    iot.create_topic_rule(ruleName="Clean", topicRulePayload=rule(
        "SELECT device, temp, sourceip() AS ip FROM 'plant/+/raw' WHERE temp > 30",
        {"republish": {"topic": "plant/${device}/hot"}}))  # fmt: skip
    iot.create_topic_rule(ruleName="Alert", topicRulePayload=rule(
        "SELECT * FROM 'plant/+/hot'", {"sqs": {"queueUrl": url}},
        errorAction={"s3": {"bucketName": "errors", "key": "${newuuid()}", "roleArn": ROLE}}))  # fmt: skip
    iot.create_topic_rule(ruleName="Missing", topicRulePayload=rule(
        "SELECT * FROM 'plant/+/raw' WHERE temp > 30", {"sqs": {"queueUrl": url + "-missing"}},
        errorAction={"s3": {"bucketName": "errors", "key": "missing.json", "roleArn": ROLE}}))  # fmt: skip
    data = aws("iot-data")
    data.publish(topic="plant/d1/raw", qos=1, payload=b'{"device": "d1", "temp": 31}')
    data.publish(topic="plant/d2/raw", qos=1, payload=b'{"device": "d2", "temp": 20}')

    received = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in received] == [
        {"device": "d1", "temp": 31, "ip": "127.0.0.1"}]  # fmt: skip
    error = json.loads(aws("s3").get_object(Bucket="errors", Key="missing.json")["Body"].read())
    assert error["ruleName"] == "Missing" and error["topic"] == "plant/d1/raw"
    assert error["clientId"] == "N/A" and error["sourceIp"] == "127.0.0.1"  # the publisher's
    assert json.loads(base64.b64decode(error["base64OriginalPayload"]))["device"] == "d1"
    assert error["failures"][0]["failedAction"] == "SqsAction"
    engine = iotsql.moto.engine(ACCOUNT, REGION)
    assert engine.endpoint_url == server
    assert [t for t, _ in engine.published_payloads if t.startswith("plant/")] == [
        "plant/d1/raw", "plant/d1/hot", "plant/d2/raw"]  # fmt: skip


def test_the_server_answers_with_aws_error_codes(server: str) -> None:
    aws = _clients(server)
    with pytest.raises(Exception) as caught:
        aws("iot").create_topic_rule(ruleName="Bad", topicRulePayload=rule(
            "SELECT * FROM 'a' WHERE", {"sqs": {"queueUrl": "q"}}))  # fmt: skip
    assert caught.value.response["Error"]["Code"] == "SqlParseException"  # type: ignore[attr-defined]
    with pytest.raises(Exception) as caught:
        aws("iot-data").publish(topic="a/#", payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", "must be a TopicRulePayload object, not an array"),
        (b"null", "must be a TopicRulePayload object, not null"),
        (b"\"SELECT * FROM 'a'\"", "must be a TopicRulePayload object, not a string"),
        (b"\xff\xfe{}", "is not UTF-8 (byte 0)"),
        (b"{sql", "is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is nested too deeply"),
    ],
)
def test_a_raw_rule_body_that_is_not_a_json_object_is_an_invalid_request(
    server: str, body: bytes, message: str
) -> None:
    """Before: moto's `json.loads(body)[name]` answered these with a 500 and an HTML page."""
    import requests

    auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/iot/aws4_request, " \
           "SignedHeaders=host, Signature=x"  # fmt: skip
    for method in ("POST", "PATCH"):  # CreateTopicRule, ReplaceTopicRule
        answer = requests.request(method, f"{server}/rules/Raw", data=body, timeout=30,
                                  headers={"Authorization": auth})  # fmt: skip
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"__type": "InvalidRequestException",
                                 "message": answer.json()["message"]}  # fmt: skip
        assert answer.json()["message"].startswith(f"the request body: {message}")


def test_install_names_the_address_the_actions_go_to(server: str) -> None:
    aws = _clients(server)
    url = aws("sqs").create_queue(QueueName="named")["QueueUrl"]
    aws("iot").create_topic_rule(ruleName="Named", topicRulePayload=rule(
        "SELECT * FROM 'named'", {"sqs": {"queueUrl": url}}))  # fmt: skip
    iotsql.moto.install(endpoint_url=f"http://127.0.0.1:{_free_port()}/")  # nothing listens there
    try:
        aws("iot-data").publish(topic="named", payload=b"{}")
    finally:
        iotsql.moto.install(endpoint_url=server)
    (failure,) = iotsql.moto.engine(ACCOUNT, REGION).reports[-1].failures
    assert "Unable to execute HTTP request" in str(failure.error)
    aws("iot-data").publish(topic="named", payload=b"{}")
    assert len(aws("sqs").receive_message(QueueUrl=url)["Messages"]) == 1


def test_a_wildcard_bind_address_is_reached_on_the_loopback() -> None:
    assert iotsql.moto.server_url("0.0.0.0", 5000) == "http://127.0.0.1:5000"
    assert iotsql.moto.server_url("::", 5000, "https") == "https://[::1]:5000"
    assert iotsql.moto.server_url("10.0.0.7", "80") == "http://10.0.0.7:80"


def test_a_reset_of_the_server_drops_the_engine_and_its_threads(server: str) -> None:
    import urllib.request

    aws = _clients(server)
    url = aws("sqs").create_queue(QueueName="before-reset")["QueueUrl"]
    aws("iot").create_topic_rule(ruleName="Before", topicRulePayload=rule(
        "SELECT * FROM 'r'", {"sqs": {"queueUrl": url}}))  # fmt: skip
    aws("iot-data").publish(topic="r", payload=b"{}")
    engine = iotsql.moto.engine(ACCOUNT, REGION)
    assert engine.reports[-1].failures == []
    # This engine's threads only: engines of other tests in this process may still run theirs.
    threads = engine._sink_threads
    assert threads is not None and threads.threads  # the server is called from worker threads
    urllib.request.urlopen(urllib.request.Request(f"{server}/moto-api/reset", method="POST"))
    deadline = time.monotonic() + 5
    while threads.threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads.threads == 0
    assert iotsql.moto.engine(ACCOUNT, REGION) is not engine
    assert iotsql.moto.engine(ACCOUNT, REGION).rules == {}


def test_a_reset_waits_for_the_publish_in_flight_and_its_dead_letter_is_logged(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    import threading
    import urllib.request

    aws = _clients(server)
    aws("iot").create_topic_rule(ruleName="InFlight", topicRulePayload=rule(
        "SELECT * FROM 'inflight'", {"kafka": {"destinationArn": "arn:aws:iot:eu-west-1:1:d/k",
                                              "topic": "t", "clientProperties": {"a": "b"}}}))  # fmt: skip
    entered, release = threading.Event(), threading.Event()

    def broker_down(request: Any) -> None:  # a sink still working when the reset comes
        entered.set()
        release.wait(10)
        raise ConnectionError("the Kafka broker went away")

    iotsql.moto.engine(ACCOUNT, REGION).register_sink("kafka", broker_down)
    publisher = threading.Thread(
        target=lambda: aws("iot-data").publish(topic="inflight", payload=b'{"n": 1}')
    )
    publisher.start()
    assert entered.wait(10)
    resetting = threading.Thread(target=lambda: urllib.request.urlopen(
        urllib.request.Request(f"{server}/moto-api/reset", method="POST")))  # fmt: skip
    resetting.start()
    resetting.join(0.3)
    assert resetting.is_alive()  # the reset waits for the publish in progress
    release.set()
    publisher.join(10)
    resetting.join(10)
    assert not publisher.is_alive() and not resetting.is_alive()
    # the engine went with the reset, but not silently: its dead letter was logged
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "iotsql.moto"]
    assert "dead letter: rule InFlight, topic 'inflight'" in logged
    assert "the Kafka broker went away" in logged


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"iotsql moto-server did not start:\n{output}")
            time.sleep(0.1)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_the_iotsql_moto_server_command_is_a_drop_in_for_moto_server(offline_aws: None) -> None:
    """With moto_server's options, HTTPS included (a generated certificate)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "iotsql", "moto-server", "-H", "0.0.0.0", "-p", str(port), "-s"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ},
    )  # fmt: skip
    try:
        _wait_for(port, process)
        aws = _clients(f"https://127.0.0.1:{port}", verify=False)
        url = aws("sqs").create_queue(QueueName="from-cli")["QueueUrl"]
        aws("iot").create_topic_rule(ruleName="Cli", topicRulePayload=rule(
            "SELECT n * 2 AS doubled FROM 'cli/+'", {"sqs": {"queueUrl": url}}))  # fmt: skip
        aws("iot-data").publish(topic="cli/x", payload=b'{"n": 21}')
        messages = aws("sqs").receive_message(QueueUrl=url)["Messages"]
        assert [json.loads(m["Body"]) for m in messages] == [{"doubled": 42}]
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert f"actions go to https://127.0.0.1:{port}" in output


def test_concurrent_publishes_log_each_dead_letter_once(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """moto's server handles each request in a thread of its own. A publish logged the dead
    letters past the count it read before publishing, so publishes running at once logged each
    other's letters twice, and missed their own once the list was trimmed; now each letter is
    logged by the publish that buries it, once."""
    import threading

    aws = _clients(server)
    missing = aws("sqs").create_queue(QueueName="dead-letters")["QueueUrl"] + "-missing"
    aws("iot").create_topic_rule(ruleName="Undeliverable", topicRulePayload=rule(
        "SELECT n FROM 'undeliverable'", {"sqs": {"queueUrl": missing}}))  # fmt: skip
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def publish(thread: int) -> None:
        data = aws("iot-data")
        start.wait()
        try:
            for n in range(5):
                data.publish(topic="undeliverable", payload=b'{"n": %d}' % (thread * 10 + n))
        except BaseException as err:  # (reported below)
            failures.append(err)

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    logged = [r.getMessage() for r in caplog.records
              if r.name == "iotsql.moto" and "rule Undeliverable" in r.getMessage()]  # fmt: skip
    letters = [letter for letter in iotsql.moto.engine(ACCOUNT, REGION).dead_letters
               if letter.rule_name == "Undeliverable"]  # fmt: skip
    assert len(letters) == 20
    assert len(logged) == 20, logged
