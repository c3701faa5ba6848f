"""AST to closures. Each node becomes, once per rule, a Python closure `fn(doc, run) -> value`
where `doc` is the document in scope (the payload, or the element of a nested query) and `run`
the evaluation state (message, SET variables, provider). Constant sub-trees are folded; common
shapes (attribute paths, comparisons with a constant) get specialised closures.

This module is the only one that knows evaluation order: SET, then WHERE, then SELECT. It also
performs every static check the AWS service performs at CreateTopicRule: unknown functions,
functions or syntax missing from the rule's SQL version, SET variable rules, per-statement
limits of external functions.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, DecimalException
from typing import Any, Final

from iotsql import ast
from iotsql import functions as _functions  # noqa: F401  (registers every built-in)
from iotsql.budget import current_budget, output_too_big
from iotsql.codegen import (
    ApplyShape,
    CallShape,
    ComparisonShape,
    DecimalChain,
    FunctionOfOne,
    LookupShape,
    PathShape,
    measure_unmeasured,
    set_nested,
    statement_function,
)
from iotsql.errors import (
    BudgetExceededError,
    IotSqlError,
    LimitExceededError,
    RuleTerminatedError,
    SqlParseError,
    SqlWarning,
)
from iotsql.functions.cast import CAST_TYPES
from iotsql.functions.registry import REGISTRY, FunctionSpec
from iotsql.limits import DEFAULT_LIMITS, Limits
from iotsql.message import Run
from iotsql.operators import (
    ARITHMETIC,
    BINARY_OPERATORS,
    as_bool,
    get_item,
    op_eq,
    op_neg,
    op_not,
)
from iotsql.sql_habits import function_habit
from iotsql.values import (
    DECIMAL_CONTEXT,
    INT_LIMIT,
    UNDEFINED,
    Binary,
    SqlVersion,
    finalize,
    json_size,
    json_size_at_least,
    settle_leaf,
    to_exact,
    whole_to_int,
)

U = UNDEFINED
Closure = Callable[[Any, Run], Any]


class _NotConstant:
    def __repr__(self) -> str:
        return "NOT_CONSTANT"


NOT_CONSTANT: Final = _NotConstant()

#: A statement with more calls than this of functions whose cost grows with their input (each
#: call bounded by the size limits: well under 10 ms on 128 KB) checks its time budget before
#: each of them; with fewer, their total cannot come near the budget, and they pay nothing.
LINEAR_CALLS_UNTIMED: Final = 32

_monotonic = time.monotonic


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled expression: its closure, and its value when it is a compile-time constant."""

    fn: Closure
    const: Any = NOT_CONSTANT
    #: What the code generator may write out instead of calling `fn` (codegen.PathShape,
    #: codegen.ComparisonShape), or None.
    shape: Any = None

    @property
    def is_const(self) -> bool:
        return self.const is not NOT_CONSTANT


def _constant(value: Any) -> Compiled:
    return Compiled(lambda doc, run: value, value)


def _applied(
    operand: Compiled,
    apply: Callable[[Any], Any],
    call: FunctionOfOne | None = None,
    chain: DecimalChain | None = None,
) -> Compiled:
    """`apply` of `operand`'s value, as a closure and as a shape the code generator writes
    out (with the operand inline; `call` or `chain`: what `apply` does, written out too)."""
    fn = operand.fn
    return Compiled(
        lambda doc, run: apply(fn(doc, run)), shape=ApplyShape(operand, apply, call, chain)
    )


@dataclass(frozen=True, slots=True)
class _Scope:
    """What names mean where an expression sits: the top level, or inside a nested query
    whose FROM may be aliased (`FROM arr AS a`)."""

    nested: bool = False
    alias: str | None = None


TOP_SCOPE = _Scope()


def truthy(value: Any) -> bool:
    """WHERE fires on Boolean true and on the String 'true' in any case, the coercion the
    Boolean operators apply."""
    return value is True or (type(value) is str and value.lower() == "true")


def store(value: Any, whole_ints: bool) -> Any:
    """A value as it goes into an output object or array (see `values.finalize`); a raw
    non-JSON body becomes its text when it is UTF-8, else Undefined."""
    t = type(value)
    if t is Decimal or t is float:
        return finalize(value, whole_ints)
    if t is Binary:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return U
    return value


@dataclass(frozen=True, slots=True)
class SelectPlan:
    """A compiled SELECT: `build(doc, run)` produces the output value (dict for a list, any
    value for VALUE, the document itself for a lone `*`), `items` the named closures (for
    explanations), `passthrough` whether the output is the document unchanged."""

    build: Closure
    items: tuple[tuple[str, Closure], ...]
    value: bool
    passthrough: bool
    #: The items as (key, Compiled) when every one is keyed (`build_keys`), for the code
    #: generator; else None.
    keyed: tuple[tuple[str, Compiled], ...] | None = None
    #: The items of `build_mixed` as (kind, key, Compiled), for the code generator; else None.
    steps: tuple[tuple[int, Any, Compiled], ...] | None = None


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """Everything `CompiledRule` needs to evaluate a statement."""

    statement: ast.Statement
    version: SqlVersion
    assignments: tuple[tuple[str, Closure], ...]
    where: Closure | None
    condition: Closure | None
    select: SelectPlan
    variable_count: int
    warnings: tuple[SqlWarning, ...]
    external_calls: Counter[str]
    needs_run: bool
    timed: bool = False
    #: Whether the closures read more of the Run than its message and topic (see
    #: Compiler.run_state); False when `needs_run` is only for the context functions.
    run_state: bool = True
    #: WHERE then SELECT as one generated function: `(doc, run) -> value or NOT_FIRED`.
    function: Closure | None = None
    #: Whether the statement reads the document only through paths, settling what they read
    #: (values.settle_leaf): it may evaluate on a raw decode (Message.raw_document).
    raw: bool = False


