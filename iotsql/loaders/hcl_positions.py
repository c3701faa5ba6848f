"""Positions in a Terraform `.tf` file: a structural scanner of HCL's native syntax (attributes,
blocks with their labels, object expressions, strings with `${...}` interpolations, heredocs,
comments) that records where each attribute and block is, and the origin of each character of a
quoted string (escapes, `$${` and `%%{`) or of a heredoc (`<<-` strips the common indentation).

python-hcl2 reads the values; it keeps no positions of attributes, hence this scanner, which
only has to find boundaries. Blocks nest as the loaders' paths do: `resource "t" "n" { sql }` is
`resource.t.n.sql`; blocks without labels are lists (`sqs[0].queue_url`)."""

from __future__ import annotations

import re
from array import array
from typing import Literal

from iotsql.loaders.positions import Node, ScannedNode, SourceFile, TextOrigin

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)[ \t]*\r?\n")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
#: Runs of characters the scanners pass over as a whole (one regular expression step, not a
#: Python step per character: a 16 MB string took a minute and gigabytes): inside a quoted
#: string, what is no escape, quote, line break or template opener; in an expression, what
#: is no bracket, separator, string, heredoc, comment or space.
_STRING_RUN = re.compile(r'[^\\"\r\n$%{}]+')
_LINE_REST = re.compile(r"[^\r\n]*")
_EXPRESSION_RUN = re.compile(r'[^"()\[\]{},\r\n<#/ \t]+')


class HclError(ValueError):
    """Text the scanner cannot follow (python-hcl2 says what is wrong with it)."""


class HclNode(ScannedNode):
    __slots__ = ("string",)

    def __init__(self, source: SourceFile, kind: Literal["map", "list", "scalar"], start: int):
        super().__init__(source, kind, start)
        #: The characters of a quoted string or heredoc value, with their origin.
        self.string: TextOrigin | None = None

    def text(self) -> TextOrigin | None:
        return self.string


def hcl_tree(source: SourceFile) -> Node | None:
    """The tree of a .tf file, None when the scanner cannot follow it."""
    try:
        root = HclNode(source, "map", 0)
        end = _Scanner(source).body(0, root, closing=None)
        root.end = end
        return root
    except (HclError, IndexError):
        return None


