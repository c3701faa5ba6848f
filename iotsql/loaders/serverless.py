"""Topic rules from a Serverless Framework service (`serverless.yml`): the `iot` events of its
functions, and any `AWS::IoT::TopicRule` in its `resources` section.

Each `iot` event becomes the rule the framework deploys (lib/plugins/aws/package/compile/events/
iot.js): `RuleName` from `name`, else the logical id `<Function>IotTopicRule<n>` (n counts the
function's iot events from 1); newlines removed from the SQL, name, description and version;
`ruleDisabled` when `enabled: false`; one action invoking the function, whose deployed name is
`<service>-<stage>-<function>` unless the function sets `name`.

Variables are resolved where that needs no AWS account: `${self:...}`, `${opt:stage}` and any
`${opt:...}` (from `parameters`), `${sls:stage}`, `${env:NAME}` (from `parameters['env:NAME']`,
else the environment), `${aws:region}`, `${aws:accountId}`, `${param:...}`, `${strToBool(...)}`,
fallbacks (`${opt:stage, 'dev'}`), and nested variables. Any other source (`${ssm:...}`,
`${cf:...}`, `${file(...)}`...) takes its value from `parameters` under its full text
(`parameters={"ssm:/iot/threshold": "30"}`); otherwise it is left as it is, which is an error
only in a rule's SQL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final

from iotsql.errors import RuleValidationError
from iotsql.limits import current_limits
from iotsql.loaders.base import LoadedRule, SchemaError, per_resource, source_error
from iotsql.loaders.cfn_schema import SchemaProblem, did_you_mean
from iotsql.loaders.cloudformation import Template
from iotsql.loaders.model import CLOUDFORMATION, Converter
from iotsql.loaders.parameters import declare, give_value
from iotsql.loaders.placeholders import Environment, Placeholders

_VARIABLE = re.compile(r"\$\{([^${}]*)\}")
_UNRESOLVED: Any = type("Unresolved", (), {})()
_IOT_KEYS = ("sql", "sqlVersion", "name", "enabled", "description")


def normalize_name(name: str) -> str:
    """The framework's `getNormalizedFunctionName`: `-` -> `Dash`, `_` -> `Underscore`, first
    letter upper-cased."""
    name = name.replace("-", "Dash").replace("_", "Underscore")
    return name[:1].upper() + name[1:]


def _split_fallbacks(text: str) -> list[str]:
    """`opt:stage, 'dev'` -> [`opt:stage`, `'dev'`] (commas inside quotes or parentheses stay)."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


#: Variables one string may hold (a longer one is refused, naming where it is).
MAX_VARIABLES_PER_STRING: Final = 100


