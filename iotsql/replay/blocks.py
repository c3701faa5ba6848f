"""MESSAGES files cut into blocks of bytes, each read on its own (by a Dask worker) with the
number of every line.

A block is a byte range [start, end) of a file; it holds the lines that *begin* in it, the
last one read to its end even past `end` (the rule of Hadoop's and Dask's `read_bytes`
splits). So every line belongs to exactly one block, whatever the block size, and a block
knows how many lines it holds once read: the number of a line in its file is its number in
its block plus the lines of the file's earlier blocks, a prefix sum the caller adds up as the
blocks come back. (`dask.bag.read_text(..., blocksize=...)` splits the same way but gives
lines without their numbers and reads each block whole into memory; here a line is read at
most `limit` bytes at a time, as the single-process replay reads it.)

Each file is read no further than its size when the replay began (`Block.size`): a file that
grows meanwhile is replayed as it was, and a line longer than the limit is skipped to its end
however long it is (a single process reading a pipe cannot know there is an end, so it gives
up after `Limits.max_document_bytes`; a block of a regular file knows where the file ends)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from iotsql.replay.lines import SKIP_CHUNK

#: Blocks at least this big when the size is chosen for the input (`choose_blocksize`).
MIN_AUTO_BLOCKSIZE = 256 << 10
#: And at most this big.
MAX_AUTO_BLOCKSIZE = 64 << 20
#: Blocks per worker thread the chosen size aims at: enough to balance uneven blocks.
BLOCKS_PER_THREAD = 4
#: The most blocks a replay cuts its input in (each is a task for the scheduler).
MAX_BLOCKS = 100_000


class InputError(Exception):
    """A MESSAGES file that cannot be split in blocks."""


@dataclass(frozen=True)
class Block:
    """Bytes [start, end) of the file `path`, the `file`-th of MESSAGES; `index` numbers the
    blocks of all the files in reading order. `size` is the file's size when it was split."""

    index: int
    file: int
    path: str
    start: int
    end: int
    size: int


def file_sizes(paths: Sequence[str]) -> list[int]:
    """The size of each file; raises InputError for one that is missing or not a regular file
    (a pipe or a device cannot be read from several offsets at once)."""
    sizes = []
    for path in paths:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise InputError(f"MESSAGES: no such file: {path}") from None
        except OSError as error:
            raise InputError(f"MESSAGES: cannot read {path}: {error.strerror or error}") from None
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"MESSAGES: {path} is not a regular file: a distributed replay "
                             "reads files in blocks from their offsets; replay it without "
                             "--workers or --scheduler")  # fmt: skip
        sizes.append(info.st_size)
    return sizes


def choose_blocksize(total: int, threads: int) -> int:
    """A block size giving each worker thread a few blocks of the `total` bytes, within
    [MIN_AUTO_BLOCKSIZE, MAX_AUTO_BLOCKSIZE]."""
    wanted = -(-total // max(1, threads * BLOCKS_PER_THREAD))
    return max(MIN_AUTO_BLOCKSIZE, min(MAX_AUTO_BLOCKSIZE, wanted))


def split_files(paths: Sequence[str], blocksize: int) -> list[Block]:
    """The blocks of `paths`, in order; an empty file has none."""
    if blocksize < 1:
        raise InputError(f"the block size must be at least 1 byte, not {blocksize}")
    sizes = file_sizes(paths)
    count = sum(-(-size // blocksize) for size in sizes)
    if count > MAX_BLOCKS:
        raise InputError(f"--blocksize {blocksize:,} cuts MESSAGES in {count:,} blocks, more "
                         f"than {MAX_BLOCKS:,}: give a larger one")  # fmt: skip
    blocks: list[Block] = []
    for number, (path, size) in enumerate(zip(paths, sizes, strict=True)):
        for start in range(0, size, blocksize):
            end = min(size, start + blocksize)
            blocks.append(Block(len(blocks), number, path, start, end, size))
    return blocks


def block_lines(block: Block, limit: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(number in the block, line, bytes read) for each line that begins in `block`, read at
    most `limit` bytes at a time: a longer line comes as None, its rest read and dropped."""
    with open(block.path, "rb") as stream:
        position = _first_line(stream, block)
        if position is None:
            return
        stream.seek(position)
        number = 0
        while position < block.end:
            left = block.size - position
            if left <= 0:
                return
            line = stream.readline(min(limit + 1, left))
            if not line:
                return
            number += 1
            position += len(line)
            if len(line) <= limit or line.endswith(b"\n"):
                yield number, line, len(line)
                continue
            skipped = len(line)
            while not line.endswith(b"\n") and position < block.size:
                line = stream.readline(min(SKIP_CHUNK, block.size - position))
                if not line:
                    break
                skipped += len(line)
                position += len(line)
            yield number, None, skipped


def _first_line(stream: IO[bytes], block: Block) -> int | None:
    """The offset of the first line that begins in `block`: `start` for a file's first block,
    else just after the first newline at or after `start - 1`; None if no line begins before
    `end` (the block lies inside a line that an earlier block holds)."""
    if block.start == 0:
        return 0
    stream.seek(block.start - 1)
    position = block.start - 1
    while position < block.end:
        chunk = stream.read(min(SKIP_CHUNK, block.end - position))
        if not chunk:
            return None
        found = chunk.find(b"\n")
        if found >= 0:
            first = position + found + 1
            return first if first < block.end else None
        position += len(chunk)
    return None
