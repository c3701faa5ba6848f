"""Mistakes a new user makes on a first try, each answered by one readable line (or a finding)
that says what to fix, never a traceback, a silent pass or a misleading message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iotsql.cli import main

RULES = [{"ruleName": "R", "topicRulePayload": {
    "sql": "SELECT * FROM 'a/+'", "awsIotSqlVersion": "2016-03-23",
    "actions": [{"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                         "roleArn": "arn:aws:iam::123456789012:role/r"}}],
}}]  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_mistyped_option_is_reported_by_its_command_with_the_option_meant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys, "eval", "SELECT a FROM 't'", "--paylod", '{"a": 1}')
    assert status == 2
    assert err.startswith("usage: iotsql eval ")
    assert err.splitlines()[-1] == (
        'iotsql eval: error: unrecognized arguments: --paylod {"a": 1} (did you mean --payload?)'
    )
    status, _, err = run(capsys, "check", "--jsn", "SELECT a FROM 't'")
    assert status == 2
    assert err.splitlines()[-1] == "iotsql check: error: unrecognized arguments: --jsn"
    status, _, err = run(capsys, "--bogus")
    assert status == 2 and err.splitlines()[-1] == "iotsql: error: unrecognized arguments: --bogus"


def test_eval_refuses_a_topic_a_message_cannot_be_published_to(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The filter given as the topic would match FROM by accident; repl and replay refuse it too.
    status, out, err = run(capsys, "eval", "SELECT a FROM 'a/+/b'", "-p", '{"a": 1}', "-t", "a/+/b")
    assert (status, out) == (2, "")
    assert err.startswith(
        "iotsql eval: error: --topic: a topic name cannot contain the wildcards + or #: 'a/+/b' "
        "(--topic is the topic the message is published on"
    )
    status, out, err = run(capsys, "eval", "SELECT a FROM 'a/#'", "-p", '{"a": 1}', "-t", "")
    assert (status, out) == (2, "")
    assert err == "iotsql eval: error: --topic: a topic name must be a non-empty string\n"
    status, out, _ = run(capsys, "eval", "SELECT a FROM 'a/+/b'", "-p", '{"a": 1}', "-t", "a/x/b")
    assert (status, out) == (0, '{"a":1}\n')


def test_the_repl_names_its_own_command_in_a_payload_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(".payload @nope.json\n"))
    status, _, err = run(capsys, "repl")
    assert status == 1
    assert err == ".payload: no such file: nope.json\n"


def moto_server(*argv: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """In a process of its own, with a timeout: were the port accepted, the server would run."""
    return subprocess.run([sys.executable, "-m", "iotsql", "moto-server", *argv],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **environment})  # fmt: skip


def test_a_bad_moto_port_in_the_environment_breaks_only_moto_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_PORT", "abc")
    # building the parser read $MOTO_PORT: every command ended in a ValueError traceback
    assert run(capsys, "eval", "SELECT 1 AS x FROM 'a'")[:2] == (0, '{"x":1}\n')
    result = moto_server(MOTO_PORT="abc")
    assert result.returncode == 2
    assert result.stderr == (
        "iotsql moto-server: error: MOTO_PORT='abc' is not a TCP port (1 to 65535): "
        "set it or give --port\n"
    )


def test_moto_server_refuses_a_port_the_server_would_wrap() -> None:
    # werkzeug would listen on 99999 - 65536 = 34463 while the actions call port 99999.
    result = moto_server("-p", "99999")
    assert result.returncode == 2
    assert (
        result.stderr == "iotsql moto-server: error: --port 99999 is not a TCP port (1 to 65535)\n"
    )


def test_check_names_the_missing_property(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("template.yaml").write_text(
        "Resources:\n"
        "  HotRule:\n"
        "    Type: AWS::IoT::TopicRule\n"
        "    Properties:\n"
        "      TopicRulePayload:\n"
        '        AwsIotSqlVersion: "2016-03-23"\n'
        "        Sql: SELECT * FROM 'a/b'\n"
        "        Actions:\n"
        "          - Sqs:\n"
        "              QueueUrl: https://sqs.us-east-1.amazonaws.com/123456789012/q\n"
    )
    status, out, _ = run(capsys, "check", "template.yaml")
    assert status == 1
    # at the key that lacks it, so the message names what is missing
    assert "template.yaml:9:13: missing-property error: RoleArn is required\n" in out


def test_check_of_a_terraform_file_reports_a_broken_file_of_its_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("hcl2", reason="pip install 'iotsql[terraform]'")
    monkeypatch.chdir(tmp_path)
    Path("main.tf").write_text(
        'resource "aws_iot_topic_rule" "r" {\n'
        '  name        = "r"\n'
        "  enabled     = true\n"
        "  sql         = \"SELECT * FROM 'a/b' WHERE x =\"\n"
        '  sql_version = "2016-03-23"\n'
        "}\n"
    )
    Path("other.tf").write_text('resource "aws_sqs_queue" "q" {\n  name = "q"\n')
    status, out, _ = run(capsys, "check", "main.tf")
    # It used to print "All checks passed (0 rules in 1 file)": the module did not load.
    assert status == 1
    lines = out.splitlines()
    assert lines[0].startswith("other.tf:3:1: document-syntax error: invalid HCL")
    assert lines[1] == (
        "   hint: the Terraform module of this folder loads as a whole: main.tf could not be "
        "checked"
    )
    Path("other.tf").write_text('resource "aws_sqs_queue" "q" {\n  name = "q"\n}\n')
    status, out, _ = run(capsys, "check", "main.tf")
    assert status == 1 and out.startswith("main.tf:4:47: syntax error: unexpected end")


def test_a_case_that_does_not_fire_says_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    cases = [
        {"id": "no-topic", "sql": "SELECT a FROM 't'", "payload": {"a": 1}, "expected": {"a": 1}},
        {"id": "where", "sql": "SELECT a FROM 't' WHERE a > 1", "topic": "t",
         "payload": {"a": 1}, "expected": {"a": 1}},
    ]  # fmt: skip
    Path("cases.json").write_text(json.dumps(cases))
    status, out, _ = run(capsys, "test", "cases.json", "--json")
    assert status == 1
    assert [f["message"] for f in json.loads(out)["failures"]] == [
        "the rule did not fire: topic '' does not match the FROM filter 't' (the case has no "
        "'topic': give the topic the message is published on)",
        "the rule did not fire: WHERE evaluated to False, not true",
    ]


def test_replay_of_rules_without_messages_says_how_the_files_were_taken(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("rules.json").write_text(json.dumps(RULES))
    Path("messages.jsonl").write_text('{"topic": "a/1", "payload": {}}\n')
    status, _, err = run(capsys, "replay", "rules.json")
    assert status == 2
    assert err == (
        "iotsql replay: error: no rules: give RULES files, or --topic-rule-payload FILE "
        "(rules.json was read as MESSAGES: RULES come first, then MESSAGES)\n"
    )
    status, _, err = run(capsys, "replay", "messages.jsonl", "rules.json")
    assert status == 2
    assert "(messages.jsonl, rules.json were read as MESSAGES: " in err


def test_a_missing_alias_is_named_as_such() -> None:
    import iotsql

    with pytest.raises(iotsql.SqlParseError) as raised:
        iotsql.compile("SELECT a AS FROM 't'")
    assert (raised.value.line, raised.value.column) == (1, 18)
    assert raised.value.hint == (
        "FROM is read as the alias after AS: the alias is missing (AS name), or AS is one word "
        "too many"
    )
    with pytest.raises(iotsql.SqlParseError) as raised:  # a missing expression, as before
        iotsql.compile("SELECT a + FROM 't'")
    assert (
        raised.value.hint
        == "FROM is read as an attribute name here: an expression is missing before it"
    )


SERVERLESS = """\
service: telemetry
provider: {name: aws, runtime: python3.12}
functions:
  ingest:
    handler: handler.main
    events:
      - iot:
          sql: "SELECT * FROM 'sensors/+/data' WHERE temp > ${VARIABLE}"
          sqlVersion: "2016-03-23"
