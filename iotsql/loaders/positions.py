"""Where a value read from infrastructure code is in its file: the line and column of a field,
and of every character of a string, so that a problem in a rule's SQL is reported at the spot in
`template.yaml` or `main.tf` where it was written, not at a position inside the statement.

- `SourceFile`: a file's text and its line starts (offset -> line, column; 1-based, columns in
  characters).
- `TextOrigin`: a string value and, for each of its characters, the span of the file it was
  decoded from (a YAML `\\n` escape is one character from two; a folded line break is a space
  from a newline). `aligned(actual)` carries the mapping over to the string a loader made of it
  (`!Sub` variables substituted, Terraform interpolations evaluated, serverless newlines removed):
  the characters still written literally in the file keep their exact place, the others point at
  the text they replaced.
- `SourceDocument`: one file of a known syntax (YAML, JSON, HCL, SQL) whose syntax tree with
  positions is built on first use (`locate(path)`), so that loading a clean file costs nothing
  more. Paths are the loaders' dotted paths (`Resources.R.Properties.TopicRulePayload.Sql`,
  `functions.f.events[0].iot.sql`, `aws_iot_topic_rule.r.sql`).

The syntaxes are in yaml_positions.py, json_positions.py and hcl_positions.py.
"""

from __future__ import annotations

import bisect
import difflib
import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

Syntax = Literal["yaml", "json", "hcl", "sql"]


