"""What the tests of `iotsql check` share: where the fixtures and the SARIF schema are, and
the result of one run of the command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str
