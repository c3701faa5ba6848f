"""Rule definitions written for CloudFormation (PascalCase keys: `DynamoDBv2`, `PutItem`,
`TableName`) or Terraform (snake_case keys, nested blocks as lists: `dynamodbv2 { put_item {
table_name } }`) converted into the CreateTopicRule API's shape (`dynamoDBv2`, `putItem`,
`tableName`).

The target is AWS's own IoT service model (iotsql/actions/topic_rule_model.json): at each level
a key is matched against the member names of the shape, ignoring case and underscores, so the
irregular names (`DynamoDBv2`, `CloudwatchAlarm`, `IotSiteWise`, `OpenSearch`) need no table.
Three Terraform block names differ from the API's (`http_header`, kafka's `header`,
timestream's `dimension`). Scalars are coerced to the model's type as CloudFormation does
(`"true"` for a boolean, `1` for a string field). Every converted field remembers where it
came from, so a validation error names the template's field, not the API's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from iotsql.actions.schema import model
from iotsql.errors import RuleValidationError
from iotsql.suggest import did_you_mean

CLOUDFORMATION = "cloudformation"
TERRAFORM = "terraform"

#: Terraform's block names that are not the API's member names.
_TERRAFORM_RENAMES = {
    ("HttpAction", "httpheader"): "headers",
    ("KafkaAction", "header"): "headers",
    ("TimestreamAction", "dimension"): "dimensions",
}
#: Keys python-hcl2 adds to what it parses.
_HCL_META = frozenset({"__is_block__", "__start_line__", "__end_line__", "__comments__",
                       "__inline_comments__"})  # fmt: skip

Fail = Callable[[str, str], RuleValidationError]


def _fold(key: str) -> str:
    return key.replace("_", "").replace("-", "").casefold()


@functools.cache
def _members(shape_name: str) -> dict[str, str]:
    members: dict[str, Any] = model()[shape_name].get("members", {})
    return {_fold(name): name for name in members}


def styled(name: str, style: str) -> str:
    """An API member name as the style spells it: `queueUrl` -> `QueueUrl` / `queue_url`."""
    if style == TERRAFORM:
        spelled = {"dynamoDB": "dynamodb", "dynamoDBv2": "dynamodbv2", "headers": "http_header"}
        return spelled.get(name) or re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    return name[:1].upper() + name[1:]


class Converter:
    """Converts one rule's definition; `origins` maps each API field path
    (`topicRulePayload.actions[0].sqs.queueUrl`) to the source path it came from."""

    def __init__(self, style: str, fail: Fail) -> None:
        self.style = style
        self.fail = fail
        self.origins: dict[str, str] = {}

    def convert(self, value: Any, shape_name: str, api_path: str, src_path: str) -> Any:
        """The value in the API's shape, or None when it is to be left out (a null, and in
        Terraform an empty string or an empty list of blocks, which the provider omits)."""
        self.origins.setdefault(api_path, src_path)
        shape = model()[shape_name]
        kind = shape["type"]
        if value is None:
            return None
        if kind == "structure":
            return self._structure(value, shape_name, api_path, src_path)
        if kind == "list":
            if not isinstance(value, list):
                raise self.fail(src_path, "must be a list")
            if self.style == TERRAFORM and not value:
                return None
            member = shape["member"]["shape"]
            out = []
            for index, item in enumerate(value):
                converted = self.convert(
                    item, member, f"{api_path}[{index}]", f"{src_path}[{index}]"
                )
                if converted is not None:
                    out.append(converted)
            return out
        if kind == "map":
            if not isinstance(value, Mapping):
                raise self.fail(src_path, "must be an object")
            item_shape = shape["value"]["shape"]
            entries = {}
            for raw_key, item in value.items():
                if raw_key in _HCL_META:
                    continue
                key = _unquote(str(raw_key))
                converted = self.convert(item, item_shape, f"{api_path}.{key}", f"{src_path}.{key}")
                if converted is not None:
                    entries[key] = converted
            return entries
        return self._scalar(value, kind, src_path)

    def _structure(self, value: Any, shape_name: str, api_path: str, src_path: str) -> Any:
        if isinstance(value, list) and self.style == TERRAFORM:
            blocks = [v for v in value if v is not None]
            if not blocks:
                return None
            if len(blocks) > 1:
                raise self.fail(src_path, f"takes one block, not {len(blocks)}")
            value, src_path = blocks[0], f"{src_path}[0]"
        if not isinstance(value, Mapping):
            raise self.fail(src_path, f"must be an object, not {_type_name(value)}")
        members = _members(shape_name)
        shapes = model()[shape_name].get("members", {})
        out: dict[str, Any] = {}
        for raw_key, item in value.items():
            key = _unquote(str(raw_key))
            if key in _HCL_META:
                continue
            folded = _fold(key)
            name = members.get(folded) or _TERRAFORM_RENAMES.get((shape_name, folded))
            if name is None:
                spellings = [styled(m, self.style) for m in shapes]
                raise self.fail(f"{src_path}.{key}", f"unknown property; {shape_name} has: "
                                f"{', '.join(spellings)}{did_you_mean(key, spellings)}")  # fmt: skip
            converted = self.convert(item, shapes[name]["shape"], f"{api_path}.{name}",
                                     f"{src_path}.{key}")  # fmt: skip
            if converted is None:
                continue
            if name in out:
                raise self.fail(f"{src_path}.{key}", f"{name} is given twice")
            out[name] = converted
        return out

    def _scalar(self, value: Any, kind: str, src_path: str) -> Any:
        if kind == "string":
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, (int, float)):
                return str(value)
            if not isinstance(value, str):
                raise self.fail(src_path, f"must be a string, not {_type_name(value)}")
            if value == "" and self.style == TERRAFORM:
                return None
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool):
                raise self.fail(src_path, "must be an integer, not a boolean")
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
                return int(value)
            raise self.fail(src_path, f"must be an integer, not {value!r}")
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            raise self.fail(src_path, f"must be true or false, not {value!r}")
        return value


def _unquote(key: str) -> str:
    """python-hcl2 keeps the quotes of quoted keys (`"bootstrap.servers"`)."""
    if len(key) >= 2 and key[0] == key[-1] == '"':
        return key[1:-1]
    return key


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__