class Compiler:
    """Compiles one statement for one SQL version."""

    def __init__(
        self,
        sql: str,
        version: SqlVersion,
        limits: Limits = DEFAULT_LIMITS,
        registry: dict[str, FunctionSpec] | None = None,
    ) -> None:
        self.sql = sql
        self.version = version
        self.limits = limits
        self.registry = REGISTRY if registry is None else registry
        self.whole_ints = version.whole_decimals_are_ints
        self.variables: dict[str, int] = {}
        self.warnings: list[SqlWarning] = []
        self.external_calls: Counter[str] = Counter()
        # Whether calls of the external functions the docs limit per statement are counted at
        # run time: in a statement, not in a substitution template (its own evaluation).
        self.counts_calls = False
        # Whether any closure reads `run` (context functions, variables, the raw body); when
        # none does, evaluation passes None instead of building a Run per message.
        self.needs_run = False
        # Whether a closure reads more of `run` than the message and its topic (the context
        # functions' reads): SET variables, the counters of nested queries and external calls,
        # the provider, the raw body. When none does, CompiledRule.evaluate needs no full Run.
        self.run_state = False
        # Whether evaluations need a time budget, and whether calls of `linear` functions check
        # it: decided before compiling (plan_time_budget), from the statement's worst case.
        self.timed = False
        self.check_calls = False
        # Whether paths from the document settle what they read (compile_statement decides).
        self.raw = False
        # Whether the expressions are a substitution template's, where protobuf decode is not
        # supported (binary-payloads page, Limitations).
        self.in_template = False
        self._line_starts = [0]
        for index, char in enumerate(sql):
            if char == "\n":
                self._line_starts.append(index + 1)

    # ---- errors and source text ---------------------------------------------------------------

    def error(self, message: str, pos: ast.Pos, hint: str | None = None) -> SqlParseError:
        end = pos.end_column if pos.end_line == pos.line and pos is not ast.NOPOS else None
        return SqlParseError(message, self.sql, pos.line, pos.column, end_column=end, hint=hint)

    def source_text(self, pos: ast.Pos) -> str:
        if pos is ast.NOPOS or pos.line > len(self._line_starts):
            return ""
        start = self._line_starts[pos.line - 1] + pos.column - 1
        end_line = min(pos.end_line, len(self._line_starts))
        end = self._line_starts[end_line - 1] + pos.end_column - 1
        return self.sql[start:end].strip()

    def _require(self, available: bool, feature: str, pos: ast.Pos) -> None:
        if not available:
            raise self.error(
                f"{feature} needs SQL version 2016-03-23 or later "
                f"(this rule uses {self.version.value})",
                pos,
                hint="set awsIotSqlVersion to 2016-03-23",
            )

    # ---- the time budget ------------------------------------------------------------------------

    def plan_time_budget(self, roots: Iterable[ast.Node]) -> None:
        """Decide from the statement's worst case whether its evaluations need a time budget
        (`Limits.evaluation_timeout`), the way CEL estimates a cost before running: a nested
        query (its elements multiply), a function of unbounded cost (regular expressions, date
        patterns, md2, external lookups) or more than LINEAR_CALLS_UNTIMED calls of linear
        ones. Statements without any (most) pay nothing per message."""
        linear = 0
        for root in roots:
            for node in ast.walk(root):
                if isinstance(node, ast.Subquery):
                    self.timed = True
                elif isinstance(node, ast.Call):
                    spec = self.registry.get(node.name.lower())
                    if spec is None:
                        continue
                    if spec.cost == "unbounded":
                        self.timed = True
                    elif spec.cost == "linear":
                        linear += 1
        if linear > LINEAR_CALLS_UNTIMED:
            self.timed = self.check_calls = True

    # ---- statement ------------------------------------------------------------------------------

    def reads_by_paths_only(self, statement: ast.Statement) -> bool:
        """Whether the statement reads the message's document only through paths, whose values
        can be settled where they are read: no `*`, no nested query (whose elements its own
        paths read), no external function (an evaluation that meets an ambiguous number is run
        again on the settled document, which must cost no second call)."""
        for node in ast.walk(statement):
            if isinstance(node, (ast.Wildcard, ast.Subquery, ast.Exists)):
                return False
            if isinstance(node, ast.Call):
                spec = self.registry.get(node.name.lower())
                if spec is not None and (spec.external or _is_protobuf_decode(node)):
                    return False
        return True

    def compile_statement(self, statement: ast.Statement, raw: bool = True) -> CompiledStatement:
        """`raw`: compile paths that settle what they read when the statement allows it (see
        reads_by_paths_only); False for the settled document only."""
        self.counts_calls = True
        self.raw = raw and self.reads_by_paths_only(statement)
        self.plan_time_budget([statement])
        assignments: list[tuple[str, Closure]] = []
        if len(statement.assignments) > self.limits.max_variables:
            raise LimitExceededError(
                "SET variables", len(statement.assignments), self.limits.max_variables
            )
        for assignment in statement.assignments:
            name = assignment.name
            if len(name) > self.limits.max_variable_name:
                raise self.error(
                    f"variable name @{name} is longer than {self.limits.max_variable_name} characters",
                    assignment.pos,
                )
            if name in self.variables:
                raise self.error(
                    f"variable @{name} is assigned twice; variables are immutable", assignment.pos
                )
            compiled = self.expr(assignment.expr, TOP_SCOPE)
            self.variables[name] = len(self.variables)
            assignments.append((name, compiled.fn))
        where: Closure | None = None
        condition: Closure | None = None
        conjuncts: list[Compiled] | None = None
        if statement.where is not None:
            where, condition, conjuncts = self._where_clause(statement.where)
        select = self.select(statement.select, TOP_SCOPE)
        generated = statement_function(
            conjuncts=conjuncts, condition=condition, keyed=select.keyed, steps=select.steps,
            passthrough=select.passthrough and not select.value, select=select.build,
            store=store, whole_ints=self.whole_ints, max_output=self.limits.max_output_bytes,
        )  # fmt: skip
        # The generator's view of the items is not kept: the function holds what it needs.
        select = dataclasses.replace(select, keyed=None, steps=None)
        return CompiledStatement(
            statement=statement,
            version=self.version,
            assignments=tuple(assignments),
            where=where,
            condition=condition,
            select=select,
            variable_count=len(self.variables),
            warnings=tuple(self.warnings),
            external_calls=self.external_calls,
            needs_run=self.needs_run or bool(assignments),
            timed=self.timed,
            run_state=self.run_state or bool(assignments),
            function=generated,
            raw=self.raw,
        )

    def _where_clause(self, node: ast.Expr) -> tuple[Closure, Closure, list[Compiled] | None]:
        """The WHERE value (for explanations), the firing test, and the operands of the
        conjunction the test stops in at the first that is not true (for the code generator;
        None when it must run both sides). A conjunction stops at its first operand that is
        not true: the WHERE cannot fire then, whatever the rest gives, so this only skips
        work, unless the rest calls an external function (then both sides run, as the strict
        AND table reads)."""
        if isinstance(node, ast.Binary) and node.op == "AND":
            left_value, left_test, left_conjuncts = self._where_clause(node.left)
            calls = sum(self.external_calls.values())
            right_value, right_test, right_conjuncts = self._where_clause(node.right)
            pure = sum(self.external_calls.values()) == calls
            conjuncts = (
                left_conjuncts + right_conjuncts
                if pure and left_conjuncts is not None and right_conjuncts is not None
                else None
            )
            op_and = BINARY_OPERATORS["AND"]

            def value(doc: Any, run: Run) -> Any:
                return op_and(left_value(doc, run), right_value(doc, run))

            if pure:

                def test(doc: Any, run: Run) -> Any:
                    return left_test(doc, run) and right_test(doc, run)

            else:

                def test(doc: Any, run: Run) -> Any:
                    left = left_test(doc, run)
                    return right_test(doc, run) and left

            return value, test, conjuncts
        compiled = self.expr(node, TOP_SCOPE)
        fn = compiled.fn

        def fires(doc: Any, run: Run) -> Any:
            verdict = fn(doc, run)
            return verdict is True or truthy(verdict)

        return fn, fires, [compiled]

    # ---- SELECT ---------------------------------------------------------------------------------

    def item_name(self, expr: ast.Expr) -> str:
        """The key of an unaliased SELECT item: a path's last segment, a function's name as
        written, otherwise the item's source text."""
        if isinstance(expr, ast.Name):
            return expr.name
        if isinstance(expr, ast.Member):
            return expr.name
        if isinstance(expr, ast.Variable):
            return expr.name
        if isinstance(expr, ast.Call):
            return expr.name
        if isinstance(expr, ast.Cast):
            return "cast"
        return self.source_text(expr.pos) or ast.unparse(expr)

    def select(self, select: ast.Select, scope: _Scope) -> SelectPlan:
        """The SELECT builder. Each one measures what it puts in the output (strings by their
        length, arrays and objects with json_size_at_least, numbers not at all: their number
        is bounded by the statement's size) and fails past `Limits.max_output_bytes`: the
        output may repeat a value many times without copying it, and its JSON, which the
        actions get, is only made once it is known to fit."""
        whole = self.whole_ints
        max_output = self.limits.max_output_bytes
        if select.value:
            item = select.items[0]
            compiled = self.expr(item.expr, scope)
            fn = compiled.fn
            if isinstance(item.expr, ast.Wildcard):
                return SelectPlan(fn, (("*", fn),), True, True)
            top_level_arrays = self.version.supports_top_level_arrays or scope.nested

            def build_value(doc: Any, run: Run) -> Any:
                value = fn(doc, run)
                t = type(value)
                if t is list or t is dict or t is str:
                    if t is list and not top_level_arrays:
                        return U
                    size = json_size_at_least(value, max_output)
                    if size > max_output:
                        raise output_too_big(size, max_output)
                return store(value, whole)

            return SelectPlan(build_value, (("VALUE", fn),), True, False)

        items = select.items
        if len(items) == 1 and isinstance(items[0].expr, ast.Wildcard) and items[0].alias is None:
            identity = self.expr(items[0].expr, scope).fn
            return SelectPlan(identity, (("*", identity),), False, True)

        # Each entry: (kind, key, closure); kinds: 0 key, 1 nested alias path, 2 merge, 3 merge
        # of the message's document (a `*` of the statement itself, not of a nested query).
        plan: list[tuple[int, Any, Closure]] = []
        generated: list[tuple[int, Any, Compiled]] = []
        named: list[tuple[str, Closure]] = []
        keyed: list[tuple[str, Compiled]] = []
        for item in items:
            compiled = self.expr(item.expr, scope)
            fn = compiled.fn
            if item.alias is None and (
                item.members or isinstance(item.expr, (ast.Wildcard, ast.ObjectLit))
            ):
                # `*`, `x.*` and an object literal merge the keys of their object (nothing
                # when the value is not an object).
                document = isinstance(item.expr, ast.Wildcard) and not scope.nested
                plan.append((3 if document else 2, None, fn))
                generated.append((3 if document else 2, None, compiled))
                if item.members:
                    named.append((ast.unparse(item), fn))
                else:
                    named.append(("*" if isinstance(item.expr, ast.Wildcard) else "{...}", fn))
            elif item.alias is not None and len(item.alias) > 1:
                plan.append((1, item.alias, fn))
                generated.append((1, item.alias, compiled))
                named.append((".".join(item.alias), fn))
            else:
                key = item.alias[0] if item.alias else self.item_name(item.expr)
                plan.append((0, key, fn))
                named.append((key, fn))
                keyed.append((key, compiled))
                generated.append((0, key, compiled))

        if all(kind == 0 for kind, _, _ in plan):
            pairs = tuple((key, fn) for _, key, fn in plan)

            def build_keys(doc: Any, run: Run) -> Any:
                out: dict[str, Any] = {}
                size = 0
                for key, fn in pairs:
                    value = fn(doc, run)
                    if value is not U:
                        # A double is never whole in 2016-03-23 (payloads, literals, results
                        # are normalised where they arise), so only Decimals and raw bodies
                        # need converting on their way into the output.
                        t = type(value)
                        if t is float or t is int or t is bool:
                            pass
                        elif t is str:
                            size += len(value)
                            if size > max_output:
                                raise output_too_big(size, max_output)
                        elif t is dict or t is list:
                            size += json_size_at_least(value, max_output - size)
                            if size > max_output:
                                raise output_too_big(size, max_output)
                        elif t is Decimal or t is Binary:
                            value = store(value, whole)
                            if value is U:
                                continue
                            if type(value) is str:
                                size += len(value)
                                if size > max_output:
                                    raise output_too_big(size, max_output)
                        out[key] = value
                return out

            return SelectPlan(build_keys, tuple(named), False, False, tuple(keyed))

        steps = tuple(plan)

        def build_mixed(doc: Any, run: Run) -> Any:
            out: dict[str, Any] = {}
            size = 0
            # The message's document merged by `*` and not measured yet, and a bound of its
            # measure: the body's length (every character, number and separator the measure
            # counts is in the body). It is measured only once that bound could reach the
            # limit: the same refusals, without walking the document on every message.
            unmeasured = None
            bound = 0
            for kind, key, fn in steps:
                value = fn(doc, run)
                if value is U:
                    continue
                if kind >= 2:
                    if type(value) is dict:
                        if kind == 3 and unmeasured is None and run is not None:
                            bound = len(run.message.body)
                            unmeasured = value
                        else:
                            size += json_size_at_least(value, max_output - size)
                        if size + bound > max_output:
                            size = measure_unmeasured(size, unmeasured, max_output)
                            unmeasured, bound = None, 0
                        out.update(value)
                    continue
                t = type(value)
                if t is Decimal or t is float or t is Binary:  # (what `store` converts)
                    value = store(value, whole)
                    if value is U:
                        continue
                    t = type(value)
                if t is str:
                    size += len(value) + 2  # (json_size_at_least of a string)
                elif t is dict or t is list:
                    size += json_size_at_least(value, max_output - size)
                if size + bound > max_output:  # (true only just after size grew)
                    size = measure_unmeasured(size, unmeasured, max_output)
                    unmeasured, bound = None, 0
                if kind == 0:
                    out[key] = value
                else:
                    set_nested(out, key, value)
            return out

        return SelectPlan(build_mixed, tuple(named), False, False, None, tuple(generated))

    # ---- expressions ----------------------------------------------------------------------------

    def expr(self, node: ast.Expr, scope: _Scope) -> Compiled:
        method = _DISPATCH.get(type(node))
        if method is None:
            raise self.error(
                f"unsupported expression {type(node).__name__}", getattr(node, "pos", ast.NOPOS)
            )
        return method(self, node, scope)

    def _int(self, node: ast.IntLit, scope: _Scope) -> Compiled:
        if len(str(abs(node.value))) > 34:
            raise self.error("an Int literal has at most 34 digits", node.pos)
        return _constant(node.value)

    def _decimal(self, node: ast.DecimalLit, scope: _Scope) -> Compiled:
        try:
            exact = DECIMAL_CONTEXT.create_decimal(node.text)
        except DecimalException:
            raise self.error(
                "a Decimal literal must be between 1E-999 and 9.999...E999 in magnitude", node.pos
            ) from None
        if self.whole_ints:
            whole = whole_to_int(exact)
            if type(whole) is int:
                return _constant(whole)
        as_float = float(exact)
        if Decimal(repr(as_float)) == exact:
            # A double compares and computes exactly like this decimal (see values.to_exact).
            return _constant(as_float)
        return _constant(exact)

    def _string(self, node: ast.StringLit, scope: _Scope) -> Compiled:
        return _constant(node.value)

    def _bool(self, node: ast.BoolLit, scope: _Scope) -> Compiled:
        return _constant(node.value)

    def _null(self, node: ast.NullLit, scope: _Scope) -> Compiled:
        return _constant(None)

    def _wildcard(self, node: ast.Wildcard, scope: _Scope) -> Compiled:
        return Compiled(lambda doc, run: doc)

    def _name(self, node: ast.Name, scope: _Scope) -> Compiled:
        if scope.alias is not None and node.name == scope.alias:
            return Compiled(lambda doc, run: doc)
        return self._document_path((node.name,), scope)

    def _document_path(self, keys: tuple[str, ...], scope: _Scope) -> Compiled:
        """`a.b.c` from the document in scope; from a raw document, settled where read."""
        settle = self.raw and not scope.nested
        fn = _path_closure(None, keys)
        if settle:
            fn = _settled(fn, self.whole_ints)
        return Compiled(fn, shape=PathShape(keys, settle))

    def _variable(self, node: ast.Variable, scope: _Scope) -> Compiled:
        index = self.variables.get(node.name)
        if index is None:
            raise self.error(
                f"variable @{node.name} is not assigned by an earlier SET", node.pos,
                hint="assign it first: SET @name = expression SELECT ...",
            )  # fmt: skip

        self.needs_run = self.run_state = True

        def variable(doc: Any, run: Run) -> Any:
            return run.vars[index]

        return Compiled(variable)

    def _member(self, node: ast.Member, scope: _Scope) -> Compiled:
        keys: list[str] = []
        base: ast.Expr = node
        while isinstance(base, ast.Member):
            keys.append(base.name)
            base = base.base
        keys.reverse()
        if isinstance(base, ast.Wildcard) or (
            isinstance(base, ast.Name) and scope.alias is not None and base.name == scope.alias
        ):
            return self._document_path(tuple(keys), scope)
        if isinstance(base, ast.Name):
            return self._document_path((base.name, *keys), scope)
        root = self.expr(base, scope)
        if root.is_const:
            value = root.const
            for key in keys:
                value = value.get(key, U) if type(value) is dict else U
            return _constant(value)
        return Compiled(_path_closure(root.fn, tuple(keys)))

    def _index(self, node: ast.Index, scope: _Scope) -> Compiled:
        base = self.expr(node.base, scope)
        key = self.expr(node.index, scope)
        if base.is_const and key.is_const:
            return _constant(get_item(base.const, key.const))
        base_fn, key_fn = base.fn, key.fn

        def index(doc: Any, run: Run) -> Any:
            return get_item(base_fn(doc, run), key_fn(doc, run))

        return Compiled(index)

    def _unary(self, node: ast.Unary, scope: _Scope) -> Compiled:
        operand = self.expr(node.operand, scope)
        if node.op == "NOT":
            op = op_not
        else:
            op = self._numeric(op_neg)
        if operand.is_const:
            return _constant(op(operand.const))
        return _applied(operand, op)

    def _numeric(self, op: Callable[..., Any]) -> Callable[..., Any]:
        """`op` with 2016-03-23's whole-number rule applied to its Decimal results."""
        if not self.whole_ints:
            return op

        def whole(*args: Any) -> Any:
            result = op(*args)
            if type(result) is Decimal or type(result) is float:
                return whole_to_int(result)
            return result

        return whole

    def _binary(self, node: ast.Binary, scope: _Scope) -> Compiled:
        if node.op in _DECIMAL_OPS:
            chain = self._arithmetic_chain(node, scope)
            if chain is not None:
                return chain
        left = self.expr(node.left, scope)
        right = self.expr(node.right, scope)
        op = BINARY_OPERATORS[node.op]
        if node.op in ARITHMETIC:
            op = self._numeric(op)
        if left.is_const and right.is_const:
            return _constant(op(left.const, right.const))
        lf, rf = left.fn, right.fn
        comparison = _specialised_comparison(node.op, left, right)
        if comparison is not None:
            return Compiled(comparison, shape=ComparisonShape(node.op, left, right.const))
        arithmetic = _specialised_arithmetic(node.op, left, right, op, self.whole_ints)
        if arithmetic is not None:
            return arithmetic
        if node.op in ("AND", "OR"):
            both = node.op == "AND"

            def logical(doc: Any, run: Run) -> Any:
                a = lf(doc, run)
                b = rf(doc, run)
                if type(a) is bool and type(b) is bool:
                    return (a and b) if both else (a or b)
                return op(a, b)

            return Compiled(logical)

        def binary(doc: Any, run: Run) -> Any:
            return op(lf(doc, run), rf(doc, run))

        return Compiled(binary)

    def _numeric_literal(self, node: ast.Expr) -> Any:
        """The value of a numeric literal (`9`, `2.5`, `-3`), or NOT_CONSTANT."""
        if isinstance(node, ast.IntLit):
            return self._int(node, TOP_SCOPE).const
        if isinstance(node, ast.DecimalLit):
            return self._decimal(node, TOP_SCOPE).const
        if isinstance(node, ast.Unary) and node.op == "-":
            inner = self._numeric_literal(node.operand)
            if inner is not NOT_CONSTANT:
                return self._numeric(op_neg)(inner)
        return NOT_CONSTANT

    def _arithmetic_chain(self, node: ast.Binary, scope: _Scope) -> Compiled | None:
        """`((x * 9) / 5) + 32`: two or more arithmetic steps, each with a numeric literal, on
        one expression. A double or Decimal operand runs every step in decimal arithmetic and
        is normalised once at the end (2016-03-23's intermediate Int-or-Decimal types never
        change a value here, only the final type); other operands take the operators one by
        one, exactly as unfused."""
        steps: list[tuple[str, Any, bool]] = []
        current: ast.Expr = node
        while isinstance(current, ast.Binary) and current.op in _DECIMAL_OPS:
            op = current.op
            on_right = self._numeric_literal(current.right)
            if on_right is not NOT_CONSTANT:
                steps.append((op, on_right, True))
                current = current.left
                continue
            on_left = self._numeric_literal(current.left)
            if on_left is NOT_CONSTANT:
                break
            steps.append((op, on_left, False))
            current = current.right
        if len(steps) < 2 or self._numeric_literal(current) is not NOT_CONSTANT:
            return None
        for op, constant, on_right in steps:
            if type(constant) not in (int, float, Decimal) or (
                op == "/" and on_right and constant == 0
            ):
                return None
        base = self.expr(current, scope)
        plan = tuple(
            (_DECIMAL_OPS[op], to_exact(constant), on_right,
             self._numeric(BINARY_OPERATORS[op]), constant)
            for op, constant, on_right in reversed(steps)
        )  # fmt: skip
        whole_ints = self.whole_ints

        def chain(value: Any) -> Any:
            t = type(value)
            if t is float:
                number = Decimal(repr(value))
            elif t is Decimal:
                number = value
            elif value is U:  # (every step of Undefined is Undefined: a missing attribute)
                return U
            else:
                for _, _, right, general, constant in plan:
                    value = general(value, constant) if right else general(constant, value)
                return value
            try:
                for decimal_op, exact, right, _, _ in plan:
                    number = decimal_op(number, exact) if right else decimal_op(exact, number)
            except _DECIMAL_FAILURES:
                return U
            if whole_ints:
                integral = number.to_integral_value()
                if integral == number and -INT_LIMIT < number < INT_LIMIT:
                    return int(integral)
            return number

        written = DecimalChain(tuple((step[0], step[1], step[2]) for step in plan))
        return _applied(base, chain, chain=written)

    def _case(self, node: ast.Case, scope: _Scope) -> Compiled:
        compiled_whens = [
            (self.expr(w.condition, scope), self.expr(w.result, scope)) for w in node.whens
        ]
        whens = tuple((condition.fn, result.fn) for condition, result in compiled_whens)
        compiled_default = self.expr(node.default, scope) if node.default is not None else None
        default = compiled_default.fn if compiled_default is not None else None
        if node.subject is None:

            def searched(doc: Any, run: Run) -> Any:
                for condition, result in whens:
                    if as_bool(condition(doc, run)) is True:
                        return result(doc, run)
                return default(doc, run) if default is not None else U

            return Compiled(searched)
        compiled_subject = self.expr(node.subject, scope)
        subject = compiled_subject.fn
        candidates = [condition for condition, _ in compiled_whens]
        if all(c.is_const and type(c.const) is str for c in candidates):
            # Only a String equals a String (mismatched types are false): a table lookup.
            table: dict[str, Closure] = {}
            for candidate, (_, result) in zip(candidates, whens, strict=False):
                table.setdefault(candidate.const, result)
            shape = None
            if all(outcome.is_const for _, outcome in compiled_whens) and (
                compiled_default is None or compiled_default.is_const
            ):
                constants: dict[str, Any] = {}
                for condition, outcome in compiled_whens:
                    constants.setdefault(condition.const, outcome.const)
                otherwise = compiled_default.const if compiled_default is not None else U
                shape = LookupShape(compiled_subject, constants, otherwise)

            def lookup(doc: Any, run: Run) -> Any:
                value = subject(doc, run)
                if value is U:
                    return U
                if type(value) is str:
                    found = table.get(value)
                    if found is not None:
                        return found(doc, run)
                return default(doc, run) if default is not None else U

            return Compiled(lookup, shape=shape)

        def simple(doc: Any, run: Run) -> Any:
            value = subject(doc, run)
            if value is U:
                return U
            for candidate, result in whens:
                if op_eq(value, candidate(doc, run)) is True:
                    return result(doc, run)
            return default(doc, run) if default is not None else U

        return Compiled(simple)

    def _array(self, node: ast.ArrayLit, scope: _Scope) -> Compiled:
        self._require(self.version.supports_literals, "an array literal", node.pos)
        items = [self.expr(i, scope) for i in node.items]
        whole = self.whole_ints
        if all(i.is_const for i in items):
            values = [i.const for i in items]
            if any(v is U for v in values):
                return _constant(U)
            return Compiled(lambda doc, run: [store(v, whole) for v in values])
        fns = tuple(i.fn for i in items)

        def array(doc: Any, run: Run) -> Any:
            out = []
            for fn in fns:
                value = fn(doc, run)
                if value is U:
                    return U
                out.append(store(value, whole))
            return out

        return Compiled(array)

    def _object(self, node: ast.ObjectLit, scope: _Scope) -> Compiled:
        self._require(self.version.supports_literals, "an object literal", node.pos)
        entries = tuple((key, self.expr(value, scope).fn) for key, value in node.entries)
        whole = self.whole_ints

        def obj(doc: Any, run: Run) -> Any:
            out: dict[str, Any] = {}
            for key, fn in entries:
                value = fn(doc, run)
                if value is not U:
                    value = store(value, whole)
                    if value is not U:
                        out[key] = value
            return out

        return Compiled(obj)

    def _subquery(self, node: ast.Subquery, scope: _Scope) -> Compiled:
        self._require(self.version.supports_nested_queries, "a nested query", node.pos)
        source = self.expr(node.source, scope).fn
        inner = _Scope(nested=True, alias=node.alias)
        where = self.expr(node.where, inner).fn if node.where is not None else None
        build = self.select(node.select, inner).build
        # Nested queries can multiply each other (a query per element of a query per
        # element...): the elements they visit in one evaluation are counted on the Run.
        limit = self.limits.max_nested_query_elements
        max_output = self.limits.max_output_bytes
        self.needs_run = self.run_state = True

        def subquery(doc: Any, run: Run) -> Any:
            elements = source(doc, run)
            if type(elements) is not list:
                if elements is U or elements is None or type(elements) is Binary:
                    return U
                # A non-array source is a one-element array (observed on AWS: FROM *).
                elements = [elements]
            if run is not None:
                run.elements += len(elements)
                if run.elements > limit:
                    raise BudgetExceededError(
                        "nested query elements per evaluation", run.elements, limit
                    )
            out = []
            size = 1
            # Between two elements: the time budget (each element may call functions), and
            # the size of the array built so far (one output per element, each possibly big).
            budget = current_budget()
            for element in elements:
                if budget is not None and _monotonic() > budget.deadline:
                    raise budget.exceeded()
                if where is not None and not truthy(where(element, run)):
                    continue
                value = build(element, run)
                if value is not U:
                    size += json_size_at_least(value, max_output - size) + 1
                    if size > max_output:
                        raise output_too_big(size, max_output)
                    out.append(value)
            return out

        return Compiled(subquery)

    def _exists(self, node: ast.Exists, scope: _Scope) -> Compiled:
        query = self._subquery(node.query, scope).fn

        def exists(doc: Any, run: Run) -> Any:
            result = query(doc, run)
            return type(result) is list and len(result) > 0

        return Compiled(exists)

    def _cast(self, node: ast.Cast, scope: _Scope) -> Compiled:
        entry = CAST_TYPES.get(node.type_name.lower())
        if entry is None:
            # AWS-observed (re:Post): CreateTopicRule answers "Unknown data type 'BIGINT'" at the
            # type's own position.
            raise self.error(
                f"unknown data type {node.type_name!r} in cast()",
                node.type_pos if node.type_pos != ast.NOPOS else node.pos,
                hint="use String, Int, Integer, Double, Decimal, Bool or Boolean",
            )
        convert, since = entry
        self._require(self.version.at_least(since), f"cast(... AS {node.type_name})", node.pos)
        convert = self._numeric(convert)
        operand = self.expr(node.expr, scope)
        if operand.is_const:
            return _constant(convert(operand.const))
        return _applied(operand, convert)

    def _check_default_reads_no_resource(self, default: ast.Expr) -> None:
        """get_or_default's default may not call a function that reads a customer resource
        (the functions page names get_secret, get_dynamodb, aws_lambda, get_thing_shadow,
        protobuf decode and machinelearning_predict; get_registry_data reads one too)."""
        for node in ast.walk(default):
            if not isinstance(node, ast.Call):
                continue
            spec = self.registry.get(node.name.lower())
            if spec is not None and (spec.external or _is_protobuf_decode(node)):
                raise self.error(
                    f"get_or_default()'s default value cannot call {call_limit_text(spec.name)}"
                    ": functions that read customer resources are not allowed there",
                    node.pos,
                    hint="the default can be a literal or any expression that reads only the message",
                )

    def _call(self, node: ast.Call, scope: _Scope) -> Compiled:
        spec = self.registry.get(node.name.lower())
        if spec is None:
            habit = function_habit(node.name, list(self.registry))
            raise self.error(f"unknown function {node.name}()", node.pos,
                             hint=habit.hint if habit else None)  # fmt: skip
        if not spec.available_in(self.version):
            raise self.error(
                f"function {spec.name}() needs SQL version {spec.since.value} or later "
                f"(this rule uses {self.version.value})",
                node.pos,
                hint=f"set awsIotSqlVersion to {spec.since.value}",
            )
        if spec.lazy and spec.name == "get_or_default" and len(node.args) == 2:
            self._check_default_reads_no_resource(node.args[1])
        compiled = [self.expr(arg, scope) for arg in node.args]
        if not spec.accepts(len(node.args)):
            self.warnings.append(
                SqlWarning(
                    f"{spec.name}() takes {spec.arity_text} argument(s), not {len(node.args)}: "
                    "AWS IoT evaluates this call to Undefined",
                    node.pos.line,
                    node.pos.column,
                    code="arity",
                )
            )
            return _constant(U)
        if self.in_template and _is_protobuf_decode(node):
            raise self.error(
                "protobuf decode(..., 'proto') is not supported in substitution templates",
                node.pos,
                hint="decode in the rule's SQL (SET @msg = decode(...)) and use ${@msg.field}",
            )
        limit = None
        if spec.external or _is_protobuf_decode(node):
            self.external_calls[spec.name] += 1
            limit = self.limits.per_statement_limit(spec.name)
            calls = self.external_calls[spec.name]
            if limit is not None and calls == limit + 1:
                # Legal SQL that AWS accepts, but the rule then ends without invoking any actions
                # (the functions page); CompiledRule.termination says so at run time.
                self.warnings.append(SqlWarning(
                    f"{call_limit_text(spec.name)} is called {calls} times in this statement; "
                    f"at most {limit} is allowed: the rule terminates without invoking any "
                    "actions", node.pos.line, node.pos.column, code="call-limit",
                ))  # fmt: skip
        for position in spec.no_variable_args:
            if -len(node.args) <= position < len(node.args):
                argument = node.args[position]
                if any(isinstance(n, ast.Variable) for n in ast.walk(argument)):
                    raise self.error(
                        f"argument {position % len(node.args) + 1} of {spec.name}() cannot read a "
                        "SET variable: role ARNs and arguments that switch a function's mode do "
                        "not support variables",
                        argument.pos,
                        hint="write the value itself in the call",
                    )
        for position in spec.literal_args:
            if position < len(node.args) and not isinstance(node.args[position], ast.StringLit):
                raise self.error(
                    f"argument {position + 1} of {spec.name}() must be a literal string",
                    node.args[position].pos,
                )
        fns = [c.fn for c in compiled]
        if spec.context or spec.lazy or spec.external or spec.raw_star:
            self.needs_run = True
            if spec.family != "context" or spec.lazy or spec.external or spec.raw_star:
                self.run_state = True
        if spec.raw_star:
            for position, arg in enumerate(node.args):
                if isinstance(arg, ast.Wildcard) and not scope.nested:
                    fns[position] = _raw_body
        impl = spec.impl
        if spec.lazy:
            arguments = tuple(fns)
            return Compiled(lambda doc, run: impl(run, doc, arguments))
        invoke = _invoker(spec, self.whole_ints)
        if spec.pure and all(c.is_const for c in compiled) and not spec.raw_star:
            return _constant(invoke(None, [c.const for c in compiled]))
        shape = None
        if len(compiled) == 1 and compiled[0].is_const and not spec.raw_star:
            # `topic(3)`: a context (or impure) function of a constant, called without
            # evaluating its argument on every message.
            closure = _call_on_constant(spec, compiled[0].const, self.whole_ints)
            if not (compiled[0].const is U and spec.propagate_undefined):
                shape = CallShape(impl, (compiled[0].const,), spec.context)
        elif not compiled and not spec.raw_star:
            closure = _call_closure(spec, (), self.whole_ints)
            shape = CallShape(impl, (), spec.context)
        else:
            of_one = _call_of_one(spec, compiled, self.whole_ints)
            if (
                of_one is not None
                and limit is None
                and not (self.check_calls and spec.cost == "linear")
            ):
                operand = next(c for c in compiled if not c.is_const)
                return _applied(operand, *of_one)
            closure = _call_closure(spec, tuple(fns), self.whole_ints)
        if limit is not None and self.counts_calls:
            closure = _counted_call(spec.name, limit, closure)
            shape = None
        if self.check_calls and spec.cost == "linear":
            closure = _checked_call(closure)
            shape = None
        return Compiled(closure, shape=shape)


