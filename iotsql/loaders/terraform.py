"""Topic rules from Terraform: `aws_iot_topic_rule` resources in `terraform show -json` output
(`values.root_module`, child modules included) and plan JSON (`planned_values`), and in the
configuration itself, `.tf` files (read with python-hcl2, the optional `iotsql[terraform]`
extra) and `.tf.json` files.

The provider's schema maps to the API's shape as the provider's `expandTopicRulePayload` does:
`enabled` -> `ruleDisabled`, `sql_version` -> `awsIotSqlVersion`, one action per action block,
in the provider's order (the action types alphabetically: cloudwatch_alarm, ..., sqs,
step_functions, timestream), nested blocks (`put_item`, `timestamp`, `http_header`, kafka's
`header`, timestream's `dimension`) to the API's members, empty strings and empty blocks left
out.

In configuration files, the loader evaluates what Terraform can evaluate without a provider:
string templates (`"${var.x}-alerts"`, `$${` is a literal `${`, the way one writes AWS IoT
substitution templates in HCL), `var.*` (the caller's `parameters`, then `terraform.tfvars` and
`*.auto.tfvars` when a folder is loaded, then the default), `local.*`, `count.index`, `each.*`,
`dynamic` blocks, a few functions (format, join, lower, upper, replace, ...), and references to
resources and data sources, which become placeholders (placeholders.py). What cannot be
evaluated (a `module.*` output, most functions, conditionals) is left as its source text, an
error only in the rule's SQL or name. Like Terraform, the loader rejects a reference that is
not one (`"${topic()}"`, `"${deviceId}"`) and says to write `$${...}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from iotsql.errors import RuleValidationError
from iotsql.limits import current_limits
from iotsql.loaders.base import (
    DocumentError,
    LoadedRule,
    per_resource,
    register_definition,
    source_error,
)
from iotsql.loaders.bounds import check_json_depth, check_size
from iotsql.loaders.model import TERRAFORM, Converter, _fold, _members, _unquote, styled
from iotsql.loaders.parameters import declare, give_value
from iotsql.loaders.placeholders import Environment, Placeholders, tf_kind
from iotsql.suggest import did_you_mean

RULE_TYPE = "aws_iot_topic_rule"
_IGNORED = frozenset({
    "name", "sql", "sql_version", "enabled", "description", "error_action", "arn", "id", "tags",
    "tags_all", "region", "timeouts", "count", "for_each", "provider", "depends_on", "lifecycle",
    "__is_block__", "__start_line__", "__end_line__", "__comments__", "__inline_comments__",
})  # fmt: skip
_META = frozenset({"__is_block__", "__start_line__", "__end_line__", "__comments__",
                   "__inline_comments__"})  # fmt: skip


def _blocks(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [value]


def topic_rule(
    values: Mapping[str, Any],
    address: str,
    file: str,
    fmt: str,
    fail: Callable[[str, str], RuleValidationError],
    strict: bool = False,
) -> LoadedRule:
    """A LoadedRule from the attributes of one `aws_iot_topic_rule` (as `terraform show -json`
    has them, or as evaluated from a configuration: blocks are lists of objects). `strict`
    requires the arguments Terraform requires (name, sql, sql_version, enabled) and refuses
    the arguments it does not know, as Terraform does."""
    if strict:
        _refuse_unknown_arguments(values, address, fail)
    name = values.get("name")
    if not isinstance(name, str) or not name:
        raise fail(f"{address}.name", "is required (the rule's name)")
    sql = values.get("sql")
    if not isinstance(sql, str):
        raise fail(f"{address}.sql", "is required (the rule's SQL statement)")
    payload: dict[str, Any] = {"sql": sql}
    origins = {"ruleName": f"{address}.name", "topicRulePayload": address,
               "topicRulePayload.sql": f"{address}.sql"}  # fmt: skip
    version = values.get("sql_version")
    if isinstance(version, str) and version:
        payload["awsIotSqlVersion"] = version
        origins["topicRulePayload.awsIotSqlVersion"] = f"{address}.sql_version"
    elif strict:
        raise fail(f"{address}.sql_version", "is required (2015-10-08, 2016-03-23 or beta)")
    enabled = values.get("enabled")
    if isinstance(enabled, str) and enabled.lower() in ("true", "false"):
        enabled = enabled.lower() == "true"
    if enabled is None and strict:
        raise fail(f"{address}.enabled", "is required (true or false)")
    if enabled is not None and not isinstance(enabled, bool):
        raise fail(f"{address}.enabled", f"must be true or false, not {enabled!r}")
    payload["ruleDisabled"] = enabled is False
    origins["topicRulePayload.ruleDisabled"] = f"{address}.enabled"
    description = values.get("description")
    if isinstance(description, str) and description:
        payload["description"] = description
        origins["topicRulePayload.description"] = f"{address}.description"

    converter = Converter(TERRAFORM, fail)
    action_members = _members("Action")
    shapes = _action_shapes()
    actions: list[dict[str, Any]] = []
    for key in sorted(values):
        if key in _IGNORED:
            continue
        member = action_members.get(_fold(key))
        if member is None:
            if _blocks(values[key]):
                raise fail(f"{address}.{key}", "unknown argument of aws_iot_topic_rule")
            continue
        for index, block in enumerate(_blocks(values[key])):
            api = f"topicRulePayload.actions[{len(actions)}].{member}"
            converted = converter.convert(block, shapes[member], api, f"{address}.{key}[{index}]")
            if converted is not None:
                actions.append({member: converted})
    payload["actions"] = actions
    origins["topicRulePayload.actions"] = address

    error_blocks = _blocks(values.get("error_action"))
    if len(error_blocks) > 1:
        raise fail(f"{address}.error_action", "takes one block")
    if error_blocks:
        block = error_blocks[0]
        if not isinstance(block, Mapping):
            raise fail(f"{address}.error_action[0]", "must be a block of one action")
        chosen = {}
        for key, item in block.items():
            if key in _META:
                continue
            member = action_members.get(_fold(key))
            if member is None:
                raise fail(f"{address}.error_action[0].{key}", "unknown action type")
            converted = converter.convert(
                item,
                shapes[member],
                f"topicRulePayload.errorAction.{member}",
                f"{address}.error_action[0].{key}",
            )
            if converted is not None:
                chosen[member] = converted
        if len(chosen) != 1:
            raise fail(
                f"{address}.error_action[0]", f"must hold exactly one action, not {len(chosen)}"
            )
        payload["errorAction"] = chosen
        origins["topicRulePayload.errorAction"] = f"{address}.error_action[0]"
    return LoadedRule(name, payload, file, address, fmt, None, {**converter.origins, **origins})


#: The arguments of aws_iot_topic_rule that are not action blocks.
_ARGUMENTS = ("name", "sql", "sql_version", "enabled", "description", "tags")


def _refuse_unknown_arguments(
    values: Mapping[str, Any], address: str, fail: Callable[[str, str], RuleValidationError]
) -> None:
    """Terraform's "An argument named "sqll" is not expected here", with the name meant: a
    misspelt argument is the error, not the required one it hides (`sql is required`)."""
    action_members = _members("Action")
    for key in values:
        if key in _IGNORED or action_members.get(_fold(key)) is not None:
            continue
        if _blocks(values[key]) and all(isinstance(b, Mapping) for b in _blocks(values[key])):
            candidates = [styled(m, TERRAFORM) for m in action_members.values()]
            candidates.append("error_action")
            what = "unknown block type of aws_iot_topic_rule"
        else:
            candidates, what = list(_ARGUMENTS), "unknown argument of aws_iot_topic_rule"
        raise fail(f"{address}.{key}", f"{what}{did_you_mean(key, candidates)}")


def _action_shapes() -> dict[str, str]:
    from iotsql.actions.schema import action_shape_names

    return action_shape_names()


# ---- terraform show -json, plan JSON ----------------------------------------------------------


def load_state(data: Mapping[str, Any], file: str, env: Environment, fmt: str) -> list[LoadedRule]:
    """The rules of `terraform show -json` output (state or plan)."""

    def fail(path: str, message: str) -> RuleValidationError:
        return source_error(file, path, message)

    if "planned_values" in data:
        root = (data.get("planned_values") or {}).get("root_module")
    elif "values" in data:
        root = (data.get("values") or {}).get("root_module")
    else:
        raise fail("", "no values.root_module (terraform show -json) or planned_values.root_module"
                       " (terraform show -json plan)")  # fmt: skip
    if not isinstance(root, Mapping):
        return []
    register_definition(data)
    modules = list(_modules(root))
    known = {res.get("address"): res for module in modules for res in module.get("resources") or []}
    unknown = {
        change.get("address"): (change.get("change") or {}).get("after_unknown")
        for change in data.get("resource_changes") or []
        if isinstance(change, Mapping)
    }
    expressions = dict(
        _config_expressions((data.get("configuration") or {}).get("root_module"), "")
    )
    variables = {name: spec.get("value") for name, spec in (data.get("variables") or {}).items()
                 if isinstance(spec, Mapping)}  # fmt: skip
    placeholders = Placeholders(env)

    def reference(ref: str) -> Any:
        parts = [re.sub(r"\[.*?\]$", "", p) for p in ref.split(".")]
        if parts[0] == "var" and len(parts) > 1:
            return variables.get(parts[1])
        if parts[0] == "data" and len(parts) > 3:
            value = placeholders.tf_data(parts[1], parts[2], parts[3])
            return value if value is not None else placeholders.tf_attribute(*parts[1:4])
        if len(parts) > 2 and "_" in parts[0]:
            target = known.get(f"{parts[0]}.{parts[1]}") or {}
            kind = tf_kind(parts[0])
            named = (target.get("values") or {}).get(kind.tf_name if kind else "name")
            return placeholders.tf_attribute(parts[0], named if isinstance(named, str) and named
                                             else parts[1], parts[2])  # fmt: skip
        return None

    def resolve(expression: Any) -> Any:
        if isinstance(expression, Mapping):
            for ref in expression.get("references") or []:
                value = reference(str(ref))
                if value is not None:
                    return value
            if "constant_value" in expression:
                return expression["constant_value"]
        return "(known after apply)"

    rules = []
    for module in modules:
        for resource in module.get("resources") or []:
            if resource.get("type") != RULE_TYPE or resource.get("mode", "managed") != "managed":
                continue
            address = str(resource.get("address") or f"{RULE_TYPE}.{resource.get('name')}")
            values = resource.get("values") or {}
            if unknown.get(address):
                config = expressions.get(re.sub(r"\[[^\]]*\]", "", address))
                values = _fill(values, unknown[address], config, resolve)
            rule = per_resource(partial(topic_rule, values, address, file, fmt, fail))
            rules.extend([rule] if rule is not None else [])
    return rules


def _modules(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield module
    for child in module.get("child_modules") or []:
        if isinstance(child, Mapping):
            yield from _modules(child)


def _config_expressions(module: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(module, Mapping):
        return
    for resource in module.get("resources") or []:
        if isinstance(resource, Mapping):
            yield f"{prefix}{resource.get('address')}", resource.get("expressions")
    for name, call in (module.get("module_calls") or {}).items():
        if isinstance(call, Mapping):
            yield from _config_expressions(call.get("module"), f"{prefix}module.{name}.")


def _fill(value: Any, unknown: Any, expression: Any, resolve: Callable[[Any], Any]) -> Any:
    """`value` with the attributes a plan does not know yet (`after_unknown`) filled from the
    configuration's expressions (a reference becomes its placeholder)."""
    if unknown is True:
        return value if value is not None else resolve(expression)
    if isinstance(unknown, Mapping):
        out = dict(value) if isinstance(value, Mapping) else {}
        for key, item in unknown.items():
            sub = expression.get(key) if isinstance(expression, Mapping) else None
            filled = _fill(out.get(key), item, sub, resolve)
            if filled is not None:
                out[key] = filled
        return out
    if isinstance(unknown, list):
        items = list(value) if isinstance(value, list) else []
        subs = expression if isinstance(expression, list) else []
        for index, item in enumerate(unknown):
            if index >= len(items):
                items.append({} if isinstance(item, Mapping) else None)
            items[index] = _fill(items[index], item, subs[index] if index < len(subs) else None,
                                 resolve)  # fmt: skip
        return items
    return value


