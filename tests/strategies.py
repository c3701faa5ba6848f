"""Hypothesis strategies for AWS IoT SQL: whole statements (as ASTs, written out by the
unparser, so every generated statement is valid by construction), expressions, and the
payloads a rule can receive (JSON values of every type, and arbitrary bytes).

For fuzzing (tests/fuzz/, tests/hostile/): `fuzz_statements` (ASTs with hostile literals, every
built-in function name), `mutated_sql` (valid statements with tokens inserted, deleted,
replaced, duplicated or swapped) and `hostile_payloads` (deep nesting, invalid UTF-8,
NaN/Infinity, out-of-range numbers, duplicate keys, huge arrays and strings)."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from iotsql import ast
from iotsql.functions.registry import REGISTRY

KEYWORDS = {
    "set", "select", "value", "as", "from", "where", "or", "and", "not", "in", "exists",
    "case", "when", "then", "else", "end", "true", "false", "null",
}  # fmt: skip

_LOWER = string.ascii_lowercase + "_"
_DIGITS = string.digits


def _chars(alphabet: str, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    # st.text over a fixed alphabet: much cheaper to draw than st.from_regex.
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


identifiers = st.builds(
    "{}{}".format, st.sampled_from(_LOWER), _chars(_LOWER + _DIGITS, 0, 8)
).filter(lambda s: s.lower() not in KEYWORDS)
variable_names = _chars(_LOWER + _DIGITS, 1, 8)
texts = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + " '\"-_/.#+$%{}@é€"),
    max_size=12,
)
decimal_texts = st.one_of(
    st.builds("{}.{}".format, _chars(_DIGITS, 1, 6), _chars(_DIGITS, 0, 6)),
    st.builds(".{}".format, _chars(_DIGITS, 1, 6)),
    st.builds(
        "{}{}{}{}{}".format,
        _chars(_DIGITS, 1, 3),
        st.one_of(st.just(""), st.builds(".{}".format, _chars(_DIGITS, 1, 3))),
        st.sampled_from("eE"),
        st.sampled_from(["", "+", "-"]),
        _chars(_DIGITS, 1, 2),
    ),
)

literals: st.SearchStrategy[ast.Expr] = st.one_of(
    st.integers(min_value=0, max_value=10**34 - 1).map(ast.IntLit),
    decimal_texts.map(ast.DecimalLit),
    texts.map(ast.StringLit),
    st.booleans().map(ast.BoolLit),
    st.just(ast.NullLit()),
)

leaves: st.SearchStrategy[ast.Expr] = st.one_of(
    literals,
    identifiers.map(ast.Name),
    variable_names.map(ast.Variable),
    st.just(ast.Wildcard()),
)

#: Every built-in function, as declared and in upper case (names are case-insensitive), and
#: sometimes an unknown name.
function_names = st.sampled_from(sorted({spec.name for spec in REGISTRY.values()}))
call_names = st.one_of(function_names, function_names.map(str.upper), identifiers)

BINARY_OPS = ["AND", "OR", "=", "<>", "<", "<=", ">", ">=", "IN", "+", "-", "*", "/", "%"]


def _select(expressions: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Select]:
    items = st.builds(
        ast.SelectItem,
        expressions,
        st.one_of(st.none(), st.lists(identifiers, min_size=1, max_size=3).map(tuple)),
    )
    listed = st.lists(items, min_size=1, max_size=3).map(lambda xs: ast.Select(tuple(xs)))
    valued = expressions.map(lambda e: ast.Select((ast.SelectItem(e, None),), True))
    return st.one_of(listed, valued)


def _extend(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    subquery = st.builds(
        ast.Subquery,
        _select(children),
        children,
        st.one_of(st.none(), identifiers),
        st.one_of(st.none(), children),
    )
    return st.one_of(
        st.builds(ast.Member, children, identifiers),
        st.builds(ast.Index, children, children),
        st.builds(ast.Call, call_names, st.lists(children, max_size=3).map(tuple)),
        st.builds(ast.Cast, children, st.sampled_from(["Int", "String", "Decimal", "Bool"])),
        st.builds(ast.Unary, st.sampled_from(["-", "NOT"]), children),
        st.builds(ast.Binary, st.sampled_from(BINARY_OPS), children, children),
        st.builds(
            ast.Case,
            st.one_of(st.none(), children),
            st.lists(st.builds(ast.When, children, children), min_size=1, max_size=3).map(tuple),
            st.one_of(st.none(), children),
        ),
        st.lists(children, max_size=3).map(lambda xs: ast.ArrayLit(tuple(xs))),
        st.lists(st.tuples(texts, children), max_size=3).map(lambda xs: ast.ObjectLit(tuple(xs))),
        subquery,
        subquery.map(ast.Exists),
    )


expressions: st.SearchStrategy[ast.Expr] = st.recursive(leaves, _extend, max_leaves=12)

topic_filters = st.lists(
    st.one_of(st.sampled_from(["+", "sensors", "$aws", "a b", "it's"]), identifiers),
    min_size=1,
    max_size=4,
).map("/".join)

statements: st.SearchStrategy[ast.Statement] = st.builds(
    ast.Statement,
    select=_select(expressions),
    topic=st.one_of(st.none(), topic_filters),
    where=st.one_of(st.none(), expressions),
    assignments=st.lists(st.builds(ast.Assignment, variable_names, expressions), max_size=2).map(
        tuple
    ),
)

# ---- payloads ---------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=20,
)
payload_objects = st.dictionaries(
    st.sampled_from(["a", "b", "temperature", "color", "e", "arr", "n", "s", "state"]),
    json_values,
    max_size=6,
)
raw_payloads = st.one_of(st.binary(max_size=64), json_values.map(repr).map(str.encode))


# ---- fuzzing: hostile statements -------------------------------------------------------------

#: Literals a hostile statement may hold: too many digits, exponents past the Decimal range,
#: long and odd strings (quotes, comment markers, control characters, surrogates' neighbours).
hostile_literals: st.SearchStrategy[ast.Expr] = st.one_of(
    literals,
    st.integers(min_value=10**33, max_value=10**60).map(ast.IntLit),
    st.builds(
        "{}.{}{}".format,
        _chars(_DIGITS, 1, 40),
        _chars(_DIGITS, 0, 40),
        st.one_of(
            st.just(""),
            st.builds("e{}{}".format, st.sampled_from(["", "-"]), _chars(_DIGITS, 1, 6)),
        ),
    ).map(ast.DecimalLit),
    st.text(max_size=300).map(ast.StringLit),
    st.sampled_from(["--", "/*", "*/", "'", '"', "''", "\\", "${x}", "$$", "\x00", "\uffff"]).map(
        ast.StringLit
    ),
)
fuzz_leaves: st.SearchStrategy[ast.Expr] = st.one_of(
    hostile_literals,
    identifiers.map(ast.Name),
    variable_names.map(ast.Variable),
    st.just(ast.Wildcard()),
)
fuzz_expressions: st.SearchStrategy[ast.Expr] = st.recursive(fuzz_leaves, _extend, max_leaves=25)

fuzz_statements: st.SearchStrategy[ast.Statement] = st.builds(
    ast.Statement,
    select=_select(fuzz_expressions),
    topic=st.one_of(
        st.none(), topic_filters, st.sampled_from(["#", "a/#", "+/+", "a//b", "a/#/b"])
    ),
    where=st.one_of(st.none(), fuzz_expressions),
    assignments=st.lists(
        st.builds(ast.Assignment, variable_names, fuzz_expressions), max_size=3
    ).map(tuple),
)

# ---- fuzzing: raw-text mutations of valid statements -----------------------------------------

_ROOT = Path(__file__).resolve().parent.parent

#: Valid statements to mutate: the SQL of the conformance cases, and a few written here.
SEED_STATEMENTS: list[str] = [
    "SELECT * FROM 'a/b'",
    "SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50",
    "SET @t = temperature * 1.8 + 32 SELECT @t AS f, topic(2) AS device FROM 'sensors/+'",
    "SELECT VALUE (SELECT VALUE x.v FROM arr AS x WHERE x.v > 1) FROM 'a'",
    "SELECT CASE mode WHEN 'eco' THEN 1 ELSE 0 END AS eco, {'k': [1, 2.5, 'x']} AS o FROM 'a'",
    "SELECT regexp_replace(s, '(a+)+$', '$1') AS r, lpad(s, 10) AS p FROM 'a' WHERE s <> ''",
    "SELECT encode(*, 'base64') AS raw, get(arr, 0) AS first FROM 'a' WHERE EXISTS (SELECT * FROM arr)",
    "SELECT parse_time('yyyy-MM-dd', timestamp()) AS d, cast(n AS Decimal) AS n FROM 'a/#'",
    "SELECT a IN [1, 2, 3] AS member, NOT b AS nb, -c AS nc, a % 3 AS m FROM 'a'",
]


def _conformance_statements() -> list[str]:
    found: set[str] = set()
    for path in sorted((_ROOT / "conformance").rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        cases = data if isinstance(data, list) else data.get("cases", [])
        for case in cases:
            if isinstance(case, dict) and isinstance(case.get("sql"), str) and case["sql"]:
                found.add(case["sql"])
    return sorted(found)


seed_statements = st.sampled_from(SEED_STATEMENTS + _conformance_statements())

#: How the mutator splits a statement: blanks, quoted strings, words, numbers, operators.
SQL_TOKEN = re.compile(
    r"""\s+|'(?:[^']|'')*'?|"(?:[^"]|"")*"?|@?[A-Za-z_][A-Za-z0-9_]*|"""
    r"""[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|<>|<=|>=|\S"""
)
#: What the mutator inserts or substitutes.
MUTATION_TOKENS = [
    "SELECT", "VALUE", "FROM", "WHERE", "SET", "AS", "AND", "OR", "NOT", "IN", "EXISTS", "CASE",
    "WHEN", "THEN", "ELSE", "END", "true", "null", "(", ")", "[", "]", "{", "}", ",", ".", ":",
    "*", "-", "+", "/", "%", "=", "<>", "<", ">=", "--", "/*", "'", '"', "@", "@v", "@v1",
    "'t/#'", "'a'", "\"b\"", "''", "0", "-1", "1.5", "1e400", "9" * 40, "0." + "0" * 40 + "1",
    "topic()", "topic(99999999999)", "get(*, 0)", "concat(*, *)", "lpad(*, 1000)", "$aws", "#",
    "+", "é", "\u0000", "\t", "\n", "💥", "cast(", "AS Int)", "decode(*, 'proto')",
]  # fmt: skip


