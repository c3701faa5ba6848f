"""`iotsql check` on hostile files (issue #12): a template over a document bound (an alias bomb,
nesting, size), a binary file named `.tf`, a broken sibling in a Terraform module and a minified
one-line template are reported as errors naming the file, never "All checks passed", a traceback
or megabytes of output."""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from lint_support import Run

from iotsql import Limits
from iotsql.limits import using_limits

RULE = """Resources:
  R:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        Sql: SELECT * FROM 'a'
        AwsIotSqlVersion: '2016-03-23'
        Actions: {actions}
"""
TF_RULE = """resource "aws_iot_topic_rule" "r" {
  name        = "r"
  enabled     = true
  sql         = "SELECT * FROM 'a'"
  sql_version = "2016-03-23"
}
"""


def _bomb() -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 10)]
    return "\n".join(lines) + "\n" + RULE.format(actions="*a9")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("laughs.yaml", _bomb(), "max_document_nodes"),
        ("deep.yaml", RULE.format(actions="[" * 200 + "]" * 200), "max_document_depth"),
        ("deep.json", json.dumps({"Resources": {"R": {"Type": "AWS::IoT::TopicRule"}}})
         .replace('"AWS::IoT::TopicRule"', '"AWS::IoT::TopicRule", "X": ' + "[" * 200 + "]" * 200),
         "max_document_depth"),
    ],
)  # fmt: skip
def test_a_template_over_a_document_bound_is_an_error_not_a_pass(
    tmp_path: Path, run_check: Callable[..., Run], name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    run = run_check(str(path))
    assert run.status == 1, run.stdout
    assert f"{path}:1:1: template-error error:" in run.stdout
    assert message in run.stdout and "All checks passed" not in run.stdout


def test_a_file_that_only_mentions_sql_over_a_bound_is_passed_over(
    tmp_path: Path, run_check: Callable[..., Run]
) -> None:
    (tmp_path / "data.yaml").write_text("sql: x\n" + "[" * 200 + "]" * 200 + "\n")
    (tmp_path / "empty.yaml").write_text("# AWS::IoT::TopicRule, some day\n")
    assert run_check(str(tmp_path)).status == 0


def test_a_broken_file_of_a_terraform_module_fails_the_file_asked_for(
    tmp_path: Path, run_check: Callable[..., Run]
) -> None:
    (tmp_path / "main.tf").write_text(TF_RULE)
    (tmp_path / "deep.tf").write_text(
        TF_RULE.replace("}\n", "  x = " + "[" * 200 + "]" * 200 + "\n}\n")
    )
    run = run_check(str(tmp_path / "main.tf"))
    assert run.status == 1, run.stdout
    assert "deep.tf:1:1: template-error error: nested more than" in run.stdout
    assert "main.tf could not be checked" in run.stdout
    (tmp_path / "deep.tf").write_bytes(b"\xda\xff" * 100)  # a binary file named .tf
    run = run_check(str(tmp_path / "main.tf"))
    assert run.status == 2 and "Traceback" not in run.stderr + run.stdout
    assert "deep.tf:1:1: document-syntax error: not UTF-8 text (byte 0)" in run.stdout


def test_a_finding_in_a_minified_template_shows_the_part_of_its_line_around_it(
    tmp_path: Path, run_check: Callable[..., Run]
) -> None:
    resources = {f"Q{n}": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q" * 100}}
                 for n in range(2000)}  # fmt: skip
    resources["R"] = {
        "Type": "AWS::IoT::TopicRule",
        "Properties": {
            "TopicRulePayload": {
                "Sql": "SELECT * FROM 'a' WHERE",
                "AwsIotSqlVersion": "2016-03-23",
                "Actions": [],
            }
        },
    }
    path = tmp_path / "min.json"
    path.write_text(json.dumps({"Resources": resources}))  # one line of 300 KB
    run = run_check(str(path))
    assert run.status == 1
    lines = run.stdout.splitlines()
    (at,) = [n for n, line in enumerate(lines) if line.startswith(" 1 |")]
    assert len(lines[at]) < 220 and lines[at].startswith(" 1 | ...") and "WHERE" in lines[at]
    assert lines[at + 1].index("^") < len(lines[at])
    assert len(run.stdout) < 2000


def test_files_over_the_document_size_are_not_read_whole(
    tmp_path: Path, run_check: Callable[..., Run]
) -> None:
    """Before: each file was read whole (a 5 GB JSON file in the repository, 5 GB of memory)
    before its size was checked. A large data file passes; a large template is an error."""
    (tmp_path / "data.json").write_text(json.dumps({"sql": "x", "rows": ["y" * 100] * 200}))
    (tmp_path / "big.yaml").write_text(RULE.format(actions="[]") + "#" * 30_000)
    with using_limits(Limits(max_document_bytes=10_000)):
        tracemalloc.start()
        try:
            run = run_check(str(tmp_path))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert run.status == 1, run.stdout
    assert "big.yaml:1:1: template-error error: the file is larger than " in run.stdout
    assert "data.json" not in run.stdout + run.stderr
    assert peak < 2_000_000, f"{peak:,} bytes"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_in_a_folder_is_passed_over(
    tmp_path: Path, run_check: Callable[..., Run]
) -> None:
    """Before: reading `pipe.json` waited for a writer for ever."""
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "t.yaml").write_text(RULE.format(actions="[]"))
    assert run_check(str(tmp_path)).status == 0
