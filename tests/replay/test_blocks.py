"""Blocks of a MESSAGES file: whatever the block size, every line belongs to exactly one
block, in order, read as the single-process replay reads it, and its number in the file is
its number in its block plus the lines of the blocks before it. Partial counts merge into
the counts of the whole input. No Dask needed."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotsql.replay.blocks import InputError, choose_blocksize, split_files
from iotsql.replay.blocks import block_lines as read_block
from iotsql.replay.lines import read_lines
from iotsql.replay.summary import Totals

# Lines of a few bytes, some empty, some over the limit (LIMIT), with or without a final
# newline: the cases where a block boundary can fall.
LIMIT = 12
line_text = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"x"))
contents = st.tuples(st.lists(line_text, max_size=25), st.booleans()).map(
    lambda parts: b"\n".join(parts[0]) + (b"\n" if parts[1] and parts[0] else b"")
)


def numbered_by_blocks(paths: list[str], blocksize: int) -> list[tuple[int, int, bytes | None]]:
    """(file, line number in the file, line) of every line, read block by block."""
    out = []
    before: dict[int, int] = {}
    for block in split_files(paths, blocksize):
        offset = before.get(block.file, 0)
        lines = 0
        for number, raw, _ in read_block(block, LIMIT):
            out.append((block.file, offset + number, raw))
            lines = number
        before[block.file] = offset + lines
    return out


def numbered_whole(paths: list[str]) -> list[tuple[int, int, bytes | None]]:
    out = []
    for index, path in enumerate(paths):
        data = Path(path).read_bytes()
        for number, raw, _ in read_lines(io.BytesIO(data), LIMIT, 1 << 30):
            out.append((index, number, raw))
    return out


@settings(max_examples=150, deadline=None)
@given(files=st.lists(contents, min_size=1, max_size=3), blocksize=st.integers(1, 70))
def test_blocks_read_every_line_once_with_its_number(
    tmp_path_factory: pytest.TempPathFactory, files: list[bytes], blocksize: int
) -> None:
    folder = tmp_path_factory.mktemp("blocks")
    paths = []
    for index, data in enumerate(files):
        path = folder / f"m{index}.jsonl"
        path.write_bytes(data)
        paths.append(str(path))
    assert numbered_by_blocks(paths, blocksize) == numbered_whole(paths)


def test_a_line_over_the_limit_is_skipped_to_its_end_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"a\n" + b"y" * 500 + b"\nb\nc")
    for blocksize in (1, 3, 50, 499, 505, 1000):
        assert numbered_by_blocks([str(path)], blocksize) == [
            (0, 1, b"a\n"), (0, 2, None), (0, 3, b"b\n"), (0, 4, b"c"),
        ], blocksize  # fmt: skip


def test_files_that_cannot_be_split_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        split_files([str(tmp_path / "missing.jsonl")], 100)
    with pytest.raises(InputError, match="not a regular file"):
        split_files([str(tmp_path)], 100)
    big = tmp_path / "big.jsonl"
    with big.open("wb") as out:
        out.truncate(200_001)
    with pytest.raises(InputError, match="more than 100,000"):
        split_files([str(big)], 2)
    assert [block.end for block in split_files([str(big)], 100_000)] == [100_000, 200_000, 200_001]


def test_the_block_size_gives_each_thread_a_few_blocks() -> None:
    assert choose_blocksize(0, 2) == 256 << 10
    assert choose_blocksize(800 << 20, 2) == 64 << 20
    assert choose_blocksize(80 << 20, 2) == 10 << 20


@settings(max_examples=100, deadline=None)
@given(
    topics=st.lists(st.sampled_from("abcdef"), max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=5),
)
def test_merged_totals_show_the_first_unmatched_topics_of_the_input(
    topics: list[str], cuts: list[int]
) -> None:
    whole = Totals()
    for number, topic in enumerate(topics):
        whole.add_unmatched(topic, (0, number))
    merged = Totals()
    bounds = [0, *sorted(cuts), len(topics)]
    parts = []
    for start, end in itertools.pairwise(bounds):
        part = Totals()
        for number in range(start, min(end, len(topics))):
            part.add_unmatched(topics[number], (0, number))
        parts.append(part)
    for part in reversed(parts):  # partitions finish in any order
        merged.merge(part)
    assert merged.unmatched == whole.unmatched
    assert merged.unmatched_topics == whole.unmatched_topics
    assert merged.lines() == whole.lines()
