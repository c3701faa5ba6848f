"""One Python function per statement: WHERE, then SELECT, written out as source and compiled
once, so that evaluating a message is one call instead of a call per node (the way
fastjsonschema turns a schema into a function).

The compiler still makes a closure for every node, and those closures remain what `explain`,
the templates, nested queries and any node the generator does not write out use. The
generator writes out the shapes that dominate real rules (each node carries its shape,
`Compiled.shape`) and calls the node's closure for everything else:

- a path from the document (`a.b.c`), walked inline and read once however often it appears
  (paths that start alike continue from the object read on the way), its value settled where
  it is read when the statement evaluates raw documents (values.settle_leaf);
- a constant;
- a comparison of an operand with a number, or `=` / `<>` with a String;
- a node that is a function of one operand (an arithmetic chain, an operator or a function
  whose other arguments are constants, a cast, a unary operator), with the operand inline;
  such a function call (`upper(s)`, `trunc(x, 1)`) is written out as well, and so is decimal
  arithmetic with constants on a double (`(c * 9 / 5) + 32`; a SELECT item that scales a
  double by a power of two, `x * 2`, takes the product of doubles where it prints the same,
  _scaling_factor);
- a function called with constants only (`topic(3)`, `timestamp()`); `topic(n)`, `topic()`
  and `timestamp()` are read from the evaluation inline, their types known to the SELECT
  items;
- CASE over String candidates with constant results (a table lookup);
- a WHERE that is a conjunction, stopping at the first operand that is not true (the
  compiler's own WHERE test does the same; a conjunction with an external call in it keeps that
  test, which runs both sides);
- every SELECT list, each item checked and measured as the compiler's `build_keys` and
  `build_mixed` do, skipping the checks a value of known type cannot need (`_Writer.kinds`);
  a lone `*`; a `SELECT VALUE` calls its builder.

The function returns the output value, or NOT_FIRED when the WHERE is not true. A statement's
keys, constants and closures are free variables (a factory per shape takes them), the common
names and the module-level functions it calls are in one globals dict: the statements of one
shape share one code object, and every statement the same globals, which CPython's specialized
reads of globals need. A statement too big to write out (MAX_GENERATED_LINES) calls its WHERE
test and SELECT builder. The differential tests (tests/test_codegen.py) compare the functions with the closures
on generated statements and messages, with both JSON libraries."""

from __future__ import annotations

import builtins
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, DecimalException
from types import BuiltinFunctionType, BuiltinMethodType, CodeType, FunctionType, ModuleType
from typing import Any, Final

from iotsql.budget import output_too_big
from iotsql.errors import IotSqlError
from iotsql.functions import context as context_functions
from iotsql.operators import BINARY_OPERATORS
from iotsql.values import (
    DECIMAL_CONTEXT,
    INT_LIMIT,
    UNDEFINED,
    Binary,
    finalize,
    finalize_fraction,
    json_size_at_least,
    settle_container,
    settle_whole_float,
    whole_to_int,
)

Closure = Callable[[Any, Any], Any]


class _NotFired:
    def __repr__(self) -> str:
        return "NOT_FIRED"


#: What a statement function returns when its WHERE is not true.
NOT_FIRED: Final = _NotFired()

_COMPARISONS: Final = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "==", "<>": "!="}


@dataclass(frozen=True, slots=True)
class PathShape:
    """`a.b.c` from the document in scope; `settle`: the document may be raw."""

    keys: tuple[str, ...]
    settle: bool


@dataclass(frozen=True, slots=True)
class ApplyShape:
    """`apply(operand)`: a node whose value is a plain function of one operand's value (an
    arithmetic chain or an operator with a constant, a cast, a unary operator, a function whose
    other arguments are constants)."""

    operand: Any  # a compiler.Compiled
    apply: Callable[[Any], Any]
    #: When the node is a function call whose other arguments are constants, that call, which
    #: the generator writes out instead of calling `apply`.
    call: FunctionOfOne | None = None
    #: When the node is decimal arithmetic with constants, its steps, which the generator
    #: writes out for a double operand (the common case) and leaves to `apply` otherwise.
    chain: DecimalChain | None = None


