"""The compiler's specialised closures (fused arithmetic chains, comparisons with constants,
CASE tables, AND/OR fast paths, WHERE short-circuits) against a plain tree-walking evaluator
that applies the operator tables one node at a time."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

import iotsql
from iotsql import ast
from iotsql.operators import BINARY_OPERATORS, as_bool, op_eq, op_neg, op_not
from iotsql.values import UNDEFINED, finalize, normalize_json, whole_to_int

U = UNDEFINED
ARITHMETIC = {"+", "-", "*", "/", "%"}


def reference(node: ast.Expr, doc: dict[str, Any], whole_ints: bool) -> Any:
    """Evaluate `node` the slow, obvious way."""
    if isinstance(node, ast.IntLit):
        return node.value
    if isinstance(node, ast.DecimalLit):
        value = Decimal(node.text)
        return whole_to_int(value) if whole_ints else value
    if isinstance(node, ast.StringLit):
        return node.value
    if isinstance(node, ast.BoolLit):
        return node.value
    if isinstance(node, ast.NullLit):
        return None
    if isinstance(node, ast.Name):
        # The document as the engine reads it: in 2016-03-23 a whole double (2.0) is the Int 2,
        # so `s + 'x'` is '2x' (the payloads are Python values, not settled JSON text).
        return normalize_json(doc[node.name], whole_ints) if node.name in doc else U
    if isinstance(node, ast.Unary):
        operand = reference(node.operand, doc, whole_ints)
        if node.op == "NOT":
            return op_not(operand)
        result = op_neg(operand)
        return whole_to_int(result) if whole_ints else result
    if isinstance(node, ast.Binary):
        left = reference(node.left, doc, whole_ints)
        right = reference(node.right, doc, whole_ints)
        result = BINARY_OPERATORS[node.op](left, right)
        if whole_ints and node.op in ARITHMETIC:
            result = whole_to_int(result)
        return result
    if isinstance(node, ast.Case):
        if node.subject is None:
            for when in node.whens:
                if as_bool(reference(when.condition, doc, whole_ints)) is True:
                    return reference(when.result, doc, whole_ints)
        else:
            subject = reference(node.subject, doc, whole_ints)
            if subject is U:
                return U
            for when in node.whens:
                if op_eq(subject, reference(when.condition, doc, whole_ints)) is True:
                    return reference(when.result, doc, whole_ints)
        return reference(node.default, doc, whole_ints) if node.default is not None else U
    raise AssertionError(node)


NAMES = ["a", "b", "s"]
numbers = st.one_of(
    st.integers(min_value=0, max_value=1000).map(ast.IntLit),
    st.sampled_from(["0.5", "2.0", "9", "1.25", "3.3", "0"]).map(ast.DecimalLit),
)
leaves = st.one_of(
    numbers,
    st.sampled_from(NAMES).map(ast.Name),
    st.sampled_from(["x", "eco", "true", "5"]).map(ast.StringLit),
    st.booleans().map(ast.BoolLit),
    st.just(ast.NullLit()),
)


def extend(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    ops = sorted(BINARY_OPERATORS.keys() - {"IN"})
    chain = st.tuples(children, st.lists(st.tuples(st.sampled_from(["+", "-", "*", "/"]), numbers),
                                         min_size=1, max_size=4))  # fmt: skip

    def build(pair: tuple[ast.Expr, list[tuple[str, ast.Expr]]]) -> ast.Expr:
        node, steps = pair
        for op, constant in steps:
            node = ast.Binary(op, node, constant)
        return node

    return st.one_of(
        st.builds(ast.Binary, st.sampled_from(ops), children, children),
        chain.map(build),
        st.builds(ast.Unary, st.sampled_from(["-", "NOT"]), children),
        st.builds(
            ast.Case,
            st.one_of(st.none(), children),
            st.lists(
                st.builds(
                    ast.When,
                    st.one_of(children, st.sampled_from(["x", "eco"]).map(ast.StringLit)),
                    children,
                ),
                min_size=1,
                max_size=3,
            ).map(tuple),
            st.one_of(st.none(), children),
        ),
    )


expressions = st.recursive(leaves, extend, max_leaves=10)
payload_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-50, max_value=50),
    st.sampled_from([0.5, 2.0, 26.4, -3.3, 1e-7, 100.25]),
    st.sampled_from(["x", "eco", "5", "2.5", "true", "TRUE"]),
)
payloads = st.fixed_dictionaries({}, optional={n: payload_values for n in NAMES})


def same(a: Any, b: Any) -> bool:
    if a is U or b is U:
        return a is b
    return type(a) is type(b) and (a == b or (a != a and b != b))


@given(expressions, payloads, st.sampled_from(["2015-10-08", "2016-03-23"]))
@example(ast.Binary("+", ast.Name("s"), ast.StringLit("x")), {"s": 2.0}, "2016-03-23")
@settings(max_examples=1500, deadline=None)
def test_compiled_expressions_match_the_reference(
    expression: ast.Expr, payload: dict[str, Any], version: str
) -> None:
    sql = f"SELECT VALUE {ast.unparse(expression)} FROM 't'"
    rule = iotsql.CompiledRule(sql, version)
    whole = version != "2015-10-08"
    expected = reference(rule.statement.select.items[0].expr, payload, whole)
    # The payload as a Python value (a Message) and as the bytes of its JSON text (evaluate's
    # short path, on orjson's raw decode when the statement reads only paths).
    for passed in (payload, json.dumps(payload).encode()):
        out = rule.evaluate(passed, "t")
        assert out is not None
        if expected is U:
            assert out.to_bytes() == b"", sql
        elif type(expected) is list:
            return  # top-level arrays are version-specific and not produced by these expressions
        else:
            assert same(out.value, finalize(expected, whole)), (sql, passed, out.value, expected)


@given(expressions, payloads)
@settings(max_examples=800, deadline=None)
def test_where_fires_exactly_when_the_reference_is_true(
    expression: ast.Expr, payload: dict[str, Any]
) -> None:
    condition = ast.Binary("AND", expression, ast.Binary("OR", ast.Name("a"), expression))
    sql = f"SELECT 1 AS one FROM 't' WHERE {ast.unparse(condition)}"
    rule = iotsql.CompiledRule(sql, "2016-03-23")
    value = reference(rule.statement.where, payload, True)  # type: ignore[arg-type]
    fires = value is True or (type(value) is str and value.lower() == "true")
    assert (rule.evaluate(payload, "t") is not None) is fires, (sql, payload)
    assert (rule.evaluate(json.dumps(payload).encode(), "t") is not None) is fires, (sql, payload)


@given(expressions, payloads, st.integers(-1, 4), st.sampled_from(["2015-10-08", "2016-03-23"]))
@example(ast.Binary("+", ast.Name("s"), ast.StringLit("x")), {"s": 2.0}, 2, "2016-03-23")
@settings(max_examples=600, deadline=None)
def test_select_lists_merge_convert_and_call_like_the_reference(
    expression: ast.Expr, payload: dict[str, Any], level: int, version: str
) -> None:
    """The mixed SELECT builder (the message's document merged by `*`, measured lazily; items
    converted inline) and a context function of a constant (`topic(n)`, called without its
    argument's closure) give what the reference gives, item by item."""
    sql = f"SELECT *, {ast.unparse(expression)} AS x, topic({level}) AS t FROM 'p/+/c'"
    rule = iotsql.CompiledRule(sql, version)
    whole = version != "2015-10-08"
    item = rule.statement.select.items[1].expr
    value = reference(item, payload, whole)
    if type(value) is list:
        return  # arrays are version-specific and not produced by these expressions
    expected: dict[str, Any] = dict(normalize_json(payload, whole))
    if value is not U:
        expected["x"] = finalize(value, whole)
    if 1 <= level <= 3:
        expected["t"] = ["p", "q", "c"][level - 1]
    out = rule.evaluate(payload, "p/q/c")
    assert out is not None and type(out.value) is dict
    assert out.value.keys() == expected.keys(), (sql, payload, out.value, expected)
    for key, got in out.value.items():
        assert same(got, expected[key]), (sql, payload, key, got, expected[key])


member_objects = st.one_of(
    payload_values, st.dictionaries(st.sampled_from(["x", "y", "s"]), payload_values, max_size=3)
)


@given(
    st.fixed_dictionaries({}, optional={n: member_objects for n in NAMES}),
    st.permutations(["a.*", "b.*", "s"]),
    st.sampled_from(["2015-10-08", "2016-03-23"]),
)
@settings(max_examples=300, deadline=None)
def test_member_items_merge_in_select_list_order_like_the_reference(
    payload: dict[str, Any], items: list[str], version: str
) -> None:
    """`SELECT a.*, b.*, s` (in any order): each `x.*` merges the keys of the object x (nothing
    for a value that is not an object or is missing), a later item's key replacing an earlier
    one's, as the reference merge of the settled document says."""
    whole = version != "2015-10-08"
    settled = normalize_json(payload, whole)
    expected: dict[str, Any] = {}
    for item in items:
        name = item.removesuffix(".*")
        value = settled.get(name, U)
        if item.endswith(".*"):
            if type(value) is dict:
                expected.update(value)
        elif value is not U:
            expected[name] = value
    rule = iotsql.CompiledRule(f"SELECT {', '.join(items)} FROM 't'", version)
    for passed in (payload, json.dumps(payload).encode()):
        out = rule.evaluate(passed, "t")
        got = {} if out is None or out.to_bytes() in (b"", b"{}") else out.value
        assert list(got) == list(expected), (items, passed, got, expected)
        for key, value in got.items():
            assert same(value, finalize(expected[key], whole)), (items, passed, key, value)