@st.composite
def mutated_sql(draw: st.DrawFn) -> str:
    """A valid statement with one to five random token edits."""
    tokens = SQL_TOKEN.findall(draw(seed_statements)) or [""]
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "swap"]))
        i = draw(st.integers(min_value=0, max_value=len(tokens) - 1))
        if kind == "insert":
            pad = draw(st.sampled_from(["", " "]))
            tokens.insert(i, pad + draw(st.sampled_from(MUTATION_TOKENS)) + pad)
        elif kind == "delete" and len(tokens) > 1:
            del tokens[i]
        elif kind == "replace":
            tokens[i] = draw(st.sampled_from(MUTATION_TOKENS))
        elif kind == "duplicate":
            tokens.insert(i, tokens[i] * draw(st.integers(min_value=1, max_value=3)))
        else:
            j = draw(st.integers(min_value=0, max_value=len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
    return "".join(tokens)


# ---- fuzzing: hostile payloads ---------------------------------------------------------------


def deep_json(depth: int, kind: str = "{") -> bytes:
    """A JSON document nested `depth` levels: `{"a":{"a":...1...}}` or `[[[...]]]`."""
    if kind == "{":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"1" + b"]" * depth


HOSTILE_BODIES = [
    b"", b" ", b"null", b"80", b'"s"', b"[1,2]", b"{}", b"{", b"}", b"[", b"\x00",
    b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b"NaN", b"[1e400]",
    b'{"a": 1e400}', b'{"a": -1e400}', b'{"a": 1e-400}', b'{"a": 1, "a": 2}',
    b'{"a": "\xff"}', b"\xff\xfe\xfd", b'{"a": "\\ud800"}', b'{"a": "\\udfff\\ud800"}',
    b'\xef\xbb\xbf{"a": 1}', b'{"a": 1} trailing', b'{"a": 1}{"b": 2}',
    b'{"a": ' + b"9" * 40 + b"}", b'{"a": ' + b"9" * 4000 + b"}", b'{"a": -' + b"9" * 5000 + b"}",
    b'{"a": 1.' + b"9" * 5000 + b"}", b'{"a": "' + b"x" * 20000 + b'"}',
    b'{"arr": [' + b",".join([b"1"] * 5000) + b"]}", b"[" + b",".join([b"{}"] * 5000) + b"]",
    b'{"s": "' + b"a" * 60 + b'!"}', b'{"arr": [[1, [2, [3]]], {"v": 2}, null, "x"]}',
]  # fmt: skip

hostile_payloads: st.SearchStrategy[bytes] = st.one_of(
    st.sampled_from(HOSTILE_BODIES),
    raw_payloads,
    payload_objects.map(lambda o: json.dumps(o).encode("utf-8")),
    st.builds(
        deep_json,
        st.one_of(
            st.integers(min_value=1, max_value=1100), st.integers(min_value=1, max_value=5000)
        ),
        st.sampled_from(["{", "["]),
    ),
    st.builds(
        lambda depth, name: b'{"' + name.encode() + b'":' + deep_json(depth, "{") + b"}",
        st.integers(min_value=100, max_value=1100),
        st.sampled_from(["a", "arr", "s", "state"]),
    ),
)