# ---- configuration: .tf and .tf.json -----------------------------------------------------------


class HclError(Exception):
    """An expression Terraform itself would reject."""


@dataclass(frozen=True)
class Unresolved:
    """A value only Terraform (with providers, state, modules) knows: `text` is how it shows
    in place of the value, `missing` the expressions that could not be evaluated."""

    text: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Scope:
    count_index: int | None = None
    each: tuple[Any, Any] | None = None
    iterators: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)


#: Terraform's built-in functions (a name outside this list is an error, as in Terraform).
_FUNCTION_NAMES = """
abs ceil floor log max min parseint pow signum chomp endswith format formatlist indent join lower
regex regexall replace split startswith strcontains strrev substr templatestring title trim
trimprefix trimsuffix trimspace upper alltrue anytrue chunklist coalesce coalescelist compact
concat contains distinct element flatten index keys length list lookup map matchkeys merge one
range reverse setintersection setproduct setsubtract setunion slice sort sum transpose values
zipmap base64decode base64encode base64gzip csvdecode jsondecode jsonencode textdecodebase64
textencodebase64 urlencode yamldecode yamlencode abspath dirname pathexpand basename file
fileexists fileset filebase64 templatefile formatdate timeadd timecmp timestamp plantimestamp
base64sha256 base64sha512 bcrypt filebase64sha256 filebase64sha512 filemd5 filesha1 filesha256
filesha512 md5 rsadecrypt sha1 sha256 sha512 uuid uuidv5 cidrhost cidrnetmask cidrsubnet
cidrsubnets can nonsensitive sensitive issensitive tobool tolist tomap tonumber toset tostring
try type ephemeralasnull
"""
TF_FUNCTIONS = frozenset(_FUNCTION_NAMES.split())


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"cannot convert {value!r} to a string")


