"""What a test may say about time: that a step is bounded, never that it is fast (speed is
measured by the benchmarks, against hand-written code in the same process).

Wall-clock time on a machine shared with other processes is whatever they leave over, so a
step that computes is bounded by the CPU time of this process (its worker threads included),
which the load of the machine does not inflate; and the regex package's own time-outs count
that same clock. A step that waits (a hung sink cut by a time-out) spends no CPU: it is bounded
by wall-clock time, with a bound far below the wait it is cut from (a sink hung for a minute,
a server that answers after several seconds), so the load of the machine cannot reach it and
a step that does not cut the wait still fails."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: What the hung sinks of the tests wait for: far longer than any `waits_at_most` bound.
HANG_SECONDS = 60.0


@contextmanager
def cpu_at_most(seconds: float) -> Iterator[None]:
    """Fail if the block spent more than `seconds` of this process's CPU time."""
    start = time.process_time()
    yield
    spent = time.process_time() - start
    assert spent < seconds, f"spent {spent:.2f} s of CPU time (bound {seconds} s)"


def cpu_bounded(step: Callable[[], T], seconds: float) -> T:
    """Run `step`, failing if it spent more than `seconds` of this process's CPU time."""
    with cpu_at_most(seconds):
        return step()


def waits_at_most(step: Callable[[], T], seconds: float) -> T:
    """Run `step`, which waits rather than computes, failing if it took more than `seconds` of
    wall-clock time; `seconds` must be far below the wait the step is meant to cut short."""
    assert seconds < HANG_SECONDS / 4, "the bound must be far below the hang it detects"
    start = time.monotonic()
    result = step()
    elapsed = time.monotonic() - start
    assert elapsed < seconds, f"waited {elapsed:.2f} s (bound {seconds} s)"
    return result
