"""The findings of `iotsql check` about one statement, with positions in the statement:
errors (what CreateTopicRule refuses, with the habit of another dialect named when one explains
it: `like-operator`, `keyword-typo`...) and warnings (legal SQL that almost certainly does not
mean what was written):

- `hyphenated-key`: `a.my-key` is `a.my` minus `key`; a key with a hyphen needs `get()`;
- `alias-in-where`: WHERE reads the payload, not the SELECT aliases;
- `arity`: a function called with the wrong number of arguments is Undefined;
- `from-missing` (info, off by default): without FROM the rule receives only Basic Ingest
  messages;
- `in-not-array`: IN with a literal that is not an array never matches;
- `topic-level`: `topic(0)` (levels count from 1) or a level past the 8 a topic has;
- `quoted-name`: `"temp"` is a string in AWS IoT SQL, not the attribute temp (as in PostgreSQL).

`lint(sql, sql_version)` returns `Diagnostic`s; iotsql/lint/rules.py maps them into files.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from iotsql import ast
from iotsql.errors import IotSqlError, SqlParseError
from iotsql.functions.registry import REGISTRY
from iotsql.limits import DEFAULT_LIMITS
from iotsql.parser import parse
from iotsql.rule import CompiledRule
from iotsql.sql_habits import function_habit, habit_at
from iotsql.suggest import path_expression
from iotsql.values import SqlVersion

#: The SQL version `lint` uses when none is given (the CLI's).
DEFAULT_VERSION = "2016-03-23"

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a statement; `line` and `column` are 1-based, `end_column` exclusive."""

    severity: Severity
    code: str
    message: str
    line: int = 1
    column: int = 1
    end_column: int | None = None
    hint: str | None = None
    expected: tuple[str, ...] = ()
    excerpt: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
            "code": self.code,
            "endColumn": self.end_column,
        }
        if self.expected:
            data["expected"] = list(self.expected)
        return data

    def render(self, source: str = "sql") -> str:
        """`source:line:column: severity: message`, the line with a caret, the hint."""
        lines = [f"{source}:{self.line}:{self.column}: {self.severity}: {self.message}"]
        lines.extend("  " + text for text in self.excerpt.splitlines())
        if self.expected:
            lines.append("  expected one of: " + ", ".join(self.expected))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


def _excerpt(sql: str, line: int, column: int, end_column: int | None) -> str:
    return SqlParseError("", sql, line, column, end_column=end_column).excerpt


def _warning(sql: str, code: str, message: str, pos: ast.Pos, hint: str | None) -> Diagnostic:
    end = pos.end_column if pos.end_line == pos.line else None
    return Diagnostic("warning", code, message, pos.line, pos.column, end, hint,
                      excerpt=_excerpt(sql, pos.line, pos.column, end))  # fmt: skip


# ---- errors ------------------------------------------------------------------------------------

_NEEDS_VERSION = re.compile(r"needs SQL version (\S+) or later")
_UNKNOWN_FUNCTION = re.compile(r"unknown function (\w+)\(\)")


def diagnostic_of_error(error: SqlParseError, switch: str = "--sql-version") -> Diagnostic:
    """A parse or compile error as a Diagnostic, coded by the habit that explains it when one
    does (`like-operator`, `keyword-typo`...); `switch` is how the user picks the SQL version
    where the hint names one."""
    code, hint = "syntax", error.hint
    found = _NEEDS_VERSION.search(error.message)
    if found:
        version = found.group(1)
        code = "version"
        hint = (
            f"SQL version {version} has it: set awsIotSqlVersion to {version} in the rule "
            f"(iotsql: {switch} {version})"
        )
    found = _UNKNOWN_FUNCTION.search(error.message)
    if found:
        habit = function_habit(found.group(1), list(REGISTRY))
        code = habit.code if habit is not None else "unknown-function"
        hint = hint or (habit.hint if habit is not None else None)
    elif code == "syntax" and error.sql:
        habit = habit_at(error.sql, _Source(error.sql).offset(error.line, error.column))
        if habit is not None:
            code, hint = habit.code, hint or habit.hint
    return Diagnostic(
        "error", code, error.message, error.line, error.column, error.end_column, hint,
        error.expected, error.excerpt if error.sql else "",
    )  # fmt: skip


# ---- walking the AST ---------------------------------------------------------------------------


_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(kind: type) -> tuple[str, ...]:
    """The fields of an AST node type that can hold nodes (not its positions)."""
    fields = _FIELDS.get(kind)
    if fields is None:
        fields = tuple(
            f.name for f in dataclasses.fields(kind) if f.name not in ("pos", "topic_pos")
        )
        _FIELDS[kind] = fields
    return fields


