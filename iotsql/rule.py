"""`CompiledRule`: a statement compiled for one SQL version, ready to evaluate messages, and
`Output`, what a rule that fires hands to its actions."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iotsql import ast
from iotsql.compiler import CompiledStatement, Compiler, check_variable_size, truthy
from iotsql.errors import EvaluationError, IotSqlError, LimitExceededError, SqlParseError, SqlWarning
from iotsql.limits import DEFAULT_LIMITS, Limits
from iotsql.message import Context, Message, Run
from iotsql.parser import parse
from iotsql.topics import filter_matches, has_wildcards, parse_basic_ingest, validate_filter
from iotsql.values import UNDEFINED, SqlVersion, encode_json

U = UNDEFINED


class Output:
    """The result of a rule that fired. `value` is the output as a Python JSON value (dict,
    list, str, int, float, bool, None) or `bytes` for a raw pass-through of a non-JSON body;
    `to_bytes()` is the body the actions receive."""

    __slots__ = ("_body", "value")

    def __init__(self, value: Any, body: bytes | None = None) -> None:
        self.value = value
        self._body = body

    @property
    def is_binary(self) -> bool:
        return isinstance(self.value, bytes)

    def to_bytes(self) -> bytes:
        body = self._body
        if body is None:
            value = self.value
            body = bytes(value) if isinstance(value, bytes) else encode_json(value)
            self._body = body
        return body

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Output):
            return bool(self.value == other.value) and type(self.value) is type(other.value)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Output({self.value!r})"


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a rule did or did not fire on a message, for the CLI and the REPL."""

    fired: bool
    reason: str
    topic_matched: bool
    where_value: Any = U
    variables: dict[str, Any] = field(default_factory=dict)
    items: dict[str, Any] = field(default_factory=dict)
    output: Output | None = None
    error: str | None = None