_DISPATCH: dict[type, Callable[[Compiler, Any, _Scope], Compiled]] = {
    ast.IntLit: Compiler._int,
    ast.DecimalLit: Compiler._decimal,
    ast.StringLit: Compiler._string,
    ast.BoolLit: Compiler._bool,
    ast.NullLit: Compiler._null,
    ast.Wildcard: Compiler._wildcard,
    ast.Name: Compiler._name,
    ast.Variable: Compiler._variable,
    ast.Member: Compiler._member,
    ast.Index: Compiler._index,
    ast.Unary: Compiler._unary,
    ast.Binary: Compiler._binary,
    ast.Case: Compiler._case,
    ast.ArrayLit: Compiler._array,
    ast.ObjectLit: Compiler._object,
    ast.Subquery: Compiler._subquery,
    ast.Exists: Compiler._exists,
    ast.Cast: Compiler._cast,
    ast.Call: Compiler._call,
}


def call_limit_text(function: str) -> str:
    """How a limited external function is named in messages."""
    return "protobuf decode(..., 'proto')" if function == "decode" else f"{function}()"


def _counted_call(function: str, limit: int, closure: Closure) -> Closure:
    """`closure`, counting its calls in the evaluation: past `limit` (a call in a nested query
    runs once per element) the rule terminates without invoking any actions."""

    def counted(doc: Any, run: Run) -> Any:
        calls = run.calls
        if calls is None:
            calls = run.calls = {}
        made = calls.get(function, 0) + 1
        calls[function] = made
        if made > limit:
            raise RuleTerminatedError(
                f"{call_limit_text(function)} was called {made} times in one evaluation; "
                f"at most {limit} is allowed",
                function,
            )
        return closure(doc, run)

    return counted


