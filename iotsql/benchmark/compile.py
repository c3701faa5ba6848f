"""Section `compile`: distinct statements compiled per second (`CompiledRule`, no cache), on
texts of the routing rules' shapes, new texts in every round, after the grammar was loaded."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable
from dataclasses import dataclass

from iotsql import CompiledRule
from iotsql.benchmark.timing import timed_once, us
from iotsql.benchmark.workload import RULES, SQL_VERSION, routing_filters, routing_sql

TARGET_COMPILE_PER_S = 1_000.0
#: Compile speed is measured on at most this many distinct texts per run.
COMPILE_SAMPLE = 2_000


@dataclass
class CompileResult:
    texts: int
    rules_per_s: float
    us_per_rule: float


def compile_all(texts: Iterable[str]) -> list[CompiledRule]:
    return [CompiledRule(sql, SQL_VERSION) for sql in texts]


def bench_compile(rules: int, repeat: int, seed: int) -> CompileResult:
    filters = routing_filters(random.Random(seed + 10), min(rules, COMPILE_SAMPLE))
    CompiledRule(RULES["R4"], SQL_VERSION)  # the grammar is loaded once, before timing
    rounds = max(1, repeat)
    # Distinct texts in every round (a first level of their own), so nothing can be reused.
    texts = [
        [routing_sql(n, f"bench{r}/{item.text}") for n, item in enumerate(filters)]
        for r in range(rounds)
    ]
    best = min(timed_once(functools.partial(compile_all, batch)) for batch in texts)
    return CompileResult(len(filters), len(filters) / (best / 1e9), us(best, len(filters)))
