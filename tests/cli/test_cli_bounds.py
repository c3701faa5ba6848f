"""The `iotsql` command reads bounded input (issue #12): an endless payload, an endless replay
file, a JSON-lines line past the limit or nested 100,000 deep are clear errors, never `internal
error: MemoryError/RecursionError`; replay reports the line by its number, skips it and replays
the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
RULES = {"R": {"sql": "SELECT * FROM 'a/#'", "awsIotSqlVersion": "2016-03-23", "actions": [
    {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q",
             "roleArn": "arn:aws:iam::1:role/r"}}]}}  # fmt: skip
DEV_ZERO = Path("/dev/zero")


def iotsql(*args: str, stdin: bytes | None = None) -> Any:
    """`python -m iotsql args...` under a memory ceiling (1 GB of address space beyond the
    interpreter's), so that reading without bound fails the test instead of the machine."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    code = limit + "import sys; from iotsql.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin or b"",
                          capture_output=True, env=ENV, timeout=120)  # fmt: skip


def _clean(result: Any) -> str:
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return stderr


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES), encoding="utf-8")
    return path


@pytest.mark.skipif(not DEV_ZERO.exists(), reason="needs /dev/zero (a Unix system)")
def test_eval_of_an_endless_payload() -> None:
    result = iotsql("eval", "SELECT * FROM 'a'", "--payload", "@/dev/zero")
    stderr = _clean(result)
    assert result.returncode == 2
    assert "--payload: /dev/zero is larger than 131,072 bytes (Limits.max_payload_bytes" in stderr
    result = iotsql("eval", "SELECT * FROM 'a'", "--payload", "-", stdin=b"x" * 200_000)
    assert result.returncode == 2 and "<stdin> is larger than 131,072 bytes" in _clean(result)
    result = iotsql("eval", "@/dev/zero")
    assert result.returncode == 2 and "Limits.max_sql_bytes" in _clean(result)


def test_eval_of_a_payload_or_context_nested_100000_deep(tmp_path: Path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text("[" * 60_000 + "]" * 60_000, encoding="utf-8")
    result = iotsql("eval", "SELECT * FROM 'a'", "--payload", f"@{payload}")
    assert result.returncode == 0 and "binary body" in _clean(result)
    context = tmp_path / "context.json"
    context.write_text('{"userProperties": ' + "[" * 100_000 + "]" * 100_000 + "}", "utf-8")
    result = iotsql("eval", "SELECT * FROM 'a'", "--context", f"@{context}")
    assert result.returncode == 2 and "--context is nested too deeply" in _clean(result)


@pytest.mark.skipif(not DEV_ZERO.exists(), reason="needs /dev/zero (a Unix system)")
def test_replay_of_an_endless_file(rules: Path) -> None:
    result = iotsql("replay", str(rules), "/dev/zero")
    stderr = _clean(result)
    assert result.returncode == 1
    assert "/dev/zero: line 1 has no end within 16,777,216 bytes" in stderr
    assert "0 messages replayed" in stderr and "0 action requests, 1 bad line" in stderr


def test_replay_skips_lines_too_long_or_too_deep_and_replays_the_rest(
    rules: Path, tmp_path: Path
) -> None:
    lines = [
        json.dumps({"topic": "a/1", "payload": {"n": 1}}),
        json.dumps({"topic": "a/2", "payloadText": "x" * 2_000_000}),
        '{"topic": "a/3", "payload": ' + "[" * 100_000 + "]" * 100_000 + "}",
        json.dumps({"topic": "a/4", "payloadText": "x" * 200_000}),  # a line within the limit
        json.dumps({"topic": "a/5", "payload": {"n": 5}}),
    ]
    messages = tmp_path / "messages.jsonl"
    messages.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = iotsql("replay", str(rules), str(messages))
    stderr = _clean(result)
    assert result.returncode == 1
    assert f"{messages}:2: the line is longer than 1,048,576 bytes" in stderr
    assert f"{messages}:3: the message is nested too deeply to read" in stderr
    assert f"{messages}:4: payload size (bytes) limit exceeded: 200000 > 131072" in stderr
    printed = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [request["topic"] for request in printed] == ["a/1", "a/5"]
    assert "2 messages replayed" in stderr and "2 action requests, 3 bad lines" in stderr
    # The same from stdin.
    piped = iotsql("replay", str(rules), "-", stdin=messages.read_bytes())
    assert piped.returncode == 1 and piped.stdout == result.stdout


def test_test_of_an_endless_or_oversized_case_file(tmp_path: Path) -> None:
    # `iotsql test /dev/zero` read until the memory gave out; a case file is now read as a
    # rules file is, at most Limits.max_document_bytes.
    result = iotsql("test", str(DEV_ZERO))
    assert result.returncode == 2
    assert _clean(result).startswith(
        "iotsql test: error: /dev/zero: the file is larger than Limits.max_document_bytes"
    )
    big = tmp_path / "big.jsonl"
    with big.open("wb") as handle:
        handle.truncate(17 << 20)  # a sparse file of 17 MiB: refused by its size, not read
    result = iotsql("test", str(tmp_path))
    assert result.returncode == 2
    assert "big.jsonl: the file is larger than Limits.max_document_bytes" in _clean(result)
