"""Every ```python block of README.md, docs/engine.md, docs/index.md, docs/hosts.md and
docs/limits.md runs, in order, in one namespace per page; every ```pycon session of those pages
prints what it shows. (docs/cli.md, docs/testing.md, docs/moto.md, docs/ministack.md,
docs/bridge.md and docs/check.md have their own runners, next to the hosts they need.)"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/engine.md", "docs/index.md", "docs/hosts.md", "docs/limits.md"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{page} block {number}", "exec")
        exec(code, namespace)


def _pycon_sessions(page: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """(page block name, [(statement, shown output)]) of each ```pycon block of the page."""
    sessions = []
    blocks = re.findall(r"```pycon\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), re.S)
    for number, block in enumerate(blocks, 1):
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith(">>> "):
                steps.append((line[4:], []))
            else:
                assert steps, f"{page} pycon block {number}: output before any >>> line"
                steps[-1][1].append(line)
        sessions.append((f"{page} pycon block {number}", [(s, "\n".join(o)) for s, o in steps]))
    return sessions


SESSIONS = [session for page in PAGES for session in _pycon_sessions(page)]


def test_the_pages_hold_pycon_sessions() -> None:
    assert SESSIONS  # README.md shows the SqlParseError of bad SQL


@pytest.mark.parametrize("name, steps", SESSIONS, ids=[name for name, _ in SESSIONS])
def test_pycon_sessions_print_what_they_show(name: str, steps: list[tuple[str, str]]) -> None:
    """A statement's shown output is its repr, or the last line of the traceback it raises
    (`module.Error: message...`), as the interpreter prints them."""
    namespace: dict[str, object] = {}
    exec("import iotsql", namespace)
    for statement, shown in steps:
        try:
            value = eval(compile(statement, name, "eval"), namespace)
        except Exception as err:  # the session shows what the interpreter prints for it
            printed = "".join(traceback.format_exception_only(type(err), err)).rstrip("\n")
        else:
            printed = "" if value is None else repr(value)
        assert printed == shown, f"{name}: {statement}"


def test_the_install_list_names_every_extra_and_the_guides_every_page() -> None:
    """A user reading docs/index.md first learns every extra a feature needs (the bridge's
    `mqtt`, replay's `dask`...) and finds every page of docs/."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = pyproject[pyproject.index("[project.optional-dependencies]") :]
    table = table[: table.index("\n[", 1)]
    extras = set(re.findall(r"^([a-z][a-z0-9-]*) = \[", table, re.M)) - {"dev"}
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    install = index[index.index("## Install") : index.index("## Quick start")]
    listed = set(re.findall(r"pip install 'iotsql\[([a-z0-9-]+)\]'", install))
    assert listed == extras
    guides = index[index.index("## Guides") :]
    linked = set(re.findall(r"\]\(([a-z-]+\.md)\)", guides))
    pages = {page.name for page in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert linked == pages


def test_the_number_of_action_types_the_pages_give_is_the_apis() -> None:
    """docs/index.md ("topic rules with their N action types") and docs/architecture.md ("the N
    AWS action types") count the members of botocore's Action shape, which iotsql implements
    (index.md said 23 of the 24). The count is that of the model iotsql ships; the installed
    botocore may be older (one without InfluxDB), never ahead of it."""
    import botocore.session

    from iotsql.actions.schema import action_shape_names
    from iotsql.actions.types import ACTION_TYPES

    model = botocore.session.get_session().get_service_model("iot")
    assert set(ACTION_TYPES) == set(action_shape_names())
    assert set(model.shape_for("Action").members) <= set(ACTION_TYPES)
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    stated = re.findall(r"with their (\d+)\s+action types", index)
    stated += re.findall(r"the (\d+) AWS action types", architecture)
    assert stated and {int(n) for n in stated} == {len(ACTION_TYPES)}


def test_the_shell_example_of_the_index_prints_what_it_shows() -> None:
    import shlex
    import subprocess
    import sys

    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    shown = index[index.index("From the shell:") : index.index("## Guides")]
    lines = [line[4:] for line in shown.splitlines() if line.startswith("    ")]
    command, output = lines[0][2:], []
    for line in lines[1:]:
        if command.endswith("\\"):
            command = command[:-1] + line.strip()
        else:
            output.append(line)
    argv = shlex.split(command)
    assert argv[0] == "iotsql"
    result = subprocess.run([sys.executable, "-m", "iotsql", *argv[1:]], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert (result.returncode, result.stdout.splitlines()) == (0, output), result.stderr
