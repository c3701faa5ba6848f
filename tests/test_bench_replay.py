"""`iotsql bench --section replay` with a small workload: it replays in one process and on 1
and 2 Dask workers (LocalClusters it starts), checks the requests are the same, and fails
when they are not (no timing assertions)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from dask_support import require_dask

from iotsql.benchmark import replay as replay_section
from iotsql.cli import bench


@pytest.fixture(autouse=True)
def _dask() -> None:
    require_dask()


def test_the_replay_section_runs_on_1_and_2_workers(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--section", "replay", "--replay-messages", "3000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    replay = data["replay"]
    assert replay["messages"] == 3000 and replay["identical"] is True
    assert [run["workers"] for run in replay["runs"]] == [0, 1, 2]
    assert all(run["requests"] == replay["requests"] > 3000 for run in replay["runs"])
    assert all(run["messages_per_s"] > 0 and run["cpu_us_per_message"] > 0
               for run in replay["runs"])  # fmt: skip
    assert [t["name"] for t in data["targets"]] == ["replay 2 Dask workers/1"]
    assert data["targets"][0]["limit"] == ">= 1.6"
    assert data["rules"] is None and data["engine"] is None  # replay alone, as asked


def test_replay_is_not_a_default_section() -> None:
    from iotsql.benchmark import runner

    assert "replay" not in runner.SECTIONS and "replay" in runner.OPTIONAL_SECTIONS


def test_a_replay_that_makes_other_requests_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    honest = replay_section._part_lines

    def one_lost(parts: list[str]) -> Counter[str]:
        found = honest(parts)
        found[next(iter(found))] -= 1
        return +found

    monkeypatch.setattr(replay_section, "_part_lines", one_lost)
    assert bench.main(["--section", "replay", "--replay-messages", "500"]) == 1
    err = capsys.readouterr().err
    assert "correctness check failed: replay on 1 Dask worker(s) made other requests" in err
