"""Hypothesis strategies for AWS IoT SQL: whole statements (as ASTs, written out by the
unparser, so every generated statement is valid by construction), expressions, and the
payloads a rule can receive (JSON values of every type, and arbitrary bytes)."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from iotsql import ast

KEYWORDS = {
    "set", "select", "value", "as", "from", "where", "or", "and", "not", "in", "exists",
    "case", "when", "then", "else", "end", "true", "false", "null",
}  # fmt: skip

identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s.lower() not in KEYWORDS
)
variable_names = st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True)
texts = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + " '\"-_/.#+$%{}@é€"),
    max_size=12,
)
decimal_texts = st.one_of(
    st.from_regex(r"[0-9]{1,6}\.[0-9]{0,6}", fullmatch=True),
    st.from_regex(r"\.[0-9]{1,6}", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3})?[eE][+-]?[0-9]{1,2}", fullmatch=True),
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

BINARY_OPS = ["AND", "OR", "=", "<>", "!=", "<", "<=", ">", ">=", "IN", "+", "-", "*", "/", "%"]


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
        st.builds(ast.Call, identifiers, st.lists(children, max_size=3).map(tuple)),
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
