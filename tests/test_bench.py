"""`iotsql bench` with tiny sizes: every section runs, and iotsql and the hand-written baselines
produce identical bytes and deliveries (no timing assertions)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import iotsql
from iotsql.benchmark import baselines, routing, runner, workload
from iotsql.benchmark.report import Report, format_report
from iotsql.cli import bench

MESSAGES, RULES = 300, 60


@pytest.fixture(scope="module")
def report() -> Report:
    return runner.run(messages=MESSAGES, rules=RULES, repeat=1)


def test_every_section_runs(report: Report) -> None:
    assert report.rules is not None
    assert [r.rule for r in report.rules] == ["R1", "R2", "R3", "R4", "R5"]
    for rule in report.rules:
        assert rule.messages == MESSAGES
        figures = (rule.iotsql_us, rule.hand_us, rule.publish_us, rule.hand_publish_us,
                   rule.quiet_publish_us, rule.floor_us)  # fmt: skip
        assert all(us > 0 for figure in figures for us in figure.values())
        assert set(rule.hand_us) == set(rule.ratio) == set(rule.publish_ratio)
        assert set(rule.hand_us) == set(rule.floor_ratio)
        assert set(rule.hand_us) == set(rule.quiet_publish_ratio)
        assert "json" in rule.hand_us
    assert report.routing is not None
    assert [p.rules for p in report.routing.points] == routing.scale_sizes(RULES)
    assert report.engine is not None and report.engine.rules == RULES + 5
    assert report.engine.messages == MESSAGES and report.engine.ratio > 0
    assert report.engine.report_ratio > 0 and report.engine.quiet_publish_us > 0
    assert report.engine.floor_us > 0 and report.engine.floor_ratio > 0
    assert report.compile is not None and report.compile.texts == RULES
    assert report.memory is not None and report.memory.engine_kb_per_rule > 0
    assert set(report.elapsed_s) == set(runner.SECTIONS)


def test_the_workload_fires_and_fails_each_where(report: Report) -> None:
    assert report.rules is not None
    fired = {r.rule: r.fired for r in report.rules}
    assert fired["R1"] == fired["R3"] == MESSAGES
    for name in ("R2", "R4", "R5"):
        assert 0 < fired[name] < MESSAGES, name


def test_the_messages_hold_whole_numbers_written_as_decimals() -> None:
    streams = workload.rule_messages(300, runner.DEFAULT_SEED)
    values = [v for _, body in streams["R1"] for v in json.loads(body).values()]
    assert any(type(v) is float and v.is_integer() for v in values)
    assert any(type(v) is float and not v.is_integer() for v in values)


def test_text_and_json_output(report: Report) -> None:
    text = format_report(report)
    for heading in ("Rules:", "Routing:", "Engine:", "Compile:", "Memory:", "Targets:"):
        assert heading in text
    assert "floor json" in text and "floor = the same hand-written rule" in text
    data = json.loads(json.dumps(report.to_json()))
    assert {t["name"] for t in data["targets"]} >= {"compile rules/s", "engine KB per rule"}
    libraries = len(data["rules"][0]["hand_us"])
    # evaluate and publish (report=False) per rule and library; routing ratio and growth;
    # engine; compile; memory
    assert len(data["targets"]) == 2 * 5 * libraries + 5 and data["routing"]["growth"] > 0
    assert data["rules"][0]["publish_ratio"]["json"] > 0 and data["engine"]["ratio"] > 0
    assert data["rules"][0]["quiet_publish_ratio"]["json"] > 0
    assert data["engine"]["report_ratio"] > 0
    assert any("publish(report=False)" in t["name"] for t in data["targets"])
    assert (
        data["environment"]["load_average"] is None or len(data["environment"]["load_average"]) == 3
    )
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
    from iotsql.benchmark import rules

    honest = baselines.baselines()

    def wrong(body: bytes, topic: str) -> bytes | None:
        return b"{}"

    def dishonest() -> dict[str, dict[str, Any]]:
        return {"json": {**honest["json"], "R3": wrong}}

    monkeypatch.setattr(rules, "baselines", dishonest)
    argv = ["--messages", "20", "--repeat", "1", "--section", "rules"]
    assert bench.main(argv) == 1
    assert "R3" in capsys.readouterr().err


def test_a_hand_written_evaluate_that_disagrees_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The floor of the evaluate ratios (the hand-written rule behind evaluate's call shape)
    is checked against iotsql's outputs too: one that fires elsewhere stops the run."""
    from iotsql.benchmark import rules

    honest = baselines.hand_evaluators

    def dishonest(topic_filters: dict[str, str]) -> dict[str, dict[str, Any]]:
        evaluators = honest({**topic_filters, "R2": "elsewhere/#"})  # R2 never takes a message
        return evaluators

    monkeypatch.setattr(rules, "hand_evaluators", dishonest)
    argv = ["--messages", "40", "--repeat", "1", "--section", "rules"]
    assert bench.main(argv) == 1
    err = capsys.readouterr().err
    assert "R2" in err and "hand-written evaluate" in err, err


