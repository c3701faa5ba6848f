"""`CompiledRule`: a statement compiled for one SQL version, ready to evaluate messages (the
`Output` it gives when it fires is iotsql/output.py's), `TopicRule` and `BoundAction`."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from iotsql import ast
from iotsql.budget import start_budget, stop_budget
from iotsql.codegen import NOT_FIRED
from iotsql.compiler import (
    CompiledStatement,
    Compiler,
    call_limit_text,
    check_variable_size,
    truthy,
)
from iotsql.errors import (
    EvaluationError,
    IotSqlError,
    LimitExceededError,
    PayloadTooLargeError,
    RepublishTopicSpaceError,
    RuleLimitExceededError,
    RuleTerminatedError,
    RuleValidationError,
    SqlParseError,
    SqlWarning,
)
from iotsql.limits import (
    DEFAULT_LIMITS,
    Limits,
    current_limits,
    pop_limits,
    push_limits,
    using_limits,
)
from iotsql.message import Context, ContextRun, Message, Run
from iotsql.output import Output as Output  # the public name iotsql.rule.Output
from iotsql.parser import parse
from iotsql.templates import CompiledTemplate
from iotsql.topics import (
    compile_filter,
    filter_hint,
    filter_matches,
    parse_basic_ingest,
    validate_filter,
    validate_topic,
)
from iotsql.values import UNDEFINED, AmbiguousNumber, SqlVersion, codec

U = UNDEFINED

_TOO_DEEP = "the message is nested too deeply to evaluate"
#: Topics a CompiledRule remembers the routing of (evaluate's topic check), before starting over.
_TOPIC_CACHE_SIZE = 4096


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
    #: The rule ended without invoking any actions (an external-function call limit).
    terminated: bool = False


#: How an explanation and a report begin the reason of a rule that AWS would end.
TERMINATED = "the rule terminates without invoking any actions: "


def _terminated(reason: str) -> Explanation:
    return Explanation(False, TERMINATED + reason, True, error=reason, terminated=True)


def call_limit_termination(calls: Mapping[str, int], limits: Limits) -> str | None:
    """Why a rule whose statement (and templates) make `calls` external calls (name -> call
    sites) ends without invoking actions: the first per-statement limit exceeded, or None."""
    for function, count in calls.items():
        limit = limits.per_statement_limit(function)
        if limit is not None and count > limit:
            return (
                f"{call_limit_text(function)} is called {count} times in the statement; "
                f"at most {limit} is allowed"
            )
    return None


@dataclass(frozen=True, slots=True)
class StatementCall:
    """How a caller that has put in force what `CompiledRule.execute` would (the rule's limits,
    no termination, no time budget) runs a statement without SET variables itself, one call
    per message (RulesEngine's quiet publish): `function(doc, run)` on
    `message.raw_document(whole_ints)` when `raw`, else `message.document(whole_ints)`; `run`
    a `Run(message, topic, run_version, rule_name, provider, 0)` when `full_run`, else a
    `ContextRun(message, topic, run_version)`, or None when `run_version` is None (nothing
    reads it). The value is NOT_FIRED (WHERE not true), a dict (the output
    object, `Output(value, None, max_output)`), or anything `output` turns into the Output
    (`output(value, doc, message.body)`, None when it does not fire). AmbiguousNumber or
    RecursionError from `function`: `execute` decides (it reruns the statement on the settled
    document, or reports the nesting)."""

    function: Callable[[Any, Any], Any]
    raw: bool
    whole_ints: bool
    run_version: str | None
    max_output: int
    output: Callable[[Any, Any, bytes], Output | None]
    #: Whether the run must be a full Run; else a ContextRun(message, topic, run_version)
    #: serves (the statement reads only the message's context).
    full_run: bool


class CompiledRule:
    """A statement compiled once; `evaluate` runs it on messages."""

    __slots__ = (
        "_compiled",
        "_matches",
        "_max_output",
        "_max_payload",
        "_needs_run",
        "_plain",
        "_raw",
        "_sets",
        "_settled",
        "_short",
        "_statement",
        "_timed",
        "_topics",
        "_version",
        "_whole_ints",
        "limits",
        "sql",
        "sql_version",
        "statement",
        "termination",
        "topic_filter",
        "warnings",
    )

    def __init__(
        self, sql: str, sql_version: SqlVersion | str | None = None, limits: Limits | None = None
    ) -> None:
        self.sql = sql
        self.sql_version = SqlVersion.parse(sql_version)
        if limits is None or limits == DEFAULT_LIMITS:
            limits = DEFAULT_LIMITS  # `is DEFAULT_LIMITS` is the hot path's test
        self.limits = limits
        if isinstance(sql, str) and len(sql.encode("utf-8", "replace")) > limits.max_sql_bytes:
            raise LimitExceededError(
                "SQL statement size (bytes)",
                len(sql.encode("utf-8", "replace")),
                limits.max_sql_bytes,
            )
        self.statement = parse(sql, limits.max_nesting_depth)
        self.topic_filter = self.statement.topic
        if self.topic_filter is not None:
            try:
                validate_filter(self.topic_filter, self.limits)
            except IotSqlError as err:
                pos = self.statement.topic_pos
                raise SqlParseError(
                    f"invalid topic filter in FROM: {err}", sql, pos.line, pos.column,
                    end_column=pos.end_column if pos.end_line == pos.line else None,
                    hint=filter_hint(self.topic_filter),
                ) from None  # fmt: skip
        try:
            with using_limits(limits):  # constant folding sees the rule's limits
                compiled = Compiler(sql, self.sql_version, limits).compile_statement(self.statement)
        except RecursionError:  # only with a max_nesting_depth far above the default
            raise SqlParseError(
                "expression nested too deeply to compile", sql, 1, 1,
                hint="lower Limits.max_nesting_depth or split the expression with SET variables",
            ) from None  # fmt: skip
        self._compiled: CompiledStatement = compiled
        #: Why every evaluation ends without invoking actions (a call limit the docs state), or
        #: None. AWS accepts such a statement at CreateTopicRule and ends the rule at run time.
        self.termination: str | None = call_limit_termination(compiled.external_calls, limits)
        self.warnings: tuple[SqlWarning, ...] = compiled.warnings
        self._sets = compiled.assignments
        #: WHERE then SELECT in one generated function (iotsql/codegen.py).
        assert compiled.function is not None
        self._statement: Callable[[Any, Any], Any] = compiled.function
        #: The statement evaluates raw documents (whole floats settled where paths read them).
        self._raw = compiled.raw
        #: The statement compiled for settled documents only, made when first needed (explain,
        #: templates, a raw evaluation that met an ambiguous number); the same when not raw.
        self._settled: CompiledStatement | None = None if compiled.raw else compiled
        #: Topic -> the topic `topic()` sees (a Basic Ingest topic without its prefix), or None
        #: when the rule does not take messages on it; bounded (_TOPIC_CACHE_SIZE).
        self._topics: dict[str, str | None] = {}
        self._max_output = limits.max_output_bytes
        self._max_payload = limits.max_payload_bytes
        self._whole_ints = self.sql_version.whole_decimals_are_ints
        self._needs_run = compiled.needs_run
        self._version = self.sql_version.value
        self._timed = compiled.timed
        self._matches = compile_filter(self.topic_filter) if self.topic_filter is not None else None
        #: The rule's limits when there is nothing to put in force around an evaluation of a
        #: bytes body under them: no termination, no time budget, nothing reads the Run but the
        #: context functions (which read its message and topic; `evaluate` makes that Run only
        #: for them); else None. `evaluate` compares it with the limits in force: one test.
        plain = self.termination is None and not self._timed and not compiled.run_state
        self._plain: Limits | None = limits if plain else None
        #: What `evaluate`'s short path reads, in one tuple (unpacked at once).
        self._short: tuple[int, bool, bool, Callable[[Any, Any], Any], bool] = (
            self._max_payload,
            self._needs_run,
            self._raw,
            self._statement,
            self._whole_ints,
        )

    @property
    def reads_raw_documents(self) -> bool:
        """Whether the statement evaluates on raw documents (Message.raw_document: whole
        floats settled where paths read them) rather than on the settled document."""
        return self._raw

    @property
    def timed(self) -> bool:
        """Whether an evaluation runs under a time budget (`Limits.evaluation_timeout`): the
        statement's worst case could reach it (see Compiler.plan_time_budget)."""
        return self._timed

    @property
    def ast(self) -> ast.Statement:
        return self.statement

    @property
    def external_calls(self) -> dict[str, int]:
        """External functions the statement calls (name -> number of call sites)."""
        return dict(self._compiled.external_calls)

    @property
    def select_keys(self) -> tuple[str, ...]:
        """The name of each SELECT item, in order, as `Explanation.items` keys them: its output
        key (`AS` alias, or the last segment of a path, a function's name...), `*`, `{...}` for
        an object literal, `VALUE` for `SELECT VALUE`."""
        return tuple(name for name, _ in self._compiled.select.items)

    def matches(self, topic: str) -> bool:
        """Whether a message on `topic` reaches this rule through the broker (its FROM filter)."""
        matches = self._matches
        return matches is not None and matches(topic)

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
        WHERE is not true, or the rule terminates without invoking any actions (an external
        function called more often than the docs allow; `explain` says so). Raises
        EvaluationError when AWS would report a rule failure (an external function that
        failed), and InvalidTopicError for a topic no client could publish on (a filter such
        as `t/#`, a name that is not a string or is too long), as RulesEngine.publish does."""
        effective = topic
        if topic is not None:
            try:  # (a subscript: cheaper than get's call on the topics seen before)
                effective = self._topics[topic]
            except (KeyError, TypeError):  # (TypeError: unhashable, which _route refuses)
                effective = self._route(topic)
            if effective is None:
                return None
        if (
            type(payload) is bytes
            and (context is None or type(context) is Context)
            and current_limits() is self._plain
        ):
            # Nothing reads the message or its context but the context functions: a Run only
            # for them.
            max_payload, needs_run, raw, statement, whole_ints = self._short
            if len(payload) > max_payload:
                self._refuse_payload(payload)
            run = None
            if needs_run:
                run = ContextRun(Message(payload, topic or "", context), effective, self._version)
            loads = codec.raw_loads if raw else None  # (codec.decode_raw, one call less)
            if loads is None:  # settled documents; the standard library settles as it parses
                doc = codec.decode_body(payload, whole_ints)
            else:
                try:
                    doc = loads(payload)
                except ValueError:  # the standard library decides
                    doc = codec.decode_body(payload, whole_ints)
            try:
                value = statement(doc, run)
            except AmbiguousNumber:  # decided on the settled document
                return self._finish(codec.decode_body(payload, whole_ints), payload, run,
                                    self.settled_statement().function)  # fmt: skip
            except RecursionError:
                raise EvaluationError(_TOO_DEEP) from None
            if type(value) is dict:  # (the common cases, without a call)
                return Output(value, None, self._max_output)
            if value is NOT_FIRED:
                return None
            return self._output(value, doc, payload)
        if self.termination is not None:
            return None
        if self.limits is not current_limits():
            # Functions see this rule's limits (see iotsql.limits.current_limits).
            token = push_limits(self.limits)
            try:
                return self.evaluate(
                    payload, topic, context, provider=provider, rule_name=rule_name
                )
            finally:
                pop_limits(token)
        if self._timed:
            budget = start_budget(self.limits.evaluation_timeout)
            if budget is not None:
                try:
                    return self.evaluate(
                        payload, topic, context, provider=provider, rule_name=rule_name
                    )
                finally:
                    stop_budget(budget)
        message = payload if type(payload) is Message else Message(payload, topic or "", context)
        if len(message.body) > self.limits.max_payload_bytes:
            self._refuse_payload(message.body)
        try:
            return self._execute(message, effective, provider, rule_name, None)
        except RuleTerminatedError:
            return None

    def _route(self, topic: str) -> str | None:
        """The topic `topic()` sees for a message on `topic`, or None when the rule does not
        take it (neither its FROM filter nor a Basic Ingest topic); remembered. A topic no
        client could publish on (a filter such as `t/#`, an oversized name, not a string)
        raises InvalidTopicError, as RulesEngine.publish does; the empty topic, which the
        conformance runner gives a case without one, matches no FROM filter."""
        if topic != "":
            validate_topic(topic, self.limits)
        # A Basic Ingest topic never reaches the broker, so no FROM filter matches it, even
        # one that names it (`FROM '$aws/rules/R/#'`, deployed by users who read topic(1) as
        # the first level after the prefix): topic() drops the prefix, as RulesEngine does.
        ingest = parse_basic_ingest(topic)
        effective: str | None = topic
        if ingest is not None:
            effective = ingest.topic
        elif self._matches is None or not self._matches(topic):
            effective = None
        topics = self._topics
        if len(topics) >= _TOPIC_CACHE_SIZE:
            topics.clear()
        topics[topic] = effective
        return effective

    def settled_statement(self) -> CompiledStatement:
        """The statement compiled for settled documents (Message.document): the compiled one
        unless that one evaluates raw documents."""
        settled = self._settled
        if settled is None:
            with using_limits(self.limits):
                settled = Compiler(self.sql, self.sql_version, self.limits).compile_statement(
                    self.statement, raw=False
                )
            self._settled = settled
        return settled

    def _refuse_payload(self, body: bytes) -> None:
        """A body the broker would refuse (`Limits.max_payload_bytes`), as `publish` does."""
        raise PayloadTooLargeError(len(body), self.limits.max_payload_bytes)

    def run(
        self,
        message: Message,
        topic: str | None,
        *,
        provider: Any = None,
        rule_name: str | None = None,
        variables_out: list[Any] | None = None,
    ) -> Output | None:
        """Evaluate on a message the caller has already routed to this rule; `topic` is what
        `topic()` returns (None: Undefined). `variables_out` receives the SET values (for the
        templates of the rule's actions). Raises RuleTerminatedError when the rule ends
        without invoking any actions."""
        if self.termination is not None:
            raise RuleTerminatedError(self.termination)
        if self.limits is not current_limits():
            token = push_limits(self.limits)
            try:
                return self.run(message, topic, provider=provider, rule_name=rule_name,
                                variables_out=variables_out)  # fmt: skip
            finally:
                pop_limits(token)
        if self._timed:
            budget = start_budget(self.limits.evaluation_timeout)
            if budget is not None:
                try:
                    return self._execute(message, topic, provider, rule_name, variables_out)
                finally:
                    stop_budget(budget)
        return self._execute(message, topic, provider, rule_name, variables_out)

    def _execute(
        self,
        message: Message,
        topic: str | None,
        provider: Any,
        rule_name: str | None,
        variables_out: list[Any] | None,
        settled: bool = False,
    ) -> Output | None:
        """The statement's own compilation, on the raw document when it has one; a number that
        only the settled decode can decide runs it again with `settled`: the statement compiled
        for settled documents (whose paths settle nothing, so never raise AmbiguousNumber), on
        the settled document."""
        statement: Any
        if settled:
            compiled = self.settled_statement()
            sets, statement = compiled.assignments, compiled.function
            doc = message.document(self._whole_ints)
        else:
            sets, statement = self._sets, self._statement
            doc = (message.raw_document if self._raw else message.document)(self._whole_ints)
        run = None
        try:
            if self._needs_run:
                run = Run(message, topic, self._version, rule_name, provider, len(sets))
                if sets:
                    self._assign(sets, doc, run)
            value = statement(doc, run)
        except AmbiguousNumber:
            if settled:
                raise
            return self._execute(message, topic, provider, rule_name, variables_out, True)
        except RecursionError:
            raise EvaluationError(_TOO_DEEP) from None
        if variables_out is not None and sets:
            assert run is not None
            variables_out.extend(run.vars)
        if type(value) is dict:
            return Output(value, None, self._max_output)
        return self._output(value, doc, message.body)

    def _finish(self, doc: Any, body: bytes, run: Any, statement: Any) -> Output | None:
        """WHERE, then SELECT (the generated `statement`), then the Output."""
        try:
            value = statement(doc, run)
        except RecursionError:
            raise EvaluationError(_TOO_DEEP) from None
        if type(value) is dict:
            return Output(value, None, self._max_output)
        if value is NOT_FIRED:
            return None
        return self._output(value, doc, body)

    def _output(self, value: Any, doc: Any, body: bytes) -> Output | None:
        """The Output of a statement's value (NOT_FIRED: none)."""
        if value is NOT_FIRED:
            return None
        if value is U:
            return Output(b"", b"")
        if isinstance(value, bytes):
            return Output(bytes(value), bytes(value))
        if value is doc:
            # A lone `*` on a body that is not a JSON object passes the body through unchanged.
            return Output(body, body)
        return Output(value, None, self._max_output)

    def statement_call(self) -> StatementCall | None:
        """The statement as a caller runs it itself (StatementCall), or None when it SETs
        variables (`execute` evaluates them first, for the templates)."""
        if self._sets:
            return None
        return StatementCall(self._statement, self._raw, self._whole_ints,
                             self._version if self._needs_run else None, self._max_output,
                             self._output, self._compiled.run_state)  # fmt: skip

    #: `run(message, topic, provider, rule_name, variables_out)` for a caller that has already
    #: put in force what `run` would: this rule's limits (`current_limits()` is `self.limits`)
    #: and its time budget when `timed`, and that has checked `termination` (RulesEngine, once
    #: per message and rule). An alias, not a wrapper: one call less on the hot path.
    execute = _execute

    @property
    def variable_names(self) -> tuple[str, ...]:
        """The SET variables, in assignment order (templates of the rule's actions see them)."""
        return tuple(name for name, _ in self._sets)

    def compile_template(self, text: str) -> CompiledTemplate:
        """A substitution template for one of this rule's action fields: it evaluates against
        the original message and may read the rule's SET variables."""
        return CompiledTemplate(text, self.sql_version, self.variable_names, self.limits)

    def variables(self, message: Message, topic: str | None, provider: Any = None) -> list[Any]:
        """The values of the SET variables for `message` (what templates see)."""
        if not self._sets:
            return []
        run = Run(message, topic, self.sql_version.value, None, provider, len(self._sets))
        with using_limits(self.limits), self.time_budget():
            sets = self.settled_statement().assignments
            self._assign(sets, message.document(self._whole_ints), run)
        return run.vars

    @contextmanager
    def time_budget(self) -> Iterator[None]:
        """Run the block under this rule's time budget when its evaluations need one (and no
        budget is running already)."""
        token = start_budget(self.limits.evaluation_timeout) if self._timed else None
        try:
            yield
        finally:
            stop_budget(token)

    def render_template(
        self,
        text: str,
        payload: Any,
        topic: str | None = None,
        context: Context | Mapping[str, Any] | None = None,
        *,
        provider: Any = None,
    ) -> str:
        """Render `text` as a template of one of this rule's actions for one message."""
        message = (
            payload if isinstance(payload, Message) else Message(payload, topic or "", context)
        )
        effective = topic
        if topic is not None:
            ingest = parse_basic_ingest(topic)
            effective = ingest.topic if ingest is not None else topic
        template = self.compile_template(text)
        with using_limits(self.limits), self.time_budget(), template.time_budget(self.limits):
            values = self.variables(message, effective, provider)
            return template.render(message, effective, values, provider, self._version)

    def _assign(self, sets: tuple[tuple[str, Any], ...], doc: Any, run: Run) -> None:
        total = 0
        for index, (name, fn) in enumerate(sets):
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
        with using_limits(self.limits), self.time_budget():
            return self._explain(payload, topic, context, provider)

    def _explain(
        self,
        payload: Any,
        topic: str | None,
        context: Context | Mapping[str, Any] | None,
        provider: Any,
    ) -> Explanation:
        message = (
            payload if isinstance(payload, Message) else Message(payload, topic or "", context)
        )
        if len(message.body) > self.limits.max_payload_bytes:
            self._refuse_payload(message.body)
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
        if self.termination is not None:
            return _terminated(self.termination)
        doc = message.document(self._whole_ints)
        run = Run(message, effective, self.sql_version.value, None, provider, len(self._sets))
        variables: dict[str, Any] = {}
        items: dict[str, Any] = {}
        try:
            settled = self.settled_statement()
            if settled.assignments:
                self._assign(settled.assignments, doc, run)
                variables = {name: run.vars[i] for i, (name, _) in enumerate(settled.assignments)}
            where_value: Any = True
            if settled.where is not None:
                where_value = settled.where(doc, run)
            for name, fn in settled.select.items:
                items[name] = fn(doc, run)
            if not truthy(where_value):
                shown = "Undefined" if where_value is U else repr(where_value)
                return Explanation(
                    False,
                    f"WHERE evaluated to {shown}, not true",
                    True,
                    where_value,
                    variables,
                    items,
                )
            output = self.run(message, effective, provider=provider)
        except RecursionError:
            text = _TOO_DEEP
            return Explanation(False, f"evaluation failed: {text}", True, U, variables, items,
                               error=text)  # fmt: skip
        except RuleTerminatedError as err:
            return _terminated(str(err))
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


# ---- topic rules (the CreateTopicRule payload) ------------------------------------------------


def _templated(path: str, templated: frozenset[str]) -> bool:
    if "*" in templated or path in templated:
        return True
    parts = path.split(".")
    return any(".".join(parts[:i]) + ".*" in templated for i in range(1, len(parts)))


class BoundAction:
    """One action of a topic rule, with the substitution templates of its parameters compiled
    once against the rule (they may read its SET variables)."""

    __slots__ = (
        "_rendered", "action_type", "constant_params", "deliver", "external_calls", "key", "params",
        "path", "render", "timed", "verbatim_json",
    )  # fmt: skip

    def __init__(
        self,
        key: str,
        params: Mapping[str, Any],
        rule: CompiledRule,
        path: str,
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        from iotsql.actions.types import ACTION_TYPES

        self.key = key
        self.action_type = ACTION_TYPES[key]
        self.params = params
        self.path = path
        #: External functions the action's templates call (name -> call sites).
        self.external_calls: dict[str, int] = {}
        #: Whether rendering needs a time budget: a template's worst case could reach it.
        self.timed = False
        self._rendered = self._compile(params, rule, path, "")
        #: The parameters when no template is in them and none is a container: each request
        #: gets a copy of it (`dict(constant_params)`) rather than a walk of the parameters.
        self.constant_params: dict[str, Any] | None = None
        rendered = self._rendered
        if isinstance(rendered, dict) and all(
            isinstance(k, str) and not isinstance(v, (CompiledTemplate, dict, list))
            for k, v in rendered.items()
        ):
            self.constant_params = rendered
        kind = self.action_type
        #: `render(params, payload, output, message)` of this action (ActionType.render, or
        #: the one ActionType.bind made for how this action's fields are written).
        self.render = kind.render if kind.bind is None else kind.bind(params, self._rendered)
        if kind.located:
            located: Any = self.render  # it takes region= and account_id= too (ActionType.located)
            self.render = functools.partial(located, region=region, account_id=account_id)
        #: The type's `deliver` when this action's parameters are constant and it renders with
        #: the type's own `render` (not a bound or located one): the engine then makes the
        #: payload alone and leaves the request to be rendered when read; else None.
        constant = self.constant_params
        self.deliver = (kind.deliver if constant is not None and self.render is kind.render
                        else None)  # fmt: skip
        #: Whether `deliver` hands an output value's JSON body on as it is (the type's
        #: `verbatim_json` for these parameters): a quiet publish then skips the call.
        self.verbatim_json = (constant is not None and self.deliver is not None
                              and kind.verbatim_json is not None
                              and kind.verbatim_json(constant))  # fmt: skip
        if key == "http":
            from iotsql.actions.destinations import check_http_action

            check_http_action(params, path)

    def _compile(self, value: Any, rule: CompiledRule, path: str, field_path: str) -> Any:
        if isinstance(value, Mapping):
            keyed = field_path in self.action_type.templated_keys
            return {
                (self._template(k, rule, f"{path}.{k}") if keyed else k):
                self._compile(v, rule, f"{path}.{k}", f"{field_path}.{k}" if field_path else k)
                for k, v in value.items()
            }  # fmt: skip
        if isinstance(value, list):
            return [self._compile(v, rule, f"{path}[{i}]", field_path) for i, v in enumerate(value)]
        if isinstance(value, str) and _templated(field_path, self.action_type.templated):
            return self._template(value, rule, path)
        return value

    def _template(self, value: str, rule: CompiledRule, path: str) -> Any:
        """`value` compiled as a substitution template (itself when it has none)."""
        try:
            template = rule.compile_template(value)
        except SqlParseError as err:
            raise RuleValidationError(f"invalid substitution template: {err}", path) from None
        for function, count in template.external_calls.items():
            self.external_calls[function] = self.external_calls.get(function, 0) + count
        self.timed = self.timed or template.timed
        return value if template.is_constant and "$" not in value else template

    def render_params(
        self, message: Message, topic: str | None, variables: list[Any], provider: Any, version: str
    ) -> dict[str, Any]:
        """The parameters with every template substituted for `message` (a dict of its own)."""
        constant = self.constant_params
        if constant is not None:
            return dict(constant)
        rendered = _render(self._rendered, message, topic, variables, provider, version)
        assert isinstance(rendered, dict)
        return rendered


def _render(
    value: Any, message: Message, topic: str | None, variables: list[Any], provider: Any,
    version: str,
) -> Any:  # fmt: skip
    if isinstance(value, CompiledTemplate):
        return value.render(message, topic, variables, provider, version)
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else _render(k, message, topic, variables, provider, version)):
            _render(v, message, topic, variables, provider, version)
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [_render(v, message, topic, variables, provider, version) for v in value]
    return value


#: TopicRulePayload.actions holds at most 10 actions in the API model (the quota as well).
_API_MAX_ACTIONS = 10


def _payload_size(payload: Mapping[str, Any]) -> int:
    """The size of a topic rule payload as the API counts it: its UTF-8 JSON."""

    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode("utf-8", "replace"))


def _refuse_republish_into_own_topics(
    topic_filter: str | None, actions: tuple[BoundAction, ...]
) -> None:
    """CreateTopicRule's loop check: a republish action whose topic, as written (templates not
    expanded, `$$` read as `$`), the rule's FROM filter matches as routing does. The error
    action is not checked, nor a topic that only a rendered template would bring into the
    filter's space."""
    if topic_filter is None:
        return
    for action in actions:
        if action.key != "republish":
            continue
        written = action.params.get("topic")
        if not isinstance(written, str):
            continue
        topic = written.replace("$$", "$")
        if filter_matches(topic_filter, topic):
            raise RepublishTopicSpaceError(topic_filter, written, f"{action.path}.topic")


class TopicRule:
    """A rule as CreateTopicRule defines it: `payload` is the `topicRulePayload` (sql,
    awsIotSqlVersion, ruleDisabled, description, actions, errorAction), validated against the
    IoT service model; bad SQL raises SqlParseError, anything else RuleValidationError naming
    the field."""

    __slots__ = (
        "account_id", "actions", "arn", "compiled", "created_at", "description", "disabled",
        "error_action", "has_variables", "name", "payload", "region", "sql_version", "termination",
        "timed", "version_text",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        payload: Mapping[str, Any],
        *,
        limits: Limits | None = None,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        created_at: float | None = None,
    ) -> None:
        import time

        from iotsql.actions.schema import (
            validate_rule_name,
            validate_shape,
            validate_topic_rule_payload,
        )

        limits = limits or DEFAULT_LIMITS
        validate_rule_name(name)
        # The limits first, so that the error names them (the API's own schema caps actions
        # at 10 too), and so that a raised limit lets more actions through the schema.
        actions = payload.get("actions") if isinstance(payload, Mapping) else None
        count = len(actions) if isinstance(actions, list) else 0
        if count > limits.max_actions:
            raise RuleLimitExceededError(
                "actions per rule", count, limits.max_actions, "topicRulePayload.actions"
            )
        if isinstance(actions, list) and count > _API_MAX_ACTIONS:
            validate_topic_rule_payload({**payload, "actions": actions[:_API_MAX_ACTIONS]})
            for index in range(_API_MAX_ACTIONS, count):
                validate_shape(actions[index], "Action", f"topicRulePayload.actions[{index}]")
        else:
            validate_topic_rule_payload(payload)
        size = _payload_size(payload)
        if size > limits.max_rule_payload_bytes:
            raise RuleLimitExceededError(
                "topic rule payload size (bytes)", size, limits.max_rule_payload_bytes,
                "topicRulePayload",
            )  # fmt: skip
        actions = payload.get("actions") or []
        self.name = name
        self.payload: dict[str, Any] = dict(payload)
        try:
            self.sql_version = SqlVersion.parse(payload.get("awsIotSqlVersion"))
        except IotSqlError as err:
            raise RuleValidationError(str(err), "topicRulePayload.awsIotSqlVersion") from None
        #: `sql_version.value`, read on every action the rule renders.
        self.version_text: str = self.sql_version.value
        self.compiled = CompiledRule(str(payload["sql"]), self.sql_version, limits)
        #: Whether the statement SETs variables (which the action templates may read).
        self.has_variables = bool(self.compiled.variable_names)
        self.disabled = bool(payload.get("ruleDisabled", False))
        self.description = str(payload.get("description") or "")
        #: Where the rule lives: its ARN, and the ARNs its actions build (Step Functions).
        self.region = region
        self.account_id = account_id
        self.actions = tuple(
            self._bind(action, f"topicRulePayload.actions[{i}]") for i, action in enumerate(actions)
        )
        _refuse_republish_into_own_topics(self.compiled.topic_filter, self.actions)
        error = payload.get("errorAction")
        self.error_action = self._bind(error, "topicRulePayload.errorAction") if error else None
        #: Why the rule ends without invoking any actions on every message, or None.
        self.termination = self.compiled.termination or self._template_termination(limits)
        #: Whether a message's evaluation and the rendering of its actions need a time budget.
        self.timed = (
            self.compiled.timed
            or any(action.timed for action in self.actions)
            or (self.error_action is not None and self.error_action.timed)
        )
        self.created_at = time.time() if created_at is None else created_at
        self.arn = f"arn:aws:iot:{region}:{account_id}:rule/{name}"

    def _template_termination(self, limits: Limits) -> str | None:
        """get_registry_data() is limited per statement together with the templates of the
        actions and the error action (the functions page)."""
        function = "get_registry_data"
        bound = [*self.actions, *([self.error_action] if self.error_action else [])]
        in_templates = sum(action.external_calls.get(function, 0) for action in bound)
        if not in_templates:
            return None
        total = self.compiled.external_calls.get(function, 0) + in_templates
        limit = limits.per_statement_limit(function)
        if limit is None or total <= limit:
            return None
        return (
            f"{call_limit_text(function)} is called {total} times in the statement and the "
            f"substitution templates of its actions; at most {limit} is allowed"
        )

    def _bind(self, action: Mapping[str, Any], path: str) -> BoundAction:
        keys = [k for k, v in action.items() if v is not None]
        if len(keys) != 1:
            raise RuleValidationError(
                f"an action names exactly one action type, not {len(keys)} ({', '.join(keys)})",
                path,
            )
        key = keys[0]
        from iotsql.actions.influxdb import check_element_templates

        is_error_action = path.endswith("errorAction")
        check_element_templates(key, action[key], f"{path}.{key}", is_error_action)
        if is_error_action and key == "http":
            _refuse_error_action_batching(action[key], f"{path}.{key}")
        return BoundAction(key, action[key], self.compiled, f"{path}.{key}", region=self.region,
                           account_id=self.account_id)  # fmt: skip

    @property
    def topic_filter(self) -> str | None:
        return self.compiled.topic_filter

    def to_get_topic_rule(self) -> dict[str, Any]:
        """The `aws iot get-topic-rule` output for this rule."""
        import datetime

        rule: dict[str, Any] = {
            "ruleName": self.name,
            "sql": self.compiled.sql,
            "description": self.description,
            "createdAt": datetime.datetime.fromtimestamp(
                self.created_at, datetime.timezone.utc
            ).isoformat(),
            "actions": list(self.payload.get("actions") or []),
            "ruleDisabled": self.disabled,
            "awsIotSqlVersion": self.sql_version.value,
        }
        if self.payload.get("errorAction"):
            rule["errorAction"] = self.payload["errorAction"]
        return {"ruleArn": self.arn, "rule": rule}

    def __repr__(self) -> str:
        state = "disabled" if self.disabled else "enabled"
        return f"TopicRule({self.name!r}, {self.compiled.sql!r}, {state})"


def _refuse_error_action_batching(params: Any, path: str) -> None:
    """An HTTP error action cannot batch: https-rule-action.html's example marks `batchConfig`
    "not allowed here", and http_batching.html says the error action cannot define batching of
    its own (it batches as the rule's HTTP action does)."""
    if not isinstance(params, Mapping):
        return
    for name in ("enableBatching", "batchConfig"):
        value = params.get(name)
        if value is None or (name == "enableBatching" and value is False):
            continue
        raise RuleValidationError(
            f"{name} is not allowed in the error action: an HTTP error action batches as the "
            "rule's HTTP action does, and cannot define batching of its own",
            f"{path}.{name}",
        )
