"""What the commands say about topic-rule fidelity: `iotsql check` on rule files prints the
loaders' `sql-version-default` warning and lints each rule at its own version, the call-limit
warning, `eval` on a rule that terminates, and `replay` running rules without a version as
2015-10-08."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from test_cli import ENV, assert_clean

TEMPLATE = """\
Resources:
  NoVersion:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        Sql: SELECT v FROM 'sensors/+'
        Actions:
          - Sqs:
              QueueUrl: https://sqs.us-east-1.amazonaws.com/123456789012/q
              RoleArn: arn:aws:iam::123456789012:role/r
  Versioned:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        Sql: SELECT encode(*, 'base64') AS raw FROM 'cams/+'
        AwsIotSqlVersion: '2016-03-23'
        Actions: []
"""

LOOKUP = "get_dynamodb('T', 'id', {}, 'arn:aws:iam::1:role/r')"


def iotsql(*args: str, cwd: Path | None = None) -> Any:
    return subprocess.run([sys.executable, "-m", "iotsql", *args], capture_output=True, text=True,
                          cwd=cwd, env=ENV, timeout=60, input="")  # fmt: skip


def test_check_prints_sql_version_default_for_a_rule_file(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    result = iotsql("check", "template.yaml", cwd=tmp_path)
    assert_clean(result)
    assert result.returncode == 0
    first, *rest = result.stdout.splitlines()
    assert first == (
        "template.yaml:5:7: sql-version-default warning: the rule does not set "
        "awsIotSqlVersion, so AWS runs it as 2015-10-08 (the API's default; the console "
        "defaults to 2016-03-23): set it explicitly"
    )
    # Versioned is linted at 2016-03-23 (encode() is fine there), NoVersion at 2015-10-08.
    assert rest[-1] == "Found 0 errors, 1 warning (2 rules in 1 file)."
    data = json.loads(iotsql("check", "@template.yaml", "--format", "json", cwd=tmp_path).stdout)
    assert [r["sqlVersion"] for r in data["rules"]] == ["2015-10-08", "2016-03-23"]
    assert [(w["code"], w["rule"]) for w in data["warnings"]] == [
        ("sql-version-default", "NoVersion")
    ]


def test_check_warns_about_a_call_limit_and_eval_says_the_rule_terminates() -> None:
    sql = f"SELECT {LOOKUP.format('a')} AS x, {LOOKUP.format('b')} AS y FROM 't'"
    result = iotsql("check", sql)
    assert result.returncode == 0
    assert "warning: get_dynamodb() is called 2 times in this statement" in result.stdout
    result = iotsql("eval", sql, "--topic", "t")
    assert_clean(result)
    assert result.returncode == 1
    assert (
        "did not fire: the rule terminates without invoking any actions: get_dynamodb() is "
        "called 2 times in the statement; at most 1 is allowed" in result.stderr
    )


def test_replay_runs_a_rule_without_a_version_as_2015_10_08(tmp_path: Path) -> None:
    rules = {"rules": [{"ruleName": "NoVersion", "topicRulePayload": {
        "sql": "SELECT v FROM 't'", "actions": [{"sqs": {
            "queueUrl": "https://q", "roleArn": "arn:aws:iam::1:role/r"}}]}}]}  # fmt: skip
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    (tmp_path / "messages.jsonl").write_text('{"topic": "t", "payload": {"v": 10.0}}\n')
    result = iotsql("replay", "rules.json", "messages.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["request"]["arguments"]["MessageBody"] == '{"v":10.0}'
