"""CloudFormation as CloudFormation reads it: the properties of a resource checked, case
sensitively, against the CloudFormation resource schemas that cfn-lint ships, and `Fn::GetAtt`
attributes against the target type's attributes.

Internals of cfn-lint used here, read as data without importing cfn-lint (its import takes most
of a second): `cfnlint/data/schemas/providers/us-east-1.json` (cfn-lint 1.5x on; before it,
`us_east_1.py`: the resource type -> schema hash table) and `cfnlint/data/schemas/resources/<hash>.json` (the schemas) in cfn-lint 1.x from
about 1.40; `cfnlint/data/schemas/providers/us_east_1/<type>.json` before. When neither layout
is there, cfn-lint's own API (`cfnlint.schema.PROVIDER_SCHEMA_MANAGER`) is asked. The attributes
of a type are its schema's `readOnlyProperties`; any other attribute is confirmed with cfn-lint's
`get_type_getatts` (which knows the exceptions) before it is reported. Supported: cfn-lint 1.x
(`SUPPORTED`); another major version is used through its API only.

Without cfn-lint (`pip install 'iotsql[cloudformation]'`), the `AWS::IoT::TopicRule` schema is
derived from AWS's IoT service model that iotsql ships (the CloudFormation names are the API's
with an upper-case first letter; the few members CloudFormation lacks are left out), and
`Fn::GetAtt` attributes are not checked. With cfn-lint, the members of that derived schema that
cfn-lint's lacks are added to it: an action newer than the installed cfn-lint (InfluxDB in
cfn-lint 1.51) is accepted under its CloudFormation name, still case-sensitively.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from iotsql.actions.schema import model

SUPPORTED = "cfn-lint>=1.0,<2"
TOPIC_RULE = "AWS::IoT::TopicRule"
_REGION = "us-east-1"

#: The CloudFormation type each SAM resource type becomes (for its attributes).
SAM_TYPES = {
    "AWS::Serverless::Function": "AWS::Lambda::Function",
    "AWS::Serverless::SimpleTable": "AWS::DynamoDB::Table",
    "AWS::Serverless::StateMachine": "AWS::StepFunctions::StateMachine",
    "AWS::Serverless::Api": "AWS::ApiGateway::RestApi",
    "AWS::Serverless::HttpApi": "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::LayerVersion": "AWS::Lambda::LayerVersion",
    "AWS::Serverless::Application": "AWS::CloudFormation::Stack",
    "AWS::Serverless::GraphQLApi": "AWS::AppSync::GraphQLApi",
}
#: Members of the API model CloudFormation's schema does not have (for the derived schema).
_NOT_IN_CLOUDFORMATION = {("Action", "salesforce"), ("DynamoDBAction", "operation"),
                          ("IotAnalyticsAction", "channelArn")}  # fmt: skip

ProblemKind = Literal["unknown-property", "missing-property", "invalid-value"]


@dataclass(frozen=True)
class SchemaProblem:
    """One property a schema refuses: `path` in the template's spelling."""

    kind: ProblemKind
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


# ---- reading cfn-lint's data ---------------------------------------------------------------------


@functools.cache
def _cfnlint_root() -> Path | None:
    try:
        spec = importlib.util.find_spec("cfnlint")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


@functools.cache
def cfnlint_version() -> str | None:
    """The installed cfn-lint's version (read from its version.py), None without cfn-lint."""
    root = _cfnlint_root()
    if root is None:
        return None
    try:
        found = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", (root / "version.py").read_text())
    except OSError:
        return None
    return found.group(1) if found else None


def available() -> bool:
    """Whether cfn-lint's schemas are there."""
    return cfnlint_version() is not None


def _major_supported() -> bool:
    version = cfnlint_version()
    return version is not None and version.split(".")[0] == "1"


@functools.cache
def _provider_table() -> str:
    root = _cfnlint_root()
    if root is None:
        return ""
    providers = root / "data" / "schemas" / "providers"
    # The type -> schema-file table of us-east-1: a Python module until cfn-lint 1.5x, a JSON
    # file (us-east-1.json) since; both spell each entry `"AWS::X::Y": "<hash>"`.
    for table in (providers / "us-east-1.json", providers / "us_east_1.py"):
        try:
            return table.read_text("utf-8")
        except OSError:
            continue
    return ""


