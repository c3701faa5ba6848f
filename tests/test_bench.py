"""`iotsql bench` with tiny sizes: every section runs, and iotsql and the hand-written baselines
produce identical bytes (no timing assertions)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import iotsql
from iotsql.cli import bench

MESSAGES, RULES = 300, 60


@pytest.fixture(scope="module")
def report() -> bench.Report:
    return bench.run(messages=MESSAGES, rules=RULES, repeat=1)


def test_every_section_runs(report: bench.Report) -> None:
    assert report.rules is not None
    assert [r.rule for r in report.rules] == ["R1", "R2", "R3", "R4", "R5"]
    for rule in report.rules:
        assert rule.messages == MESSAGES
        assert all(us > 0 for us in rule.iotsql_us.values()) and rule.publish_us > 0
        assert set(rule.hand_us) == set(rule.ratio) == set(rule.iotsql_us)
        assert "json" in rule.hand_us
    assert report.routing is not None
    assert [p.rules for p in report.routing.points] == bench.scale_sizes(RULES)
    assert report.engine is not None and report.engine.rules == RULES + 5
    assert report.engine.messages == MESSAGES
    assert report.compile is not None and report.compile.texts == RULES
    assert report.memory is not None and report.memory.engine_kb_per_rule > 0
    assert set(report.elapsed_s) == set(bench.SECTIONS)


def test_the_workload_fires_and_fails_each_where(report: bench.Report) -> None:
    assert report.rules is not None
    fired = {r.rule: r.fired for r in report.rules}
    assert fired["R1"] == fired["R3"] == MESSAGES
    for name in ("R2", "R4", "R5"):
        assert 0 < fired[name] < MESSAGES, name


def test_the_messages_hold_whole_numbers_written_as_decimals() -> None:
    streams = bench.rule_messages(300, bench.DEFAULT_SEED)
    values = [v for _, body in streams["R1"] for v in json.loads(body).values()]
    assert any(type(v) is float and v.is_integer() for v in values)
    assert any(type(v) is float and not v.is_integer() for v in values)


def test_text_and_json_output(report: bench.Report) -> None:
    text = bench.format_report(report)
    for heading in ("Rules:", "Routing:", "Engine:", "Compile:", "Memory:", "Targets:"):
        assert heading in text
    data = json.loads(json.dumps(report.to_json()))
    assert {t["name"] for t in data["targets"]} >= {"compile rules/s", "engine KB per rule"}
    libraries = len(data["rules"][0]["hand_us"])
    assert len(data["targets"]) == 5 * libraries + 4 and data["routing"]["growth"] > 0
    assert data["environment"]["iotsql_json"] in ("json", "orjson")


def test_main_runs_the_chosen_sections(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--messages", "100", "--rules", "20", "--repeat", "1", "--section", "rules,compile",
            "--json"]  # fmt: skip
    assert bench.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rules"] and data["compile"]
    assert data["routing"] is None and data["engine"] is None and data["memory"] is None


def test_unknown_section_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--section", "rules,speed"])
    assert exit_info.value.code == 2


def test_a_baseline_that_disagrees_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    honest = bench.baselines()

    def wrong(body: bytes, topic: str) -> bytes | None:
        return b"{}"

    def baselines() -> dict[str, dict[str, Any]]:
        return {"json": {**honest["json"], "R3": wrong}}

    monkeypatch.setattr(bench, "baselines", baselines)
    argv = ["--messages", "20", "--repeat", "1", "--section", "rules"]
    assert bench.main(argv) == 1
    assert "R3" in capsys.readouterr().err


def test_the_hand_trie_agrees_with_topic_index_on_edge_cases() -> None:
    filters = ["a/#", "a/+", "+/b", "#", "+/+", "$aws/#", "$aws/+/x", "+/things/x", "a/b"]
    topics = ["a", "a/b", "a/b/c", "x/b", "$aws/things/x", "$aws/y/x", "$aws", "a/", "/b"]
    index: iotsql.TopicIndex[str] = iotsql.TopicIndex()
    trie = bench.HandTrie()
    for number, topic_filter in enumerate(filters):
        index.add(topic_filter, str(number))
        trie.add(topic_filter, str(number))
    for topic in topics:
        assert set(index.match(topic)) == set(trie.match(topic)), topic
        expected = {str(n) for n, f in enumerate(filters) if iotsql.filter_matches(f, topic)}
        assert set(trie.match(topic)) == expected, topic