def _is_protobuf_decode(node: ast.Call) -> bool:
    """`decode(value, 'proto', ...)`: a protobuf decode, which the functions page limits per
    statement like the external functions (base64 `decode` is not limited)."""
    return (
        node.name.lower() == "decode"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.StringLit)
        and node.args[1].value == "proto"
    )


def _raw_body(doc: Any, run: Run) -> Any:
    return run.message.body


def _settled(walk: Closure, whole_ints: bool) -> Closure:
    """`walk` (a path from a raw document), with the value it reads settled."""

    def settled(doc: Any, run: Run) -> Any:
        return settle_leaf(walk(doc, run), whole_ints)

    return settled


def _path_closure(root: Closure | None, keys: tuple[str, ...]) -> Closure:
    """`a.b.c`: walk object members from the document (or from `root`'s value)."""
    if root is None and len(keys) == 1:
        (key,) = keys

        def field(doc: Any, run: Run) -> Any:
            return doc.get(key, U) if type(doc) is dict else U

        return field
    if root is None and len(keys) == 2:
        first, second = keys

        def field2(doc: Any, run: Run) -> Any:
            if type(doc) is dict:
                value = doc.get(first, U)
                if type(value) is dict:
                    return value.get(second, U)
            return U

        return field2

    if root is None and len(keys) == 3:
        k1, k2, k3 = keys

        def field3(doc: Any, run: Run) -> Any:
            if type(doc) is dict:
                value = doc.get(k1, U)
                if type(value) is dict:
                    value = value.get(k2, U)
                    if type(value) is dict:
                        return value.get(k3, U)
            return U

        return field3

    def path(doc: Any, run: Run) -> Any:
        value = doc if root is None else root(doc, run)
        for key in keys:
            if type(value) is not dict:
                return U
            value = value.get(key, U)
        return value

    return path


