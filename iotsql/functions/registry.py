"""The function registry: every AWS IoT SQL function is declared once, with the `@function`
decorator, stating its arity, the SQL version that introduced it, whether it is pure (so that
calls on constants fold at compile time), and how it takes its arguments.

Calling conventions (what the implementation receives):

- default: the evaluated argument values; if any is Undefined the call is Undefined without
  calling the implementation (`undefined="propagate"`), unless `undefined="pass"`;
- `context=True`: the evaluation `Run` first (message, context, provider, rule), then the values;
- `lazy=True`: `(run, doc, arguments)` where `arguments` are compiled closures to call as
  `arg(doc, run)`, for functions that must catch failures of their arguments (get_or_default);
- `raw_star=True`: a bare `*` argument arrives as the message's raw body bytes (encode).

Each function also has a cost class, for the evaluation's time budget (iotsql.budget):
`constant` (math, context), `linear` (its time grows with the size of its arguments, which the
size limits bound: string, encoding, JSON functions) or `unbounded` (regular expressions,
date patterns, md2, external functions): see `Compiler.plan_time_budget`.

An implementation returns a value or UNDEFINED; a Python exception inside it means Undefined
(AWS: "functions called with invalid arguments return Undefined"), except `IotSqlError`s, which
are rule failures (an external lookup that failed) and propagate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from iotsql.values import V1, SqlVersion

AWS_FUNCTIONS_PAGE = "https://docs.aws.amazon.com/iot/latest/developerguide/iot-sql-functions.html"

F = TypeVar("F", bound=Callable[..., Any])

Cost = Literal["constant", "linear", "unbounded"]

#: The cost class of a family's functions unless a declaration says otherwise.
FAMILY_COST: dict[str, Cost] = {
    "math": "constant", "context": "constant", "external": "unbounded", "time": "unbounded",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """Everything the compiler and the docs need to know about one function."""

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    since: SqlVersion
    pure: bool
    family: str
    context: bool = False
    lazy: bool = False
    raw_star: bool = False
    propagate_undefined: bool = True
    external: bool = False
    per_statement_limit: int | None = None
    anchor: str = ""
    signature: str = ""
    summary: str = ""
    literal_args: tuple[int, ...] = field(default=())
    #: Arguments that may not read a SET variable (a negative index counts from the end): the
    #: SET page's role ARNs and mode switches.
    no_variable_args: tuple[int, ...] = field(default=())
    cost: Cost = "linear"
    #: Every whole number it returns is already an Int (a Decimal only past an Int's 34
    #: digits), so 2016-03-23's whole-number rule has nothing to do on its results.
    ints_when_whole: bool = False

    def accepts(self, count: int) -> bool:
        return count >= self.min_args and (self.max_args is None or count <= self.max_args)

    def available_in(self, version: SqlVersion) -> bool:
        return version.at_least(self.since)

    @property
    def url(self) -> str:
        return f"{AWS_FUNCTIONS_PAGE}#{self.anchor}" if self.anchor else AWS_FUNCTIONS_PAGE

    @property
    def arity_text(self) -> str:
        if self.max_args is None:
            return f"{self.min_args}+"
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args}-{self.max_args}"


#: Lower-cased name to spec; AWS function names are case-insensitive (`Round(1.5)` in the docs).
REGISTRY: dict[str, FunctionSpec] = {}


def function(
    name: str,
    *,
    args: int | tuple[int, int | None],
    family: str,
    since: SqlVersion = V1,
    pure: bool = True,
    context: bool = False,
    lazy: bool = False,
    raw_star: bool = False,
    undefined: Literal["propagate", "pass"] = "propagate",
    external: bool = False,
    per_statement_limit: int | None = None,
    anchor: str = "",
    signature: str = "",
    literal_args: tuple[int, ...] = (),
    no_variable_args: tuple[int, ...] = (),
    cost: Cost | None = None,
    ints_when_whole: bool = False,
) -> Callable[[F], F]:
    """Declare `name` as an AWS IoT SQL function implemented by the decorated callable.

    `args` is an exact count or `(minimum, maximum)` with `None` for "any number".
    """
    low, high = (args, args) if isinstance(args, int) else args

    def register(impl: F) -> F:
        key = name.lower()
        if key in REGISTRY:
            raise ValueError(f"function {name} declared twice")
        paragraph = (impl.__doc__ or "").strip().split("\n\n")[0]
        summary = " ".join(line.strip() for line in paragraph.splitlines())
        REGISTRY[key] = FunctionSpec(
            name=name,
            impl=impl,
            min_args=low,
            max_args=high,
            since=since,
            pure=pure and not context and not lazy and not external,
            family=family,
            context=context,
            lazy=lazy,
            raw_star=raw_star,
            propagate_undefined=undefined == "propagate",
            external=external,
            per_statement_limit=per_statement_limit,
            anchor=anchor,
            signature=signature or f"{name}({', '.join(['x'] * low)})",
            summary=summary,
            literal_args=literal_args,
            no_variable_args=no_variable_args,
            cost=cost or FAMILY_COST.get(family, "linear"),
            ints_when_whole=ints_when_whole,
        )
        return impl

    return register


def lookup(name: str) -> FunctionSpec | None:
    return REGISTRY.get(name.lower())


def functions_markdown() -> str:
    """docs/functions.md, generated from the registry (`python -m iotsql.functions`)."""
    from iotsql import functions  # noqa: F401  (registers every family)

    lines = [
        "# Functions",
        "",
        "Generated from the function registry by `python -m iotsql.functions > docs/functions.md`;",
        "a test fails when this file is stale. Every function of the AWS IoT SQL reference is",
        "implemented; the choices made where the AWS pages are silent are in",
        "[semantics.md](semantics.md#functions).",
        "",
        "Arguments: the number of arguments the function takes (a call with another number is",
        "Undefined, with a compile-time warning). Since: the first SQL version that has it",
        "(earlier versions reject the statement). Pure: calls on constants are computed once, at",
        "compile time. External: the function calls a provider (`iotsql.providers`).",
        "",
    ]
    families: dict[str, list[FunctionSpec]] = {}
    for spec in REGISTRY.values():
        families.setdefault(spec.family, []).append(spec)
    for family in sorted(families):
        lines += [f"## {family}", "", "| function | arguments | since | pure | notes | summary |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for spec in sorted(families[family], key=lambda s: s.name.lower()):
            notes = []
            if spec.external:
                notes.append("external")
            if spec.per_statement_limit is not None:
                notes.append(f"at most {spec.per_statement_limit} per statement")
            if spec.context:
                notes.append("reads the message context")
            if not spec.propagate_undefined:
                notes.append("takes Undefined")
            name = f"[`{spec.signature}`]({spec.url})"
            lines.append(
                f"| {name} | {spec.arity_text} | {spec.since.value} | "
                f"{'yes' if spec.pure else 'no'} | {', '.join(notes)} | {spec.summary} |"
            )
        lines.append("")
    lines += [
        f"{len(REGISTRY)} functions, plus `cast(value AS type)` (its own syntax; type keywords",
        "String, Nvarchar, Text, Ntext, varchar, Int, Integer, Double in every version, and",
        "Decimal, Bool, Boolean from 2016-03-23).",
        "",
    ]
    return "\n".join(lines)
