"""Topic rules from CloudFormation and SAM templates (JSON or YAML, hand-written or `cdk synth`
output): `AWS::IoT::TopicRule` resources, and the `IoTRule` events of
`AWS::Serverless::Function` resources.

The intrinsic functions are evaluated as CloudFormation would, with the placeholders of
`placeholders.py` for what only a deployment knows: `Ref` (parameters: the caller's value, else
the Default; pseudo parameters; resources), `Fn::GetAtt`, `Fn::Sub` (both forms, `${!Literal}`
escapes), `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::If` with the template's Conditions,
`Fn::Equals`/`And`/`Or`/`Not`, `Fn::FindInMap`, `Fn::ImportValue`, `Fn::Base64`, `Fn::Cidr`,
`Fn::GetAZs`, `Fn::ToJsonString`, `Fn::Length`, and `AWS::NoValue`.

AWS IoT substitution templates use `${...}` too. In a plain string they are left alone; inside
`Fn::Sub` CloudFormation itself rejects `${topic()}` (it is no variable name), so this loader
does the same and says to write `${!topic()}`, which `Fn::Sub` turns into `${topic()}`.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

import yaml

from iotsql.errors import RuleValidationError
from iotsql.limits import current_limits
from iotsql.loaders import cfn_schema
from iotsql.loaders.base import (
    DocumentError,
    EmptyDocumentError,
    GetAttError,
    LoadedRule,
    SchemaError,
    brief_repr,
    per_resource,
    refuse,
    register_definition,
    source_error,
)
from iotsql.loaders.bounds import check_json_depth, check_size, check_yaml
from iotsql.loaders.cfn_schema import TOPIC_RULE, SchemaProblem
from iotsql.loaders.model import CLOUDFORMATION, Converter
from iotsql.loaders.parameters import declare, give_value
from iotsql.loaders.placeholders import Environment, Placeholders, cfn_kind

#: The value of `Ref: AWS::StackName` unless the caller passes one. Letters only: templates
#: name rules `!Sub "${AWS::StackName}_Rule"`, and a stack name may hold hyphens where a rule
#: name may not, so a hyphen here made every such rule name a false invalid-rule error.
STACK_NAME = "IotsqlStack"

_NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SUB_NAME = re.compile(r"[A-Za-z0-9_.:]+")
#: The properties of a SAM function's IoTRule event (SAM's specification).
_IOT_RULE_EVENT = ("Sql", "AwsIotSqlVersion")


# ---- reading YAML and JSON ---------------------------------------------------------------------


class LineDict(dict[str, Any]):
    """A mapping read from YAML, with the line it starts on."""

    line: int | None = None


class TemplateLoader(yaml.SafeLoader):
    """PyYAML's safe loader with CloudFormation's short intrinsic tags (`!Ref`, `!Sub`,
    `!GetAtt`...), which become their long forms (`{"Fn::Sub": ...}`), with dates left as
    strings (`AwsIotSqlVersion: 2016-03-23`), and with the line of each mapping kept."""


TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_map(loader: TemplateLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    yield data
    data.update({str(k): v for k, v in loader.construct_mapping(node).items()})
    for key_node, _ in node.value:  # a resource's line is its key's, not its first property's
        if isinstance(key_node, yaml.ScalarNode):
            child = data.get(key_node.value)
            if isinstance(child, LineDict):
                child.line = key_node.start_mark.line + 1


def _construct_intrinsic(name: str) -> Callable[[TemplateLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: TemplateLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = loader.construct_mapping(node, deep=True)
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {name: value}

    return construct


def _construct_unknown(loader: TemplateLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    return _construct_intrinsic(f"Fn::{suffix}")(loader, node)


#: The same loader on libyaml's parser when PyYAML has it (some 10 times faster on a large
#: template); the constructors, and so the data, are the same.
FastTemplateLoader: type[Any] = TemplateLoader
if getattr(yaml, "CSafeLoader", None) is not None:

    class _CTemplateLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        pass

    _CTemplateLoader.yaml_implicit_resolvers = TemplateLoader.yaml_implicit_resolvers
    FastTemplateLoader = _CTemplateLoader

_LOADERS: tuple[Any, ...] = (TemplateLoader, FastTemplateLoader)
for _loader in _LOADERS:
    _loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
    for _tag in ("Ref", "Condition"):
        _loader.add_constructor(f"!{_tag}", _construct_intrinsic(_tag))
    for _tag in ("Sub", "GetAtt", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
                 "FindInMap", "ImportValue", "Base64", "Cidr", "GetAZs", "Transform",
                 "ToJsonString", "Length"):  # fmt: skip
        _loader.add_constructor(f"!{_tag}", _construct_intrinsic(f"Fn::{_tag}"))
    _loader.add_multi_constructor("!", _construct_unknown)


#: YAML 1.2's booleans, which js-yaml (the Serverless Framework's parser) reads: there `yes`,
#: `no`, `on` and `off` are strings, which PyYAML and CloudFormation (YAML 1.1) read as booleans,
#: so that `custom: {on: ...}` is a key `on` and `stage: no` the stage "no".
_CORE_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_BOOL_TAG = "tag:yaml.org,2002:bool"


class ServerlessLoader(TemplateLoader):
    """TemplateLoader with YAML 1.2's booleans, for a serverless.yml."""


