"""Every case under conformance/ must pass. IOTSQL_CASE=<id prefix> runs a subset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iotsql.testing.conformance import Case, load_cases, run_case

ROOT = Path(__file__).resolve().parent.parent / "conformance"
_SELECTED = os.environ.get("IOTSQL_CASE", "")
CASES = [c for c in load_cases([ROOT]) if c.id.startswith(_SELECTED)]


def test_the_suite_is_not_empty() -> None:
    assert len(CASES) > 0 or _SELECTED


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case) -> None:
    result = run_case(case)
    assert result.passed, (
        f"{case.id} ({case.file})\n  sql: {case.sql}\n  expected: {result.expected!r}\n"
        f"  actual:   {result.actual!r}\n  {result.message}\n  note: {case.data.get('note', '')}"
    )