custom:
  threshold: 30
"""


def test_a_misspelt_self_variable_of_serverless_is_named_as_a_typo(tmp_path: Path) -> None:
    import iotsql

    path = tmp_path / "serverless.yml"

    def refusal(variable: str) -> str:
        path.write_text(SERVERLESS.replace("VARIABLE", variable))
        with pytest.raises(iotsql.RuleValidationError) as raised:
            iotsql.load_rules(path)
        return str(raised.value).split(".sql: ", 1)[1]

    # It said "cannot resolve ... without AWS: give it with --parameters", as for a value only
    # a deployment knows.
    assert refusal("self:custom.thresold") == (
        "cannot resolve ${self:custom.thresold}: the file has no custom.thresold; "
        "did you mean custom.threshold?"
    )
    assert refusal("self:custm.threshold") == (
        "cannot resolve ${self:custm.threshold}: the file has no custm; did you mean custom?"
    )
    assert refusal("self:custom.nothing_like_it") == (
        "cannot resolve ${self:custom.nothing_like_it}: the file has no custom.nothing_like_it"
    )
    # with a fallback the path may be missing on purpose: the value is asked for, as before
    assert refusal("self:custom.limit, opt:limit").startswith(
        "cannot resolve ${self:custom.limit, opt:limit} without AWS"
    )
    path.write_text(SERVERLESS.replace("VARIABLE", "self:custom.threshold"))
    assert [rule.sql for rule in iotsql.load_rules(path)] == [
        "SELECT * FROM 'sensors/+/data' WHERE temp > 30"
    ]


def test_replay_of_a_bare_rule_payload_points_at_topic_rule_payload(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The form the AWS documentation shows: `aws iot create-topic-rule --topic-rule-payload`.
    monkeypatch.chdir(tmp_path)
    Path("hot.json").write_text(json.dumps(RULES[0]["topicRulePayload"]))
    Path("messages.jsonl").write_text('{"topic": "a/1", "payload": {}}\n')
    status, _, err = run(capsys, "replay", "hot.json", "messages.jsonl")
    assert status == 2
    assert err == (
        "iotsql replay: error: hot.json holds only a topic rule payload (sql, actions), with no "
        "ruleName: give it with --topic-rule-payload hot.json, which names the rule after the "
        "file (or --rule-name NAME)\n"
    )
    status, out, _ = run(capsys, "replay", "--topic-rule-payload", "hot.json", "messages.jsonl")
    assert status == 0 and json.loads(out)["rule"] == "hot"


def test_a_misspelt_cloudformation_name_gets_the_name_meant(tmp_path: Path) -> None:
    import iotsql

    template = """\
