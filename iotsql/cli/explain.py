"""Showing why a rule did or did not fire, for `iotsql eval` and the REPL: the AST as a tree,
the value of each SET variable, SELECT item and of WHERE for one message, and the attributes
WHERE and the SELECT items read that the payload does not have (the usual reason a WHERE is
Undefined or a key is missing from the output), with the keys they were probably meant to be;
and the other usual mistakes, in their terms: a context function without parentheses, a topic
level the topic lacks, a comparison of an attribute with a literal of a type it cannot hold
for, a topic that misses FROM by a habit (`a/#` for `a`), an output that is not JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, Final

from iotsql import ast
from iotsql.cli.check import children, path_of
from iotsql.cli.common import Payload, show_value
from iotsql.functions.registry import lookup
from iotsql.lint.sql import topic_level
from iotsql.rule import CompiledRule, Explanation
from iotsql.suggest import alternatives, closest, path_expression
from iotsql.topics import filter_matches, parse_basic_ingest
from iotsql.values import UNDEFINED, parse_decimal_string, type_name


def dump_ast(node: Any, label: str = "", indent: int = 0) -> list[str]:
    """The AST as an indented tree: each node's type and scalar fields, then its children
    labelled by field (`left:`, `items[0]:`)."""
    pad = "  " * indent
    prefix = f"{label}: " if label else ""
    if not dataclasses.is_dataclass(node):
        return [f"{pad}{prefix}{node!r}"]
    scalars = []
    nested: list[tuple[str, Any]] = []
    for item in dataclasses.fields(node):
        if item.name in ("pos", "topic_pos"):
            continue
        value = getattr(node, item.name)
        if dataclasses.is_dataclass(value):
            nested.append((item.name, value))
        elif isinstance(value, tuple) and value and not all(isinstance(v, str) for v in value):
            for index, element in enumerate(value):
                if isinstance(element, tuple):  # an object literal's (key, value)
                    nested.append((f"{item.name}[{element[0]!r}]", element[1]))
                else:
                    nested.append((f"{item.name}[{index}]", element))
        elif value is None or value is False or value == ():
            continue
        elif isinstance(value, tuple):
            scalars.append(f"{item.name}={'.'.join(value)!r}")
        else:
            scalars.append(f"{item.name}={value!r}")
    if isinstance(node, ast.Statement):  # in evaluation order: SET first
        nested.sort(key=lambda pair: not pair[0].startswith("assignments"))
    head = type(node).__name__ + ("" if not scalars else " " + " ".join(scalars))
    lines = [f"{pad}{prefix}{head}"]
    for name, child in nested:
        lines.extend(dump_ast(child, name, indent + 1))
    return lines


def _typed(value: Any) -> str:
    return f"{show_value(value)}  ({type_name(value)})"


def missing_attributes(statement: ast.Statement, payload: Payload) -> list[str]:
    """The attribute paths WHERE reads that the payload lacks, each with a suggestion."""
    if statement.where is None:
        return []
    if not payload.is_json:
        return ["the payload is not JSON: every attribute WHERE reads from it is Undefined"]
    notes: list[str] = []
    for path in attribute_paths(statement.where):
        note = _missing(path, payload.document)
        if note and note not in notes:
            notes.append(note)
    return notes


def attribute_paths(expr: Any) -> Iterator[list[str]]:
    """The payload attribute paths an expression reads (`a.b` as ['a', 'b']); inside a nested
    query only its FROM source, since the names elsewhere are attributes of its elements."""
    stack = [expr]
    while stack:
        node = stack.pop()
        path = path_of(node)
        if path is not None:
            yield path
            continue
        if isinstance(node, ast.Subquery):
            stack.append(node.source)
            continue
        stack.extend(reversed(list(children(node))))


def missing_reason(path: list[str], document: Any) -> str | None:
    """Why `path` is Undefined in `document` (None when it is there): the key that is missing,
    with the keys it was probably meant to be, written as SQL (`get(*, 'battery-level')` for a
    key that is not an identifier); or the value on the way that is not an object."""
    current = document
    for depth, key in enumerate(path):
        if isinstance(current, Mapping) and key in current:
            current = current[key]
            continue
        where = ".".join(path[:depth])
        if not isinstance(current, Mapping):
            return f"{where or 'the payload'} is {type_name(current)}, not an object"
        owner = f"`{where}`" if where else "the payload"
        close = closest(key, [str(k) for k in current])
        options = [path_expression([*path[:depth], name]) for name in close]
        if len(path) == 1 and _is_context_function(key):
            options.insert(0, f"{key}(), the function")  # `timestamp` for `timestamp()`
        suggestion = f" (did you mean {alternatives(options)}?)" if options else ""
        return f"{owner} has no key {key!r}{suggestion}"
    return None


def topic_mismatch_hint(topic_filter: str | None, topic: str) -> str | None:
    """Why a topic that looks meant for the FROM filter is not matched, when the habit is a
    known one: `a/#` for `a` (AWS's `#` does not take the parent, unlike the MQTT
    specification), a difference of case, a leading or trailing `/`."""
    if topic_filter is None:
        return None
    if topic_filter.endswith("/#") and topic == topic_filter[:-2]:
        return (
            f"AWS IoT's {topic_filter!r} takes the topics below {topic!r}, not {topic!r} itself "
            "(topics.md: sensor/# does not receive sensor, though MQTT brokers often do): add a "
            f"rule FROM {topic!r} for it, or publish below it"
        )
    if filter_matches(topic_filter.lower(), topic.lower()):
        return "topic names and filters are case-sensitive"
    if filter_matches(topic_filter.strip("/"), topic.strip("/")):
        return "a leading or trailing / is a level of its own (an empty one)"
    return None


def _is_context_function(name: str) -> bool:
    """Whether `name` is a function of the message's context that takes no argument
    (`timestamp`, `topic`, `clientid`...): written without parentheses it is a payload key."""
    spec = lookup(name)
    return spec is not None and spec.context and spec.min_args == 0


def _missing(path: list[str], document: Any) -> str | None:
    reason = missing_reason(path, document)
    return None if reason is None else f"{'.'.join(path)} is Undefined: {reason}"


def undefined_items(
    rule: CompiledRule, explanation: Explanation, payload: Payload, topic: str | None = None
) -> list[str]:
    """Notes on the SELECT items that are Undefined (and so left out of the output) because an
    attribute they read is missing from the payload, each with "did you mean", or because a
    `topic(n)` they call has no level n; and on an output that is an empty body or the payload
    passed through as a binary body, which a SELECT * of a payload that is no JSON object is."""
    if not explanation.fired:
        return []
    select = rule.statement.select
    notes = _body_notes(select, explanation, payload)
    for item, key in zip(select.items, rule.select_keys, strict=True):
        if explanation.items.get(key, UNDEFINED) is not UNDEFINED:
            continue
        if select.value:
            what = "SELECT VALUE is Undefined, so the output is an empty body"
        else:
            what = f"SELECT item {key} is Undefined, so the output leaves it out"
        reasons = topic_call_reasons(item.expr, topic)
        direct = path_of(item.expr)
        if payload.is_json and direct is not None:
            reasons.append(missing_reason(direct, payload.document))
        elif payload.is_json:
            reasons.extend(_missing(path, payload.document) for path in attribute_paths(item.expr))
        found = [f"{what}: {reason}" for reason in dict.fromkeys(r for r in reasons if r)]
        notes.extend(found or ([what] if select.value else []))
    return notes


def _body_notes(select: ast.Select, explanation: Explanation, payload: Payload) -> list[str]:
    """What an output that is not JSON is: the payload that a `*` passes through, or the empty
    body of a SELECT VALUE whose value is bytes that are no UTF-8 text (an Undefined one is
    said by the item's note)."""
    output = explanation.output
    if output is None or not output.is_binary:
        return []
    if select.value and not isinstance(select.items[0].expr, ast.Wildcard):
        value = next(iter(explanation.items.values()), UNDEFINED)
        if value is UNDEFINED or output.value:
            return []
        return [
            "the output is an empty body: the value of SELECT VALUE is binary data that is not "
            "UTF-8 text, which an output leaves out as an object leaves it out (docs/semantics.md)"
        ]
    if not payload.is_json:  # the payload's own note says that `*` passes it through
        return [] if payload.body else ["the output is an empty body: the payload is empty"]
    return [
        f"the payload is a JSON {type_name(payload.document)}, not an object, so * passes its "
        f"{len(payload.body)} bytes through unchanged, as a binary body, as AWS IoT does"
    ]


def topic_call_reasons(expr: Any, topic: str | None) -> list[str | None]:
    """Why the `topic()` and `topic(n)` calls in `expr` are Undefined: no topic was given, or
    the topic has no level n (levels are numbered from 1)."""
    reasons: list[str | None] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        stack.extend(children(node))
        if not isinstance(node, ast.Call) or node.name.lower() != "topic" or len(node.args) > 1:
            continue
        call = ast.unparse(node)
        if topic is None:
            reasons.append(
                f"{call} is Undefined: no topic was given (iotsql eval --topic, .topic in the REPL)"
            )
            continue
        level = topic_level(node)
        if level is None:
            continue
        ingest = parse_basic_ingest(topic)
        levels = (topic if ingest is None else ingest.topic).split("/")
        if level < 1:
            reasons.append(
                f"{call} is Undefined: topic levels are numbered from 1 (topic(1) is {levels[0]!r})"
            )
        elif level > len(levels):
            count = f"{len(levels)} level" + ("s" if len(levels) > 1 else "")
            reasons.append(f"{call} is Undefined: the topic {'/'.join(levels)!r} has {count}")
    return reasons


def why_not(
    rule: CompiledRule, explanation: Explanation, payload: Payload, topic: str | None = None
) -> list[str]:
    """Lines saying why a rule did not fire: the reason, WHERE and its value, the missing
    attributes it reads, the `topic(n)` calls without a level n, and the `=` comparisons of
    an attribute with a literal of another type."""
    if explanation.terminated:
        return [explanation.reason]
    if explanation.error is not None:
        return [f"the rule failed: {explanation.error}"]
    if not explanation.topic_matched:
        hint = None if topic is None else topic_mismatch_hint(rule.topic_filter, topic)
        return [explanation.reason] + ([hint] if hint else [])
    where = rule.statement.where
    if where is None:  # pragma: no cover - a rule without WHERE always fires
        return [explanation.reason]
    lines = [f"WHERE {ast.unparse(where)} is {show_value(explanation.where_value)}, not true"]
    lines.extend(missing_attributes(rule.statement, payload))
    lines.extend(dict.fromkeys(r for r in topic_call_reasons(where, topic) if r))
    if payload.is_json:
        lines.extend(comparison_notes(where, payload.document))
    return lines


#: The literals whose type a comparison note names.
_LITERALS: Final = (ast.IntLit, ast.DecimalLit, ast.StringLit, ast.BoolLit)


def comparison_notes(where: Any, document: Any) -> list[str]:
    """Notes on each comparison of an attribute with a literal in WHERE that cannot hold for
    this payload because of the types of its sides: `=` of two types (the Int 31 and the
    String '31') is false, since it converts neither side (the operators page lists `=` only
    for two operands of the same type, Int and Decimal aside); `<`, `>`, `<=` and `>=` convert
    a String to a number, and a String that is none (`'n/a'`) or another type (a Boolean)
    makes them Undefined. The usual cause is a number quoted in the statement or the device's
    JSON, or a device that sends text where it usually sends a number."""
    notes: list[str] = []
    stack = [where]
    while stack:
        node = stack.pop()
        stack.extend(children(node))
        if not isinstance(node, ast.Binary) or node.op not in ("=", *_ORDERINGS):
            continue
        for attribute, literal in ((node.left, node.right), (node.right, node.left)):
            path = path_of(attribute)
            if path is None or not isinstance(literal, _LITERALS):
                continue
            found, value = _lookup(path, document)
            if not found:
                continue
            name = ast.unparse(attribute)
            if node.op == "=":
                note = _mixed_types(name, value, literal)
            else:
                note = _unordered(name, value, literal, node.op)
            if note:
                notes.append(note)
    return notes


#: The comparisons that convert a String side to a number.
_ORDERINGS: Final = ("<", ">", "<=", ">=")


def _unordered(name: str, value: Any, literal: Any, op: str) -> str | None:
    """The note for `name op literal` when a side is no number and no String of one."""
    text = ast.unparse(literal)
    constant = float(literal.text) if isinstance(literal, ast.DecimalLit) else literal.value
    sides = ((value, f"{name} is the {type_name(value)} {show_value(value)}"),
             (constant, f"{text} is a {type_name(constant)}"))  # fmt: skip
    for side, what in sides:
        if _is_number(side) or (isinstance(side, str) and _numeric(side)):
            continue
        kind = "not a number" if isinstance(side, str) else "not a number or a String"
        return (
            f"{name} {op} {text} is Undefined: {what}, {kind}; {op} compares numbers, "
            "converting a String that holds one, and is Undefined for anything else"
        )
    return None


def _lookup(path: list[str], document: Any) -> tuple[bool, Any]:
    current = document
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return False, None
        current = current[key]
    return True, current


def _mixed_types(name: str, value: Any, literal: Any) -> str | None:
    """The note for `name = literal` where `name` is `value` in the payload, or None when the
    two are of one type (or of types no one confuses)."""
    text = ast.unparse(literal)
    if isinstance(literal, ast.StringLit):
        if isinstance(value, bool):
            fix = f"{name} = {str(value).lower()}"
        elif _is_number(value):
            fix = (
                f"{name} = {literal.value}"
                if _numeric(literal.value)
                else f"cast({name} AS String) = {text}"
            )
        else:
            return None
        kind = "a String"
    elif isinstance(value, str):
        if isinstance(literal, ast.BoolLit):
            kind, fix = "a Boolean", f"{name} = {ast.quote_string(text.lower())}"
        else:
            kind, fix = (
                "a number",
                f"cast({name} AS Decimal) = {text}, or {name} = {ast.quote_string(text)}",
            )
    else:
        return None
    return (
        f"{name} = {text} is false: {name} is the {type_name(value)} {show_value(value)} and "
        f"{text} is {kind}; = converts neither side, so values of different types are never "
        f"equal (write {fix})"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numeric(text: str) -> bool:
    """Whether a String converts to a number, as the comparisons convert it."""
    return parse_decimal_string(text) is not UNDEFINED


def explain_lines(
    rule: CompiledRule, payload: Payload, topic: str | None, context: Any
) -> list[str]:
    """The full report of `.explain` and `iotsql eval --explain`."""
    statement = rule.statement
    lines = [f"sql:    {ast.unparse(statement)}", f"version: {rule.sql_version.value}", "ast:"]
    lines.extend(dump_ast(statement, indent=1))
    explanation = rule.explain(payload.body, topic=topic, context=context)
    mismatch = explanation.reason if not explanation.topic_matched else None
    if topic is None:
        lines.append("topic:  (none: FROM is not checked, topic() is Undefined)")
    elif mismatch is None:
        lines.append(f"topic:  {topic} matches FROM {rule.topic_filter!r}")
    else:
        lines.append(f"topic:  {mismatch}")
        lines.append("        (the values below are those the rule computes if the topic matches)")
        explanation = rule.explain(payload.body, topic=None, context=context)
    for name, value in explanation.variables.items():
        lines.append(f"set:    @{name} = {_typed(value)}")
    for name, value in explanation.items.items():
        lines.append(f"select: {name} = {_typed(value)}")
    if statement.where is not None and explanation.error is None:
        value = explanation.where_value
        lines.append(f"where:  {ast.unparse(statement.where)}  ->  {_typed(value)}")
    if mismatch is not None:
        lines.append(f"result: does not fire: {mismatch}")
        hint = topic_mismatch_hint(rule.topic_filter, topic) if topic is not None else None
        lines.extend([f"        {hint}"] if hint else [])
    elif explanation.fired:
        lines.append("result: fires")
        notes = undefined_items(rule, explanation, payload, topic)
        lines.extend(f"note:   {note}" for note in notes)
    else:
        first, *rest = why_not(rule, explanation, payload, topic)
        lines.append(f"result: does not fire: {first}")
        lines.extend(f"        {line}" for line in rest)
    return lines