class CompiledRule:
    """A statement compiled once; `evaluate` runs it on messages."""

    __slots__ = (
        "_compiled",
        "_filter_exact",
        "_select",
        "_sets",
        "_where",
        "_whole_ints",
        "limits",
        "sql",
        "sql_version",
        "statement",
        "topic_filter",
        "warnings",
    )

    def __init__(
        self, sql: str, sql_version: SqlVersion | str | None = None, limits: Limits | None = None
    ) -> None:
        self.sql = sql
        self.sql_version = SqlVersion.parse(sql_version)
        self.limits = limits or DEFAULT_LIMITS
        if isinstance(sql, str) and len(sql.encode("utf-8")) > self.limits.max_sql_bytes:
            raise LimitExceededError(
                "SQL statement size (bytes)", len(sql.encode("utf-8")), self.limits.max_sql_bytes
            )
        self.statement = parse(sql)
        self.topic_filter = self.statement.topic
        if self.topic_filter is not None:
            try:
                validate_filter(self.topic_filter, self.limits)
            except IotSqlError as err:
                pos = self.statement.topic_pos
                raise SqlParseError(
                    f"invalid topic filter in FROM: {err}", sql, pos.line, pos.column,
                    end_column=pos.end_column if pos.end_line == pos.line else None,
                ) from None  # fmt: skip
        compiled = Compiler(sql, self.sql_version, self.limits).compile_statement(self.statement)
        self._compiled: CompiledStatement = compiled
        self.warnings: tuple[SqlWarning, ...] = compiled.warnings
        self._sets = compiled.assignments
        self._where = compiled.where
        self._select = compiled.select.build
        self._whole_ints = self.sql_version.whole_decimals_are_ints
        self._filter_exact = self.topic_filter is not None and not has_wildcards(self.topic_filter)

    @property
    def ast(self) -> ast.Statement:
        return self.statement

    @property
    def external_calls(self) -> dict[str, int]:
        """External functions the statement calls (name -> number of call sites)."""
        return dict(self._compiled.external_calls)

    def matches(self, topic: str) -> bool:
        """Whether a message on `topic` reaches this rule through the broker (its FROM filter)."""
        if self.topic_filter is None:
            return False
        if self._filter_exact:
            return topic == self.topic_filter
        return filter_matches(self.topic_filter, topic)

    def evaluate(
        self,
        payload: Any,
        topic: str | None = None,
        context: Context | Mapping[str, Any] | None = None,
        *,
        provider: Any = None,
        rule_name: str | None = None,
    ) -> Output | None:
        """Evaluate the rule on one message. Returns None when it does not fire: `topic` is
        given and matches neither FROM nor a Basic Ingest topic (`$aws/rules/<name>/...`), or
        WHERE is not true. Raises EvaluationError when AWS would report a rule failure (an
        external function that failed)."""
        message = payload if isinstance(payload, Message) else Message(payload, topic or "", context)
        effective = topic
        if topic is not None:
            ingest = parse_basic_ingest(topic)
            if ingest is not None:
                effective = ingest.topic
            elif not self.matches(topic):
                return None
        return self.run(message, effective, provider=provider, rule_name=rule_name)

    def run(
        self,
        message: Message,
        topic: str | None,
        *,
        provider: Any = None,
        rule_name: str | None = None,
    ) -> Output | None:
        """Evaluate on a message the caller has already routed to this rule; `topic` is what
        `topic()` returns (None: Undefined)."""
        doc = message.document(self._whole_ints)
        run = Run(message, topic, self.sql_version.value, rule_name, provider, len(self._sets))
        try:
            if self._sets:
                self._assign(doc, run)
            where = self._where
            if where is not None and not truthy(where(doc, run)):
                return None
            value = self._select(doc, run)
        except RecursionError:
            raise EvaluationError("the message is nested too deeply to evaluate") from None
        if value is U:
            return Output(b"", b"")
        if isinstance(value, bytes):
            return Output(bytes(value), bytes(value))
        if value is doc and not isinstance(value, dict):
            # A lone `*` on a body that is not a JSON object passes the body through unchanged.
            return Output(message.body, message.body)
        return Output(value)

    def _assign(self, doc: Any, run: Run) -> None:
        total = 0
        for index, (name, fn) in enumerate(self._sets):
            value = fn(doc, run)
            total += check_variable_size(name, value, self.limits)
            if total > self.limits.max_variables_total_bytes:
                raise LimitExceededError(
                    "SET variables total size (bytes)", total, self.limits.max_variables_total_bytes
                )
            run.vars[index] = value

    def explain(
        self,
        payload: Any,
        topic: str | None = None,
        context: Context | Mapping[str, Any] | None = None,
        *,
        provider: Any = None,
    ) -> Explanation:
        """Evaluate step by step: the topic match, each variable, the WHERE value, the value of
        each SELECT item, and the output, with the reason the rule did not fire."""
        message = payload if isinstance(payload, Message) else Message(payload, topic or "", context)
        effective = topic
        if topic is not None:
            ingest = parse_basic_ingest(topic)
            if ingest is not None:
                effective = ingest.topic
            elif not self.matches(topic):
                reason = (
                    "the rule has no FROM clause: only Basic Ingest ($aws/rules/<name>/...) runs it"
                    if self.topic_filter is None
                    else f"topic {topic!r} does not match the FROM filter {self.topic_filter!r}"
                )
                return Explanation(False, reason, False)
        doc = message.document(self._whole_ints)
        run = Run(message, effective, self.sql_version.value, None, provider, len(self._sets))
        variables: dict[str, Any] = {}
        items: dict[str, Any] = {}
        try:
            if self._sets:
                self._assign(doc, run)
                variables = {name: run.vars[i] for i, (name, _) in enumerate(self._sets)}
            where_value: Any = True
            if self._where is not None:
                where_value = self._where(doc, run)
            for name, fn in self._compiled.select.items:
                items[name] = fn(doc, run)
            if not truthy(where_value):
                shown = "Undefined" if where_value is U else repr(where_value)
                return Explanation(
                    False, f"WHERE evaluated to {shown}, not true", True, where_value, variables, items
                )
            output = self.run(message, effective, provider=provider)
        except IotSqlError as err:
            return Explanation(False, f"evaluation failed: {err}", True, U, variables, items,
                               error=str(err))  # fmt: skip
        return Explanation(True, "fired", True, where_value, variables, items, output)

    def __repr__(self) -> str:
        return f"CompiledRule({self.sql!r}, sql_version={self.sql_version.value!r})"


@functools.lru_cache(maxsize=256)
def _compile_cached(sql: str, version: SqlVersion) -> CompiledRule:
    return CompiledRule(sql, version)


def compile(
    sql: str, sql_version: SqlVersion | str | None = "2016-03-23", *, limits: Limits | None = None
) -> CompiledRule:
    """Parse, check and compile `sql` for `sql_version`. Raises SqlParseError (with `.line`,
    `.column` and a caret excerpt) when AWS IoT would reject the statement. Compiled rules are
    cached by (sql, version) when the default limits are used."""
    version = SqlVersion.parse(sql_version)
    if limits is None and isinstance(sql, str):
        return _compile_cached(sql, version)
    return CompiledRule(sql, version, limits)
