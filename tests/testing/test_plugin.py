"""The pytest plugin (ini options, marker, `iot` and `iot_rules` fixtures) run on inner test
files with pytester, the RuleTester assertions on their own, and conformance cases that name
a rule instead of giving SQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import iotsql
from iotsql.testing import RuleTester
from iotsql.testing.conformance import Case, run_case, run_cases

pytest_plugins = ["pytester"]


def _entry_point_installed() -> bool:
    from importlib.metadata import entry_points

    return any(e.value == "iotsql.testing.plugin" for e in entry_points(group="pytest11"))


# With the package installed the entry point loads the plugin; in a bare checkout name it.
PLUGIN: tuple[str, ...] = () if _entry_point_installed() else ("-p", "iotsql.testing.plugin")

TEMPLATE = """\
Parameters:
  Threshold: {Type: Number, Default: 30}
Resources:
  Alerts: {Type: AWS::SQS::Queue, Properties: {QueueName: alerts}}
  Errors: {Type: AWS::SNS::Topic, Properties: {TopicName: errors}}
  Role: {Type: AWS::IAM::Role, Properties: {RoleName: iot}}
  HighTempRule:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: HighTemp
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        Sql: !Sub "SELECT deviceId, temperature FROM 'sensors/+/data' WHERE temperature > ${Threshold}"
        Actions:
          - Sqs: {QueueUrl: !Ref Alerts, RoleArn: !GetAtt Role.Arn}
        ErrorAction:
          Sns: {TargetArn: !Ref Errors, RoleArn: !GetAtt Role.Arn}
  Archive:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        Sql: "SELECT * FROM 'sensors/#'"
        Actions:
          - Republish: {Topic: "archive/${topic()}", RoleArn: !GetAtt Role.Arn}
"""
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/alerts"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with a template and the ini option pointing at it."""
    pytester.makefile(".yaml", template=TEMPLATE)
    pytester.makeini("[pytest]\niotsql_rules = template.yaml\n")
    return pytester


def test_the_fixtures_load_the_rules_of_the_ini_option(project: pytest.Pytester) -> None:
    project.makepyfile(
        f"""
        def test_fires(iot):
            report = iot.publish("sensors/d1/data", {{"deviceId": "d1", "temperature": 31}})
            iot.assert_fired("HighTemp", body={{"deviceId": "d1", "temperature": 31}})
            iot.assert_fired("Archive")
            assert report.fired == ["HighTemp", "Archive"] or report.fired == ["Archive", "HighTemp"]
            assert iot.received("HighTemp", "sqs") == [{{"deviceId": "d1", "temperature": 31}}]
            assert iot.query("sqs[?params.queueUrl=='{QUEUE}'].body.temperature") == [31]
            assert iot.query("republish[0].params.topic") == "archive/sensors/d1/data"

        def test_does_not_fire(iot):
            iot.publish("sensors/d1/data", {{"deviceId": "d1", "temperature": 20}})
            iot.assert_not_fired("HighTemp")
            iot.assert_no_rule_fired("other/topic", {{"temperature": 99}})

        def test_engine(iot_rules):
            assert sorted(iot_rules.rules) == ["Archive", "HighTemp"]
        """
    )
    result = project.runpytest(*PLUGIN)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["iotsql rules: *template.yaml"])


def test_a_failure_explains_why_the_rule_did_not_fire(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_hot(iot):
            iot.publish("sensors/d1/data", {"deviceId": "d1", "temperature": 20})
            iot.assert_fired("HighTemp")
        """
    )
    result = project.runpytest(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E*AssertionError: rule HighTemp did not fire",
        "E*rule:     HighTemp  (*template.yaml: HighTempRule (line 7))",
        "E*sql:      SELECT deviceId, temperature FROM 'sensors/+/data' WHERE temperature > 30",
        "E*version:  2016-03-23",
        "E*topic:    sensors/d1/data",
        'E*payload:  {"deviceId": "d1", "temperature": 20}',
        "E*why:      WHERE evaluated to False, not true",
        "E*WHERE:    temperature > 30  ->  false",
        'E*SELECT:   deviceId: "d1", temperature: 20',
        "E*fired:    Archive",
    ])  # fmt: skip
    assert "iotsql/testing/assertions.py" not in result.stdout.str()


def test_a_failure_diffs_the_body(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_body(iot):
            iot.assert_fired("HighTemp", topic="sensors/d1/data",
                             payload={"deviceId": "d1", "temperature": 31},
                             body={"deviceId": "d1", "temperature": 31.0})
        """
    )
    result = project.runpytest(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E*rule HighTemp fired, but its output is not the expected body",
        'E*expected: {"deviceId": "d1", "temperature": 31.0}',
        'E*actual:   {"deviceId": "d1", "temperature": 31}',
        "E*diff (- expected, + actual; compared strictly by JSON type: 5 is not 5.0):",
        'E*-  "temperature": 31.0',
        'E*+  "temperature": 31',
    ])  # fmt: skip


