"""Topic rules in the AWS CLI's JSON: a `get-topic-rule` output, a `create-topic-rule` input
(`ruleName` and `topicRulePayload`), a list of those, `{"rules": [...]}`, or an object mapping
names to payloads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from iotsql.errors import RuleValidationError


def iter_rule_definitions(
    source: Any, where: str = "rules"
) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """(name, topicRulePayload) pairs from the JSON shapes `RulesEngine.load_rules` accepts;
    errors name `where` (the file) and the place in it."""
    data = source
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith(("{", "["))
    ):
        path = Path(source)
        where = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RuleValidationError(f"no such file: {path}", where) from None
        except json.JSONDecodeError as err:
            raise RuleValidationError(
                f"invalid JSON: {err.msg} (line {err.lineno})", where
            ) from None
        except RecursionError:
            raise RuleValidationError("JSON nested too deeply to read", where) from None
    elif isinstance(source, (str, bytes)):
        try:
            data = json.loads(source)
        except json.JSONDecodeError as err:
            raise RuleValidationError(
                f"invalid JSON: {err.msg} (line {err.lineno})", where
            ) from None
        except RecursionError:
            raise RuleValidationError("JSON nested too deeply to read", where) from None
    yield from _definitions(data, where)


class UnnamedPayloadError(RuleValidationError):
    """A topicRulePayload (`sql`, `actions`) with no ruleName beside it: the form the AWS
    documentation shows, which `iotsql replay --topic-rule-payload` takes and names."""


def _definitions(data: Any, where: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield from _definitions(item, f"{where}[{index}]")
        return
    if not isinstance(data, Mapping):
        raise RuleValidationError("a rule definition must be a JSON object", where)
    if "rules" in data and isinstance(data["rules"], list):
        yield from _definitions(data["rules"], f"{where}.rules")
        return
    if isinstance(data.get("rule"), Mapping):  # get-topic-rule output
        rule = dict(data["rule"])
        name = rule.pop("ruleName", None) or str(data.get("ruleArn", "")).rpartition("/")[2]
        if not name:
            raise RuleValidationError("the rule has no ruleName", f"{where}.rule.ruleName")
        for extra in ("createdAt",):
            rule.pop(extra, None)
        yield name, rule
        return
    if "topicRulePayload" in data:  # create-topic-rule input
        name = data.get("ruleName")
        if not isinstance(name, str):
            raise RuleValidationError("ruleName is required", f"{where}.ruleName")
        yield name, data["topicRulePayload"]
        return
    if "sql" in data:
        name = data.get("ruleName") or data.get("name")
        if not isinstance(name, str):
            raise UnnamedPayloadError("a rule payload needs a ruleName", f"{where}.ruleName")
        payload = {k: v for k, v in data.items() if k not in ("ruleName", "name")}
        yield name, payload
        return
    for name, payload in data.items():  # {"RuleName": {...payload...}}
        if not isinstance(payload, Mapping):
            raise RuleValidationError("expected a topic rule payload object", f"{where}.{name}")
        yield str(name), payload
