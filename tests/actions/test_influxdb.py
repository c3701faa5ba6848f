"""The InfluxDB action (influxdb-rule-action.md): its request shape, validated at creation, the
line protocol written for the documented examples, per-element `@{...}` templates and where
CreateTopicRule refuses them, the conversion table, the failures that go to the error action,
and `InfluxDBSink` writing to an HTTP endpoint that speaks InfluxDB's v2 write API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import iotsql
from iotsql import topic_rule_api
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
    """Examples, "InfluxDB rule action": the documented CreateTopicRule request as it is."""
    engine = iotsql.RulesEngine()
    topic_rule_api.handle(engine, "CreateTopicRule", {"ruleName": "Influx", "topicRulePayload": {
        "sql": "SELECT * FROM 'devices/+/telemetry'", "ruleDisabled": False,
        "awsIotSqlVersion": "2016-03-23", "actions": [{"influxDB": {
            "destinationArn": DESTINATION, "roleArn": ROLE, "organization": "my-org",
            "databaseName": "sensor_data", "tableName": "device_metrics",
            "tags": {"device_id": "${clientid()}", "location": "building-a"},
            "timestampUnit": "ms"}}]}})  # fmt: skip
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


#: The client-batched example of influxdb-rule-action.md: three readings in one array.
CLIENT_BATCHED_BODY = (
    b'[{"measurement_type": "temperature", "sensor_id": "sensor-42", '
    b'"timestamp": 1700000000000000000, "value": 23.5}, {"measurement_type": "humidity", '
    b'"sensor_id": "sensor-42", "timestamp": 1700000001000000000, "value": 60.1}, '
    b'{"measurement_type": "pressure", "sensor_id": "sensor-43", '
    b'"timestamp": 1700000002000000000, "value": 1013.25}]'
)


def client_batched_action() -> dict[str, Any]:
    """The client-batched example's action: per-element table and sensor tag, the topic's
    location tag."""
    return influx(organization="my-org", timestampUnit="ns", tableName="@{measurement_type}",
                  tags={"sensor_id": "@{sensor_id}", "location": "${topic(2)}"})  # fmt: skip


def test_the_client_batched_example_mixes_message_and_element_scope() -> None:
    action = client_batched_action()
    body = CLIENT_BATCHED_BODY
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
    (b'{"value": 1, "Timestamp": 1, "ts": 1, "time": 1}', "no timestamp"),  # no alias
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


# ---- the current page's examples (influxdb-rule-action.md) ---------------------------------------


def test_the_per_element_section_example() -> None:
    """Per-element templates for array payloads, Example: `room` becomes a tag, so `value` is
    the only field."""
    action = influx(tableName="@{measurement_type}", tags={"room": "@{room}"}, timestampUnit="ms")
    action["influxDB"]["destinationArn"] = (
        "arn:aws:iot:us-west-2:111122223333:ruledestination/influxdb/abc123"
    )
    body = (b'[{"measurement_type": "temperature", "room": "kitchen", "timestamp": 1700000000000, '
            b'"value": 23.5}, {"measurement_type": "humidity", "room": "bedroom", '
            b'"timestamp": 1700000001000, "value": 60.1}]')  # fmt: skip
    assert lines(engine_with("SELECT * FROM 'iot/topic'", action), "iot/topic", body) == [
        "temperature,room=kitchen value=23.5 1700000000000",
        "humidity,room=bedroom value=60.1 1700000001000",
    ]


def test_the_combined_batching_example_writes_the_documented_points() -> None:
    """Combined client-side and server-side batching: iotsql writes each message as it comes
    (batchConfig is carried, not performed), so the points are those of the page's batch
    write, each message's in its own order."""
    batch = {"maxBatchSize": 100, "maxBatchOpenMs": 500, "maxBatchSizeBytes": 65536,
             "batchAcrossTopics": True}  # fmt: skip
    action = influx(tableName="@{measurement_type}", batchConfig=batch, timestampUnit="ms",
                    tags={"device_id": "${topic(2)}", "floor": "@{floor}"})  # fmt: skip
    engine = engine_with("SELECT * FROM 'devices/+/telemetry'", action)
    device_a = (
        b'[{"measurement_type": "temperature", "floor": "1", "timestamp": 1700000000000, '
        b'"value": 22.1}, {"measurement_type": "temperature", "floor": "2", '
        b'"timestamp": 1700000000100, "value": 23.4}, {"measurement_type": "humidity", '
        b'"floor": "1", "timestamp": 1700000000200, "value": 55.0}]'
    )
    device_b = (
        b'[{"measurement_type": "temperature", "floor": "3", "timestamp": 1700000000050, '
        b'"value": 21.8}, {"measurement_type": "humidity", "floor": "3", '
        b'"timestamp": 1700000000150, "value": 62.3}]'
    )
    written = lines(engine, "devices/deviceA/telemetry", device_a)
    written += lines(engine, "devices/deviceB/telemetry", device_b)
    documented = [
        "temperature,device_id=deviceB,floor=3 value=21.8 1700000000050",
        "temperature,device_id=deviceA,floor=1 value=22.1 1700000000000",
        "temperature,device_id=deviceA,floor=2 value=23.4 1700000000100",
        "humidity,device_id=deviceB,floor=3 value=62.3 1700000000150",
        "humidity,device_id=deviceA,floor=1 value=55.0 1700000000200",
    ]
    assert sorted(written) == sorted(documented)
    assert written == [documented[i] for i in (1, 2, 4, 0, 3)]  # each message in its order
    assert engine.recorder["influxDB"].requests[-1].request["batchConfig"] == batch


