"""Boto3Provider against a real moto server process (DynamoDB, Secrets Manager, the IoT
registry, IoT device shadows, Lambda in moto's docker-free mode, S3 for protobuf descriptors),
and with botocore's Stubber where moto cannot answer: Lambda function errors, Amazon ML
(moto has no Amazon Machine Learning), STS role assumption, the iot-data endpoint lookup and
ListThingGroupsForThing pagination."""

from __future__ import annotations

import base64
import importlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3", reason="Boto3Provider needs the aws extra (boto3)")
pytest.importorskip("moto", reason="these tests run a moto server (the dev extra)")

from botocore.response import StreamingBody  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

import iotsql  # noqa: E402
from iotsql.errors import ProviderError  # noqa: E402
from iotsql.providers import Boto3Provider  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/rules"


def _has_protobuf() -> bool:
    try:
        return importlib.util.find_spec("google.protobuf") is not None
    except ModuleNotFoundError:  # no `google` namespace package at all
        return False


HAS_PROTOBUF = _has_protobuf()


# ---- the moto server -----------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def dummy_credentials(offline_aws: None) -> None:
    """Every test here runs offline (tests/conftest.py)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint(dummy_credentials: None) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"moto server exited: {log.read().decode(errors='replace')}")
                try:
                    urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("moto server did not start within 60 s")
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _moto_api(endpoint: str, path: str, body: Any) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


@pytest.fixture
def provider(endpoint: str) -> Boto3Provider:
    return Boto3Provider(endpoint_url=endpoint, region_name=REGION)


def _evaluate(sql: str, payload: Any, provider: Any) -> Any:
    output = iotsql.compile(sql, "2016-03-23").evaluate(payload, "t", provider=provider)
    assert output is not None
    return output.value


# ---- construction --------------------------------------------------------------------------------


def test_region_and_session(endpoint: str) -> None:
    session = boto3.session.Session(region_name="eu-west-1")
    assert Boto3Provider(session=session).region_name == "eu-west-1"
    assert Boto3Provider(session=session, region_name="ap-south-1").region_name == "ap-south-1"
    assert Boto3Provider(endpoint_url=endpoint).client("dynamodb").meta.endpoint_url == endpoint


def test_without_boto3_the_provider_explains_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ProviderError, match=r"iotsql\[aws\]"):
        Boto3Provider()


# ---- DynamoDB GetItem ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tables(endpoint: str) -> None:
    dynamodb = _client(endpoint, "dynamodb")
    dynamodb.create_table(
        TableName="Devices",
        KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="Readings",
        KeySchema=[
            {"AttributeName": "device", "KeyType": "HASH"},
            {"AttributeName": "seq", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "device", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="ByNumber",
        KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(
        TableName="Devices",
        Item={
            "deviceId": {"S": "d1"},
            "location": {"S": "Oslo"},
            "floor": {"N": "3"},
            "ratio": {"N": "0.25"},
            "active": {"BOOL": True},
            "retired": {"NULL": True},
            "tags": {"SS": ["x", "y"]},
            "codes": {"NS": ["1", "2.5"]},
            "blob": {"B": b"\x00\x01"},
            "blobs": {"BS": [b"\x02"]},
            "geo": {"M": {"lat": {"N": "59.9"}, "list": {"L": [{"S": "a"}, {"N": "7"}]}}},
        },
    )
    dynamodb.put_item(
        TableName="Readings", Item={"device": {"S": "d1"}, "seq": {"N": "2"}, "v": {"S": "second"}}
    )
    dynamodb.put_item(TableName="ByNumber", Item={"n": {"N": "1.5"}, "v": {"S": "one and a half"}})


def test_dynamodb_get_item_by_partition_key(provider: Boto3Provider, tables: None) -> None:
    item = provider.get_dynamodb("Devices", "deviceId", "d1", None, None, ROLE)
    assert item == {
        "deviceId": "d1",
        "location": "Oslo",
        "floor": 3,
        "ratio": 0.25,
        "active": True,
        "retired": None,
        "tags": ["x", "y"],
        "codes": [1, 2.5],
        "blob": base64.b64encode(b"\x00\x01").decode(),
        "blobs": [base64.b64encode(b"\x02").decode()],
        "geo": {"lat": 59.9, "list": ["a", 7]},
    }
    assert type(item["floor"]) is int and type(item["ratio"]) is float


def test_dynamodb_get_item_by_partition_and_sort_key(provider: Boto3Provider, tables: None) -> None:
    assert provider.get_dynamodb("Readings", "device", "d1", "seq", 2, ROLE) == {
        "device": "d1",
        "seq": 2,
        "v": "second",
    }
    assert provider.get_dynamodb("Readings", "device", "d1", "seq", 2.0, ROLE) is not None
    assert provider.get_dynamodb("Readings", "device", "d1", "seq", 3, ROLE) is None


def test_dynamodb_number_partition_key(provider: Boto3Provider, tables: None) -> None:
    assert provider.get_dynamodb("ByNumber", "n", 1.5, None, None, ROLE) == {
        "n": 1.5,
        "v": "one and a half",
    }


def test_dynamodb_missing_item_is_none(provider: Boto3Provider, tables: None) -> None:
    assert provider.get_dynamodb("Devices", "deviceId", "nope", None, None, ROLE) is None


def test_dynamodb_missing_table_fails(provider: Boto3Provider, tables: None) -> None:
    with pytest.raises(ProviderError, match="dynamodb GetItem failed: ResourceNotFoundException"):
        provider.get_dynamodb("Nope", "id", "a", None, None, ROLE)


def test_dynamodb_wrong_key_fails(provider: Boto3Provider, tables: None) -> None:
    with pytest.raises(ProviderError, match="dynamodb GetItem failed: ValidationException"):
        provider.get_dynamodb("Readings", "device", "d1", None, None, ROLE)


def test_dynamodb_through_sql(provider: Boto3Provider, tables: None) -> None:
    sql = (
        "SELECT *, get_dynamodb('Devices', 'deviceId', id, 'arn:aws:iam::1:role/r').location "
        "AS location FROM 't'"
    )
    assert _evaluate(sql, {"id": "d1"}, provider) == {"id": "d1", "location": "Oslo"}
    # GetItem answers "no item" without error; the rule fails as on AWS (docs/semantics.md).
    with pytest.raises(
        ProviderError, match=r"no item in table Devices with the key deviceId=\"zz\""
    ):
        _evaluate(sql, {"id": "zz"}, provider)
    ranged = "SELECT get_dynamodb('Readings', 'device', d, 'seq', s, 'r').v AS v FROM 't'"
    assert _evaluate(ranged, {"d": "d1", "s": 2}, provider) == {"v": "second"}
    failing = "SELECT get_dynamodb('Nope', 'id', id, 'r') AS item FROM 't'"
    with pytest.raises(ProviderError, match=r"^get_dynamodb\(\) failed: dynamodb GetItem failed"):
        _evaluate(failing, {"id": "d1"}, provider)
    defaulted = (
        "SELECT get_or_default(get_dynamodb('Nope', 'id', id, 'r'), 'none') AS item FROM 't'"
    )
    assert _evaluate(defaulted, {"id": "d1"}, provider) == {"item": "none"}


# ---- Secrets Manager -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secrets(endpoint: str) -> None:
    client = _client(endpoint, "secretsmanager")
    client.create_secret(Name="API_KEY", SecretString='{"API_KEY_VALUE": "k-123", "port": 8443}')
    client.create_secret(Name="plain", SecretString="just text")
    client.create_secret(Name="blob", SecretBinary=b"\x00\x01hi")


def test_secrets(provider: Boto3Provider, secrets: None) -> None:
    assert provider.get_secret("API_KEY", "SecretString", "API_KEY_VALUE", ROLE) == "k-123"
    assert provider.get_secret("API_KEY", "SecretString", "port", ROLE) == 8443
    assert provider.get_secret("API_KEY", "SecretString", None, ROLE) == (
        '{"API_KEY_VALUE": "k-123", "port": 8443}'
    )
    assert provider.get_secret("plain", "SecretString", None, ROLE) == "just text"
    assert (
        provider.get_secret("blob", "SecretBinary", None, ROLE)
        == base64.b64encode(b"\x00\x01hi").decode()
    )


@pytest.mark.parametrize(
    ("secret_id", "secret_type", "key", "message"),
    [
        ("plain", "SecretString", "k", "not a JSON object"),
        ("blob", "SecretBinary", "k", "SecretBinary"),
        ("blob", "SecretString", None, "no SecretString"),
        ("nope", "SecretString", None, "secretsmanager GetSecretValue failed: ResourceNotFound"),
    ],
)
def test_secret_failures(
    provider: Boto3Provider, secrets: None, secret_id: str, secret_type: str, key: str | None,
    message: str,
) -> None:  # fmt: skip
    with pytest.raises(ProviderError, match=message):
        provider.get_secret(secret_id, secret_type, key, ROLE)


def test_secret_through_sql_by_arn(endpoint: str, provider: Boto3Provider, secrets: None) -> None:
    arn = _client(endpoint, "secretsmanager").describe_secret(SecretId="API_KEY")["ARN"]
    sql = f"SELECT get_secret('{arn}', 'SecretString', 'API_KEY_VALUE', 'r') AS k FROM 't'"
    assert _evaluate(sql, b"{}", provider) == {"k": "k-123"}


def test_secret_cache(endpoint: str) -> None:
    client = _client(endpoint, "secretsmanager")
    client.create_secret(Name="rotating", SecretString="v1")
    cached = Boto3Provider(endpoint_url=endpoint, cache_seconds=600)
    fresh = Boto3Provider(endpoint_url=endpoint)
    assert cached.get_secret("rotating", "SecretString", None, ROLE) == "v1"
    client.put_secret_value(SecretId="rotating", SecretString="v2")
    assert cached.get_secret("rotating", "SecretString", None, ROLE) == "v1"
    assert fresh.get_secret("rotating", "SecretString", None, ROLE) == "v2"


# ---- the IoT registry ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def things(endpoint: str) -> None:
    iot = _client(endpoint, "iot")
    iot.create_thing_type(thingTypeName="testenv")
    iot.create_thing(
        thingName="sensor1",
        thingTypeName="testenv",
        attributePayload={"attributes": {"temperature_threhold": "30"}},
    )
    for group in ("floor1", "building"):
        iot.create_thing_group(thingGroupName=group)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName="sensor1")


def test_describe_thing(provider: Boto3Provider, things: None) -> None:
    thing = provider.get_registry_data("DescribeThing", "sensor1", ROLE)
    assert thing["thingName"] == "sensor1"
    assert thing["thingTypeName"] == "testenv"
    assert thing["attributes"] == {"temperature_threhold": "30"}
    assert thing["thingArn"].endswith(":thing/sensor1")
    assert "ResponseMetadata" not in thing


def test_list_thing_groups_for_thing(provider: Boto3Provider, things: None) -> None:
    groups = provider.get_registry_data("ListThingGroupsForThing", "sensor1", ROLE)
    assert sorted(g["groupName"] for g in groups["thingGroups"]) == ["building", "floor1"]
    assert set(groups) == {"thingGroups"}


def test_registry_failures(provider: Boto3Provider, things: None) -> None:
    with pytest.raises(ProviderError, match="iot DescribeThing failed: ResourceNotFound"):
        provider.get_registry_data("DescribeThing", "ghost", ROLE)
    with pytest.raises(ProviderError, match="unknown registry API"):
        provider.get_registry_data("ListThings", "sensor1", ROLE)


def test_registry_through_sql(provider: Boto3Provider, things: None) -> None:
    sql = (
        "SELECT * FROM 't' WHERE "
        "get_registry_data('DescribeThing', clientId, 'r').thingTypeName = 'testenv'"
    )
    assert iotsql.compile(sql).evaluate({"clientId": "sensor1"}, "t", provider=provider)
    with pytest.raises(ProviderError):
        iotsql.compile(sql).evaluate({"clientId": "ghost"}, "t", provider=provider)


def test_thing_groups_are_read_page_by_page() -> None:
    iot = boto3.client("iot", region_name=REGION)
    group = {"groupName": "g", "groupArn": "arn:aws:iot:us-east-1:1:thinggroup/g"}
    with Stubber(iot) as stub:
        stub.add_response(
            "list_thing_groups_for_thing", {"thingGroups": [group], "nextToken": "n1"},
            {"thingName": "t"},
        )  # fmt: skip
        stub.add_response(
            "list_thing_groups_for_thing", {"thingGroups": [group]},
            {"thingName": "t", "nextToken": "n1"},
        )  # fmt: skip
        provider = Boto3Provider(clients={"iot": iot})
        result = provider.get_registry_data("ListThingGroupsForThing", "t", ROLE)
        stub.assert_no_pending_responses()
    assert result == {"thingGroups": [group, group]}


# ---- device shadows (iot-data) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shadows(endpoint: str, things: None) -> None:
    data = _client(endpoint, "iot-data")
    data.update_thing_shadow(
        thingName="sensor1", payload=json.dumps({"state": {"reported": {"alarm": "OFF"}}})
    )
    data.update_thing_shadow(
        thingName="sensor1",
        shadowName="MyThingShadow",
        payload=json.dumps({"state": {"reported": {"alarm": "ON", "t": 21.5}}}),
    )


def test_classic_and_named_shadows(provider: Boto3Provider, shadows: None) -> None:
    classic = provider.get_thing_shadow("sensor1", None, ROLE)
    assert classic["state"] == {"reported": {"alarm": "OFF"}}
    assert "version" in classic and "metadata" in classic
    named = provider.get_thing_shadow("sensor1", "MyThingShadow", ROLE)
    assert named["state"] == {"reported": {"alarm": "ON", "t": 21.5}}


def test_missing_shadow_fails(provider: Boto3Provider, shadows: None) -> None:
    with pytest.raises(ProviderError, match="iot-data GetThingShadow failed: ResourceNotFound"):
        provider.get_thing_shadow("sensor1", "nope", ROLE)


def test_shadow_through_sql(provider: Boto3Provider, shadows: None) -> None:
    sql = (
        "SELECT * FROM 't' WHERE "
        "get_thing_shadow('sensor1', 'MyThingShadow', 'r').state.reported.alarm = 'ON'"
    )
    assert _evaluate(sql, {"v": 1}, provider) == {"v": 1}


def test_iot_data_endpoint_comes_from_describe_endpoint() -> None:
    iot = boto3.client("iot", region_name=REGION)
    with Stubber(iot) as stub:
        stub.add_response(
            "describe_endpoint",
            {"endpointAddress": "abc123-ats.iot.us-east-1.amazonaws.com"},
            {"endpointType": "iot:Data-ATS"},
        )
        provider = Boto3Provider(clients={"iot": iot}, region_name=REGION)
        data = provider.client("iot-data")
        assert provider.client("iot-data") is data
        stub.assert_no_pending_responses()
    assert data.meta.endpoint_url == "https://abc123-ats.iot.us-east-1.amazonaws.com"


# ---- Lambda --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def function_arn(endpoint: str) -> str:
    # moto runs Lambda code in docker; its docker-free backend answers Invoke with the queued
    # results set through the moto API, else with the request payload.
    _moto_api(endpoint, "config", {"lambda": {"use_docker": False}})
    role = _client(endpoint, "iam").create_role(
        RoleName="lambda-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    created = _client(endpoint, "lambda").create_function(
        FunctionName="enrich",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return str(created["FunctionArn"])


def test_lambda_invoke(endpoint: str, provider: Boto3Provider, function_arn: str) -> None:
    assert provider.aws_lambda(function_arn, {"payload": 21}) == {"payload": 21}
    assert provider.aws_lambda("enrich", {"list": [1, "a"]}) == {"list": [1, "a"]}
    _moto_api(endpoint, "static/lambda-simple/response", {"results": ['{"some": {"value": 5}}']})
    sql = f"SELECT aws_lambda('{function_arn}', {{'payload': attribute1}}).some.value AS v FROM 't'"
    assert _evaluate(sql, {"attribute1": 21}, provider) == {"v": 5}


def test_lambda_response_must_be_json(
    endpoint: str, provider: Boto3Provider, function_arn: str
) -> None:
    _moto_api(endpoint, "static/lambda-simple/response", {"results": ["not json"]})
    with pytest.raises(ProviderError, match="did not return JSON"):
        provider.aws_lambda(function_arn, {})


class _RecordingSession:
    """A boto3 session that records the clients made from it."""

    def __init__(self) -> None:
        self.inner = boto3.session.Session(region_name=REGION)
        self.region_name = REGION
        self.made: list[tuple[str, str]] = []

    def client(self, service: str, **options: Any) -> Any:
        self.made.append((service, options["region_name"]))
        return self.inner.client(service, **options)


def test_lambda_is_invoked_in_the_region_of_its_arn(endpoint: str, function_arn: str) -> None:
    session = _RecordingSession()
    provider = Boto3Provider(session=session, endpoint_url=endpoint)
    elsewhere = function_arn.replace(":us-east-1:", ":eu-west-1:")
    assert provider.aws_lambda(elsewhere, {"a": 1}) == {"a": 1}
    assert provider.aws_lambda("enrich", {"a": 2}) == {"a": 2}
    assert session.made == [("lambda", "eu-west-1"), ("lambda", "us-east-1")]


def test_lambda_unknown_function_fails() -> None:
    # moto's docker-free Lambda answers for any name, so the AWS error comes from a Stubber.
    client = boto3.client("lambda", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found: nope")
        provider = Boto3Provider(clients={"lambda": client})
        with pytest.raises(ProviderError, match="lambda Invoke failed: ResourceNotFoundException"):
            provider.aws_lambda("nope", {})


def _body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_lambda_function_error_fails_the_rule() -> None:
    # moto's docker-free Lambda never reports a function error, so this uses a Stubber.
    client = boto3.client("lambda", region_name=REGION)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    error = b'{"errorMessage": "boom", "errorType": "Exception"}'
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _body(error)},
            {"FunctionName": arn, "InvocationType": "RequestResponse", "Payload": b'{"n":1}'},
        )
        provider = Boto3Provider(clients={"lambda": client})
        rule = iotsql.compile(f"SELECT aws_lambda('{arn}', {{'n': n}}) AS r FROM 't'")
        with pytest.raises(ProviderError, match=r"function error \(Unhandled\): .*boom") as caught:
            rule.evaluate({"n": 1}, "t", provider=provider)
        stub.assert_no_pending_responses()
    assert caught.value.function == "aws_lambda"


# ---- Amazon Machine Learning (Stubber: moto has no machinelearning service) ----------------------


def _ml_client(status: str = "READY") -> tuple[Any, Stubber]:
    client = boto3.client("machinelearning", region_name=REGION)
    stub = Stubber(client)
    stub.add_response(
        "get_ml_model",
        {"MLModelId": "ml-1", "EndpointInfo": {"EndpointUrl": "https://realtime.example",
                                               "EndpointStatus": status}},
        {"MLModelId": "ml-1"},
    )  # fmt: skip
    return client, stub


def test_machinelearning_predict_through_sql() -> None:
    client, stub = _ml_client()
    prediction = {
        "predictedLabel": "1",
        "predictedScores": {"1": 0.875},
        "details": {"PredictiveModelType": "BINARY", "Algorithm": "SGD"},
    }
    stub.add_response(
        "predict",
        {"Prediction": prediction},
        {
            "MLModelId": "ml-1",
            "Record": {
                "key1": '{"innerKey1":"value1"}', "key2": "0", "ok": "true", "x": "2.5",
            },
            "PredictEndpoint": "https://realtime.example",
        },
    )  # fmt: skip
    with stub:
        provider = Boto3Provider(clients={"machinelearning": client})
        sql = f"SELECT machinelearning_predict('ml-1', '{ROLE}', *) AS p FROM 't'"
        payload = {"key1": {"innerKey1": "value1"}, "key2": 0, "ok": True, "x": 2.5, "gone": None}
        assert _evaluate(sql, payload, provider) == {"p": prediction}
        stub.assert_no_pending_responses()


def test_machinelearning_needs_a_ready_endpoint() -> None:
    client, stub = _ml_client(status="NONE")
    with stub:
        provider = Boto3Provider(clients={"machinelearning": client})
        with pytest.raises(ProviderError, match="no real-time endpoint ready"):
            provider.machinelearning_predict("ml-1", ROLE, {"a": "1"})


# ---- role assumption -----------------------------------------------------------------------------


def test_assume_role_uses_the_role_credentials(endpoint: str, tables: None) -> None:
    sts = boto3.client("sts", region_name=REGION)
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    credentials = {"AccessKeyId": "ASIAROLEKEY00000000", "SecretAccessKey": "s" * 40,
                   "SessionToken": "token", "Expiration": expires}  # fmt: skip
    with Stubber(sts) as stub:
        stub.add_response(
            "assume_role",
            {"Credentials": credentials},
            {"RoleArn": ROLE, "RoleSessionName": "iotsql-rules-engine"},
        )
        provider = Boto3Provider(endpoint_url=endpoint, clients={"sts": sts}, assume_role=True)
        assert provider.get_dynamodb("Devices", "deviceId", "d1", None, None, ROLE) is not None
        assert provider.get_dynamodb("Devices", "deviceId", "d1", None, None, ROLE) is not None
        stub.assert_no_pending_responses()  # one AssumeRole, then the cached credentials
    client = provider.client("dynamodb", ROLE)
    assert client.meta.endpoint_url == endpoint
    assert client._request_signer._credentials.access_key == "ASIAROLEKEY00000000"


def test_assume_role_failure_is_a_provider_error() -> None:
    sts = boto3.client("sts", region_name=REGION)
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", "not allowed")
        provider = Boto3Provider(clients={"sts": sts}, assume_role=True)
        with pytest.raises(ProviderError, match="sts AssumeRole failed: AccessDenied: not allowed"):
            provider.get_secret("s", "SecretString", None, ROLE)


# ---- protobuf descriptors in S3 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bucket(endpoint: str) -> str:
    s3 = _client(endpoint, "s3")
    s3.create_bucket(Bucket="protos")
    s3.put_object(Bucket="protos", Key="huge.desc", Body=b"\x00" * (32 * 1024 + 1))
    if HAS_PROTOBUF:
        descriptor_set, _ = _person_descriptor()
        s3.put_object(Bucket="protos", Key="person.desc", Body=descriptor_set)
    else:
        s3.put_object(Bucket="protos", Key="person.desc", Body=b"\x0a\x00")
    return "protos"


def test_descriptor_errors(provider: Boto3Provider, bucket: str) -> None:
    with pytest.raises(ProviderError, match="s3 GetObject failed: NoSuchKey"):
        provider.decode_protobuf(b"", bucket, "absent.desc", "person", "Person")
    with pytest.raises(ProviderError, match="over 32768 bytes"):
        provider.decode_protobuf(b"", bucket, "huge.desc", "person", "Person")


def test_protobuf_is_an_optional_dependency(
    provider: Boto3Provider, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without protobuf (hidden here when it is installed, as in CI), a proto decode fails with
    the package to install."""
    if HAS_PROTOBUF:
        # None in sys.modules: importing the module raises ModuleNotFoundError.
        monkeypatch.setitem(sys.modules, "google.protobuf.json_format", None)
    with pytest.raises(ProviderError, match=r"optional protobuf package \(pip install protobuf\)"):
        provider.decode_protobuf(b"\x08\x01", bucket, "person.desc", "person", "Person")


