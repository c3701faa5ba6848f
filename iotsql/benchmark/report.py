"""The results of a benchmark run: every figure, every ratio against its target, as text or as
JSON."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import iotsql
from iotsql.benchmark.baselines import optional_orjson
from iotsql.benchmark.compile import TARGET_COMPILE_PER_S, CompileResult
from iotsql.benchmark.engine import TARGET_ENGINE_RATIO, EngineResult
from iotsql.benchmark.memory import TARGET_KB_PER_RULE, MemoryResult
from iotsql.benchmark.replay import TARGET_REPLAY_SPEEDUP, ReplayResult, replay_lines
from iotsql.benchmark.routing import TARGET_ROUTING_GROWTH, TARGET_ROUTING_RATIO, RoutingResult
from iotsql.benchmark.rules import TARGET_EVALUATE_RATIO, TARGET_PUBLISH_RATIO, RuleResult
from iotsql.benchmark.timing import SLICE
from iotsql.values import json_backend


@dataclass
class Target:
    name: str
    value: float
    limit: str
    passed: bool


def _at_most(name: str, value: float, limit: float) -> Target:
    return Target(name, value, f"<= {limit:g}", value <= limit)


@dataclass
class Report:
    environment: dict[str, Any]
    config: dict[str, Any]
    rules: list[RuleResult] | None = None
    routing: RoutingResult | None = None
    engine: EngineResult | None = None
    compile: CompileResult | None = None
    memory: MemoryResult | None = None
    replay: ReplayResult | None = None
    elapsed_s: dict[str, float] = field(default_factory=dict)

    def targets(self) -> list[Target]:
        out = []
        for rule in self.rules or []:
            for library, ratio in rule.ratio.items():
                out.append(_at_most(f"{rule.rule} evaluate/hand ({library})", ratio,
                                    TARGET_EVALUATE_RATIO))  # fmt: skip
            for library, ratio in rule.quiet_publish_ratio.items():
                out.append(_at_most(f"{rule.rule} publish(report=False)/hand publish ({library})",
                                    ratio, TARGET_PUBLISH_RATIO))  # fmt: skip
        if self.routing is not None:
            r = self.routing
            first, last = r.points[0].rules, r.points[-1].rules
            out.append(_at_most(f"routing TopicIndex/hand trie at {last} rules", r.ratio,
                                TARGET_ROUTING_RATIO))  # fmt: skip
            out.append(_at_most(f"routing cost {last}/{first} rules", r.growth,
                                TARGET_ROUTING_GROWTH))  # fmt: skip
        if self.engine is not None:
            e = self.engine
            out.append(_at_most(f"engine publish(report=False)/hand publish ({e.rules} rules)",
                                e.ratio, TARGET_ENGINE_RATIO))  # fmt: skip
        if self.compile is not None:
            c = self.compile
            out.append(Target("compile rules/s", c.rules_per_s, f">= {TARGET_COMPILE_PER_S:,.0f}",
                              c.rules_per_s >= TARGET_COMPILE_PER_S))  # fmt: skip
        if self.memory is not None:
            m = self.memory
            out.append(Target("engine KB per rule", m.engine_kb_per_rule,
                              f"< {TARGET_KB_PER_RULE:g}",
                              m.engine_kb_per_rule < TARGET_KB_PER_RULE))  # fmt: skip
        if self.replay is not None:
            speedup = self.replay.speedup
            out.append(Target("replay 2 Dask workers/1", speedup,
                              f">= {TARGET_REPLAY_SPEEDUP:g}",
                              speedup >= TARGET_REPLAY_SPEEDUP))  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for rule, entry in zip(self.rules or [], data.get("rules") or [], strict=True):
            entry.update(ratio=rule.ratio, publish_ratio=rule.publish_ratio,
                         quiet_publish_ratio=rule.quiet_publish_ratio)  # fmt: skip
        if self.routing is not None:
            r = self.routing
            data["routing"].update(growth=r.growth, hand_growth=r.hand_growth,
                                   natural_growth=r.natural_growth)  # fmt: skip
        if self.engine is not None:
            data["engine"]["ratio"] = self.engine.ratio
            data["engine"]["report_ratio"] = self.engine.report_ratio
            data["engine"]["floor_ratio"] = self.engine.floor_ratio
        if self.replay is not None:
            data["replay"]["speedup"] = self.replay.speedup
        data["targets"] = [asdict(t) for t in self.targets()]
        data["passed"] = all(t.passed for t in self.targets())
        return data


def environment() -> dict[str, Any]:
    orjson = optional_orjson()
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "iotsql": iotsql.__version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": load,
        "iotsql_json": json_backend(),
        "orjson": getattr(orjson, "__version__", "installed") if orjson is not None else None,
    }


# ---- text -----------------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
    return lines


def _mark(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def _rules_lines(results: list[RuleResult]) -> list[str]:
    libraries = list(results[0].hand_us)
    lines = [
        f"Rules: µs per message, {results[0].messages:,} messages each (outputs identical to the "
        "hand-written ones on every message, deliveries of publish to those of the publish by "
        "hand)",
    ]
    for title, mine, theirs, ratio_of, target in (
        ("evaluate", "iotsql_us", "hand_us", "ratio", TARGET_EVALUATE_RATIO),
        ("quiet", "quiet_publish_us", "hand_publish_us", "quiet_publish_ratio",
         TARGET_PUBLISH_RATIO),
        ("publish", "publish_us", "hand_publish_us", "publish_ratio", None),
        ("floor", "floor_us", "hand_us", "floor_ratio", None),
    ):  # fmt: skip
        headers = ["rule", "fires"]
        for library in libraries:
            headers += [f"{title} {library}", f"hand {library}", f"ratio {library}"]
        headers.append(f"target <= {target:g}" if target is not None else "(no target)")
        rows = []
        for r in results:
            row = [r.rule, f"{r.fired / r.messages:.0%}"]
            ratios = getattr(r, ratio_of)
            for library in libraries:
                row += [f"{getattr(r, mine)[library]:.2f}", f"{getattr(r, theirs)[library]:.2f}",
                        f"{ratios[library]:.2f}"]  # fmt: skip
            if target is None:
                rows.append([*row, ""])
            else:
                rows.append([*row, _mark(all(v <= target for v in ratios.values()))])
        lines += ["", *_table(headers, rows)]
    lines += [
        "evaluate = rule.evaluate(body, topic=..., context=...).to_bytes(); hand = the rule "
        "written by hand (decode, WHERE, projection, encode)",
        "quiet = RulesEngine.publish(..., report=False) with only that rule (one sqs action, an "
        "instant sink that keeps nothing); publish = the same building its report (for "
        "reference); hand = a dict-trie match, the hand-written rule, a sink call",
        "floor = the same hand-written rule behind evaluate's call shape (keyword arguments, "
        "a result object whose to_bytes() encodes; no limits, no context, no checks): what "
        "evaluate's API alone costs over a function returning bytes; hand = that function",
    ]
    return lines


def _routing_lines(r: RoutingResult) -> list[str]:
    first, last = r.points[0].rules, r.points[-1].rules
    rows = []
    for label, points in (("all match", r.points), (f"{first:,} match", r.growth_points)):
        for p in points:
            rows.append([label if p is points[0] else "", f"{p.rules:,}", f"{p.index_us:.2f}",
                         f"{p.hand_us:.2f}", f"{p.ratio:.2f}", f"{p.matches_per_topic:.2f}",
                         f"{p.matched_share:.0%}"])  # fmt: skip
    headers = ["topics", "rules", "TopicIndex", "hand trie", "ratio", "matches/topic", "matched"]
    return [
        f"Routing: µs per topic, {r.points[0].topics:,} topics (TopicIndex.match and the hand "
        "trie agree on every topic)",
        *_table(headers, rows),
        f"all match: topics drawn from all the filters of the row; {first:,} match: topics drawn "
        f"from the first {first:,} filters, the others cannot match them",
        f"ratio at {last:,} rules {r.ratio:.2f} (target <= {TARGET_ROUTING_RATIO:g}): "
        f"{_mark(r.ratio <= TARGET_ROUTING_RATIO)}",
        f"cost {last:,}/{first:,} rules, {first:,} match: {r.growth:.2f} (target <= "
        f"{TARGET_ROUTING_GROWTH}): {_mark(r.growth <= TARGET_ROUTING_GROWTH)}; hand trie "
        f"{r.hand_growth:.2f}; all match: {r.natural_growth:.2f}",
    ]


def _engine_lines(e: EngineResult) -> list[str]:
    return [
        f"Engine: RulesEngine.publish, {e.rules:,} rules (one sqs action each), "
        f"{e.messages:,} mixed messages (the same deliveries as the publish by hand on every "
        "message)",
        f"{e.quiet_messages_per_s:,.0f} messages/s ({e.quiet_publish_us:.2f} µs per message) "
        f"with report=False and an instant sink that keeps nothing; by hand ({e.json_library}) "
        f"{e.hand_us:.2f} µs: ratio {e.ratio:.2f} (target <= {TARGET_ENGINE_RATIO:g}): "
        f"{_mark(e.ratio <= TARGET_ENGINE_RATIO)}",
        f"{e.discarding_messages_per_s:,.0f} messages/s ({e.discarding_publish_us:.2f} µs per "
        f"message) building the reports, the same sink: ratio {e.report_ratio:.2f} (no target)",
        f"the deliveries alone (the same statements, outputs and requests in a plain loop, "
        f"routes resolved beforehand): {e.floor_us:.2f} µs per message, ratio "
        f"{e.floor_ratio:.2f} (no target: under it, only cheaper requests or statements)",
        f"{e.messages_per_s:,.0f} messages/s ({e.publish_us:.2f} µs per message) with the "
        "engine's recorder (which keeps every request)",
        f"{e.matched_per_message:.2f} rules matched and {e.fired_per_message:.2f} fired per "
        f"message; engine built in {e.build_s:.1f} s "
        f"({e.rules / e.build_s:,.0f} create_topic_rule calls/s)",
    ]


def format_report(report: Report) -> str:
    env, config = report.environment, report.config
    load = env.get("load_average")
    lines = [
        f"iotsql bench: iotsql {env['iotsql']}, {env['python']}, {env['platform']}, "
        f"{env['cpus']} CPUs, {env['date']}"
        + (f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else ""),
        f"seed {config['seed']}, best of {config['repeat']} per slice of {SLICE:,} (CPU time of "
        f"this process, gc on); iotsql JSON: {env['iotsql_json']}; orjson: "
        f"{env['orjson'] or 'not installed'}",
    ]
    if report.rules is not None:
        lines += ["", *_rules_lines(report.rules)]
    if report.routing is not None:
        lines += ["", *_routing_lines(report.routing)]
    if report.engine is not None:
        lines += ["", *_engine_lines(report.engine)]
    if report.compile is not None:
        c = report.compile
        lines += [
            "",
            f"Compile: {c.rules_per_s:,.0f} rules/s ({c.us_per_rule:.0f} µs per rule, "
            f"{c.texts:,} distinct texts) (target >= {TARGET_COMPILE_PER_S:,.0f}): "
            f"{_mark(c.rules_per_s >= TARGET_COMPILE_PER_S)}",
        ]
    if report.memory is not None:
        m = report.memory
        lines += [
            "",
            f"Memory: {m.engine_kb_per_rule:.1f} KB per rule held by an engine of {m.rules:,} "
            f"rules (peak while building: {m.engine_peak_kb_per_rule:.1f} KB per rule) (target < "
            f"{TARGET_KB_PER_RULE:g}): {_mark(m.engine_kb_per_rule < TARGET_KB_PER_RULE)}; a bare "
            f"CompiledRule: {m.compiled_kb_per_rule:.1f} KB",
        ]
    if report.replay is not None:
        lines += ["", *replay_lines(report.replay)]
    targets = report.targets()
    if targets:
        missed = [t.name for t in targets if not t.passed]
        summary = f"Targets: {len(targets) - len(missed)} of {len(targets)} met"
        lines += ["", summary + (f"; missed: {', '.join(missed)}" if missed else "")]
    return "\n".join(lines)