@dataclass(frozen=True)
class FilePosition:
    """A place in a file: 1-based line and column (in characters), the end exclusive when known.
    `exact` is False when only the enclosing field or resource could be found."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None
    exact: bool = True

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


#: The characters of a line an excerpt shows: a minified JSON template is one line of megabytes.
MAX_EXCERPT_WIDTH: Final = 200


class SourceFile:
    """The text of one file, for turning offsets into lines and columns."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self._starts: list[int] | None = None

    @property
    def line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", self.text)]
        return self._starts

    def line_column(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self.line_starts, offset) - 1
        return index + 1, offset - self.line_starts[index] + 1

    def offset(self, line: int, column: int) -> int:
        starts = self.line_starts
        line = max(1, min(line, len(starts)))
        return min(starts[line - 1] + max(column, 1) - 1, len(self.text))

    def line_text(self, line: int) -> str:
        starts = self.line_starts
        if not 0 < line <= len(starts):
            return ""
        end = starts[line] if line < len(starts) else len(self.text)
        return self.text[starts[line - 1] : end].rstrip("\r\n")

    def excerpt(self, line: int, column: int, end_line: int | None = None,
                end_column: int | None = None) -> str:  # fmt: skip
        """Line `line` of the file behind its number (` 15 | ...`) and, under it, a caret (a run
        of carets up to `end_column` on the same line) at `column`; "" for a blank line."""
        text = self.line_text(line)
        if not text.strip():
            return ""
        width = 1
        if end_line in (None, line) and end_column:
            width = max(1, end_column - column)
        width = max(1, min(width, len(text) - column + 1))
        if len(text) > MAX_EXCERPT_WIDTH:  # a minified template: the part around the column
            start = max(0, min(column - 1 - MAX_EXCERPT_WIDTH // 4, len(text) - MAX_EXCERPT_WIDTH))
            end = start + MAX_EXCERPT_WIDTH
            width = max(1, min(width, end - column + 1))
            column -= start - (3 if start else 0)
            text = ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")
        # the line's own tabs keep the caret aligned
        lead = "".join("\t" if ch == "\t" else " " for ch in text[: column - 1])
        number = str(line)
        return f" {number} | {text}\n {' ' * len(number)} | {lead}{'^' * width}"

    def span(self, start: int, end: int, exact: bool = True) -> FilePosition:
        line, column = self.line_column(start)
        end_line, end_column = self.line_column(max(end, start))
        return FilePosition(self.file, line, column, end_line, end_column, exact)


class TextOrigin:
    """A string value and the file span of each of its characters (`starts[i]`..`ends[i]`)."""

    __slots__ = ("ends", "source", "starts", "value")

    def __init__(
        self, source: SourceFile, value: str, starts: Sequence[int], ends: Sequence[int]
    ) -> None:
        assert len(starts) == len(ends) == len(value)
        self.source = source
        self.value = value
        # Arrays of machine integers: 16 bytes a character, where lists of ints took about 70
        # (a string of a 16 MB file is 16 million characters).
        self.starts = array("q", starts)
        self.ends = array("q", ends)

    @classmethod
    def verbatim(cls, source: SourceFile, start: int, end: int) -> TextOrigin:
        """The file's text from `start` to `end`, character for character."""
        return cls(source, source.text[start:end], range(start, end), range(start + 1, end + 1))

    def __repr__(self) -> str:
        return f"TextOrigin({self.value!r} at {self.source.file}:{self.start_offset})"

    @property
    def start_offset(self) -> int:
        return self.starts[0] if self.starts else 0

    def span(self, start: int, end: int | None = None) -> FilePosition:
        """The file span of the value's characters `start` to `end` (exclusive; one character
        when None)."""
        if not self.value:
            return self.source.span(0, 0, exact=False)
        start = max(0, min(start, len(self.value) - 1))
        stop = start + 1 if end is None else max(start + 1, min(end, len(self.value)))
        return self.source.span(self.starts[start], self.ends[stop - 1])

    def index(self, line: int, column: int) -> int:
        """The index in the value of a 1-based line and column counted in the value itself (as
        SqlParseError counts them)."""
        starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", self.value)]
        line = max(1, min(line, len(starts)))
        return min(starts[line - 1] + max(column, 1) - 1, len(self.value))

    def locate(
        self, line: int, column: int, end_line: int | None = None, end_column: int | None = None
    ) -> FilePosition:
        """The file span of a position in the value (line and column within the value; the end
        exclusive, on `end_line` or the same line)."""
        start = self.index(line, column)
        if start >= len(self.value):  # the end of the statement: just after its last character
            if not self.value:
                return self.source.span(0, 0, exact=False)
            at = self.ends[-1]
            return self.source.span(at, at)
        if end_column is None:
            return self.span(start)
        return self.span(start, self.index(end_line or line, end_column))

    def aligned(self, actual: str) -> TextOrigin:
        """The origin of `actual`, a string derived from this value: characters common to both
        (in order) keep their spans; characters that replaced others take the span of what they
        replaced, inserted ones the span of the next original character."""
        if actual == self.value:
            return self
        if not self.value:
            return TextOrigin(self.source, actual, [0] * len(actual), [0] * len(actual))
        starts: list[int] = []
        ends: list[int] = []
        matcher = difflib.SequenceMatcher(None, self.value, actual, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                starts.extend(self.starts[i1:i2])
                ends.extend(self.ends[i1:i2])
            elif tag in ("replace", "insert"):
                anchor = min(i1, len(self.value) - 1)
                start = self.starts[anchor]
                end = self.ends[i2 - 1] if i2 > i1 else self.ends[anchor]
                starts.extend([start] * (j2 - j1))
                ends.extend([end] * (j2 - j1))
        return TextOrigin(self.source, actual, starts, ends)

    @classmethod
    def join(cls, source: SourceFile, parts: Sequence[TextOrigin | str]) -> TextOrigin:
        """Pieces concatenated (`Fn::Join`): plain strings (a delimiter, a value evaluated from
        elsewhere) take the span of the piece before them."""
        value: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        last = (0, 0)
        for part in parts:
            if isinstance(part, TextOrigin):
                value.append(part.value)
                starts.extend(part.starts)
                ends.extend(part.ends)
                if part.value:
                    last = (part.starts[-1], part.ends[-1])
            else:
                value.append(part)
                starts.extend([last[0]] * len(part))
                ends.extend([last[1]] * len(part))
        return cls(source, "".join(value), starts, ends)


# ---- syntax trees with positions -----------------------------------------------------------------


class Node(Protocol):
    """A node of a document's syntax tree: where its value is, where its key is (an entry of a
    mapping), its children, and for a string its characters' origin."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def key_start(self) -> int | None: ...

    @property
    def key_end(self) -> int | None: ...

    @property
    def kind(self) -> Literal["map", "list", "scalar"]: ...

    def keys(self) -> list[str]: ...

    def child(self, key: str) -> Node | None: ...

    def items(self) -> Sequence[Node]: ...

    @property
    def tag(self) -> str | None: ...

    def text(self) -> TextOrigin | None: ...


class ScannedNode:
    """A Node as the structural scanners build it (json_positions, hcl_positions): a mapping's
    entries by key or a list's items, where its value and its key are. A subclass says what a
    string's characters are (`text`)."""

    __slots__ = ("_entries", "_items", "end", "key_end", "key_start", "kind_", "source", "start")

    def __init__(self, source: SourceFile, kind: Literal["map", "list", "scalar"], start: int):
        self.source = source
        self.kind_ = kind
        self.start = start
        self.end = start
        self.key_start: int | None = None
        self.key_end: int | None = None
        self._entries: dict[str, Any] = {}  # (of the subclass's nodes)
        self._items: list[Any] = []

    @property
    def kind(self) -> Literal["map", "list", "scalar"]:
        return self.kind_

    @property
    def tag(self) -> str | None:
        return None

    def keys(self) -> list[str]:
        return list(self._entries)

    def child(self, key: str) -> Node | None:
        return self._entries.get(key)  # type: ignore[no-any-return]

    def items(self) -> Sequence[Node]:
        return self._items

    def text(self) -> TextOrigin | None:
        return None


_SEGMENT = re.compile(r'\[(?:"((?:[^"\\]|\\.)*)"|(\d+)|\'([^\']*)\')\]|\.?([^.\[]+)')


def split_path(path: str) -> list[str | int]:
    """`a.b[0]["k.x"].c` -> ['a', 'b', 0, 'k.x', 'c']."""
    segments: list[str | int] = []
    for match in _SEGMENT.finditer(path):
        quoted, index, single, name = match.groups()
        if index is not None:
            segments.append(int(index))
        elif quoted is not None:
            segments.append(quoted.replace('\\"', '"'))
        elif single is not None:
            segments.append(single)
        elif name:
            segments.append(name)
    return segments


def walk(root: Node, segments: Sequence[str | int]) -> tuple[Node, int]:
    """The deepest node along `segments` and how many segments it consumed. A key with dots
    (`bootstrap.servers`) is tried when its first part is not found; a list where a key is
    expected (Terraform JSON's lists of blocks) is searched for the key; `[0]` of an object is
    the object itself (a single Terraform block)."""
    node, used = root, 0
    while used < len(segments):
        segment = segments[used]
        if isinstance(segment, int):
            if node.kind == "list":
                items = node.items()
                if segment >= len(items):
                    break
                node, used = items[segment], used + 1
            elif node.kind == "map" and segment == 0:
                used += 1
            else:
                break
            continue
        found = _child(node, segment)
        consumed = 1
        if found is None:  # a key that itself holds dots, split by the path
            joined = segment
            for extra in range(used + 1, len(segments)):
                part = segments[extra]
                if not isinstance(part, str):
                    break
                joined = f"{joined}.{part}"
                found = _child(node, joined)
                if found is not None:
                    consumed = extra - used + 1
                    break
        if found is None:
            break
        node, used = found, used + consumed
    return node, used


def _child(node: Node, key: str) -> Node | None:
    if node.kind == "map":
        return node.child(key)
    if node.kind == "list":
        for item in node.items():
            if item.kind == "map":
                found = item.child(key)
                if found is not None:
                    return found
    return None


def iter_nodes(root: Node) -> Iterator[tuple[str | None, Node]]:
    """Every node under `root` with the key it is stored under (None for list items)."""
    stack: list[tuple[str | None, Node]] = [(None, root)]
    while stack:
        key, node = stack.pop()
        yield key, node
        if node.kind == "map":
            stack.extend((k, child) for k in reversed(node.keys())
                         if (child := node.child(k)) is not None)  # fmt: skip
        elif node.kind == "list":
            stack.extend((None, item) for item in reversed(node.items()))


_JOIN = ("Fn::Join", "!Join")
_SUB = ("Fn::Sub", "!Sub")


def string_origin(node: Node) -> TextOrigin | None:
    """The origin of the string a field holds: a literal string, the text of `Fn::Sub` / `!Sub`
    (its variables are aligned later), or the pieces of `Fn::Join` / `!Join` that are literal."""
    if node.kind == "scalar":
        return node.text()
    if node.kind == "list" and node.tag in _SUB:
        items = node.items()
        return string_origin(items[0]) if items else None
    if node.kind == "list" and node.tag in _JOIN:
        return _join_origin(node.items())
    if node.kind == "map" and len(node.keys()) == 1:
        (key,) = node.keys()
        argument = node.child(key)
        if argument is None:
            return None
        if key == "Fn::Sub" and argument.kind == "list":  # [text, {variables}]
            items = argument.items()
            return string_origin(items[0]) if items else None
        if key == "Fn::Sub":
            return string_origin(argument)
        if key == "Fn::Join" and argument.kind == "list":
            return _join_origin(argument.items())
    return None


def _join_origin(arguments: Sequence[Node]) -> TextOrigin | None:
    if len(arguments) != 2 or arguments[1].kind != "list":
        return None
    delimiter = arguments[0].text() if arguments[0].kind == "scalar" else None
    pieces: list[TextOrigin | str] = []
    source: SourceFile | None = None
    for index, item in enumerate(arguments[1].items()):
        if index and delimiter is not None:
            pieces.append(delimiter)
        origin = string_origin(item)
        if origin is not None:
            pieces.append(origin)
            source = origin.source
    return TextOrigin.join(source, pieces) if source is not None else None


# ---- documents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """What `SourceDocument.locate` found: the node at the deepest part of the path that
    exists (`exact` when it is the whole path), the key's span and the value's span."""

    node: Node
    exact: bool
    key: FilePosition | None
    value: FilePosition

    @property
    def position(self) -> FilePosition:
        """Where to point at the field: its key when it has one, else its value."""
        return self.key or self.value


class SourceDocument:
    """One file of infrastructure code: its text, its syntax and, built on first use, its syntax
    tree with positions."""

    def __init__(self, file: str, text: str, syntax: Syntax) -> None:
        self.source = SourceFile(file, text)
        self.syntax = syntax
        self._root: Node | None = None
        self._built = False
        self._origins: dict[tuple[Any, str], TextOrigin | None] = {}

    @property
    def file(self) -> str:
        return self.source.file

    @property
    def text(self) -> str:
        return self.source.text

    @property
    def root(self) -> Node | None:
        """The syntax tree, None when the text does not parse (the loader said why)."""
        if not self._built:
            self._built = True
            self._root = self._build()
        return self._root

    def _build(self) -> Node | None:
        if self.syntax == "yaml":
            from iotsql.loaders.yaml_positions import yaml_tree

            return yaml_tree(self.source)
        if self.syntax == "json":
            from iotsql.loaders.json_positions import json_tree

            return json_tree(self.source)
        if self.syntax == "hcl":
            from iotsql.loaders.hcl_positions import hcl_tree

            return hcl_tree(self.source)
        return None

    def node(self, path: str | Sequence[str | int]) -> tuple[Node, bool] | None:
        root = self.root
        if root is None:
            return None
        segments = split_path(path) if isinstance(path, str) else list(path)
        node, used = walk(root, segments)
        return node, used == len(segments)

    def locate(self, path: str | Sequence[str | int]) -> Located | None:
        """The field at `path`, or the deepest of its parents that exists."""
        found = self.node(path)
        if found is None:
            return None
        node, exact = found
        key = None
        if node.key_start is not None and node.key_end is not None:
            key = self.source.span(node.key_start, node.key_end, exact)
        return Located(node, exact, key, self.source.span(node.start, node.end, exact))

    def string(
        self, path: str | Sequence[str | int], actual: str | None = None
    ) -> TextOrigin | None:
        """The origin of the string at `path`, aligned to `actual` (the string the loader made of
        it) when given; None when the path does not lead to a string written in the file."""
        cache_key = (path if isinstance(path, str) else tuple(path), actual or "\x00")
        if cache_key in self._origins:
            return self._origins[cache_key]
        found = self.node(path)
        origin = None
        if found is not None and found[1]:
            origin = string_origin(found[0])
        if origin is not None and actual is not None:
            origin = origin.aligned(actual)
        self._origins[cache_key] = origin
        return origin

    def find_strings(self, key: str, value: str) -> list[TextOrigin]:
        """The origins of every string `value` stored under `key` anywhere in the file (for shapes
        whose paths the loader does not record, like the AWS CLI's)."""
        root = self.root
        found = []
        if root is None:
            if self.syntax == "sql" and self.text.strip() == value.strip():
                start = self.text.index(value.strip()) if value.strip() else 0
                found.append(TextOrigin.verbatim(self.source, start, start + len(value.strip())))
            return found
        for name, node in iter_nodes(root):
            if name == key and node.kind == "scalar":
                origin = node.text()
                if origin is not None and origin.value == value:
                    found.append(origin)
        return found