def _format(pattern: str, *args: Any) -> str:
    values = iter(args)

    def verb(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        value = next(values)
        if match.group(1) == "q":
            return json.dumps(value)
        return _to_text(value)

    return re.sub(r"%%|%([svdq])", verb, pattern)


def _replace(text: str, old: str, new: str) -> str:
    if len(old) > 1 and old.startswith("/") and old.endswith("/"):
        raise ValueError("regular expression replacements are not evaluated")
    return text.replace(old, new)


_EVALUATED: dict[str, Callable[..., Any]] = {
    "format": _format,
    "join": lambda sep, *lists: sep.join(_to_text(v) for items in lists for v in items),
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "title": lambda s: s.title(),
    "trimspace": lambda s: s.strip(),
    "trimprefix": lambda s, p: s.removeprefix(p),
    "trimsuffix": lambda s, p: s.removesuffix(p),
    "replace": _replace,
    "split": lambda sep, s: s.split(sep),
    "substr": lambda s, offset, length: s[offset:] if length < 0 else s[offset : offset + length],
    "concat": lambda *lists: [v for items in lists for v in items],
    "element": lambda items, index: items[int(index) % len(items)],
    "length": len,
    "lookup": lambda m, k, *default: m[k] if k in m or not default else default[0],
    "coalesce": lambda *vs: next(v for v in vs if v not in (None, "")),
    "merge": lambda *maps: {k: v for m in maps for k, v in m.items()},
    "tostring": _to_text,
    "tonumber": lambda v: float(v) if "." in str(v) else int(v),
    "tolist": list,
    "jsonencode": lambda v: json.dumps(v, separators=(",", ":")),
}


def _result_size(name: str, args: list[Any], limit: int) -> int:
    """At least the length of what the function `name` makes of `args` (characters of a
    string, items of a list), or more than `limit` once it is known to pass it; 0 for the
    functions whose result is no larger than their arguments."""
    if name == "replace" and len(args) == 3 and all(isinstance(a, str) for a in args):
        text, old, new = args
        copies = len(text) + 1 if old == "" else text.count(old)
        return len(text) + copies * (len(new) - len(old))
    if name == "join" and args and all(isinstance(a, list) for a in args[1:]):
        items = [item for items in args[1:] for item in items]
        texts = sum(len(item) if isinstance(item, str) else 1 for item in items)
        return texts + len(str(args[0])) * max(0, len(items) - 1)
    if name == "concat" and all(isinstance(a, list) for a in args):
        # each item is at least one character and a separator (the lists hold references:
        # walking every item on each of a chain of doublings would cost more than the copy)
        return 2 * sum(len(a) for a in args)
    if name in ("format", "jsonencode"):
        sizes: dict[int, int] = {}
        return sum(_text_size(arg, limit, sizes) for arg in args)
    return 0


def _text_size(value: Any, limit: int, sizes: dict[int, int]) -> int:
    """At least the characters of `value` written out as JSON (a string's and its quotes, one
    per number or other scalar, one per separator), measured once per list or object however
    many times it is referred to (`sizes`, by id), and no further than past `limit`."""
    if isinstance(value, str):
        return len(value) + 2
    if not isinstance(value, (list, dict)):
        return 1
    known = sizes.get(id(value))
    if known is not None:
        return known
    total = 2
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        total += _text_size(item, limit, sizes) + 1 + (len(key) + 1 if isinstance(key, str) else 0)
        if total > limit:
            break
    sizes[id(value)] = total
    return total


def _matching_brace(text: str, start: int) -> int:
    """The index of the `}` closing the `{` at `start` (quoted strings skipped), or -1."""
    depth, index = 0, start
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _string_end(text, index)
            if index < 0:
                return -1
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _string_end(text: str, start: int) -> int:
    """The index of the `"` closing the quoted string opened at `start`, or -1."""
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if text.startswith("${", index) or text.startswith("%{", index):
            end = _matching_brace(text, index + 1)
            if end < 0:
                return -1
            index = end + 1
            continue
        if char == '"':
            return index
        index += 1
    return -1


_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)\n(.*?)\n?[ \t]*\2\s*$", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(::[A-Za-z_][A-Za-z0-9_-]*)*")
_OPERATORS = ("[*]", ".*", "==", "!=", "<=", ">=", "&&", "||", "=>", "...")