# ---- record content: escapes, names, timestamps --------------------------------------------------


def test_every_line_protocol_special_character_in_names_and_tag_values() -> None:
    special = " ,=\"\\#\t'ü🚀"
    action = influx(tableName="m${t}", tags={f"k{special}": "${t}", "tail": "${tail}"})
    engine = engine_with("SELECT * FROM 't'", action)
    payload = {"timestamp": 1, "t": special, "tail": "C:\\", f"f{special}": special}
    (line,) = lines(engine, "t", json.dumps(payload).encode())
    # Backslashes doubled everywhere (InfluxDB reads two as one, so `C:\` cannot escape the
    # space after it); commas and spaces escaped, equals signs too but in the measurement;
    # quotes and backslashes escaped in the string field; tabs, # and the rest as they are.
    rest = "\t'ü🚀"
    assert line == (
        r'm\ \,="\\#' + rest + r',k\ \,\="\\#' + rest + r'=\ \,\="\\#' + rest
        + r',tail=C:\\ f\ \,\="\\#' + rest + r'=" ,=\"\\#' + rest + '" 1'
    )  # fmt: skip


@pytest.mark.parametrize(("body", "action", "error"), [
    (b'{"timestamp": 1, "v": 1, "k": "_x"}', {"tableName": "${k}"},
     "the table name '_x' starts with '_'"),
    (b'{"timestamp": 1, "v": 1, "k": "#x"}', {"tableName": "${k}"},
     "the table name '#x' starts with '#'"),
    (b'{"timestamp": 1, "v": 1, "k": "a\\nb"}', {"tags": {"t": "${k}"}},
     "tag value 'a\\nb' contains a line break"),
    (b'{"timestamp": 1, "v": "a\\r\\nb"}', {},
     "the string value of field 'v', 'a\\r\\nb' contains a line break"),
])  # fmt: skip
def test_what_line_protocol_cannot_hold_fails_the_action(
    body: bytes, action: dict[str, Any], error: str
) -> None:
    engine = engine_with("SELECT * FROM 't'", influx(**action))
    (failure,) = engine.publish("t", body).failures
    assert error in (failure.error or ""), failure.error