def test_a_failure_when_a_rule_fired_unexpectedly(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_quiet(iot):
            iot.assert_not_fired("HighTemp", "sensors/d1/data", {"temperature": 40})

        def test_nothing(iot):
            iot.assert_no_rule_fired("sensors/d1/data", {"temperature": 1})

        def test_typo(iot):
            iot.assert_fired("HighTmp", "sensors/d1/data", {"temperature": 40})
        """
    )
    result = project.runpytest(*PLUGIN)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "E*rule HighTemp fired, but it was expected not to",
        "E*WHERE:    temperature > 30  ->  true",
        'E*output:   {"temperature": 40}',
        f"E*action:   sqs {QUEUE} (ok)",
    ])  # fmt: skip
    result.stdout.fnmatch_lines(
        ["E*rule Archive fired, but no rule was expected to fire (fired: Archive)"]
    )
    result.stdout.fnmatch_lines(["E*no rule named HighTmp; did you mean HighTemp?",
                                 "E*rules: Archive, HighTemp"])  # fmt: skip


def test_the_marker_names_other_files_and_parameters(project: pytest.Pytester) -> None:
    project.mkdir("infra")
    (project.path / "infra" / "main.tf").write_text(
        'variable "limit" {\n  default = 5\n}\n'
        'resource "aws_iot_topic_rule" "low" {\n  name = "Low"\n  enabled = true\n'
        "  sql = \"SELECT * FROM 'batteries/+' WHERE level < ${var.limit}\"\n"
        '  sql_version = "2016-03-23"\n'
        "  lambda {\n    function_arn = aws_lambda_function.alert.arn\n  }\n}\n"
    )
    project.mkdir("tests")
    (project.path / "tests" / "test_tf.py").write_text(
        "import pytest\n\n"
        "pytestmark = pytest.mark.iot_rules('../infra/main.tf', parameters={'limit': 10})\n\n"
        "def test_low(iot):\n"
        "    iot.assert_fired('Low', 'batteries/b1', {'level': 8})\n"
        "    assert iot.query('lambda[0].params.functionArn').endswith(':function:alert')\n\n"
        "@pytest.mark.iot_rules('infra/main.tf')\n"
        "def test_from_the_rootdir_with_the_default(iot):\n"
        "    iot.assert_not_fired('Low', 'batteries/b1', {'level': 8})\n\n"
        "@pytest.mark.iot_rules(parameters={'Threshold': 50})\n"
        "def test_ini_files_other_parameters(iot):\n"
        "    iot.assert_not_fired('HighTemp', 'sensors/d1/data', {'temperature': 40})\n"
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=3)


def test_ini_parameters(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", template=TEMPLATE)
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\niotsql_rules = ["template.yaml"]\n'
        'iotsql_parameters = ["Threshold=35"]\n'
    )
    pytester.makepyfile(
        """
        def test_threshold(iot):
            iot.assert_not_fired("HighTemp", "sensors/d1/data", {"temperature": 33})
            iot.assert_fired("HighTemp", "sensors/d1/data", {"temperature": 36})
        """
    )
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_error_actions_can_be_exercised(project: pytest.Pytester) -> None:
    project.makepyfile(
        f"""
        def test_queue_down(iot):
            iot.fail_action("sqs", "AWS.SimpleQueueService.NonExistentQueue")
            iot.publish("sensors/d1/data", {{"deviceId": "d1", "temperature": 50}}, clientid="d1")
            (message,) = iot.error_messages("HighTemp")
            assert message["ruleName"] == "HighTemp"
            assert message["failures"] == [{{
                "failedAction": "SqsAction", "failedResource": "{QUEUE}",
                "errorMessage": "RuntimeError: AWS.SimpleQueueService.NonExistentQueue"}}]
            assert iot.received("HighTemp", "sqs") == []
            assert iot.query("sns[0].errorAction") is True
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_a_broken_template_errors_the_tests_that_use_it(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml", template="Resources:\n  R:\n    Type: AWS::IoT::TopicRule\n   bad: x\n"
    )
    pytester.makeini("[pytest]\niotsql_rules = template.yaml\n")
    pytester.makepyfile(
        """
        def test_uses(iot):
            pass

        def test_does_not_use():
            pass
        """
    )
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*iotsql: cannot load the rules: *template.yaml: invalid YAML: * (line 4, column *)"]
    )


