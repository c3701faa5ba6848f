"""SQL text to AST. Owns the Lark parser (built once per process from grammar/iotsql.lark) and
the translation of every Lark exception into a positioned `SqlParseError`."""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from iotsql import ast
from iotsql.errors import SqlParseError
from iotsql.limits import DEFAULT_LIMITS
from iotsql.sql_habits import habit_at

#: Deepest expression nesting accepted by default (`Limits.max_nesting_depth`). Evaluation
#: recurses once per level, so this keeps every statement far from Python's recursion limit;
#: AWS documents no figure of its own.
MAX_NESTING_DEPTH = DEFAULT_LIMITS.max_nesting_depth

_TOKEN_NAMES = {
    "_SET": "SET", "_SELECT": "SELECT", "_VALUE": "VALUE", "_AS": "AS", "_FROM": "FROM",
    "_WHERE": "WHERE", "_OR": "OR", "_AND": "AND", "_NOT": "NOT", "_IN": "IN",
    "_EXISTS": "EXISTS", "_CASE": "CASE", "_WHEN": "WHEN", "_THEN": "THEN", "_ELSE": "ELSE",
    "_END": "END", "_TRUE": "true", "_FALSE": "false", "_NULL": "null",
    "NAME": "identifier", "VARIABLE": "@variable", "INT": "number", "DECIMAL": "number",
    "SQ_STRING": "string", "DQ_STRING": "string", "TOPIC": "topic filter",
    "COMPARE_OP": "comparison operator", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/' or '%'",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'",
    "RBRACE": "'}'", "COMMA": "','", "DOT": "'.'", "COLON": "':'", "EQUAL": "'='",
    "MINUS": "'-'", "STAR": "'*'", "$END": "end of statement",
}  # fmt: skip


_KEYWORDS = frozenset(
    name.lower() for key, name in _TOKEN_NAMES.items() if key.startswith("_") and name.isalpha()
)