def children(node: Any) -> Iterator[Any]:
    """The AST nodes directly under `node`, in source order."""
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, tuple):
            for element in value:
                if isinstance(element, tuple):  # ObjectLit entries: (key, expr)
                    yield from (e for e in element if dataclasses.is_dataclass(e))
                elif dataclasses.is_dataclass(element):
                    yield element
        elif dataclasses.is_dataclass(value) and not isinstance(value, ast.Pos):
            yield value


def walk(node: Any, *, into_subqueries: bool = True) -> Iterator[Any]:
    """`node` and every node under it, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if not into_subqueries and isinstance(current, ast.Subquery):
            continue
        stack.extend(reversed(list(children(current))))


def path_of(expr: Any) -> list[str] | None:
    """`a.b.c` as ['a', 'b', 'c'] when `expr` is a plain attribute path, else None."""
    if isinstance(expr, ast.Name):
        return [expr.name]
    if isinstance(expr, ast.Member):
        base = path_of(expr.base)
        return None if base is None else [*base, expr.name]
    return None


class _Source:
    """Offsets in the statement text from 1-based line and column."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.starts = [0] + [i + 1 for i, ch in enumerate(sql) if ch == "\n"]

    def offset(self, line: int, column: int) -> int:
        if not 0 < line <= len(self.starts):
            return -1
        return self.starts[line - 1] + column - 1

    def text(self, pos: ast.Pos) -> str:
        return self.sql[
            self.offset(pos.line, pos.column) : self.offset(pos.end_line, pos.end_column)
        ]


# ---- hyphenated keys -----------------------------------------------------------------------------


def _root_name(expr: Any) -> ast.Name | None:
    while isinstance(expr, ast.Member):
        expr = expr.base
    return expr if isinstance(expr, ast.Name) else None


def _glued_minus(node: Any, source: _Source) -> bool:
    """A Binary '-' written with no space on either side, between an attribute path and a name
    (`a.my-key`, `my-key`, `a.my-key.x`)."""
    if not (isinstance(node, ast.Binary) and node.op == "-"):
        return False
    left, right = node.left, node.right
    if _root_name(right) is None:
        return False
    if not isinstance(left, (ast.Name, ast.Member)) and not _glued_minus(left, source):
        return False
    if isinstance(left, ast.Binary) and not isinstance(left.right, ast.Name):
        return False
    end = source.offset(left.pos.end_line, left.pos.end_column)
    start = source.offset(right.pos.line, right.pos.column)
    return end >= 0 and source.sql[end : end + 1] == "-" and start == end + 1


def _hyphen_key(node: Any, source: _Source) -> tuple[Any, str]:
    """For a glued minus: the object the key is read from (None: the payload) and the key."""
    left, right = node.left, node.right
    root = _root_name(right)
    assert root is not None
    if isinstance(left, ast.Binary):
        base, key = _hyphen_key(left, source)
    elif isinstance(left, ast.Member):
        base, key = left.base, left.name
    else:
        base, key = None, left.name
    return base, f"{key}-{root.name}"


def _hyphenated_keys(statement: ast.Statement, source: _Source) -> Iterator[Diagnostic]:
    stack: list[Any] = [statement]
    while stack:
        node = stack.pop()
        if _glued_minus(node, source):
            base, key = _hyphen_key(node, source)
            root = _root_name(node.right)
            assert root is not None
            rest = source.text(node.right.pos)[len(root.name) :]  # `.x` of `a.my-key.x`
            target = "*" if base is None else ast.unparse(base)
            fix = f"get({target}, {ast.quote_string(key)}){rest}"
            written = source.text(node.pos)
            yield _warning(
                source.sql, "hyphenated-key",
                f"`{written}` subtracts `{source.text(node.right.pos)}` from "
                f"`{source.text(node.left.pos)}`; if `{key}` is a key, it needs get()",
                node.pos,
                f"write {fix} to read the key '{key}' (or `a - b` with spaces to subtract)",
            )  # fmt: skip
            while isinstance(node, ast.Binary) and _glued_minus(node, source):
                if isinstance(node.left, ast.Member):
                    stack.append(node.left.base)
                stack.append(node.right)
                node = node.left
            continue
        stack.extend(reversed(list(children(node))))


# ---- SELECT aliases in WHERE ---------------------------------------------------------------------


