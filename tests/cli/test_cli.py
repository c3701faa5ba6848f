"""The `iotsql` command end to end, as a subprocess (`python -m iotsql ...`): outputs, exit
codes and error messages of eval, check, test and replay; plus the lint rules of `iotsql check`
called in process."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iotsql.actions.base import ActionRequest
from iotsql.cli import main
from iotsql.cli.check import Diagnostic, lint
from iotsql.cli.replay import Progress, parse_message
from iotsql.message import Message
from iotsql.replay.lines import BadLine

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}


def iotsql(*args: str, stdin: str | None = None, cwd: Path | None = None) -> Any:
    """Run `python -m iotsql args...` with text I/O; stdin is empty unless given."""
    return subprocess.run(
        [sys.executable, "-m", "iotsql", *args],
        input=stdin or "",
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=60,
    )


def assert_clean(result: Any) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


RULE = "SELECT device, temperature FROM 'sensors/+/data' WHERE temperature > 30"
HOT = '{"device": "d1", "temperature": 31.5}'


# ---- the command itself ----------------------------------------------------------------------


def test_version_and_help() -> None:
    result = iotsql("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "iotsql 0.1.0"
    # docs/cli.md: "Every command takes --help, with examples", and its table gives each
    # command's exit status, which the help repeats.
    from iotsql.cli import build_parser

    (commands,) = [a.choices for a in build_parser()._actions if a.dest == "command"]
    assert len(commands) == 9
    for command in commands:
        result = iotsql(command, "--help")
        assert result.returncode == 0, command
        assert "examples:" in result.stdout and f"iotsql {command}" in result.stdout
        assert "exit status" in result.stdout.lower(), command
    bridge = iotsql("bridge", "--help").stdout
    for option in ("--username", "--keepalive"):
        # every option of the bridge says what it is for
        assert re.search(rf"{option}[^\n]*\n\s+\S", bridge) or re.search(
            rf"{option} \S+\s{{2,}}\S", bridge
        ), option


def test_no_command_prints_usage_and_fails() -> None:
    result = iotsql()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr and "eval" in result.stderr


def test_module_entry_point_and_main_agree() -> None:
    from iotsql.cli import main

    assert main(["check", "SELECT a FROM 'b'"]) == 0
    assert main(["check", "SELECT a FROM my topic"]) == 1
    assert main(["eval", "--no-such-option", "x"]) == 2


# ---- eval -------------------------------------------------------------------------------------


def test_eval_fires_and_prints_the_exact_body_when_piped() -> None:
    result = iotsql("eval", RULE, "--payload", HOT, "--topic", "sensors/d1/data")
    assert result.returncode == 0
    assert result.stdout == '{"device":"d1","temperature":31.5}\n'
    assert result.stderr == ""


def test_eval_pretty_output() -> None:
    result = iotsql("eval", RULE, "-p", HOT, "-t", "sensors/d1/data", "--pretty")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"device": "d1", "temperature": 31.5}
    assert '\n  "device": "d1",\n' in result.stdout


def test_eval_is_pretty_on_a_terminal() -> None:
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "iotsql", "eval", "SELECT a FROM 't'", "-p",
                                           '{"a": 1}'], env=ENV, encoding="utf-8", timeout=30)  # fmt: skip
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # At a terminal, eval also says which SQL version it used when none was chosen.
    note, *output = child.before.replace("\r\n", "\n").splitlines(keepends=True)
    assert note.startswith("note: SQL version 2016-03-23 (iotsql's default; a topic rule")
    assert "".join(output) == '{\n  "a": 1\n}\n'


@pytest.mark.parametrize("command", ["eval", "repl"])
def test_compact_keeps_outputs_compact_on_a_terminal(command: str) -> None:
    # docs/cli.md (repl): "`--compact` keeps them compact on a terminal"; eval's help says the
    # same of eval. At a terminal both print indented JSON without it (the test above).
    import pexpect

    sql = "SELECT a FROM 't'"
    argv = ["-m", "iotsql", command, "--compact", "-p", '{"a": 1}', "--sql-version", "2016-03-23"]
    argv += [sql] if command == "eval" else []
    child = pexpect.spawn(sys.executable, argv, env={**ENV, "PROMPT_TOOLKIT_NO_CPR": "1"},
                          encoding="utf-8", timeout=30)  # fmt: skip
    if command == "repl":
        child.expect("iotsql>")
        child.send(sql + ";\r")
        child.expect("iotsql>")
        child.send(".quit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert '{"a":1}' in child.before
    assert '"a": 1' not in child.before


def test_eval_where_false_exits_1_and_shows_the_where_value() -> None:
    result = iotsql(
        "eval", RULE, "-p", '{"device": "d1", "temperature": 20}', "-t", "sensors/d1/data"
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "did not fire: WHERE temperature > 30 is false, not true" in result.stderr


def test_eval_where_undefined_names_the_missing_attribute() -> None:
    sql = "SELECT device FROM 'sensors/+/data' WHERE temperatur > 30"
    result = iotsql("eval", sql, "-p", HOT, "-t", "sensors/d1/data")
    assert result.returncode == 1
    assert "WHERE temperatur > 30 is Undefined, not true" in result.stderr
    assert "the payload has no key 'temperatur' (did you mean temperature?)" in result.stderr


def test_eval_topic_that_does_not_match_from() -> None:
    result = iotsql("eval", RULE, "-p", HOT, "-t", "sensors/d1/status")
    assert result.returncode == 1
    assert "does not match the FROM filter 'sensors/+/data'" in result.stderr


def test_eval_without_topic_does_not_check_from() -> None:
    result = iotsql("eval", "SELECT topic() AS t, 1 AS one FROM 'a/b'", "-p", "{}")
    assert result.returncode == 0
    assert result.stdout == '{"one":1}\n'  # topic() is Undefined
    result = iotsql("eval", "SELECT VALUE topic() FROM 'a/b'")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "the output is an empty body" in result.stderr


def test_eval_invalid_statement_exits_2_with_a_caret_and_a_hint() -> None:
    result = iotsql("eval", "SELECT temperature FROM sensors data", "-p", HOT)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "sql:1:33: error: unexpected 'data'" in result.stderr
    lines = result.stderr.splitlines()
    caret = next(line for line in lines if "^" in line)
    assert caret.index("^") == lines[lines.index(caret) - 1].index("data")
    assert "hint: quote the topic filter" in result.stderr
    assert_clean(result)


def test_eval_feature_of_a_later_version_names_the_version() -> None:
    sql = "SELECT encode(*, 'base64') AS b FROM 'a'"
    result = iotsql("eval", sql, "--sql-version", "2015-10-08")
    assert result.returncode == 2
    assert "needs SQL version 2016-03-23" in result.stderr
    assert "--sql-version 2016-03-23" in result.stderr


def test_eval_payload_that_is_not_json_is_a_binary_body() -> None:
    result = iotsql("eval", "SELECT * FROM 'a'", "-p", "{device: d1}")
    assert result.returncode == 0
    assert base64.b64decode(result.stdout.strip()) == b"{device: d1}"
    assert "the payload is not JSON" in result.stderr
    assert "binary body" in result.stderr and "--raw" in result.stderr
    result = iotsql("eval", "SELECT device FROM 'a' WHERE device = 'd1'", "-p", "{device: d1}")
    assert result.returncode == 1
    assert "the payload is not JSON" in result.stderr
    assert_clean(result)


def test_eval_raw_writes_the_bytes() -> None:
    body = bytes(range(256))
    result = subprocess.run(
        [sys.executable, "-m", "iotsql", "eval", "SELECT * FROM 'a'", "-p", "-", "--raw"],
        input=body,
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout == body
    assert b"not UTF-8" in result.stderr


def test_eval_payload_from_a_file_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(HOT, encoding="utf-8")
    result = iotsql("eval", RULE, "-p", "@m.json", "-t", "sensors/d1/data", cwd=tmp_path)
    assert result.returncode == 0 and '"d1"' in result.stdout
    result = iotsql("eval", RULE, "-p", "-", stdin=HOT)
    assert result.returncode == 0 and '"d1"' in result.stdout


def test_the_statement_from_stdin_and_the_short_version_option() -> None:
    # docs/cli.md: "Wherever a command takes SQL or a payload, `@file` reads it from a file and
    # `-` from stdin. The SQL version is 2016-03-23 unless `--sql-version` (`-V`) says
    # otherwise."
    sql = "SELECT 5.0 AS d FROM 't'"  # a whole-number Decimal: 5 in 2016-03-23 only
    piped = iotsql("eval", "-", "-p", "{}", stdin=sql)
    assert (piped.returncode, piped.stdout) == (0, '{"d":5}\n')
    v1 = iotsql("eval", "-", "-p", "{}", "-V", "2015-10-08", stdin=sql)
    assert (v1.returncode, v1.stdout) == (0, '{"d":5.0}\n')
    checked = iotsql("check", "-", "-V", "2015-10-08", stdin=sql)
    assert checked.returncode == 0 and "SQL version 2015-10-08" in checked.stdout


def test_eval_missing_payload_file_exits_2() -> None:
    result = iotsql("eval", RULE, "--payload", "@/no/such/message.json")
    assert result.returncode == 2
    assert result.stderr == "iotsql eval: error: --payload: no such file: /no/such/message.json\n"


def test_eval_context_options() -> None:
    sql = "SELECT clientid() AS c, timestamp() AS ts, principal() AS p FROM 'a'"
    result = iotsql(
        "eval", sql, "--clientid", "d7", "--timestamp", "2024-01-01T00:00:00Z",
        "--context", '{"principal": "me"}',
    )  # fmt: skip
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"c": "d7", "ts": 1704067200000, "p": "me"}
    result = iotsql("eval", sql, "--context", '{"clientId": "x", "nope": 1}')
    assert result.returncode == 2
    assert "unknown context key 'nope'" in result.stderr
    result = iotsql("eval", sql, "--context", "{not json")
    assert result.returncode == 2
    assert "--context is not valid JSON" in result.stderr
    assert_clean(result)


def test_eval_prints_warnings_and_explains() -> None:
    sql = "SELECT a.my-key AS k FROM 'a' WHERE round(a.n, 1) > 1"
    result = iotsql("eval", sql, "-p", '{"a": {"my-key": 1, "n": 2}}', "--explain")
    assert result.returncode == 1
    assert "warning: `a.my-key` subtracts `key` from `a.my`" in result.stderr
    assert "warning: round() takes 1 argument(s), not 2" in result.stderr
    assert "ast:\n  Statement topic='a'" in result.stderr
    assert "select: k = Undefined  (Undefined)" in result.stderr
    assert "where:  round(a.n, 1) > 1  ->  Undefined  (Undefined)" in result.stderr


# ---- check ------------------------------------------------------------------------------------


def test_check_valid_statement() -> None:
    result = iotsql("check", RULE)
    assert result.returncode == 0
    assert result.stdout == "All checks passed (1 statement, SQL version 2016-03-23).\n"


def test_check_hyphenated_key_is_a_warning() -> None:
    result = iotsql("check", "SELECT state.reported.battery-level AS b FROM 'a'")
    assert result.returncode == 0
    assert (
        "sql:1:8: hyphenated-key warning: `state.reported.battery-level` subtracts `level`"
        in result.stdout
    )
    assert "hint: write get(state.reported, 'battery-level')" in result.stdout
    assert "\n   |        " + "^" * len("state.reported.battery-level") + "\n" in result.stdout
    assert result.stdout.endswith(
        "Found 0 errors, 1 warning (1 statement, SQL version 2016-03-23).\n"
    )


def test_check_json_format_for_an_error() -> None:
    result = iotsql("check", "SELECT a\nFROM my topic", "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["warnings"] == []
    (error,) = report["errors"]
    assert (error["line"], error["column"]) == (2, 9)
    assert error["message"] == "unexpected 'topic'"
    assert "quote the topic filter" in error["hint"]


def test_check_json_format_for_warnings(tmp_path: Path) -> None:
    sql = "SELECT temperature * 9 / 5 + 32 AS f, round(x, 2) AS r FROM 'a' WHERE f > 80"
    (tmp_path / "rule.sql").write_text(sql, encoding="utf-8")
    result = iotsql("check", "@rule.sql", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["errors"] == []
    codes = [(w["code"], w["line"], w["column"]) for w in report["warnings"]]
    assert codes == [("arity", 1, 39), ("alias-in-where", 1, 71)]
    assert all({"line", "column", "message", "hint"} <= set(w) for w in report["warnings"])


def test_check_missing_file() -> None:
    result = iotsql("check", "@missing.sql")
    assert result.returncode == 2
    assert "no such file: missing.sql" in result.stderr
    assert_clean(result)


# ---- lint, in process -------------------------------------------------------------------------


def codes(diagnostics: list[Diagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


def test_lint_hyphenated_keys() -> None:
    found = lint("SELECT my-long-key, a - b, a-1, x.y-z.w FROM 't'")
    assert codes(found) == ["hyphenated-key", "hyphenated-key"]
    assert found[0].hint is not None and "get(*, 'my-long-key')" in found[0].hint
    assert found[1].hint is not None and "get(x, 'y-z').w" in found[1].hint
    assert all(not d.is_error for d in found)


def test_lint_alias_in_where_only_for_computed_items() -> None:
    assert codes(lint("SELECT t AS t FROM 'a' WHERE t > 1")) == []
    found = lint("SELECT upper(s) AS u FROM 'a' WHERE u = 'X' OR (SELECT VALUE u FROM v) = 1")
    assert codes(found) == ["alias-in-where"]


def test_lint_errors() -> None:
    (error,) = lint("SELECT substrng(a, 1) FROM 'a'")
    assert error.is_error and error.code == "unknown-function"
    assert error.hint == "did you mean substring()?"
    (error,) = lint("SELECT [1] AS a FROM 'a'", "2015-10-08")
    assert error.code == "version" and error.hint is not None and "2016-03-23" in error.hint
    (error,) = lint("")
    assert error.is_error


# ---- test -------------------------------------------------------------------------------------


def write_cases(folder: Path) -> None:
    (folder / "nested").mkdir(parents=True)
    passing = {"id": "ok/alias", "sql": "SELECT color AS c FROM 't'", "topic": "t",
               "payload": {"color": "red"}, "expected": {"c": "red"}}  # fmt: skip
    failing = {"id": "bad/number", "sql": "SELECT VALUE 5.0 FROM 't'", "topic": "t",
               "payload": {}, "expected": 5.0}  # fmt: skip
    (folder / "a.json").write_text(json.dumps([passing]), encoding="utf-8")
    (folder / "nested" / "b.jsonl").write_text(json.dumps(failing) + "\n", encoding="utf-8")


def test_test_reports_failures_and_counts(tmp_path: Path) -> None:
    write_cases(tmp_path)
    result = iotsql("test", str(tmp_path))
    assert result.returncode == 1
    assert "FAIL bad/number" in result.stdout
    assert "  expected: 5.0\n  actual:   5\n" in result.stdout
    assert result.stdout.splitlines()[-1] == "1 passed, 1 failed"


def test_test_json(tmp_path: Path) -> None:
    write_cases(tmp_path)
    result = iotsql("test", str(tmp_path), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["passed"] == 1 and report["failed"] == 1
    (failure,) = report["failures"]
    assert failure["id"] == "bad/number"
    assert failure["expected"] == 5.0 and type(failure["actual"]) is int


def test_test_all_passing_and_malformed(tmp_path: Path) -> None:
    write_cases(tmp_path)
    result = iotsql("test", str(tmp_path / "a.json"))
    assert result.returncode == 0
    assert result.stdout == "1 passed, 0 failed\n"
    (tmp_path / "broken.json").write_text('[{"sql": "SELECT 1"}]', encoding="utf-8")
    result = iotsql("test", str(tmp_path))
    assert result.returncode == 2
    assert "broken.json[0]: every case needs a string 'id'" in result.stderr
    result = iotsql("test", str(tmp_path / "none"))
    assert result.returncode == 2
    assert "no such file or folder" in result.stderr
    assert_clean(result)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bin.json", b"\x97\xff[]", "bin.json: not UTF-8 text (byte 0)"),
        (
            "deep.json",
            b"[" * 100_000 + b"]" * 100_000,
            "deep.json: invalid JSON: nested too deeply",
        ),
        ("deep.jsonl", b"[" * 100_000, "deep.jsonl:1: invalid JSON: nested too deeply"),
        (
            "ctx.json",
            b'[{"id": "c", "sql": "SELECT 1 AS a FROM \'t\'", "expected": {"a": 1}, '
            b'"context": {"timestamp": "soon"}}]',
            "ctx.json[0] (c): 'context': context timestamp",
        ),
        (
            "text.jsonl",
            b'{"id": "t", "sql": "SELECT * FROM \'t\'", "payloadText": "\\ud800", "fires": false}',
            "text.jsonl:1 (t): 'payloadText' must be text with a UTF-8 form",
        ),
        (
            "b64.jsonl",
            b'{"id": "b", "sql": "SELECT * FROM \'t\'", "payloadBase64": "!!", "fires": false}',
            "b64.jsonl:1 (b): 'payloadBase64' is not valid base64",
        ),
        (
            "nan.jsonl",
            b'{"id": "n", "sql": "SELECT * FROM \'t\'", "payload": NaN, "fires": false}',
            "nan.jsonl:1 (n): 'payload': NaN, Infinity",
        ),
        (
            "pattern.jsonl",
            b'{"id": "p", "sql": "SELECT 1 AS a FROM \'t\'", "expectedPattern": "x"}',
            "pattern.jsonl:1 (p): 'expectedPattern' must be an object",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and "." in value[:12] else "",
)
def test_test_names_the_file_and_case_of_a_malformed_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, message: str
) -> None:
    # Before: a file that was not UTF-8 was reported without its name, deep JSON and a lone
    # surrogate in payloadText were internal errors, a bad context named no case, bad base64
    # ran as an empty body and a pattern that was not an object was an AttributeError.
    (tmp_path / name).write_bytes(content)
    assert main(["test", str(tmp_path / name)]) == 2
    stderr = capsys.readouterr().err
    assert message in stderr and "internal error" not in stderr
    assert len(stderr.splitlines()) == 1


def test_test_a_topic_the_broker_refuses_fails_the_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = {"id": "w", "sql": "SELECT * FROM '#'", "topic": "a/#", "fires": False}
    (tmp_path / "w.json").write_text(json.dumps([case]), encoding="utf-8")
    assert main(["test", str(tmp_path / "w.json")]) == 1
    out = capsys.readouterr().out
    assert "FAIL w" in out and "InvalidTopicError" in out and "0 passed, 1 failed" in out


def test_test_a_lone_surrogate_in_a_json_payload_is_its_escape(tmp_path: Path) -> None:
    case = {"id": "s", "sql": "SELECT a FROM 't'", "topic": "t", "payload": {"a": "\ud800"},
            "expected": {"a": "\ud800"}}  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps([case]), encoding="utf-8")
    assert main(["test", str(tmp_path / "s.json")]) == 0


# ---- replay -----------------------------------------------------------------------------------

RULES = [
    {
        "ruleName": "HighTemp",
        "topicRulePayload": {
            "sql": RULE,
            "awsIotSqlVersion": "2016-03-23",
            "actions": [
                {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/hot",
                         "roleArn": "arn:aws:iam::123456789012:role/iot"}},
                {"republish": {"topic": "alerts/${topic(2)}",
                               "roleArn": "arn:aws:iam::123456789012:role/iot"}},
            ],
        },
    },
    {
        "ruleName": "Alerts",
        "topicRulePayload": {
            "sql": "SELECT * FROM 'alerts/+'",
            "actions": [{"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}}],
        },
    },
]  # fmt: skip

MESSAGES = [
    {"topic": "sensors/d1/data", "payload": {"device": "d1", "temperature": 31.5}},
    {"topic": "sensors/d2/data", "payload": {"device": "d2", "temperature": 20}},
    {"topic": "alerts/raw", "payloadBase64": base64.b64encode(b"\x00\xff").decode()},
]


@pytest.fixture
def replay_files(tmp_path: Path) -> Path:
    (tmp_path / "rules.json").write_text(json.dumps(RULES), encoding="utf-8")
    lines = [json.dumps(m) for m in MESSAGES]
    (tmp_path / "messages.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_replay_prints_each_action_request_and_a_summary(replay_files: Path) -> None:
    result = iotsql("replay", "rules.json", "messages.jsonl", cwd=replay_files)
    assert result.returncode == 0, result.stderr
    requests = [json.loads(line) for line in result.stdout.splitlines()]
    # The republished message reaches the Alerts rule; the binary body on alerts/raw fires
    # Alerts too, but its lambda action cannot take a binary payload.
    assert [(r["rule"], r["action"], r["topic"]) for r in requests] == [
        ("HighTemp", "sqs", "sensors/d1/data"),
        ("HighTemp", "republish", "sensors/d1/data"),
        ("Alerts", "lambda", "alerts/d1"),
    ]
    assert requests[0]["body"] == {"device": "d1", "temperature": 31.5}
    assert requests[1]["params"]["topic"] == "alerts/d1"
    assert requests[0]["request"]["operation"] == "SendMessage"
    lines = result.stderr.splitlines()
    assert lines[:4] == [
        "messages.jsonl:3: rule Alerts: action lambda failed: "
        "ValueError: LambdaAction does not support binary payloads",
        "rule      matched  fired  actions  errors",
        "HighTemp        2      1        2       0",
        "Alerts          2      2        1       1",
    ]
    assert re.fullmatch(r"3 messages replayed in [\d.,]+ m?s \([\d,]+ messages/s\), "
                        r"3 action requests", lines[4]), lines[4]  # fmt: skip
    assert lines[5:] == ["every message matched a rule"]


def test_replay_bad_lines_are_reported_and_skipped(replay_files: Path) -> None:
    lines = [
        json.dumps(MESSAGES[0]),
        '{"topic": "sensors/d1/data", "payload": ',
        json.dumps({"topic": "a/+/b", "payload": 1}),
        json.dumps({"topic": "x", "paylod": 1}),
        json.dumps(MESSAGES[1]),
    ]
    stdin = "\n".join(lines) + "\n"
    result = iotsql("replay", "rules.json", "-", "--out", "out.jsonl", cwd=replay_files,
                    stdin=stdin)  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert "<stdin>:2: invalid JSON" in result.stderr
    assert "<stdin>:3: " in result.stderr and "wildcard" in result.stderr
    assert "<stdin>:4: unknown key(s) paylod" in result.stderr
    assert re.search(r"2 messages replayed in .* 3 action requests, 3 bad lines", result.stderr)
    written = (replay_files / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(written) == 3
    assert_clean(result)


def test_replay_invalid_rules(tmp_path: Path) -> None:
    rules = [{"ruleName": "Bad", "topicRulePayload": {"sql": "SELECT a FROM my topic",
                                                      "actions": []}}]  # fmt: skip
    text = json.dumps(rules)
    (tmp_path / "rules.json").write_text(text, encoding="utf-8")
    (tmp_path / "m.jsonl").write_text("", encoding="utf-8")
    result = iotsql("replay", "rules.json", "m.jsonl", cwd=tmp_path)
    assert result.returncode == 2
    column = text.index("my topic") + len("my ") + 1  # the place in the file, not in the SQL
    assert result.stderr.startswith(
        f"iotsql replay: error: rules.json:1:{column}: Bad.topicRulePayload.sql: invalid SQL: "
        "unexpected 'topic' (line 1, column 18 of the statement)\n"
    ), result.stderr
    assert f" 1 | {text}\n   | {' ' * (column - 1)}^^^^^\n" in result.stderr
    result = iotsql("replay", "nope.json", "m.jsonl", cwd=tmp_path)
    assert result.returncode == 2 and "RULES: no such file: nope.json" in result.stderr
    (tmp_path / "rules.json").write_text(json.dumps(RULES), encoding="utf-8")
    result = iotsql("replay", "rules.json", "nope.jsonl", cwd=tmp_path)
    assert result.returncode == 2 and "MESSAGES: no such file: nope.jsonl" in result.stderr
    assert_clean(result)


def test_replay_reads_a_cloudformation_template(replay_files: Path) -> None:
    template = """\
