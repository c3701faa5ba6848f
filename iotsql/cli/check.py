"""`iotsql check`: parse and validate a statement, and lint it for the classic mistakes.

`lint(sql, sql_version)` is usable without the CLI: it returns `Diagnostic`s, errors (the
statement AWS IoT would reject, with a hint) and warnings (legal SQL that almost certainly does
not mean what was written):

- `hyphenated-key`: `a.my-key` is `a.my` minus `key`; a key with a hyphen needs `get()`;
- `alias-in-where`: WHERE reads the payload, not the SELECT aliases;
- `arity`: a function called with the wrong number of arguments is Undefined;
- errors: `syntax` (with the parser's hint: an unquoted topic with spaces...), `version` (a
  feature of a later SQL version, naming the version that has it), `unknown-function` (with
  the close names), `invalid`.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from iotsql import ast
from iotsql.cli.common import (
    DEFAULT_VERSION,
    add_version_argument,
    dumps,
    new_parser,
    out,
    read_text,
)
from iotsql.errors import IotSqlError, SqlParseError
from iotsql.functions.registry import REGISTRY
from iotsql.parser import parse
from iotsql.rule import CompiledRule
from iotsql.values import SqlVersion

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

Severity = Literal["error", "warning"]


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
    """A parse or compile error as a Diagnostic, with a hint for the classic mistakes;
    `switch` is how the user picks the SQL version where the hint names one."""
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
        code = "unknown-function"
        close = difflib.get_close_matches(found.group(1).lower(), list(REGISTRY), n=3)
        names = [REGISTRY[name].name + "()" for name in close]
        hint = hint or (f"did you mean {' or '.join(names)}?" if names else None)
    return Diagnostic(
        "error", code, error.message, error.line, error.column, error.end_column, hint,
        error.expected, error.excerpt if error.sql else "",
    )  # fmt: skip


# ---- walking the AST ---------------------------------------------------------------------------


def children(node: Any) -> Iterator[Any]:
    """The AST nodes directly under `node`, in source order."""
    for item in dataclasses.fields(node):
        value = getattr(node, item.name)
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
    """The AST-level warnings of a parsed statement (hyphenated keys, aliases in WHERE)."""
    source = _Source(sql)
    found = [*_hyphenated_keys(statement, source), *_aliases_in_where(statement)]
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
    except SqlParseError as error:
        found = [*warnings, diagnostic_of_error(error)]
    except IotSqlError as error:
        found = [*warnings, Diagnostic("error", "invalid", str(error))]
    else:
        found = [*warnings, *_compiler_warnings(rule, statement)]
    return sorted(found, key=lambda d: (d.line, d.column))


# ---- the command ---------------------------------------------------------------------------------

EPILOG = """\
examples:
  iotsql check "SELECT temp FROM 'sensors/+/data' WHERE temp > 30"
  iotsql check @rule.sql --sql-version 2015-10-08
  iotsql check --format json @rule.sql        # for editors and CI
  iotsql check template.yaml                  # every rule of a CloudFormation, Serverless,
                                              # Terraform or AWS CLI file, at its own version

Warnings (a key with a hyphen read without get(), a SELECT alias used in WHERE, a function
called with the wrong number of arguments) do not fail: exit 0. Errors exit 2.
--format json prints {"ok": bool, "errors": [...], "warnings": [...]}, each entry with
line, column, message and hint.
"""


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers, "check",
        help="parse and validate a statement, and lint it for classic mistakes",
        description="Parse and validate an AWS IoT SQL statement as CreateTopicRule would, and\n"
        "warn about legal SQL that does not mean what it seems to.",
        epilog=EPILOG,
    )  # fmt: skip
    parser.add_argument(
        "sql", metavar="SQL|@FILE|-|RULES",
        help="the statement, @file or - for stdin; or a file (.yaml, .yml, .json, .tf) or "
        "folder of topic rule definitions",
    )  # fmt: skip
    add_version_argument(parser)
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    parser.set_defaults(handler=run)


#: Files `iotsql check` reads as topic rule definitions rather than as a statement.
RULE_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".tf")


def _rules_path(spec: str) -> Path | None:
    """The rule definitions an argument names (a folder, or a YAML/JSON/Terraform file given
    as PATH or @PATH), or None when it is a statement."""
    path = Path(spec[1:] if spec.startswith("@") else spec)
    try:
        if path.is_dir() or (path.is_file() and path.suffix.lower() in RULE_FILE_SUFFIXES):
            return path
    except OSError:  # a statement too long to be a file name
        return None
    return None


def check_rules(path: Path, output: str) -> int:
    """Check every rule a file defines: the loader's warnings (`sql-version-default`), then
    each statement, linted for the rule's own SQL version."""
    from iotsql.loaders import load_rules

    try:
        rules = load_rules(path, validate=False)
    except IotSqlError as error:
        out(f"{error}")
        return 2
    report, errors, warnings = [], 0, 0
    for rule in rules:
        found = lint(rule.sql, rule.sql_version)
        rule_errors = [d for d in found if d.is_error]
        errors += len(rule_errors)
        warnings += len(found) - len(rule_errors) + len(rule.warnings)
        if output == "json":
            report.append({
                "rule": rule.name, "source": rule.source, "sqlVersion": rule.sql_version,
                "errors": [d.to_json() for d in rule_errors],
                "warnings": [{"code": w.code, "message": w.message, "field": w.field}
                             for w in rule.warnings]
                + [d.to_json() for d in found if not d.is_error],
            })  # fmt: skip
            continue
        for warning in rule.warnings:
            out(str(warning))
        for diagnostic in found:
            out(diagnostic.render(f"{rule.source}: sql"))
    if output == "json":
        out(dumps({"ok": not errors, "rules": report}))
    else:
        state = "invalid" if errors else ("ok" if not warnings else "valid")
        out(f"{state}: {len(rules)} rule(s), {errors} error(s), {warnings} warning(s)")
    return 2 if errors else 0


def run(args: argparse.Namespace) -> int:
    rules = _rules_path(args.sql)
    if rules is not None:
        return check_rules(rules, args.format)
    sql, source = read_text(args.sql, "SQL")
    name = "sql" if source == "<argument>" else source
    diagnostics = lint(sql, args.sql_version)
    errors = [d for d in diagnostics if d.is_error]
    warnings = [d for d in diagnostics if not d.is_error]
    if args.format == "json":
        out(dumps({
            "ok": not errors,
            "sqlVersion": args.sql_version,
            "errors": [d.to_json() for d in errors],
            "warnings": [d.to_json() for d in warnings],
        }))  # fmt: skip
    else:
        for diagnostic in diagnostics:
            out(diagnostic.render(name))
        out(_summary(errors, warnings, args.sql_version))
    return 2 if errors else 0


def _summary(errors: list[Diagnostic], warnings: list[Diagnostic], version: str) -> str:
    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if not errors and not warnings:
        return f"ok: valid for SQL version {version}"
    state = "invalid" if errors else "valid"
    found = f"{count(len(errors), 'error')}, {count(len(warnings), 'warning')}"
    return f"{state} for SQL version {version} ({found})"