@dataclass(frozen=True, slots=True)
class DecimalChain:
    """`((x * 9) / 5) + 32` as compiler._arithmetic_chain computes it for a double `x`: the
    double's decimal text, each step in DECIMAL_CONTEXT arithmetic (`operation(number,
    constant)`, or `operation(constant, number)` when not `on_right`), Undefined when one
    fails, and in 2016-03-23 a whole result in an Int's range an Int."""

    steps: tuple[tuple[Callable[[Any, Any], Any], Decimal, bool], ...]


@dataclass(frozen=True, slots=True)
class FunctionOfOne:
    """`impl(*arguments)` with the operand's value at `position` (a placeholder there), as
    compiler._call_of_one calls it: Undefined for an Undefined operand when `propagate`, an
    error other than IotSqlError is Undefined, and in 2016-03-23 a whole result is an Int
    unless `ints_when_whole` (the function makes it one itself)."""

    impl: Callable[..., Any]
    arguments: tuple[Any, ...]
    position: int
    propagate: bool
    ints_when_whole: bool


@dataclass(frozen=True, slots=True)
class CallShape:
    """A function called with constants only, as compiler._invoker calls it: `topic(3)`,
    `timestamp()`, `newuuid()` (what constant folding leaves: the impure and the context
    functions). `context`: the function takes the evaluation (`run`) first."""

    impl: Callable[..., Any]
    arguments: tuple[Any, ...]
    context: bool


@dataclass(frozen=True, slots=True)
class LookupShape:
    """`CASE subject WHEN 'a' THEN x ... ELSE y END` over String candidates, every result a
    constant: Undefined for an Undefined subject, else `table[subject]` for a String in the
    table, else `default`."""

    subject: Any  # a compiler.Compiled
    table: dict[str, Any]
    default: Any


@dataclass(frozen=True, slots=True)
class ComparisonShape:
    """`operand <op> constant` with a numeric constant (int or float), or `=` and `<>` with a
    String constant."""

    op: str
    operand: Any  # a compiler.Compiled
    constant: int | float | str


#: Where a double scaled by a power of two prints as the decimal arithmetic's result would
#: (_scaling_factor): a normal double, and under 2**52, where a decimal that is not whole
#: rounds to a double that is not whole (every double past it is whole, which the generated
#: test excludes anyway; the bound also excludes an infinite product).
_SCALED_LOW: Final = 1e-300
_SCALED_HIGH: Final = 2.0**52
#: The largest power of two (as 2**n, n at most this) that _scaling_factor takes: the
#: product or quotient of a double's decimal text (17 digits at most) with it stays within
#: the 34 digits of DECIMAL_CONTEXT, so the decimal arithmetic is exact.
_SCALING_EXPONENT: Final = 20

#: The names every generated function may use, bound in its globals when it does.
_COMMON: Final[dict[str, Any]] = {
    "U": UNDEFINED,
    "NOT_FIRED": NOT_FIRED,
    "_whole": settle_whole_float,
    "_container": settle_container,
    "_size_at_least": json_size_at_least,
    "_too_big": output_too_big,
    "_Decimal": Decimal,
    "_Binary": Binary,
    "_IotSqlError": IotSqlError,
    "_whole_to_int": whole_to_int,
    "_finalize": finalize,
    "_fraction": finalize_fraction,
    "_DECIMAL_FAILURES": (DecimalException, ArithmeticError),
    "_INT_LIMIT": INT_LIMIT,
    "_SCALED_LOW": _SCALED_LOW,
    "_SCALED_HIGH": _SCALED_HIGH,
}
_COMMON_NAMES: Final = frozenset(_COMMON)