_COMPARED: Final = frozenset(("<", "<=", ">", ">=", "=", "<>"))


def _specialised_comparison(op: str, left: Compiled, right: Compiled) -> Closure | None:
    """A comparison of an expression with a numeric constant, the most common WHERE shape:
    compare natively when the value is a number, else fall back to the general table."""
    if left.is_const or not right.is_const:
        return None
    constant = right.const
    general = BINARY_OPERATORS[op]
    lf = left.fn
    if type(constant) is str and op in ("=", "<>"):
        # A String equals only a String; any other operand takes the general table.
        equal = op == "="

        def string_eq(doc: Any, run: Run) -> Any:
            value = lf(doc, run)
            if type(value) is str:
                return (value == constant) is equal
            return general(value, constant)

        return string_eq
    if type(constant) not in (int, float) or op not in _COMPARED:
        return None
    if op == ">":

        def gt(doc: Any, run: Run) -> Any:
            value = lf(doc, run)
            t = type(value)
            if t is float or t is int:
                return value > constant
            return general(value, constant)

        return gt
    if op == ">=":

        def ge(doc: Any, run: Run) -> Any:
            value = lf(doc, run)
            t = type(value)
            if t is float or t is int:
                return value >= constant
            return general(value, constant)

        return ge
    if op == "<":

        def lt(doc: Any, run: Run) -> Any:
            value = lf(doc, run)
            t = type(value)
            if t is float or t is int:
                return value < constant
            return general(value, constant)

        return lt
    if op == "<=":

        def le(doc: Any, run: Run) -> Any:
            value = lf(doc, run)
            t = type(value)
            if t is float or t is int:
                return value <= constant
            return general(value, constant)

        return le
    if op == "=":

        def eq(doc: Any, run: Run) -> Any:
            value = lf(doc, run)
            t = type(value)
            if t is float or t is int:
                return value == constant
            return general(value, constant)

        return eq

    def ne(doc: Any, run: Run) -> Any:
        value = lf(doc, run)
        t = type(value)
        if t is float or t is int:
            return value != constant
        return general(value, constant)

    return ne