Parameters:
  Threshold: {Type: Number, Default: 30}
Resources:
  AlertsQueue: {Type: AWS::SQS::Queue}
  HotRule:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        Sql: !Sub "SELECT * FROM 'a/+' WHERE t > ${SUB}"
        Actions:
          - Sqs: {QueueUrl: !Ref REF, RoleArn: "arn:aws:iam::123456789012:role/r"}
"""
    path = tmp_path / "template.yaml"

    def refusal(sub: str, ref: str) -> str:
        path.write_text(template.replace("SUB", sub).replace("REF", ref))
        with pytest.raises(iotsql.RuleValidationError) as raised:
            iotsql.load_rules(path)
        return str(raised.value)

    assert refusal("Treshold", "AlertsQueue").endswith(
        "Fn::Sub: ${Treshold} is neither a parameter nor a resource of the template; to keep an "
        "AWS IoT substitution template write ${!Treshold}; did you mean ${Threshold}?"
    )
    assert refusal("Threshold", "AlertQueue").endswith(
        "Ref: 'AlertQueue' is neither a parameter nor a resource of the template; "
        "did you mean AlertsQueue?"
    )
    assert refusal("Threshold", "Nothing").endswith(
        "Ref: 'Nothing' is neither a parameter nor a resource of the template"
    )


def test_a_test_run_that_ran_no_case_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty case file, or a -k that selects nothing, printed "0 passed, 0 failed" and
    passed a CI job that tested nothing; like pytest, it now fails and says why."""
    monkeypatch.chdir(tmp_path)
    Path("empty.jsonl").write_text("")
    status, out, err = run(capsys, "test", "empty.jsonl")
    assert status == 1 and out.strip() == "0 passed, 0 failed"
    assert "no case ran (empty.jsonl: they hold no case)" in err
    case = {"id": "a", "sql": "SELECT a FROM 't'", "topic": "t", "payload": {"a": 1},
            "expected": {"a": 1}}  # fmt: skip
    Path("cases.json").write_text(json.dumps([case]))
    status, _, err = run(capsys, "test", "cases.json", "-k", "nothing")
    assert status == 1 and "no case id contains 'nothing'" in err
    status, out, _ = run(capsys, "test", "cases.json")
    assert status == 0 and out.strip() == "1 passed, 0 failed"


def _cli_rule(payload: dict[str, object]) -> str:
    return json.dumps({"ruleName": "r", "topicRulePayload": payload})


