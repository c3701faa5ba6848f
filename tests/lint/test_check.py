"""`iotsql check` over the fixtures of every format (tests/lint/data), each with known problems
at known places: every finding's file, line, column and code, and the text of the file found
there (so a position is right because it points at the right text, not because a number was
copied); the exit statuses, the options, [tool.iotsql], and each output format (the SARIF
validated against the published SARIF 2.1.0 schema, the GitHub workflow commands parsed)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lint_support import REPOSITORY, Run, sarif_schema

import iotsql
from iotsql.lint.codes import CODES

#: (file, line, column, code, the text of the file at that place)
EXPECTED = [
    ("broken/template.yaml", 6, 7, "document-syntax", "Actions"),
    ("cli/create-topic-rule.json", 3, 3, "sql-version-default", '"topicRulePayload"'),
    ("cli/create-topic-rule.json", 4, 55, "unsupported-clause", "BY a"),
    ("cli/get-topic-rule.json", 5, 20, "aggregate-function", "sum(v)"),
    ("cloudformation/template.json", 10, 88, "between-operator", "BETWEEN 1 AND 5"),
    ("cloudformation/template.json", 12, 129, "invalid-value", '"CannedAcl": "Private"'),
    ("cloudformation/template.json", 22, 26, "aggregate-function", "count(*)"),
    ("cloudformation/template.yaml", 29, 26, "like-operator", "LIKE 'lab-%'"),
    ("cloudformation/template.yaml", 42, 15, "unknown-property", "QueueURL:"),
    ("cloudformation/template.yaml", 43, 15, "unknown-property", "Rolearn:"),
    ("cloudformation/template.yaml", 44, 13, "unknown-property", "RePublish:"),
    ("cloudformation/template.yaml", 54, 15, "getatt-attribute", "QueueUrl: !GetAtt Alerts.Url"),
    ("cloudformation/template.yaml", 59, 7, "sql-version-default", "TopicRulePayload:"),
    ("cloudformation/template.yaml", 60, 29, "keyword-typo", "FORM '${Topic}"),
    ("cloudformation/template.yaml", 63, 15, "lambda-permission-missing", "FunctionArn:"),
    ("cloudformation/template.yaml", 69, 80, "hyphenated-key", "a.battery-level < 10"),
    ("cloudformation/template.yaml", 72, 15, "republish-loop", "Topic: loop/alerts"),
    ("plan/plan.json", 16, 56, "is-null", "IS NULL"),
    ("sam/template.yaml", 18, 33, "is-null", "IS NOT NULL"),
    ("sam/template.yaml", 24, 47, "unsupported-clause", "LIMIT 10"),
    ("sam/template.yaml", 27, 15, "lambda-permission-missing", "FunctionArn: !GetAtt Handler"),
    ("serverless/serverless.yml", 14, 91, "trailing-semicolon", ';"'),
    ("serverless/serverless.yml", 18, 28, "aggregate-function", "avg(temp)"),
    ("serverless/serverless.yml", 28, 11, "unknown-property", "desciption:"),
    ("serverless/serverless.yml", 39, 17, "lambda-permission-missing", "FunctionArn:"),
    ("sql/backtick.sql", 2, 8, "backtick-quote", "`battery-level`"),
    ("sql/semicolon.sql", 1, 64, "trailing-semicolon", ";"),
    ("terraform/main.tf", 36, 23, "between-operator", "BETWEEN 10 AND 30"),
    ("terraform/main.tf", 40, 5, "lambda-permission-missing", "function_arn = aws_lambda"),
    ("terraform/main.tf", 48, 118, "in-parentheses", ", 'off')"),
    ("terraform_json/main.tf.json", 8, 30, "version", "[1, 2]"),
]


def findings(run: Run) -> list[dict[str, Any]]:
    report = json.loads(run.stdout)
    return [*report["errors"], *report["warnings"], *report["infos"]]


def text_at(file: str, line: int, column: int) -> str:
    return Path(file).read_text(encoding="utf-8").splitlines()[line - 1][column - 1 :]


def test_every_finding_of_every_format_at_its_place(
    project: Path, run_check: Callable[..., Run]
) -> None:
    result = run_check(".", "--format", "json")
    found = sorted((f["file"], f["line"], f["column"], f["code"]) for f in findings(result))
    assert found == [entry[:4] for entry in EXPECTED]
    for file, line, column, code, text in EXPECTED:
        assert text_at(file, line, column).startswith(text), (file, line, column, code)
    assert result.status == 1
    summary = json.loads(result.stdout)["summary"]
    assert summary["files"] == 12


def test_unrelated_yaml_and_json_files_are_passed_over(
    project: Path, run_check: Callable[..., Run]
) -> None:
    Path("unrelated/k8s.yaml").write_text(
        "kind: ConfigMap\ndata: {sql: 'SELECT 1'}\n---\nkind: Secret\n", encoding="utf-8"
    )
    result = run_check("unrelated/package.json", "unrelated/compose.yaml",
                       "unrelated/tsconfig.json", "unrelated/k8s.yaml")  # fmt: skip
    assert result.status == 0
    # (a pass, since pre-commit hands the hook every such file, but not a silent one for the
    # user who named a file whose rules were not recognised)
    assert result.stdout == "All checks passed (no topic rules in the 4 files looked at).\n"


def test_the_findings_of_one_rule_name_it(project: Path, run_check: Callable[..., Run]) -> None:
    result = run_check("cloudformation/template.yaml", "--format", "json")
    by_place = {(f["line"], f["column"]): f for f in findings(result)}
    like = by_place[(29, 26)]
    assert (like["rule"], like["resource"], like["severity"]) == ("HighTemp", "HighTemp", "error")
    assert like["hint"].startswith("AWS IoT SQL has no LIKE: use startswith(")
    assert (like["endLine"], like["endColumn"]) == (29, 30)
    typo = by_place[(60, 29)]
    assert typo["hint"] == "did you mean FROM?" and typo["rule"] == "Invoke"
    misspelt = by_place[(42, 15)]
    assert misspelt["hint"].startswith("did you mean QueueUrl?")
    assert misspelt["resource"] == "Misspelt"


# ---- exit statuses ---------------------------------------------------------------------------


def test_exit_statuses(project: Path, run_check: Callable[..., Run]) -> None:
    Path("clean.yaml").write_text(
        "Resources:\n  R:\n    Type: AWS::IoT::TopicRule\n    Properties:\n"
        "      TopicRulePayload:\n        AwsIotSqlVersion: '2016-03-23'\n"
        "        Sql: SELECT * FROM 'a/b'\n        Actions: []\n", encoding="utf-8",
    )  # fmt: skip
    assert run_check("clean.yaml").status == 0
    assert run_check("cli/create-topic-rule.json", "--select", "sql-version-default").status == 0
    assert run_check("sql/semicolon.sql").status == 1
    missing = run_check("no/such/template.yaml")
    assert missing.status == 2 and "no such file or folder: no/such/template.yaml" in missing.stderr
    Path("latin1.sql").write_bytes("SELECT 'caf\xe9' FROM 'a'".encode("latin-1"))
    unreadable = run_check("latin1.sql", "sql/semicolon.sql")
    assert unreadable.status == 2 and "latin1.sql: not UTF-8 text" in unreadable.stderr
    assert "semicolon.sql:1:64" in unreadable.stdout  # the rest is still checked
    bad_option = run_check("--select", "like-operater", ".")
    assert bad_option.status == 2
    assert "unknown code 'like-operater'; did you mean like-operator?" in bad_option.stderr


def test_an_unreadable_input_is_not_all_checks_passed(
    project: Path, run_check: Callable[..., Run]
) -> None:
    # Before: the error on stderr, then "All checks passed (nothing to check)." on stdout.
    Path("binary.yaml").write_bytes(b"\x97\xff\x00 AWS::IoT::TopicRule")
    result = run_check("binary.yaml")
    assert result.status == 2 and "binary.yaml: not UTF-8 text (byte 0)" in result.stderr
    assert result.stdout == "No findings (nothing to check), but 1 input could not be read.\n"


def test_a_cli_payload_without_sql_is_checked(project: Path, run_check: Callable[..., Run]) -> None:
    # Before: a file naming topicRulePayload but no `sql:` key was passed over as unrelated.
    Path("rule.json").write_text(
        '{"ruleName": "R", "topicRulePayload": {"awsIotSqlVersion": "2016-03-23", "actions": []}}',
        encoding="utf-8",
    )
    result = run_check("rule.json")
    assert result.status == 1 and "(1 rule in 1 file)" in result.stdout


def test_statements_and_files_together(project: Path, run_check: Callable[..., Run]) -> None:
    result = run_check("SELECT a FROM 'b' WHERE a != 1", "sql/semicolon.sql")
    assert result.status == 1
    assert "sql:1:27: bang-operator error: unexpected character '!'" in result.stdout
    assert 'hint: use <> for "not equal"' in result.stdout
    assert result.stdout.endswith(
        "Found 2 errors, 0 warnings (1 rule in 1 file; 1 statement, SQL version 2016-03-23).\n"
    )


def test_a_rule_without_from_is_reported_only_when_asked(run_check: Callable[..., Run]) -> None:
    # from-missing is off by default: every rule without FROM in public templates was meant for
    # Basic Ingest (LoRaWAN decoders, MQTT over HTTP, devices publishing to $aws/rules/...).
    plain = run_check("SELECT temperature")
    assert plain.status == 0
    assert plain.stdout == "All checks passed (1 statement, SQL version 2016-03-23).\n"
    asked = run_check("SELECT temperature", "--format", "json", "--extend-select", "from-missing")
    (info,) = json.loads(asked.stdout)["infos"]
    assert (info["code"], info["line"], info["column"]) == ("from-missing", 1, 1)
    assert asked.status == 0


def test_a_parameter_two_rules_use_is_one_finding(
    tmp_path: Path, run_check: Callable[..., Run]
) -> None:
    # A CDK stack's AppUniqueId (no Default) in the name of each rule was reported once per
    # rule, the same error at the same place (aws-solutions/connected-mobility-solution-on-aws).
    rule = """\
  Rule{x}:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: !Sub "${{AppId}}_{x}"
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        Sql: SELECT * FROM '{x}'
        Actions: []
