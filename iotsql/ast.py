"""The AST of an AWS IoT SQL statement: frozen dataclasses that carry their source position,
and an unparser that writes any tree back as canonical SQL (`parse(unparse(t)) == t`).

Positions are excluded from equality so that two statements that differ only in layout compare
equal; the unparser relies on this for its round-trip property.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, get_args


@dataclass(frozen=True, slots=True)
class Pos:
    """1-based line and column of a node's first and last characters."""

    line: int = 1
    column: int = 1
    end_line: int = 1
    end_column: int = 1


NOPOS = Pos()


# ---- expressions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntLit:
    value: int
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class DecimalLit:
    """A number written with a point or an exponent; `text` keeps its exact digits."""

    text: str
    pos: Pos = field(default=NOPOS, compare=False, repr=False)

    @property
    def value(self) -> decimal.Decimal:
        return decimal.Decimal(self.text)


@dataclass(frozen=True, slots=True)
class StringLit:
    value: str
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class NullLit:
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Wildcard:
    """`*`: the whole payload (in a nested query, the current element)."""

    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Name:
    """A bare identifier: an attribute of the payload, or a nested query's FROM alias."""

    name: str
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Variable:
    """`@name`, bound by the SET clause; `name` excludes the `@`."""

    name: str
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Member:
    """`base.name`."""

    base: Expr
    name: str
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Index:
    """`base[index]`."""

    base: Expr
    index: Expr
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; `name` is as written (function names are case-insensitive)."""

    name: str
    args: tuple[Expr, ...]
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Cast:
    """`cast(expr AS type)`; `type_name` is as written, `type_pos` where."""

    expr: Expr
    type_name: str
    pos: Pos = field(default=NOPOS, compare=False, repr=False)
    type_pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Unary:
    """`-x` (op `-`) or `NOT x` (op `NOT`)."""

    op: str
    operand: Expr
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Binary:
    """Infix operators; `op` is one of AND OR = <> != < <= > >= IN + - * / %."""

    op: str
    left: Expr
    right: Expr
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class When:
    condition: Expr
    result: Expr
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Case:
    """`CASE [subject] WHEN ... THEN ... [ELSE ...] END`; without a subject each WHEN is a
    condition that must be Boolean true."""

    subject: Expr | None
    whens: tuple[When, ...]
    default: Expr | None
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Expr, ...]
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ObjectLit:
    entries: tuple[tuple[str, Expr], ...]
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Subquery:
    """`(SELECT ... FROM source [AS alias] [WHERE ...])`: a nested object query."""

    select: Select
    source: Expr
    alias: str | None
    where: Expr | None
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Exists:
    query: Subquery
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


Expr = (
    IntLit
    | DecimalLit
    | StringLit
    | BoolLit
    | NullLit
    | Wildcard
    | Name
    | Variable
    | Member
    | Index
    | Call
    | Cast
    | Unary
    | Binary
    | Case
    | ArrayLit
    | ObjectLit
    | Subquery
    | Exists
)


# ---- clauses ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SelectItem:
    """One item of a SELECT list; `alias` is the dotted path of `AS a.b`, or None. `members`:
    the item was written `expr.*`, the keys of the object `expr` (merged into the output as
    `*` merges the payload's; with an alias, the object itself under it, as `* AS a`)."""

    expr: Expr
    alias: tuple[str, ...] | None
    pos: Pos = field(default=NOPOS, compare=False, repr=False)
    members: bool = False


@dataclass(frozen=True, slots=True)
class Select:
    """A SELECT list, or `SELECT VALUE expr` (then `value` is True and there is one item)."""

    items: tuple[SelectItem, ...]
    value: bool = False
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Assignment:
    name: str
    expr: Expr
    pos: Pos = field(default=NOPOS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Statement:
    """A whole rule statement. `topic` is the FROM topic filter (None: Basic Ingest only)."""

    select: Select
    topic: str | None = None
    where: Expr | None = None
    assignments: tuple[Assignment, ...] = ()
    pos: Pos = field(default=NOPOS, compare=False, repr=False)
    topic_pos: Pos = field(default=NOPOS, compare=False, repr=False)


Node = Expr | SelectItem | Select | Assignment | Statement | When
_NODE_TYPES = (*get_args(Expr), SelectItem, Select, Assignment, Statement, When)


def walk(node: Node) -> Iterator[Node]:
    """`node` and every node under it, depth first (an explicit stack: no recursion limit)."""
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, tuple):
            stack.extend(current)  # items, args, whens, and the (key, value) pairs of objects
            continue
        if not isinstance(current, _NODE_TYPES):
            continue  # a name, an operator, a position...
        yield current
        for name in current.__dataclass_fields__:
            if name != "pos" and name != "topic_pos":
                stack.append(getattr(current, name))


# ---- unparser ------------------------------------------------------------------------------------

# Binding strength of each operator; higher binds tighter. Mirrors grammar/iotsql.lark.
_PRECEDENCE = {
    "OR": 1, "AND": 2, "NOT": 3,
    "=": 4, "<>": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "IN": 4,
    "+": 5, "-": 5, "*": 6, "/": 6, "%": 6,
}  # fmt: skip
_UNARY_MINUS = 7
_ATOM = 8


def quote_string(value: str) -> str:
    """A single-quoted SQL string literal, with embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _precedence(node: Expr) -> int:
    if isinstance(node, Binary):
        return _PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return _PRECEDENCE["NOT"] if node.op == "NOT" else _UNARY_MINUS
    return _ATOM


def _wrap(node: Expr, minimum: int) -> str:
    text = unparse(node)
    return f"({text})" if _precedence(node) < minimum else text


def _wrap_base(node: Expr) -> str:
    """A member or index base; a number needs parentheses (`(5).x`, not the decimal `5.`)."""
    if isinstance(node, (IntLit, DecimalLit)):
        return f"({unparse(node)})"
    return _wrap(node, _ATOM)


def _unparse_select(select: Select) -> str:
    if select.value:
        return "SELECT VALUE " + unparse(select.items[0].expr)
    return "SELECT " + ", ".join(_unparse_item(item) for item in select.items)


def _unparse_item(item: SelectItem) -> str:
    text = _wrap_base(item.expr) + ".*" if item.members else unparse(item.expr)
    return f"{text} AS {'.'.join(item.alias)}" if item.alias else text


def unparse(node: Node) -> str:
    """Canonical SQL for `node`: upper-case keywords, single-quoted strings, and parentheses
    only where precedence needs them."""
    if isinstance(node, Statement):
        parts = []
        if node.assignments:
            parts.append("SET " + ", ".join(unparse(a) for a in node.assignments))
        parts.append(_unparse_select(node.select))
        if node.topic is not None:
            parts.append("FROM " + quote_string(node.topic))
        if node.where is not None:
            parts.append("WHERE " + unparse(node.where))
        return " ".join(parts)
    if isinstance(node, Assignment):
        return f"@{node.name} = {unparse(node.expr)}"
    if isinstance(node, Select):
        return _unparse_select(node)
    if isinstance(node, SelectItem):
        return _unparse_item(node)
    if isinstance(node, When):
        return f"WHEN {unparse(node.condition)} THEN {unparse(node.result)}"
    if isinstance(node, IntLit):
        return str(node.value)
    if isinstance(node, DecimalLit):
        return node.text
    if isinstance(node, StringLit):
        return quote_string(node.value)
    if isinstance(node, BoolLit):
        return "true" if node.value else "false"
    if isinstance(node, NullLit):
        return "null"
    if isinstance(node, Wildcard):
        return "*"
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Variable):
        return "@" + node.name
    if isinstance(node, Member):
        return f"{_wrap_base(node.base)}.{node.name}"
    if isinstance(node, Index):
        return f"{_wrap_base(node.base)}[{unparse(node.index)}]"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(unparse(a) for a in node.args)})"
    if isinstance(node, Cast):
        return f"cast({unparse(node.expr)} AS {node.type_name})"
    if isinstance(node, Unary):
        if node.op == "NOT":
            return "NOT " + _wrap(node.operand, _PRECEDENCE["NOT"])
        operand = _wrap(node.operand, _UNARY_MINUS)
        # `- -x` must not become `--x`, which reads as a comment.
        return "-" + (f"({operand})" if operand.startswith("-") else operand)
    if isinstance(node, Binary):
        level = _PRECEDENCE[node.op]
        # Every binary operator is left-associative: the right operand needs parentheses at
        # equal precedence, the left one only below it.
        return f"{_wrap(node.left, level)} {node.op} {_wrap(node.right, level + 1)}"
    if isinstance(node, Case):
        parts = ["CASE"]
        if node.subject is not None:
            parts.append(unparse(node.subject))
        parts.extend(unparse(w) for w in node.whens)
        if node.default is not None:
            parts.append("ELSE " + unparse(node.default))
        parts.append("END")
        return " ".join(parts)
    if isinstance(node, ArrayLit):
        return "[" + ", ".join(unparse(i) for i in node.items) + "]"
    if isinstance(node, ObjectLit):
        return "{" + ", ".join(f"{quote_string(k)}: {unparse(v)}" for k, v in node.entries) + "}"
    if isinstance(node, Subquery):
        text = f"({_unparse_select(node.select)} FROM {unparse(node.source)}"
        if node.alias:
            text += f" AS {node.alias}"
        if node.where is not None:
            text += f" WHERE {unparse(node.where)}"
        return text + ")"
    if isinstance(node, Exists):
        return "EXISTS " + unparse(node.query)
    raise TypeError(f"not an iotsql AST node: {node!r}")
