"""Showing why a rule did or did not fire, for `iotsql eval` and the REPL: the AST as a tree,
the value of each SET variable, SELECT item and of WHERE for one message, and the attributes
WHERE reads that the payload does not have (the usual reason a WHERE is Undefined)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from iotsql import ast
from iotsql.cli.check import children, path_of
from iotsql.cli.common import Payload, show_value
from iotsql.rule import CompiledRule, Explanation
from iotsql.values import type_name


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
    for path in _where_paths(statement.where):
        note = _missing(path, payload.document)
        if note and note not in notes:
            notes.append(note)
    return notes


def _where_paths(where: Any) -> Iterator[list[str]]:
    stack = [where]
    while stack:
        node = stack.pop()
        path = path_of(node)
        if path is not None:
            yield path
            continue
        if isinstance(node, ast.Subquery):  # names inside are attributes of each element
            stack.append(node.source)
            continue
        stack.extend(reversed(list(children(node))))


def _missing(path: list[str], document: Any) -> str | None:
    current = document
    for depth, key in enumerate(path):
        if isinstance(current, Mapping) and key in current:
            current = current[key]
            continue
        where = ".".join(path[:depth])
        written = ".".join(path)
        if not isinstance(current, Mapping):
            kind = type_name(current)
            return f"{written} is Undefined: {where or 'the payload'} is {kind}, not an object"
        close = difflib.get_close_matches(key, [str(k) for k in current], n=1)
        owner = f"`{where}`" if where else "the payload"
        suggestion = f" (did you mean {'.'.join([*path[:depth], close[0]])}?)" if close else ""
        return f"{written} is Undefined: {owner} has no key {key!r}{suggestion}"
    return None


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
    else:
        first, *rest = why_not(rule, explanation, payload)
        lines.append(f"result: does not fire: {first}")
        lines.extend(f"        {line}" for line in rest)
    return lines