class _Writer:
    """Source lines, the names they use (bound into the function's globals), fresh locals."""

    def __init__(self, whole_ints: bool) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = dict(_COMMON)
        self.whole_ints = whole_ints
        self._count = 0
        #: Paths already read at the function's top level: (keys, settle) -> local. A path is a
        #: pure read of the document, so a later read of the same one reuses the value.
        self._paths: dict[tuple[tuple[str, ...], bool], str] = {}
        #: Whether a path reads `d`, the document when it is an object (else an empty one).
        self.reads_object = False
        #: Locals whose type is known where they are written: "int" (never Undefined), "str"
        #: (a String or Undefined), "num" (an Int or Undefined), "bool" (a Boolean or
        #: Undefined), "rounded" (the result of a function declared ints_when_whole: a Decimal
        #: there is whole only past an Int's range); the WHERE and the SELECT items skip the
        #: checks they cannot need.
        self.kinds: dict[str, str] = {}
        #: Objects read on the way along a path at the function's top level, not settled:
        #: keys -> local; a path that starts the same way (`s.r.a`, `s.r.b`) continues there.
        self._prefixes: dict[tuple[str, ...], str] = {}
        #: The names of the constants bound so far, by _constant_key.
        self._constants: dict[tuple[type, Any], str] = {}

    def bind(self, value: Any) -> str:
        """The name of `value` in the function: a module-level function or a method of the
        decimal context is one of the globals every statement shares (_shared_name); anything
        else (a key, a constant, a closure of this rule) is a free variable of the function,
        one per distinct constant. Each free variable costs every call a copy (CPython's
        COPY_FREE_VARS), so the fewer the better."""
        shared = _shared_name(value)
        if shared is not None:
            return shared
        key = _constant_key(value)
        if key is not None:
            known = self._constants.get(key)
            if known is not None:
                return known
        name = f"_k{len(self.names)}"
        self.names[name] = value
        if key is not None:
            self._constants[key] = name
        return name

    def local(self) -> str:
        self._count += 1
        return f"v{self._count}"

    def line(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def value(self, compiled: Any, indent: int, finalized: bool = False) -> str:
        """Write the statements computing `compiled`'s value; the expression that holds it.
        `finalized`: the value goes straight into the output (a SELECT item), which stores a
        Decimal as the JSON number it prints as (values.finalize)."""
        if compiled.is_const:
            # A name even for literals: `5 is not U` would be a SyntaxWarning.
            return "U" if compiled.const is UNDEFINED else self.bind(compiled.const)
        shape = compiled.shape
        kind = type(shape)
        if kind is PathShape:
            return self._path(shape, indent)
        if kind is ComparisonShape:
            return self._comparison(shape, indent)
        if kind is ApplyShape:
            inner = shape.operand.shape
            if (
                shape.call is not None
                and shape.call.ints_when_whole
                and type(inner) is ApplyShape
                and inner.chain is not None
            ):
                # `trunc((c * 9 / 5) + 32, 1)`: the function makes a whole result an Int itself,
                # so the arithmetic feeding it skips that rule.
                operand = self.local()
                self._decimal_chain(inner, self.value(inner.operand, indent), operand, indent,
                                    whole_rule=False)  # fmt: skip
            else:
                operand = self.value(shape.operand, indent)
            target = self.local()
            if shape.call is not None:
                self._function_of_one(shape.call, operand, target, indent)
            elif shape.chain is not None:
                factor = _scaling_factor(shape.chain) if finalized else None
                self._decimal_chain(shape, operand, target, indent, factor=factor)
            else:
                self.line(indent, f"{target} = {self.bind(shape.apply)}({operand})")
            return target
        if kind is LookupShape:
            return self._lookup(shape, indent)
        if kind is CallShape:
            return self._call(shape, indent)
        target = self.local()
        self.line(indent, f"{target} = {self.bind(compiled.fn)}(doc, run)")
        return target

    def _path(self, shape: PathShape, indent: int) -> str:
        known = self._paths.get((shape.keys, shape.settle))
        if known is not None:
            return known
        self.reads_object = True
        keys = shape.keys
        current, start = "d", 0
        if indent == 1:
            for end in range(len(keys) - 1, 0, -1):
                prefix = self._prefixes.get(keys[:end])
                if prefix is not None:
                    current, start = prefix, end
                    break
        target = self.local()
        for index in range(start, len(keys)):
            key = self.bind(keys[index])
            if current == "d":
                self.line(indent, f"{target} = d.get({key}, U)")
            else:
                self.line(
                    indent, f"{target} = {current}.get({key}, U) if type({current}) is dict else U"
                )
            if index < len(keys) - 1:
                if indent == 1:
                    self._prefixes[keys[: index + 1]] = target
                current, target = target, self.local()
        if indent == 1:
            self._paths[(keys, shape.settle)] = target
        if shape.settle:
            whole = "True" if self.whole_ints else "False"
            self.line(indent, f"if type({target}) is float:")
            self.line(indent + 1, f"if {target}.is_integer():")
            self.line(indent + 2, f"{target} = _whole({target}, {whole})")
            self.line(indent, f"elif type({target}) is dict or type({target}) is list:")
            self.line(indent + 1, f"{target} = _container({target}, {whole})")
        return target

    def _call(self, shape: CallShape, indent: int) -> str:
        inline = self._context_read(shape, indent)
        if inline is not None:
            return inline
        target = self.local()
        arguments = [self.bind(argument) for argument in shape.arguments]
        if shape.context:
            arguments.insert(0, "run")
        self._invoke(shape.impl, ", ".join(arguments), target, indent, settled=False)
        return target

    def _invoke(self, impl: Any, arguments: str, target: str, indent: int, settled: bool) -> None:
        """`target = impl(arguments)` as compiler._invoker calls a function: an error other than
        IotSqlError is Undefined; in 2016-03-23 a whole result is an Int, unless `settled`
        (the function makes it one itself)."""
        self.line(indent, "try:")
        self.line(indent + 1, f"{target} = {self.bind(impl)}({arguments})")
        self.line(indent, "except _IotSqlError:")
        self.line(indent + 1, "raise")
        self.line(indent, "except Exception:  # a function that cannot use its arguments")
        self.line(indent + 1, f"{target} = U")
        if self.whole_ints and not settled:
            self.line(indent, f"if type({target}) is float or type({target}) is _Decimal:")
            self.line(indent + 1, f"{target} = _whole_to_int({target})")

    def _decimal_chain(
        self,
        shape: ApplyShape,
        operand: str,
        target: str,
        indent: int,
        whole_rule: bool = True,
        factor: float | None = None,
    ) -> None:
        """`target` = the chain on `operand`. `factor`: the chain scales by that power of two
        and its value goes straight into the output; a double then takes the exact product of
        doubles where it prints as the decimal arithmetic's result would (_scaling_factor)."""
        assert shape.chain is not None
        number = f"_Decimal(repr({operand}))"
        for operation, constant, on_right in shape.chain.steps:
            named, exact = self.bind(operation), self.bind(constant)
            number = f"{named}({number}, {exact})" if on_right else f"{named}({exact}, {number})"
        self.line(indent, f"if type({operand}) is float:")
        step = indent + 1  # where the decimal arithmetic is written
        if factor is not None:  # ... only where the product of doubles would not print alike
            self.line(step, f"{target} = {operand} * {self.bind(factor)}")
            self.line(
                step, f"if {target}.is_integer() or not _SCALED_LOW < abs({target}) < _SCALED_HIGH:"
            )
            step += 1
        self.line(step, "try:")
        self.line(step + 1, f"{target} = {number}")
        self.line(step, "except _DECIMAL_FAILURES:")
        self.line(step + 1, f"{target} = U")
        if self.whole_ints and whole_rule:
            whole = self.local()
            self.line(step, "else:")
            self.line(step + 1, f"{whole} = {target}.to_integral_value()")
            self.line(step + 1, f"if {whole} == {target} and -_INT_LIMIT < {target} < _INT_LIMIT:")
            self.line(step + 2, f"{target} = int({whole})")
        self.line(indent, "else:")
        self.line(indent + 1, f"{target} = {self.bind(shape.apply)}({operand})")

    def _function_of_one(self, call: FunctionOfOne, operand: str, target: str, indent: int) -> None:
        arguments = ", ".join(
            operand if index == call.position else self.bind(argument)
            for index, argument in enumerate(call.arguments)
        )
        if call.propagate:
            self.line(indent, f"if {operand} is U:")
            self.line(indent + 1, f"{target} = U")
            self.line(indent, "else:")
            indent += 1
        self._invoke(call.impl, arguments, target, indent, settled=call.ints_when_whole)
        if call.ints_when_whole:
            self.kinds[target] = "rounded"

    def _context_read(self, shape: CallShape, indent: int) -> str | None:
        """`timestamp()`, `topic()` and `topic(n)` with a level n >= 1, read from the
        evaluation inline, as iotsql.functions.context computes them; None for any other
        call."""
        impl, arguments = shape.impl, shape.arguments
        if impl is context_functions.timestamp:
            target = self.local()
            # Message.received_at without its property's call when the time is fixed (the
            # context's timestamp, or an earlier read): the property fixes it otherwise.
            message = self.local()
            self.line(indent, f"{message} = run.message")
            self.line(indent, f"{target} = {message}._received_at")
            self.line(indent, f"if {target} is None:")
            self.line(indent + 1, f"{target} = {message}.received_at")
            self.kinds[target] = "int"
            return target
        if impl is not context_functions.topic:
            return None
        level = arguments[0] if arguments else None
        if arguments and (type(level) is not int or level < 1):
            return None  # topic(null) is Undefined, not the whole topic: the function says
        target = self.local()
        self.kinds[target] = "str"
        self.line(indent, f"{target} = run.topic")
        self.line(indent, f"if {target} is None:")
        self.line(indent + 1, f"{target} = U")
        if level is not None:
            levels, index = self.local(), self.bind(level - 1)
            self.line(indent, "else:")
            self.line(indent + 1, f"{levels} = {target}.split('/')")
            self.line(indent + 1, f"{target} = {levels}[{index}] if len({levels}) > {index} else U")
        return target

    def _lookup(self, shape: LookupShape, indent: int) -> str:
        subject = self.value(shape.subject, indent)
        target = self.local()
        table, default = self.bind(shape.table), self.bind(shape.default)
        self.line(indent, f"if {subject} is U:")
        self.line(indent + 1, f"{target} = U")
        self.line(indent, f"elif type({subject}) is str:")
        self.line(indent + 1, f"{target} = {table}.get({subject}, {default})")
        self.line(indent, "else:")
        self.line(indent + 1, f"{target} = {default}")
        results = [*shape.table.values(), shape.default]
        if all(type(result) is int or result is UNDEFINED for result in results):
            self.kinds[target] = "num"
        return target

    def _comparison(self, shape: ComparisonShape, indent: int) -> str:
        operand = self.value(shape.operand, indent)
        target = self.local()
        constant = self.bind(shape.constant)
        general = self.bind(BINARY_OPERATORS[shape.op])
        if type(shape.constant) is str:  # `=` or `<>`: a String equals only a String
            self.line(indent, f"if type({operand}) is str:")
        else:
            self.line(indent, f"if type({operand}) is float or type({operand}) is int:")
        self.line(indent + 1, f"{target} = {operand} {_COMPARISONS[shape.op]} {constant}")
        self.line(indent, "else:")
        self.line(indent + 1, f"{target} = {general}({operand}, {constant})")
        self.kinds[target] = "bool"
        return target


def _scaling_factor(chain: DecimalChain) -> float | None:
    """The double `f` when the chain is one multiplication by ±2**n, or one division by it
    (`x * 2`, `x / 4`, `0.5 * x`), with n at most _SCALING_EXPONENT; else None.

    Why the product of doubles `x * f` is then the printed result of the decimal arithmetic,
    `float(Decimal(repr(x)) * 2**n)`, whenever it is not whole and _SCALED_LOW < |x * f| <
    _SCALED_HIGH: the decimal product is exact (34 digits hold it); `x` is the double nearest
    `d = Decimal(repr(x))`, and between normal doubles, rounding to the nearest double commutes
    with scaling by a power of two, so the double nearest `d * 2**n` is `x * 2**n`, exactly
    `x * f`. A decimal product that were whole would be under 2**53 and round to itself, a
    whole double: so when `x * f` is not whole, neither is the decimal result, and the
    output stores it as its double (values.finalize). The other cases take the decimal
    arithmetic."""
    if len(chain.steps) != 1:
        return None
    operation, constant, on_right = chain.steps[0]
    if operation == DECIMAL_CONTEXT.multiply:  # (bound methods: equal, not identical)
        divide = False
    elif operation == DECIMAL_CONTEXT.divide and on_right:
        divide = True
    else:
        return None
    number = float(constant)
    if number == 0 or Decimal(number) != constant:
        return None
    mantissa, exponent = math.frexp(abs(number))
    if mantissa != 0.5 or abs(exponent - 1) > _SCALING_EXPONENT:
        return None
    return 1.0 / number if divide else number


def _fires(writer: _Writer, value: str, indent: int) -> None:
    """Return NOT_FIRED unless `value` is true (Boolean true, or the String 'true' in any case,
    as compiler.truthy reads it)."""
    if writer.kinds.get(value) == "bool":  # a comparison: never a String
        writer.line(indent, f"if {value} is not True:")
        writer.line(indent + 1, "return NOT_FIRED")
        return
    writer.line(
        indent,
        f"if {value} is not True and not (type({value}) is str and {value}.lower() == 'true'):",
    )
    writer.line(indent + 1, "return NOT_FIRED")


def _keyed_item(writer: _Writer, key: str, compiled: Any, store: str) -> None:
    """One `key: value` item of the output object, as compiler.Compiler.select's build_keys
    checks, converts and measures it."""
    value = writer.value(compiled, 1, finalized=True)
    if not value.startswith("v"):  # a bound name or U: the lines below assign to the value
        local = writer.local()
        writer.line(1, f"{local} = {value}")
        value = local
    too_big = "raise _too_big(size, _MAX)"
    kind = writer.kinds.get(value)
    if kind == "int":  # stored as it is, not measured
        writer.line(1, f"out[{writer.bind(key)}] = {value}")
        return
    if kind == "num":  # stored as it is, not measured, unless Undefined
        writer.line(1, f"if {value} is not U:")
        writer.line(2, f"out[{writer.bind(key)}] = {value}")
        return
    if kind == "str":
        writer.line(1, f"if {value} is not U:")
        writer.line(2, f"size += len({value})")
        writer.line(2, "if size > _MAX:")
        writer.line(3, too_big)
        writer.line(2, f"out[{writer.bind(key)}] = {value}")
        return
    if kind == "rounded":  # its double, without finalize's test for a whole number
        writer.line(1, f"if type({value}) is _Decimal:")
        writer.line(2, f"{value} = _fraction({value}, {writer.whole_ints})")
    writer.line(1, f"if {value} is not U:")
    writer.line(2, f"t = type({value})")
    writer.line(2, "if t is str:")
    writer.line(3, f"size += len({value})")
    writer.line(3, "if size > _MAX:")
    writer.line(4, too_big)
    writer.line(2, "elif t is float or t is int:  # (the commonest: stored as they are)")
    writer.line(3, "pass")
    writer.line(2, "elif t is dict or t is list:")
    writer.line(3, f"size += _size_at_least({value}, _MAX - size)")
    writer.line(3, "if size > _MAX:")
    writer.line(4, too_big)
    writer.line(2, "elif t is _Decimal:  # (what the store does with one: a JSON number)")
    writer.line(3, f"{value} = _finalize({value}, {writer.whole_ints})")
    writer.line(2, "elif t is _Binary:")
    writer.line(3, f"{value} = {store}({value}, {writer.whole_ints})")
    writer.line(3, f"if type({value}) is str:")
    writer.line(4, f"size += len({value})")
    writer.line(4, "if size > _MAX:")
    writer.line(5, too_big)
    writer.line(2, f"if {value} is not U:")
    writer.line(3, f"out[{writer.bind(key)}] = {value}")


def measure_unmeasured(size: int, unmeasured: Any, max_output: int) -> int:
    """build_mixed's check once the bound of the output could pass the limit: measure the
    document merged by `*` if it is not yet, then refuse an output past the limit."""
    if unmeasured is not None:
        size += json_size_at_least(unmeasured, max_output - size)
    if size > max_output:
        raise output_too_big(size, max_output)
    return size


def set_nested(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """`AS a.b.c`: the value at that path of the output, making objects on the way."""
    target = out
    for part in path[:-1]:
        child = target.get(part)
        if type(child) is not dict:
            child = target[part] = {}
        target = child
    target[path[-1]] = value


def _mixed_steps(writer: _Writer, steps: Sequence[tuple[int, Any, Any]], store: str) -> None:
    """A SELECT list with `*`, object literals or nested aliases, as compiler.Compiler.select's
    build_mixed does it: kinds 0 (a key), 1 (a nested alias path), 2 (an object merged), 3 (the
    message's document merged by `*`, measured only once the body's length could reach the
    limit)."""
    measure = writer.bind(measure_unmeasured)
    over = f"size = {measure}(size, unmeasured, _MAX); unmeasured = None; bound = 0"
    writer.line(1, "out = {}")
    writer.line(1, "size = 0")
    writer.line(1, "unmeasured = None")
    writer.line(1, "bound = 0")
    for kind, key, compiled in steps:
        if kind == 3:
            value = writer.local()
            writer.line(1, f"{value} = doc")
        else:
            value = writer.value(compiled, 1)
            if not value.startswith("v"):
                local = writer.local()
                writer.line(1, f"{local} = {value}")
                value = local
        known = writer.kinds.get(value)
        if known in ("int", "num", "str"):  # an Int or a String: nothing to convert
            store_line = (
                f"out[{writer.bind(key)}] = {value}"
                if kind == 0
                else f"{writer.bind(set_nested)}(out, {writer.bind(tuple(key))}, {value})"
            )
            if known == "int":  # not measured, so the bound cannot have grown
                writer.line(1, store_line)
                continue
            if known == "num":
                writer.line(1, f"if {value} is not U:")
                writer.line(2, store_line)
                continue
            writer.line(1, f"if {value} is not U:")
            writer.line(2, f"size += len({value}) + 2")
            writer.line(2, "if size + bound > _MAX:")
            writer.line(3, over)
            writer.line(2, store_line)
            continue
        writer.line(1, f"if {value} is not U:")
        if kind >= 2:
            writer.line(2, f"if type({value}) is dict:")
            if kind == 3:
                writer.line(3, "if unmeasured is None and run is not None:")
                writer.line(4, "bound = len(run.message.body)")
                writer.line(4, f"unmeasured = {value}")
                writer.line(3, "else:")
                writer.line(4, f"size += _size_at_least({value}, _MAX - size)")
            else:
                writer.line(3, f"size += _size_at_least({value}, _MAX - size)")
            writer.line(3, "if size + bound > _MAX:")
            writer.line(4, over)
            writer.line(3, f"out.update({value})")
            continue
        writer.line(2, f"t = type({value})")
        writer.line(2, "if t is _Decimal or t is float or t is _Binary:")
        writer.line(3, f"{value} = {store}({value}, {writer.whole_ints})")
        writer.line(3, f"t = type({value})")
        writer.line(2, f"if {value} is not U:")
        writer.line(3, "if t is str:")
        writer.line(4, f"size += len({value}) + 2")
        writer.line(3, "elif t is dict or t is list:")
        writer.line(4, f"size += _size_at_least({value}, _MAX - size)")
        writer.line(3, "if size + bound > _MAX:")
        writer.line(4, over)
        if kind == 0:
            writer.line(3, f"out[{writer.bind(key)}] = {value}")
        else:
            writer.line(3, f"{writer.bind(set_nested)}(out, {writer.bind(tuple(key))}, {value})")
    writer.line(1, "return out")


def statement_function(
    *,
    conjuncts: Sequence[Any] | None,
    condition: Closure | None,
    keyed: Sequence[tuple[str, Any]] | None,
    steps: Sequence[tuple[int, Any, Any]] | None,
    passthrough: bool,
    select: Closure,
    store: Callable[[Any, bool], Any],
    whole_ints: bool,
    max_output: int,
) -> Callable[[Any, Any], Any]:
    """The statement as one function `(doc, run) -> output value or NOT_FIRED`.

    `conjuncts`: the Compiled operands of a WHERE conjunction that may stop early (None: call
    `condition`, the compiler's WHERE test, when there is a WHERE at all); `keyed`: the SELECT
    list as (key, Compiled) when every item is keyed; `steps`: any other SELECT list, as
    (kind, key, Compiled) (see _mixed_steps); `passthrough`: the SELECT is the document;
    `select`: the compiler's SELECT builder, called for any other SELECT; `store`: how a value
    goes into the output (compiler.store)."""

    def write(written_out: bool) -> _Writer:
        """The function's body; with `written_out` False, only calls of the WHERE test and the
        SELECT builder."""
        writer = _Writer(whole_ints)
        if conjuncts is not None and written_out:
            for compiled in conjuncts:
                _fires(writer, writer.value(compiled, 1), 1)
        elif condition is not None:
            writer.line(1, f"if not {writer.bind(condition)}(doc, run):")
            writer.line(2, "return NOT_FIRED")
        if passthrough:
            writer.line(1, "return doc")
        elif keyed is not None and written_out:
            writer.line(1, "out = {}")
            writer.line(1, "size = 0")
            stored = writer.bind(store)
            for key, compiled in keyed:
                _keyed_item(writer, key, compiled, stored)
            writer.line(1, "return out")
        elif steps is not None and written_out:
            _mixed_steps(writer, steps, writer.bind(store))
        else:
            writer.line(1, f"return {writer.bind(select)}(doc, run)")
        return writer

    writer = write(True)
    if len(writer.lines) > MAX_GENERATED_LINES:
        # A statement of thousands of items (what 128 KB of SQL allows) would cost Python's
        # compiler seconds: it gets the closures, called from a function of a few lines.
        writer = write(False)
    if writer.reads_object:
        writer.lines.insert(0, "    d = doc if type(doc) is dict else _EMPTY")
    source = "def statement(doc, run):\n" + "\n".join(writer.lines) + "\n"
    # The rule's own names (its keys, constants and closures) are the arguments of a factory
    # that makes the function, so they are its free variables; the common names and the
    # module-level functions (_shared_name) are in one globals dict shared by every generated
    # function. Functions of one shape then share one
    # code object *and* one globals dict: CPython specializes a LOAD_GLOBAL for one dict, and
    # a code object run against thousands of globals dicts (a fleet's routing rules) missed
    # that every call (1.8 µs per message on the engine bench).
    own = tuple(name for name in writer.names if name not in _COMMON_NAMES)
    values = [writer.names[name] for name in own]
    return _factory(source, (*own, "_MAX"))(*values, max_output)  # type: ignore[no-any-return]


#: Lines past which a statement is not written out (about 200 SELECT items or conjuncts).
MAX_GENERATED_LINES = 4000


#: The document when it is not an object: what paths read then (nothing; never written to).
_EMPTY: Final[dict[str, Any]] = {}

#: The globals of every generated function: the common names, the empty document, builtins.
_GLOBALS: Final[dict[str, Any]] = {
    **_COMMON, "_EMPTY": _EMPTY, "__builtins__": builtins.__dict__,
}  # fmt: skip

#: Factories by (source, the names they take): the rules of one shape (the routing rules of a
#: fleet, say) share one code object, compiled once, held once.
_CODE_CACHE_SIZE = 512
_FACTORIES: dict[tuple[str, tuple[str, ...]], Callable[..., Any]] = {}
_SOURCES: dict[CodeType, str] = {}


def _factory(source: str, names: tuple[str, ...]) -> Callable[..., Any]:
    """`def _make(<names>)`, returning the function `source` defines with `names` free in it."""
    key = (source, names)
    factory = _FACTORIES.get(key)
    if factory is None:
        body = "".join(f"    {line}\n" for line in source.splitlines())
        text = f"def _make({', '.join(names)}):\n{body}    return statement\n"
        namespace: dict[str, Any] = {}
        exec(compile(text, "<iotsql statement>", "exec"), _GLOBALS, namespace)
        factory = namespace["_make"]
        if len(_FACTORIES) >= _CODE_CACHE_SIZE:
            _FACTORIES.clear()
            _SOURCES.clear()
        _FACTORIES[key] = factory
        inner = next(c for c in factory.__code__.co_consts if isinstance(c, CodeType))
        _SOURCES[inner] = source
    return factory


def _constant_key(value: Any) -> tuple[type, Any] | None:
    """What makes two constants the same for a statement: type and text (`0.0` and `-0.0`, or
    `Decimal('1.0')` and `Decimal('1.00')`, stay apart); None for anything else."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or kind is Decimal:
        return kind, repr(value)
    if kind is tuple and all(type(item) is str for item in value):
        return kind, value
    return None


def _shared_name(value: Any) -> str | None:
    """The name in _GLOBALS of a function every rule would bind alike: a method of
    DECIMAL_CONTEXT (a new bound method at each access, so named by its method), or a
    function that is its module's attribute of the same name (operators, stores, function
    implementations); None for anything else (a closure made for one rule)."""
    owner = getattr(value, "__self__", None)
    if owner is DECIMAL_CONTEXT and isinstance(value, BuiltinMethodType):
        name = f"_decimal_{value.__name__}"
        if name not in _GLOBALS:
            _GLOBALS[name] = value
        return name
    if not isinstance(value, (FunctionType, BuiltinFunctionType)) or (
        owner is not None and not isinstance(owner, ModuleType)
    ):
        return None
    module = sys.modules.get(getattr(value, "__module__", None) or "")
    attribute = getattr(value, "__name__", "")
    if module is None or getattr(module, attribute, None) is not value:
        return None
    name = f"_{module.__name__.replace('.', '_')}_{attribute}"
    known = _GLOBALS.setdefault(name, value)
    return name if known is value else None


def source_of(function: Callable[..., Any]) -> str | None:
    """The Python source of a generated statement function, while its code is remembered."""
    code = getattr(function, "__code__", None)
    return _SOURCES.get(code) if isinstance(code, CodeType) else None