class Variables:
    """Resolves the `${...}` variables of one service."""

    def __init__(
        self,
        root: Mapping[str, Any],
        parameters: Mapping[str, Any],
        env: Environment,
        fail: Callable[[str, str], RuleValidationError] | None = None,
    ):
        self.root = root
        self.parameters = parameters
        self.env = env
        self.fail = fail or (lambda path, message: RuleValidationError(message, path))
        self._depth = 0
        #: The `self:` addresses being resolved, outermost first: one seen again is a cycle.
        self._resolving: list[str] = []
        #: Each address resolved once: variables referring to each other twice at each level
        #: would otherwise take 2**depth lookups.
        self._resolved: dict[str, Any] = {}
        self._max_text = current_limits().max_document_bytes
        self._stage: str | None = None

    @property
    def stage(self) -> str:
        if self._stage is None:
            self._stage = "dev"  # while provider.stage is resolved, ${sls:stage} means the default
            given = self.parameters.get("stage", self.parameters.get("opt:stage"))
            provider = self.root.get("provider")
            declared = provider.get("stage") if isinstance(provider, Mapping) else None
            value = given if given is not None else self.resolve(declared)
            self._stage = str(value) if isinstance(value, (str, int)) and value != "" else "dev"
        return self._stage

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, Mapping):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def _string(self, text: str) -> Any:
        original = text
        hidden: list[str] = []
        for _ in range(MAX_VARIABLES_PER_STRING):
            match = _VARIABLE.search(text)
            if match is None:
                break
            value = self._variable(match.group(1))
            if value is _UNRESOLVED:
                hidden.append(match.group(0))
                replacement = f"\x00{len(hidden) - 1}\x00"
            elif match.group(0) == text and not isinstance(value, str):
                return value
            elif isinstance(value, (str, int, float, bool)):
                replacement = str(value).lower() if isinstance(value, bool) else str(value)
                if "${" in replacement:
                    # A resolved value is final: its own `${...}` (left unresolved) must not be
                    # looked up again here, which would repeat the work at every level.
                    hidden.append(replacement)
                    replacement = f"\x00{len(hidden) - 1}\x00"
            else:
                hidden.append(match.group(0))
                replacement = f"\x00{len(hidden) - 1}\x00"
            text = text[: match.start()] + replacement + text[match.end() :]
            self._check_length(len(text) + sum(map(len, hidden)))
        else:
            if _VARIABLE.search(text) is not None:
                raise self.fail(self._resolving[0] if self._resolving else "",
                                f"more than {MAX_VARIABLES_PER_STRING} variables in one "
                                f"string: {original[:80]!r}")  # fmt: skip
        return re.sub("\x00(\\d+)\x00", lambda m: hidden[int(m.group(1))], text)

    def _check_length(self, size: int) -> None:
        """A value variables make is at most Limits.max_document_bytes long: each one may
        repeat another, doubling at every level."""
        if size > self._max_text:
            raise self.fail(self._resolving[0] if self._resolving else "",
                            f"variables make a value longer than Limits.max_document_bytes "
                            f"({self._max_text:,} characters)")  # fmt: skip

    def _variable(self, content: str) -> Any:
        for candidate in _split_fallbacks(content):
            value = self._literal(candidate)
            if value is _UNRESOLVED:
                value = self._lookup(candidate)
            if value is not _UNRESOLVED and value is not None:
                return value
        return _UNRESOLVED

    @staticmethod
    def _literal(text: str) -> Any:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return text[1:-1]
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"-?\d+\.\d+", text):
            return float(text)
        return {"true": True, "false": False}.get(text, _UNRESOLVED)

    def _lookup(self, address: str) -> Any:
        source, _, rest = address.partition(":")
        given = self.parameters
        if address in given:
            return given[address]
        if source == "self":
            return self._self(rest)
        if source == "opt":
            return given.get(rest, _UNRESOLVED)
        if source == "param":
            return given.get(rest, _UNRESOLVED)
        if source == "sls":
            return {"stage": self.stage, "instanceId": "local"}.get(rest, _UNRESOLVED)
        if source == "env":
            return os.environ.get(rest, _UNRESOLVED)
        if source == "aws":
            return {"region": self.env.region, "accountId": self.env.account_id}.get(
                rest, _UNRESOLVED
            )
        match = re.fullmatch(r"strToBool\((.*)\)", address)
        if match:
            return match.group(1).strip().strip("'\"").lower() in ("true", "1")
        return _UNRESOLVED

    def _self(self, path: str) -> Any:
        value: Any = self.root
        parts = [p for p in path.split(".") if p]
        for part in parts:
            if isinstance(value, Mapping) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return _UNRESOLVED
        address = ".".join(parts)
        # A value that refers to itself, or to something being resolved that contains it,
        # would never end: the framework refuses it, and so does this loader.
        for outer in self._resolving:
            if address == outer or outer.startswith(address + "."):  # itself, or what holds it
                chain = " -> ".join(f"${{self:{a}}}" for a in [*self._resolving, address])
                raise self.fail(self._resolving[0] or "self",
                                f"the variable refers to itself: {chain}")  # fmt: skip
        if address in self._resolved:
            return self._resolved[address]
        if self._depth > 20:
            return _UNRESOLVED
        self._depth += 1
        self._resolving.append(address)
        try:
            resolved = self._resolved[address] = self.resolve(value)
            return resolved
        finally:
            self._resolving.pop()
            self._depth -= 1


def _missing_self(root: Any, address: str) -> str | None:
    """What the file lacks for `${self:a.b.c}` (`the file has no a.b.c; did you mean a.b.x?`),
    or None when the path is there (its value is what is unresolved)."""
    value: Any = root
    walked: list[str] = []
    for part in (p for p in address.partition(":")[2].split(".") if p):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            keys = [str(k) for k in value] if isinstance(value, Mapping) else []
            meant = did_you_mean(part, keys)
            message = f"the file has no {'.'.join([*walked, part])}"
            if meant is not None:  # `did you mean x?` -> `did you mean a.b.x?`
                message += f"; did you mean {'.'.join([*walked, meant[13:-1]])}?"
            return message
        walked.append(part)
    return None


def _one_line(value: Any) -> Any:
    return value.replace("\r", "").replace("\n", "") if isinstance(value, str) else value


