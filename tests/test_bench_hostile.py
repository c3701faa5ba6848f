"""benchmarks/hostile.py, the measure of one publish under each hostile input of issue #12, on
two cheap cases: each runs in its own interpreter and ends in what the issue asks (no timing
assertions: the figures are printed, never checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "hostile.py"


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    return done.stdout


def test_the_cases_cover_the_issue() -> None:
    names = [line.split("\t", 1)[0] for line in _run("--list").splitlines()]
    for wanted in ("republish fan-out", "30 regexes", "nested query", "6000 x 100 KB",
                   "100 MB publish", "100 MB evaluate", "async sink", "lone surrogate",
                   "HTTP URL", "load: billion laughs", "load: JSON 100,000 deep",
                   "eval --payload @/dev/zero", "replay /dev/zero"):  # fmt: skip
        assert wanted in names


def test_a_round_reports_time_memory_and_the_outcome() -> None:
    out = json.loads(_run("--repeat", "1", "--json", "--case", "lone surrogate",
                          "--case", "load: YAML list"))  # fmt: skip
    (surrogate,) = out["rounds"]["lone surrogate"]
    assert surrogate["outcome"] == "SqlParseError; InvalidTopicError"
    (listed,) = out["rounds"]["load: YAML list"]
    assert listed["outcome"].startswith("RuleValidationError: rules.yaml[0]: ")
    for figure in ("wall", "cpu", "rss", "traced"):
        assert surrogate[figure] >= 0 and listed[figure] >= 0