def test_without_configuration_the_iot_fixture_has_no_rules(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_own_rules(iot):
            iot.engine.create_topic_rule("Mine", {"sql": "SELECT * FROM 'a'", "actions": []})
            iot.assert_fired("Mine", "a", {"x": 1})

        def test_none(iot):
            iot.assert_fired("HighTemp", "a", {})
        """
    )
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E*no rule named HighTemp: no rules are loaded (set iotsql_rules*"]
    )


def test_the_plugin_does_nothing_unless_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1)
    shown = [line for line in result.stdout.lines if not line.startswith("plugins:")]
    assert not any("iotsql" in line for line in shown)
    markers = pytester.runpytest(*PLUGIN, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.iot_rules(*paths, parameters=None, format=None)*"])


# ---- RuleTester without pytest's fixtures ------------------------------------------------------


def test_rule_tester_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    iot = RuleTester.load(path, parameters={"Threshold": 10})
    assert iot.sources["HighTemp"].endswith("template.yaml: HighTempRule (line 7)")
    with pytest.raises(AssertionError, match="nothing was published yet"):
        iot.assert_fired("HighTemp")
    iot.publish("sensors/d1/data", b'{"deviceId": "d1", "temperature": 12}', {"clientid": "d1"})
    assert iot.assert_fired("HighTemp").output is not None
    assert sorted(iot.fired()) == ["Archive", "HighTemp"]
    with pytest.raises(TypeError, match="give the topic"):
        iot.assert_fired("HighTemp", payload={"a": 1})
    iot.clear()
    assert iot.received() == [] and iot.reports == []


def test_rule_tester_follows_republished_messages() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("First", {"sql": "SELECT * FROM 'in'", "actions": [
        {"republish": {"topic": "out", "roleArn": "arn:aws:iam::1:role/r"}}]})  # fmt: skip
    engine.create_topic_rule("Second", {"sql": "SELECT x + 1 AS y FROM 'out'", "actions": [],
                                        "awsIotSqlVersion": "2016-03-23"})  # fmt: skip
    iot = RuleTester(engine)
    iot.publish("in", {"x": 1})
    iot.assert_fired("Second", body={"y": 2})
    assert iot.fired() == ["First", "Second"]


def test_a_disabled_rule_says_so() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule(
        "Off", {"sql": "SELECT * FROM 'a'", "actions": [], "ruleDisabled": True}
    )
    with pytest.raises(AssertionError) as exc:
        RuleTester(engine).assert_fired("Off", "a", {})
    assert "state:    disabled (ruleDisabled is true)" in str(exc.value)
    assert "why:      the rule is disabled (its SQL alone would fire)" in str(exc.value)


def test_binary_bodies() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Raw", {"sql": "SELECT * FROM 'a'", "actions": []})
    iot = RuleTester(engine)
    iot.assert_fired("Raw", "a", b"\x00\x01", body=b"\x00\x01")
    with pytest.raises(AssertionError, match="not the expected body"):
        iot.assert_fired("Raw", body=b"\x00")


# ---- conformance cases naming a rule -----------------------------------------------------------


def _case(**data: object) -> Case:
    return Case(str(data.get("id", "c")), {"id": "c", "topic": "sensors/d1/data", **data})


def test_conformance_cases_can_name_a_rule(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    rules = iotsql.load_rules(path)
    cases = [
        _case(id="hot", rule="HighTemp", payload={"deviceId": "d", "temperature": 31},
              expected={"deviceId": "d", "temperature": 31}),
        _case(id="cold", rule="HighTemp", payload={"temperature": 1}, fires=False),
        _case(id="wrong", rule="HighTemp", payload={"temperature": 31}, expected={}),
        _case(id="unknown", rule="Nope", payload={}, fires=False),
    ]  # fmt: skip
    summary = run_cases(cases, rules=rules)
    assert [r.passed for r in summary.results] == [True, True, False, False]
    assert "no rule named 'Nope' (rules: Archive, HighTemp)" in summary.results[3].message
    assert run_case(cases[0], {"HighTemp": rules[0].payload}).passed
    without = run_case(cases[0])
    assert not without.passed and "--rules" in without.message


def test_a_rule_case_uses_the_rules_sql_version() -> None:
    rules = {"Old": {"sql": "SELECT 10.0 AS n FROM 'a'"}, "New": {
        "sql": "SELECT 10.0 AS n FROM 'a'", "awsIotSqlVersion": "2016-03-23"}}  # fmt: skip
    assert run_case(_case(rule="Old", topic="a", expected={"n": 10.0}), rules).passed
    assert run_case(_case(rule="New", topic="a", expected={"n": 10}), rules).passed
    assert run_case(
        _case(rule="Old", topic="a", sqlVersion="2016-03-23", expected={"n": 10}), rules
    ).passed


def test_a_case_cannot_give_both_sql_and_rule(tmp_path: Path) -> None:
    from iotsql.testing.conformance import CaseFormatError, load_file

    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps({"id": "x", "sql": "SELECT 1 FROM 'a'", "rule": "R", "topic": "a",
                                "fires": False}) + "\n")  # fmt: skip
    with pytest.raises(CaseFormatError, match="either 'sql' or 'rule'"):
        load_file(path)