def load_serverless(
    data: Any, file: str, parameters: Mapping[str, Any], env: Environment, fmt: str
) -> list[LoadedRule]:
    """The topic rules of a parsed serverless.yml."""

    def fail(path: str, message: str) -> RuleValidationError:
        return source_error(file, path, message)

    if not isinstance(data, Mapping):
        raise fail("", "a serverless.yml must be an object")
    declare(any_name=True)  # options, params, ${ssm:...} sources: any name may be read
    variables = Variables(data, parameters, env, fail)
    provider = variables.resolve(data.get("provider")) or {}
    if "AWS::Region" not in parameters and isinstance(provider, Mapping):
        region = parameters.get("region", provider.get("region"))
        if isinstance(region, str) and region and "${" not in region:
            env = Environment(env.account_id, region, env.partition)
            variables.env = env
    service = variables.resolve(data.get("service"))
    if isinstance(service, Mapping):
        service = service.get("name")
    if not isinstance(service, str) or not service:
        raise fail("service", "is required (the service name)")
    functions = data.get("functions") or {}
    if not isinstance(functions, Mapping):
        raise fail("functions", "must be an object of functions")
    placeholders = Placeholders(env)
    rules: list[LoadedRule] = []
    function_resources: dict[str, Any] = {}
    for key, function in functions.items():
        if function is None:
            continue
        if not isinstance(function, Mapping):
            raise fail(f"functions.{key}", "must be an object")
        deployed = variables.resolve(function.get("name")) or f"{service}-{variables.stage}-{key}"
        function_resources[f"{normalize_name(key)}LambdaFunction"] = {
            "Type": "AWS::Lambda::Function", "Properties": {"FunctionName": str(deployed)},
        }  # fmt: skip
        arn = placeholders.cfn_attribute("AWS::Lambda::Function", str(deployed), "Arn")
        events = function.get("events") or []
        if not isinstance(events, list):
            raise fail(f"functions.{key}.events", "must be a list of events")
        count = 0
        for index, event in enumerate(events):
            if not isinstance(event, Mapping) or "iot" not in event:
                continue
            count += 1
            path = f"functions.{key}.events[{index}].iot"
            logical_id = f"{normalize_name(key)}IotTopicRule{count}"
            rule = per_resource(partial(
                _iot_rule, event["iot"], variables, path, f"functions.{key}", arn, logical_id,
                file, fmt, fail, getattr(event, "line", None),
            ))  # fmt: skip
            rules.extend([rule] if rule is not None else [])
    rules.extend(_resources(data, variables, file, parameters, env, function_resources, fmt))
    return rules


def _iot_rule(
    raw: Any, variables: Variables, path: str, function_path: str, arn: str, logical_id: str,
    file: str, fmt: str, fail: Any, line: int | None,
) -> LoadedRule:  # fmt: skip
    event = variables.resolve(raw)
    if not isinstance(event, Mapping):
        raise fail(path, "must be an object with at least sql")
    unknown = [
        SchemaProblem("unknown-property", f"{path}.{key}", "unknown property of an iot event "
                      f"(it has {', '.join(_IOT_KEYS)})", did_you_mean(str(key), list(_IOT_KEYS)))
        for key in event if key not in _IOT_KEYS
    ]  # fmt: skip
    if unknown:
        raise SchemaError(file, unknown)
    sql = event.get("sql")
    if sql is None:
        raise fail(f"{path}.sql", "is required")
    if not isinstance(sql, str):
        raise fail(f"{path}.sql", "must be a string")
    left = _VARIABLE.findall(sql)
    if left:
        names = ", ".join("${" + v + "}" for v in left)
        wanted = left[0].split(",")[0].strip()
        if wanted.startswith(("opt:", "param:")):  # given by their name alone: `stage`
            wanted = wanted.partition(":")[2]
        typo = wanted.startswith("self:") and "," not in left[0]  # no fallback was meant
        missing = _missing_self(variables.root, wanted) if typo else None
        if missing is not None:  # a typo in the file, not a value only a deployment knows
            raise fail(f"{path}.sql", f"cannot resolve {names}: {missing}")
        raise fail(f"{path}.sql", f"cannot resolve {names} without AWS: {give_value(wanted)}")
    enabled = event.get("enabled")
    disabled = enabled is False or (isinstance(enabled, str) and enabled.lower() == "false")
    source: dict[str, Any] = {"Sql": _one_line(sql), "RuleDisabled": disabled,
                              "Actions": [{"Lambda": {"FunctionArn": arn}}]}  # fmt: skip
    origins = {"topicRulePayload": path, "topicRulePayload.sql": f"{path}.sql",
               "topicRulePayload.ruleDisabled": f"{path}.enabled",
               "topicRulePayload.actions": function_path, "ruleName": path}  # fmt: skip
    if event.get("description"):
        source["Description"] = _one_line(event["description"])
        origins["topicRulePayload.description"] = f"{path}.description"
    origins["topicRulePayload.awsIotSqlVersion"] = f"{path}.sqlVersion"
    if event.get("sqlVersion"):
        source["AwsIotSqlVersion"] = _one_line(event["sqlVersion"])
    name = logical_id
    if event.get("name"):
        name = str(_one_line(event["name"]))
        origins["ruleName"] = f"{path}.name"
    converter = Converter(CLOUDFORMATION, fail)
    payload = converter.convert(source, "TopicRulePayload", "topicRulePayload", path)
    return LoadedRule(name, payload or {}, file, path, fmt, line, origins)


def _resources(
    data: Mapping[str, Any], variables: Variables, file: str, parameters: Mapping[str, Any],
    env: Environment, functions: Mapping[str, Any], fmt: str,
) -> list[LoadedRule]:  # fmt: skip
    """Topic rules declared as CloudFormation in the `resources` section."""
    resources = data.get("resources")
    sections = resources if isinstance(resources, list) else [resources]
    rules: list[LoadedRule] = []
    for index, section in enumerate(sections):
        if not isinstance(section, Mapping) or not isinstance(section.get("Resources"), Mapping):
            continue
        root = "resources" if not isinstance(resources, list) else f"resources[{index}]"
        template = Template(variables.resolve(dict(section)), file, parameters, env, functions,
                            root=root)  # fmt: skip
        for rule in template.rules(fmt):
            rules.append(rule)
    return rules