ServerlessLoader.yaml_implicit_resolvers = {
    first: [(tag, _CORE_BOOL if tag == _BOOL_TAG else regexp) for tag, regexp in resolvers
            if tag != _BOOL_TAG or first in "tTfF"]
    for first, resolvers in TemplateLoader.yaml_implicit_resolvers.items()
}  # fmt: skip
FastServerlessLoader: type[Any] = ServerlessLoader
if FastTemplateLoader is not TemplateLoader:

    class _CServerlessLoader(FastTemplateLoader):  # type: ignore[misc,valid-type]
        pass

    _CServerlessLoader.yaml_implicit_resolvers = ServerlessLoader.yaml_implicit_resolvers
    FastServerlessLoader = _CServerlessLoader


def parse_document(text: str, file: str, *, serverless: bool = False) -> Any:
    """A JSON or YAML document (JSON is tried first when the text starts like JSON, for its
    error messages). Errors are RuleValidationErrors naming the file, the line and the column.
    The document's size, nesting and expanded size are checked before it is built (bounds.py),
    with the limits in force (`Limits.max_document_*`). `serverless` reads YAML as the
    Serverless Framework does (YAML 1.2 booleans)."""
    limits = current_limits()
    check_size(text, file, limits)
    if text.lstrip().startswith(("{", "[")):
        check_json_depth(text, file, limits)
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise DocumentError(f"invalid JSON: {err.msg}", file, err.lineno, err.colno) from None
        except RecursionError:  # only with a max_document_depth far above the default
            raise RuleValidationError("JSON nested too deeply to read", file) from None
    check_yaml(text, file, limits)
    try:
        loader = FastServerlessLoader if serverless else FastTemplateLoader
        data = yaml.load(text, Loader=loader)  # SafeLoader's constructors
    except RecursionError:  # only with a max_document_depth far above the default
        raise RuleValidationError("YAML nested too deeply to read", file) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise DocumentError(f"invalid YAML: {problem}", file, line, column) from None
    if data is None:
        raise EmptyDocumentError("the file is empty", file)
    return data


# ---- evaluating a template ---------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """The string CloudFormation makes of a scalar, None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


