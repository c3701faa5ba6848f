"""`iotsql repl` in a real pseudo-terminal (pexpect): payload, a query completed with Tab, its
output, `.explain`, a multi-line statement, the history file, `.quit`. Then the scripted mode
(stdin not a terminal) and the pieces the shell is made of."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest

from iotsql.cli.common import Payload
from iotsql.cli.repl import Session, candidates, scripted_inputs, statement_complete, tokenize

PAYLOAD = '{"temperature": 31, "state": {"reported": {"mode": "eco"}}, "device": "d1"}'


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VISUAL", "EDITOR")}
    env.update(
        HOME=str(home),
        IOTSQL_HISTORY=str(home / "history"),
        TERM="xterm",
        PROMPT_TOOLKIT_NO_CPR="1",  # pexpect does not answer cursor-position requests
        PYTHONIOENCODING="utf-8",
    )
    return env


@pytest.fixture
def shell(tmp_path: Path) -> Any:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "iotsql", "repl"],
        env=environment(tmp_path),
        dimensions=(40, 140),
        encoding="utf-8",
        timeout=15,
    )
    child.expect("end a statement with ';'")
    child.expect("iotsql>")  # the prompt's trailing space is drawn as a cursor move
    yield child
    if child.isalive():
        child.terminate(force=True)


def test_a_session_in_a_terminal(shell: Any, tmp_path: Path) -> None:
    shell.send(f".payload {PAYLOAD}\r")
    shell.expect(r"payload: JSON object, \d+ bytes")
    shell.expect("iotsql>")

    # Tab completes a payload key, a nested path and a key under it.
    shell.send("SELECT tempe\t")
    shell.expect("rature")
    shell.send(", state.rep\t")
    shell.expect("orted")
    shell.send(".mo\t")
    shell.expect("de")
    shell.send(" AS mode FROM 'sensors/+';\r")
    shell.expect(r'\{\r\n  "temperature": 31,\r\n  "mode": "eco"\r\n\}')
    shell.expect("iotsql>")

    shell.send(".explain\r")
    shell.expect("Statement topic='sensors/\\+'")
    shell.expect(r"select: temperature = 31  \(Int\)")
    shell.expect(r'select: mode = "eco"  \(String\)')
    shell.expect("result: fires")
    shell.expect("iotsql>")

    # A statement over several lines ends with an empty line.
    shell.send("SELECT device\r")
    shell.expect(r"\.\.\.>")
    shell.send("FROM 'sensors/+' WHERE temperatur > 30\r")
    shell.send("\r")
    shell.expect("did not fire: WHERE temperatur > 30 is Undefined, not true")
    shell.expect("did you mean temperature")
    shell.expect("iotsql>")

    shell.send(".topic sensors/d1\r")
    shell.expect("topic: sensors/d1")
    shell.send(".quit\r")
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0
    history = (tmp_path / "history").read_text(encoding="utf-8")
    assert "+SELECT temperature, state.reported.mode AS mode FROM 'sensors/+';" in history
    assert "+.explain" in history


def test_ctrl_d_leaves_and_history_is_recalled(tmp_path: Path) -> None:
    (tmp_path / "history").write_text("\n# 2024-01-01\n+SELECT 41 + 1 AS answer;\n", "utf-8")
    child = pexpect.spawn(sys.executable, ["-m", "iotsql", "repl"], env=environment(tmp_path),
                          dimensions=(40, 140), encoding="utf-8", timeout=15)  # fmt: skip
    child.expect("iotsql>")
    child.send("\x1b[A")  # up: the last statement of the history file
    child.expect("answer")
    child.send("\r")
    child.expect(r'"answer": 42')
    child.expect("iotsql>")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


# ---- scripted mode ------------------------------------------------------------------------------


def run_script(script: str, *args: str) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "iotsql", "repl", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def test_scripted_mode_reads_statements_line_by_line() -> None:
    result = run_script('.payload {"a":1}\nSELECT a FROM "t"\n')
    assert result.returncode == 0
    assert result.stdout == '{"a":1}\n'  # the output, compact, as `iotsql eval` prints it
    assert result.stderr == "payload: JSON object, 7 bytes\n"  # the messages
    assert "\x1b" not in result.stdout + result.stderr


def test_scripted_mode_statements_commands_and_errors() -> None:
    script = "\n".join([
        ".topic sensors/d1",
        "SELECT temperature",
        "FROM 'sensors/+'",
        "WHERE temperature > 30;",
        ".version 2015-10-08",
        "SELECT [1] AS x FROM 'a'",
        ".nope",
        ".quit",
        "SELECT 'not run' AS x FROM 'a';",
    ])  # fmt: skip
    result = run_script(script, "--payload", '{"temperature": 31}')
    assert result.returncode == 1  # an invalid statement and an unknown command
    assert result.stdout == '{"temperature":31}\n'
    assert result.stderr.splitlines()[:2] == ["topic: sensors/d1", "version: 2015-10-08"]
    assert "an array literal needs SQL version 2016-03-23" in result.stderr
    assert "(iotsql: .version 2016-03-23)" in result.stderr
    assert "unknown command .nope" in result.stderr
    assert "not run" not in result.stdout + result.stderr


def test_scripted_binary_payload_and_show(tmp_path: Path) -> None:
    (tmp_path / "body.bin").write_bytes(b"\xff\x01binary")
    script = f".payload @{tmp_path / 'body.bin'}\nSELECT * FROM 'a';\n.clientid d1\n.show\n"
    result = run_script(script)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "/wFiaW5hcnk="  # as `iotsql eval` prints a binary output
    assert "version:  2016-03-23" in lines  # .show
    messages = result.stderr.splitlines()
    assert messages[0].startswith("payload: binary, 8 bytes (not JSON: it is not UTF-8 text")
    assert messages[1] == "note: the output is a binary body (8 bytes), shown as base64"
    assert "clientid: d1" in messages


# ---- the pieces -----------------------------------------------------------------------------


def test_statement_boundaries() -> None:
    assert statement_complete(".payload {")
    assert statement_complete("SELECT a FROM 't';")
    assert not statement_complete("SELECT a")
    assert not statement_complete("SELECT a\nFROM 't'")
    assert statement_complete("SELECT a\nFROM 't'\n")
    text = "SELECT a\nFROM 't';\n.topic x\nSELECT b\n\n\nSELECT c\n.show\nSELECT d"
    assert list(scripted_inputs(text.splitlines(keepends=True))) == [
        "SELECT a\nFROM 't';", ".topic x", "SELECT b", "SELECT c", ".show", "SELECT d",
    ]  # fmt: skip


def test_completion_candidates() -> None:
    session = Session(lambda text: None, Payload.of(PAYLOAD.encode()))

    def texts(before: str) -> list[str]:
        return [c[0] for c in candidates(session, before)]

    assert texts("SELECT tem") == ["temperature"]
    assert texts("SELECT state.") == ["reported"]
    assert texts("SELECT state.reported.m") == ["mode"]
    assert "substring(" in texts("SELECT subst")
    assert texts("sel") == ["select"]
    assert texts("SEL") == ["SELECT"]
    assert texts(".ex") == [".explain", ".exit"]
    assert texts(".version 2016") == ["2016-03-23"]
    session.version = "2015-10-08"
    assert "encode(" not in texts("SELECT enc")


def test_highlighting() -> None:
    fragments = [(s, t) for s, t in tokenize("SELECT upper(a), 'x''y', 1.5, @v FROM 't'") if s]
    assert fragments == [
        ("class:keyword", "SELECT"),
        ("class:function", "upper"),
        ("class:string", "'x''y'"),
        ("class:number", "1.5"),
        ("class:variable", "@v"),
        ("class:keyword", "FROM"),
        ("class:string", "'t'"),
    ]
    assert tokenize(".payload {}")[1] == ("class:command", ".payload")


def test_edit_in_a_scripted_session_leaves_the_script_to_the_session(tmp_path: Path) -> None:
    # The editor inherited the session's stdin: fed by a pipe, it read the lines written after
    # .edit (vi, without a terminal, waited on them), and they never ran.
    editor, started = tmp_path / "editor.py", tmp_path / "started"
    editor.write_text(
        "import sys\n"
        f"open({str(started)!r}, 'w').close()\n"
        "taken = sys.stdin.read()\n"
        "open(sys.argv[1], 'w').write('{\"stdin\": %d}' % len(taken))\n",
        encoding="utf-8",
    )
    session = subprocess.Popen(
        [sys.executable, "-m", "iotsql", "repl", "--payload", '{"a": 1}'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "VISUAL": f"{shlex.quote(sys.executable)} {shlex.quote(str(editor))}"},
    )  # fmt: skip
    assert session.stdin is not None
    session.stdin.write(".edit\n")
    session.stdin.flush()
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    out, err = session.communicate("SELECT * FROM 'x';\n", timeout=60)
    assert session.returncode == 0, err
    assert out == '{"stdin":0}\n'


def test_edit_runs_the_editor_on_the_payload(tmp_path: Path) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import json, sys\n"
        "path = sys.argv[1]\n"
        "data = json.load(open(path))\n"
        "data['edited'] = True\n"
        "open(path, 'w').write(json.dumps(data))\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "iotsql", "repl", "--payload", '{"a": 1}'],
        input=".edit\nSELECT * FROM 'x';\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VISUAL": f"{shlex.quote(sys.executable)} {shlex.quote(str(editor))}"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "payload: JSON object, 24 bytes\n"
    assert result.stdout == '{"a":1,"edited":true}\n'
