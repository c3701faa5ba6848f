"""Dask for the tests of the distributed replay (tests/replay, tests/test_bench_replay.py)."""

from __future__ import annotations

import os

import pytest


def require_dask() -> None:
    """Skip without Dask (it is in the dev extra); in CI (IOTSQL_CI=1), fail instead."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        if os.environ.get("IOTSQL_CI") == "1":
            raise
        pytest.skip("Dask is not installed: pip install 'iotsql[dask]'")
