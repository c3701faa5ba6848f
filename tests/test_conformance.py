"""Every case under conformance/ must pass. IOTSQL_CASE=<id prefix> runs a subset."""

from __future__ import annotations

import json
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


def _area(case: Case) -> str:
    """The file's area as conformance/README.md names it: the file's name, or `functions` for
    a file under functions/."""
    relative = Path(re.sub(r"\[\d+\]$", "", case.file)).resolve().relative_to(ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


#: The forms of `source` conformance/README.md lists (Sources): a page of the 2023 archive
#: (`iot-sql-select.md#anchor`, `NEWER_FEATURES.md#n`), a current page or a report (a URL),
#: a choice of docs/semantics.md; aws-observed.json names the tool that recorded it, and
#: other-engines-2.json the repository of the other engine's test.
_SOURCE_FORMS = re.compile(r"[\w.-]+\.md\b|https://|docs/semantics\.md")
_FILE_SOURCE_FORMS = {
    "aws-observed": re.compile(r"observed on AWS by aws-iot-builder-tools/validation-tool"),
    "other-engines-2": re.compile(r"[\w.-]+/[\w.-]+ \S"),
}


def test_every_case_is_named_after_its_files_area_and_cites_a_documented_source() -> None:
    # conformance/README.md: "`id`: unique, path-like, prefixed by the file's area", and each
    # `source` is one of the forms of its Sources section (two cases of from/ sat in
    # parse-errors.json, one case cited "project issue").
    misnamed = [f"{c.file}: {c.id}" for c in CASES if not c.id.startswith(f"{_area(c)}/")]
    assert not misnamed, misnamed
    uncited = []
    for case in CASES:
        source = str(case.data.get("source", ""))
        extra = _FILE_SOURCE_FORMS.get(_area(case))
        if not (_SOURCE_FORMS.match(source) or (extra and extra.match(source))):
            uncited.append(f"{case.id}: {source!r}")
    assert not uncited, uncited


def test_the_readmes_example_case_is_a_case_of_the_suite_and_passes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```json\n(.*?)```", readme, re.S)
    shown = json.loads(block)
    (stored,) = [c for c in load_cases([ROOT]) if c.id == shown["id"]]
    assert dict(stored.data) == shown
    assert run_case(Case(shown["id"], shown, "conformance/README.md")).passed


def test_the_command_runs_the_whole_folder_as_the_pages_say() -> None:
    # conformance/README.md and docs/index.md: `iotsql test conformance/` runs every case;
    # it ends with "N passed, M failed" (DESIGN's public API) and exits 0 when all pass.
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "iotsql", "test", str(ROOT)],
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    total = len(load_cases([ROOT]))
    assert result.stdout.splitlines()[-1] == f"{total} passed, 0 failed"