def _is_path(expr: Any) -> bool:
    while isinstance(expr, (ast.Member, ast.Index)):
        expr = expr.base
    return isinstance(expr, (ast.Name, ast.Wildcard, ast.Variable))


def _aliases_in_where(statement: ast.Statement) -> Iterator[Diagnostic]:
    if statement.where is None or statement.select.value:
        return
    aliases = {
        item.alias[0]: item
        for item in statement.select.items
        if item.alias and not _is_path(item.expr)
    }
    if not aliases:
        return
    for node in walk(statement.where, into_subqueries=False):
        if isinstance(node, ast.Name) and node.name in aliases:
            item = aliases[node.name]
            expression = ast.unparse(item.expr)
            yield Diagnostic(
                "warning", "alias-in-where",
                f"WHERE reads `{node.name}` from the payload, not the SELECT alias "
                f"`{expression} AS {'.'.join(item.alias or ())}`",
                node.pos.line, node.pos.column,
                node.pos.end_column if node.pos.end_line == node.pos.line else None,
                f"repeat the expression in WHERE ({expression}), or compute it once with "
                f"SET @{node.name} = {expression} and use @{node.name} in SELECT and WHERE",
            )  # fmt: skip


_SCALAR_LITERALS = (ast.StringLit, ast.IntLit, ast.DecimalLit, ast.BoolLit, ast.NullLit)

# ---- FROM, IN -----------------------------------------------------------------------------------


def _statement_shape(statement: ast.Statement, source: _Source) -> Iterator[Diagnostic]:
    if statement.topic is None:
        pos = statement.pos
        keyword = re.match(r"\s*\w+", source.sql[source.offset(pos.line, pos.column) :])
        end = pos.column + len(keyword.group(0).strip()) if keyword else None
        yield Diagnostic(
            "info", "from-missing",
            "the statement has no FROM: the rule receives only messages published to its Basic "
            "Ingest topic ($aws/rules/<rule name>/...)",
            pos.line, pos.column, end,
            "add FROM 'topic/filter' if the rule should also receive messages published through "
            "the broker",
        )  # fmt: skip
    elif statement.topic.startswith("`") and statement.topic_pos is not ast.NOPOS:
        pos = statement.topic_pos
        yield Diagnostic(
            "error", "backtick-quote",
            f"the topic filter is {statement.topic}, backticks included: AWS IoT SQL quotes "
            "topic filters with single quotes",
            pos.line, pos.column, pos.end_column if pos.end_line == pos.line else None,
            f"write FROM '{statement.topic.strip('`')}'",
        )  # fmt: skip
    for node in walk(statement):
        if (
            isinstance(node, ast.Binary)
            and node.op.upper() == "IN"
            and isinstance(node.right, _SCALAR_LITERALS)
        ):
            right = source.text(node.right.pos) or ast.unparse(node.right)
            pos = node.right.pos
            yield Diagnostic(
                "warning", "in-not-array",
                f"IN {right}: AWS IoT SQL's IN looks for a value in an array, and {right} is "
                "not one, so this is never true",
                pos.line, pos.column, pos.end_column if pos.end_line == pos.line else None,
                f"write IN [{right.strip('()')}]",
            )  # fmt: skip

        level = topic_level(node)
        # (a topic has the broker's slashes and one levels, a Basic Ingest prefix not counted)
        most = DEFAULT_LIMITS.max_topic_slashes + 1
        if level is not None and not 1 <= level <= most:
            why = ("topic levels are numbered from 1" if level < 1 else
                   f"a topic has at most {most} levels ({most - 1} slashes)")  # fmt: skip
            pos = node.pos
            yield Diagnostic(
                "warning", "topic-level",
                f"{ast.unparse(node)} is always Undefined: {why}",
                pos.line, pos.column, pos.end_column if pos.end_line == pos.line else None,
                "topic(1) is the first level (topic() the whole topic)",
            )  # fmt: skip


def topic_level(node: Any) -> int | None:
    """n of a call `topic(n)` whose n is an Int literal (`-1` included), else None."""
    if not isinstance(node, ast.Call) or node.name.lower() != "topic" or len(node.args) != 1:
        return None
    arg, sign = node.args[0], 1
    if isinstance(arg, ast.Unary) and arg.op == "-":
        arg, sign = arg.operand, -1
    return sign * arg.value if isinstance(arg, ast.IntLit) else None


# ---- double-quoted names -------------------------------------------------------------------------

#: The comparisons whose operand a double-quoted name is taken for an attribute in.
_COMPARISONS = ("=", "<>", "<", ">", "<=", ">=")


