"""What a new user of `iotsql repl` does from habit, in a real pseudo-terminal (pexpect): Ctrl-R
and Enter, the quit and help commands of sqlite3/psql/litecli, a dot-command typed while a
statement is unfinished, Tab on a key that needs get(), a key misspelled in SELECT. Then the
scripted mode's output, which must be `iotsql eval`'s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
from test_repl_pty import environment

from iotsql.cli.common import Payload
from iotsql.cli.repl import Session, as_command, candidates, scripted_inputs, statement_complete

PAYLOAD = '{"battery-level": 80, "temperature": 21, "state": {"signal-dbm": -70, "mode": "eco"}}'


def spawn(home: Path, *args: str) -> Any:
    child = pexpect.spawn(sys.executable, ["-m", "iotsql", "repl", *args], env=environment(home),
                          dimensions=(40, 160), encoding="utf-8", timeout=15)  # fmt: skip
    child.expect("iotsql>")
    return child


def leave(child: Any) -> None:
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_r_then_enter_puts_the_statement_in_a_working_prompt(tmp_path: Path) -> None:
    (tmp_path / "history").write_text(
        "\n# 1\n+SELECT 41 + 1 AS answer;\n\n# 2\n+SELECT 'other' AS x;\n", "utf-8"
    )
    child = spawn(tmp_path)
    child.sendcontrol("r")
    child.expect("I-search backward")
    child.send("answer")
    child.expect("answer")
    child.send("\r")  # ends the search: the statement is in the prompt, not run
    child.sendcontrol("e")  # the prompt edits it: end of line, drop the ';', add an item
    child.send("\x7f, 'edited' AS how;")
    child.send("\r")
    child.expect(r'\{\r\n  "answer": 42,\r\n  "how": "edited"\r\n\}')
    child.expect("iotsql>")
    child.send("SELECT 'yes' AS still_working;\r")
    child.expect('"still_working": "yes"')
    child.expect("iotsql>")
    leave(child)


@pytest.mark.parametrize("word", ["quit", "exit", "\\q", "quit;"])
def test_the_quit_commands_of_sqlite3_and_psql(tmp_path: Path, word: str) -> None:
    child = spawn(tmp_path)
    child.send(f"{word}\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_help_and_backslash_question_mark(tmp_path: Path) -> None:
    child = spawn(tmp_path)
    for word in ("help", "\\?"):
        child.send(f"{word}\r")
        child.expect(r"\.payload JSON\|@file")
        child.expect(r"\.quit +leave")
        child.expect("iotsql>")
    leave(child)


def test_a_dot_command_on_a_continuation_line_cancels_the_statement(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--payload", PAYLOAD)
    child.send("SELECT temperature\r")
    child.expect(r"\.\.\.>")
    child.send(".topic sensors/d1\r")
    child.expect("the unfinished statement was cancelled by the command .topic")
    child.expect("topic: sensors/d1")
    child.expect("iotsql>")
    # The cancelled lines are gone: the next statement starts afresh.
    child.send("SELECT 1 AS one FROM 'sensors/+';\r")
    child.expect(r'\{\r\n  "one": 1\r\n\}')
    child.expect("iotsql>")
    # A backslash command too; and a bare word there is SQL (a key may be called `exit`).
    child.send("SELECT temperature,\r")
    child.expect(r"\.\.\.>")
    child.send("exit\r")
    child.expect(r"\.\.\.>")
    child.send("\\q\r")
    child.expect("the unfinished statement was cancelled by the command \\\\q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_tab_completes_a_hyphenated_key_as_get(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--payload", PAYLOAD)
    # The prompt colours the completion (get, the string): its pieces are drawn apart.
    child.send("SELECT bat\t")
    child.expect("get")
    child.expect("'battery-level'")
    child.send(" AS b, state.sig\t")
    child.expect("'signal-dbm'")
    child.send(" AS s FROM 't';\r")
    child.expect(r'\{\r\n  "b": 80,\r\n  "s": -70\r\n\}')
    child.expect("iotsql>")
    leave(child)


def test_a_missing_select_key_says_what_was_meant(tmp_path: Path) -> None:
    child = spawn(tmp_path, "--payload", PAYLOAD)
    child.send("SELECT bat, temperatur FROM 't';\r")
    child.expect(r"\{\}")
    child.expect(r"SELECT item bat is Undefined, so the output leaves it out: the payload has no "
                 r"key 'bat' \(did you mean get\(\*, 'battery-level'\)\?\)")  # fmt: skip
    child.expect(r"SELECT item temperatur is Undefined.*did you mean temperature\?")
    child.expect("iotsql>")
    leave(child)


# ---- scripted: stdout is what `iotsql eval` prints ---------------------------------------------


def iotsql(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "iotsql", *args], input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})  # fmt: skip


STATEMENTS = [
    "SELECT * FROM 't'",
    "SELECT temperature * 1.5 AS t, 'é' AS s, [1, 2.0, {'x': null}] AS a FROM 't'",
    "SELECT VALUE state FROM 't'",
    "SELECT 36.903999599999999 AS d, 10.0 AS whole, 1e400 AS inf FROM 't'",
]


def test_piped_output_is_the_compact_json_of_eval() -> None:
    script = "".join(f"{sql};\n" for sql in STATEMENTS)
    repl = iotsql("repl", "--payload", PAYLOAD, stdin=script)
    assert repl.returncode == 0, repl.stderr
    expected = "".join(iotsql("eval", sql, "--payload", PAYLOAD).stdout for sql in STATEMENTS)
    assert repl.stdout == expected
    assert all(json.loads(line) is not None for line in repl.stdout.splitlines())


def test_piped_messages_go_to_stderr_and_pretty_is_an_option() -> None:
    script = '.payload {"a": 1}\n.topic t\nSELECT a, b FROM "t";\nSELECT a FROM "t" WHERE a > 5;\n'
    result = iotsql("repl", stdin=script)
    assert result.stdout == '{"a":1}\n'
    assert result.stderr.splitlines()[:3] == [
        "payload: JSON object, 8 bytes",
        "topic: t",
        "note: SELECT item b is Undefined, so the output leaves it out: the payload has no key 'b'",
    ]
    assert "did not fire: WHERE a > 5 is false, not true" in result.stderr
    pretty = iotsql("repl", "--pretty", stdin=script)
    assert pretty.stdout == '{\n  "a": 1\n}\n'


def test_scripted_quit_words_and_backslash_commands() -> None:
    result = iotsql("repl", stdin="\\?\nSELECT 1 AS one;\nexit\nSELECT 2 AS two;\n")
    assert result.returncode == 0
    assert ".payload JSON|@file" in result.stdout
    assert '{"one":1}' in result.stdout and "two" not in result.stdout
    unknown = iotsql("repl", stdin="\\x\n")
    assert unknown.returncode == 1
    assert "unknown command \\x; .help lists the commands" in unknown.stderr


# ---- the pieces -----------------------------------------------------------------------------


def test_commands_and_statement_boundaries() -> None:
    assert as_command("quit") == ".quit" and as_command(" EXIT; ") == ".quit"
    assert as_command("help") == ".help" and as_command("\\?") == ".help"
    assert as_command("\\q") == ".quit" and as_command(".topic a") == ".topic a"
    assert as_command("SELECT 1") is None and as_command("quitting") is None
    assert statement_complete("quit") and statement_complete("\\q")
    assert statement_complete("SELECT a\n.topic x") and statement_complete("SELECT a\n\\q")
    assert not statement_complete("SELECT a,\nexit")  # a key named exit
    lines = ["SELECT a,", "exit", "FROM 't'", "", "quit", "SELECT b"]
    assert list(scripted_inputs(lines)) == ["SELECT a,\nexit\nFROM 't'", "quit", "SELECT b"]


def test_completion_of_keys_that_are_not_identifiers() -> None:
    session = Session(lambda text: None, Payload.of(PAYLOAD.encode()))
    payload_keys = {"battery-level": 1, "1st": 2, "it's": 3, "ok": 4}
    odd = Session(lambda text: None, Payload.of(json.dumps(payload_keys).encode()))

    def texts(on: Session, before: str) -> list[tuple[str, int]]:
        return [(c[0], c[1]) for c in candidates(on, before) if "payload" in c[3]]

    assert texts(session, "SELECT bat") == [("get(*, 'battery-level')", -3)]
    assert texts(session, "SELECT battery-le") == [("get(*, 'battery-level')", -10)]
    assert texts(session, "SELECT state.si") == [("get(state, 'signal-dbm')", -8)]
    assert texts(session, "SELECT state.") == [
        ("mode", 0), ("get(state, 'signal-dbm')", -6),
    ]  # fmt: skip
    assert texts(odd, "SELECT 1") == [("get(*, '1st')", -1)]
    assert texts(odd, "SELECT it") == [("get(*, 'it''s')", -2)]
    assert ("ok", 0) in texts(odd, "SELECT ")


def test_two_statements_without_a_terminator_get_a_hint() -> None:
    """Statements end with ';' or an empty line; a newcomer piping one statement per line gets
    the second SELECT as a parse error, and the hint says how statements end."""
    result = iotsql("repl", stdin='.payload {"a": 1}\nSELECT a FROM "t"\nSELECT b FROM "t"\n')
    assert result.returncode == 1
    assert "sql:2:1: error: unexpected 'SELECT'" in result.stderr
    assert result.stderr.rstrip().endswith(
        "hint: this line starts another statement: end each statement with ';' or an empty line"
    )
    result = iotsql("repl", stdin='.payload {"a": 1}\nSELECT a FROM "t";\nSELECT a FROM "t"\n')
    assert (result.returncode, result.stdout) == (0, '{"a":1}\n{"a":1}\n')
