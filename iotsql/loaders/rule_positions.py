"""Where a loaded rule's SQL and fields are in the file it came from, for each format: the
loaders' paths (`origins`) lead to the field in CloudFormation, SAM and serverless.yml; a
Terraform address (`aws_iot_topic_rule.r[0].sql`) to its `resource` block (in `.tf` and
`.tf.json`) or to its entry in `terraform show -json` output; the AWS CLI's shapes, which have
no fixed path, are searched for the payload holding the rule's SQL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iotsql.loaders.positions import (
    FilePosition,
    Node,
    SourceDocument,
    TextOrigin,
    iter_nodes,
    split_path,
    walk,
)

if TYPE_CHECKING:
    from iotsql.loaders.base import LoadedRule

_TERRAFORM = ("terraform", "terraform-json")
_INSTANCE_KEY = re.compile(r'^([^.\[]+\.[^.\[]+)\[(?:\d+|"(?:[^"\\]|\\.)*")\]')


def document_path(fmt: str, path: str, document: SourceDocument) -> list[str | int]:
    """The segments of a loader's path in the file's own tree."""
    if fmt in _TERRAFORM and document.syntax in ("hcl", "json") and _is_config(document):
        # `aws_iot_topic_rule.r[0].sql`: the instance key is not written in the configuration
        return ["resource", *split_path(_INSTANCE_KEY.sub(r"\1", path, count=1))]
    return split_path(path)


def _is_config(document: SourceDocument) -> bool:
    root = document.root
    return root is not None and (document.syntax == "hcl" or root.child("resource") is not None)


def locate_path(fmt: str, file: str, path: str, document: SourceDocument | None,
                fallback_line: int | None = None) -> FilePosition:  # fmt: skip
    """The place of a loader's path (an error's `path`) in the file; the deepest parent found
    when the whole path is not (`exact` False)."""
    if document is not None and document.root is not None:
        node, exact = _find(fmt, path, document)
        start = node.key_start if node.key_start is not None else node.start
        end = node.key_end if node.key_end is not None else node.end
        return document.source.span(start, end, exact)
    return FilePosition(file, fallback_line or 1, 1, exact=False)


def _find(fmt: str, path: str, document: SourceDocument) -> tuple[Node, bool]:
    root = document.root
    assert root is not None
    if fmt == "terraform-json" or (fmt in _TERRAFORM and not _is_config(document)):
        found = _state_resource(root, path)
        if found is not None:
            return found
    segments = document_path(fmt, path, document)
    node, used = walk(root, segments)
    return node, used == len(segments)


def _state_resource(root: Node, path: str) -> tuple[Node, bool] | None:
    """`aws_iot_topic_rule.r.sqs[0]` in `terraform show -json` output: the resource whose
    `address` it starts with, then the rest under its `values`."""
    for _, node in iter_nodes(root):
        if node.kind != "map":
            continue
        address = node.child("address")
        values = node.child("values")
        text = address.text() if address is not None else None
        if values is None or text is None or not path.startswith(text.value):
            continue
        rest = path[len(text.value) :]
        if rest and rest[0] not in ".[":
            continue
        segments = split_path(rest)
        found, used = walk(values, segments)
        return found, used == len(segments)
    return None


def sql_origin(rule: LoadedRule) -> TextOrigin | None:
    """Where each character of the rule's SQL is in its file."""
    document = rule.document
    if document is None:
        return None
    sql = rule.sql
    if rule.format in ("aws-cli", "terraform-json"):
        found = document.find_strings("sql", sql)
        return found[0] if found else None
    path = rule.source_path("topicRulePayload.sql")
    if document.root is None:
        return None
    node, exact = _find(rule.format, path, document)
    if not exact:
        return None
    from iotsql.loaders.positions import string_origin

    origin = string_origin(node)
    return origin.aligned(sql) if origin is not None else None


def field_position(rule: LoadedRule, api_field: str) -> FilePosition:
    """The place in the file of a field of the rule's API payload."""
    document = rule.document
    if rule.format == "aws-cli" and document is not None and document.root is not None:
        return _cli_field(rule, api_field, document)
    return locate_path(rule.format, rule.file, rule.source_path(api_field), document, rule.line)


def _cli_payload_named(root: Node, name: str) -> Node | None:
    """The payload of the rule named `name` when no `sql` identifies it (the field is missing
    or misspelt): the `topicRulePayload` beside its `ruleName`, the object holding its
    `ruleName`, or the value of its key in `{name: payload}`."""
    for _, node in iter_nodes(root):
        if node.kind != "map":
            continue
        named = node.child("ruleName")
        origin = named.text() if named is not None else None
        if origin is not None and origin.value == name:
            return node.child("topicRulePayload") or node
    keyed = root.child(name) if root.kind == "map" else None
    return keyed if keyed is not None and keyed.kind == "map" else None


def _cli_field(rule: LoadedRule, api_field: str, document: SourceDocument) -> FilePosition:
    """In AWS CLI JSON: under the object whose `sql` is the rule's."""
    root = document.root
    assert root is not None
    payload: Node | None = None
    for _, node in iter_nodes(root):
        if node.kind != "map":
            continue
        sql = node.child("sql")
        origin = sql.text() if sql is not None else None
        if origin is not None and origin.value == rule.sql:
            payload = node
            break
    if payload is None:
        payload = _cli_payload_named(root, rule.name)
    if payload is None:
        return FilePosition(rule.file, 1, 1, exact=False)
    segments: Sequence[str | int] = split_path(api_field)
    if segments and segments[0] == "topicRulePayload":
        segments = segments[1:]
    node, used = walk(payload, segments)
    start = node.key_start if node.key_start is not None else node.start
    end = node.key_end if node.key_end is not None else node.end
    return document.source.span(start, end, used == len(segments))