def _quoted_names(statement: ast.Statement, source: _Source) -> Iterator[Diagnostic]:
    """`"temp"` where an attribute was meant, as PostgreSQL and standard SQL quote names: an
    unaliased SELECT item, or a side of a comparison whose other side is a literal (`"temp" >
    30`, `"mode" = 'eco'`). AWS IoT SQL reads it as the string, so the item outputs its own
    text and the comparison never holds (a double-quoted value, `mode = "eco"`, is a string
    rightly)."""
    suspects = [item.expr for item in statement.select.items if item.alias is None]
    for node in walk(statement):
        if isinstance(node, ast.Binary) and node.op in _COMPARISONS:
            for side, other in ((node.left, node.right), (node.right, node.left)):
                if isinstance(other, _SCALAR_LITERALS):
                    suspects.append(side)
    for expr in suspects:
        if not isinstance(expr, ast.StringLit) or not source.text(expr.pos).startswith('"'):
            continue
        name = path_expression([expr.value])
        pos = expr.pos
        yield Diagnostic(
            "warning", "quoted-name",
            f"{source.text(pos)} is the string {ast.quote_string(expr.value)}, not the "
            f"attribute {expr.value}: AWS IoT SQL quotes strings with double quotes, not names",
            pos.line, pos.column, pos.end_column if pos.end_line == pos.line else None,
            f"write {name} to read the attribute",
        )  # fmt: skip


# ---- compiler warnings ---------------------------------------------------------------------------

_ARITY_NAME = re.compile(r"^(\w+)\(\)")


def _compiler_warnings(rule: CompiledRule, statement: ast.Statement) -> Iterator[Diagnostic]:
    calls = {(n.pos.line, n.pos.column): n for n in walk(statement) if isinstance(n, ast.Call)}
    for warning in rule.warnings:
        hint = None
        found = _ARITY_NAME.match(warning.message)
        spec = REGISTRY.get(found.group(1).lower()) if found else None
        if spec is not None:
            hint = f"{spec.signature}" + (f": {spec.summary}" if spec.summary else "")
        call = calls.get((warning.line, warning.column))
        end = call.pos.end_column if call and call.pos.end_line == call.pos.line else None
        yield Diagnostic(
            "warning", warning.code or "warning", warning.message, warning.line,
            warning.column, end, hint,
            excerpt=_excerpt(rule.sql, warning.line, warning.column, end),
        )  # fmt: skip


# ---- lint ----------------------------------------------------------------------------------------


def lint_statement(sql: str, statement: ast.Statement) -> list[Diagnostic]:
    """The AST-level findings of a parsed statement (hyphenated keys, aliases in WHERE, FROM,
    IN of a literal)."""
    source = _Source(sql)
    found = [
        *_hyphenated_keys(statement, source),
        *_aliases_in_where(statement),
        *_statement_shape(statement, source),
        *_quoted_names(statement, source),
    ]
    return [
        d
        if d.excerpt
        else dataclasses.replace(d, excerpt=_excerpt(sql, d.line, d.column, d.end_column))
        for d in found
    ]


def lint_rule(rule: CompiledRule) -> list[Diagnostic]:
    """Every warning about a compiled statement, in source order."""
    found = lint_statement(rule.sql, rule.statement)
    found.extend(_compiler_warnings(rule, rule.statement))
    return sorted(found, key=lambda d: (d.line, d.column))


def lint(sql: str, sql_version: SqlVersion | str = DEFAULT_VERSION) -> list[Diagnostic]:
    """Parse, compile and lint `sql` for `sql_version`: errors (at most one, the first AWS
    would report) and warnings, in source order."""
    try:
        statement = parse(sql)
    except SqlParseError as error:
        return [diagnostic_of_error(error)]
    warnings = lint_statement(sql, statement)
    try:
        rule = CompiledRule(sql, sql_version)
    except SqlParseError as error:  # it parses: what the compiler refuses is not syntax
        diagnostic = diagnostic_of_error(error)
        if diagnostic.code == "syntax":
            diagnostic = dataclasses.replace(diagnostic, code="invalid-sql")
        found = [*warnings, diagnostic]
    except IotSqlError as error:
        found = [*warnings, Diagnostic("error", "invalid-sql", str(error))]
    else:
        found = [*warnings, *_compiler_warnings(rule, statement)]
    unique = {(d.code, d.line, d.column): d for d in reversed(found)}  # the first of each
    return sorted(unique.values(), key=lambda d: (d.line, d.column))
