"""A replay spread over a Dask cluster: a `LocalCluster` of worker processes started for the
replay, or an existing cluster reached through its scheduler. Dask is imported here, when a
replay asks for it, never by `import iotsql` (`pip install 'iotsql[dask]'` installs it).

The input is cut in blocks (`iotsql.replay.blocks`), and the tasks of
`iotsql.replay.partition` publish them, one engine per worker process built from the rules as
data (`RuleDefinitions`, the result of a task copied to every worker, which Dask computes again
if every worker holding it dies). Results come back in partition
order, whatever order the tasks finish in: the request lines handed back are printed in
input order of the partitions, and the lines of each block are numbered once the blocks
before it in its file have said how many lines they hold. The counts of the partitions add
up to the summary a single process prints; the elapsed time is the wall-clock time from the
first task submitted to the last result (the cluster's start-up is reported apart)."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Literal, TypeVar

from iotsql.replay.blocks import Block, InputError, choose_blocksize, file_sizes, split_files
from iotsql.replay.partition import (
    BlockRead,
    Diagnostic,
    PartResult,
    bucket_of,
    prepare,
    read_of,
    replay_block,
    replay_buckets,
    rules_of,
    split_block,
)
from iotsql.replay.replayer import RuleDefinitions
from iotsql.replay.summary import RuleStats, Totals, merge_stats

PartitionBy = Literal["block", "topic"]

INSTALL = "pip install 'iotsql[dask]'"
#: How long to wait for an existing cluster's scheduler, and for its first worker.
CONNECT_TIMEOUT = 30.0
#: Partitions per worker thread when messages are partitioned by topic.
TOPIC_PARTITIONS_PER_THREAD = 2

T = TypeVar("T")


class ReplayError(Exception):
    """A distributed replay that cannot run: Dask missing, a cluster unreachable or whose
    workers lack iotsql, an input that cannot be split, a task that failed."""


def import_distributed() -> ModuleType:
    """`dask.distributed`, or a ReplayError that says how to install it."""
    try:
        import distributed
    except ImportError as error:
        raise ReplayError(f"--workers and --scheduler run the replay on Dask, which is not "
                          f"installed ({error}): {INSTALL}") from None  # fmt: skip
    return distributed


def worker_iotsql_version() -> str:
    """Run on each worker before a replay: the iotsql it imports (sent by reference, so a
    worker without iotsql fails here, clearly, rather than in every task)."""
    return _version()


def _version() -> str:
    from iotsql import __version__  # the facade sits above this layer: imported when asked

    return __version__


@dataclass
class Cluster:
    """A Dask client, what it is connected to, and the worker threads it has."""

    client: Any
    description: str
    threads: int
    startup: float


#: Worker processes a LocalCluster may start per core of the machine: each is an interpreter
#: of its own (about 100 MB), so `--workers 100000000` would fork until the machine gives out.
WORKERS_PER_CORE: Final = 4


def max_local_workers() -> int:
    """The most worker processes `connect` starts on this machine."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


@contextmanager
def connect(workers: int | None = None, scheduler: str | None = None) -> Iterator[Cluster]:
    """A client of a new LocalCluster of `workers` processes (one thread each: the replay is
    Python code, which one process runs on one core), or of the cluster at `scheduler`;
    closed (and the LocalCluster stopped) on exit."""
    distributed = import_distributed()
    started = time.monotonic()
    local = None
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as error:
            raise ReplayError(f"--scheduler {scheduler}: cannot connect: "
                              f"{error or type(error).__name__}") from None  # fmt: skip
        description = f"the Dask cluster at {scheduler}"
    else:
        if workers is None or workers < 1:
            raise ReplayError("--workers takes a number of worker processes, at least 1")
        if workers > max_local_workers():
            raise ReplayError(f"--workers {workers}: a LocalCluster on this machine runs at "
                              f"most {max_local_workers()} worker processes ({WORKERS_PER_CORE} "
                              f"per core); use --scheduler for a larger cluster")  # fmt: skip
        local = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=logging.ERROR,
        )  # fmt: skip
        client = distributed.Client(local)
        description = f"a LocalCluster of {workers} worker process{'es' * (workers != 1)}"
    try:
        threads = _check_workers(client, scheduler)
        yield Cluster(client, description, threads, time.monotonic() - started)
    finally:
        client.close()
        if local is not None:
            local.close()


