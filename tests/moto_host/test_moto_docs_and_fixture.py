"""The examples of docs/moto.md run as the test file a user would paste them into, and the
`iot_moto` fixture of the pytest plugin, run on inner test files with pytester."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "moto.md"


def _entry_point_installed() -> bool:
    from importlib.metadata import entry_points

    return any(e.value == "iotsql.testing.plugin" for e in entry_points(group="pytest11"))


# With the package installed the entry point loads the plugin; in a bare checkout name it.
PLUGIN: tuple[str, ...] = () if _entry_point_installed() else ("-p", "iotsql.testing.plugin")


def _run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=source)
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *PLUGIN)


def test_the_examples_of_docs_moto_md_pass(pytester: pytest.Pytester, offline_aws: None) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    source = "\n\n".join(blocks)
    tests = re.findall(r"^def (test_\w+)", source, re.M)
    assert len(tests) == 3
    result = _run(pytester, source)
    result.assert_outcomes(passed=len(tests))


def test_the_fixture_asserts_on_what_moto_ran(pytester: pytest.Pytester, offline_aws: None) -> None:
    result = _run(
        pytester,
        """
import json
import boto3
import pytest

ROLE = "arn:aws:iam::123456789012:role/iot"


def _rule(queue_url, region):
    boto3.client("iot", region_name=region).create_topic_rule(ruleName="Hot", topicRulePayload={
        "sql": "SELECT temp FROM 'plant/+' WHERE temp > 30", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queueUrl": queue_url, "roleArn": ROLE}}]})


def test_fired(iot_moto):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    _rule(url, "us-east-1")
    report = iot_moto.publish("plant/a", {"temp": 31})
    assert report.fired == ["Hot"]
    iot_moto.assert_fired("Hot", body={"temp": 31})
    assert iot_moto.received("Hot", "sqs") == [{"temp": 31}]
    iot_moto.assert_not_fired("Hot", topic="plant/b", payload={"temp": 3})
    assert iot_moto.published == [("plant/a", b'{"temp":31}'), ("plant/b", b'{"temp":3}')]
    assert json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"]) == {"temp": 31}


def test_the_failure_message_explains(iot_moto):
    _rule("https://sqs.us-east-1.amazonaws.com/123456789012/q", "us-east-1")
    iot_moto.publish("plant/a", {"temp": 3})
    iot_moto.assert_fired("Hot")


@pytest.mark.iot_moto(region="eu-west-1", account_id="111122223333",
                      config={"core": {"service_whitelist": ["iot", "iot-data", "sts"]}})
def test_region_account_and_config(iot_moto):
    from moto.core.exceptions import ServiceNotWhitelisted

    with pytest.raises(ServiceNotWhitelisted):
        boto3.client("sqs", region_name="eu-west-1").list_queues()
    assert iot_moto.engine.region == "eu-west-1"
    assert iot_moto.engine.account_id == "111122223333"
    with pytest.raises(TypeError, match="HTTP publish"):
        iot_moto.publish("plant/a", b"{}", {"clientid": "c1"})


def test_each_test_starts_afresh(iot_moto):
    assert boto3.client("iot", region_name="us-east-1").list_topic_rules()["rules"] == []
    assert iot_moto.engine.rules == {} and iot_moto.engine.reports == type(iot_moto.engine.reports)()
""",
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*rule Hot did not fire*", "*WHERE:    temp > 30  ->  false*"])


def test_a_rule_made_in_another_region_is_named_with_the_region_the_publishes_go_to(
    pytester: pytest.Pytester, offline_aws: None
) -> None:
    """A newcomer's client made the rule in eu-west-1 while iot_moto publishes in us-east-1:
    the failure said 'no rules are loaded (set iotsql_rules...)', advice for the `iot` fixture
    that sent them to the pytest configuration (third cold-user audit)."""
    result = _run(
        pytester,
        """
import boto3


def _rule(name, region):
    boto3.client("iot", region_name=region).create_topic_rule(
        ruleName=name, topicRulePayload={"sql": "SELECT * FROM 'plant/+'", "actions": []})


def test_other_region(iot_moto):
    _rule("Fwd", "eu-west-1")
    iot_moto.publish("plant/a", {"temp": 31})
    iot_moto.assert_fired("Fwd")


def test_no_rules(iot_moto):
    iot_moto.assert_fired("Fwd", topic="plant/a", payload={})


def test_a_typo_among_rules(iot_moto):
    _rule("Forward", "us-east-1")
    iot_moto.assert_fired("Forwrd", topic="plant/a", payload={})
""",
    )
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "E*AssertionError: no rule named Fwd in moto's account 123456789012, region us-east-1, "
        "where the publishes go; it was created in region eu-west-1 of account 123456789012: "
        "create it with a client of region us-east-1 (boto3.client('iot', "
        "region_name='us-east-1')), or mark the test @pytest.mark.iot_moto(region=..., "
        "account_id=...) to publish there",
        "E*AssertionError: no rule named Fwd: moto's account 123456789012, region us-east-1 has "
        "no topic rules (create them with boto3's iot client or a CloudFormation stack, in that "
        "region)",
        "E*AssertionError: no rule named Forwrd; did you mean Forward?",
    ])  # fmt: skip


def test_the_fixture_publishes_in_the_default_region_of_the_environment(
    pytester: pytest.Pytester, offline_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/moto.md: without a marker, iot_moto's region is $AWS_DEFAULT_REGION, the one a
    boto3 client made without region_name uses, so the two agree."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    result = _run(
        pytester,
        """
import boto3


def test_env_region(iot_moto):
    assert iot_moto.region == "eu-north-1"
    boto3.client("iot").create_topic_rule(
        ruleName="Fwd", topicRulePayload={"sql": "SELECT * FROM 'plant/+'", "actions": []})
    iot_moto.assert_fired("Fwd", topic="plant/a", payload={})
""",
    )
    result.assert_outcomes(passed=1)