_DECIMAL_OPS: Final = {
    "+": DECIMAL_CONTEXT.add,
    "-": DECIMAL_CONTEXT.subtract,
    "*": DECIMAL_CONTEXT.multiply,
    "/": DECIMAL_CONTEXT.divide,
}
_DECIMAL_FAILURES: Final = (DecimalException, ArithmeticError)


def _specialised_arithmetic(
    op: str, left: Compiled, right: Compiled, general: Callable[[Any, Any], Any], whole_ints: bool
) -> Compiled | None:
    """`x <op> constant` (or `constant <op> x`) where the constant is a number: the exact
    decimal of the constant is computed once, and a double operand goes straight to decimal
    arithmetic; anything else takes the general operator."""
    decimal_op = _DECIMAL_OPS.get(op)
    if decimal_op is None or left.is_const == right.is_const:
        return None
    constant = right.const if right.is_const else left.const
    if type(constant) not in (int, float, Decimal) or (op == "/" and constant == 0):
        return None
    exact = to_exact(constant)
    variable = left if right.is_const else right
    constant_on_right = right.is_const
    int_constant = type(constant) is int

    def arithmetic(value: Any) -> Any:
        t = type(value)
        if t is float:
            operand = Decimal(repr(value))
        elif t is Decimal:
            operand = value
        elif t is int and not int_constant:
            operand = Decimal(value)
        else:
            return general(value, constant) if constant_on_right else general(constant, value)
        try:
            result = decimal_op(operand, exact) if constant_on_right else decimal_op(exact, operand)
        except _DECIMAL_FAILURES:
            return U
        if whole_ints:
            integral = result.to_integral_value()
            if integral == result and -INT_LIMIT < result < INT_LIMIT:
                return int(integral)
        return result

    written = DecimalChain(((decimal_op, exact, constant_on_right),))
    return _applied(variable, arithmetic, chain=written)