class _Scanner:
    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.text = source.text

    # ---- layout -------------------------------------------------------------------------------

    def blank(self, i: int, newlines: bool = True) -> int:
        """Skips blanks and comments (and line breaks when `newlines`)."""
        text = self.text
        while i < len(text):
            char = text[i]
            if char in " \t" or (newlines and char in "\r\n"):
                i += 1
            elif char == "#" or text.startswith("//", i):
                i = _LINE_REST.match(text, i).end()  # type: ignore[union-attr]
            elif text.startswith("/*", i):
                end = text.find("*/", i + 2)
                if end < 0:
                    raise HclError("unterminated comment")
                i = end + 2
            else:
                break
        return i

    # ---- bodies -------------------------------------------------------------------------------

    def body(self, i: int, node: HclNode, closing: str | None) -> int:
        """Attributes and blocks until `closing` (or the end of the text); returns the offset
        after `closing`."""
        text = self.text
        while True:
            i = self.blank(i)
            if i >= len(text):
                if closing is not None:
                    raise HclError("unterminated block")
                return i
            if closing is not None and text[i] == closing:
                return i + 1
            if text[i] == ",":
                i += 1
                continue
            key_start = i
            if text[i] == '"':
                key_end = self.string_end(i)
                key = _decode_quoted(self.source, i).value
            else:
                match = _NAME.match(text, i)
                if match is None:
                    raise HclError(f"unexpected {text[i]!r}")
                key_end = match.end()
                key = match.group(0)
            i = self.blank(key_end, newlines=False)
            if (text[i] == "=" and not text.startswith("==", i)) or text[i] == ":":
                value_start = self.blank(i + 1, newlines=False)
                value_end = self.expression(value_start)
                value = self.value(value_start, value_end)
                value.key_start, value.key_end = key_start, key_end
                node._entries[key] = value
                i = value_end
                continue
            i = self.block(i, node, key, key_start, key_end)

    def block(self, i: int, parent: HclNode, kind: str, key_start: int, key_end: int) -> int:
        text = self.text
        labels: list[tuple[str, int, int]] = []
        while text[i] != "{":
            if text[i] == '"':
                end = self.string_end(i)
                labels.append((_decode_quoted(self.source, i).value, i, end))
            else:
                match = _NAME.match(text, i)
                if match is None:
                    raise HclError(f"unexpected {text[i]!r} in a block header")
                end = match.end()
                labels.append((match.group(0), i, end))
            i = self.blank(end, newlines=False)
        body = HclNode(self.source, "map", i)
        end = self.body(i + 1, body, closing="}")
        body.end = end
        if not labels:
            group = parent._entries.get(kind)
            if group is None or group.kind_ != "list":
                group = HclNode(self.source, "list", key_start)
                group.key_start, group.key_end = key_start, key_end
                parent._entries[kind] = group
            body.key_start, body.key_end = key_start, key_end
            group._items.append(body)
            group.end = end
            return end
        holder = parent
        span = (key_start, key_end)
        for name, start, stop in [(kind, *span), *labels[:-1]]:
            child = holder._entries.get(name)
            if child is None or child.kind_ != "map":
                child = HclNode(self.source, "map", start)
                child.key_start, child.key_end = start, stop
                holder._entries[name] = child
            child.end = end
            holder = child
        name, start, stop = labels[-1]
        body.key_start, body.key_end = start, stop
        holder._entries[name] = body
        return end

    # ---- expressions -------------------------------------------------------------------------

    def expression(self, i: int) -> int:
        """The end of the expression starting at `i`: a line break, `,` or a closing bracket
        outside any bracket of its own."""
        text = self.text
        depth = 0
        end = i
        while i < len(text):
            run = _EXPRESSION_RUN.match(text, i)
            if run:
                i = end = run.end()
                continue
            char = text[i]
            if char in "\r\n" and depth == 0:
                break
            if char in "([{":
                depth += 1
            elif char in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                break
            elif char == '"':
                i = self.string_end(i)
                end = i
                continue
            elif char == "<" and _HEREDOC.match(text, i):
                i = self.heredoc_end(i)
                end = i
                continue
            elif char == "#" or text.startswith("//", i) or text.startswith("/*", i):
                i = self.blank(i, newlines=depth > 0)
                continue
            if char not in " \t\r\n":
                end = i + 1
            i += 1
        return end

    def value(self, start: int, end: int) -> HclNode:
        text = self.text
        if text[start] == "{" and self.expression_end_of_brackets(start) == end:
            node = HclNode(self.source, "map", start)
            try:
                self.body(start + 1, node, closing="}")
            except HclError:  # keys that are expressions: the object as one value
                node = HclNode(self.source, "scalar", start)
            node.end = end
            return node
        node = HclNode(self.source, "scalar", start)
        node.end = end
        if text[start] == '"' and self.string_end(start) == end:
            node.string = _decode_quoted(self.source, start)
        elif text[start] == "<" and _HEREDOC.match(text, start):
            node.string = _decode_heredoc(self.source, start)
        return node

    def expression_end_of_brackets(self, i: int) -> int:
        depth = 0
        text = self.text
        while i < len(text):
            char = text[i]
            if char == '"':
                i = self.string_end(i)
                continue
            if char == "<" and _HEREDOC.match(text, i):
                i = self.heredoc_end(i)
                continue
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise HclError("unbalanced brackets")

    def string_end(self, quote: int) -> int:
        """The offset after the closing quote of the string opening at `quote`, with its
        interpolations (which may hold strings of their own)."""
        text = self.text
        i = quote + 1
        while i < len(text):
            run = _STRING_RUN.match(text, i)
            if run:
                i = run.end()
                continue
            char = text[i]
            if char == "\\":
                i += 2
                continue
            if char == '"':
                return i + 1
            if char in "\r\n":
                raise HclError("unterminated string")
            if text.startswith(("$${", "%%{"), i):
                i += 3
                continue
            if text.startswith(("${", "%{"), i):
                i = self.template_end(i + 2)
                continue
            i += 1
        raise HclError("unterminated string")

    def template_end(self, i: int) -> int:
        """The offset after the `}` closing an interpolation whose content starts at `i`."""
        text = self.text
        depth = 0
        while i < len(text):
            char = text[i]
            if char == '"':
                i = self.string_end(i)
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if depth == 0:
                    return i + 1
                depth -= 1
            i += 1
        raise HclError("unterminated interpolation")

    def heredoc_end(self, i: int) -> int:
        match = _HEREDOC.match(self.text, i)
        assert match is not None
        marker = match.group(2)
        closing = re.compile(rf"^[ \t]*{re.escape(marker)}[ \t]*$", re.MULTILINE)
        found = closing.search(self.text, match.end())
        if found is None:
            raise HclError(f"unterminated heredoc {marker}")
        return found.end()


