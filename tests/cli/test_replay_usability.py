"""`iotsql replay` as a new user runs it: parameter values on the command line and in the files
CloudFormation, Terraform and Serverless users keep them in, a rule from a
`--topic-rule-payload` file, several RULES files, and a summary with the time taken, the rate
and the messages no rule matched."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from iotsql.loaders.parameters import (
    ParametersFileError,
    give_value,
    parameter_hint,
    read_parameters,
)

TEMPLATE = """\
Parameters:
  Env: {Type: String}
  Threshold: {Type: Number, Default: 30}
Resources:
  Rule:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: !Sub "Hot_${Env}"
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        Sql: !Sub "SELECT t FROM 'sensors/+' WHERE t > ${Threshold}"
        Actions: [{Sqs: {QueueUrl: q, RoleArn: arn:aws:iam::123456789012:role/r}}]
"""
TERRAFORM = """\
variable "threshold" {
  type = number
}
resource "aws_iot_topic_rule" "cold" {
  name        = "Cold"
  enabled     = true
  sql         = "SELECT t FROM 'sensors/+' WHERE t < ${var.threshold}"
  sql_version = "2016-03-23"
  sns {
    target_arn = "arn:aws:sns:us-east-1:123456789012:cold"
    role_arn   = "arn:aws:iam::123456789012:role/r"
  }
}
"""
SERVERLESS = """\
service: home
provider: {name: aws, runtime: nodejs18.x}
functions:
  alarm:
    handler: handler.alarm
    events:
      - iot:
          name: Alarm
          sql: "SELECT t FROM '${param:site}/+' WHERE t > 50"
