"""Every case under conformance/ must pass. IOTSQL_CASE=<id prefix> runs a subset."""

from __future__ import annotations

import os
import re
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


#: Cases whose output names the SQL version itself.
_PRINTS_VERSION = re.compile(r"sql_version\s*\(", re.IGNORECASE)


def _as_beta(case: Case) -> Case:
    data = {**case.data, "sqlVersion": "beta", "id": f"beta:{case.id}"}
    return Case(data["id"], data, case.file)


def test_beta_gives_every_2016_03_23_result() -> None:
    # docs/semantics.md (SQL versions): beta behaves as 2016-03-23. Every 2016-03-23 case runs
    # again under beta (except those printing the version), so beta has the same coverage.
    v2 = [c for c in CASES if c.sql_version == "2016-03-23" and c.rule is None]
    beta = [_as_beta(c) for c in v2 if not _PRINTS_VERSION.search(c.sql)]
    assert len(beta) > len(v2) - 10 or _SELECTED
    failures = [r for r in map(run_case, beta) if not r.passed]
    assert not failures, "\n".join(
        f"{r.case.id}: expected {r.expected!r}, got {r.actual!r} {r.message}" for r in failures[:20]
    )


def test_every_observed_case_cites_where_it_was_seen() -> None:
    # conformance/README.md (Sources): a case of observed.json records a behaviour someone
    # reported from the real service, so it names the thread or page (a URL) and says in its
    # note where in that source the behaviour was reported.
    observed = load_cases([ROOT / "observed.json"])
    assert len(observed) >= 20
    for case in observed:
        assert case.id.startswith("observed/"), case.id
        assert str(case.data.get("source", "")).startswith("https://"), case.id
        assert case.data.get("note"), case.id
