"""What a new user of the pytest plugin tripped on: `iot.requests(rule, action)` and
`iot.received` include the error action's requests (and say so when the action type cannot
match anything), and `--iotsql-rules` / `--iotsql-parameter` override the ini settings for one
run."""

from __future__ import annotations

import pytest
from test_plugin import PLUGIN, QUEUE, TEMPLATE

from iotsql.testing import RuleTester

pytest_plugins = ["pytester"]

OTHER = """\
Resources:
  OtherRule:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: Other
      TopicRulePayload:
        Sql: "SELECT * FROM 'other/+'"
        Actions:
          - Lambda: {FunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:f"}
"""


@pytest.fixture
def queue_down() -> RuleTester:
    iot = RuleTester.load(TEMPLATE, "cloudformation")
    iot.fail_action("sqs", "AWS.SimpleQueueService.NonExistentQueue")
    iot.publish("sensors/d1/data", {"deviceId": "d1", "temperature": 50}, clientid="d1")
    return iot


def test_requests_include_the_error_action(queue_down: RuleTester) -> None:
    iot = queue_down
    (request,) = iot.requests("HighTemp", "sns")
    assert request.is_error_action
    assert request.params["targetArn"].endswith(":errors")
    assert request.body["ruleName"] == "HighTemp"
    assert request.body["failures"][0]["failedAction"] == "SqsAction"
    # Both kinds by default (the Archive rule's republish is another rule's); one kind on demand.
    assert [r.action_type for r in iot.requests("HighTemp")] == ["sns"]
    assert iot.requests("HighTemp", "sns", error_action=True) == [request]
    assert iot.requests("HighTemp", error_action=False) == []  # the sqs action failed
    assert iot.received("HighTemp", "sns") == [request.body] == iot.error_messages("HighTemp")
    assert iot.received("HighTemp", "sqs") == []
    assert {r.rule_name for r in iot.requests()} == {"HighTemp", "Archive"}


def test_an_action_type_that_cannot_match_is_an_error(queue_down: RuleTester) -> None:
    iot = queue_down
    with pytest.raises(AssertionError, match=r"no action type 'Sqs'; did you mean sqs\?"):
        iot.requests("HighTemp", "Sqs")
    with pytest.raises(
        AssertionError, match="no action type 'dynamodbv2'; did you mean dynamoDBv2"
    ):
        iot.received(action_type="dynamodbv2")
    with pytest.raises(AssertionError) as raised:
        iot.received("HighTemp", "lambda")
    assert str(raised.value).splitlines() == [
        "rule HighTemp has no lambda action or error action, so nothing can be delivered there",
        "  actions:      sqs",
        "  error action: sns",
    ]
    with pytest.raises(AssertionError, match="rule HighTemp has no sns action,"):
        iot.requests("HighTemp", "sns", error_action=False)
    with pytest.raises(AssertionError, match="rule HighTemp has no sqs error action,"):
        iot.requests("HighTemp", "sqs", error_action=True)
    with pytest.raises(AssertionError, match="rule Archive has no sns action or error action"):
        iot.requests("Archive", "sns")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", template=TEMPLATE, other=OTHER)
    pytester.makeini("[pytest]\niotsql_rules = template.yaml\niotsql_parameters = Threshold=30\n")
    pytester.makepyfile(
        f"""
        import pytest

        def test_rules(iot):
            print("RULES", sorted(iot.engine.rules))

        def test_threshold(iot):
            if "HighTemp" in iot.engine.rules:
                iot.publish("sensors/d1/data", {{"deviceId": "d1", "temperature": 35}})
                print("FIRED", iot.fired())

        @pytest.mark.iot_rules("template.yaml")
        def test_the_marker_wins(iot):
            assert "HighTemp" in iot.engine.rules
            assert iot.query("sqs[0].params.queueUrl") in (None, "{QUEUE}")
        """
    )
    return pytester