def _decode_quoted(source: SourceFile, quote: int) -> TextOrigin:
    """The characters of a quoted template, escapes decoded; interpolations stay as written."""
    text = source.text
    chars: list[str] = []
    starts: array[int] = array("q")
    ends: array[int] = array("q")

    def emit(char: str, start: int, end: int) -> None:
        chars.append(char)
        starts.append(start)
        ends.append(end)

    i = quote + 1
    depth = 0
    while i < len(text) and (text[i] != '"' or depth):
        run = _STRING_RUN.match(text, i)
        if run:  # characters that stand for themselves, at any depth
            chars.append(run.group())
            starts.extend(range(i, run.end()))
            ends.extend(range(i + 1, run.end() + 1))
            i = run.end()
            continue
        char = text[i]
        if depth == 0 and char == "\\":
            escape = text[i + 1]
            if escape in "uU":
                width = 4 if escape == "u" else 8
                emit(chr(int(text[i + 2 : i + 2 + width], 16)), i, i + 2 + width)
                i += 2 + width
            else:
                emit(_ESCAPES.get(escape, escape), i, i + 2)
                i += 2
            continue
        if depth == 0 and text.startswith(("$${", "%%{"), i):
            emit(char, i, i + 2)
            i += 2
            continue
        if text.startswith(("${", "%{"), i):
            depth += 1
            emit(char, i, i + 1)
            emit("{", i + 1, i + 2)
            i += 2
            continue
        if depth and char == "{":
            depth += 1
        elif depth and char == "}":
            depth -= 1
        emit(char, i, i + 1)
        i += 1
    return TextOrigin(source, "".join(chars), starts, ends)


def _decode_heredoc(source: SourceFile, start: int) -> TextOrigin:
    """A heredoc's lines (without the final line break); `<<-` removes the indentation common
    to its non-blank lines."""
    text = source.text
    match = _HEREDOC.match(text, start)
    assert match is not None
    marker = match.group(2)
    lines: list[tuple[int, str]] = []
    i = match.end()
    while i < len(text):
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        line = text[i:end].rstrip("\r")
        if line.strip() == marker:
            break
        lines.append((i, line))
        i = end + 1
    margin = 0
    if match.group(1):
        indents = [len(line) - len(line.lstrip(" \t")) for _, line in lines if line.strip()]
        margin = min(indents) if indents else 0
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for number, (offset, line) in enumerate(lines):
        if number:
            chars.append("\n")
            starts.append(offset - 1)
            ends.append(offset)
        skip = min(margin, len(line))
        for index in range(skip, len(line)):
            chars.append(line[index])
            starts.append(offset + index)
            ends.append(offset + index + 1)
    return TextOrigin(source, "".join(chars), starts, ends)