def test_the_hand_written_evaluate_has_evaluates_shape() -> None:
    """HandEvaluator takes evaluate's arguments and returns None or an object whose
    to_bytes() is the hand-written function's bytes (encoded once)."""
    codec = baselines.codecs()["json"]
    evaluator = baselines.hand_evaluators({name: workload.rule_filter(name) for name in
                                           workload.RULES})["json"]["R2"]  # fmt: skip
    hand = baselines.hand_written(*codec)["R2"]
    body = b'{"device_id": "d1", "temperature_c": 30.0, "humidity_pct": 41.5}'
    topic = "building/b1/f1/r1/temperature"
    out = evaluator.evaluate(body, topic=topic, context=None, provider=None, rule_name="R2")
    assert out is not None and out.to_bytes() == hand(body, topic)
    assert out.to_bytes() is out.to_bytes()
    assert out.to_bytes() == b'{"device_id":"d1","temperature_c":30,"humidity_pct":41.5}'
    assert evaluator.evaluate(body, topic="elsewhere/temperature") is None
    assert evaluator.evaluate(b'{"temperature_c": 20}', topic=topic) is None


def test_the_hand_trie_agrees_with_topic_index_on_edge_cases() -> None:
    filters = ["a/#", "a/+", "+/b", "#", "+/+", "$aws/#", "$aws/+/x", "+/things/x", "a/b"]
    topics = ["a", "a/b", "a/b/c", "x/b", "$aws/things/x", "$aws/y/x", "$aws", "a/", "/b"]
    index: iotsql.TopicIndex[str] = iotsql.TopicIndex()
    trie = baselines.HandTrie()
    for number, topic_filter in enumerate(filters):
        index.add(topic_filter, str(number))
        trie.add(topic_filter, str(number))
    for topic in topics:
        assert set(index.match(topic)) == set(trie.match(topic)), topic
        expected = {str(n) for n, f in enumerate(filters) if iotsql.filter_matches(f, topic)}
        assert set(trie.match(topic)) == expected, topic


def test_a_publish_by_hand_that_delivers_otherwise_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The publish baselines are checked too: a hand-written rule that differs from the
    engine's deliveries stops the run (rules section and engine section)."""
    from iotsql.benchmark import engine, rules

    honest = baselines.document_rules

    def dishonest(dumps: Any) -> dict[str, Any]:
        rules = honest(dumps)
        rules["R5"] = lambda doc, topic: None  # never fires
        return rules

    monkeypatch.setattr(rules, "document_rules", dishonest)
    monkeypatch.setattr(engine, "document_rules", dishonest)
    for section in ("rules", "engine"):
        argv = ["--messages", "60", "--rules", "20", "--repeat", "1", "--section", section]
        assert bench.main(argv) == 1
        err = capsys.readouterr().err
        assert "R5" in err and "publish" in err, err


