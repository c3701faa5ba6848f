"""One Dask LocalCluster of 2 worker processes for the replay tests that need a cluster,
started by the tests themselves (no mock of Dask) and shared by the module."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from dask_support import require_dask


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes, one thread each."""
    require_dask()
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)  # fmt: skip
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def connected(dask_cluster: Any) -> Iterator[Any]:
    """iotsql's client of that cluster, as `--scheduler ADDRESS` connects."""
    from iotsql.replay.distributed import connect

    with connect(scheduler=dask_cluster.scheduler_address) as cluster:
        yield cluster