def _check_workers(client: Any, scheduler: str | None) -> int:
    """The worker threads of the cluster, once it has a worker and every worker runs this
    iotsql."""
    mine = _version()
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except TimeoutError:
        raise ReplayError(f"--scheduler {scheduler}: no worker joined the cluster within "
                          f"{CONNECT_TIMEOUT:g} s") from None  # fmt: skip
    try:
        versions = client.run(worker_iotsql_version)
    except Exception as error:
        raise ReplayError(f"the workers of {scheduler or 'the cluster'} cannot run iotsql "
                          f"({type(error).__name__}: {error}): install iotsql {mine} "
                          "on every worker") from None  # fmt: skip
    wrong = sorted({version for version in versions.values() if version != mine})
    if wrong:
        raise ReplayError(f"the workers of {scheduler or 'the cluster'} run iotsql "
                          f"{', '.join(wrong)}, this is {mine}: install the same "
                          "version on every worker")  # fmt: skip
    info = client.scheduler_info()
    return sum(int(worker.get("nthreads", 1)) for worker in info["workers"].values()) or 1


@dataclass
class Outcome:
    """The merged counts of a distributed replay, and how it was spread."""

    stats: dict[str, RuleStats]
    totals: Totals
    blocks: int
    partitions: int
    parts: list[str] = field(default_factory=list)
    #: CPU seconds the partitions' publishing took on the workers, all added up (by topic,
    #: reading and sorting the blocks comes on top).
    cpu_s: float = 0.0


#: Called with (file, line number, text) for each bad line and each problem of a message.
OnProblem = Callable[[str, int, str], None]


class _Numbering:
    """Line numbers in their files, from numbers in their blocks: blocks must be added in
    order, each with the count of lines it holds."""

    def __init__(self, blocks: Sequence[Block]) -> None:
        self.blocks = blocks
        self.before: dict[int, int] = {}
        self.in_file: dict[int, int] = {}

    def add(self, read: BlockRead) -> None:
        self.before[read.block] = self.in_file.get(read.file, 0)
        self.in_file[read.file] = self.before[read.block] + read.lines

    def where(self, diagnostic: Diagnostic) -> tuple[str, int, str]:
        block, number, text = diagnostic
        return self.blocks[block].path, self.before[block] + number, text


