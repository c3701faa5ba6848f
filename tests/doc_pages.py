"""Reading the examples of a documentation page, for the tests that run them as printed
(tests/cli/test_docs.py for docs/cli.md, tests/testing/test_walkthrough.py for
docs/testing.md).

- `fences(text)`: each fenced block as (info string, lines, line number of the fence);
- `title_of(info)`: the file a block is, from ```` ```yaml title="path" ````, or None;
- `lines_match(expected, actual)`: printed output against real output, where `<...>` inside a
  line matches any text and a line that is only `<...>` matches any number of lines.
"""

from __future__ import annotations

import re

PLACEHOLDER = "<...>"


def fences(text: str) -> list[tuple[str, list[str], int]]:
    """(info string, lines, line number) of each fenced block that has an info string."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = re.match(r"^```(\S*.*)$", lines[index])
        if match and match.group(1):
            start = index
            body = []
            index += 1
            while index < len(lines) and lines[index] != "```":
                body.append(lines[index])
                index += 1
            blocks.append((match.group(1), body, start + 1))
        index += 1
    return blocks


def title_of(info: str) -> str | None:
    found = re.search(r'title="([^"]+)"', info)
    return found.group(1) if found else None


def line_matches(expected: str, actual: str) -> bool:
    if PLACEHOLDER not in expected:
        return expected == actual
    pattern = ".*".join(re.escape(part) for part in expected.split(PLACEHOLDER))
    return re.fullmatch(pattern, actual) is not None


def normalise(lines: list[str]) -> list[str]:
    """Without trailing spaces and trailing empty lines."""
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def lines_match(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` is `expected`, line by line, with the placeholders."""
    expected, actual = normalise(expected), normalise(actual)

    def match(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        if expected[i] == PLACEHOLDER:
            return any(match(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and line_matches(expected[i], actual[j]) and match(i + 1, j + 1)

    return match(0, 0)