"""
PAYLOAD = {"sql": "SELECT * FROM 'other/+'", "awsIotSqlVersion": "2016-03-23",
           "actions": [{"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}}]}  # fmt: skip
MESSAGES = [
    {"topic": "sensors/a", "payload": {"t": 35}},
    {"topic": "sensors/b", "payload": {"t": 10}},
    {"topic": "other/x", "payload": {}},
    {"topic": "nowhere/1", "payload": {}},
    {"topic": "nowhere/2", "payload": {}},
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "main.tf").write_text(TERRAFORM, encoding="utf-8")
    (tmp_path / "serverless.yml").write_text(SERVERLESS, encoding="utf-8")
    (tmp_path / "messages.jsonl").write_text("".join(json.dumps(m) + "\n" for m in MESSAGES))
    return tmp_path


def replay(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "iotsql", "replay", *args], cwd=folder,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})  # fmt: skip


def fired(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [json.loads(line)["rule"] for line in result.stdout.splitlines()]


def test_a_parameter_without_default_asks_for_the_option(folder: Path) -> None:
    result = replay(folder, "template.yaml", "messages.jsonl")
    assert result.returncode == 2
    assert result.stderr == (
        "iotsql replay: error: template.yaml: Parameters.Env: has no Default and no value was "
        "given: give it with --parameters Env=VALUE (or in a --parameters-file)\n"
    )
    tf = replay(folder, "main.tf", "messages.jsonl")
    assert "give it with --parameters threshold=VALUE" in tf.stderr
    sls = replay(folder, "serverless.yml", "messages.jsonl")
    assert "give it with --parameters site=VALUE" in sls.stderr


def test_parameters_on_the_command_line(folder: Path) -> None:
    result = replay(folder, "template.yaml", "messages.jsonl", "--parameters", "Env=prod",
                    "--parameters", "Threshold=5")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert fired(result) == ["Hot_prod", "Hot_prod"]  # 35 and 10 are both above 5
    bad = replay(folder, "template.yaml", "messages.jsonl", "--parameters", "Env")
    assert bad.returncode == 2 and "--parameters takes KEY=VALUE, not 'Env'" in bad.stderr


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cfn.json", '[{"ParameterKey": "Env", "ParameterValue": "test"}, '
                     '{"ParameterKey": "Threshold", "ParameterValue": "5"}]'),
        ("overrides.json", '["Env=test", "Threshold=5"]'),
        ("pipeline.json", '{"Parameters": {"Env": "test", "Threshold": "5"}, "Tags": {}}'),
        ("values.yaml", "Env: test\nThreshold: 5\n"),
        ("prod.env", "# the test stage\nexport Env=test\nThreshold='5'\n"),
    ],
)  # fmt: skip
def test_cloudformation_parameters_files(folder: Path, name: str, content: str) -> None:
    (folder / name).write_text(content, encoding="utf-8")
    result = replay(folder, "template.yaml", "messages.jsonl", "--parameters-file", name)
    assert result.returncode == 0, result.stderr
    assert fired(result) == ["Hot_test", "Hot_test"]


def test_terraform_and_serverless_values_and_precedence(folder: Path) -> None:
    (folder / "prod.tfvars").write_text("threshold = 20\n", encoding="utf-8")
    (folder / "site.json").write_text('{"site": "sensors", "threshold": 50}')
    result = replay(folder, "main.tf", "serverless.yml", "messages.jsonl",
                    "--parameters-file", "site.json", "--parameters-file", "prod.tfvars")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert fired(result) == ["Cold"]  # 10 < 20 (the later file wins); 35 is not above 50
    override = replay(folder, "main.tf", "serverless.yml", "messages.jsonl", "--parameters-file",
                      "prod.tfvars", "--parameters-file", "site.json", "--parameters", "threshold=40")  # fmt: skip
    assert fired(override) == ["Cold", "Cold"]  # --parameters wins over every file
    (folder / "vars.tfvars.json").write_text('{"threshold": 20}')
    as_json = replay(folder, "main.tf", "messages.jsonl", "--parameters-file", "vars.tfvars.json")
    assert fired(as_json) == ["Cold"]


def test_bad_parameters_files(folder: Path) -> None:
    (folder / "broken.json").write_text('{"Env": ')
    (folder / "list.json").write_text("[1, 2]")
    (folder / "lines.env").write_text("Env=prod\nnot a line\n")
    for name, message in [
        ("missing.json", "--parameters-file: missing.json: no such file"),
        ("broken.json", "--parameters-file: broken.json: invalid JSON: Expecting value (line 1, column 9)"),
        ("list.json", "--parameters-file: list.json[0]: expected an object of values"),
        ("lines.env", "--parameters-file: lines.env:2: expected KEY=VALUE, not 'not a line'"),
    ]:  # fmt: skip
        result = replay(folder, "template.yaml", "messages.jsonl", "--parameters-file", name)
        assert result.returncode == 2
        assert result.stderr.startswith(f"iotsql replay: error: {message}"), result.stderr


def test_a_topic_rule_payload_file(folder: Path) -> None:
    (folder / "archive_other.json").write_text(json.dumps(PAYLOAD))
    result = replay(folder, "--topic-rule-payload", "archive_other.json", "messages.jsonl")
    assert result.returncode == 0, result.stderr
    assert fired(result) == ["archive_other"]
    named = replay(folder, "messages.jsonl", "--topic-rule-payload", "file://archive_other.json",
                   "--rule-name", "Archive")  # fmt: skip
    assert fired(named) == ["Archive"]
    with_template = replay(folder, "template.yaml", "messages.jsonl", "--parameters", "Env=dev",
                           "--topic-rule-payload", "archive_other.json")  # fmt: skip
    assert fired(with_template) == ["Hot_dev", "archive_other"]


def test_topic_rule_payload_mistakes(folder: Path) -> None:
    (folder / "my-rule.json").write_text(json.dumps(PAYLOAD))
    (folder / "input.json").write_text(json.dumps({"ruleName": "R", "topicRulePayload": PAYLOAD}))
    (folder / "bad_sql.json").write_text(json.dumps({**PAYLOAD, "sql": "SELECT * FORM 'a'"}))
    cases = [
        (["--topic-rule-payload", "my-rule.json"],
         "my-rule.json: the file's name 'my-rule' is not a rule name (letters, digits and _): "
         "name the rule with --rule-name"),
        (["--topic-rule-payload", "input.json"],
         "input.json is a create-topic-rule input (ruleName, topicRulePayload): give it as RULES"),
        (["--topic-rule-payload", "bad_sql.json"],
         "bad_sql.json:1:19: sql: invalid SQL: unexpected 'FORM' (line 1, column 10 of the "
         "statement)"),
        (["--topic-rule-payload", "my-rule.json", "--topic-rule-payload", "input.json",
          "--rule-name", "X"], "--rule-name names the rule of one --topic-rule-payload file"),
        ([], "no rules: give RULES files, or --topic-rule-payload FILE"),
    ]  # fmt: skip
    for args, message in cases:
        result = replay(folder, *args, "messages.jsonl")
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"iotsql replay: error: {message}"), result.stderr


def test_several_rules_files_and_a_name_used_twice(folder: Path) -> None:
    (folder / "other.json").write_text(
        json.dumps({"rules": [{"ruleName": "Hot_dev", "topicRulePayload": PAYLOAD}]})
    )
    result = replay(
        folder, "template.yaml", "other.json", "messages.jsonl", "--parameters", "Env=dev"
    )
    assert result.returncode == 2
    assert "rule names must be unique across the RULES files" in result.stderr


def test_the_summary_has_the_time_the_rate_and_what_matched_nothing(folder: Path) -> None:
    result = replay(folder, "template.yaml", "main.tf", "messages.jsonl", "--parameters", "Env=dev",
                    "--parameters", "threshold=0")  # fmt: skip
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        "rule     matched  fired  actions  errors",
        "Hot_dev        2      1        1       0",
        "Cold           2      0        0       0",
    ]
    assert re.fullmatch(
        r"5 messages replayed in [\d.]+ m?s \([\d,]+ messages/s\), 1 action request", lines[3]
    ), lines[3]
    assert lines[4] == "3 messages matched no rule: other/x, nowhere/1, nowhere/2"
    assert len(lines) == 5


def test_reading_parameters_files_directly(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('[{"ParameterKey": "A", "UsePreviousValue": true}]')
    with pytest.raises(ParametersFileError, match="UsePreviousValue needs a deployed stack"):
        read_parameters(path)
    path.write_text('{"A": 1, "B": [1, 2]}')
    assert read_parameters(path) == {"A": 1, "B": [1, 2]}
    (tmp_path / "lists.tfvars").write_text('rooms = ["a", "b"]\nname = "x"\n')
    assert read_parameters(tmp_path / "lists.tfvars") == {"rooms": ["a", "b"], "name": "x"}
    assert give_value("Env") == "pass parameters={'Env': ...}"
    with parameter_hint("use --x {name}=V"):
        assert give_value("Env") == "use --x Env=V"
    assert give_value("Env") == "pass parameters={'Env': ...}"


def test_iotsql_test_asks_for_its_own_option(folder: Path) -> None:
    (folder / "cases.jsonl").write_text(json.dumps({"id": "hot", "rule": "Hot_prod", "topic": "sensors/a",
                                                    "payload": {"t": 35}, "expected": {"t": 35}}) + "\n")  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "iotsql", "test", "cases.jsonl", "--rules", "template.yaml"],
                            cwd=folder, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert "has no Default and no value was given: give it with --param Env=VALUE" in result.stderr
    passing = subprocess.run([sys.executable, "-m", "iotsql", "test", "cases.jsonl", "--rules",
                              "template.yaml", "--param", "Env=prod"],
                             cwd=folder, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert passing.returncode == 0 and passing.stdout.strip() == "1 passed, 0 failed"
