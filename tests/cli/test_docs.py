"""Every `$ iotsql ...` command shown in docs/cli.md prints what the page says it prints.

How the page is read:

- A fenced block whose info string has `title="path"` (```` ```json title="rules.json" ````) is a
  file; files are written in page order, a later block of the same path replacing the earlier.
- In a ```` ```console ```` block, a line starting with `$ iotsql` is a command (a trailing `\\`
  continues it on the next line); the lines up to the next `$ ` line are its output: stdout and
  stderr merged in the order written. Each command runs in a fresh folder holding the files
  written before it.
- For `$ iotsql repl`, lines starting with the prompts `iotsql> ` or `   ...> ` are the input
  (fed on stdin: the scripted mode), the rest is the output; the interactive banner line
  (`iotsql REPL: ...`) is not compared, since the scripted mode prints none. A session whose
  output lines come between its inputs shows a terminal, so it runs with `--pretty` (indented
  JSON, as a terminal shows it); one whose inputs all come first shows a script and runs as is.
- The exit status is the one the page's table of commands gives for what the output shows
  (`eval`: 0 fires, 1 `did not fire`, 2 an error; `check`: 1 when an error is found; `test`: 1
  when a case fails or none passed; `replay`: 1 for bad lines; 2 for an `iotsql CMD: error:`).
- Comparison ignores trailing spaces and trailing empty lines. Placeholder: `<...>` in an
  expected line matches any text (none is needed today; timestamps or UUIDs would use it).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from doc_pages import fences, line_matches, normalise, title_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
PROMPTS = ("iotsql> ", "   ...> ")
BANNER = "iotsql REPL:"


@dataclass
class Example:
    command: str
    expected: list[str]
    files: dict[str, str]
    stdin: list[str] = field(default_factory=list)
    line: int = 0
    interleaved: bool = False  # output between inputs: a terminal session


def examples() -> list[Example]:
    files: dict[str, str] = {}
    found: list[Example] = []
    for info, body, number in fences(DOC.read_text(encoding="utf-8")):
        title = title_of(info)
        if title:
            files[title] = "\n".join(body) + "\n"
            continue
        if info.split()[0] != "console":
            continue
        current: Example | None = None
        lines = iter(enumerate(body))
        for offset, line in lines:
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\"):
                    command = command[:-1].rstrip() + " " + next(lines)[1].strip()
                current = Example(command, [], dict(files), line=number + offset + 1)
                found.append(current)
            elif current is None:
                raise AssertionError(f"docs/cli.md:{number}: output before any command")
            elif current.command.split()[:2] == ["iotsql", "repl"] and line.startswith(PROMPTS):
                current.stdin.append(line[len(PROMPTS[0]) :])
                current.interleaved = current.interleaved or bool(current.expected)
            elif current.command.split()[:2] == ["iotsql", "repl"] and line.startswith(BANNER):
                continue
            else:
                current.expected.append(line)
    return found


EXAMPLES = examples()


def expected_status(example: Example) -> int | None:
    """The exit status docs/cli.md's table of commands gives for the output shown, or None
    where it does not decide (repl sessions)."""
    command = example.command.split()[1]
    text = "\n".join(example.expected)
    if command == "repl":
        return None
    if re.search(rf"^iotsql {command}: error:|^sql:\d+:\d+: error:", text, re.M):
        return 2
    if command == "eval":
        return 1 if re.search(r"^did not fire", text, re.M) else 0
    if command == "check":
        found = re.search(r"^Found (\d+) errors?", text, re.M)
        return 1 if (found and int(found.group(1))) or '"ok":false' in text else 0
    if command == "test":
        counts = re.search(r'(\d+) passed, (\d+) failed|"passed":(\d+),"failed":(\d+)', text)
        assert counts, f"docs/cli.md:{example.line}: no count"
        passed, failed = (int(n) for n in counts.groups() if n is not None)
        return 1 if failed or not passed else 0
    if command == "replay":
        bad = re.search(r"(\d+) bad lines?", text)
        return 1 if bad and int(bad.group(1)) else 0
    return None


def test_the_page_has_an_example_of_every_command() -> None:
    commands = {example.command.split()[1] for example in EXAMPLES}
    assert {"eval", "check", "test", "replay", "repl"} <= commands


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"line{e.line}-{e.command.split()[1]}" for e in EXAMPLES]
)
def test_documented_output(example: Example, tmp_path: Path) -> None:
    for name, content in example.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    argv = shlex.split(example.command)
    assert argv[0] == "iotsql"
    if argv[1] == "repl" and example.interleaved:
        argv.append("--pretty")  # the page shows a session in a terminal
    env = {**os.environ, "HOME": str(tmp_path), "IOTSQL_HISTORY": str(tmp_path / "history"),
           "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1", "COLUMNS": "100"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "iotsql", *argv[1:]],
        input="".join(line + "\n" for line in example.stdin),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    status = expected_status(example)
    assert status is None or result.returncode == status, (
        f"docs/cli.md:{example.line}: exit status {result.returncode}, the table says {status}"
    )
    actual = normalise(result.stdout.splitlines())
    expected = normalise(example.expected)
    shown = "\n".join(actual)
    assert len(actual) == len(expected), f"docs/cli.md:{example.line}: the output is\n{shown}"
    for want, got in zip(expected, actual, strict=True):
        assert line_matches(want, got), f"docs/cli.md:{example.line}: the output is\n{shown}"