def _grammar_text() -> str:
    """The grammar shipped inside the wheel, or the repository's copy in a source checkout."""
    packaged = importlib.resources.files("iotsql").joinpath("_grammar/iotsql.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source = Path(__file__).resolve().parent.parent / "grammar" / "iotsql.lark"
    return source.read_text(encoding="utf-8")


@functools.cache
def lark_parser() -> Lark:
    """The process-wide LALR parser, built on first use."""
    return Lark(
        _grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _pos(meta: Any) -> ast.Pos:
    if getattr(meta, "empty", False):
        return ast.NOPOS
    return ast.Pos(meta.line, meta.column, meta.end_line, meta.end_column)


def _token_pos(token: Token) -> ast.Pos:
    return ast.Pos(token.line or 1, token.column or 1, token.end_line or 1, token.end_column or 1)


def _unquote(token: Token) -> str:
    text = str(token)
    quote = text[0]
    return text[1:-1].replace(quote * 2, quote)


@dataclass(frozen=True, slots=True)
class _Members:
    """`base.*` on its way to the SELECT item that holds it (the only place it may stand,
    which _check_member_wildcards makes sure of before the tree is transformed)."""

    base: ast.Expr


@v_args(meta=True)
class _ToAst(Transformer[Token, ast.Statement]):
    """Lark tree to AST nodes, one method per grammar alias."""

    def __init__(self, sql: str) -> None:
        super().__init__()
        self._sql = sql

    def _error(self, message: str, pos: ast.Pos) -> SqlParseError:
        end = pos.end_column if pos.end_line == pos.line else None
        return SqlParseError(message, self._sql, pos.line, pos.column, end_column=end)

    # clauses
    def statement(self, meta: Any, children: list[Any]) -> ast.Statement:
        assignments: tuple[ast.Assignment, ...] = ()
        select: ast.Select | None = None
        topic: tuple[str, ast.Pos] | None = None
        where: ast.Expr | None = None
        for child in children:
            if isinstance(child, tuple) and child and child[0] == "set":
                assignments = child[1]
            elif isinstance(child, ast.Select):
                select = child
            elif isinstance(child, tuple) and child and child[0] == "from":
                topic = (child[1], child[2])
            elif isinstance(child, tuple) and child and child[0] == "where":
                where = child[1]
        assert select is not None
        return ast.Statement(
            select=select,
            topic=topic[0] if topic else None,
            where=where,
            assignments=assignments,
            pos=_pos(meta),
            topic_pos=topic[1] if topic else ast.NOPOS,
        )

    def set_clause(self, meta: Any, children: list[ast.Assignment]) -> tuple[str, Any]:
        return ("set", tuple(children))

    def assignment(self, meta: Any, children: list[Any]) -> ast.Assignment:
        return ast.Assignment(str(children[0])[1:], children[1], _pos(meta))

    def select_clause(self, meta: Any, children: list[ast.Select]) -> ast.Select:
        return children[0]

    def select_value(self, meta: Any, children: list[ast.Expr]) -> ast.Select:
        return ast.Select((ast.SelectItem(children[0], None, _pos(meta)),), True, _pos(meta))

    def select_list(self, meta: Any, children: list[ast.SelectItem]) -> ast.Select:
        return ast.Select(tuple(children), False, _pos(meta))

    def select_item(self, meta: Any, children: list[Any]) -> ast.SelectItem:
        alias = children[1] if len(children) > 1 else None
        expr = children[0]
        if isinstance(expr, _Members):
            return ast.SelectItem(expr.base, alias, _pos(meta), members=True)
        return ast.SelectItem(expr, alias, _pos(meta))

    def alias(self, meta: Any, children: list[Token]) -> tuple[str, ...]:
        return tuple(str(c) for c in children)

    def from_clause(self, meta: Any, children: list[Any]) -> tuple[str, str, ast.Pos]:
        value = children[0]
        return ("from", value.value, value.pos)

    def bare_topic(self, meta: Any, children: list[Token]) -> ast.StringLit:
        return ast.StringLit(str(children[0]), _token_pos(children[0]))

    def where_clause(self, meta: Any, children: list[ast.Expr]) -> tuple[str, ast.Expr]:
        return ("where", children[0])

    # operators
    def or_op(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary("OR", c[0], c[1], _pos(meta))

    def and_op(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary("AND", c[0], c[1], _pos(meta))

    def not_op(self, meta: Any, c: list[Any]) -> ast.Unary:
        return ast.Unary("NOT", c[0], _pos(meta))

    def compare(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary(str(c[1]), c[0], c[2], _pos(meta))

    def in_op(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary("IN", c[0], c[1], _pos(meta))

    def arith(self, meta: Any, c: list[Any]) -> ast.Binary:
        return ast.Binary(str(c[1]), c[0], c[2], _pos(meta))

    def neg(self, meta: Any, c: list[Any]) -> ast.Unary:
        return ast.Unary("-", c[0], _pos(meta))

    def member(self, meta: Any, c: list[Any]) -> ast.Member:
        return ast.Member(c[0], str(c[1]), _pos(meta))

    def member_wildcard(self, meta: Any, c: list[Any]) -> _Members:
        return _Members(c[0])

    def index(self, meta: Any, c: list[Any]) -> ast.Index:
        return ast.Index(c[0], c[1], _pos(meta))

    # primaries
    def name(self, meta: Any, c: list[Token]) -> ast.Name:
        return ast.Name(str(c[0]), _pos(meta))

    def variable(self, meta: Any, c: list[Token]) -> ast.Variable:
        return ast.Variable(str(c[0])[1:], _pos(meta))

    def wildcard(self, meta: Any, c: list[Any]) -> ast.Wildcard:
        return ast.Wildcard(_pos(meta))

    def call(self, meta: Any, c: list[Any]) -> ast.Call:
        return ast.Call(str(c[0]), tuple(c[1:]), _pos(meta))

    def cast(self, meta: Any, c: list[Any]) -> ast.Cast:
        if str(c[0]).lower() != "cast":
            raise self._error(
                f"only cast() takes 'AS type' inside its parentheses, not {c[0]}()", _pos(meta)
            )
        type_pos = _token_pos(c[2]) if isinstance(c[2], Token) else _pos(meta)
        return ast.Cast(c[1], str(c[2]), _pos(meta), type_pos)

    def case_expr(self, meta: Any, c: list[Any]) -> ast.Case:
        subject = None
        whens: list[ast.When] = []
        default = None
        for child in c:
            if isinstance(child, ast.When):
                whens.append(child)
            elif not whens:
                subject = child
            else:
                default = child
        return ast.Case(subject, tuple(whens), default, _pos(meta))

    def when_clause(self, meta: Any, c: list[Any]) -> ast.When:
        return ast.When(c[0], c[1], _pos(meta))

    def subquery(self, meta: Any, c: list[Any]) -> ast.Subquery:
        select, source = c[0], c[1]
        alias: str | None = None
        where = None
        for child in c[2:]:
            if isinstance(child, Token):
                alias = str(child)
            else:
                where = child
        return ast.Subquery(select, source, alias, where, _pos(meta))

    bare_subquery = subquery

    def exists(self, meta: Any, c: list[Any]) -> ast.Exists:
        return ast.Exists(c[0], _pos(meta))

    def array(self, meta: Any, c: list[Any]) -> ast.ArrayLit:
        return ast.ArrayLit(tuple(c), _pos(meta))

    def object(self, meta: Any, c: list[tuple[str, ast.Expr]]) -> ast.ObjectLit:
        return ast.ObjectLit(tuple(c), _pos(meta))

    def pair(self, meta: Any, c: list[Any]) -> tuple[str, ast.Expr]:
        return (c[0].value, c[1])

    # literals
    def int_lit(self, meta: Any, c: list[Token]) -> ast.IntLit:
        digits = str(c[0]).lstrip("0") or "0"
        if len(digits) > 34:  # also keeps int() clear of Python's 4300-digit conversion limit
            raise self._error("an Int literal has at most 34 digits", _pos(meta))
        return ast.IntLit(int(digits), _pos(meta))

    def decimal_lit(self, meta: Any, c: list[Token]) -> ast.DecimalLit:
        return ast.DecimalLit(str(c[0]), _pos(meta))

    def string(self, meta: Any, c: list[Token]) -> ast.StringLit:
        return ast.StringLit(_unquote(c[0]), _pos(meta))

    def true_lit(self, meta: Any, c: list[Any]) -> ast.BoolLit:
        return ast.BoolLit(True, _pos(meta))

    def false_lit(self, meta: Any, c: list[Any]) -> ast.BoolLit:
        return ast.BoolLit(False, _pos(meta))

    def null_lit(self, meta: Any, c: list[Any]) -> ast.NullLit:
        return ast.NullLit(_pos(meta))


def _line_col(sql: str, offset: int) -> tuple[int, int]:
    line = sql.count("\n", 0, offset) + 1
    column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _reject_comments(sql: str) -> None:
    """AWS IoT SQL has no comments; `--` would otherwise read as two minus signs."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            i = end + 1
            continue
        if sql.startswith("--", i) or sql.startswith("/*", i):
            line, column = _line_col(sql, i)
            raise SqlParseError(
                "comments are not supported in AWS IoT SQL",
                sql,
                line,
                column,
                end_column=column + 2,
                hint="remove the comment; write `a - -b` with a space to subtract a negation",
            )
        i += 1


#: Where `x.*` may have been written (a cheap test before the tree is searched for it).
_MEMBER_WILDCARD: Final = re.compile(r"\.\s*\*")


def _check_member_wildcards(tree: Tree[Token], sql: str) -> None:
    """`x.*` (the keys of the object `x`, merged into the output as `*` merges the payload's)
    is a whole item of a SELECT list and nothing else: no AWS page gives it a value anywhere
    else (in WHERE, an argument, SELECT VALUE, SET, a template), so it is refused there."""
    for node in tree.iter_subtrees():
        for i, child in enumerate(node.children):
            if not isinstance(child, Tree) or child.data != "member_wildcard":
                continue
            if node.data == "select_item" and i == 0:
                continue
            meta = child.meta
            raise SqlParseError(
                "`.*` (the keys of an object, merged into the output) is only a whole item of "
                "a SELECT list",
                sql,
                getattr(meta, "line", 1),
                getattr(meta, "column", 1),
                hint="write the object itself, without `.*`, here; `SELECT x.*` outputs the "
                "keys of x",
            )


#: Chained binary operators, by parse-tree node, as the depth error names them.
_CHAINED: Final = {"or_op": "OR", "and_op": "AND"}


def _check_depth(tree: Tree[Token], sql: str, max_depth: int) -> None:
    # (node, its depth, how many of its ancestors in a row are the same operator as it)
    stack: list[tuple[Tree[Token] | Token, int, int]] = [(tree, 0, 0)]
    while stack:
        node, depth, run = stack.pop()
        if depth > max_depth:
            meta = getattr(node, "meta", None)
            line = getattr(meta, "line", 1) if meta is not None else 1
            column = getattr(meta, "column", 1) if meta is not None else 1
            chained = _chain_hint(stack, max_depth)
            raise SqlParseError(
                f"expression nested deeper than {max_depth} levels" + chained[0],
                sql,
                line,
                column,
                hint=chained[1],
            )
        if isinstance(node, Tree):
            for child in node.children:
                same = isinstance(child, Tree) and child.data == node.data
                stack.append((child, depth + 1, run + 1 if same else 0))


def _chain_hint(stack: list[tuple[Tree[Token] | Token, int, int]], max_depth: int
                ) -> tuple[str, str]:  # fmt: skip
    """What the depth error adds when the depth is a long chain of one operator (`a = 1 OR
    a = 2 OR ...`, which nests one level per operator): the chain, and the shorter ways."""
    for node, _, run in reversed(stack):
        if isinstance(node, Tree) and run >= max_depth // 2 and str(node.data) in _CHAINED:
            operator = _CHAINED[str(node.data)]
            hint = "split the chain with SET variables"
            if operator == "OR":
                hint = "to test one value against many, write `x IN [1, 2, 3]`; or " + hint
            return f" ({run + 1} or more {operator} in a row)", hint
    return "", "split the expression with SET variables"


def _expected(names: Iterable[Any] | None) -> list[str]:
    readable = {_TOKEN_NAMES.get(str(n), str(n)) for n in names or ()}
    return sorted(readable)


def _accepted(err: UnexpectedToken) -> set[str]:
    """The terminals truly acceptable at the error (LALR tables list merged lookaheads)."""
    try:
        accepted: set[str] = err.interactive_parser.accepts()  # type: ignore[no-untyped-call]
        return set(accepted)
    except Exception:  # the interactive parser is a convenience; fall back to the table
        return set(err.expected)


def _hint_for(sql: str, err: UnexpectedInput) -> str | None:
    offset = getattr(err, "pos_in_stream", None)
    char = sql[offset] if offset is not None and 0 <= offset < len(sql) else ""
    habit = habit_at(sql, offset) if offset is not None else None
    if habit is not None:  # LIKE, BETWEEN, IS NULL, `;`, FORM...: the fix AWS IoT SQL has
        return habit.hint
    if isinstance(err, UnexpectedToken):
        previous = getattr(err, "token_history", None)
        prev = previous[-1] if previous else None
        if prev is not None and prev.type == "NAME" and prev.lower() in _KEYWORDS:
            before = sql[: prev.start_pos] if prev.start_pos is not None else ""
            if re.search(r"\bAS\s+$", before, re.IGNORECASE):  # SELECT a AS FROM 't'
                return (
                    f"{str(prev).upper()} is read as the alias after AS: the alias is missing "
                    "(AS name), or AS is one word too many"
                )
            return (
                f"{str(prev).upper()} is read as an attribute name here: "
                "an expression is missing before it"
            )
        if prev is not None and prev.type == "TOPIC":
            return "quote the topic filter: FROM 'my/topic' (topic filters cannot contain spaces)"
        if prev is not None and prev.type == "DOT" and str(err.token)[:1].isdigit():
            return "attribute names that start with a digit need get(): get(obj, '0')"
        if prev is not None and prev.type == "_FROM":
            return "the FROM clause takes a topic filter in quotes: FROM 'a/+/b'"
    if isinstance(err, UnexpectedCharacters) and char == "@":
        return "variable names are @ followed by letters, digits and underscores"
    return None


def _other_dialect_operator(sql: str, err: UnexpectedInput) -> SqlParseError | None:
    """`!=`, `!` and `==`, written out of habit from other SQL dialects: AWS rejects them
    ("Unexpected character '!'"); the operators page has only `=`, `<>` and NOT."""
    offset = getattr(err, "pos_in_stream", None)
    if offset is None or not 0 <= offset < len(sql):
        return None
    if sql[offset] == "!":
        line, column = _line_col(sql, offset)
        if sql.startswith("!=", offset):
            return SqlParseError("unexpected character '!'", sql, line, column,
                                 end_column=column + 2, hint='use <> for "not equal"')  # fmt: skip
        return SqlParseError("unexpected character '!'", sql, line, column,
                             end_column=column + 1, hint="use NOT for negation")  # fmt: skip
    if sql[offset] == "=" and offset > 0 and sql[offset - 1] == "=":
        line, column = _line_col(sql, offset - 1)
        return SqlParseError("unexpected '=='", sql, line, column, end_column=column + 2,
                             hint="use =")  # fmt: skip
    return None


def _convert(sql: str, err: UnexpectedInput) -> SqlParseError:
    habit = _other_dialect_operator(sql, err)
    if habit is not None:
        return habit
    hint = _hint_for(sql, err)
    if isinstance(err, UnexpectedEOF):
        line, column = _line_col(sql, len(sql))
        return SqlParseError(
            "unexpected end of statement", sql, line, column, expected=_expected(err.expected),
            hint=hint,
        )  # fmt: skip
    if isinstance(err, UnexpectedToken):
        token = err.token
        if token.type == "$END":
            line, column = _line_col(sql, len(sql))
            return SqlParseError(
                "unexpected end of statement", sql, line, column,
                expected=_expected(_accepted(err)), hint=hint,
            )  # fmt: skip
        end = (token.column or 1) + max(1, len(str(token)))
        return SqlParseError(
            f"unexpected {str(token)!r}", sql, token.line or 1, token.column or 1,
            end_column=end, expected=_expected(_accepted(err)), hint=hint,
        )  # fmt: skip
    if isinstance(err, UnexpectedCharacters):
        offset = err.pos_in_stream or 0
        char = sql[offset] if offset < len(sql) else ""
        message = f"unexpected character {char!r}"
        if char in "'\"":
            message = "unterminated string"
        return SqlParseError(
            message, sql, err.line, err.column, expected=_expected(err.allowed), hint=hint,
        )  # fmt: skip
    line, column = getattr(err, "line", 1), getattr(err, "column", 1)
    return SqlParseError(str(err), sql, line, column)


def parse(sql: str, max_depth: int = MAX_NESTING_DEPTH) -> ast.Statement:
    """Parse one AWS IoT SQL statement into its AST, or raise `SqlParseError`. An expression
    nested deeper than `max_depth` levels (`Limits.max_nesting_depth`) is a parse error.

    The ASTs of the last statements parsed are kept (they are immutable): a statement is parsed
    once when it is linted, compiled and bound into a topic rule in turn (`iotsql check`), or
    given to several engines."""
    if not isinstance(sql, str):
        raise SqlParseError(f"the statement must be a string, not {type(sql).__name__}")
    if len(sql) > _CACHED_LENGTH:
        return _parse(sql, max_depth)
    return _cached_parse(sql, max_depth)


#: Statements longer than this are parsed each time rather than kept.
_CACHED_LENGTH = 4096


def _parse(sql: str, max_depth: int) -> ast.Statement:
    if not sql.strip():
        raise SqlParseError("empty statement: a rule needs at least SELECT", sql, 1, 1)
    _reject_comments(sql)
    tree = _parse_tree(sql)
    _check_depth(tree, sql, max_depth)
    if _MEMBER_WILDCARD.search(sql):
        _check_member_wildcards(tree, sql)
    try:
        result = _ToAst(sql).transform(tree)
    except SqlParseError:
        raise
    except RecursionError:  # only with a max_depth far above the default
        raise SqlParseError(
            "expression nested too deeply to parse", sql, 1, 1,
            hint="lower Limits.max_nesting_depth or split the expression with SET variables",
        ) from None  # fmt: skip
    except Exception as err:  # lark wraps callback errors in VisitError
        original = getattr(err, "orig_exc", err)
        if isinstance(original, SqlParseError):
            raise original from None
        raise
    assert isinstance(result, ast.Statement)
    return result


_cached_parse = functools.lru_cache(maxsize=256)(_parse)


def _parse_tree(sql: str) -> Tree[Token]:
    """Lark's tree of `sql`. A SELECT list may end with a comma (`SELECT a, b, FROM 't'`): AWS
    accepts it (docs/semantics.md, Parsing). The grammar cannot say so without reading a key
    named `from` or `where` after a comma as the keyword, so a statement that fails where the
    comma ends a list is parsed again with that comma blanked (the same length: positions
    hold); a statement that parses first is never re-read."""
    text = sql
    last = 0
    for _ in range(_MAX_ENDING_COMMAS + 1):
        try:
            return lark_parser().parse(text)
        except UnexpectedInput as err:
            comma = _trailing_comma(text, err)
            if comma is None:
                raise _convert(sql, err) from None
            text = text[:comma] + " " + text[comma + 1 :]
            last = comma
    raise SqlParseError(  # each comma costs a parse: a hostile statement must not cost more
        f"more than {_MAX_ENDING_COMMAS} SELECT lists end with a comma", sql, *_line_col(sql, last),
        hint="remove the comma before FROM or WHERE",
    )  # fmt: skip


#: How many SELECT lists of one statement may end with a comma (each is one more parse).
_MAX_ENDING_COMMAS = 16


def _trailing_comma(text: str, err: UnexpectedInput) -> int | None:
    """The offset of the comma that ends a SELECT list when `err` is the failure it causes: the
    keyword after it (FROM, WHERE) read as an attribute name and the clause's next token
    unexpected."""
    if not isinstance(err, UnexpectedToken) or err.token.type == "$END":
        return None
    history = err.token_history
    keyword = history[-1] if history else None
    if keyword is None or keyword.type != "NAME" or keyword.start_pos is None:
        return None
    if keyword.lower() not in ("from", "where"):
        return None
    before = text[: keyword.start_pos].rstrip()
    return len(before) - 1 if before.endswith(",") else None


#: What parse_expression puts before a lone expression: its AST positions count from it.
EXPRESSION_PREFIX = "SELECT VALUE "


def parse_expression(text: str, max_depth: int = MAX_NESTING_DEPTH) -> ast.Expr:
    """Parse a lone expression (the inside of a `${...}` substitution template); error
    positions refer to `text`."""
    try:
        statement = parse(EXPRESSION_PREFIX + text, max_depth)
    except SqlParseError as err:
        shift = len(EXPRESSION_PREFIX) if err.line == 1 else 0
        end = err.end_column - shift if err.end_column is not None else None
        raise SqlParseError(
            err.message,
            text,
            err.line,
            max(1, err.column - shift),
            end_column=end,
            expected=err.expected,
            hint=err.hint,
        ) from None
    return statement.select.items[0].expr