#: Each unit's largest and smallest timestamps InfluxDB stores (its nanosecond range).
RANGES = {"s": 9_223_372_036, "ms": 9_223_372_036_854, "us": 9_223_372_036_854_775,
          "ns": 9_223_372_036_854_775_806}  # fmt: skip


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_timestamps_out_of_influxdbs_range_for_the_unit_fail(unit: str) -> None:
    engine = engine_with("SELECT * FROM 't'", influx(timestampUnit=unit))
    top = RANGES[unit]
    for stamp in (top, -top):
        body = f'{{"timestamp": {stamp}, "v": 1}}'.encode()
        assert lines(engine, "t", body) == [f"device_metrics v=1i {stamp}"]
    for stamp in (top + 1, -top - 1, 10**300):
        (failure,) = engine.publish("t", f'{{"timestamp": {stamp}, "v": 1}}'.encode()).failures
        assert "is out of the range InfluxDB stores in unit" in (failure.error or "")


@pytest.mark.parametrize(("unit", "stamp"), [("s", "1700000000"), ("ms", "1700000000123"),
                                             ("us", "1700000000123000"),
                                             ("ns", "1700000000123000000")])  # fmt: skip
def test_the_error_action_timestamp_is_the_receive_time_in_the_unit(unit: str, stamp: str) -> None:
    engine = iotsql.RulesEngine()
    engine.register_sink("sqs", RecordingSink(fail_with="down"))
    engine.create_topic_rule("R", {"sql": "SELECT * FROM 'e'", "actions": [
        {"sqs": {"queueUrl": "https://q", "roleArn": ROLE}}],
        "errorAction": influx(tableName="rule_errors", timestampUnit=unit)})  # fmt: skip
    engine.publish("e", b"{}", {"timestamp": 1_700_000_000_123})
    (line,) = engine.recorder["influxDB"].requests[0].request["lines"]
    assert line.endswith(" " + stamp)


# ---- hostile payloads ----------------------------------------------------------------------------


def test_hostile_values_end_in_a_point_or_a_failed_action() -> None:
    engine = engine_with("SELECT * FROM 't'", influx(),
                         errorAction={"s3": {"roleArn": ROLE, "bucketName": "e", "key": "k"}})  # fmt: skip
    deep = '{"a": ' * 900 + "1" + "}" * 900
    (line,) = lines(engine, "t", f'{{"timestamp": 1, "deep": {deep}}}'.encode())
    assert line.startswith('device_metrics deep="{\\"a\\":{') and line.endswith('}" 1')
    assert lines(engine, "t", b'{"timestamp": 1, "big": 1e308, "tiny": -5e-324}') == [
        "device_metrics big=1e+308,tiny=-5e-324 1"
    ]
    assert lines(engine, "t", b'{"timestamp": 1, "u": 18446744073709551615}') == [
        "device_metrics u=18446744073709551615u 1"
    ]
    # NaN is not JSON (so no SQL reads it), and no InfluxDB field can hold it.
    (failure,) = engine.publish("t", b'{"timestamp": 1, "v": NaN}').failures
    assert "field 'v': nan is not a finite number" in (failure.error or "")
    engine = engine_with("SELECT sqrt(-1) AS v, power(10, 400) AS w, timestamp FROM 't'",
                         influx())  # fmt: skip
    (failure,) = engine.publish("t", b'{"timestamp": 1}').failures
    assert "no valid fields" in (failure.error or "")


def test_a_huge_tag_map_and_wide_points_are_bounded() -> None:
    tags = {f"t{i} ,=\\": "${x}" for i in range(498)}
    engine = engine_with("SELECT * FROM 't'", influx(tags=tags))
    (failure,) = engine.publish("t", b'{"timestamp": 1, "v": 1, "x": "y"}').failures
    assert "exceed the column limit: more than 250 columns" in (failure.error or "")
    with pytest.raises(iotsql.RuleValidationError):  # the model's 498 tags at most
        engine_with("SELECT * FROM 't'", influx(tags={**tags, "one more": "x"}))
    wide = json.dumps({"timestamp": 1, **{f"f{i}": i for i in range(8_000)}}).encode()
    engine = engine_with("SELECT * FROM 't'", influx())
    started = time.perf_counter()
    (failure,) = engine.publish("t", wide).failures
    assert "more than 250 columns" in (failure.error or "")
    assert time.perf_counter() - started < 5


