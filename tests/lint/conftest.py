"""Fixtures of `iotsql check`'s tests: the folder of infrastructure files with known problems
(tests/lint/data), copied into a temporary working folder so that findings name relative
paths, and a runner of the command in process."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from lint_support import DATA, Run

from iotsql.cli import main


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixtures' folder, copied, as the working folder."""
    shutil.copytree(DATA, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


@pytest.fixture
def run_check(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """`iotsql check ARGS...` in process."""

    def run(*args: str) -> Run:
        capsys.readouterr()
        status = main(["check", *args])
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run