def _person_descriptor() -> tuple[bytes, Any]:
    """A FileDescriptorSet for `package demo; message Person {string name = 1; int32 id = 2;
    int64 big_number = 3; repeated string emails = 4;}` in person.proto, and the Person class."""
    descriptor_pb2 = importlib.import_module("google.protobuf.descriptor_pb2")
    descriptor_pool = importlib.import_module("google.protobuf.descriptor_pool")
    message_factory = importlib.import_module("google.protobuf.message_factory")

    file_proto = descriptor_pb2.FileDescriptorProto(name="person.proto", package="demo",
                                                    syntax="proto3")  # fmt: skip
    message = file_proto.message_type.add(name="Person")
    fields = [("name", 1, "TYPE_STRING", "LABEL_OPTIONAL"),
              ("id", 2, "TYPE_INT32", "LABEL_OPTIONAL"),
              ("big_number", 3, "TYPE_INT64", "LABEL_OPTIONAL"),
              ("emails", 4, "TYPE_STRING", "LABEL_REPEATED")]  # fmt: skip
    for name, number, kind, label in fields:
        message.field.add(
            name=name,
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.Type.Value(kind),
            label=descriptor_pb2.FieldDescriptorProto.Label.Value(label),
            json_name="".join(
                p if i == 0 else p.capitalize() for i, p in enumerate(name.split("_"))
            ),
        )
    descriptor_set = descriptor_pb2.FileDescriptorSet(file=[file_proto]).SerializeToString()
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    person = message_factory.GetMessageClass(pool.FindMessageTypeByName("demo.Person"))
    return descriptor_set, person


