"""Section `memory`: what an engine with every rule of the engine section holds (tracemalloc,
after minus before building it), per rule, and the peak while building; a bare CompiledRule."""

from __future__ import annotations

import functools
import gc
import random
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from iotsql.benchmark.compile import COMPILE_SAMPLE, compile_all
from iotsql.benchmark.engine import build_engine
from iotsql.benchmark.workload import engine_payloads, routing_filters

TARGET_KB_PER_RULE = 10.0


@dataclass
class MemoryResult:
    rules: int
    engine_kb_per_rule: float
    engine_peak_kb_per_rule: float
    compiled_rules: int
    compiled_kb_per_rule: float


def _traced(build: Callable[[], object]) -> tuple[int, int, object]:
    """Bytes allocated by `build()` and still held after it (and its peak), with the result
    kept alive until measured."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = build()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - before, peak - before, result


def bench_memory(rules: int, seed: int) -> MemoryResult:
    filters = routing_filters(random.Random(seed + 10), rules)
    payloads = engine_payloads(filters)
    build_engine(engine_payloads(filters[:8]))  # loads the grammar, the action catalogue...
    held, peak, _ = _traced(lambda: build_engine(payloads))
    sample = payloads[:COMPILE_SAMPLE]
    compiled, _, _ = _traced(functools.partial(compile_all, [p["sql"] for _, p in sample]))
    return MemoryResult(
        rules=len(payloads), engine_kb_per_rule=held / len(payloads) / 1024,
        engine_peak_kb_per_rule=peak / len(payloads) / 1024, compiled_rules=len(sample),
        compiled_kb_per_rule=compiled / len(sample) / 1024,
    )  # fmt: skip
