"""How the benchmark times things: the CPU time of this process, per slice of the workload, the
best of several rounds for each slice, the runs being compared interleaved within each round.

Why CPU time: on a machine shared with other work, wall time counts the time other processes
hold the CPU; the process's CPU time (`time.process_time_ns`, every thread of this process)
counts only the work measured. Why slices: a burst of interference spoils one slice of one
round, not a whole run, so the best of a few rounds per slice is close to the undisturbed cost
(both sides of a ratio are measured the same way, so neither gains from it)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: The clock of every in-process measurement (ns).
clock = time.process_time_ns
#: Items per timed slice.
SLICE = 1_000


def best_of(
    repeat: int,
    runs: dict[str, Callable[[Sequence[T]], object]],
    items: Sequence[T],
    setup: Callable[[], object] | None = None,
    slice_size: int = SLICE,
) -> dict[str, int]:
    """The time (ns) of each run over all of `items`: the sum over slices of `slice_size`
    items of the best time of that slice in `repeat` rounds. Each round runs every run, in an
    order rotated from round to round, so that drift and warm-up fall on all alike; `setup`
    runs, untimed, before each run, then the garbage collector collects."""
    slices = [items[start : start + slice_size] for start in range(0, len(items), slice_size)]
    best: dict[str, list[int]] = {name: [] for name in runs}
    names = list(runs)
    for round_ in range(max(1, repeat)):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            if setup is not None:
                setup()
            gc.collect()
            times = _run_slices(runs[name], slices)
            kept = best[name]
            if not kept:
                kept.extend(times)
            else:
                best[name] = [min(a, b) for a, b in zip(kept, times, strict=True)]
    return {name: sum(times) for name, times in best.items()}


def _run_slices(run: Callable[[Sequence[T]], object], slices: list[Sequence[T]]) -> list[int]:
    times = []
    now = clock
    for part in slices:
        start = now()
        run(part)
        times.append(now() - start)
    return times


def timed_once(run: Callable[[], object]) -> int:
    """One run's CPU time (ns), the garbage collector collected before it."""
    gc.collect()
    start = clock()
    run()
    return clock() - start


def us(ns: int, count: int) -> float:
    """Microseconds per item."""
    return ns / max(1, count) / 1000.0