def test_the_ini_setting_without_options(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGIN, "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["iotsql rules: *template.yaml"])
    assert "RULES ['Archive', 'HighTemp']" in result.stdout.str()
    assert "FIRED ['HighTemp', 'Archive']" in result.stdout.str()


def test_iotsql_rules_overrides_the_ini_setting(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGIN, "-s", "--iotsql-rules", "other.yaml")
    result.assert_outcomes(passed=3)  # the marker still names template.yaml for its test
    result.stdout.fnmatch_lines(["iotsql rules: *other.yaml (--iotsql-rules)"])
    assert "RULES ['Other']" in result.stdout.str()
    both = project.runpytest(*PLUGIN, "-s", "--iotsql-rules=other.yaml",
                             "--iotsql-rules=template.yaml")  # fmt: skip
    both.assert_outcomes(passed=3)
    assert "RULES ['Archive', 'HighTemp', 'Other']" in both.stdout.str()


def test_iotsql_parameter_adds_to_the_ini_parameters(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGIN, "-s", "--iotsql-parameter", "Threshold=40")
    result.assert_outcomes(passed=3)
    assert "FIRED ['Archive']" in result.stdout.str()  # 35 is not above 40


def test_a_parameter_no_file_declares_fails_the_tests_that_load_the_rules(
    project: pytest.Pytester,
) -> None:
    """A misspelt name (`Threshhold=40`) left the rules at their defaults and the tests passed
    or failed for the wrong reason; CloudFormation refuses a parameter the template does not
    declare (third cold-user audit). Values kept for other files are not checked there."""
    typo = project.runpytest(*PLUGIN, "--iotsql-parameter", "Threshhold=40")
    typo.assert_outcomes(passed=1, errors=2)  # the marker names its own files and values
    typo.stdout.fnmatch_lines([
        "iotsql: cannot load the rules: --iotsql-parameter: Threshhold: no rules file declares "
        "it; did you mean Threshold? (declared: Threshold)",
    ])  # fmt: skip
    project.makeini("[pytest]\niotsql_rules = template.yaml\niotsql_parameters = Treshold=30\n")
    ini = project.runpytest(*PLUGIN)
    ini.assert_outcomes(passed=1, errors=2)
    ini.stdout.fnmatch_lines(["*iotsql_parameters: Treshold: no rules file declares it; did "
                              "you mean Threshold?*"])  # fmt: skip
    # The ini's values are for the ini's files: with --iotsql-rules naming others, unchecked.
    project.runpytest(*PLUGIN, "--iotsql-rules", "other.yaml").assert_outcomes(passed=3)
    project.makepyfile(test_marker="""
        import pytest

        @pytest.mark.iot_rules("template.yaml", parameters={"Thresold": 40})
        def test_marker(iot):
            pass
    """)  # fmt: skip
    marker = project.runpytest(*PLUGIN, "test_marker.py")
    marker.assert_outcomes(errors=1)
    marker.stdout.fnmatch_lines(["*@pytest.mark.iot_rules(parameters=...): Thresold: no rules "
                                 "file declares it; did you mean Threshold?*"])  # fmt: skip


def test_bad_options_are_usage_errors(project: pytest.Pytester) -> None:
    missing = project.runpytest(*PLUGIN, "--iotsql-rules", "nope.yaml")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*--iotsql-rules: no such file or folder: nope.yaml*"])
    malformed = project.runpytest(*PLUGIN, "--iotsql-parameter", "Threshold")
    assert malformed.ret == pytest.ExitCode.USAGE_ERROR
    malformed.stderr.fnmatch_lines(["*--iotsql-parameter: expected KEY=VALUE, not 'Threshold'*"])


def test_a_missing_parameter_is_asked_for_in_the_plugins_terms(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", template=TEMPLATE.replace("Default: 30", "Description: no default"))
    pytester.makeini("[pytest]\niotsql_rules = template.yaml\n")
    pytester.makepyfile("def test_rules(iot):\n    pass\n")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*template.yaml: Parameters.Threshold: has no Default and no value was given: set "
        "Threshold=VALUE in iotsql_parameters, give --iotsql-parameter Threshold=VALUE, or "
        "@pytest.mark.iot_rules(parameters={'Threshold': ...})*"
    ])  # fmt: skip
    fixed = pytester.runpytest(*PLUGIN, "--iotsql-parameter", "Threshold=30")
    fixed.assert_outcomes(passed=1)
