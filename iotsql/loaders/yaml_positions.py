"""Positions in a YAML file: PyYAML's composed nodes (marks give where each key and value is),
and the origin of each character of a scalar in every style YAML has, decoded as PyYAML decodes
them: plain and quoted scalars folded across lines, the escapes of double-quoted ones, literal
(`|`) and folded (`>`) block scalars with their indentation and chomping indicators. A decoding
that does not give PyYAML's value (a case not modelled here) falls back to aligning the value
with the raw text, so a position is always found, exactly where the text is literal."""

from __future__ import annotations

from typing import Literal

import yaml

from iotsql.loaders.positions import Node, SourceFile, TextOrigin

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ESCAPES = {"0": "\0", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b",
            "f": "\x0c", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
            "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_BREAKS = "\r\n\x85\u2028\u2029"


def yaml_tree(source: SourceFile) -> Node | None:
    """The tree of the file's (first) document, None when it does not parse."""
    try:
        node = yaml.compose(source.text, Loader=_Loader)  # a SafeLoader: no code runs
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    return None if node is None else YamlNode(source, node, None, -1)


class YamlNode:
    __slots__ = ("_children", "_node", "_parent_indent", "end", "key_end", "key_start", "source")

    def __init__(
        self,
        source: SourceFile,
        node: yaml.Node,
        key: yaml.Node | None,
        parent_indent: int,
    ) -> None:
        self.source = source
        self._node = node
        self._parent_indent = parent_indent
        self.key_start = key.start_mark.index if key is not None else None
        self.key_end = key.end_mark.index if key is not None else None
        self.end = node.end_mark.index
        self._children: dict[str, YamlNode] | list[YamlNode] | None = None

    @property
    def start(self) -> int:
        return int(self._node.start_mark.index)

    @property
    def kind(self) -> Literal["map", "list", "scalar"]:
        if isinstance(self._node, yaml.MappingNode):
            return "map"
        if isinstance(self._node, yaml.SequenceNode):
            return "list"
        return "scalar"

    @property
    def tag(self) -> str | None:
        tag = self._node.tag
        return tag if isinstance(tag, str) and tag.startswith("!") else None

    def _entries(self) -> dict[str, YamlNode]:
        if self._children is None:
            entries: dict[str, YamlNode] = {}
            for key, value in self._node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    entries[str(key.value)] = YamlNode(self.source, value, key,
                                                       key.start_mark.column)  # fmt: skip
            self._children = entries
        assert isinstance(self._children, dict)
        return self._children

    def keys(self) -> list[str]:
        return list(self._entries()) if self.kind == "map" else []

    def child(self, key: str) -> YamlNode | None:
        return self._entries().get(key) if self.kind == "map" else None

    def items(self) -> list[YamlNode]:
        if self.kind != "list":
            return []
        if self._children is None:
            self._children = [YamlNode(self.source, item, None, -1) for item in self._node.value]
        assert isinstance(self._children, list)
        return self._children

    def text(self) -> TextOrigin | None:
        node = self._node
        if not isinstance(node, yaml.ScalarNode):
            return None
        value = str(node.value)
        text = self.source.text
        start, end = _content_start(text, node.start_mark.index), node.end_mark.index
        style = node.style
        decoded: tuple[list[str], list[int], list[int]] | None
        try:
            if style in ("|", ">"):
                decoded = _block(text, start, self._parent_indent)
            elif style in ("'", '"'):
                decoded = _flow(text, start + 1, max(start + 1, end - 1), style)
            else:
                decoded = _flow(text, start, end, None)
        except IndexError:
            decoded = None
        if decoded is not None and "".join(decoded[0]) == value:
            return TextOrigin(self.source, value, decoded[1], decoded[2])
        return TextOrigin.verbatim(self.source, start, end).aligned(value)


def _content_start(text: str, start: int) -> int:
    """Where a scalar's text starts: after its tag (`!Sub`) and anchor (`&name`), if any."""
    while start < len(text) and text[start] in "!&":
        while start < len(text) and text[start] not in " \t\r\n":
            start += 1
        while start < len(text) and text[start] in " \t\r\n":
            start += 1
    return start


def _break_length(text: str, i: int) -> int:
    if text.startswith("\r\n", i):
        return 2
    return 1 if i < len(text) and text[i] in _BREAKS else 0


def _flow(
    text: str, start: int, end: int, quote: str | None
) -> tuple[list[str], list[int], list[int]]:
    """A plain (`quote` None) or quoted scalar's characters between `start` and `end`."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    spaces: list[int] = []  # offsets of blanks not yet known to be inside the line

    def flush() -> None:
        for blank in spaces:
            chars.append(text[blank])
            starts.append(blank)
            ends.append(blank + 1)
        spaces.clear()

    def emit(char: str, at: int, to: int) -> None:
        flush()
        chars.append(char)
        starts.append(at)
        ends.append(to)

    def blank_lines(i: int) -> tuple[int, list[int]]:
        """Skips the next lines' leading blanks and the empty lines; returns the new offset and
        the offsets of the line breaks of the empty lines."""
        empty: list[int] = []
        while True:
            while i < end and text[i] in " \t":
                i += 1
            width = _break_length(text, i)
            if not width or i >= end:
                return i, empty
            empty.append(i)
            i += width

    i = start
    while i < end:
        char = text[i]
        if char in " \t":
            spaces.append(i)
            i += 1
            continue
        width = _break_length(text, i)
        if width:
            spaces.clear()  # blanks at the end of a line are not content
            at = i
            i, empty = blank_lines(i + width)
            if empty:
                for offset in empty:
                    emit("\n", offset, offset + _break_length(text, offset))
            else:
                emit(" ", at, at + width)
            continue
        if quote == "'" and char == "'" and text.startswith("''", i):
            emit("'", i, i + 2)
            i += 2
            continue
        if quote == '"' and char == "\\":
            following = text[i + 1]
            width = _break_length(text, i + 1)
            if width:  # an escaped line break: joins the lines, keeps the blanks before it
                flush()
                i, empty = blank_lines(i + 1 + width)
                for offset in empty:
                    emit("\n", offset, offset + _break_length(text, offset))
                continue
            if following in _HEX_ESCAPES:
                digits = _HEX_ESCAPES[following]
                emit(chr(int(text[i + 2 : i + 2 + digits], 16)), i, i + 2 + digits)
                i += 2 + digits
                continue
            emit(_ESCAPES[following], i, i + 2)
            i += 2
            continue
        emit(char, i, i + 1)
        i += 1
    flush()  # blanks before the closing quote are content
    return chars, starts, ends


def _block(text: str, start: int, parent_indent: int) -> tuple[list[str], list[int], list[int]]:
    """A literal (`|`) or folded (`>`) block scalar whose indicator is at `start`, decoded as
    PyYAML's scanner does (scan_block_scalar)."""
    folded = text[start] == ">"
    i = start + 1
    chomping: bool | None = None
    increment: int | None = None
    for _ in range(2):
        if i < len(text) and text[i] in "+-":
            chomping = text[i] == "+"
            i += 1
        elif i < len(text) and text[i] in "123456789":
            increment = int(text[i])
            i += 1
    while i < len(text) and not _break_length(text, i):
        i += 1  # blanks and a comment
    line_start = i + _break_length(text, i)
    i = line_start
    min_indent = max(parent_indent + 1, 1)

    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def column(at: int) -> int:
        return at - line_start

    def breaks_until(indent: int | None) -> tuple[int, list[int], int]:
        """Consumes indentation and empty lines; returns the offset, the empty lines' break
        offsets and the largest indentation seen (for auto-detection)."""
        nonlocal line_start
        found: list[int] = []
        at = i
        widest = 0
        while True:
            while at < len(text) and text[at] == " " and (indent is None or column(at) < indent):
                at += 1
            widest = max(widest, column(at))
            width = _break_length(text, at)
            if not width:
                return at, found, widest
            found.append(at)
            at += width
            line_start = at

    if increment is None:
        i, breaks, widest = breaks_until(None)
        indent = max(min_indent, widest)
    else:
        indent = min_indent + increment - 1
        i, breaks, _ = breaks_until(indent)

    line_break: int | None = None
    while column(i) == indent and i < len(text):
        for offset in breaks:
            chars.append(_line_break(text, offset))
            starts.append(offset)
            ends.append(offset + _break_length(text, offset))
        leading_non_space = text[i] not in " \t"
        while i < len(text) and not _break_length(text, i):
            chars.append(text[i])
            starts.append(i)
            ends.append(i + 1)
            i += 1
        line_break = i if i < len(text) else None
        if line_break is None:
            breaks = []
            break
        i += _break_length(text, i)
        line_start = i
        i, breaks, _ = breaks_until(indent)
        if column(i) == indent and i < len(text):
            if folded and text[line_break] == "\n" and leading_non_space and text[i] not in " \t":
                if not breaks:
                    chars.append(" ")
                    starts.append(line_break)
                    ends.append(line_break + 1)
            else:
                chars.append(_line_break(text, line_break))
                starts.append(line_break)
                ends.append(line_break + _break_length(text, line_break))
        else:
            break
    if chomping is not False and line_break is not None:
        chars.append(_line_break(text, line_break))
        starts.append(line_break)
        ends.append(line_break + _break_length(text, line_break))
    if chomping is True:
        for offset in breaks:
            chars.append(_line_break(text, offset))
            starts.append(offset)
            ends.append(offset + _break_length(text, offset))
    return chars, starts, ends


def _line_break(text: str, at: int) -> str:
    """The character PyYAML makes of a line break (`\\r\\n`, `\\r` and `\\x85` are `\\n`)."""
    char = text[at]
    return "\n" if char in "\r\n\x85" else char
