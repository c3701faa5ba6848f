"""Substitution templates: `${expression}` inside an action's parameters, compiled once per field
with the SQL compiler and evaluated against the original message (never the SELECT output).
`$$` stands for a literal `$` (how a republish topic names a reserved `$aws/...` topic)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from iotsql import ast
from iotsql.budget import output_too_big, start_budget, stop_budget
from iotsql.compiler import TOP_SCOPE, Closure, Compiler
from iotsql.errors import SqlParseError
from iotsql.limits import DEFAULT_LIMITS, Limits
from iotsql.message import Context, Message, Run
from iotsql.parser import EXPRESSION_PREFIX, parse_expression
from iotsql.topics import parse_basic_ingest, validate_topic
from iotsql.values import (
    UNDEFINED,
    SqlVersion,
    decimal_text,
    finalize,
    json_size_at_least,
    json_text,
    whole_to_int,
)

U = UNDEFINED


def template_text(value: Any, whole_ints: bool = True) -> str:
    """How a substituted value is written into the field: strings as they are, Undefined as
    the empty string, anything else as its JSON text."""
    if value is U:
        return ""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if t is float or t.__name__ == "Decimal":
        number = whole_to_int(value) if whole_ints else value
        return str(number) if type(number) is int else decimal_text(number)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return json_text(finalize(value, whole_ints) if t is not dict and t is not list else value)


def _expression_end(text: str, start: int) -> int:
    """Index of the `}` closing the `${` whose expression starts at `start`, skipping braces
    inside strings and object literals; -1 if there is none."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i += 1
            while i < len(text):
                if text[i] == ch:
                    if i + 1 < len(text) and text[i + 1] == ch:
                        i += 2
                        continue
                    break
                i += 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


@dataclass(frozen=True, slots=True)
class _Part:
    literal: str
    expression: ast.Expr | None = None
    fn: Closure | None = None
    #: Where the expression's text starts in the template (0-based), for error positions.
    start: int = 0


def _compile_part(compiler: Compiler, text: str, part: _Part) -> Closure:
    """The closure of one `${...}`; a refusal points at the template's own text (the
    expression's positions count from the prefix parse_expression parses it with)."""
    assert part.expression is not None
    try:
        return compiler.expr(part.expression, TOP_SCOPE).fn
    except SqlParseError as err:
        shift = part.start - len(EXPRESSION_PREFIX)
        raise SqlParseError(
            err.message, text, 1, err.column + shift,
            end_column=None if err.end_column is None else err.end_column + shift,
            expected=err.expected, hint=err.hint,
        ) from None  # fmt: skip


class CompiledTemplate:
    """A template compiled once; `render` substitutes its expressions for one message."""

    __slots__ = ("_max_bytes", "_parts", "_whole_ints", "expressions", "external_calls",
                 "is_constant", "text", "timed")  # fmt: skip

    def __init__(
        self,
        text: str,
        sql_version: SqlVersion | str | None = "2016-03-23",
        variables: Sequence[str] = (),
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if type(text) is not str:
            raise SqlParseError(
                f"a substitution template must be a string, not {type(text).__name__}"
            )
        self.text = text
        version = SqlVersion.parse(sql_version)
        self._whole_ints = version.whole_decimals_are_ints
        parts: list[_Part] = []
        literal: list[str] = []
        compiler = Compiler(text, version, limits)
        compiler.variables = {name: index for index, name in enumerate(variables)}
        compiler.in_template = True
        i = 0
        while i < len(text):
            if text.startswith("$$", i):
                literal.append("$")
                i += 2
                continue
            if text.startswith("${", i):
                end = _expression_end(text, i + 2)
                if end < 0:
                    raise SqlParseError(
                        "unterminated substitution template: '${' without '}'", text, 1, i + 1,
                        end_column=i + 3,
                    )  # fmt: skip
                source = text[i + 2 : end]
                try:
                    expression = parse_expression(source, limits.max_nesting_depth)
                except SqlParseError as err:
                    raise SqlParseError(
                        f"in substitution template ${{{source}}}: {err.message}", text, 1,
                        i + 2 + err.column, expected=err.expected, hint=err.hint,
                    ) from None  # fmt: skip
                if literal:
                    parts.append(_Part("".join(literal)))
                    literal = []
                parts.append(_Part("", expression, start=i + 2))
                i = end + 1
                continue
            literal.append(text[i])
            i += 1
        if literal:
            parts.append(_Part("".join(literal)))
        self.expressions = tuple(p.expression for p in parts if p.expression is not None)
        # Every expression is known before any is compiled: the plan of the time budget
        # decides how their function calls are compiled.
        compiler.plan_time_budget(self.expressions)
        self._parts = tuple(
            _Part("", p.expression, _compile_part(compiler, text, p)) if p.expression is not None
            else p
            for p in parts
        )  # fmt: skip
        #: External functions the template calls (name -> call sites).
        self.external_calls: dict[str, int] = dict(compiler.external_calls)
        self.is_constant = not self.expressions
        #: Whether rendering needs a time budget (`Limits.evaluation_timeout`).
        self.timed = compiler.timed
        self._max_bytes = limits.max_output_bytes

    @contextmanager
    def time_budget(self, limits: Limits) -> Iterator[None]:
        """Run the block under a time budget when rendering needs one and none is running."""
        token = start_budget(limits.evaluation_timeout) if self.timed else None
        try:
            yield
        finally:
            stop_budget(token)

    def render(
        self,
        message: Message,
        topic: str | None = None,
        variables: Sequence[Any] = (),
        provider: Any = None,
        sql_version: str = "2016-03-23",
    ) -> str:
        if self.is_constant:
            return "".join(p.literal for p in self._parts)
        whole = self._whole_ints
        doc = message.document(whole)
        run = Run(message, topic, sql_version, None, provider, 0)
        run.vars = list(variables)
        out: list[str] = []
        # The rendered field is measured as it grows (Limits.max_output_bytes): `${s}${s}...`
        # or `${[s, s, ...]}` would otherwise repeat a long value as often as it is written.
        limit = self._max_bytes
        size = 0
        for part in self._parts:
            if part.fn is None:
                text = part.literal
            else:
                value = part.fn(doc, run)
                if type(value) is dict or type(value) is list:
                    measured = json_size_at_least(value, limit - size)
                    if size + measured > limit:
                        raise output_too_big(size + measured, limit)
                text = template_text(value, whole)
            size += len(text)
            if size > limit:
                raise output_too_big(size, limit)
            out.append(text)
        return "".join(out)


def render_template(
    template: str,
    payload: Any,
    topic: str | None = None,
    context: Context | Mapping[str, Any] | None = None,
    sql_version: SqlVersion | str | None = "2016-03-23",
    *,
    provider: Any = None,
) -> str:
    """Render one substitution template for one message, e.g.
    `render_template("${topic(2)}/alerts", b"{}", topic="a/b/c")` -> "b/alerts". A Basic Ingest
    topic is seen without its `$aws/rules/<name>/` prefix, as by `topic()`."""
    version = SqlVersion.parse(sql_version)
    compiled = CompiledTemplate(template, version)
    message = payload if isinstance(payload, Message) else Message(payload, topic or "", context)
    effective = topic
    if topic is not None:
        if topic != "":  # ("" as None: no topic; evaluate's rule of what a topic may be)
            validate_topic(topic)
        ingest = parse_basic_ingest(topic)
        if ingest is not None:
            effective = ingest.topic
    with compiled.time_budget(DEFAULT_LIMITS):
        return compiled.render(message, effective, provider=provider, sql_version=version.value)