def replay(
    cluster: Cluster,
    definitions: RuleDefinitions,
    paths: Sequence[str],
    *,
    limit: int,
    partition_by: PartitionBy = "block",
    blocksize: int | None = None,
    out_dir: str | None = None,
    on_requests: Callable[[list[str]], None] | None = None,
    on_problem: OnProblem | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Replay the JSON-lines files `paths` through the rules of `definitions` on `cluster`.

    Without `out_dir`, each partition's request lines go to `on_requests`, partitions in
    order; with it, each partition writes `part-NNNNN.jsonl` there (earlier parts are removed
    first). Bad lines and problems go to `on_problem` with their file and line number: by
    block, as the blocks come back in order; by topic, all at the end in input order."""
    try:
        total = sum(file_sizes(paths))
        size = blocksize or choose_blocksize(total, cluster.threads)
        blocks = split_files(paths, size)
    except InputError as error:
        raise ReplayError(str(error)) from None
    if out_dir is not None:
        _prepare(Path(out_dir))
    client = cluster.client
    token = uuid.uuid4().hex[:12]
    # A task holds the rules, copied to every worker as a broadcast would be: when the workers
    # holding them die, Dask computes them again (scattered data would be lost with them, and
    # every task after it would fail).
    rules = client.submit(rules_of, definitions, key=f"iotsql-replay-{token}-rules", pure=False)
    client.replicate([rules])
    try:
        # Every worker compiles the rules before the first block, not within it.
        client.run(prepare, definitions)
    except Exception as error:
        raise ReplayError(f"the workers cannot build the rules: {type(error).__name__}: "
                          f"{error}") from None  # fmt: skip
    started = time.monotonic()
    numbering = _Numbering(blocks)
    stats: dict[str, RuleStats] = {name: RuleStats() for name, _ in definitions.rules}
    totals = Totals()
    parts: list[str] = []
    cpu = 0.0
    report = on_problem or (lambda path, number, text: None)

    def take(result: PartResult) -> None:
        nonlocal cpu
        cpu += result.cpu_s
        merge_stats(stats, result.stats)
        totals.merge(result.totals)
        if result.part is not None:
            parts.append(result.part)
        if result.requests and on_requests is not None:
            on_requests(result.requests)

    if partition_by == "block":
        futures = [
            client.submit(
                replay_block,
                rules,
                block,
                out_dir,
                limit,
                pure=False,
                key=f"iotsql-replay-{token}-block-{block.index}",
            )
            for block in blocks
        ]
        done = 0
        for index, result in _in_order(futures, blocks, "block", out_dir):
            assert result.read is not None
            numbering.add(result.read)
            take(result)
            for diagnostic in result.diagnostics:
                report(*numbering.where(diagnostic))
            done += blocks[index].end - blocks[index].start
            if on_progress is not None:
                on_progress(done, total)
        partitions = len(blocks)
    else:
        partitions = max(1, TOPIC_PARTITIONS_PER_THREAD * cluster.threads)
        splits = [
            client.submit(
                split_block,
                block,
                partitions,
                limit,
                pure=False,
                key=f"iotsql-replay-{token}-split-{block.index}",
            )
            for block in blocks
        ]
        reads = [client.submit(read_of, split, key=f"{split.key}-read") for split in splits]
        tasks = []
        for partition in range(partitions):
            buckets = [
                client.submit(bucket_of, split, partition, key=f"{split.key}-bucket-{partition}")
                for split in splits
            ]
            tasks.append(client.submit(replay_buckets, rules, partition, out_dir, *buckets,
                                       pure=False,
                                       key=f"iotsql-replay-{token}-partition-{partition}"))  # fmt: skip
        del splits  # the buckets hold them on the cluster as long as they are needed
        found: list[Diagnostic] = []
        for _, read in _in_order(reads, blocks, "block", out_dir):
            numbering.add(read)
            totals.bad += read.bad
            found += read.diagnostics
        for partition, result in _in_order(tasks, None, "partition", out_dir):
            take(result)
            found += result.diagnostics
            if on_progress is not None:
                on_progress(total * (partition + 1) // partitions, total)
        for diagnostic in sorted(found):
            report(*numbering.where(diagnostic))
    if out_dir is not None:
        _remove_temporaries(Path(out_dir))
    totals.elapsed = time.monotonic() - started
    return Outcome(stats, totals, len(blocks), partitions, parts, cpu)


def check_inputs(paths: Sequence[str], out_dir: str | None) -> None:
    """Refuse, before any cluster starts, MESSAGES that cannot be cut in blocks and an --out
    that is a file."""
    try:
        file_sizes(paths)
    except InputError as error:
        raise ReplayError(str(error)) from None
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ReplayError(f"--out {out_dir}: with --workers or --scheduler, --out names a "
                          "folder (one part per partition), and this is a file")  # fmt: skip


def _remove_temporaries(folder: Path) -> None:
    """Remove the temporary parts that workers which died left behind (Dask ran their tasks
    again on other workers, which wrote the parts)."""
    for stale in folder.glob(".part-*.tmp"):
        stale.unlink(missing_ok=True)


def _prepare(folder: Path) -> None:
    """The output folder, created, without the parts (and abandoned temporary parts) of an
    earlier replay, which would otherwise mix with this one's."""
    if folder.exists() and not folder.is_dir():
        raise ReplayError(f"--out {folder}: with --workers or --scheduler, --out names a "
                          "folder (one part per partition), and this is a file")  # fmt: skip
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in [*folder.glob("part-*.jsonl"), *folder.glob(".part-*.tmp")]:
            stale.unlink()
    except OSError as error:
        raise ReplayError(f"--out {folder}: {error.strerror or error}") from None


def _in_order(
    futures: Sequence[Any], blocks: Sequence[Block] | None, kind: str, out_dir: str | None
) -> Iterator[tuple[int, Any]]:
    """(index, result) of each future, in the order of `futures`, each as soon as it and all
    before it are done; a task that failed (Dask gives up on a task after its workers died
    several times: KilledWorker) is a ReplayError naming its block or partition, and saying
    that `out_dir` holds only the parts written before."""
    from distributed import as_completed

    position = {future.key: index for index, future in enumerate(futures)}
    finished: dict[int, Any] = {}
    following = 0
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        index = position[future.key]
        try:
            finished[index] = future.result()
        except Exception as error:
            for other in futures:
                other.cancel()
            where = f"partition {index}"
            if blocks is not None:
                block = blocks[index]
                where = f"{block.path} bytes {block.start:,}-{block.end:,}"
            hint = ""
            if isinstance(error, OSError):
                hint = (" (with --scheduler, the workers read MESSAGES, and write --out, at "
                        "the same paths as this machine)")  # fmt: skip
            if out_dir is not None:
                written = len(list(Path(out_dir).glob("part-*.jsonl")))
                hint += (f"; --out {out_dir} is incomplete: it holds only the {written} "
                         f"part{'s' * (written != 1)} finished before the failure")  # fmt: skip
            raise ReplayError(f"the {kind} task of {where} failed: {type(error).__name__}: "
                              f"{error}{hint}") from None  # fmt: skip
        future.release()
        while following in finished:
            yield following, finished.pop(following)
            following += 1