def test_an_array_of_100000_elements() -> None:
    """Over AWS's 128 KB message: refused at publish, with the limit named; with the limit
    raised it is 100,000 points, converted in linear time."""
    body = json.dumps([{"timestamp": i, "v": i} for i in range(100_000)]).encode()
    engine = engine_with("SELECT * FROM 't'", influx())
    with pytest.raises(iotsql.LimitExceededError, match="payload size"):
        engine.publish("t", body)
    roomy = iotsql.RulesEngine(limits=iotsql.Limits(max_payload_bytes=len(body),
                                                    max_output_bytes=10 * len(body)))  # fmt: skip
    roomy.create_topic_rule("Influx", {"sql": "SELECT * FROM 't'", "actions": [influx()]})
    started = time.perf_counter()
    written = lines(roomy, "t", body)
    assert len(written) == 100_000 and written[-1] == "device_metrics v=99999i 99999"
    assert time.perf_counter() - started < 30


# ---- the sink: retries, tokens, V2 and V3 rules --------------------------------------------------


class _Scripted(BaseHTTPRequestHandler):
    """Answers each write with the next status of `script` (then 204), recording the token."""

    script: list[int]
    seen: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(self.headers.get("Authorization") or "")
        status = self.script.pop(0) if self.script else 204
        self.send_response(status)
        self.end_headers()
        if status != 204:
            self.wfile.write(b'{"code":"x","message":"m"}')