@pytest.mark.skipif(
    not HAS_PROTOBUF and not os.environ.get("IOTSQL_CI"),
    reason="decoding needs the optional protobuf package: pip install protobuf (in the dev extra)",
)
def test_protobuf_decoding(provider: Boto3Provider, bucket: str) -> None:
    _, person = _person_descriptor()
    data = person(name="Ada", id=7, big_number=2**40, emails=["a@x", "b@x"]).SerializeToString()
    assert provider.decode_protobuf(data, bucket, "person.desc", "person", "Person") == {
        "name": "Ada",
        "id": 7,
        "bigNumber": str(2**40),
        "emails": ["a@x", "b@x"],
    }
    assert provider.decode_protobuf(data, bucket, "person.desc", "person.proto", "demo.Person")[
        "name"
    ] == "Ada"  # fmt: skip
    with pytest.raises(ProviderError, match="no message type Nobody"):
        provider.decode_protobuf(data, bucket, "person.desc", "person", "Nobody")
    with pytest.raises(ProviderError, match=r"has no file other\.proto"):
        provider.decode_protobuf(data, bucket, "person.desc", "other", "Person")
    with pytest.raises(ProviderError, match=r"not a valid person\.Person message"):
        provider.decode_protobuf(b"\xff\xff\xff", bucket, "person.desc", "person", "Person")
