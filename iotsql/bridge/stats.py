"""The bridge's counts, printed as one line every `--stats-interval` seconds and once on exit:

    received: 2000, matched: 2000, fired: 1000, actions ok: 1000, actions failed: 0,
    dead letters: 0, 1843.2 messages/s

- received: messages the broker delivered (republished ones included: they come back through
  the broker); rejected ones (a topic or body the engine refuses) are counted here and as dead
  letters;
- matched: rule evaluations (a message two rules match counts twice); fired: the ones whose
  WHERE held;
- actions ok / failed: action executions, error actions included;
- dead letters: messages nothing could take (written to `--dead-letters`);
- messages/s: received per second, over the last interval (stats lines) or the whole run
  (the summary)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

LABELS = {
    "received": "received",
    "matched": "matched",
    "fired": "fired",
    "actions_ok": "actions ok",
    "actions_failed": "actions failed",
    "dead_letters": "dead letters",
}


@dataclass
class BridgeStats:
    received: int = 0
    matched: int = 0
    fired: int = 0
    actions_ok: int = 0
    actions_failed: int = 0
    dead_letters: int = 0
    republished: int = 0
    rejected: int = 0
    started: float = field(default_factory=time.monotonic)

    def copy(self) -> BridgeStats:
        return BridgeStats(**{f.name: getattr(self, f.name) for f in fields(self)})

    def line(self, rate: float) -> str:
        counts = ", ".join(f"{label}: {getattr(self, name)}" for name, label in LABELS.items())
        return f"{counts}, {rate:.1f} messages/s"

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*LABELS, "republished", "rejected")}


class StatsCounter:
    """BridgeStats updated by many workers, and rates between two readings."""

    def __init__(self) -> None:
        self._stats = BridgeStats()
        self._lock = threading.Lock()
        self._last_received = 0
        self._last_time = self._stats.started

    def add(self, **deltas: int) -> None:
        with self._lock:
            stats = self._stats
            for name, delta in deltas.items():
                setattr(stats, name, getattr(stats, name) + delta)

    def snapshot(self) -> BridgeStats:
        with self._lock:
            return self._stats.copy()

    def interval_line(self) -> str:
        """The stats line with the rate since the previous call."""
        now = time.monotonic()
        with self._lock:
            stats = self._stats.copy()
            elapsed = max(now - self._last_time, 1e-9)
            rate = (stats.received - self._last_received) / elapsed
            self._last_received, self._last_time = stats.received, now
        return stats.line(rate)

    def summary_line(self) -> str:
        stats = self.snapshot()
        elapsed = max(time.monotonic() - stats.started, 1e-9)
        return f"{stats.line(stats.received / elapsed)} in {elapsed:.1f} s"
