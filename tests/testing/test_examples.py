"""The example project (examples/) passes its own test suite, run the way docs/testing.md says:
`python -m pytest examples/tests -p iotsql.testing.plugin`, its pytest.ini pointing the plugin at
examples/cloudformation/template.yaml. Also with the plugin installed as a pytest11 entry
point (what `pip install iotsql` gives), with and without `-p`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "pytest", "examples/tests", "-p", "iotsql.testing.plugin"]


def run(command: list[str], extra_path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH")) if p)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=300)  # fmt: skip


def test_the_example_project_passes() -> None:
    result = run(COMMAND)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "iotsql rules: " in result.stdout
    assert "examples/cloudformation/template.yaml" in result.stdout
    assert " 12 passed" in result.stdout


@pytest.fixture(scope="module")
def entry_point(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder that, on the path, makes `iotsql.testing.plugin` a pytest11 entry point named
    `iotsql`, as an installed iotsql declares it (pyproject.toml)."""
    site = tmp_path_factory.mktemp("site")
    info = site / "iotsql_plugin_entry-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: iotsql-plugin-entry\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text("[pytest11]\niotsql = iotsql.testing.plugin\n")
    return str(site)


def test_installed_the_plugin_loads_by_itself(entry_point: str) -> None:
    result = run([sys.executable, "-m", "pytest", "examples/tests"], entry_point)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 12 passed" in result.stdout


def test_installed_the_documented_command_still_works(entry_point: str) -> None:
    """`-p iotsql.testing.plugin` registers the module before the entry point would; the plugin
    then blocks the entry point instead of letting pytest register it twice (a ValueError)."""
    result = run(COMMAND, entry_point)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 12 passed" in result.stdout
