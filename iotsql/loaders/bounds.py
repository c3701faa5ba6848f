"""What one infrastructure file may cost to load: its size (`Limits.max_document_bytes`), its
nesting (`Limits.max_document_depth`) and the number of values it holds once its YAML aliases
are expanded (`Limits.max_document_nodes`), checked before anything recursive walks it, so that
a hostile file ends in a RuleValidationError naming the file and the place (a line and column,
or the path of the field), never in a RecursionError, a hang or exhausted memory.

- YAML is checked on its events (PyYAML's parser is iterative): the depth of each collection,
  and the size of every anchored value, so that an alias counts as the whole value it stands
  for (a "billion laughs" document is refused after a few kilobytes of events); an alias to a
  collection that is still open (`&a [*a]`) is a cycle.
- JSON text is checked with a scan of its brackets (strings skipped): the first one past the
  depth limit is reported with its line and column.
- Decoded data (a dict handed to `load_rules`, or what a parser built) is walked without
  recursion: depth, values counted each time they are reached, and cycles.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from iotsql.errors import RuleValidationError
from iotsql.limits import DEFAULT_LIMITS, Limits, current_limits
from iotsql.loaders.base import DocumentError

#: The fastest PyYAML parser installed: libyaml's when PyYAML was built with it (PyYAML keeps it
#: in `yaml.cyaml`; the `yaml` package itself exports only the C loaders).
CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)


def check_size(text: str | bytes, file: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a document larger than `Limits.max_document_bytes` before parsing it."""
    if len(text) * 4 <= limits.max_document_bytes:
        return  # within the limit whatever its characters: no need to encode it
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "replace"))
    check_file_size(size, file, limits)


def check_file_size(size: int, file: str, limits: Limits | None = None) -> None:
    """Refuse a file of `size` bytes larger than `Limits.max_document_bytes` (the limits in
    force when none are given) before reading it."""
    limits = limits or current_limits()
    if size > limits.max_document_bytes:
        raise RuleValidationError(
            f"the file is larger than Limits.max_document_bytes ({limits.max_document_bytes:,} "
            "bytes); raise it to load a file this large",
            file,
        )


#: What `read_at_most` reads at a time.
READ_CHUNK = 64 * 1024


