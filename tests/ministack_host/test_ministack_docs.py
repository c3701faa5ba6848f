"""docs/ministack.md runs: its ```python blocks (in order, in one namespace) against the test
server, each print checked against the `#>` lines under it; and its claims about installing."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from ministack_env import Server

import iotsql.ministack as host
from iotsql.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "ministack.md"


def test_the_complete_example_runs_and_prints_what_the_page_shows(
    ministack: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("paho.mqtt.client")
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    expected = [
        line[3:] for block in blocks for line in block.splitlines() if line.startswith("#> ")
    ]
    monkeypatch.setenv("MINISTACK_ENDPOINT", ministack.endpoint)
    printed = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(printed):
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"docs/ministack.md block {number}", "exec"), namespace)
    assert printed.getvalue().splitlines() == expected


def test_the_page_shows_the_error_the_command_prints_without_ministack(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> str:
        raise host.MinistackVersionError(f"ministack is not installed: {host.INSTALL_HINT}")

    monkeypatch.setattr(host, "installed_version", missing)
    assert main(["ministack"]) == 2
    line = capsys.readouterr().err.strip()
    assert f"\n    {line}\n" in DOC.read_text(encoding="utf-8")


def test_the_page_names_the_supported_range() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"`{host.SUPPORTED_RANGE}`" in text


def test_any_version_lets_an_untested_version_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "installed_version", lambda: "1.9.0")
    with pytest.raises(host.MinistackVersionError):
        host.usable_version()
    assert host.usable_version(allow_untested_version=True) == "1.9.0"
    monkeypatch.setenv(host.ANY_VERSION_ENV, "1")
    assert host.usable_version() == "1.9.0"