Resources:
  AlertsQueue:
    Type: AWS::SQS::Queue
  HighTempRule:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: HighTemp
      TopicRulePayload:
        Sql: SELECT device FROM 'sensors/+/data' WHERE temperature > 30
        AwsIotSqlVersion: '2016-03-23'
        Actions:
          - Sqs:
              QueueUrl: !Ref AlertsQueue
              RoleArn: arn:aws:iam::123456789012:role/iot
"""
    (replay_files / "template.yaml").write_text(template, encoding="utf-8")
    result = iotsql("replay", "template.yaml", "messages.jsonl", cwd=replay_files)
    assert result.returncode == 0, result.stderr
    (request,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert request["params"]["queueUrl"].endswith("/AlertsQueue")
    assert request["body"] == {"device": "d1"}


def test_parse_message_forms() -> None:
    assert parse_message('{"topic": "a", "payloadText": "hi"}') == ("a", b"hi", None)
    assert parse_message('{"topic": "a"}') == ("a", b"", None)
    topic, body, context = parse_message('{"topic": "a", "payload": [1], "context": {"x": 1}}')
    assert (topic, json.loads(body), context) == ("a", [1], {"x": 1})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"topic": "a", "payload": NaN}', "'payload': NaN, Infinity and numbers beyond"),
        ('{"topic": "a", "payload": {"v": 1e400}}', "'payload': NaN, Infinity and numbers beyond"),
        ('{"topic": "a", "payloadText": "\\ud800"}', "'payloadText' has no UTF-8 form"),
    ],
    ids=["nan", "1e400", "surrogate-text"],
)
def test_parse_message_refuses_bodies_it_cannot_write(line: str, message: str) -> None:
    # Before: NaN and 1e400 made a "NaN"/"Infinity" body that replay printed as invalid JSON,
    # and a lone surrogate was reported as "'utf-8' codec can't encode character ...".
    with pytest.raises(BadLine, match=re.escape(message)):
        parse_message(line)


def test_parse_message_keeps_a_lone_surrogate_of_a_payload_as_its_escape() -> None:
    # Before: "'utf-8' codec can't encode character '\\ud800'": the line was skipped.
    assert parse_message('{"topic": "a", "payload": "x\\ud800"}')[1] == b'"x\\ud800"'
    assert parse_message('{"topic": "a", "payload": "\u00e9"}')[1] == '"\u00e9"'.encode()


@pytest.mark.parametrize("body", [b"NaN", b'{"a": Infinity}', b'{"a": 1e400}', b"[" * 5000],
                         ids=["nan", "infinity", "1e400", "deep"])  # fmt: skip
def test_a_request_whose_body_is_not_strict_json_shows_it_as_base64(body: bytes) -> None:
    # Before: "body": NaN / {"a": Infinity} in replay's output and the recording sinks' files
    # (not JSON), and a RecursionError for the deep body.
    request = ActionRequest("R", "sqs", {}, body, Message(body, "t"), "t")
    assert request.body == body
    text = json.dumps(request.to_json(), allow_nan=False)
    assert json.loads(text)["body"] == {"base64": base64.b64encode(body).decode()}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_only_when_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    piped = io.StringIO()
    bar = Progress(piped, 100)
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    monkeypatch.setattr(Progress, "EVERY", 0.0)
    bar.update(50, 10)
    bar.close()
    assert piped.getvalue() == ""
    terminal = _Terminal()
    bar = Progress(terminal, 100)
    bar.update(50, 10)
    assert "50%" in terminal.getvalue() and "10 messages" in terminal.getvalue()
    bar.close()
    assert terminal.getvalue().endswith("\r\x1b[K")
    monkeypatch.setattr(Progress, "DELAY", 60.0)
    quick = _Terminal()
    bar = Progress(quick, 100)
    bar.update(100, 3)
    bar.close()
    assert quick.getvalue() == ""


def test_test_runs_cases_that_name_rules_from_a_template(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n  Limit: {Type: Number, Default: 30}\n"
        "Resources:\n  Hot:\n    Type: AWS::IoT::TopicRule\n    Properties:\n"
        "      RuleName: Hot\n      TopicRulePayload:\n"
        "        Sql: !Sub \"SELECT temp FROM 'h/+' WHERE temp > ${Limit}\"\n"
        "        AwsIotSqlVersion: '2016-03-23'\n        Actions: []\n"
    )
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        '{"id": "hot", "rule": "Hot", "topic": "h/a", "payload": {"temp": 31}, '
        '"expected": {"temp": 31}}\n'
        '{"id": "cool", "rule": "Hot", "topic": "h/a", "payload": {"temp": 31}, "fires": false}\n'
    )
    default = iotsql("test", str(cases), "--rules", str(template))
    assert default.returncode == 1
    assert "FAIL cool" in default.stdout and "sql:      rule Hot" in default.stdout
    assert default.stdout.strip().endswith("1 passed, 1 failed")
    raised = iotsql(
        "test", str(cases), "--rules", str(template), "--param", "Limit=40", "-k", "cool"
    )
    assert raised.returncode == 0 and "1 passed, 0 failed" in raised.stdout
    bad = iotsql("test", str(cases), "--rules", str(template), "--param", "oops")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