def test_a_delivery_floor_that_delivers_otherwise_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine section's floor (the deliveries alone, in a plain loop) is checked against
    the engine message by message: a floor that drops a rule stops the run."""
    from iotsql.benchmark import engine

    made = engine.DeliveryFloor.__init__

    def without_r5(self: Any, *args: Any) -> None:
        made(self, *args)
        for steps in self.routes.values():
            steps[:] = [step for step in steps if step[0] != "R5"]

    monkeypatch.setattr(engine.DeliveryFloor, "__init__", without_r5)
    argv = ["--messages", "60", "--rules", "20", "--repeat", "1", "--section", "engine"]
    assert bench.main(argv) == 1
    err = capsys.readouterr().err
    assert "delivery floor" in err and "R5" in err, err


def test_the_hand_written_routing_rules_follow_their_sql() -> None:
    """Each shape of the engine's routing rules, by hand, gives the bytes iotsql gives,
    whole-number results as Ints included."""
    loads, dumps = baselines.codecs()["json"]
    bodies = [b'{"reading": 10.5, "unit": "C", "status": "on"}', b'{"reading": 3, "status": "off"}',
              b'{"unit": "C"}', b'{"reading": 41.25, "status": "idle"}']  # fmt: skip
    for number in range(8):
        sql = workload.routing_sql(number, "a/+")
        rule = iotsql.compile(sql, workload.SQL_VERSION)
        by_hand = baselines.routing_rule(number, dumps)
        for body in bodies:
            out = rule.evaluate(body, topic="a/b", context={"timestamp": workload.TIMESTAMP})
            assert by_hand(loads(body), "a/b") == (None if out is None else out.to_bytes()), sql


def test_the_readme_describes_the_workload_and_the_defaults() -> None:
    # benchmarks/README.md: the SQL of R1..R5, "Defaults: 20,000 messages, 10,000 rules, best of
    # 5, seed 6, ... 200,000 messages" for replay, "R2 fires on 31%, R4 on 23%, R5 on 88%" and
    # "10-20% of them are whole numbers written as decimals", on the default workload.
    import argparse
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "benchmarks" / "README.md").read_text(
        encoding="utf-8"
    )
    table = dict(re.findall(r"^\| (R\d) \| `(.+)` \|$", readme, re.M))
    assert table == workload.RULES
    defaults = re.search(
        r"Defaults: ([\d,]+) messages, ([\d,]+) rules, best of (\d+), seed (\d+), every section "
        r"but `replay`.*?\(`--section replay`, ([\d,]+) messages", readme, re.S,
    )  # fmt: skip
    assert defaults is not None
    numbers = [int(group.replace(",", "")) for group in defaults.groups()]
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args([])
    assert numbers == [args.messages, args.rules, args.repeat, args.seed, args.replay_messages]
    assert "replay" not in args.section
    streams = workload.rule_messages(runner.DEFAULT_MESSAGES, runner.DEFAULT_SEED)
    shares = re.search(r"R2 fires on (\d+)%, R4 on (\d+)%, R5 on (\d+)%", readme)
    assert shares is not None
    for name, share in zip(("R2", "R4", "R5"), map(int, shares.groups()), strict=True):
        rule = iotsql.compile(workload.RULES[name], sql_version=workload.SQL_VERSION)
        fired = sum(rule.evaluate(body, topic=topic) is not None for topic, body in streams[name])
        assert round(100 * fired / len(streams[name])) == share, name
    decimals = [value for name in ("R1", "R3") for _, body in streams[name]
                for value in json.loads(body).values() if type(value) is float]  # fmt: skip
    whole = sum(value.is_integer() for value in decimals) / len(decimals)
    assert 0.10 <= whole <= 0.20, whole


def test_the_readmes_targets_are_the_ones_the_command_checks() -> None:
    # benchmarks/README.md (Targets): each row's bound is the constant the report marks against.
    import re
    from pathlib import Path

    from iotsql.benchmark import compile as compile_section
    from iotsql.benchmark import engine, memory, replay
    from iotsql.benchmark import rules as rules_section

    readme = (Path(__file__).resolve().parent.parent / "benchmarks" / "README.md").read_text(
        encoding="utf-8"
    )
    section = readme[readme.index("## Targets") : readme.index("## Results")]
    rows = re.findall(r"\| (?:[<>]=|<) ([\d,.]+) [^|]*\|$", section, re.M)
    bounds = [float(bound.replace(",", "")) for bound in rows]
    assert bounds == [
        rules_section.TARGET_EVALUATE_RATIO, rules_section.TARGET_PUBLISH_RATIO,
        routing.TARGET_ROUTING_RATIO, routing.TARGET_ROUTING_GROWTH, engine.TARGET_ENGINE_RATIO,
        compile_section.TARGET_COMPILE_PER_S, memory.TARGET_KB_PER_RULE,
        replay.TARGET_REPLAY_SPEEDUP,
    ]  # fmt: skip