"""
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n  AppId:\n    Type: String\nResources:\n"
        + rule.format(x="a") + rule.format(x="b"), encoding="utf-8",
    )  # fmt: skip
    result = run_check(str(template), "--format", "json")
    (error,) = json.loads(result.stdout)["errors"]
    assert (error["code"], error["line"], error["column"]) == ("template-error", 2, 3)
    assert "--parameters AppId=VALUE" in error["message"]


# ---- options ---------------------------------------------------------------------------------


def codes(run: Run) -> set[str]:
    return {f["code"] for f in findings(run)}


def test_select_ignore_and_extend_select(project: Path, run_check: Callable[..., Run]) -> None:
    everything = codes(run_check(".", "--format", "json"))
    assert "no-error-action" not in everything  # off by default
    only = run_check(".", "--format", "json", "--select", "like-operator,is-null")
    assert codes(only) == {"like-operator", "is-null"}
    ignored = run_check(".", "--format", "json", "--ignore", "lambda-permission-missing",
                        "--ignore", "sql-version-default")  # fmt: skip
    assert codes(ignored) == everything - {"lambda-permission-missing", "sql-version-default"}
    extended = run_check("cloudformation/template.yaml", "--format", "json",
                         "--extend-select", "no-error-action")  # fmt: skip
    infos = json.loads(extended.stdout)["infos"]
    assert {(f["line"], f["code"], f["rule"]) for f in infos} == {
        (24, "no-error-action", "HighTemp"), (37, "no-error-action", "Misspelt"),
        (49, "no-error-action", "BadAttribute"), (59, "no-error-action", "Invoke"),
        (67, "no-error-action", "Loop"),
    }  # fmt: skip
    assert {c for c in codes(run_check(".", "--format", "json", "--select", "ALL"))} >= {
        "no-error-action"
    }


def test_warnings_as_errors(project: Path, run_check: Callable[..., Run]) -> None:
    plain = run_check("cli/create-topic-rule.json", "--select", "sql-version-default")
    assert plain.status == 0 and "sql-version-default warning:" in plain.stdout
    strict = run_check("cli/create-topic-rule.json", "--select", "sql-version-default",
                       "--warnings-as-errors")  # fmt: skip
    assert strict.status == 1 and "sql-version-default error:" in strict.stdout


def test_pyproject_settings_and_per_file_ignores(
    project: Path, run_check: Callable[..., Run]
) -> None:
    Path("pyproject.toml").write_text(
        '[tool.iotsql]\nignore = ["unsupported-clause"]\nextend-select = ["no-error-action"]\n'
        'warnings-as-errors = true\nexclude = ["broken", "terraform*"]\nformat = "json"\n'
        '[tool.iotsql.per-file-ignores]\n"sam/*.yaml" = ["is-null"]\n'
        '"**/serverless.yml" = ["lambda-permission-missing"]\n', encoding="utf-8",
    )  # fmt: skip
    result = run_check(".")
    reported = findings(result)
    files = {f["file"] for f in reported}
    assert "broken/template.yaml" not in files and not any("terraform" in f for f in files)
    assert "unsupported-clause" not in codes(result) and "no-error-action" in codes(result)
    assert ("sam/template.yaml", "is-null") not in {(f["file"], f["code"]) for f in reported}
    assert ("plan/plan.json", "is-null") in {(f["file"], f["code"]) for f in reported}
    assert not any(
        f["file"] == "serverless/serverless.yml" and f["code"] == "lambda-permission-missing"
        for f in reported
    )
    assert all(f["severity"] in ("error", "info") for f in reported)  # warnings promoted
    assert run_check(".", "--isolated", "--format", "json").stdout != result.stdout
    Path("pyproject.toml").write_text("[tool.iotsql]\nselct = []\n", encoding="utf-8")
    bad = run_check(".")
    assert bad.status == 2 and "unknown setting 'selct'; did you mean select?" in bad.stderr


def test_parameters_from_the_command_line(project: Path, run_check: Callable[..., Run]) -> None:
    Path("param.yaml").write_text(
        "Parameters:\n  Topic: {Type: String}\nResources:\n  R:\n    Type: AWS::IoT::TopicRule\n"
        "    Properties:\n      TopicRulePayload:\n        AwsIotSqlVersion: '2016-03-23'\n"
        "        Sql: !Sub \"SELECT * FROM '${Topic}/+' WHERE a LIKE 'x'\"\n"
        "        Actions: []\n", encoding="utf-8",
    )  # fmt: skip
    without = findings(run_check("param.yaml", "--format", "json"))
    assert [(f["code"], f["line"], f["column"]) for f in without] == [("template-error", 2, 3)]
    assert "Topic" in without[0]["message"] and "no Default" in without[0]["message"]
    assert "give it with --parameters Topic=VALUE" in without[0]["message"]
    given = findings(run_check("param.yaml", "--format", "json", "-P", "Topic=plant/a"))
    assert [(f["code"], f["line"], f["column"]) for f in given] == [("like-operator", 9, 55)]
    Path("prod.json").write_text('[{"ParameterKey": "Topic", "ParameterValue": "plant/b"}]',
                                 encoding="utf-8")  # fmt: skip
    from_file = findings(run_check("param.yaml", "--format", "json", "--parameters-file",
                                   "prod.json"))  # fmt: skip
    assert [(f["code"], f["line"]) for f in from_file] == [("like-operator", 9)]
    missing = run_check("param.yaml", "--parameters-file", "nope.json")
    assert missing.status == 2 and "--parameters-file: nope.json: no such file" in missing.stderr
    # a misspelt name leaves the template at its defaults: a warning names the name meant
    typo = run_check("param.yaml", "-P", "Topc=plant/a")
    assert typo.status == 1 and "template-error" in typo.stdout
    assert typo.stderr == ("iotsql check: warning: --parameters: Topc: no rules file declares "
                           "it; did you mean Topic? (declared: Topic)\n")  # fmt: skip
    # one declared by any rules file checked is taken; a statement alone declares nothing
    Path("other.yaml").write_text(
        "Parameters:\n  Stage: {Type: String, Default: dev}\nResources:\n  S:\n"
        "    Type: AWS::IoT::TopicRule\n    Properties:\n      TopicRulePayload:\n"
        "        AwsIotSqlVersion: '2016-03-23'\n        Sql: !Sub \"SELECT * FROM '${Stage}'\"\n"
        "        Actions: []\n", encoding="utf-8",
    )  # fmt: skip
    both = run_check("param.yaml", "other.yaml", "-P", "Topic=plant/a", "-P", "Stage=prod")
    assert both.status == 1 and "like-operator" in both.stdout and both.stderr == ""
    assert run_check("SELECT * FROM 'a'", "-P", "Topc=x").stderr == ""


# ---- outputs -----------------------------------------------------------------------------------


def test_text_output(project: Path, run_check: Callable[..., Run]) -> None:
    result = run_check("sam/template.yaml", "--select", "is-null")
    assert result.stdout == (
        "sam/template.yaml:18:33: is-null error: unexpected 'IS'\n"
        " 18 |               WHERE temperature IS NOT NULL\n"
        "    |                                 ^^\n"
        "   rule: HandlerReadings (Handler.Events.Readings)\n"
        "   hint: AWS IoT SQL has no IS NOT NULL: use NOT isNull(x) for a null value, NOT "
        "isUndefined(x) for a missing key\n"
        "Found 1 error, 0 warnings (3 rules in 1 file).\n"
    )


def test_json_output_shape(project: Path, run_check: Callable[..., Run]) -> None:
    report = json.loads(run_check("serverless", "--format", "json").stdout)
    assert report["ok"] is False
    assert report["summary"] == {"files": 1, "rules": 3, "errors": 3, "warnings": 1, "infos": 0}
    (warning,) = report["warnings"]
    assert warning == {
        "code": "lambda-permission-missing", "severity": "warning",
        "message": "rule Archive invokes the Lambda function telemetry-dev-store, which no "
        "permission lets iot.amazonaws.com invoke: the rule deploys and the function is never "
        "called",
        "hint": warning["hint"], "file": "serverless/serverless.yml", "line": 39, "column": 17,
        "endLine": 39, "endColumn": 28, "rule": "Archive", "resource": "resources.Resources.Archive",
    }  # fmt: skip


_GITHUB = re.compile(r"^::(error|warning|notice) ((?:[^:]|%3A)*)::(.*)$")


def _unescape(text: str) -> str:
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":")
            .replace("%2C", ",").replace("%25", "%"))  # fmt: skip


def test_github_workflow_commands_parse_back_to_the_findings(
    project: Path, run_check: Callable[..., Run]
) -> None:
    expected = findings(run_check(".", "--format", "json"))
    lines = run_check(".", "--format", "github").stdout.splitlines()
    assert len(lines) == len(expected)
    for line, finding in zip(lines, _in_output_order(expected), strict=True):
        match = _GITHUB.match(line)
        assert match is not None, line
        level, raw_properties, message = match.groups()
        properties = dict(p.split("=", 1) for p in raw_properties.split(","))
        assert {"error": "error", "warning": "warning", "info": "notice"}[finding["severity"]] \
            == level  # fmt: skip
        assert _unescape(properties["file"]) == finding["file"]
        assert int(properties["line"]) == finding["line"]
        assert int(properties["col"]) == finding["column"]
        assert _unescape(properties["title"]) == f"iotsql {finding['code']}"
        text = _unescape(message)
        assert text.split("\nhint: ")[0] == finding["message"]
        if finding["hint"]:
            assert text.endswith(f"\nhint: {finding['hint']}")


def _in_output_order(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(found, key=lambda f: (f["file"], f["line"], f["column"], f["code"]))


def test_sarif_is_valid_against_the_published_schema(
    project: Path, run_check: Callable[..., Run]
) -> None:
    schema = sarif_schema()
    result = run_check(".", "SELECT a FROM 'b' WHERE a LIKE 'x'", "--format", "sarif",
                       "--output", "out.sarif")  # fmt: skip
    assert result.status == 1 and result.stdout == ""
    log = json.loads(Path("out.sarif").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, errors[0]
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    assert all(r["help"]["text"] and r["helpUri"].endswith(f"#{r['id']}") for r in rules)
    located = sorted(
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
         r["locations"][0]["physicalLocation"]["region"]["startLine"],
         r["locations"][0]["physicalLocation"]["region"]["startColumn"], r["ruleId"])
        for r in run["results"] if "locations" in r
    )  # fmt: skip
    assert located == [entry[:4] for entry in EXPECTED]
    (statement,) = [r for r in run["results"] if "locations" not in r]
    assert statement["ruleId"] == "like-operator" and statement["level"] == "error"
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"


def test_every_code_is_documented_with_an_example_and_its_fix() -> None:
    doc = (REPOSITORY / "docs" / "check.md").read_text(encoding="utf-8")
    sections = re.split(r"^### ", doc, flags=re.MULTILINE)[1:]
    documented = {section.split()[0].strip("`"): section for section in sections}
    assert set(documented) >= set(CODES)
    for name, code in CODES.items():
        section = documented[name]
        assert code.cfn_lint_id in section and code.severity in section, name
        assert "```" in section or name == "sql-warning", f"{name}: no example"
        assert "Fix:" in section, f"{name}: no fix"


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_every_format_with_nothing_to_report(
    fmt: str, project: Path, run_check: Callable[..., Run]
) -> None:
    result = run_check("unrelated", "--format", fmt)
    assert result.status == 0
    if fmt == "json":
        assert json.loads(result.stdout)["ok"] is True
    if fmt == "sarif":
        assert json.loads(result.stdout)["runs"][0]["results"] == []
    if fmt == "github":
        assert result.stdout == ""


_FENCE = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```', re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("name", [name for name in CODES if name != "sql-warning"])
def test_each_documented_example_produces_its_code(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_check: Callable[..., Run]
) -> None:
    doc = (REPOSITORY / "docs" / "check.md").read_text(encoding="utf-8")
    section = re.split(r"^### ", doc, flags=re.MULTILINE)[1:]
    (text,) = [s for s in section if s.startswith(f"`{name}`")]
    monkeypatch.chdir(tmp_path)
    args: list[str] = []
    for language, title, body in _FENCE.findall(text):
        if language == "sql" and not args:
            args.append(body.strip())
        elif title:
            Path(title).write_text(body, encoding="utf-8")
            args.append(title)
    assert args, f"{name}: no example"
    result = run_check(*args, "--select", "ALL", "--format", "json", "--isolated")
    assert name in codes(result), result.stdout


def test_folders_skip_build_output_and_options_from_another_file(
    project: Path, run_check: Callable[..., Run]
) -> None:
    bad = Path("sam/template.yaml").read_text(encoding="utf-8")
    for folder in (".aws-sam/build", "node_modules/pkg", ".serverless", "cdk.out"):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "template.yaml").write_text(bad, encoding="utf-8")
    Path("sam/event.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E:\n"
        "          Type: IoTRule\n          Properties: {SQL: \"SELECT * FROM 'a'\"}\n",
        encoding="utf-8",
    )  # fmt: skip
    Path("settings.toml").write_text('[tool.iotsql]\nselect = ["is-null", "unknown-property"]\n',
                                     encoding="utf-8")  # fmt: skip
    result = run_check(".", "--config", "settings.toml", "--exclude", "plan", "--format", "json")
    places = sorted((f["file"], f["line"], f["column"], f["code"]) for f in findings(result))
    assert places == [
        ("cdk.out/template.yaml", 18, 33, "is-null"),
        ("cloudformation/template.yaml", 42, 15, "unknown-property"),
        ("cloudformation/template.yaml", 43, 15, "unknown-property"),
        ("cloudformation/template.yaml", 44, 13, "unknown-property"),
        ("sam/event.yaml", 9, 24, "unknown-property"),
        ("sam/template.yaml", 18, 33, "is-null"),
        ("serverless/serverless.yml", 28, 11, "unknown-property"),
    ]
    event = next(f for f in findings(result) if f["file"] == "sam/event.yaml")
    assert event["hint"] == "did you mean Sql?"


def test_the_pages_pyproject_example_does_what_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_check: Callable[..., Run]
) -> None:
    # docs/check.md (Options and [tool.iotsql]): its [tool.iotsql] example, as printed, in a
    # project: no-error-action reported, warnings are errors, legacy/** skipped,
    # sql-version-default not reported for v1/*.yaml, Stage given to the templates.
    doc = (REPOSITORY / "docs" / "check.md").read_text(encoding="utf-8")
    (example,) = [body for language, _, body in _FENCE.findall(doc) if language == "toml"]
    monkeypatch.chdir(tmp_path)
    Path("pyproject.toml").write_text(example, encoding="utf-8")

    def template(sql: str) -> str:  # no AwsIotSqlVersion: a sql-version-default warning
        return (
            "Parameters:\n  Stage: {Type: String}\nResources:\n  Rule:\n"
            "    Type: AWS::IoT::TopicRule\n    Properties:\n      TopicRulePayload:\n"
            f'        Sql: !Sub "{sql}"\n        Actions: []\n'
        )

    for folder in ("v1", "legacy", "other"):
        Path(folder).mkdir()
    Path("v1/basic.yaml").write_text(template("SELECT a AS ${Stage} FROM 'x'"), encoding="utf-8")
    Path("legacy/old.yaml").write_text(template("SELECT a FROM 'x' WHERE a LIKE 'b'"))
    Path("other/basic.yaml").write_text(template("SELECT a AS ${Stage} FROM 'x'"), encoding="utf-8")
    result = run_check(".", "--format", "json")
    reported = sorted((f["file"], f["code"], f["severity"]) for f in findings(result))
    assert reported == [
        ("other/basic.yaml", "no-error-action", "info"),
        ("other/basic.yaml", "sql-version-default", "error"),  # a warning, made an error
        ("v1/basic.yaml", "no-error-action", "info"),
    ]
    assert result.status == 1
    assert json.loads(result.stdout)["rules"]  # Stage had a value: the templates loaded


#: code -> (the text of its docs/check.md example the fix replaces, the fix as its Fix: line
#: gives it, a payload the fixed rule fires on, one it does not fire on).
_FIXES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any] | None]] = {
    "like-operator": ("deviceId LIKE 'lab-%'", "startswith(deviceId, 'lab-')",
                      {"deviceId": "lab-1"}, {"deviceId": "x-lab-1"}),
    "between-operator": ("temperature BETWEEN 10 AND 30", "temperature >= 10 AND temperature <= 30",
                         {"temperature": 30}, {"temperature": 31}),
    "is-null": ("battery IS NOT NULL", "NOT isNull(battery)", {"battery": 80}, {"battery": None}),
    "in-parentheses": ("mode IN ('eco', 'off')", "mode IN ['eco', 'off']", {"mode": "off"},
                       {"mode": "on"}),
    "not-in": ("mode NOT IN ['eco', 'off']", "NOT (mode IN ['eco', 'off'])", {"mode": "on"},
               {"mode": "eco"}),
    "double-equals": ("==", "=", {"mode": "eco"}, {"mode": "on"}),
    "bang-operator": ("!=", "<>", {"mode": "on"}, {"mode": "eco"}),
    "trailing-semicolon": (";", "", {}, None),
    "in-not-array": ("mode IN ('eco')", "mode IN ['eco']", {"mode": "eco"}, {"mode": "off"}),
    "backtick-quote": ("`battery-level`", "get(*, 'battery-level')", {"battery-level": 80}, None),
    "hyphenated-key": ("battery-level", "get(*, 'battery-level')", {"battery-level": 80}, None),
    "keyword-typo": ("FORM", "FROM", {}, None),
}  # fmt: skip


@pytest.mark.parametrize("name", list(_FIXES))
def test_each_documented_fix_clears_its_code(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_check: Callable[..., Run]
) -> None:
    """docs/check.md: the statement of each code's example, changed as its Fix: line says, is
    clean (no finding of any code) and does what the example meant."""
    doc = (REPOSITORY / "docs" / "check.md").read_text(encoding="utf-8")
    (section,) = [s for s in re.split(r"^### ", doc, flags=re.M)[1:] if s.startswith(f"`{name}`")]
    example = next(body for language, _, body in _FENCE.findall(section) if language == "sql")
    fix_line = section[section.index("Fix:") :].split("\n\n")[0]
    written, fix, fires, does_not = _FIXES[name]
    assert written in example, name
    assert not fix or f"`{fix}`" in fix_line, f"{name}: the Fix: line does not give {fix!r}"
    fixed = example.strip().replace(written, fix).rstrip()
    monkeypatch.chdir(tmp_path)
    clean = run_check(fixed, "--select", "ALL", "--format", "json", "--isolated")
    assert (clean.status, findings(clean)) == (0, []), fixed
    rule = iotsql.compile(fixed)
    topic = (rule.topic_filter or "").replace("+", "d1")
    assert rule.evaluate(fires, topic=topic) is not None, fixed
    if does_not is not None:
        assert rule.evaluate(does_not, topic=topic) is None, fixed


#: code -> (the file of its docs/check.md example, the text the fix replaces, the fixed text,
#: what its Fix: line names, extra arguments).
_FILE_FIXES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "sql-version-invalid": ("template.yaml", '"2016-03-32"', '"2016-03-23"', "`2016-03-23`", ()),
    "invalid-rule": ("rule.json", '"${topic(2)"', '"${topic(2)}"', "`${topic(2)}`", ()),
    "republish-loop": ("template.yaml", "Topic: loop/alerts", "Topic: alerts/loop",
                       "`alerts/loop`", ()),
    "unknown-property": ("template.yaml", "QueueURL:", "QueueUrl:", "`QueueUrl`", ()),
    "missing-property": ("template.yaml", '/q"}', '/q", RoleArn: "arn:aws:iam::1:role/r"}',
                         "`RoleArn`", ()),
    "invalid-value": ("template.yaml", "CannedAcl: Private", "CannedAcl: private", "`private`",
                      ()),
    "getatt-attribute": ("template.yaml", "Queue.Url", "Queue.QueueUrl", "`QueueUrl`", ()),
    "template-error": ("template.yaml", "", "", "`--parameters Topic=sensors`",
                       ("--parameters", "Topic=sensors")),
    "duplicate-rule-name": ("template.yaml", "RuleName: Same\n      TopicRulePayload: {AwsIotSqlVersion: \"2016-03-23\", Sql: \"SELECT * FROM 'b'\"",
                            "RuleName: Other\n      TopicRulePayload: {AwsIotSqlVersion: \"2016-03-23\", Sql: \"SELECT * FROM 'b'\"",
                            "rename one of them", ()),
    "retired-action": ("rule.json", '{"iotAnalytics": {"channelName": "telemetry"',
                       '{"s3": {"bucketName": "telemetry", "key": "${topic()}"', "S3", ()),
    "no-error-action": ("rule.json", '"actions": []', '"actions": [], "errorAction": {"sqs": '
                        '{"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/e", "roleArn": '
                        '"arn:aws:iam::1:role/r"}}', "an `errorAction`", ()),
}  # fmt: skip


@pytest.mark.parametrize("name", [*_FILE_FIXES, "lambda-permission-missing"])
def test_each_documented_fix_of_a_file_clears_its_code(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_check: Callable[..., Run]
) -> None:
    """docs/check.md: each code's example file, changed as its Fix: line says (for
    lambda-permission-missing: the permission the page shows appended), gives no finding of any
    code but the informational no-error-action of an example without an error action."""
    doc = (REPOSITORY / "docs" / "check.md").read_text(encoding="utf-8")
    (section,) = [s for s in re.split(r"^### ", doc, flags=re.M)[1:] if s.startswith(f"`{name}`")]
    blocks = _FENCE.findall(section)
    (title, text) = next((t, body) for _, t, body in blocks if t)
    extra: tuple[str, ...] = ()
    if name == "lambda-permission-missing":
        (permission,) = [body for language, t, body in blocks if language == "hcl" and not t]
        fixed = text + "\n" + permission
    else:
        file, old, new, named, extra = _FILE_FIXES[name]
        assert file == title and old in text, name
        assert named in section[section.index("Fix:") :], f"{name}: the Fix: line lacks {named}"
        fixed = text.replace(old, new)
    monkeypatch.chdir(tmp_path)
    Path(title).write_text(fixed, encoding="utf-8")
    result = run_check(title, *extra, "--select", "ALL", "--format", "json", "--isolated")
    left = {f["code"] for f in findings(result)} - {"no-error-action"}
    assert (result.status, left) == (0, set()), fixed
    if name == "no-error-action":
        assert findings(result) == []


def test_retired_actions_are_reported_where_they_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_check: Callable[..., Run]
) -> None:
    """The current rule actions page no longer lists iotAnalytics and iotEvents (AWS retired
    both services): each such action, in the actions or as the error action, is a warning at its
    key, in CloudFormation's and Terraform's spelling too; the other actions are not."""
    monkeypatch.chdir(tmp_path)
    Path("template.yaml").write_text(
        "Resources:\n  Rule:\n    Type: AWS::IoT::TopicRule\n    Properties:\n"
        "      TopicRulePayload:\n        AwsIotSqlVersion: '2016-03-23'\n"
        "        Sql: SELECT * FROM 'a'\n        Actions:\n"
        "          - Sqs: {QueueUrl: 'https://sqs.us-east-1.amazonaws.com/1/q', RoleArn: r}\n"
        "          - IotAnalytics: {ChannelName: telemetry, RoleArn: r}\n"
        "        ErrorAction:\n          IotEvents: {InputName: alarms, RoleArn: r}\n",
        encoding="utf-8",
    )  # fmt: skip
    Path("main.tf").write_text(
        'resource "aws_iot_topic_rule" "r" {\n  name        = "r"\n  enabled     = true\n'
        '  sql_version = "2016-03-23"\n  sql         = "SELECT * FROM \'a\'"\n'
        '  iot_analytics {\n    channel_name = "telemetry"\n    role_arn     = "r"\n  }\n}\n',
        encoding="utf-8",
    )  # fmt: skip
    result = run_check("template.yaml", "main.tf", "--select", "retired-action", "--format",
                       "json")  # fmt: skip
    places = sorted((f["file"], f["line"], f["column"], f["message"].split(" action")[0])
                    for f in findings(result))  # fmt: skip
    assert places == [
        ("main.tf", 6, 3, "the iotAnalytics"),
        ("template.yaml", 10, 13, "the iotAnalytics"),
        ("template.yaml", 12, 11, "the iotEvents"),
    ]
    assert all(f["severity"] == "warning" for f in findings(result))
    assert text_at("template.yaml", 12, 11).startswith("IotEvents:")
    assert text_at("main.tf", 6, 3).startswith("iot_analytics")