class _Unsupported(Exception):
    """An expression this loader does not evaluate (operators, for expressions, splats)."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif char == '"':
            end = _string_end(text, index)
            if end < 0:
                raise _Unsupported(text)
            tokens.append(("str", text[index + 1 : end]))
            index = end + 1
        elif char.isdigit():
            match = _NUMBER.match(text, index)
            assert match is not None
            tokens.append(("num", match.group(0)))
            index = match.end()
        elif char.isalpha() or char == "_":
            match = _NAME.match(text, index)
            assert match is not None
            tokens.append(("name", match.group(0)))
            index = match.end()
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, index)), char)
            tokens.append(("op", op))
            index += len(op)
    return tokens


class _Parser:
    """Parses the expressions the loader evaluates: literals, templates, references with
    attribute and index steps, function calls, tuples and objects."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def parse(self) -> Any:
        node = self.postfix()
        if self.position != len(self.tokens):
            raise _Unsupported()
        return node

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def expect(self, op: str) -> None:
        if self.take() != ("op", op):
            raise _Unsupported()

    def postfix(self) -> Any:
        node = self.primary()
        while True:
            token = self.peek()
            if token == ("op", "."):
                self.take()
                kind, value = self.take()
                if kind not in ("name", "num"):
                    raise _Unsupported()
                node = ("attr", node, value)
            elif token == ("op", "["):
                self.take()
                node = ("index", node, self.postfix())
                self.expect("]")
            else:
                return node

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "num":
            return ("lit", float(value) if any(c in value for c in ".eE") else int(value))
        if kind == "str":
            return ("template", value)
        if kind == "name":
            if value in ("true", "false", "null"):
                return ("lit", {"true": True, "false": False, "null": None}[value])
            if self.peek() == ("op", "("):
                self.take()
                return ("call", value, self.sequence(")"))
            return ("ref", value)
        if (kind, value) == ("op", "["):
            return ("tuple", self.sequence("]"))
        if (kind, value) == ("op", "{"):
            pairs = []
            while self.peek() != ("op", "}"):
                key_kind, key = self.take()
                if key_kind not in ("name", "str") or self.take() not in (("op", "="), ("op", ":")):
                    raise _Unsupported()
                pairs.append((key, self.postfix()))
                if self.peek() == ("op", ","):
                    self.take()
            self.take()
            return ("object", pairs)
        if (kind, value) == ("op", "("):
            node = self.postfix()
            self.expect(")")
            return node
        raise _Unsupported()

    def sequence(self, closing: str) -> list[Any]:
        items = []
        while self.peek() != ("op", closing):
            items.append(self.postfix())
            if self.peek() == ("op", ","):
                self.take()
            elif self.peek() != ("op", closing):
                raise _Unsupported()
        self.take()
        return items