def _read_schema_files(resource_type: str) -> dict[str, Any] | None:
    root = _cfnlint_root()
    if root is None or not _major_supported():
        return None
    schemas = root / "data" / "schemas"
    found = re.search(rf'"{re.escape(resource_type)}":\s*"([0-9a-f]+)"', _provider_table())
    candidates = []
    if found is not None:
        candidates.append(schemas / "resources" / f"{found.group(1)}.json")
    candidates.append(schemas / "providers" / "us_east_1" /
                      f"{resource_type.replace('::', '-').lower()}.json")  # fmt: skip
    for candidate in candidates:
        try:
            data = json.loads(candidate.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("typeName") == resource_type:
            return data
    return None


def _schema_from_api(resource_type: str) -> dict[str, Any] | None:
    try:
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
    except ImportError:
        return None
    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(_REGION, resource_type)
    except Exception:  # cfn-lint's ResourceNotFoundError and whatever a future version raises
        return None
    data = getattr(schema, "schema", None)
    return data if isinstance(data, dict) else None


@functools.cache
def resource_schema(resource_type: str) -> dict[str, Any] | None:
    """The CloudFormation schema of a resource type (cfn-lint's), None for a type it does not
    know; the TopicRule schema derived from the IoT model when cfn-lint is not installed."""
    schema = _read_schema_files(resource_type)
    if schema is None and available():
        schema = _schema_from_api(resource_type)
    if resource_type == TOPIC_RULE:
        derived = _derived_topic_rule_schema()
        schema = derived if schema is None else _newer_members(schema, derived)
    return schema


def _newer_members(schema: dict[str, Any], derived: dict[str, Any]) -> dict[str, Any]:
    """cfn-lint's TopicRule schema with the members the IoT model iotsql ships has and it lacks
    (an action CloudFormation added after that cfn-lint release, such as InfluxDB): a template
    using them is not refused for being newer than the installed cfn-lint."""
    merged: dict[str, Any] = json.loads(json.dumps(schema))
    definitions = merged.setdefault("definitions", {})
    for name, definition in derived["definitions"].items():
        if name not in definitions:
            definitions[name] = definition
            continue
        properties = definitions[name].setdefault("properties", {})
        for member, spec in definition.get("properties", {}).items():
            properties.setdefault(member, spec)
    return merged


def _derived_topic_rule_schema() -> dict[str, Any]:
    shapes = model()
    definitions: dict[str, Any] = {}

    def convert(shape_name: str) -> dict[str, Any]:
        shape = shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            if shape_name not in definitions:
                definitions[shape_name] = {}
                members = {name: spec for name, spec in shape.get("members", {}).items()
                           if (shape_name, name) not in _NOT_IN_CLOUDFORMATION}  # fmt: skip
                definitions[shape_name] = {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {_cfn(n): convert(s["shape"]) for n, s in members.items()},
                    "required": [_cfn(n) for n in shape.get("required", []) if n in members],
                }
            return {"$ref": f"#/definitions/{shape_name}"}
        if kind == "list":
            return {"type": "array", "items": convert(shape["member"]["shape"])}
        if kind == "map":
            return {"type": "object", "patternProperties": {".*": convert(shape["value"]["shape"])}}
        return {"type": {"boolean": "boolean", "integer": "integer", "long": "integer"}.get(
            kind, "string")}  # fmt: skip

    payload = convert("TopicRulePayload")
    return {
        "typeName": TOPIC_RULE,
        "definitions": definitions,
        "additionalProperties": False,
        "properties": {
            "RuleName": {"type": "string"},
            "TopicRulePayload": payload,
            "Tags": {"type": "array"},
            "Arn": {"type": "string"},
        },
        "required": ["TopicRulePayload"],
        "readOnlyProperties": ["/properties/Arn"],
    }


def _cfn(name: str) -> str:
    return name[:1].upper() + name[1:]


# ---- attributes --------------------------------------------------------------------------------


@functools.cache
def _read_only(resource_type: str) -> frozenset[str] | None:
    schema = resource_schema(resource_type)
    if schema is None:
        return None
    names = set()
    for pointer in schema.get("readOnlyProperties", []):
        parts = [p for p in str(pointer).split("/") if p and p != "properties"]
        names.add(".".join(parts))
    return frozenset(names)


@functools.cache
def _cfnlint_getatts(resource_type: str) -> frozenset[str] | None:
    try:
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

        found = PROVIDER_SCHEMA_MANAGER.get_type_getatts(resource_type, _REGION)
    except Exception:  # not installed, or a type it does not know
        return None
    return frozenset(str(name) for name in found)


def attribute_problem(resource_type: str, attribute: str) -> str | None:
    """Why `Fn::GetAtt <resource>.<attribute>` is refused for a resource of `resource_type`,
    None when it is fine or cannot be known (a custom resource, a nested stack's outputs, a type
    cfn-lint does not know, no cfn-lint)."""
    if not available():
        return None
    if resource_type.startswith("Custom::") or resource_type in (
        "AWS::CloudFormation::CustomResource",
        "AWS::CloudFormation::Stack",
        "AWS::Serverless::Application",
    ):
        return None
    effective = SAM_TYPES.get(resource_type, resource_type)
    read_only = _read_only(effective)
    if read_only is None or attribute in read_only:
        return None
    known = _cfnlint_getatts(effective)
    if known is None or attribute in known:
        return None
    hint = did_you_mean(attribute, sorted(known))
    names = ", ".join(sorted(known)) or "none"
    message = f"{resource_type} has no attribute {attribute!r} (it has {names})"
    return f"{message}; {hint}" if hint else message


# ---- properties ----------------------------------------------------------------------------------


def did_you_mean(name: str, candidates: list[str]) -> str | None:
    """`did you mean X?` for a name that differs from a candidate only in case, or is close."""
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return f"did you mean {candidate}?"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=1,
                                                               cutoff=0.75)]  # fmt: skip
    return f"did you mean {close[0]}?" if close else None


