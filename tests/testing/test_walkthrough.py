"""docs/testing.md runs exactly as printed, in one working folder, as its reader would run it:
every block titled with a path (```` ```yaml title="cloudformation/template.yaml" ````) is
saved under that name, every `$ ` line of a `console` block is run there and must succeed with
the output printed under it (`<...>` matches any text, a line of only `<...>` any number of
lines), and every untitled ```` ```python ```` block runs as a script there. All in page order.

The install commands of section 1 cannot run here (they would fetch iotsql from PyPI): the test
checks that they name this package, extras it has, and the Python version it requires.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from doc_pages import fences, lines_match, title_of

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "testing.md"


def run(argv: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONIOENCODING="utf-8", NO_COLOR="1", COLUMNS="100")
    return subprocess.run(argv, cwd=folder, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, check=False)  # fmt: skip


def command(line: str) -> list[str]:
    """A command of the page as this interpreter runs it: `python` is this Python, `iotsql`
    its `python -m iotsql`."""
    argv = shlex.split(line)
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    assert argv[0] == "iotsql", f"a command the test does not know how to run: {line}"
    return [sys.executable, "-m", "iotsql", *argv[1:]]


def test_the_walkthrough_runs_as_printed(tmp_path: Path) -> None:
    ran = {"files": 0, "commands": 0, "scripts": 0}
    for info, body, number in fences(PAGE.read_text(encoding="utf-8")):
        where = f"docs/testing.md:{number}"
        title = title_of(info)
        if title is not None:
            path = tmp_path / title
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(body) + "\n", encoding="utf-8")
            ran["files"] += 1
        elif info.split()[0] == "console":
            commands: list[tuple[str, list[str]]] = []
            for line in body:
                if line.startswith("$ "):
                    commands.append((line[2:], []))
                else:
                    assert commands, f"{where}: output before any command"
                    commands[-1][1].append(line)
            for text, expected in commands:
                result = run(command(text), tmp_path)
                assert result.returncode == 0, f"{where}: $ {text}\n{result.stdout}"
                actual = result.stdout.splitlines()
                assert lines_match(expected, actual), f"{where}: $ {text}\n{result.stdout}"
                ran["commands"] += 1
        elif info.split()[0] == "python":
            result = run([sys.executable, "-c", "\n".join(body)], tmp_path)
            assert result.returncode == 0, f"{where}:\n{result.stdout}"
            ran["scripts"] += 1
    assert ran["files"] >= 4 and ran["commands"] >= 3 and ran["scripts"] >= 2, ran


def pyproject() -> dict[str, object]:
    """What the test needs of pyproject.toml (tomllib is Python 3.11+; iotsql supports 3.10)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    extras = text[text.index("[project.optional-dependencies]") :].split("\n[", 1)[0]
    return {
        "name": re.search(r'^name = "(.+)"$', text, re.M).group(1),  # type: ignore[union-attr]
        "requires-python": re.search(r'^requires-python = "(.+)"$', text, re.M).group(1),  # type: ignore[union-attr]
        "optional-dependencies": re.findall(r"^(\w+) = \[", extras, re.M),
    }


def test_the_install_commands_name_this_package() -> None:
    project = pyproject()
    text = PAGE.read_text(encoding="utf-8")
    install = text[text.index("## 1. Install") : text.index("## 2.")]
    minimum = re.fullmatch(r">=(\d+\.\d+)", str(project["requires-python"]))
    assert minimum and f"Python {minimum.group(1)} or later" in install
    assert "python3 -m venv .venv" in install and "source .venv/bin/activate" in install
    requirements = [
        requirement
        for line in re.findall(r"^    python -m pip install (.+?)(?:\s+#.*)?$", install, re.M)
        for requirement in shlex.split(line)
    ]
    assert requirements == ["iotsql", "pytest", "iotsql[terraform]"]
    for requirement in requirements:
        name, _, extras = requirement.partition("[")
        assert name in (project["name"], "pytest")
        for extra in filter(None, extras.rstrip("]").split(",")):
            assert extra in project["optional-dependencies"], extra  # type: ignore[operator]
