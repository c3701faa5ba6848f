"""Showing why a rule did or did not fire, for `iotsql eval` and the REPL: the AST as a tree,
the value of each SET variable, SELECT item and of WHERE for one message, and the attributes
WHERE and the SELECT items read that the payload does not have (the usual reason a WHERE is
Undefined or a key is missing from the output), with the keys they were probably meant to be."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from iotsql import ast
from iotsql.cli.check import children, path_of
from iotsql.cli.common import Payload, show_value
from iotsql.rule import CompiledRule, Explanation
from iotsql.suggest import alternatives, closest, path_expression
from iotsql.values import UNDEFINED, type_name


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
        suggestion = f" (did you mean {alternatives(options)}?)" if options else ""
        return f"{owner} has no key {key!r}{suggestion}"
    return None


def _missing(path: list[str], document: Any) -> str | None:
    reason = missing_reason(path, document)
    return None if reason is None else f"{'.'.join(path)} is Undefined: {reason}"


def undefined_items(rule: CompiledRule, explanation: Explanation, payload: Payload) -> list[str]:
    """Notes on the SELECT items that are Undefined (and so left out of the output) because an
    attribute they read is missing from the payload, each with "did you mean"."""
    if not payload.is_json or not explanation.fired:
        return []
    select = rule.statement.select
    notes: list[str] = []
    for item, key in zip(select.items, rule.select_keys, strict=True):
        if explanation.items.get(key, UNDEFINED) is not UNDEFINED:
            continue
        if select.value:
            what = "SELECT VALUE is Undefined, so the output is an empty body"
        else:
            what = f"SELECT item {key} is Undefined, so the output leaves it out"
        direct = path_of(item.expr)
        if direct is not None:
            reason = missing_reason(direct, payload.document)
            if reason is not None:
                notes.append(f"{what}: {reason}")
            continue
        reasons = (_missing(path, payload.document) for path in attribute_paths(item.expr))
        notes.extend(f"{what}: {reason}" for reason in dict.fromkeys(r for r in reasons if r))
    return notes


def why_not(rule: CompiledRule, explanation: Explanation, payload: Payload) -> list[str]:
    """Lines saying why a rule did not fire: the reason, WHERE and its value, the missing
    attributes it reads."""
    if explanation.terminated:
        return [explanation.reason]
    if explanation.error is not None:
        return [f"the rule failed: {explanation.error}"]
    if not explanation.topic_matched:
        return [explanation.reason]
    where = rule.statement.where
    if where is None:  # pragma: no cover - a rule without WHERE always fires
        return [explanation.reason]
    lines = [f"WHERE {ast.unparse(where)} is {show_value(explanation.where_value)}, not true"]
    lines.extend(missing_attributes(rule.statement, payload))
    return lines


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
    elif explanation.fired:
        lines.append("result: fires")
        lines.extend(f"note:   {note}" for note in undefined_items(rule, explanation, payload))
    else:
        first, *rest = why_not(rule, explanation, payload)
        lines.append(f"result: does not fire: {first}")
        lines.extend(f"        {line}" for line in rest)
    return lines