@pytest.fixture
def scripted() -> Iterator[tuple[str, list[int], list[str]]]:
    script: list[int] = []
    seen: list[str] = []
    handler = type("Handler", (_Scripted,), {"script": script, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script, seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("statuses", "tries", "ok"), [
    ([503, 503], 3, True),   # retryable: the HTTP action's 2 retries
    ([503, 503, 503], 3, False),
    ([500], 1, False),       # InfluxDB server error: to the error action at once
    ([404], 1, False),
    ([422], 1, False),
    ([429], 1, False),
])  # fmt: skip
def test_the_sink_retries_503_only(
    scripted: tuple[str, list[int], list[str]], statuses: list[int], tries: int, ok: bool
) -> None:
    url, script, seen = scripted
    script.extend(statuses)
    engine = engine_with("SELECT * FROM 't'", influx(organization="o"))
    engine.register_sink("influxDB", InfluxDBSink(InfluxDBDestination(url, "tok")))
    failures = engine.publish("t", b'{"timestamp": 1, "v": 1}').failures
    assert len(seen) == tries and (failures == []) == ok
    if not ok:
        assert f"StatusCode: {statuses[-1]}" in (failures[0].error or "")


def test_a_401_reads_the_token_again_and_retries_once(
    scripted: tuple[str, list[int], list[str]],
) -> None:
    url, script, seen = scripted
    tokens = iter(["old", "rotated", "expired", "expired too"])
    engine = engine_with("SELECT * FROM 't'", influx(organization="o"))
    engine.register_sink("influxDB", InfluxDBSink(InfluxDBDestination(url, lambda: next(tokens))))
    script.append(401)
    assert engine.publish("t", b'{"timestamp": 1, "v": 1}').failures == []
    assert seen == ["Token old", "Token rotated"]
    seen.clear()
    script.extend([401, 401])
    (failure,) = engine.publish("t", b'{"timestamp": 1, "v": 1}').failures
    assert "StatusCode: 401" in (failure.error or "")
    assert seen == ["Token expired", "Token expired too"]


def test_v2_needs_the_organization_and_v3_ignores_it(
    scripted: tuple[str, list[int], list[str]],
) -> None:
    url, _, seen = scripted
    engine = engine_with("SELECT * FROM 't'", influx())
    engine.register_sink("influxDB", InfluxDBSink(InfluxDBDestination(url, "t", "V2")))
    (failure,) = engine.publish("t", b'{"timestamp": 1, "v": 1}').failures
    assert "no organization, which InfluxDB V2 requires" in (failure.error or "") and not seen
    engine.register_sink("influxDB", InfluxDBSink(InfluxDBDestination(url, "t", "V3")))
    assert engine.publish("t", b'{"timestamp": 1, "v": 1}').failures == [] and len(seen) == 1


@pytest.mark.parametrize(("action", "body", "error"), [
    ({"tableName": "${k}"}, b'{"timestamp": 1, "v": 1, "k": "-m"}',
     "InfluxDB V3: the table name '-m' does not start with a letter or digit"),
    ({"tags": {"-t": "x"}}, b'{"timestamp": 1, "v": 1}',
     "InfluxDB V3: the tag key '-t' does not start with a letter or digit"),
    ({"tags": {"v": "x"}}, b'{"timestamp": 1, "v": 1}',
     "InfluxDB V3: 'v' is both a tag and a field of table 'device_metrics'"),
    ({"tags": {"kind": "@{k}"}},  # a tag of one point, a field of the next one
     b'[{"timestamp": 1, "v": 1, "k": "a"}, {"timestamp": 2, "kind": 3}]',
     "InfluxDB V3: 'kind' is both a tag and a field of table 'device_metrics'"),
])  # fmt: skip
def test_v3_naming_restrictions(
    scripted: tuple[str, list[int], list[str]], action: dict[str, Any], body: bytes, error: str
) -> None:
    url, _, seen = scripted
    engine = engine_with("SELECT * FROM 't'", influx(organization="o", **action))
    engine.register_sink("influxDB", InfluxDBSink(InfluxDBDestination(url, "t", "V3")))
    (failure,) = engine.publish("t", body).failures
    assert error in (failure.error or "") and not seen
    engine.register_sink("influxDB", InfluxDBSink(InfluxDBDestination(url, "t", "V2")))
    engine.publish("t", body)  # V2 has no such rule: InfluxDB decides
    assert len(seen) == 1


def test_the_client_batched_example_end_to_end_through_an_enabled_destination(
    influx_endpoint: tuple[str, list[Any]],
) -> None:
    """The whole path: an InfluxDB destination (the page's CreateTopicRuleDestination), the
    documented rule, a publish, and the write InfluxDB receives."""
    url, seen = influx_endpoint
    seen.clear()
    engine = iotsql.RulesEngine(require_destinations=True)
    made = topic_rule_api.handle(engine, "CreateTopicRuleDestination", {
        "destinationConfiguration": {"influxDBConfiguration": {
            "endpoint": "https://my-instance.timestream-influxdb.us-west-2.amazonaws.com:8086",
            "influxDBVersion": "V2", "secretId": "my-influxdb-credentials"}}},
    )["topicRuleDestination"]  # fmt: skip
    action = client_batched_action()
    action["influxDB"]["destinationArn"] = made["arn"]
    engine.create_topic_rule("Influx", {"sql": "SELECT * FROM 'devices/+/telemetry'",
                                        "actions": [action]})  # fmt: skip
    engine.register_sink("influxDB", InfluxDBSink({made["arn"]: InfluxDBDestination(url, "tok")}))
    body = CLIENT_BATCHED_BODY
    assert engine.publish("devices/floor3/telemetry", body).failures == []
    ((path, query, headers, written),) = seen
    assert (path, query) == ("/api/v2/write", {"bucket": ["sensor_data"], "org": ["my-org"],
                                               "precision": ["ns"]})  # fmt: skip
    assert headers["Authorization"] == "Token tok"
    assert written.decode().splitlines() == [
        "temperature,location=floor3,sensor_id=sensor-42 value=23.5 1700000000000000000",
        "humidity,location=floor3,sensor_id=sensor-42 value=60.1 1700000001000000000",
        "pressure,location=floor3,sensor_id=sensor-43 value=1013.25 1700000002000000000",
    ]
