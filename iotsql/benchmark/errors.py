"""The one error of the benchmark."""

from __future__ import annotations


class BenchmarkError(Exception):
    """iotsql and the hand-written baseline disagree: the numbers would compare different work."""
