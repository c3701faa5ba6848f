"""A rule's SQL error, from a file, at its place in the file (issue 18): `iotsql.load_rules`,
`RulesEngine.load_rules`, the pytest plugin and `iotsql replay` all say `file:line:column` of
the template (YAML block and quoted scalars, JSON, HCL strings and heredocs, serverless.yml,
plan JSON, the AWS CLI's JSON), show the file's line with a caret, and keep the SQL's own line
and column and the "did you mean" of misspelled keywords and functions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import iotsql
from iotsql.loaders import RuleSqlError

pytest_plugins = ["pytester"]


def _cfn(sql_lines: str) -> str:
    return (
        "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Hot:\n"
        "    Type: AWS::IoT::TopicRule\n    Properties:\n      TopicRulePayload:\n"
        "        AwsIotSqlVersion: '2016-03-23'\n" + sql_lines + "        Actions: []\n"
    )


#: name -> (file name, text, the text the error points at, its (line, column) in the SQL, hint)
CASES = {
    "yaml literal block": (
        "template.yaml",
        _cfn("        Sql: |\n          SELECT temp\n          FORM 'sensors/#'\n"),
        "FORM", (2, 1), "did you mean FROM?",
    ),
    "yaml folded block": (
        "template.yaml",
        _cfn("        Sql: >-\n          SELECT temp,\n            timestmp() AS t\n"
             "          FROM 'sensors/#'\n"),
        "timestmp()", (2, 3), "did you mean timestamp()?",
    ),
    "yaml single-quoted": (
        "template.yaml",
        _cfn("        Sql: 'SELECT ''a'' AS k FORM ''sensors/#'''\n"),
        "FORM", (1, 17), "did you mean FROM?",
    ),
    "yaml double-quoted": (
        "template.yaml",
        _cfn('        Sql: "SELECT \\"caf\\u00e9\\" AS k,\\n  timestmp() FROM \'a\'"\n'),
        "timestmp()", (2, 3), "did you mean timestamp()?",
    ),
    "yaml !Sub": (
        "template.yaml",
        "Parameters:\n  Topic: {Type: String, Default: a-long-topic-name}\n"
        + _cfn("        Sql: !Sub \"SELECT * FROM '${Topic}/#' WHERE a == 1\"\n"),
        "==", (1, 45), "use =",
    ),
    "cloudformation json": (
        "template.json",
        json.dumps({"Resources": {"Hot": {"Type": "AWS::IoT::TopicRule", "Properties": {
            "TopicRulePayload": {"AwsIotSqlVersion": "2016-03-23", "Actions": [],
                                 "Sql": "SELECT \"\u00e9\" AS k,\n timestmp() FROM 'a'"}}}}},
                   indent=2, ensure_ascii=True),
        "timestmp()", (2, 2), "did you mean timestamp()?",
    ),
    "serverless": (
        "serverless.yml",
        "service: s\nprovider: {name: aws}\nfunctions:\n  f:\n    handler: h.h\n    events:\n"
        "      - iot:\n          sqlVersion: '2016-03-23'\n"
        "          sql: \"SELECT * FORM 'sensors/#'\"\n",
        "FORM", (1, 10), "did you mean FROM?",
    ),
    "terraform string": (
        "main.tf",
        'resource "aws_iot_topic_rule" "hot" {\n  name = "hot"\n  enabled = true\n'
        '  sql_version = "2016-03-23"\n'
        "  sql = \"SELECT \\\"k\\\" AS k, timestmp() FROM 'a'\"\n}\n",
        "timestmp()", (1, 18), "did you mean timestamp()?",
    ),
    "terraform heredoc": (
        "main.tf",
        'resource "aws_iot_topic_rule" "hot" {\n  name = "hot"\n  enabled = true\n'
        '  sql_version = "2016-03-23"\n  sql = <<-EOT\n    SELECT temp\n'
        "    FORM 'sensors/#'\n  EOT\n}\n",
        "FORM", (2, 1), "did you mean FROM?",
    ),
    "terraform json": (
        "main.tf.json",
        json.dumps({"resource": {"aws_iot_topic_rule": {"hot": {
            "name": "hot", "enabled": True, "sql_version": "2016-03-23",
            "sql": "SELECT \"k\" AS k FORM 'a'"}}}}, indent=2),
        "FORM", (1, 17), "did you mean FROM?",
    ),
    "yaml with crlf line ends": (
        "template.yaml",
        _cfn("        Sql: >\n          SELECT a\n          FORM 'x'\n").replace("\n", "\r\n"),
        "FORM", (1, 10), "did you mean FROM?",
    ),
    "terraform plan json": (
        "plan.json",
        json.dumps({"format_version": "1.2", "values": {"root_module": {"resources": [
            {"address": "aws_iot_topic_rule.hot", "type": "aws_iot_topic_rule", "name": "hot",
             "values": {"name": "hot", "enabled": True, "sql_version": "2016-03-23",
                        "sql": "SELECT * FORM 'a'"}}]}}}, indent=1),
        "FORM", (1, 10), "did you mean FROM?",
    ),
    "aws cli json": (
        "rules.json",
        json.dumps({"ruleName": "Hot", "topicRulePayload": {
            "sql": "SELECT timestmp() FROM 'a'", "awsIotSqlVersion": "2016-03-23",
            "actions": []}}, indent=2),
        "timestmp()", (1, 8), "did you mean timestamp()?",
    ),
}  # fmt: skip


def _expected_place(text: str, target: str, occurrence: int = 0) -> tuple[int, int]:
    """(line, column) in the file of `target`."""
    offset = -1
    for _ in range(occurrence + 1):
        offset = text.index(target, offset + 1)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


@pytest.mark.parametrize("case", list(CASES))
def test_load_rules_says_where_the_sql_error_is_in_the_file(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, text, target, sql_place, hint = CASES[case]
    monkeypatch.chdir(tmp_path)
    Path(name).write_bytes(text.encode("utf-8"))  # as written: CRLF stays CRLF
    with pytest.raises(RuleSqlError) as exc:
        iotsql.load_rules(name)
    error = exc.value
    assert (error.line, error.column) == sql_place  # the SQL's own place is kept
    assert error.hint == hint
    where = error.position
    assert where is not None and where.exact and where.file == name
    line, column = _expected_place(text, target)
    assert (where.line, where.column) == (line, column)
    first, *rest = str(error).splitlines()
    assert first.startswith(f"{name}:{line}:{column}: ")
    assert f"(line {sql_place[0]}, column {sql_place[1]} of the statement)" in first
    file_line = text.splitlines()[line - 1]
    assert file_line[column - 1 :].startswith(target)
    caret = rest[rest.index(f" {line} | {file_line}") + 1]
    assert caret.index("^") - len(f" {line} | ") == column - 1
    assert rest[-1] == f"hint: {hint}"


def test_the_engine_and_replay_report_the_same_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, text, target, _, hint = CASES["yaml literal block"]
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(text, encoding="utf-8")
    line, column = _expected_place(text, target)
    with pytest.raises(RuleSqlError) as exc:
        iotsql.RulesEngine().load_rules(name)
    assert str(exc.value).startswith(f"{name}:{line}:{column}: Resources.Hot.Properties.")
    Path("messages.jsonl").write_text("", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "iotsql", "replay", name, "messages.jsonl"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"iotsql replay: error: {name}:{line}:{column}: ")
    assert f"hint: {hint}" in result.stderr


def test_an_evaluated_statement_is_placed_at_its_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the statement is not written as it runs (here a Terraform variable holds all of
    it), the error points at the field and shows the statement itself."""
    monkeypatch.chdir(tmp_path)
    Path("main.tf").write_text(
        'variable "sql" {\n  default = "SELECT * FORM \'a\'"\n}\n'
        'resource "aws_iot_topic_rule" "hot" {\n  name = "hot"\n  enabled = true\n'
        '  sql_version = "2016-03-23"\n  sql = var.sql\n}\n',
        encoding="utf-8",
    )
    with pytest.raises(RuleSqlError) as exc:
        iotsql.load_rules("main.tf")
    where = exc.value.position
    assert where is not None and not where.exact and where.line == 8
    lines = str(exc.value).splitlines()
    assert lines[0].startswith("main.tf:8:")
    assert "(line 1, column 10 of the statement as evaluated)" in lines[0]
    assert "SELECT * FORM 'a'" in lines and lines[-1] == "hint: did you mean FROM?"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("template.yaml", _cfn("        Sql: |\n          SELECT a FROM 'x' WHERE\n\n")),
        ("main.tf", 'resource "aws_iot_topic_rule" "r" {\n  name = "r"\n  enabled = true\n'
                    '  sql_version = "2016-03-23"\n  sql = "SELECT a FROM"\n}\n'),
    ],
)  # fmt: skip
def test_the_end_of_the_statement_is_just_after_its_last_word(
    name: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(text, encoding="utf-8")
    with pytest.raises(RuleSqlError, match="unexpected end of statement") as exc:
        iotsql.load_rules(name)
    where = exc.value.position
    assert where is not None and where.exact
    last = "WHERE" if name.endswith(".yaml") else "FROM"
    line, column = _expected_place(text, last)
    assert (where.line, where.column) == (line, column + len(last))


def test_rules_given_as_data_keep_the_sql_position_only() -> None:
    with pytest.raises(RuleSqlError) as exc:
        iotsql.load_rules({"R": {"sql": "SELECT * FORM 'a'", "actions": []}})
    assert exc.value.position is None
    assert str(exc.value).startswith("<rules>: R.topicRulePayload.sql: invalid SQL: unexpected")


def test_a_hint_names_the_version_field_as_the_format_spells_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("template.yaml").write_text(
        _cfn("        Sql: SELECT VALUE [1, 2] FROM 'a'\n").replace("'2016-03-23'", "'2015-10-08'"),
        encoding="utf-8",
    )
    with pytest.raises(RuleSqlError) as exc:
        iotsql.load_rules("template.yaml")
    assert exc.value.hint == "set AwsIotSqlVersion to 2016-03-23"


def test_the_pytest_plugin_reports_the_place_in_the_file(pytester: pytest.Pytester) -> None:
    name, text, target, _, hint = CASES["terraform heredoc"]
    pytester.makefile(".tf", main=text)
    pytester.makeini("[pytest]\niotsql_rules = main.tf\n")
    pytester.makepyfile("def test_uses(iot):\n    pass\n")
    result = pytester.runpytest("-p", "iotsql.testing.plugin")
    result.assert_outcomes(errors=1)
    line, column = _expected_place(text, target)
    result.stdout.fnmatch_lines([
        f"*iotsql: cannot load the rules: *{name}:{line}:{column}: "
        "aws_iot_topic_rule.hot.sql: invalid SQL: unexpected 'FORM'*",
        f"*hint: {hint}",
    ])  # fmt: skip


def test_the_error_docs_testing_md_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/testing.md's example: its walkthrough template with `FORM` for `FROM`."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text("utf-8")
    template = doc.split("```yaml", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    assert template.count("FROM 'greenhouse/+/telemetry'") == 1
    shown = next(block.split("```", 1)[0] for block in doc.split("```text\n")[1:]
                 if block.startswith("iotsql: cannot load the rules: "))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    Path("template.yaml").write_text(template.replace("FROM 'greenhouse", "FORM 'greenhouse"))
    with pytest.raises(RuleSqlError) as exc:
        iotsql.load_rules("template.yaml")
    assert f"iotsql: cannot load the rules: {exc.value}\n" == shown
