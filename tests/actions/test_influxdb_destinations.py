"""InfluxDB topic rule destinations (influxdb-rule-action.md, "InfluxDB action destination";
botocore's InfluxDBDestinationConfiguration/Properties/Summary): CreateTopicRuleDestination,
Get and List through the IoT API, the endpoint rules (HTTPS, ports 443, 8443, 8086, 8181),
the endpoint ownership validation that makes a destination ENABLED or ERROR, and the rules
engine refusing an InfluxDB action whose destination is missing or not ENABLED once
destinations are enforced, as it refuses an HTTP action."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import iotsql
from iotsql import topic_rule_api
from iotsql.actions.influxdb import InfluxDBActionError, validate_ownership
from iotsql.topic_rule_destinations import TopicRuleDestination

ROLE = "arn:aws:iam::111122223333:role/iot-influxdb-role"
#: The page's CreateTopicRuleDestination example.
EXAMPLE = {
    "endpoint": "https://my-instance.timestream-influxdb.us-west-2.amazonaws.com:8086",
    "influxDBVersion": "V2",
    "secretId": "arn:aws:secretsmanager:us-west-2:111122223333:secret:my-influxdb-credentials-AbCdEf",
}


def create(engine: iotsql.RulesEngine, **configuration: Any) -> dict[str, Any]:
    request = {"destinationConfiguration": {"influxDBConfiguration": configuration}}
    answer = topic_rule_api.handle(engine, "CreateTopicRuleDestination", request)
    return dict(answer["topicRuleDestination"])


def test_the_documented_destination_is_created_and_returned_as_the_model_says() -> None:
    engine = iotsql.RulesEngine(region="us-west-2", account_id="111122223333")
    made = create(engine, **EXAMPLE)
    assert made["arn"].startswith("arn:aws:iot:us-west-2:111122223333:ruledestination/influxdb/")
    assert made["status"] == "ENABLED"
    assert made["influxDBProperties"] == EXAMPLE
    got = topic_rule_api.handle(engine, "GetTopicRuleDestination", {"arn": made["arn"]})
    assert got["topicRuleDestination"]["influxDBProperties"] == EXAMPLE
    (summary,) = topic_rule_api.handle(engine, "ListTopicRuleDestinations", {})[
        "destinationSummaries"
    ]
    assert summary["influxDBSummary"] == EXAMPLE and "httpUrlSummary" not in summary
    full = {**EXAMPLE, "influxDBVersion": "V3", "secretType": "SecretBinary", "secretKey": "token",
            "endpoint": "https://db.example.com:8181"}  # fmt: skip
    assert create(engine, **full)["influxDBProperties"] == full


@pytest.mark.parametrize("endpoint", ["https://db.example.com", "https://db.example.com:443",
                                      "https://db.example.com:8443/", "https://db.example.com:8086",
                                      "https://db.example.com:8181"])  # fmt: skip
def test_the_supported_ports(endpoint: str) -> None:
    assert create(iotsql.RulesEngine(), **{**EXAMPLE, "endpoint": endpoint})["status"] == "ENABLED"


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"endpoint": "http://db.example.com:8086"}, "endpoint", "HTTP is not supported"),
    ({"endpoint": "https://db.example.com:9999"}, "endpoint", "port 9999 is not supported"),
    ({"endpoint": "https://db.example.com:80"}, "endpoint", "port 80 is not supported"),
    ({"endpoint": "ftp://db.example.com"}, "endpoint", "unsupported URL scheme"),
    ({"endpoint": "https://"}, "endpoint", "host"),
    ({"endpoint": "https://h/" + "a" * 2000}, "endpoint", "1 to 2000 characters"),
    ({"endpoint": None}, "endpoint", "is required"),
    ({"influxDBVersion": "V1"}, "influxDBVersion", "one of V2, V3"),
    ({"influxDBVersion": None}, "influxDBVersion", "one of V2, V3"),
    ({"secretId": ""}, "secretId", "is required"),
    ({"secretId": "s" * 513}, "secretId", "1 to 512 characters"),
    ({"secretKey": "k" * 129}, "secretKey", "1 to 128 characters"),
    ({"secretType": "Plain"}, "secretType", "one of SecretString, SecretBinary"),
    ({"token": "t"}, "", "unknown member 'token'"),
])  # fmt: skip
def test_an_invalid_configuration_is_an_invalid_request(
    change: dict[str, Any], field: str, message: str
) -> None:
    configuration = {k: v for k, v in {**EXAMPLE, **change}.items() if v is not None}
    engine = iotsql.RulesEngine()
    with pytest.raises(iotsql.IotSqlError) as info:
        create(engine, **configuration)
    assert (info.value.code, info.value.http_status) == ("InvalidRequestException", 400)
    where = "destinationConfiguration.influxDBConfiguration" + (f".{field}" if field else "")
    assert where in str(info.value) and message in str(info.value)
    assert engine.destinations.list() == []


def test_one_configuration_kind_at_a_time() -> None:
    with pytest.raises(iotsql.RuleValidationError, match="exactly one of"):
        iotsql.RulesEngine().destinations.create({
            "influxDBConfiguration": EXAMPLE,
            "httpUrlConfiguration": {"confirmationUrl": "https://h.example.com/"}})  # fmt: skip


# ---- endpoint ownership validation ---------------------------------------------------------------


class _Influx(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        self.seen.append(("GET", self.path, auth))
        self.send_response(200 if auth == "Token good" else 401)
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture(scope="module")
def influx_endpoint() -> Iterator[tuple[str, list[Any]]]:
    seen: list[Any] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Influx,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("version", "path"), [("V2", "/api/v2/me"),
                                               ("V3", "/api/v3/configure/database")])  # fmt: skip
def test_ownership_validation_makes_the_documented_request(
    influx_endpoint: tuple[str, list[Any]], version: str, path: str
) -> None:
    url, seen = influx_endpoint
    seen.clear()
    assert validate_ownership(url, version, "good")["status"] == 200
    with pytest.raises(InfluxDBActionError, match=f"GET {path} failed. StatusCode: 401"):
        validate_ownership(url, version, "stale")
    assert seen == [("GET", path, "Token good"), ("GET", path, "Token stale")]


def test_a_failed_validation_is_error_and_in_progress_validates_again(
    influx_endpoint: tuple[str, list[Any]],
) -> None:
    url, _ = influx_endpoint
    tokens = {EXAMPLE["secretId"]: "stale"}  # what Secrets Manager holds

    def validate(destination: TopicRuleDestination) -> None:
        config = destination.influxdb or {}
        validate_ownership(url, config["influxDBVersion"], tokens[config["secretId"]])

    engine = iotsql.RulesEngine()
    engine.destinations.validate_influxdb = validate
    made = create(engine, **EXAMPLE)
    assert made["status"] == "ERROR"
    assert made["statusReason"] == (
        "Endpoint ownership validation failed: GET /api/v2/me failed. StatusCode: 401"
    )
    tokens[EXAMPLE["secretId"]] = "good"  # the secret is fixed; validation is retried
    with pytest.raises(iotsql.IotSqlError) as info:
        topic_rule_api.handle(engine, "UpdateTopicRuleDestination",
                              {"arn": made["arn"], "status": "ENABLED"})  # fmt: skip
    assert (info.value.code, info.value.http_status) == ("ConflictingResourceUpdateException", 409)
    topic_rule_api.handle(engine, "UpdateTopicRuleDestination",
                          {"arn": made["arn"], "status": "IN_PROGRESS"})  # fmt: skip
    got = topic_rule_api.handle(engine, "GetTopicRuleDestination", {"arn": made["arn"]})
    assert got["topicRuleDestination"]["status"] == "ENABLED"
    assert "statusReason" not in got["topicRuleDestination"]


# ---- the rules engine ----------------------------------------------------------------------------


def influx_rule(engine: iotsql.RulesEngine, name: str, arn: str, **extra: Any) -> None:
    engine.create_topic_rule(name, {"sql": "SELECT * FROM 't'", "actions": [{"influxDB": {
        "destinationArn": arn, "roleArn": ROLE, "databaseName": "db", "tableName": "m",
        "organization": "o"}}], **extra})  # fmt: skip


def test_an_influxdb_action_writes_only_through_an_enabled_destination() -> None:
    engine = iotsql.RulesEngine(require_destinations=True)
    made = engine.destinations.create({"influxDBConfiguration": EXAMPLE})
    missing = made.arn.rsplit("/", 1)[0] + "/missing"
    http = engine.destinations.create(
        {"httpUrlConfiguration": {"confirmationUrl": "https://h.example.com/"}}
    )
    influx_rule(engine, "Good", made.arn)
    influx_rule(engine, "Missing", missing,
                errorAction={"s3": {"roleArn": ROLE, "bucketName": "e", "key": "k"}})  # fmt: skip
    influx_rule(engine, "NotInflux", http.arn)
    body = b'{"timestamp": 1, "v": 1}'
    actions = {r.rule_name: r.actions[0] for r in engine.publish("t", body).rules}
    assert actions["Good"].ok
    assert actions["Missing"].error == (
        f"InfluxDBAction failed: the topic rule destination {missing} does not exist; create it "
        "with CreateTopicRuleDestination (influxDBConfiguration)"
    )
    assert "does not exist" in (actions["NotInflux"].error or "")
    (document,) = engine.recorder["s3"].bodies
    assert document["failures"][0]["failedAction"] == "InfluxDBAction"
    assert len(engine.recorder["influxDB"].requests) == 1

    engine.destinations.update(made.arn, "DISABLED")
    action = engine.publish("t", body).rules[0].actions[0]
    assert action.error == (
        f"InfluxDBAction failed: the topic rule destination {made.arn} is DISABLED, not "
        "ENABLED; enable it with UpdateTopicRuleDestination"
    )
    engine.destinations.update(made.arn, "ENABLED")
    assert engine.publish("t", body).rules[0].actions[0].ok


def test_by_default_the_check_starts_with_the_first_destination_as_for_http() -> None:
    engine = iotsql.RulesEngine()
    arn = "arn:aws:iot:us-east-1:123456789012:ruledestination/influxdb/unknown"
    influx_rule(engine, "R", arn)
    body = b'{"timestamp": 1, "v": 1}'
    assert engine.publish("t", body, report=False) is None  # the quiet path, unchecked
    assert len(engine.recorder["influxDB"].requests) == 1
    engine.destinations.create({"influxDBConfiguration": EXAMPLE})
    engine.publish("t", body, report=False)  # the quiet plan is made again, with the check
    assert len(engine.recorder["influxDB"].requests) == 1
    assert "does not exist" in (engine.publish("t", body).rules[0].actions[0].error or "")
    engine.destinations.required = False
    assert engine.publish("t", body).rules[0].actions[0].ok
