"""`run()`: the chosen sections of the benchmark, one after the other, into one `Report`."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence

from iotsql.benchmark.compile import bench_compile
from iotsql.benchmark.engine import bench_engine
from iotsql.benchmark.memory import bench_memory
from iotsql.benchmark.replay import DEFAULT_REPLAY_MESSAGES, bench_replay
from iotsql.benchmark.report import Report, environment
from iotsql.benchmark.routing import bench_routing
from iotsql.benchmark.rules import bench_rules
from iotsql.benchmark.workload import SQL_VERSION

SECTIONS = ("rules", "routing", "engine", "compile", "memory")
#: Sections run only when asked for (`--section replay`): replay starts Dask clusters.
OPTIONAL_SECTIONS = ("replay",)
DEFAULT_MESSAGES = 20_000
DEFAULT_RULES = 10_000
DEFAULT_REPEAT = 5
DEFAULT_SEED = 6


def run(
    sections: Sequence[str] = SECTIONS,
    messages: int = DEFAULT_MESSAGES,
    rules: int = DEFAULT_RULES,
    repeat: int = DEFAULT_REPEAT,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
    replay_messages: int = DEFAULT_REPLAY_MESSAGES,
) -> Report:
    """Run the chosen sections; raises BenchmarkError when iotsql and a baseline disagree."""
    gc.enable()
    report = Report(environment(), {"sections": list(sections), "messages": messages,
                                    "rules": rules, "repeat": repeat, "seed": seed,
                                    "sql_version": SQL_VERSION})  # fmt: skip
    if "replay" in sections:
        report.config["replay_messages"] = replay_messages
    for section in (*SECTIONS, *OPTIONAL_SECTIONS):
        if section not in sections:
            continue
        if progress is not None:
            progress(section)
        start = time.perf_counter()
        if section == "rules":
            report.rules = bench_rules(messages, repeat, seed)
        elif section == "routing":
            report.routing = bench_routing(rules, messages, repeat, seed)
        elif section == "engine":
            report.engine = bench_engine(rules, messages, repeat, seed)
        elif section == "compile":
            report.compile = bench_compile(rules, repeat, seed)
        elif section == "replay":
            report.replay = bench_replay(replay_messages, seed)
        else:
            report.memory = bench_memory(rules, seed)
        report.elapsed_s[section] = round(time.perf_counter() - start, 2)
    return report