def read_at_most(handle: BinaryIO, limit: int) -> bytes:
    """Up to `limit` bytes of `handle`. `handle.read(limit)` would allocate `limit` bytes up
    front (16 MiB for a file limit) whatever the file holds: a regular file is read in one call
    of its own size (and one byte more, should it have grown), anything else (a pipe, a device
    such as /dev/zero) a chunk at a time."""
    size = _remaining(handle)
    if size is not None:
        return handle.read(min(limit, size + 1))
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = handle.read(min(left, READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _remaining(handle: BinaryIO) -> int | None:
    """The bytes left in `handle` if it is a regular file, else None."""
    try:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return max(0, info.st_size - handle.tell())
    except (OSError, ValueError, io.UnsupportedOperation):  # no descriptor: a stream
        return None


def read_bounded(path: Path, file: str) -> str:
    """A file's UTF-8 text, refused before it is read when its size is over
    `Limits.max_document_bytes`, and read no further than that (+1 to know it is larger): a
    device or a pipe (`/dev/zero`) has no size to check beforehand."""
    limit = current_limits().max_document_bytes
    with path.open("rb") as handle:
        size = _remaining(handle)
        if size is not None:
            check_file_size(size, file)
        data = read_at_most(handle, limit + 1)
    check_file_size(len(data), file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:  # a binary file named .tf: what `iotsql check` says of it
        raise DocumentError(f"not UTF-8 text (byte {err.start})", file) from None


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"


def check_yaml(text: str, file: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check a YAML document's depth, expanded size and aliases from its events."""
    max_depth, max_nodes = limits.max_document_depth, limits.max_document_nodes
    # One frame per open collection: [anchor, nodes inside so far].
    stack: list[list[Any]] = []
    sizes: dict[str, int] = {}
    open_anchors: set[str] = set()
    total = 0

    def count(number: int, mark: Any) -> None:
        nonlocal total
        total += number
        if stack:
            stack[-1][1] += number
        if total > max_nodes:
            raise RuleValidationError(
                f"the document holds more than Limits.max_document_nodes ({max_nodes:,}) "
                f"values once its YAML aliases are expanded (at {_where(mark)})",
                file,
            )

    loader = CParser(text) if CParser is not None else yaml.SafeLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) >= max_depth:
                    raise RuleValidationError(
                        f"nested more than Limits.max_document_depth ({max_depth}) levels deep "
                        f"(at {_where(event.start_mark)})",
                        file,
                    )
                count(1, event.start_mark)
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
                stack.append([event.anchor, 1])
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                anchor, size = stack.pop()
                if stack:
                    stack[-1][1] += size - 1  # its own 1 was added when it started
                if anchor is not None:
                    open_anchors.discard(anchor)
                    sizes[anchor] = size
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor is not None:
                    sizes[event.anchor] = 1
                count(1, event.start_mark)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor in open_anchors:
                    raise RuleValidationError(
                        f"the YAML alias *{event.anchor} refers to a value that contains it "
                        f"(at {_where(event.start_mark)}): it would never end",
                        file,
                    )
                count(sizes.get(event.anchor or "", 1), event.start_mark)
    except yaml.YAMLError:
        return  # the loader itself reports syntax errors, with their position
    finally:
        loader.dispose()


def check_json_depth(
    text: str, file: str, limits: Limits = DEFAULT_LIMITS, brackets: str = "[{"
) -> None:
    """Refuse JSON text (or HCL, with `brackets="[{("`) nested deeper than
    `Limits.max_document_depth`, naming where."""
    max_depth = limits.max_document_depth
    if sum(text.count(b) for b in brackets) <= max_depth:
        return
    closing = "".join({"[": "]", "{": "}", "(": ")"}[b] for b in brackets)
    depth = 0
    in_string = escaped = False
    line, line_start = 1, 0
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in brackets:
            depth += 1
            if depth > max_depth:
                raise RuleValidationError(
                    f"nested more than Limits.max_document_depth ({max_depth}) levels deep "
                    f"(at line {line}, column {index - line_start + 1})",
                    file,
                )
        elif char in closing:
            depth -= 1
        elif char == "\n":
            line, line_start = line + 1, index + 1


def check_data(data: Any, file: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Walk decoded data without recursion: nesting, values (each shared one counted every time
    it is reached, as the loaders will reach it) and cycles, naming the path where it fails."""
    max_depth, max_nodes = limits.max_document_depth, limits.max_document_nodes
    nodes = 0
    # (value, path, depth, ids of the containers above it)
    stack: list[tuple[Any, str, int, frozenset[int]]] = [(data, "", 0, frozenset())]
    while stack:
        value, path, depth, above = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise RuleValidationError(
                f"the document holds more than Limits.max_document_nodes ({max_nodes:,}) "
                "values (shared ones counted each time they are used)",
                f"{file}: {path}" if path else file,
            )
        if isinstance(value, Mapping):
            items: Any = ((f"{path}.{key}" if path else str(key), item)
                          for key, item in value.items())  # fmt: skip
        elif isinstance(value, (list, tuple)):
            items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
        else:
            continue
        if id(value) in above:
            raise RuleValidationError("the value contains itself (a YAML alias to a value "
                                      "that contains it?): it would never end",
                                      f"{file}: {path}" if path else file)  # fmt: skip
        if depth >= max_depth:
            raise RuleValidationError(
                f"nested more than Limits.max_document_depth ({max_depth}) levels deep",
                f"{file}: {path}" if path else file,
            )
        inner = above | {id(value)}
        for child_path, child in items:
            stack.append((child, child_path, depth + 1, inner))