def check_properties(resource_type: str, properties: Any, path: str) -> list[SchemaProblem]:
    """Every property of `properties` (a resource's Properties, intrinsics unevaluated) that the
    type's schema refuses; empty when the schema is not known."""
    schema = resource_schema(resource_type)
    if schema is None:
        return []
    problems: list[SchemaProblem] = []
    _check(properties, schema, schema, path, resource_type, problems)
    return problems


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in node and seen < 50:
        pointer = str(node["$ref"])
        target: Any = root
        for part in pointer.lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node = target if isinstance(target, Mapping) else {}
        seen += 1
    return node


def _intrinsic(value: Any) -> str | None:
    if isinstance(value, Mapping) and len(value) == 1:
        (key,) = value
        if key == "Ref" or (isinstance(key, str) and key.startswith("Fn::")):
            return str(key)
    return None


def _check(value: Any, node: Mapping[str, Any], root: Mapping[str, Any], path: str, what: str,
           problems: list[SchemaProblem]) -> None:  # fmt: skip
    node = _resolve(node, root)
    function = _intrinsic(value)
    if function == "Fn::If":
        branches = value["Fn::If"]
        if isinstance(branches, list) and len(branches) == 3:
            for branch in branches[1:]:
                _check(branch, node, root, path, what, problems)
        return
    if function is not None:
        return  # its value is known only once evaluated
    kind = node.get("type")
    properties = node.get("properties")
    if kind == "object" or properties is not None:
        if not isinstance(value, Mapping):
            if value is not None:
                problems.append(SchemaProblem("invalid-value", path,
                                              f"must be an object of {what} properties"))  # fmt: skip
            return
        _check_object(value, node, root, path, what, problems)
        return
    if kind == "array":
        if not isinstance(value, list):
            if value is not None:
                problems.append(SchemaProblem("invalid-value", path, "must be a list"))
            return
        items = node.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                _check(item, items, root, f"{path}[{index}]", what, problems)
        return
    if isinstance(value, (Mapping, list)) and kind in ("string", "boolean", "integer", "number"):
        problems.append(
            SchemaProblem(
                "invalid-value",
                path,
                f"must be a {kind}, not {'an object' if isinstance(value, Mapping) else 'a list'}",
            )
        )
        return
    allowed = node.get("enum")
    if isinstance(allowed, list) and isinstance(value, str) and value not in allowed:
        hint = did_you_mean(value, [str(a) for a in allowed])
        problems.append(SchemaProblem("invalid-value", path,
                                      f"{value!r} is not one of {', '.join(map(str, allowed))}",
                                      hint))  # fmt: skip


def _check_object(value: Mapping[str, Any], node: Mapping[str, Any], root: Mapping[str, Any],
                  path: str, what: str, problems: list[SchemaProblem]) -> None:  # fmt: skip
    properties: Mapping[str, Any] = node.get("properties") or {}
    patterns: Mapping[str, Any] = node.get("patternProperties") or {}
    closed = node.get("additionalProperties") is False
    suggested: set[str] = set()
    for raw_key, item in value.items():
        key = str(raw_key)
        where = f"{path}.{key}" if path else key
        if key in properties:
            _check(item, properties[key], root, where, _what(key, properties[key]), problems)
            continue
        pattern = next((p for p in patterns if re.search(p, key)), None)
        if pattern is not None:
            _check(item, patterns[pattern], root, where, what, problems)
            continue
        if closed:
            names = sorted(properties)
            hint = did_you_mean(key, names)
            if hint is not None:
                suggested.add(hint[len("did you mean ") : -1])
            known = f"{what} has {', '.join(names)}"
            problems.append(SchemaProblem(
                "unknown-property", where,
                f"unknown property of {what} (names are case-sensitive in CloudFormation)",
                f"{hint} ({known})" if hint else known,
            ))  # fmt: skip
    for required in node.get("required", []):
        if required not in value and required not in suggested:
            problems.append(SchemaProblem("missing-property", f"{path}.{required}", "is required"))


def _what(key: str, node: Mapping[str, Any]) -> str:
    """How to name an object in messages: the definition it refers to (`SqsAction`)."""
    reference = node.get("$ref") or (node.get("items") or {}).get("$ref")
    if isinstance(reference, str):
        return reference.rsplit("/", 1)[-1]
    return key