class Template:
    """One template, its parameters and conditions, evaluated lazily: only what the rules use
    is resolved, so an intrinsic elsewhere that cannot be evaluated locally does no harm."""

    def __init__(
        self,
        data: Any,
        file: str,
        parameters: Mapping[str, Any],
        env: Environment,
        extra_resources: Mapping[str, Any] | None = None,
        root: str = "",
    ) -> None:
        self.file = file
        self.root = root
        if not isinstance(data, Mapping):
            raise self.fail("", "a template must be an object with a Resources section")
        resources = data.get("Resources")
        if not isinstance(resources, Mapping):
            raise self.fail("Resources", "must be an object of resources")
        self.resources: dict[str, Any] = {**(extra_resources or {}), **resources}
        self.parameters = self._section(data, "Parameters")
        declare(self.parameters)
        self.conditions = self._section(data, "Conditions")
        self.mappings = self._section(data, "Mappings")
        self.given = parameters
        self.env = env
        self.placeholders = Placeholders(env)
        self._condition_values: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._busy: set[str] = set()
        limits = current_limits()
        self.max_depth = limits.max_document_depth
        self.max_text = limits.max_document_bytes
        #: How deep evaluation is (intrinsics, conditions and references nest): bounded by
        #: Limits.max_document_depth, so that a hostile template is an error, never a
        #: RecursionError.
        self._depth = 0
        register_definition(self)

    def _section(self, data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        section = data.get(name) or {}
        if not isinstance(section, Mapping):
            raise self.fail(name, "must be an object")
        return section

    def at(self, path: str) -> str:
        """`path` within the file (templates embedded in a serverless.yml have a root)."""
        return f"{self.root}.{path}" if self.root and path else (self.root or path)

    def fail(self, path: str, message: str) -> RuleValidationError:
        return source_error(self.file, self.at(path), message)

    # ---- values ---------------------------------------------------------------------------

    def resolve(self, value: Any, path: str) -> Any:
        """`value` with every intrinsic function evaluated (`_NO_VALUE` for AWS::NoValue)."""
        if not isinstance(value, (Mapping, list)):
            return value
        if self._depth >= self.max_depth:
            raise self.fail(path, f"intrinsic functions and values nested more than "
                                  f"Limits.max_document_depth ({self.max_depth}) deep")  # fmt: skip
        self._depth += 1
        try:
            return self._resolve(value, path)
        finally:
            self._depth -= 1

    def _resolve(self, value: Any, path: str) -> Any:
        if isinstance(value, Mapping):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key == "Ref":
                    return self.ref(argument, path)
                if isinstance(key, str) and key.startswith("Fn::"):
                    return self.function(key, argument, path)
            out: dict[str, Any] = {}
            for key, item in value.items():
                resolved = self.resolve(item, f"{path}.{key}")
                if resolved is not _NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(value, list):
            items = (self.resolve(item, f"{path}[{i}]") for i, item in enumerate(value))
            return [item for item in items if item is not _NO_VALUE]
        return value

    def string(self, value: Any, path: str, what: str) -> str:
        text = _text(self.resolve(value, path))
        if text is None:
            raise self.fail(path, f"{what} must be a string")
        return text

    def pseudo(self, name: str) -> Any:
        env = self.env
        stack = str(self.given.get("AWS::StackName", STACK_NAME))
        values: dict[str, Any] = {
            "AWS::Region": env.region,
            "AWS::AccountId": env.account_id,
            "AWS::Partition": env.partition,
            "AWS::URLSuffix": env.url_suffix,
            "AWS::StackName": stack,
            "AWS::StackId": f"arn:{env.partition}:cloudformation:{env.region}:{env.account_id}:"
            f"stack/{stack}/00000000-0000-0000-0000-000000000000",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        return values.get(name)

    def ref(self, name: Any, path: str) -> Any:
        if not isinstance(name, str):
            raise self.fail(path, "Ref takes the name of a parameter or a resource")
        if name.startswith("AWS::"):
            value = self.pseudo(name)
            if value is None:
                raise self.fail(path, f"Ref: unknown pseudo parameter {name}")
            return value
        if name in self.parameters:
            return self.parameter(name)
        if name in self.resources:
            return self.placeholders.cfn_ref(self.resource_type(name), self.physical_name(name))
        raise self.fail(
            path,
            f"Ref: {name!r} is neither a parameter nor a resource of the template"
            + self._meant(name, "{}"),
        )

    def _meant(self, name: str, form: str) -> str:
        """`; did you mean X?` for a misspelt parameter or resource name (`form` writes it)."""
        meant = cfn_schema.did_you_mean(name, [*self.parameters, *self.resources])
        return f"; did you mean {form.format(meant[13:-1])}?" if meant else ""

    def parameter(self, name: str) -> Any:
        declaration = self.parameters[name]
        if not isinstance(declaration, Mapping):
            raise self.fail(f"Parameters.{name}", "must be an object")
        if name in self.given:
            value = self.given[name]
        elif "Default" in declaration:
            value = declaration["Default"]
        else:
            raise self.fail(
                f"Parameters.{name}",
                f"has no Default and no value was given: {give_value(name)}",
            )
        kind = str(declaration.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            if isinstance(value, str):
                return [item.strip() for item in value.split(",")]
            return [_text(item) for item in value] if isinstance(value, list) else [_text(value)]
        text = _text(value)
        if text is None:
            raise self.fail(
                f"Parameters.{name}", f"the value must be a string, not {brief_repr(value)}"
            )
        allowed = declaration.get("AllowedValues")
        if isinstance(allowed, list) and text not in [_text(v) for v in allowed]:
            raise self.fail(
                f"Parameters.{name}", f"{text!r} is not one of the AllowedValues {allowed}"
            )
        return text

    def resource_type(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        return str(resource.get("Type", "")) if isinstance(resource, Mapping) else ""

    def physical_name(self, logical_id: str) -> str:
        """The name the resource gets: its name property when the template sets it to something
        that evaluates to a string, else its logical id."""
        if logical_id in self._names:
            return self._names[logical_id]
        name = logical_id
        kind = cfn_kind(self.resource_type(logical_id))
        resource = self.resources.get(logical_id)
        properties = resource.get("Properties") if isinstance(resource, Mapping) else None
        if (
            kind
            and kind.cfn_name
            and isinstance(properties, Mapping)
            and logical_id not in self._busy
        ):
            explicit = properties.get(kind.cfn_name)
            if explicit is not None:
                self._busy.add(logical_id)
                try:
                    name = _text(self.resolve(explicit, "")) or logical_id
                except RuleValidationError:
                    name = logical_id
                finally:
                    self._busy.discard(logical_id)
        self._names[logical_id] = name
        return name

    # ---- intrinsic functions --------------------------------------------------------------

    def function(self, key: str, argument: Any, path: str) -> Any:
        handler = _FUNCTIONS.get(key)
        if handler is None:
            raise self.fail(path, f"{key} cannot be evaluated outside CloudFormation")
        result = handler(self, argument, path)
        if isinstance(result, str):
            self.check_text(len(result), key, path)
        return result

    def check_text(self, size: int, key: str, path: str) -> None:
        """A string an intrinsic makes is at most Limits.max_document_bytes: YAML aliases let
        a small file join a long string to itself many times."""
        if size > self.max_text:
            raise self.fail(path, f"{key} makes a string of more than "
                                  f"Limits.max_document_bytes ({self.max_text:,}) characters")  # fmt: skip

    def _args(self, key: str, argument: Any, count: int, path: str) -> list[Any]:
        if not isinstance(argument, list) or len(argument) != count:
            raise self.fail(path, f"{key} takes a list of {count} items")
        return argument

    def get_att(self, argument: Any, path: str) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        logical_id, attribute = self._args("Fn::GetAtt", argument, 2, path)
        attribute = self.string(attribute, path, "the attribute of Fn::GetAtt")
        if logical_id not in self.resources:
            raise self.fail(path, f"Fn::GetAtt: {logical_id!r} is not a resource of the template")
        resource_type = self.resource_type(logical_id)
        problem = cfn_schema.attribute_problem(resource_type, attribute)
        if problem is not None:  # while collecting, the placeholder stands in
            refuse(GetAttError(f"Fn::GetAtt {logical_id}.{attribute}: {problem}", self.file,
                               self.at(path)))  # fmt: skip
        return self.placeholders.cfn_attribute(resource_type, self.physical_name(logical_id),
                                               attribute)  # fmt: skip

    def sub(self, argument: Any, path: str) -> str:
        variables: Mapping[str, Any] = {}
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], Mapping):
            argument, variables = argument
        if not isinstance(argument, str):
            raise self.fail(path, "Fn::Sub takes a string, or a string and an object of variables")

        made = [len(argument)]

        def substitute(match: re.Match[str]) -> str:
            text = _substitute(match)
            made[0] += len(text)  # checked as it grows: a variable may be long and repeated
            self.check_text(made[0], "Fn::Sub", path)
            return text

        def _substitute(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            name = inner.strip()
            if name in variables:
                value = self.resolve(variables[name], f"{path}.{name}")
            elif _SUB_NAME.fullmatch(name) is None:
                raise self.fail(
                    path,
                    f"Fn::Sub: ${{{inner}}} is not a CloudFormation variable and CloudFormation "
                    f"rejects it; to keep an AWS IoT substitution template write ${{!{inner}}}",
                )
            elif name.startswith("AWS::") or name in self.parameters or name in self.resources:
                value = self.ref(name, path)
            elif "." in name and name.split(".", 1)[0] in self.resources:
                value = self.get_att(name, path)
            else:
                raise self.fail(
                    path,
                    f"Fn::Sub: ${{{name}}} is neither a parameter nor a resource of the template; "
                    f"to keep an AWS IoT substitution template write ${{!{name}}}"
                    + self._meant(name, "${{{}}}"),
                )
            text = _text(value)
            if text is None:
                raise self.fail(path, f"Fn::Sub: ${{{name}}} is not a string ({brief_repr(value)})")
            return text

        return _SUB_VARIABLE.sub(substitute, argument)

    def join(self, argument: Any, path: str) -> str:
        delimiter, items = self._args("Fn::Join", argument, 2, path)
        delimiter = self.string(delimiter, path, "the delimiter of Fn::Join")
        values = self.resolve(items, path)
        if not isinstance(values, list):
            raise self.fail(path, "Fn::Join takes a list of values to join")
        texts = [_text(v) for v in values]
        if any(t is None for t in texts):
            raise self.fail(path, f"Fn::Join can only join strings, not {brief_repr(values)}")
        size = sum(len(t) for t in texts if t is not None) + len(delimiter) * len(texts)
        self.check_text(size, "Fn::Join", path)  # before the string is made
        return delimiter.join(t for t in texts if t is not None)

    def select(self, argument: Any, path: str) -> Any:
        index, items = self._args("Fn::Select", argument, 2, path)
        position = self.string(index, path, "the index of Fn::Select")
        values = self.resolve(items, path)
        if not position.isdigit() or not isinstance(values, list) or int(position) >= len(values):
            raise self.fail(path, f"Fn::Select: no item {position} in {brief_repr(values)}")
        return values[int(position)]

    def split(self, argument: Any, path: str) -> list[str]:
        delimiter, source = self._args("Fn::Split", argument, 2, path)
        return self.string(source, path, "the source of Fn::Split").split(
            self.string(delimiter, path, "the delimiter of Fn::Split")
        )

    def if_(self, argument: Any, path: str) -> Any:
        name, when_true, when_false = self._args("Fn::If", argument, 3, path)
        chosen = when_true if self.condition(name, path) else when_false
        return self.resolve(chosen, path)

    def condition(self, name: Any, path: str) -> bool:
        if not isinstance(name, str) or name not in self.conditions:
            raise self.fail(path, f"{name!r} is not a condition of the template")
        if name not in self._condition_values:
            if name in self._busy:
                raise self.fail(f"Conditions.{name}", "the condition refers to itself")
            self._busy.add(name)
            try:
                value = self.boolean(self.conditions[name], f"Conditions.{name}")
            finally:
                self._busy.discard(name)
            self._condition_values[name] = value
        return self._condition_values[name]

    def boolean(self, value: Any, path: str) -> bool:
        if self._depth >= self.max_depth:
            raise self.fail(path, f"conditions nested more than Limits.max_document_depth "
                                  f"({self.max_depth}) deep")  # fmt: skip
        self._depth += 1
        try:
            return self._boolean(value, path)
        finally:
            self._depth -= 1

    def _boolean(self, value: Any, path: str) -> bool:
        if isinstance(value, Mapping) and len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Condition":
                return self.condition(argument, path)
            if key == "Fn::Equals":
                left, right = self._args(key, argument, 2, path)
                a, b = self.resolve(left, path), self.resolve(right, path)
                return (_text(a) or a) == (_text(b) or b)
            if key in ("Fn::And", "Fn::Or") and isinstance(argument, list):
                results = [self.boolean(item, path) for item in argument]
                return all(results) if key == "Fn::And" else any(results)
            if key == "Fn::Not":
                return not self.boolean(self._args(key, argument, 1, path)[0], path)
        resolved = self.resolve(value, path)
        if isinstance(resolved, bool):
            return resolved
        if isinstance(resolved, str) and resolved.lower() in ("true", "false"):
            return resolved.lower() == "true"
        raise self.fail(path, f"a condition must be Fn::Equals, Fn::And, Fn::Or, Fn::Not or "
                              f"Condition, not {brief_repr(value)}")  # fmt: skip

    def find_in_map(self, argument: Any, path: str) -> Any:
        if not isinstance(argument, list) or len(argument) not in (3, 4):
            raise self.fail(path, "Fn::FindInMap takes [map, top-level key, second-level key]")
        names = [self.string(a, path, "each key of Fn::FindInMap") for a in argument[:3]]
        try:
            value = self.mappings[names[0]][names[1]][names[2]]
        except (KeyError, TypeError):
            default = argument[3] if len(argument) == 4 else None
            if isinstance(default, Mapping) and "DefaultValue" in default:
                return self.resolve(default["DefaultValue"], path)
            raise self.fail(path, f"Fn::FindInMap: no {'.'.join(names)} in Mappings") from None
        return self._mapping_value(value, f"Mappings.{'.'.join(names)}")

    def _mapping_value(self, value: Any, where: str) -> Any:
        """A value of Mappings as it is: a string or a list of strings (CloudFormation: "You
        can't include parameters, pseudo parameters, or intrinsic functions in the Mappings
        section"). It was resolved as a template value, so that mappings whose values named
        each other four times over (`Fn::FindInMap` in Mappings) took 4**15 steps."""
        items = value if isinstance(value, list) else [value]
        for item in items:
            key = next(iter(item), None) if isinstance(item, Mapping) and len(item) == 1 else None
            if key == "Ref" or (isinstance(key, str) and key.startswith("Fn::")):
                raise self.fail(where, f"{key} in Mappings: CloudFormation evaluates no "
                                       "intrinsic function there")  # fmt: skip
            if not isinstance(item, (str, int, float, bool)):
                raise self.fail(where, "a value of Mappings is a string or a list of strings")
        return value

    def import_value(self, argument: Any, path: str) -> Any:
        name = self.string(argument, path, "the name of Fn::ImportValue")
        declare([name])
        return self.given.get(name, f"imported-{name}")

    def base64(self, argument: Any, path: str) -> str:
        text = self.string(argument, path, "the argument of Fn::Base64")
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def cidr(self, argument: Any, path: str) -> list[str]:
        """`Fn::Cidr [block, count, cidrBits]`: `count` subnets (CloudFormation: 1 to 256) of
        `cidrBits` host bits each."""
        block, count, bits = (self.string(a, path, "Fn::Cidr's arguments")
                              for a in self._args("Fn::Cidr", argument, 3, path))  # fmt: skip
        if not count.strip().isdigit() or not 1 <= int(count) <= 256:
            raise self.fail(path, f"Fn::Cidr: the count must be a number from 1 to 256, not "
                                  f"{brief_repr(count)}")  # fmt: skip
        if not bits.strip().isdigit():
            raise self.fail(path, f"Fn::Cidr: cidrBits must be a number, not {brief_repr(bits)}")
        try:
            network = ipaddress.ip_network(block, strict=False)
            new_prefix = network.max_prefixlen - int(bits)
            if not network.prefixlen <= new_prefix <= network.max_prefixlen:
                raise ValueError(f"{bits} host bits do not fit in {network}")
            subnets = network.subnets(new_prefix=new_prefix)
            return [str(next(subnets)) for _ in range(int(count))]
        except StopIteration:
            raise self.fail(path, f"Fn::Cidr: {block} has fewer than {count} subnets of "
                                  f"{bits} host bits") from None  # fmt: skip
        except ValueError as err:
            raise self.fail(path, f"Fn::Cidr: {err}") from None

    def get_azs(self, argument: Any, path: str) -> list[str]:
        region = _text(self.resolve(argument, path)) or self.env.region
        return [f"{region}{zone}" for zone in "abc"]

    def to_json_string(self, argument: Any, path: str) -> str:
        return json.dumps(self.resolve(argument, path), separators=(",", ":"))

    def length(self, argument: Any, path: str) -> int:
        values = self.resolve(argument, path)
        if not isinstance(values, list):
            raise self.fail(path, "Fn::Length takes a list")
        return len(values)

    # ---- rules ----------------------------------------------------------------------------

    def rules(self, fmt: str) -> list[LoadedRule]:
        rules: list[LoadedRule] = []
        for logical_id, resource in self.resources.items():
            if not isinstance(resource, Mapping):
                raise self.fail(f"Resources.{logical_id}", "must be an object")
            kind = resource.get("Type")
            if kind not in ("AWS::IoT::TopicRule", "AWS::Serverless::Function"):
                continue
            condition = resource.get("Condition")
            if condition is not None and not per_resource(
                partial(self.condition, condition, f"Resources.{logical_id}")
            ):
                continue
            if kind == "AWS::IoT::TopicRule":
                rule = per_resource(partial(self.topic_rule, logical_id, resource, fmt))
                rules.extend([rule] if rule is not None else [])
            else:
                events = per_resource(partial(self.sam_events, logical_id, resource, fmt))
                rules.extend(events or [])
        return rules

    def topic_rule(self, logical_id: str, resource: Mapping[str, Any], fmt: str) -> LoadedRule:
        base = f"Resources.{logical_id}.Properties"
        properties = resource.get("Properties")
        if not isinstance(properties, Mapping):
            raise self.fail(base, "is required: an AWS::IoT::TopicRule needs a TopicRulePayload")
        problems = cfn_schema.check_properties(TOPIC_RULE, properties, self.at(base))
        if problems:  # while collecting (iotsql check), the rest of the rule is still read
            refuse(SchemaError(self.file, problems))
        if properties.get("TopicRulePayload") is None:
            raise self.fail(f"{base}.TopicRulePayload", "is required")
        origins = {"ruleName": f"Resources.{logical_id}"}
        name = logical_id
        if properties.get("RuleName") is not None:
            name = self.string(properties["RuleName"], f"{base}.RuleName", "RuleName")
            origins["ruleName"] = f"{base}.RuleName"
        converter = Converter(CLOUDFORMATION, self.fail)
        payload = self.resolve(properties["TopicRulePayload"], f"{base}.TopicRulePayload")
        converted = converter.convert(payload, "TopicRulePayload", "topicRulePayload",
                                      f"{base}.TopicRulePayload")  # fmt: skip
        origins = {**converter.origins, **origins}
        return LoadedRule(name, converted or {}, self.file, self.at(f"Resources.{logical_id}")
                          if self.root else logical_id, fmt, getattr(resource, "line", None),
                          {key: self.at(path) for key, path in origins.items()})  # fmt: skip

    def sam_events(
        self, logical_id: str, resource: Mapping[str, Any], fmt: str
    ) -> list[LoadedRule]:
        """SAM turns each IoTRule event into a topic rule `<Function><Event>` whose one action
        invokes the function."""
        properties = resource.get("Properties")
        events = properties.get("Events") if isinstance(properties, Mapping) else None
        if not isinstance(events, Mapping):
            return []
        arn = self.get_att([logical_id, "Arn"], f"Resources.{logical_id}")
        rules = []
        for event_name, event in events.items():
            if not isinstance(event, Mapping) or event.get("Type") != "IoTRule":
                continue
            path = f"Resources.{logical_id}.Properties.Events.{event_name}.Properties"
            event_properties = self.resolve(event.get("Properties"), path)
            if not isinstance(event_properties, Mapping):
                raise self.fail(path, "is required: an IoTRule event needs a Sql property")
            unknown = [
                SchemaProblem("unknown-property", self.at(f"{path}.{key}"),
                              "unknown property of an IoTRule event (it has Sql, "
                              "AwsIotSqlVersion)", cfn_schema.did_you_mean(key, list(_IOT_RULE_EVENT)))
                for key in event_properties if key not in _IOT_RULE_EVENT
            ]  # fmt: skip
            if unknown:
                raise SchemaError(self.file, unknown)
            payload = {**event_properties, "RuleDisabled": False,
                       "Actions": [{"Lambda": {"FunctionArn": arn}}]}  # fmt: skip
            converter = Converter(CLOUDFORMATION, self.fail)
            converted = converter.convert(payload, "TopicRulePayload", "topicRulePayload", path)
            origins = {key: (f"Resources.{logical_id}" if key.startswith("topicRulePayload.actions")
                             else value) for key, value in converter.origins.items()}  # fmt: skip
            origins["ruleName"] = f"Resources.{logical_id}.Properties.Events.{event_name}"
            rules.append(
                LoadedRule(
                    f"{logical_id}{event_name}",
                    converted or {},
                    self.file,
                    self.at(f"{logical_id}.Events.{event_name}"),
                    fmt,
                    getattr(event, "line", None),
                    {key: self.at(path) for key, path in origins.items()},
                )
            )
        return rules


_FUNCTIONS: dict[str, Callable[[Template, Any, str], Any]] = {
    "Fn::GetAtt": Template.get_att,
    "Fn::Sub": Template.sub,
    "Fn::Join": Template.join,
    "Fn::Select": Template.select,
    "Fn::Split": Template.split,
    "Fn::If": Template.if_,
    "Fn::FindInMap": Template.find_in_map,
    "Fn::ImportValue": Template.import_value,
    "Fn::Base64": Template.base64,
    "Fn::Cidr": Template.cidr,
    "Fn::GetAZs": Template.get_azs,
    "Fn::ToJsonString": Template.to_json_string,
    "Fn::Length": Template.length,
    **{key: (lambda k: lambda t, a, p: t.boolean({k: a}, p))(key)
       for key in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not")},
}  # fmt: skip


def load_template(
    data: Any, file: str, parameters: Mapping[str, Any], env: Environment, fmt: str
) -> list[LoadedRule]:
    """The topic rules of a CloudFormation or SAM template (already parsed)."""
    return Template(data, file, parameters, env).rules(fmt)
