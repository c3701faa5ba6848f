"""Positions in a JSON file: a scanner that records where each key and value is, and the origin
of each character of a string through its escapes (`\\"`, `\\n`, `\\u00e9`, surrogate pairs). It
runs only on text `json.loads` accepted (the loader reads the values), without recursion, so
nesting depth costs no stack."""

from __future__ import annotations

import re
from array import array

from iotsql.loaders.positions import Node, ScannedNode, SourceFile, TextOrigin

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_STRING_BODY = re.compile(r'(?:[^"\\]|\\.)*', re.DOTALL)
#: A run of characters that stand for themselves in a string, decoded in one step.
_PLAIN = re.compile(r'[^"\\]+')
_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")


class JsonNode(ScannedNode):
    __slots__ = ()

    def text(self) -> TextOrigin | None:
        if self.kind_ != "scalar" or self.source.text[self.start : self.start + 1] != '"':
            return None
        return decode_string(self.source, self.start)


def decode_string(source: SourceFile, quote: int) -> TextOrigin:
    """The JSON string whose opening quote is at `quote`."""
    text = source.text
    chars: list[str] = []
    starts: array[int] = array("q")
    ends: array[int] = array("q")
    i = quote + 1
    while i < len(text) and text[i] != '"':
        if text[i] != "\\":
            run = _PLAIN.match(text, i)  # (one character at least: not a quote or backslash)
            assert run is not None
            chars.append(run.group())
            starts.extend(range(i, run.end()))
            ends.extend(range(i + 1, run.end() + 1))
            i = run.end()
            continue
        escape = text[i + 1]
        if escape != "u":
            chars.append(_ESCAPES.get(escape, escape))
            starts.append(i)
            ends.append(i + 2)
            i += 2
            continue
        code = int(text[i + 2 : i + 6], 16)
        width = 6
        if 0xD800 <= code < 0xDC00 and text.startswith("\\u", i + 6):
            low = int(text[i + 8 : i + 12], 16)
            if 0xDC00 <= low < 0xE000:
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                width = 12
        chars.append(chr(code))
        starts.append(i)
        ends.append(i + width)
        i += width
    return TextOrigin(source, "".join(chars), starts, ends)


def _skip(text: str, i: int) -> int:
    match = _WHITESPACE.match(text, i)
    return match.end() if match else i


def _string_end(text: str, quote: int) -> int:
    match = _STRING_BODY.match(text, quote + 1)
    assert match is not None
    return match.end() + 1


def json_tree(source: SourceFile) -> Node | None:
    """The tree of a JSON document, None when it is not JSON."""
    try:
        return _parse(source)
    except (IndexError, AssertionError, ValueError):
        return None


def _parse(source: SourceFile) -> JsonNode:
    text = source.text
    i = _skip(text, 0)
    root: JsonNode | None = None
    stack: list[JsonNode] = []
    pending_key: tuple[str, int, int] | None = None

    def attach(node: JsonNode) -> None:
        nonlocal root, pending_key
        if not stack:
            root = node
            return
        parent = stack[-1]
        if parent.kind_ == "map":
            if pending_key is None:
                raise ValueError("a value without a key")
            key, node.key_start, node.key_end = pending_key
            parent._entries[key] = node
            pending_key = None
        else:
            parent._items.append(node)

    while i < len(text):
        char = text[i]
        if char in "{[":
            node = JsonNode(source, "map" if char == "{" else "list", i)
            attach(node)
            stack.append(node)
            i = _skip(text, i + 1)
            continue
        if char in "}]":
            node = stack.pop()
            node.end = i + 1
            i = _skip(text, i + 1)
            if not stack:
                break
            continue
        if char == ",":
            i = _skip(text, i + 1)
            continue
        if char == '"':
            end = _string_end(text, i)
            after = _skip(text, end)
            if stack and stack[-1].kind_ == "map" and pending_key is None and text[after] == ":":
                pending_key = (decode_string(source, i).value, i, end)
                i = _skip(text, after + 1)
                continue
            node = JsonNode(source, "scalar", i)
            node.end = end
            attach(node)
            i = after
            if not stack:
                break
            continue
        match = _SCALAR.match(text, i)
        if match is None:
            raise ValueError(f"unexpected {char!r}")
        node = JsonNode(source, "scalar", i)
        node.end = match.end()
        attach(node)
        i = _skip(text, match.end())
        if not stack:
            break
    if root is None or stack:
        raise ValueError("incomplete JSON")
    return root