def _checked_call(call: Closure) -> Closure:
    """`call` preceded by a check of the evaluation's time budget (see plan_time_budget)."""

    def checked(doc: Any, run: Run) -> Any:
        budget = current_budget()
        if budget is not None and _monotonic() > budget.deadline:
            raise budget.exceeded()
        return call(doc, run)

    return checked


def _invoker(spec: FunctionSpec, whole_ints: bool) -> Callable[[Run | None, list[Any]], Any]:
    """Call `spec` on evaluated arguments with AWS's rules: Undefined in, Undefined out (unless
    the function takes Undefined), any failure of the implementation is Undefined, and
    2016-03-23 turns whole-number Decimal results into Ints."""
    impl = spec.impl
    propagate = spec.propagate_undefined
    context = spec.context

    def invoke(run: Run | None, args: list[Any]) -> Any:
        if propagate:
            for arg in args:
                if arg is U:
                    return U
        try:
            result = impl(run, *args) if context else impl(*args)
        except IotSqlError:
            raise
        except Exception:  # a function given arguments it cannot use returns Undefined
            return U
        if whole_ints:
            t = type(result)
            if t is float or t is Decimal:
                return whole_to_int(result)
        return result

    return invoke


def _call_of_one(
    spec: FunctionSpec, compiled: list[Compiled], whole_ints: bool
) -> tuple[Callable[[Any], Any], FunctionOfOne] | None:
    """A call whose arguments are constants but one, as a function of that one's value with
    `_invoker`'s rules, and as the code generator writes it out; None for a call that reads
    the message or its context, or that has another shape."""
    if spec.context or spec.lazy or spec.raw_star:
        return None
    variable = [index for index, c in enumerate(compiled) if not c.is_const]
    if len(variable) != 1:
        return None
    position = variable[0]
    constants = [c.const for c in compiled]
    impl = spec.impl
    propagate = spec.propagate_undefined
    if propagate and any(c is U for c in constants if c is not NOT_CONSTANT):
        return None  # Undefined whatever the operand: the general closure says so
    if len(constants) == 1:
        call = impl
    elif len(constants) == 2 and position == 0:
        second = constants[1]

        def call(value: Any) -> Any:
            return impl(value, second)

    else:

        def call(value: Any) -> Any:
            arguments = list(constants)
            arguments[position] = value
            return impl(*arguments)

    def apply(value: Any) -> Any:
        if value is U and propagate:
            return U
        try:
            result = call(value)
        except IotSqlError:
            raise
        except Exception:  # a function given arguments it cannot use returns Undefined
            return U
        if whole_ints and (type(result) is float or type(result) is Decimal):
            return whole_to_int(result)
        return result

    written = FunctionOfOne(impl, tuple(constants), position, propagate, spec.ints_when_whole)
    return apply, written


