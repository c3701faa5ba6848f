"""The InfluxDB action (influxdb-rule-action.md): its request shape, validated at creation, the
line protocol written for the documented examples, per-element `@{...}` templates and where
CreateTopicRule refuses them, the conversion table, the failures that go to the error action,
and `InfluxDBSink` writing to an HTTP endpoint that speaks InfluxDB's v2 write API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import iotsql
from iotsql.actions.influxdb import InfluxDBActionError, InfluxDBDestination, InfluxDBSink
from iotsql.actions.recording import RecordingSink

ROLE = "arn:aws:iam::111122223333:role/iot-influxdb-role"
DESTINATION = "arn:aws:iot:us-west-2:111122223333:ruledestination/influxdb/a1b2c3d4"


def influx(**fields: Any) -> dict[str, Any]:
    params = {"destinationArn": DESTINATION, "roleArn": ROLE, "databaseName": "sensor_data",
              "tableName": "device_metrics", **fields}  # fmt: skip
    return {"influxDB": params}


def engine_with(sql: str, action: dict[str, Any], **extra: Any) -> iotsql.RulesEngine:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Influx", {"sql": sql, "awsIotSqlVersion": "2016-03-23",
                                        "actions": [action], **extra})  # fmt: skip
    return engine


def lines(engine: iotsql.RulesEngine, topic: str, body: bytes, context: Any = None) -> list[str]:
    report = engine.publish(topic, body, context)
    assert report.failures == [], report.failures
    request = engine.recorder["influxDB"].requests[-1]
    assert request.payload == "\n".join(request.request["lines"]).encode()
    return list(request.request["lines"])


# ---- the documented examples ---------------------------------------------------------------------


def test_the_rule_action_example() -> None:
    engine = engine_with("SELECT * FROM 'devices/+/telemetry'", influx(
        organization="my-org", timestampUnit="ms",
        tags={"device_id": "${clientid()}", "location": "building-a"},
    ))  # fmt: skip
    body = (b'{"timestamp": 1700000000000, "temperature": 23.5, "humidity": 60.1, '
            b'"pressure": 1013.25, "battery_level": 87}')  # fmt: skip
    assert lines(engine, "devices/d/telemetry", body, {"clientid": "myDevice123"}) == [
        "device_metrics,device_id=myDevice123,location=building-a temperature=23.5,"
        "humidity=60.1,pressure=1013.25,battery_level=87i 1700000000000"
    ]
    request = engine.recorder["influxDB"].requests[-1].request
    assert (request["service"], request["databaseName"], request["organization"],
            request["precision"]) == ("influxdb", "sensor_data", "my-org", "ms")  # fmt: skip


ARRAY = (
    b'[{"measurement_type": "temperature", "room": "kitchen", "value": 5, '
    b'"timestamp": 1700000000000}, {"measurement_type": "humidity", "room": "bedroom", '
    b'"value": 15, "timestamp": 1700000001000}]'
)
PER_ELEMENT = ["temperature,location=kitchen value=5i 1700000000000",
               "humidity,location=bedroom value=15i 1700000001000"]  # fmt: skip


def test_the_per_element_template_example() -> None:
    action = influx(tableName="@{measurement_type}", tags={"location": "@{room}"})
    assert lines(engine_with("SELECT * FROM 'iot/topic'", action), "iot/topic", ARRAY) == (
        PER_ELEMENT
    )


def test_per_element_templates_read_the_sql_output_not_the_published_payload() -> None:
    action = influx(tableName="@{measurement_type}",
                    tags={"location": "@{room}", "device": "@{device_id}"})  # fmt: skip
    engine = engine_with("SELECT VALUE readings FROM 'iot/topic'", action)
    body = b'{"device_id": "sensor-1", "readings": ' + ARRAY + b"}"
    # device_id is not in the produced elements: the tag is empty and left out.
    assert lines(engine, "iot/topic", body) == PER_ELEMENT
    renamed = influx(tableName="@{kind}", tags={"location": "@{location_name}"})
    engine = engine_with("SELECT measurement_type AS kind, room AS location_name, value, "
                         "timestamp FROM 'iot/one'", renamed)  # fmt: skip
    one = b'{"measurement_type": "temperature", "room": "kitchen", "value": 5, "timestamp": 7}'
    assert lines(engine, "iot/one", one) == ["temperature,location=kitchen value=5i 7"]


def test_the_client_batched_example_mixes_message_and_element_scope() -> None:
    action = influx(organization="my-org", timestampUnit="ns", tableName="@{measurement_type}",
                    tags={"sensor_id": "@{sensor_id}", "location": "${topic(2)}"})  # fmt: skip
    body = (
        b'[{"measurement_type": "temperature", "sensor_id": "sensor-42", '
        b'"timestamp": 1700000000000000000, "value": 23.5}, {"measurement_type": "humidity", '
        b'"sensor_id": "sensor-42", "timestamp": 1700000001000000000, "value": 60.1}, '
        b'{"measurement_type": "pressure", "sensor_id": "sensor-43", '
        b'"timestamp": 1700000002000000000, "value": 1013.25}]'
    )
    engine = engine_with("SELECT * FROM 'devices/+/telemetry'", action)
    assert lines(engine, "devices/floor3/telemetry", body) == [
        "temperature,location=floor3,sensor_id=sensor-42 value=23.5 1700000000000000000",
        "humidity,location=floor3,sensor_id=sensor-42 value=60.1 1700000001000000000",
        "pressure,location=floor3,sensor_id=sensor-43 value=1013.25 1700000002000000000",
    ]
    assert engine.recorder["influxDB"].requests[-1].request["precision"] == "ns"


# ---- record content ------------------------------------------------------------------------------


def test_the_conversion_table_and_escapes() -> None:
    action = influx(tableName="my table,1", tags={"site name": "a=b, c", "empty": "${absent}"})
    engine = engine_with("SELECT * FROM 't'", action)
    body = (b'{"timestamp": 5, "i": 42, "big": 9223372036854775808, "f": 2.5, "yes": true, '
            b'"no": false, "s": "say \\"hi\\" \\\\ ok", "none": null, "o": {"a": 1}, '
            b'"arr": [1, "x"], "k=y z": 1}')  # fmt: skip
    (line,) = lines(engine, "t", body)
    assert line == (
        "my\\ table\\,1,site\\ name=a\\=b\\,\\ c i=42i,big=9223372036854775808u,f=2.5,yes=t,"
        'no=f,s="say \\"hi\\" \\\\ ok",o="{\\"a\\":1}",arr="[1,\\"x\\"]",k\\=y\\ z=1i 5'
    )


def test_attributes_named_by_templates_are_not_fields() -> None:
    action = influx(tableName="${kind}", tags={"room": "${upper(room)}", "id": "@{meta.id}"})
    engine = engine_with("SELECT * FROM 't'", action)
    body = b'{"timestamp": 1, "kind": "env", "room": "lab", "meta": {"id": "m1", "v": 2}, "t": 3}'
    assert lines(engine, "t", body) == ['env,id=m1,room=LAB meta="{\\"v\\":2}",t=3i 1']


@pytest.mark.parametrize(("body", "error"), [
    (b'{"value": 1}', "no timestamp"),
    (b'{"value": 1, "timestamp": "2024-01-01"}', "is not an integer"),
    (b'{"value": 1, "timestamp": 1.5}', "is not an integer"),
    (b'{"timestamp": 1}', "no valid fields"),
    (b'{"timestamp": 1, "n": null}', "no valid fields"),
    (b'{"timestamp": 1, "_x": 1}', "field key '_x'"),
    (b'{"timestamp": 1, "n": 18446744073709551616}', "out of range"),
    (b'[{"timestamp": 1, "v": 1}, 3]', "element 1 is not a JSON object"),
    (b"[]", "empty array"),
    (b"\x00\x01binary", "does not support binary payloads"),
])  # fmt: skip
def test_invalid_points_fail_the_action_and_reach_the_error_action(body: bytes, error: str) -> None:
    engine = engine_with("SELECT * FROM 't'", influx(),
                         errorAction={"s3": {"roleArn": ROLE, "bucketName": "e", "key": "k"}})  # fmt: skip
    (failure,) = engine.publish("t", body).failures
    assert error in (failure.error or "")
    (document,) = engine.recorder["s3"].bodies
    assert document["failures"][0]["failedAction"] == "InfluxDBAction"
    assert document["failures"][0]["failedResource"] == "device_metrics"


def test_more_than_250_columns_fail() -> None:
    engine = engine_with("SELECT * FROM 't'", influx())
    fields = ", ".join(f'"f{i}": {i}' for i in range(251))
    (failure,) = engine.publish("t", ("{" + fields + ', "timestamp": 1}').encode()).failures
    assert "exceed the column limit: more than 250 columns" in (failure.error or "")


def test_as_the_error_action_the_error_document_is_one_point() -> None:
    engine = iotsql.RulesEngine()
    engine.register_sink("sqs", RecordingSink(fail_with="down"))
    engine.create_topic_rule("R", {"sql": "SELECT * FROM 'e/+'", "actions": [
        {"sqs": {"queueUrl": "https://q", "roleArn": ROLE}}],
        "errorAction": influx(tableName="rule_errors", tags={"device": "${topic(2)}"})})  # fmt: skip
    engine.publish("e/d1", b"{}", {"clientid": "c1", "timestamp": 1_700_000_000_123})
    (request,) = engine.recorder["influxDB"].requests
    (line,) = request.request["lines"]
    assert line.startswith('rule_errors,device=d1 ruleName="R",topic="e/d1",')
    assert ',clientId="c1",' in line and ",failures=" in line
    assert line.endswith(" 1700000000123")


# ---- CreateTopicRule -----------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "field", "message"), [
    ({"republish": {"topic": "out/@{room}", "roleArn": ROLE}},
     "topicRulePayload.actions[0].republish.topic", "only in the InfluxDB action"),
    ({"sqs": {"queueUrl": "https://q/@{room}", "roleArn": ROLE}},
     "topicRulePayload.actions[0].sqs.queueUrl", "only in the InfluxDB action"),
    (influx(databaseName="db_@{room}"),
     "topicRulePayload.actions[0].influxDB.databaseName", "only in the InfluxDB action"),
    (influx(tags={"@{room}": "x"}),
     "topicRulePayload.actions[0].influxDB.tags.@{room}", "only in the InfluxDB action"),
    (influx(tableName="@{a}_@{b}"),
     "topicRulePayload.actions[0].influxDB.tableName", "at most one"),
    (influx(tags={"t": "@{room}-${topic()}"}),
     "topicRulePayload.actions[0].influxDB.tags.t", "cannot mix"),
    (influx(tableName="@{upper(room)}"),
     "topicRulePayload.actions[0].influxDB.tableName", "names one field"),
    (influx(tableName="@{1}"),
     "topicRulePayload.actions[0].influxDB.tableName", "names one field"),
])  # fmt: skip
def test_element_templates_outside_influxdb_table_and_tag_values_are_refused(
    action: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(iotsql.RuleValidationError) as info:
        engine_with("SELECT * FROM 't'", action)
    assert info.value.field == field and message in str(info.value)
    assert info.value.code == "InvalidRequestException"


def test_element_templates_are_refused_in_the_error_action_even_influxdb() -> None:
    with pytest.raises(iotsql.RuleValidationError) as info:
        engine_with("SELECT * FROM 't'", influx(),
                    errorAction=influx(tableName="@{measurement_type}"))  # fmt: skip
    assert info.value.field == "topicRulePayload.errorAction.influxDB.tableName"


@pytest.mark.parametrize(("fields", "field"), [
    ({"databaseName": None}, "topicRulePayload.actions[0].influxDB.databaseName"),
    ({"databaseName": "_internal"}, "topicRulePayload.actions[0].influxDB.databaseName"),
    ({"tableName": "_t"}, "topicRulePayload.actions[0].influxDB.tableName"),
    ({"timestampUnit": "minutes"}, "topicRulePayload.actions[0].influxDB.timestampUnit"),
    ({"batchConfig": {"maxBatchSize": 501}},
     "topicRulePayload.actions[0].influxDB.batchConfig.maxBatchSize"),
    ({"batchConfig": {"maxBatchOpenMs": 4}},
     "topicRulePayload.actions[0].influxDB.batchConfig.maxBatchOpenMs"),
    ({"organization": ""}, "topicRulePayload.actions[0].influxDB.organization"),
    ({"measurement": "m"}, "topicRulePayload.actions[0].influxDB.measurement"),
])  # fmt: skip
def test_the_request_shape_is_validated(fields: dict[str, Any], field: str) -> None:
    params = {k: v for k, v in influx(**fields)["influxDB"].items() if v is not None}
    with pytest.raises(iotsql.RuleValidationError) as info:
        engine_with("SELECT * FROM 't'", {"influxDB": params})
    assert info.value.field == field


def test_a_full_action_with_batching_is_accepted_and_carried_in_the_request() -> None:
    batch = {"maxBatchSize": 50, "maxBatchOpenMs": 1000, "maxBatchSizeBytes": 65536,
             "batchAcrossTopics": False}  # fmt: skip
    engine = engine_with("SELECT * FROM 't'", influx(organization="o", batchConfig=batch,
                                                     timestampUnit="s"))  # fmt: skip
    lines(engine, "t", b'{"timestamp": 1700000000, "v": 1.0}')
    assert engine.recorder["influxDB"].requests[-1].request["batchConfig"] == batch


def test_cloudformation_spells_it_influxdb() -> None:
    template = {"Resources": {"R": {"Type": "AWS::IoT::TopicRule", "Properties": {
        "TopicRulePayload": {"Sql": "SELECT * FROM 't'", "AwsIotSqlVersion": "2016-03-23",
                             "Actions": [{"InfluxDB": {
                                 "DestinationArn": DESTINATION, "RoleArn": ROLE,
                                 "DatabaseName": "db", "TableName": "@{kind}",
                                 "Tags": {"room": "@{room}"}}}]}}}}}  # fmt: skip
    (rule,) = iotsql.load_rules(template)
    assert rule.payload["actions"][0]["influxDB"]["tags"] == {"room": "@{room}"}


# ---- the sink ------------------------------------------------------------------------------------


class _Influx(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, list[str]], dict[str, str], bytes]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        url = urlsplit(self.path)
        self.seen.append((url.path, parse_qs(url.query), dict(self.headers.items()), body))
        if parse_qs(url.query).get("bucket") == ["missing"]:
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"code":"not found","message":"bucket not found"}')
            return
        self.send_response(204)
        self.end_headers()


@pytest.fixture(scope="module")
def influx_endpoint() -> Iterator[tuple[str, list[Any]]]:
    seen: list[Any] = []
    handler = type("Handler", (_Influx,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_the_sink_writes_line_protocol_through_the_v2_write_api(
    influx_endpoint: tuple[str, list[Any]],
) -> None:
    url, seen = influx_endpoint
    seen.clear()
    sink = InfluxDBSink({DESTINATION: InfluxDBDestination(url, "secret-token", "V2")})
    engine = engine_with("SELECT * FROM 'iot/topic'", influx(
        organization="my-org", tableName="@{measurement_type}", tags={"location": "@{room}"}))  # fmt: skip
    engine.register_sink("influxDB", sink)
    assert engine.publish("iot/topic", ARRAY).failures == []
    ((path, query, headers, body),) = seen
    assert path == "/api/v2/write"
    assert query == {"bucket": ["sensor_data"], "org": ["my-org"], "precision": ["ms"]}
    assert headers["Authorization"] == "Token secret-token"
    assert body.decode().splitlines() == PER_ELEMENT


def test_the_sink_reports_influxdb_refusals_and_unknown_destinations(
    influx_endpoint: tuple[str, list[Any]],
) -> None:
    url, seen = influx_endpoint
    v3 = InfluxDBSink(InfluxDBDestination(url, "t3", "V3"))
    engine = engine_with("SELECT * FROM 't'", influx(databaseName="missing", organization="o"),
                         errorAction={"s3": {"roleArn": ROLE, "bucketName": "e", "key": "k"}})  # fmt: skip
    engine.register_sink("influxDB", v3)
    (failure,) = engine.publish("t", b'{"timestamp": 1, "v": 1}').failures
    assert "StatusCode: 404" in (failure.error or "") and "bucket not found" in (
        failure.error or ""
    )
    assert "org" not in seen[-1][1]  # InfluxDB 3 has no organizations
    with pytest.raises(InfluxDBActionError, match="does not exist"):
        InfluxDBSink({}).destination(DESTINATION)
