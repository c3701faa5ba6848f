"""What "did you mean ...?" proposes: the names closest to a misspelled one, and how to write a
payload path in SQL when a key is not an identifier (`get(*, 'battery-level')`).

Used wherever iotsql names something the user got wrong: a payload key in `iotsql eval` and the
REPL, a function or a keyword in a statement. It sits at the bottom of the layers (no imports
from iotsql) so that the parser, the loaders and the CLI all suggest the same way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

#: An identifier of AWS IoT SQL (the grammar's NAME): anything else needs `get(obj, 'key')`.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_SEPARATORS = re.compile(r"[-_\s.]+")


def _folded(name: str) -> str:
    """A name without case and separators: `Battery_Level`, `battery-level` and `batterylevel`
    are the same word to someone typing from memory."""
    return _SEPARATORS.sub("", name.lower())


def closest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` of `candidates` that `word` was probably meant to be, best first: the name
    that is the same but for case and separators (then only that), else names that start with
    `word` (`bat` for `battery-level`), then names spelled alike (difflib's ratio of at least
    0.6)."""
    names = list(dict.fromkeys(str(c) for c in candidates))
    if not word or not names or word in names:
        return []
    folded = _folded(word)
    found: list[str] = [name for name in names if _folded(name) == folded]
    if found:
        return found[:n]
    if len(folded) >= 2:
        found += sorted(
            (name for name in names if _folded(name).startswith(folded) and name not in found),
            key=len,
        )
    by_fold: dict[str, list[str]] = {}
    for name in names:
        by_fold.setdefault(_folded(name), []).append(name)
    for match in difflib.get_close_matches(folded, list(by_fold), n=n, cutoff=0.6):
        found += [name for name in by_fold[match] if name not in found]
    return found[:n]


def sql_string(text: str) -> str:
    """A string literal of AWS IoT SQL: `'it''s'`."""
    return "'" + text.replace("'", "''") + "'"


def path_expression(path: Sequence[str]) -> str:
    """The SQL that reads `path` from the payload: `state.reported.mode`, and with `get()`
    where a key is not an identifier: `get(*, 'battery-level')`,
    `get(state, 'battery-level').value`."""
    expression = ""
    for key in path:
        if IDENTIFIER.fullmatch(key):
            expression = f"{expression}.{key}" if expression else key
        else:
            expression = f"get({expression or '*'}, {sql_string(key)})"
    return expression


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`; did you mean queueUrl?` after a message about an unknown `word`, naming the closest
    candidates, or "" when none is close."""
    meant = closest(word, candidates)
    return f"; did you mean {alternatives(meant)}?" if meant else ""


def alternatives(options: Sequence[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    if len(options) <= 1:
        return "".join(options)
    return ", ".join(options[:-1]) + " or " + options[-1]
