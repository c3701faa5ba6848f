"""Unit tests of the example project's topic rules, run locally by iotsql's pytest plugin.

The CloudFormation rules come from the `iotsql_rules` option in ../pytest.ini; the Terraform
rules from the `iot_rules` marker on TestTerraformRules."""

from __future__ import annotations

from pathlib import Path

import pytest

import iotsql
from iotsql.testing import RuleTester
from iotsql.testing.conformance import load_cases, run_cases

HERE = Path(__file__).parent
ALERTS_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/greenhouse-alerts-test"


def test_a_hot_reading_is_sent_to_the_alerts_queue(iot: RuleTester) -> None:
    iot.publish("greenhouse/north/telemetry", {"deviceId": "t-1", "temperature": 31.5})

    iot.assert_fired(
        "HighTemp", body={"deviceId": "t-1", "temperature": 31.5, "greenhouse": "north"}
    )
    assert iot.received("HighTemp", "sqs") == [
        {"deviceId": "t-1", "temperature": 31.5, "greenhouse": "north"}
    ]
    assert iot.query(f"sqs[?params.queueUrl=='{ALERTS_QUEUE}'].body.temperature") == [31.5]


def test_a_normal_reading_is_archived_but_raises_no_alert(iot: RuleTester) -> None:
    iot.publish(
        "greenhouse/south/telemetry",
        {"deviceId": "t-2", "temperature": 22},
        timestamp=1700000000000,
    )

    iot.assert_not_fired("HighTemp")
    iot.assert_fired(
        "TelemetryArchive",
        body={
            "deviceId": "t-2",
            "temperature": 22,
            "greenhouse": "south",
            "ts": 1700000000000,
        },
    )
    assert iot.query("dynamoDBv2[0].params.putItem.tableName") == "greenhouse-telemetry-test"


def test_the_threshold_is_exclusive(iot: RuleTester) -> None:
    iot.assert_not_fired(
        "HighTemp",
        topic="greenhouse/north/telemetry",
        payload={"deviceId": "t-1", "temperature": 30},
    )


def test_a_reading_without_a_device_id_is_not_archived(iot: RuleTester) -> None:
    iot.publish("greenhouse/north/telemetry", {"temperature": 41})

    iot.assert_fired("HighTemp", body={"temperature": 41, "greenhouse": "north"})
    iot.assert_not_fired("TelemetryArchive")


def test_when_the_queue_fails_the_error_action_reports_it_on_sns(iot: RuleTester) -> None:
    iot.fail_action("sqs", "AccessDenied")

    iot.publish(
        "greenhouse/north/telemetry", {"deviceId": "t-1", "temperature": 35}, clientid="t-1"
    )

    (error,) = iot.error_messages("HighTemp")
    assert error["ruleName"] == "HighTemp"
    assert error["clientId"] == "t-1"
    assert error["failures"][0]["failedAction"] == "SqsAction"
    assert error["failures"][0]["failedResource"] == ALERTS_QUEUE
    assert iot.received("HighTemp", "sqs") == []


def test_a_status_change_is_republished_per_device_and_sent_to_lambda(iot: RuleTester) -> None:
    iot.publish("devices/d7/status", {"state": "low_battery", "battery": 12}, clientid="d7")

    iot.assert_fired(
        "DeviceStatus_test", body={"state": "low_battery", "battery": 12, "client": "d7"}
    )
    assert iot.query("republish[0].params.topic") == "greenhouse/test/status/d7"
    assert iot.query("lambda[0].params.functionArn").endswith(":function:StatusFunction")


def test_an_ok_status_and_other_topics_fire_nothing(iot: RuleTester) -> None:
    iot.assert_no_rule_fired("devices/d7/status", {"state": "ok", "battery": 90})
    iot.assert_no_rule_fired("greenhouse/north/humidity", {"deviceId": "h-1", "humidity": 80})


def test_the_engine_itself_is_available(iot_rules: iotsql.RulesEngine) -> None:
    assert sorted(iot_rules.rules) == ["DeviceStatus_test", "HighTemp", "TelemetryArchive"]
    report = iot_rules.publish(
        "greenhouse/east/telemetry", b'{"deviceId": "t-9", "temperature": 50}'
    )
    assert sorted(report.fired) == ["HighTemp", "TelemetryArchive"]


@pytest.mark.iot_rules("../terraform/main.tf", parameters={"battery_threshold": 25})
class TestTerraformRules:
    def test_a_low_battery_is_published_to_sns(self, iot: RuleTester) -> None:
        iot.publish("devices/d1/status", {"deviceId": "d1", "battery": 22})

        iot.assert_fired("BatteryLow", body={"deviceId": "d1", "battery": 22})
        assert iot.query("sns[0].params.targetArn") == (
            "arn:aws:sns:us-east-1:123456789012:greenhouse-dev-battery"
        )

    def test_the_threshold_comes_from_the_variable(self, iot: RuleTester) -> None:
        iot.assert_not_fired("BatteryLow", topic="devices/d1/status", payload={"battery": 25})
        assert iot.engine.rule("BatteryLow").description == "Battery below 25%"

    def test_door_events_are_partitioned_by_device(self, iot: RuleTester) -> None:
        iot.publish("devices/door-3/door", {"door": "open"}, timestamp=1700000000000)

        iot.assert_fired(
            "DoorEvents", body={"deviceId": "door-3", "door": "open", "at": 1700000000000}
        )
        assert iot.query("kinesis[0].params.partitionKey") == "door-3"


def test_the_conformance_cases_pass_against_the_template() -> None:
    rules = iotsql.load_rules(HERE.parent / "cloudformation" / "template.yaml")
    summary = run_cases(load_cases([HERE / "cases.jsonl"]), rules=rules)

    assert summary.failed == 0, summary.to_json()
    assert summary.passed == 5