def _call_on_constant(spec: FunctionSpec, argument: Any, whole_ints: bool) -> Closure:
    """`_call_closure` of a function whose one argument is a constant."""
    impl = spec.impl
    if argument is U and spec.propagate_undefined:
        return lambda doc, run: U
    context = spec.context

    def call_constant(doc: Any, run: Run) -> Any:
        try:
            result = impl(run, argument) if context else impl(argument)
        except IotSqlError:
            raise
        except Exception:
            return U
        if whole_ints and (type(result) is float or type(result) is Decimal):
            return whole_to_int(result)
        return result

    return call_constant


def _call_closure(spec: FunctionSpec, fns: tuple[Closure, ...], whole_ints: bool) -> Closure:
    """A closure calling `spec` with the same rules as `_invoker`, specialised for the common
    shapes (no argument list to build, no loop) since function calls sit on the hot path."""
    impl = spec.impl
    propagate = spec.propagate_undefined
    if spec.context and not fns:

        def call_context0(doc: Any, run: Run) -> Any:
            try:
                result = impl(run)
            except IotSqlError:
                raise
            except Exception:
                return U
            if whole_ints and (type(result) is float or type(result) is Decimal):
                return whole_to_int(result)
            return result

        return call_context0
    if len(fns) == 1:
        (f0,) = fns
        context = spec.context

        def call1(doc: Any, run: Run) -> Any:
            a = f0(doc, run)
            if a is U and propagate:
                return U
            try:
                result = impl(run, a) if context else impl(a)
            except IotSqlError:
                raise
            except Exception:
                return U
            if whole_ints and (type(result) is float or type(result) is Decimal):
                return whole_to_int(result)
            return result

        return call1
    if len(fns) == 2 and not spec.context:
        f0, f1 = fns

        def call2(doc: Any, run: Run) -> Any:
            a = f0(doc, run)
            b = f1(doc, run)
            if propagate and (a is U or b is U):
                return U
            try:
                result = impl(a, b)
            except IotSqlError:
                raise
            except Exception:
                return U
            if whole_ints and (type(result) is float or type(result) is Decimal):
                return whole_to_int(result)
            return result

        return call2
    invoke = _invoker(spec, whole_ints)
    return lambda doc, run: invoke(run, [f(doc, run) for f in fns])


def check_variable_size(name: str, value: Any, limits: Limits) -> int:
    """The minified-JSON size of a SET variable's value, raising if over the per-variable limit."""
    if value is U:
        return 0
    t = type(value)
    # A lone surrogate (a "\ud800" escape in the payload) counts as Java writes it: "?".
    if t is str or t is list or t is dict:
        # Measured before any JSON is made: `[s, s, ...]` may stand for far more text than memory.
        size = json_size(value, limits.max_variable_bytes)
    else:
        return 8
    if size > limits.max_variable_bytes:
        raise LimitExceededError(
            f"SET variable @{name} size (bytes)", size, limits.max_variable_bytes
        )
    return size
