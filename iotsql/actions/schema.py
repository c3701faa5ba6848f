"""Validation of CreateTopicRule payloads against the shapes of AWS's IoT service model.

`topic_rule_model.json` is the part of botocore's `iot/2015-05-28/service-2.json` reachable
from `TopicRulePayload` (and `RuleName`), so iotsql validates exactly as the API does without
depending on botocore at run time. Regenerate it after a botocore upgrade with
`python -m iotsql.actions.schema > iotsql/actions/topic_rule_model.json`; a test compares it
with the installed botocore when there is one.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import sys
from collections.abc import Mapping
from typing import Any

from iotsql.errors import RuleValidationError
from iotsql.suggest import did_you_mean

MODEL_FILE = "topic_rule_model.json"
_ROOTS = ("TopicRulePayload", "RuleName")
_KEEP = ("type", "required", "members", "member", "key", "value", "pattern", "enum", "min", "max")


def extract_from_botocore() -> dict[str, Any]:
    """The shapes reachable from TopicRulePayload in the installed botocore's IoT model."""
    import botocore.loaders  # only for regeneration and the consistency test

    shapes = botocore.loaders.Loader().load_service_model("iot", "service-2")["shapes"]
    wanted: dict[str, Any] = {}
    stack = list(_ROOTS)
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        shape = shapes[name]
        kept = {k: shape[k] for k in _KEEP if k in shape}
        if "members" in kept:
            kept["members"] = {m: {"shape": d["shape"]} for m, d in kept["members"].items()}
            stack.extend(d["shape"] for d in kept["members"].values())
        for key in ("member", "key", "value"):
            if key in kept:
                kept[key] = {"shape": kept[key]["shape"]}
                stack.append(kept[key]["shape"])
        wanted[name] = kept
    return dict(sorted(wanted.items()))


@functools.cache
def model() -> dict[str, Any]:
    """botocore's shapes reachable from TopicRulePayload (the packaged snapshot)."""
    text = importlib.resources.files("iotsql.actions").joinpath(MODEL_FILE).read_text("utf-8")
    shapes: dict[str, Any] = json.loads(text)
    return shapes


@functools.lru_cache(maxsize=64)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text, re.DOTALL)


def _fail(path: str, message: str) -> RuleValidationError:
    return RuleValidationError(message, path)


def validate_shape(value: Any, shape_name: str, path: str) -> None:
    """Raise RuleValidationError naming the first field of `value` that `shape_name` rejects."""
    shape = model()[shape_name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise _fail(path, f"must be an object ({shape_name})")
        members: dict[str, Any] = shape.get("members", {})
        # Unknown keys first: a misspelt field (`queueURL`) is the reason the right one
        # (`queueUrl`) looks missing, so the error names the misspelling and the field meant.
        for key in value:
            if key not in members:
                raise _fail(f"{path}.{key}", _unknown_field(str(key), shape_name, members))
        for required in shape.get("required", ()):
            if value.get(required) is None:
                raise _fail(f"{path}.{required}", "is required")
        for key, item in value.items():
            if item is not None:
                validate_shape(item, members[key]["shape"], f"{path}.{key}")
    elif kind == "list":
        if not isinstance(value, list):
            raise _fail(path, "must be a list")
        _check_size(len(value), shape, path, "items")
        for index, item in enumerate(value):
            validate_shape(item, shape["member"]["shape"], f"{path}[{index}]")
    elif kind == "map":
        if not isinstance(value, Mapping):
            raise _fail(path, "must be an object")
        _check_size(len(value), shape, path, "entries")
        for key, item in value.items():
            validate_shape(key, shape["key"]["shape"], f"{path}.{key}")
            validate_shape(item, shape["value"]["shape"], f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            raise _fail(path, f"must be a string, not {type(value).__name__}")
        _check_size(len(value), shape, path, "characters")
        if "enum" in shape and value not in shape["enum"]:
            raise _fail(path, f"must be one of {', '.join(shape['enum'])}, not {value!r}")
        pattern = shape.get("pattern")
        if pattern and _pattern(pattern).search(value) is None:
            raise _fail(path, f"does not match the pattern {pattern}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, "must be an integer")
        if "min" in shape and value < shape["min"]:
            raise _fail(path, f"must be at least {shape['min']}")
        if "max" in shape and value > shape["max"]:
            raise _fail(path, f"must be at most {shape['max']}")
    elif kind == "boolean" and not isinstance(value, bool):
        raise _fail(path, "must be true or false")


def _unknown_field(key: str, shape_name: str, members: Mapping[str, Any]) -> str:
    """`is not a field of SqsAction (known: ...); did you mean queueUrl?`."""
    return (
        f"is not a field of {shape_name} (known: {', '.join(members)}){did_you_mean(key, members)}"
    )


def _check_size(size: int, shape: Mapping[str, Any], path: str, unit: str) -> None:
    if "min" in shape and size < shape["min"]:
        raise _fail(path, f"must have at least {shape['min']} {unit}")
    if "max" in shape and size > shape["max"]:
        raise _fail(path, f"must have at most {shape['max']} {unit}")


def validate_topic_rule_payload(payload: Any, path: str = "topicRulePayload") -> None:
    validate_shape(payload, "TopicRulePayload", path)


def validate_rule_name(name: Any) -> None:
    validate_shape(name, "RuleName", "ruleName")


def action_shape_names() -> dict[str, str]:
    """AWS action key (`sqs`) -> model shape name (`SqsAction`)."""
    members = model()["Action"]["members"]
    return {key: spec["shape"] for key, spec in members.items()}


if __name__ == "__main__":
    json.dump(extract_from_botocore(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