@pytest.mark.parametrize(
    ("payload", "message", "hint", "key"),
    [
        ({"sqll": "SELECT a FROM 't'", "actions": []},
         "sqll is not a field of TopicRulePayload", "did you mean sql?", '"sqll"'),
        ({"sql": "SELECT a FROM 't'", "actions": [{"sqs": {
            "queueURL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "roleArn": "arn:aws:iam::123456789012:role/r"}}]},
         "queueURL is not a field of SqsAction", "did you mean queueUrl?", '"queueURL"'),
        ({"sql": "SELECT a FROM 't'", "actions": [{"SQS": {
            "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "roleArn": "arn:aws:iam::123456789012:role/r"}}]},
         "SQS is not a field of Action", "did you mean sqs?", '"SQS"'),
        ({"sql": "SELECT a FROM 't'", "actions": [{"sqs": {
            "roleArn": "arn:aws:iam::123456789012:role/r"}}]},
         "queueUrl is required", None, '"sqs"'),
    ],
)  # fmt: skip
def test_a_misspelt_field_of_an_aws_cli_rule_is_named_with_the_field_meant(
    payload: dict[str, object],
    message: str,
    hint: str | None,
    key: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A misspelt key is the error, not the correct key it hides (`sql is required` said
    nothing about `sqll`); `iotsql check` finds the file even without a `sql` key, puts the
    finding on the misspelt key, and names a missing field in the message."""
    monkeypatch.chdir(tmp_path)
    text = _cli_rule(payload)
    Path("rule.json").write_text(text, encoding="utf-8")
    status, out, _ = run(capsys, "check", "rule.json", "--format", "json", "--isolated")
    assert status == 1
    (error,) = json.loads(out)["errors"]
    assert (error["code"], error["message"].split(" (known: ")[0]) == ("invalid-rule", message)
    assert error["hint"] == hint
    assert (error["line"], error["column"]) == (1, text.index(key) + 1)
    Path("m.jsonl").write_text('{"topic": "t", "payload": {"a": 1}}\n', encoding="utf-8")
    status, out, err = run(capsys, "replay", "rule.json", "m.jsonl")
    assert (status, out) == (2, "")
    field = message.split()[0]
    assert f".{field}: " in err and (hint is None or err.rstrip().endswith(f"; {hint}")), err


TERRAFORM_RULE = """resource "aws_iot_topic_rule" "r" {
  name        = "r"
  enabled     = true
  sql         = "SELECT a FROM 't'"
  sql_version = "2016-03-23"
  sqs {
    queue_url  = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    role_arn   = "arn:aws:iam::123456789012:role/r"
    use_base64 = false
  }
}
"""


@pytest.mark.parametrize(
    ("typo", "mistake", "message", "hint"),
    [
        ("  sql ", "  sqll", "unknown argument of aws_iot_topic_rule", "did you mean sql?"),
        ("  enabled ", "  enabeld", "unknown argument of aws_iot_topic_rule",
         "did you mean enabled?"),
        ("queue_url ", "queue_urll", "unknown property; SqsAction has: queue_url, role_arn, "
         "use_base64", "did you mean queue_url?"),
        ("  sqs {", "  sqs_queue {", "unknown block type of aws_iot_topic_rule", None),
        ('  sql         = "SELECT a FROM \'t\'"\n', "", "sql is required (the rule's SQL "
         "statement)", None),
    ],
)  # fmt: skip
def test_a_misspelt_terraform_argument_is_named_with_the_argument_meant(
    typo: str,
    mistake: str,
    message: str,
    hint: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As Terraform says "An argument named "sqll" is not expected here. Did you mean "sql"?",
    rather than iotsql's former "sql: is required" at the resource (or nothing at all for a
    misspelt optional argument, which was silently dropped)."""
    monkeypatch.chdir(tmp_path)
    text = TERRAFORM_RULE.replace(typo, mistake, 1)
    assert text != TERRAFORM_RULE
    Path("main.tf").write_text(text, encoding="utf-8")
    status, out, _ = run(capsys, "check", "main.tf", "--format", "json", "--isolated")
    assert status == 1
    (error,) = json.loads(out)["errors"]
    assert (error["message"], error["hint"]) == (message, hint)
    if mistake:
        line = next(n for n, t in enumerate(text.splitlines(), 1) if mistake.strip() in t)
        assert (error["line"], error["column"]) == (line, text.splitlines()[line - 1].index(
            mistake.strip()) + 1)  # fmt: skip


def test_a_misspelt_command_gets_the_command_meant(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "evl", "SELECT a FROM 't'")
    assert status == 2
    assert err.startswith("usage: iotsql ")
    assert err.splitlines()[-1] == (
        "iotsql: error: unknown command 'evl'; did you mean eval? (the commands: eval, check, "
        "test, replay, repl, bench, bridge, moto-server, ministack)"
    )
    status, _, err = run(capsys, "moto-sever")
    assert status == 2 and "did you mean moto-server?" in err
    status, _, err = run(capsys, "frobnicate")
    assert status == 2 and err.splitlines()[-1].startswith("iotsql: error: unknown command "
                                                           "'frobnicate' (the commands: eval")  # fmt: skip
    assert run(capsys, "moto-server", "--help")[0] == 0
