"""The tasks of a distributed replay, as a Dask worker runs them: plain functions of picklable
data (this module does not import Dask).

- By block (the default): `replay_block` reads one block of a MESSAGES file and publishes its
  messages in order; the block is the partition.
- By topic: `split_block` reads a block and sorts its messages into buckets by a hash of the
  topic that is the same in every process (CRC-32, not `hash()`, which Python salts per
  process); `replay_buckets` publishes partition p's bucket of every block, blocks in input
  order, so each topic's messages are published in input order, by one engine.

Either way every message is published by one engine, with what its republish actions feed
back (the chain stays inside the partition), and each partition writes its requests to its
own part (`part-NNNNN.jsonl` in the output folder, written under a temporary name and renamed
when complete, so a task Dask runs again never leaves half a part) or hands them back."""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from iotsql.actions.base import ActionRequest
from iotsql.replay.blocks import Block, block_lines
from iotsql.replay.lines import BadLine, decode_line
from iotsql.replay.replayer import Replayer, RuleDefinitions, engine_for, request_line
from iotsql.replay.summary import RuleStats, Totals

#: A problem with one line: (block index, number of the line in its block, text).
Diagnostic = tuple[int, int, str]
#: A message sorted into a bucket: (number of its line in its block, topic, body, context).
Item = tuple[int, str, bytes, Any]


def part_name(partition: int) -> str:
    return f"part-{partition:05d}.jsonl"


def topic_partition(topic: str, partitions: int) -> int:
    """The partition of a topic: a hash every worker computes alike."""
    return zlib.crc32(topic.encode("utf-8", "surrogatepass")) % partitions


@dataclass
class BlockRead:
    """What reading a block found: how many lines begin in it (to number the lines of the
    blocks after it), the bytes read, and, when it was split by topic, its bad lines."""

    block: int
    file: int
    lines: int = 0
    bytes: int = 0
    bad: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class PartResult:
    """What one partition did: its counts, its problems, the blocks it read (by block), and
    its requests: the part it wrote, or the request lines themselves."""

    partition: int
    stats: dict[str, RuleStats]
    totals: Totals
    diagnostics: list[Diagnostic]
    read: BlockRead | None
    requests: list[str] | None
    part: str | None
    #: CPU time of the thread that ran the task, in seconds.
    cpu_s: float = 0.0


@dataclass
class Split:
    """A block sorted by topic: its messages, one bucket per partition, and what was read."""

    read: BlockRead
    buckets: list[list[Item]]


class _Output:
    """Where a partition's requests go: a part in `out_dir`, or a list handed back."""

    def __init__(self, out_dir: str | None, partition: int) -> None:
        self.lines: list[str] | None = None
        self.file: IO[str] | None = None
        self.path: Path | None = None
        if out_dir is None:
            self.lines = []
            return
        os.makedirs(out_dir, exist_ok=True)
        self.path = Path(out_dir) / part_name(partition)
        self.temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.file = open(self.temporary, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, requests: list[ActionRequest]) -> None:
        if self.file is not None:
            for request in requests:
                self.file.write(request_line(request) + "\n")
        elif self.lines is not None:
            self.lines.extend(request_line(request) for request in requests)

    def finish(self) -> str | None:
        if self.file is None or self.path is None:
            return None
        self.file.close()
        os.replace(self.temporary, self.path)
        return str(self.path)

    def abandon(self) -> None:
        if self.file is not None:
            self.file.close()
            self.temporary.unlink(missing_ok=True)


def prepare(definitions: RuleDefinitions) -> int:
    """Build a worker's engine before its first task (run on every worker): the rules it
    compiled."""
    return len(engine_for(definitions).rules)


def rules_of(definitions: RuleDefinitions) -> RuleDefinitions:
    """The task whose result is the rules every replay task reads: a task, not scattered data,
    so that Dask computes it again when the workers holding it die (scattered data lost with
    them makes every task that needs it fail)."""
    return definitions


def _replayer(definitions: RuleDefinitions) -> Replayer:
    return Replayer(engine_for(definitions), [name for name, _ in definitions.rules])


def _messages(
    block: Block, limit: int, read: BlockRead
) -> Iterator[tuple[int, tuple[str, bytes, Any] | BadLine]]:
    """(number in the block, (topic, body, context) or why the line is bad) for each line of
    `block` that is not blank, counting the lines and bytes read into `read`."""
    for number, raw, size in block_lines(block, limit):
        read.lines, read.bytes = number, read.bytes + size
        if raw is not None and not raw.strip():
            continue
        try:
            message = decode_line(raw, limit)
        except BadLine as error:
            yield number, error
            continue
        yield number, message


def replay_block(
    definitions: RuleDefinitions, block: Block, out_dir: str | None, limit: int
) -> PartResult:
    """Publish the messages of one block, in order: partition `block.index`."""
    cpu = time.thread_time()
    replayer = _replayer(definitions)
    output = _Output(out_dir, block.index)
    read = BlockRead(block.index, block.file)
    diagnostics: list[Diagnostic] = []
    try:
        for number, message in _messages(block, limit, read):
            try:
                if isinstance(message, BadLine):
                    raise message
                requests, found = replayer.publish(*message, (block.index, number))
            except BadLine as error:
                replayer.totals.bad += 1
                diagnostics.append((block.index, number, str(error)))
                continue
            output.write(requests)
            diagnostics.extend((block.index, number, problem) for problem in found)
        part = output.finish()
    except BaseException:
        output.abandon()
        raise
    return PartResult(block.index, replayer.stats, replayer.totals, diagnostics, read,
                      output.lines, part, time.thread_time() - cpu)  # fmt: skip


def split_block(block: Block, partitions: int, limit: int) -> Split:
    """Read one block and sort its messages by topic into `partitions` buckets, in order; a
    line that is not a message is counted and reported here."""
    read = BlockRead(block.index, block.file)
    buckets: list[list[Item]] = [[] for _ in range(partitions)]
    for number, message in _messages(block, limit, read):
        if isinstance(message, BadLine):
            read.bad += 1
            read.diagnostics.append((block.index, number, str(message)))
            continue
        topic, body, context = message
        buckets[topic_partition(topic, partitions)].append((number, topic, body, context))
    return Split(read, buckets)


def read_of(split: Split) -> BlockRead:
    return split.read


def bucket_of(split: Split, partition: int) -> tuple[int, list[Item]]:
    """(block index, messages) of one partition's bucket of a split block."""
    return split.read.block, split.buckets[partition]


def replay_buckets(
    definitions: RuleDefinitions, partition: int, out_dir: str | None,
    *buckets: tuple[int, list[Item]],
) -> PartResult:  # fmt: skip
    """Publish partition `partition`'s messages: its bucket of every block, in block order."""
    cpu = time.thread_time()
    replayer = _replayer(definitions)
    output = _Output(out_dir, partition)
    diagnostics: list[Diagnostic] = []
    try:
        for block, items in sorted(buckets, key=lambda bucket: bucket[0]):
            for number, topic, body, context in items:
                try:
                    requests, found = replayer.publish(topic, body, context, (block, number))
                except BadLine as error:
                    replayer.totals.bad += 1
                    diagnostics.append((block, number, str(error)))
                    continue
                output.write(requests)
                diagnostics.extend((block, number, problem) for problem in found)
        part = output.finish()
    except BaseException:
        output.abandon()
        raise
    return PartResult(partition, replayer.stats, replayer.totals, diagnostics, None, output.lines,
                      part, time.thread_time() - cpu)  # fmt: skip