class Configuration:
    """The variables, locals, resources and data sources of a set of configuration files."""

    def __init__(
        self,
        documents: Iterable[tuple[str, Mapping[str, Any]]],
        parameters: Mapping[str, Any],
        env: Environment,
        tfvars: Mapping[str, Any] | None = None,
        directory: str = ".",
    ) -> None:
        self.parameters = parameters
        self.tfvars = dict(tfvars or {})
        self.directory = directory
        self.placeholders = Placeholders(env)
        self.variables: dict[str, Mapping[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.resources: dict[tuple[str, str], tuple[str, Mapping[str, Any]]] = {}
        self.data: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._local_values: dict[str, Any] = {}
        self._busy: set[str] = set()
        limits = current_limits()
        self.max_depth = limits.max_document_depth
        self.max_text = limits.max_document_bytes
        self.max_instances = limits.max_resource_instances
        #: How deep evaluation is (values, and locals referring to locals): bounded by
        #: Limits.max_document_depth, so that it is an error, never a RecursionError.
        self._depth = 0
        for file, document in documents:
            for name, body in _labelled(document.get("variable")):
                self.variables[name] = body
                declare([name])
            for block in _blocks(document.get("locals")):
                if isinstance(block, Mapping):
                    self.locals.update({_unquote(k): v for k, v in block.items() if k not in _META})
            for kind, named in _labelled(document.get("resource")):
                for name, body in _labelled(named):
                    self.resources[(kind, name)] = (file, body)
            for kind, named in _labelled(document.get("data")):
                for name, body in _labelled(named):
                    self.data[(kind, name)] = body
        register_definition(self)

    # ---- evaluation -------------------------------------------------------------------------

    def evaluate(self, raw: Any, scope: Scope) -> Any:
        if raw is None or isinstance(raw, (bool, int, float)):
            return raw
        if self._depth >= self.max_depth:
            raise HclError(f"values and references nested more than Limits.max_document_depth "
                           f"({self.max_depth}) deep")  # fmt: skip
        self._depth += 1
        try:
            return self._evaluate(raw, scope)
        finally:
            self._depth -= 1

    def _evaluate(self, raw: Any, scope: Scope) -> Any:
        if isinstance(raw, list):
            return [self.evaluate(item, scope) for item in raw]
        if isinstance(raw, Mapping):
            out: dict[str, Any] = {}
            for key, item in raw.items():
                name = _unquote(str(key))
                if name in _META:
                    continue
                if name == "dynamic":
                    for label, generated in self.dynamic(item, scope):
                        out.setdefault(label, []).extend(generated)
                    continue
                value = self.evaluate(item, scope)
                if isinstance(out.get(name), list) and isinstance(value, list):
                    out[name] = value + out[name]
                else:
                    out[name] = value
            return out
        if isinstance(raw, str):
            return self.string(raw, scope)
        return raw

    def string(self, raw: str, scope: Scope) -> Any:
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            heredoc = _heredoc(raw[1:-1])
            if heredoc is not None:
                return self.template(heredoc, scope, escapes=False)
            return self.template(raw[1:-1], scope, escapes=True)
        heredoc = _heredoc(raw)
        if heredoc is not None:
            return self.template(heredoc, scope, escapes=False)
        if raw.startswith("${") and _matching_brace(raw, 1) == len(raw) - 1:
            return self.expression(raw[2:-1], scope)
        # python-hcl2 before 7 gives string literals without their quotes, escapes undecoded
        return self.template(raw, scope, escapes=True)

    def template(self, text: str, scope: Scope, escapes: bool) -> Any:
        parts: list[tuple[bool, Any]] = []  # (is an interpolation, value)
        literal: list[str] = []
        index = 0
        while index < len(text):
            if text.startswith(("$${", "%%{"), index):
                literal.append(text[index + 1 : index + 3])
                index += 3
            elif text.startswith(("${", "%{"), index):
                end = _matching_brace(text, index + 1)
                if end < 0:
                    raise HclError(f"unterminated {text[index : index + 2]} in {text!r}")
                if literal:
                    parts.append((False, "".join(literal)))
                    literal = []
                inner = text[index + 2 : end].strip().strip("~").strip()
                if text[index] == "%":
                    parts.append(
                        (True, Unresolved(text[index : end + 1], (text[index : end + 1],)))
                    )
                else:
                    parts.append((True, self.expression(inner, scope)))
                index = end + 1
            elif escapes and text[index] == "\\" and index + 1 < len(text):
                code = text[index + 1]
                if code in "uU":
                    width = 4 if code == "u" else 8
                    literal.append(chr(int(text[index + 2 : index + 2 + width], 16)))
                    index += 2 + width
                else:
                    literal.append(_ESCAPES.get(code, "\\" + code))
                    index += 2
            else:
                literal.append(text[index])
                index += 1
        if literal:
            parts.append((False, "".join(literal)))
        if len(parts) == 1 and parts[0][0]:
            return parts[0][1]
        texts: list[str] = []
        missing: list[str] = []
        size = 0
        for _, value in parts:
            if isinstance(value, Unresolved):
                texts.append(value.text)
                missing.extend(value.missing)
            else:
                try:
                    texts.append(_to_text(value) if value is not None else "")
                except ValueError as err:
                    raise HclError(str(err)) from None
            size += len(texts[-1])
            self.check_text(size)  # locals can double a string at each step
        return Unresolved("".join(texts), tuple(missing)) if missing else "".join(texts)

    def check_text(self, size: int) -> None:
        if size > self.max_text:
            raise HclError(f"the value is longer than Limits.max_document_bytes "
                           f"({self.max_text:,} characters)")  # fmt: skip

    def expression(self, text: str, scope: Scope) -> Any:
        try:
            node = _Parser(text).parse()
        except _Unsupported:
            return Unresolved(text, (text,))
        except RecursionError:
            raise HclError("the expression is nested too deeply to read") from None
        try:
            return self.node(node, scope, text)
        except HclError as err:
            raise HclError(
                f"${{{text}}}: {err}; to pass an AWS IoT substitution template, write $${{{text}}}"
            ) from None

    def node(self, node: Any, scope: Scope, source: str) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "template":
            return self.template(node[1], scope, escapes=True)
        if kind == "tuple":
            return [self.node(item, scope, source) for item in node[1]]
        if kind == "object":
            return {key: self.node(value, scope, source) for key, value in node[1]}
        if kind == "call":
            return self.call(node[1], [self.node(a, scope, source) for a in node[2]], source)
        return self.reference(node, scope, source)

    def call(self, name: str, args: list[Any], source: str) -> Any:
        if "::" in name:
            return Unresolved(source, (source,))
        if name not in TF_FUNCTIONS:
            raise HclError(f"Terraform has no function {name}()")
        if name == "timestamp":
            raise HclError("Terraform evaluates timestamp() itself, once, when it applies")
        function = _EVALUATED.get(name)
        if function is None or any(isinstance(a, Unresolved) for a in args):
            return Unresolved(source, (source,))
        if name == "format" and args and isinstance(args[0], str) and re.search(r"\d{6,}", args[0]):
            raise HclError(f"{name}(): a width or precision this large makes a value longer "
                           f"than Limits.max_document_bytes")  # fmt: skip
        # Measured before it is made: locals that repeat each other share their values, so a
        # value standing for 4**20 strings costs 21 lists until jsonencode writes it out, and
        # replace() or join() make 16 MB times 16 MB from two short lines.
        self.check_text(_result_size(name, args, self.max_text))
        try:
            result = function(*args)
        except Exception:
            return Unresolved(source, (source,))
        if isinstance(result, (str, list)):
            self.check_text(len(result))  # what the measure does not cover (split, merge...)
        return result

    def reference(self, node: Any, scope: Scope, source: str) -> Any:
        steps: list[tuple[str, Any]] = []
        while node[0] in ("attr", "index"):
            steps.append((node[0], node[2]))
            node = node[1]
        steps.reverse()
        if node[0] != "ref":
            return self.traverse(self.node(node, scope, source), steps, scope, source)
        root = node[1]
        names = [value for kind, value in steps if kind == "attr"]
        if root == "var" and names:
            return self.traverse(self.variable(names[0]), steps[1:], scope, source)
        if root == "local" and names:
            return self.traverse(self.local(names[0]), steps[1:], scope, source)
        if root == "count" and names == ["index"]:
            if scope.count_index is None:
                raise HclError("count.index is only valid in a resource with count")
            return scope.count_index
        if root == "each" and names[:1] in (["key"], ["value"]):
            if scope.each is None:
                raise HclError("each is only valid in a resource with for_each")
            value = scope.each[0] if names[0] == "key" else scope.each[1]
            return self.traverse(value, steps[1:], scope, source)
        if root in scope.iterators and names[:1] in (["key"], ["value"]):
            pair = scope.iterators[root]
            return self.traverse(
                pair[0] if names[0] == "key" else pair[1], steps[1:], scope, source
            )
        if root == "path":
            return self.directory
        if root == "terraform":
            return "default"
        if root in ("module", "self"):
            return Unresolved(source, (source,))
        if root == "data" and len(names) >= 3:
            value = self.placeholders.tf_data(names[0], names[1], names[2])
            if value is not None:
                return value
            return self.placeholders.tf_attribute(names[0], self.physical_name(names[0], names[1],
                                                  data=True), names[2])  # fmt: skip
        if "_" in root and len(names) >= 2:
            return self.placeholders.tf_attribute(
                root, self.physical_name(root, names[0]), names[1]
            )
        if "_" in root and names:
            return Unresolved(source, (source,))
        raise HclError(f"{root} is not a reference Terraform knows (var., local., a resource...)")

    def traverse(self, value: Any, steps: list[tuple[str, Any]], scope: Scope, source: str) -> Any:
        for kind, step in steps:
            if isinstance(value, Unresolved):
                return value
            key = step if kind == "attr" else self.node(step, scope, source)
            try:
                if isinstance(value, list):
                    value = value[int(key)]
                elif isinstance(value, Mapping):
                    value = value[str(key)]
                else:
                    return Unresolved(source, (source,))
            except (KeyError, IndexError, ValueError):
                return Unresolved(source, (source,))
        return value

    def variable(self, name: str) -> Any:
        for key in (name, f"var.{name}"):
            if key in self.parameters:
                return self.parameters[key]
        if name in self.tfvars:
            return self.tfvars[name]
        declaration = self.variables.get(name)
        if declaration is None:
            raise HclError(f"no variable {name!r} is declared")
        if "default" in declaration:
            return self.evaluate(declaration["default"], Scope())
        return Unresolved(f"var.{name}", (f"var.{name}",))

    def local(self, name: str) -> Any:
        if name not in self._local_values:
            if name not in self.locals:
                raise HclError(f"no local value {name!r} is declared")
            if f"local.{name}" in self._busy:
                raise HclError(f"local.{name} refers to itself")
            self._busy.add(f"local.{name}")
            try:
                self._local_values[name] = self.evaluate(self.locals[name], Scope())
            finally:
                self._busy.discard(f"local.{name}")
        return self._local_values[name]

    def physical_name(self, kind: str, label: str, data: bool = False) -> str:
        body = (
            self.data.get((kind, label))
            if data
            else self.resources.get((kind, label), ("", None))[1]
        )
        described = tf_kind(kind)
        argument = described.tf_name if described else "name"
        key = f"{kind}.{label}"
        if not isinstance(body, Mapping) or key in self._busy:
            return label
        raw = next((v for k, v in body.items() if _unquote(str(k)) == argument), None)
        if raw is None:
            return label
        self._busy.add(key)
        try:
            value = self.evaluate(raw, Scope())
        except HclError:
            return label
        finally:
            self._busy.discard(key)
        return value if isinstance(value, str) and value else label

    def dynamic(self, raw: Any, scope: Scope) -> Iterator[tuple[str, list[Any]]]:
        for label, spec in _labelled(raw):
            iterator = re.sub(r"^\$\{(.*)\}$", r"\1", _unquote(str(spec.get("iterator") or label)))
            collection = self.evaluate(spec.get("for_each"), scope)
            if isinstance(collection, Unresolved):
                raise HclError(
                    f'the for_each of dynamic "{label}" cannot be evaluated here '
                    f"({collection.text}): pass the variables it uses in parameters"
                )
            pairs = collection.items() if isinstance(collection, Mapping) else (
                (v, v) for v in collection or [])  # fmt: skip
            contents = _blocks(spec.get("content"))
            content = contents[0] if contents else {}
            yield label, [
                self.evaluate(content, Scope(scope.count_index, scope.each,
                                             {**scope.iterators, iterator: (key, value)}))
                for key, value in pairs
            ]  # fmt: skip

    # ---- rules ------------------------------------------------------------------------------

    def rules(self, fmt: str) -> list[LoadedRule]:
        rules = []
        for (kind, label), (file, body) in self.resources.items():
            if kind != RULE_TYPE:
                continue
            base = f"{RULE_TYPE}.{label}"

            def fail(path: str, message: str, file: str = file) -> RuleValidationError:
                return source_error(file, path, message)

            instances = per_resource(partial(self._instances, body, base, fail))
            for address, scope in instances or []:
                rule = per_resource(partial(self._rule, address, scope, body, fail, file, fmt))
                rules.extend([rule] if rule is not None else [])
        return rules

    def _rule(
        self, address: str, scope: Scope, body: Mapping[str, Any],
        fail: Callable[[str, str], RuleValidationError], file: str, fmt: str,
    ) -> LoadedRule:  # fmt: skip
        values: dict[str, Any] = {}
        for key, raw in body.items():
            name = _unquote(str(key))
            if name in _META or name in ("count", "for_each", "lifecycle", "depends_on",
                                         "provider"):  # fmt: skip
                continue
            try:
                value = self.evaluate({name: raw}, scope)
            except HclError as err:
                raise fail(f"{address}.{name}", str(err)) from None
            for item_name, item in value.items():
                if item_name in ("sql", "name") and isinstance(item, Unresolved):
                    missing = ", ".join("${" + m + "}" for m in item.missing)
                    raise fail(f"{address}.{item_name}", f"cannot evaluate {missing} "
                               "locally: give the variables it uses a default, or "
                               f"{give_value(_variable(item.missing))}")  # fmt: skip
                values[item_name] = _settle(item)
        return topic_rule(values, address, file, fmt, fail, strict=True)

    def _instances(
        self, body: Mapping[str, Any], base: str, fail: Callable[[str, str], RuleValidationError]
    ) -> list[tuple[str, Scope]]:
        return list(self.instances(body, base, fail))

    def instances(
        self, body: Mapping[str, Any], base: str, fail: Callable[[str, str], RuleValidationError]
    ) -> Iterator[tuple[str, Scope]]:
        arguments = {_unquote(str(k)): v for k, v in body.items()}
        try:
            count = self.evaluate(arguments.get("count"), Scope())
            each = self.evaluate(arguments.get("for_each"), Scope())
        except HclError as err:
            raise fail(base, str(err)) from None
        if isinstance(count, Unresolved) or isinstance(each, Unresolved):
            missing = [*getattr(count, "missing", ()), *getattr(each, "missing", ())]
            raise fail(base, "count or for_each cannot be evaluated locally: give the variables "
                             f"they use a value: {give_value(_variable(missing))}")  # fmt: skip
        # Each instance is a topic rule: at most Limits.max_resource_instances (AWS allows
        # 1,000 rules per account and region), checked before any is made.
        if count is not None:
            try:
                number = int(count)
            except (TypeError, ValueError):
                raise fail(f"{base}.count", f"must be a whole number, not {count!r}") from None
            if not 0 <= number <= self.max_instances:
                raise fail(f"{base}.count", f"count = {number}: a resource expands to at most "
                           f"Limits.max_resource_instances ({self.max_instances:,}) "
                           "instances")  # fmt: skip
            for index in range(number):
                yield f"{base}[{index}]", Scope(count_index=index)
        elif each is not None:
            if not isinstance(each, (Mapping, list, tuple, set)):
                raise fail(f"{base}.for_each", f"must be a map or a set, not {each!r}")
            if len(each) > self.max_instances:
                raise fail(f"{base}.for_each", f"for_each over {len(each):,} items: a resource "
                           f"expands to at most Limits.max_resource_instances "
                           f"({self.max_instances:,}) instances")  # fmt: skip
            pairs = each.items() if isinstance(each, Mapping) else ((v, v) for v in each)
            for key, value in pairs:
                yield f'{base}["{key}"]', Scope(each=(key, value))
        else:
            yield base, Scope()


def _settle(value: Any) -> Any:
    """Unresolved values shown as their text (a placeholder the action receives as it is)."""
    if isinstance(value, Unresolved):
        return value.text
    if isinstance(value, list):
        return [_settle(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _settle(v) for k, v in value.items()}
    return value


def _heredoc(text: str) -> str | None:
    match = _HEREDOC.fullmatch(text)
    if match is None:
        return None
    body = match.group(3)
    if match.group(1):
        lines = body.split("\n")
        indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
        margin = min(indents) if indents else 0
        body = "\n".join(line[margin:] for line in lines)
    return body


def _labelled(value: Any) -> Iterator[tuple[str, Any]]:
    """(label, body) pairs of `variable`, `resource` and the like, as python-hcl2 (a list of
    one-key objects, labels quoted) or a .tf.json file (an object) has them."""
    for block in _blocks(value):
        if not isinstance(block, Mapping):
            continue
        for label, body in block.items():
            if label in _META:
                continue
            bodies = _blocks(body)
            yield _unquote(str(label)), (bodies[0] if len(bodies) == 1 else body)


def parse_hcl(text: str, file: str) -> Mapping[str, Any]:
    """A .tf file parsed with python-hcl2 (imported here: it is an optional dependency)."""
    try:
        import hcl2
    except ImportError:
        raise RuleValidationError(
            "reading .tf files needs python-hcl2: pip install 'iotsql[terraform]' (or load the "
            "output of `terraform show -json` instead)", file,
        ) from None  # fmt: skip
    limits = current_limits()
    check_size(text, file, limits)
    check_json_depth(text, file, limits, brackets="[{(")
    options = getattr(hcl2, "SerializationOptions", None)
    try:
        if options is not None:
            return dict(hcl2.loads(text, serialization_options=options(
                with_comments=False, preserve_heredocs=False)))  # fmt: skip
        return dict(hcl2.loads(text))
    except Exception as err:
        line, column = getattr(err, "line", None), getattr(err, "column", None)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        first = re.sub(r"\s*at line \d+, column \d+\.?$", "", first)
        raise DocumentError(f"invalid HCL: {first}", file, line, column) from None


def load_configuration(
    files: list[tuple[str, str]],
    parameters: Mapping[str, Any],
    env: Environment,
    fmt: str,
    tfvars: list[tuple[str, str]] | None = None,
    directory: str = ".",
) -> list[LoadedRule]:
    """The rules of configuration files given as (label, text): `.tf` or `.tf.json`;
    `tfvars` are (label, text) of `.tfvars` / `.tfvars.json` files, applied in order."""
    documents = [(label, _parse_config(label, text)) for label, text in files]
    values = tfvars_values(tfvars or [], env)
    return Configuration(documents, parameters, env, values, directory).rules(fmt)


def _variable(missing: Any) -> str:
    """The first Terraform variable among the expressions a value could not be evaluated
    without (`var.threshold` -> `threshold`), for the hint that asks for its value."""
    for expression in missing:
        found = re.match(r"var\.(\w+)", str(expression))
        if found:
            return found.group(1)
    return "NAME"


def tfvars_values(tfvars: list[tuple[str, str]], env: Environment) -> dict[str, Any]:
    """The variable values of `.tfvars` / `.tfvars.json` files given as (label, text), later
    files overriding earlier ones."""
    values: dict[str, Any] = {}
    for label, text in tfvars:
        raw = _parse_config(label, text)
        plain = Configuration([], {}, env)
        for key, item in raw.items():
            if key not in _META:
                values[_unquote(key)] = _settle(plain.evaluate(item, Scope()))
    return values


def _parse_config(label: str, text: str) -> Mapping[str, Any]:
    if label.endswith(".json"):
        limits = current_limits()
        check_size(text, label, limits)
        check_json_depth(text, label, limits)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DocumentError(f"invalid JSON: {err.msg}", label, err.lineno, err.colno) from None
        if not isinstance(data, Mapping):
            raise RuleValidationError("a Terraform JSON file holds an object", label)
        return data
    return parse_hcl(text, label)


def config_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """The configuration files (`*.tf`, `*.tf.json`) and the variable files Terraform loads by
    itself (`terraform.tfvars`, `terraform.tfvars.json`, `*.auto.tfvars`, `*.auto.tfvars.json`)
    of a folder."""
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.name.endswith((".tf", ".tf.json"))
    )
    auto = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.name.endswith((".auto.tfvars", ".auto.tfvars.json"))
    )
    tfvars = [p for p in (directory / "terraform.tfvars", directory / "terraform.tfvars.json")
              if p.is_file()]  # fmt: skip
    return files, tfvars + auto
