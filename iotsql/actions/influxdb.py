"""The InfluxDB rule action (influxdb-rule-action.md): the rule's output as InfluxDB line
protocol, `@{field}` per-element templates, and `InfluxDBSink`, which writes the lines to an
InfluxDB 2 or 3 endpoint.

- **Points**: an output object is one point, an array one point per element (client-side
  batching; every element must be an object). The measurement is `tableName`, the tags are
  `tags` (sorted by key, empty values left out), the fields every other attribute of the
  element, and the timestamp the element's integer `timestamp` in `timestampUnit` (default
  `ms`; one outside what InfluxDB stores, `TIMESTAMP_RANGE_NS`, fails). Attributes named by `tableName` or a tag value (`${room}`, `@{room}`) and `timestamp`
  are not fields. The error action writes the error document as one point, timestamped with
  the time the message was received when it has no `timestamp`.
- **Values** (the page's conversion table): an integer is `42i` (`u` from 2^63 to 2^64-1,
  refused beyond), a float as is, booleans `t`/`f`, strings quoted, null left out, objects and
  arrays as compact JSON strings. Commas, equals signs and spaces are escaped in keys and tag
  values, commas and spaces in the measurement, and backslashes doubled in all of them (a
  trailing one would escape the delimiter after it). A line break anywhere, or a measurement
  starting with `_` or `#` (a comment line), fails the point.
- **Per-element templates** `@{field}` (iot-substitution-templates.md#iot-array-payload-shorthand)
  name one attribute of the element (`@{room}`, `@{meta.sensor_id}`); they are accepted only in
  the InfluxDB action's `tableName` and tag values, at most one per value and never with `${...}`
  in the same value; anywhere else (SQL, other actions, tag names, the error action)
  CreateTopicRule refuses them (`check_element_templates`). A missing attribute resolves to the
  empty string.

The request is `{"service": "influxdb", "destinationArn", "databaseName", "organization",
"precision", "lines": [...], "columns": [Columns...], "body": bytes, "batchConfig"}`; the
delivered payload is the body. `validate_ownership` is AWS's endpoint ownership validation of
an InfluxDB destination (for `TopicRuleDestinations.validate_influxdb`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, NamedTuple
from urllib.parse import urlencode

from iotsql import ast
from iotsql.actions.base import ActionRequest
from iotsql.errors import ActionError, RuleValidationError, SqlParseError
from iotsql.parser import parse_expression

if TYPE_CHECKING:
    from iotsql.message import Message
    from iotsql.output import Output

__all__ = ["InfluxDBActionError", "InfluxDBDestination", "InfluxDBSink", "validate_ownership"]

#: The most tag and field columns one point may have (the page's failure table).
MAX_COLUMNS = 250
_UNIT_MS = {"s": 1 / 1000, "ms": 1, "us": 1000, "ns": 1_000_000}
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
#: The latest timestamp InfluxDB stores, in nanoseconds (2262-04-11), and as far before 1970 the
#: earliest (1677-09-21): its line protocol reference's maximum and minimum.
MAX_TIMESTAMP_NS: Final = 9_223_372_036_854_775_806
TIMESTAMP_RANGE_NS: Final = (-MAX_TIMESTAMP_NS, MAX_TIMESTAMP_NS)
_ELEMENT = re.compile(r"@\{([^{}]*)\}")
_FAILED = "Failed to write to InfluxDB"
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1


# ---- per-element templates -----------------------------------------------------------------------


def _element_path(text: str, field: str) -> tuple[str, ...]:
    """The attribute path of the inside of `@{...}`: one field reference, nothing else."""
    try:
        expression = parse_expression(text)
    except SqlParseError:
        expression = None
    path = _path_of(expression) if expression is not None else None
    if path is None:
        raise RuleValidationError(
            f"@{{{text}}}: a per-element template names one field of the element (@{{room}}, "
            "@{meta.sensor_id}); functions, operators and literals are not accepted",
            field,
        )
    return path


def _path_of(expr: Any) -> tuple[str, ...] | None:
    if isinstance(expr, ast.Name):
        return (expr.name,)
    if isinstance(expr, ast.Member):
        base = _path_of(expr.base)
        return None if base is None else (*base, expr.name)
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str, bool]]:
    """(path, text, is_key) of every string in an action's parameters, keys included."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path}.{key}", str(key), True
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value, False


def check_element_templates(key: str, params: Any, path: str, is_error_action: bool) -> None:
    """Refuse `@{...}` where AWS refuses it at CreateTopicRule: anywhere but the InfluxDB
    action's `tableName` and tag values, more than one in a value, or with `${...}`."""
    allowed_prefix = f"{path}.tags."
    for field, text, is_key in _strings(params, path):
        markers = _ELEMENT.findall(text)
        if not markers and "@{" not in text:
            continue
        where_ok = (
            key == "influxDB"
            and not is_error_action
            and not is_key
            and (field == f"{path}.tableName" or
                 (field.startswith(allowed_prefix) and "." not in field[len(allowed_prefix) :]))
        )  # fmt: skip
        if not where_ok:
            place = "the error action" if is_error_action else "this field"
            raise RuleValidationError(
                f"per-element templates @{{...}} are accepted only in the InfluxDB action's "
                f"tableName and tag values, not in {place}",
                field,
            )
        if len(markers) != 1 or text.count("@{") != 1:
            raise RuleValidationError("a value holds at most one @{...} template", field)
        if "${" in text.replace("$$", ""):
            raise RuleValidationError("a value cannot mix @{...} and ${...} templates", field)
        _element_path(markers[0].strip(), field)


@functools.lru_cache(maxsize=256)
def _split_element_template(text: str) -> tuple[str, tuple[str, ...], str] | None:
    """(before, attribute path, after) of a value holding one `@{...}`, else None."""
    found = _ELEMENT.search(text)
    if found is None:
        return None
    try:
        path = _element_path(found.group(1).strip(), "")
    except RuleValidationError:
        return None
    return text[: found.start()], path, text[found.end() :]


# ---- what the templates reference ---------------------------------------------------------------


def _references(expr: Any) -> Iterator[tuple[str, ...]]:
    """The payload attribute paths an expression reads (`room`, `meta.id`), outside nested
    queries (whose names are attributes of their elements)."""
    path = _path_of(expr)
    if path is not None:
        yield path
        return
    if isinstance(expr, ast.Subquery):
        yield from _references(expr.source)
        return
    for item in getattr(expr, "__dataclass_fields__", {}):
        child = getattr(expr, item)
        children = child if isinstance(child, tuple) else (child,)
        for node in children:
            if isinstance(node, tuple):
                for part in node:
                    if isinstance(part, ast.Expr):
                        yield from _references(part)
            elif isinstance(node, ast.Expr):
                yield from _references(node)


def referenced_attributes(
    params: Mapping[str, Any], expressions: Any
) -> frozenset[tuple[str, ...]]:
    """The attributes that `tableName` and the tag values name (with `@{...}`, and with the
    `${...}` expressions given, compiled from the same fields): AWS removes them from the field
    set."""
    found: set[tuple[str, ...]] = set()
    values = [params.get("tableName"), *dict(params.get("tags") or {}).values()]
    for value in values:
        if isinstance(value, str):
            split = _split_element_template(value)
            if split is not None:
                found.add(split[1])
    for expression in expressions:
        found.update(_references(expression))
    return frozenset(found)


def bind_render(
    params: Mapping[str, Any], compiled: Mapping[str, Any]
) -> Callable[[Mapping[str, Any], bytes, Output | None, Message], tuple[bytes, Mapping[str, Any]]]:
    """The renderer of one InfluxDB action, knowing which attributes its templates name;
    `compiled` holds the action's parameters with their `${...}` templates compiled."""
    values = [compiled.get("tableName"), *dict(compiled.get("tags") or {}).values()]
    expressions = [e for v in values for e in getattr(v, "expressions", ())]
    excluded = referenced_attributes(params, expressions)
    return functools.partial(render, excluded=excluded)


# ---- line protocol ------------------------------------------------------------------------------


def _no_line_break(text: str, what: str) -> None:
    # Line protocol has no escape for a line break in a name or a value: it would end the point.
    if "\n" in text or "\r" in text:
        raise ValueError(f"{_FAILED}: {what} {_shown(text)} contains a line break")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _escape(text: str, what: str, equals: bool = True) -> str:
    """A name or tag value as line protocol writes it: a backslash doubled (InfluxDB reads two
    as one, so a trailing one cannot escape the next delimiter), then commas and spaces (and
    equals signs, but in the measurement) escaped."""
    _no_line_break(text, what)
    text = text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")
    return text.replace("=", "\\=") if equals else text


def _text(value: Any) -> str:
    """An attribute as the text of a measurement or tag value (a missing one is empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _lookup(element: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = element
    for name in path:
        if not isinstance(value, Mapping) or name not in value:
            return None
        value = value[name]
    return value


def _resolve(text: str, element: Mapping[str, Any]) -> str:
    split = _split_element_template(text)
    if split is None:
        return text
    before, path, after = split
    return before + _text(_lookup(element, path)) + after


def _without(element: Mapping[str, Any], paths: frozenset[tuple[str, ...]]) -> dict[str, Any]:
    """The element without the attributes at `paths` (an object emptied by it is dropped)."""
    out = dict(element)
    for path in paths:
        _remove(out, path)
    return out


def _remove(target: dict[str, Any], path: tuple[str, ...]) -> None:
    head, rest = path[0], path[1:]
    if head not in target:
        return
    if not rest:
        del target[head]
        return
    child = target[head]
    if isinstance(child, Mapping):
        copy = dict(child)
        _remove(copy, rest)
        if copy:
            target[head] = copy
        else:
            del target[head]


def _field_value(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            return f"{value}i"
        if _INT64[1] < value <= _UINT64_MAX:
            return f"{value}u"
        raise ValueError(f"{_FAILED}: field {key!r}: the integer {value} is out of range")
    if isinstance(value, (float, Decimal)):
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            raise ValueError(f"{_FAILED}: field {key!r}: {value} is not a finite number")
        return repr(number)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"),
                                                            ensure_ascii=False)  # fmt: skip
    _no_line_break(text, f"the string value of field {key!r},")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _timestamp(element: Mapping[str, Any], unit: str, message: Message, error: bool) -> int:
    stamp = element.get("timestamp")
    if stamp is None and error:
        return int(message.received_at * _UNIT_MS[unit])
    if stamp is None:
        raise ValueError(f"{_FAILED}: the payload has no timestamp key")
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise ValueError(
            f"{_FAILED}: the timestamp {_shown(str(stamp))} is not an integer Unix epoch value"
        )
    low, high = TIMESTAMP_RANGE_NS
    if not low <= stamp * _UNIT_NS[unit] <= high:
        raise ValueError(
            f"{_FAILED}: the timestamp {_shown(str(stamp))} is out of the range InfluxDB "
            f"stores in unit {unit!r} ({low // _UNIT_NS[unit]} to {high // _UNIT_NS[unit]})"
        )
    return stamp


class Columns(NamedTuple):
    """The names of one point as written (unescaped): the table, its tag keys and field keys;
    the sink checks them against what InfluxDB 3 accepts."""

    table: str
    tags: tuple[str, ...]
    fields: tuple[str, ...]


def _point(
    params: Mapping[str, Any], element: Mapping[str, Any], excluded: frozenset[tuple[str, ...]],
    unit: str, message: Message, error: bool,
) -> tuple[str, Columns]:  # fmt: skip
    measurement = _resolve(str(params.get("tableName") or ""), element)
    if not measurement:
        raise ValueError(f"{_FAILED}: the table name is empty for this point")
    if measurement[0] in "_#":
        # `_` is InfluxDB's namespace (as tableName's pattern says); `#` would make the line
        # a comment, the point silently lost.
        raise ValueError(f"{_FAILED}: the table name {_shown(measurement)} starts with "
                         f"{measurement[0]!r}")  # fmt: skip
    tags = []
    for name, value in dict(params.get("tags") or {}).items():
        text = _resolve(str(value), element)
        if text == "":
            continue  # empty tag values are omitted
        if not name or str(name).startswith("_"):
            raise ValueError(f"{_FAILED}: tag key {_shown(str(name))} is empty or starts with '_'")
        tags.append((str(name), text))
    tags.sort()
    fields = []
    field_keys = []
    values = _without(element, excluded | {("timestamp",)})
    for key, value in values.items():
        written = _field_value(value, key)
        if written is None:
            continue
        if not key or key.startswith("_"):
            raise ValueError(f"{_FAILED}: field key {_shown(key)} is empty or starts with '_'")
        fields.append(f"{_escape(key, 'field key')}={written}")
        field_keys.append(key)
        if len(tags) + len(fields) > MAX_COLUMNS:  # (stop converting: the point fails anyway)
            raise ValueError(
                f"{_FAILED}: the tags and fields exceed the column limit: more than "
                f"{MAX_COLUMNS} columns"
            )
    if not fields:
        raise ValueError(f"{_FAILED}: the payload has no valid fields for line protocol")
    head = _escape(measurement, "table name", equals=False) + "".join(
        f",{_escape(k, 'tag key')}={_escape(v, 'tag value')}" for k, v in tags
    )
    line = f"{head} {','.join(fields)} {_timestamp(element, unit, message, error)}"
    return line, Columns(measurement, tuple(k for k, _ in tags), tuple(field_keys))


def render(
    params: Mapping[str, Any],
    payload: bytes,
    output: Output | None,
    message: Message,
    *,
    excluded: frozenset[tuple[str, ...]] | None = None,
) -> tuple[bytes, Mapping[str, Any]]:
    """The InfluxDB write request for one message: one line per point."""
    from iotsql.actions.types import _document

    if excluded is None:
        excluded = referenced_attributes(params, ())
    value = _document(payload, output)
    if isinstance(value, bytes):
        raise ValueError(f"{_FAILED}: the InfluxDB action processes JSON payloads only")
    elements = value if isinstance(value, list) else [value]
    if not elements:
        raise ValueError(f"{_FAILED}: the output is an empty array: no point to write")
    unit = str(params.get("timestampUnit") or "ms")
    lines = []
    columns = []
    for index, element in enumerate(elements):
        if not isinstance(element, Mapping):
            raise ValueError(
                f"{_FAILED}: client batch contains an invalid point: element {index} is not a "
                "JSON object"
            )
        line, names = _point(params, element, excluded, unit, message, output is None)
        lines.append(line)
        columns.append(names)
    body = "\n".join(lines).encode("utf-8")
    request: dict[str, Any] = {
        "service": "influxdb", "destinationArn": params["destinationArn"],
        "databaseName": params["databaseName"], "organization": params.get("organization"),
        "precision": unit, "lines": lines, "columns": columns, "body": body,
    }  # fmt: skip
    if params.get("batchConfig"):
        request["batchConfig"] = dict(params["batchConfig"])
    return body, request


# ---- the sink -----------------------------------------------------------------------------------


class InfluxDBActionError(ActionError):
    """A write to InfluxDB failed; `status` is the HTTP status when there was a response."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class InfluxDBDestination:
    """What an InfluxDB topic rule destination holds: the endpoint, the InfluxDB version (`V2`
    or `V3`) and the API token (what AWS reads from Secrets Manager): a string, or a function
    that reads it, called again when InfluxDB answers 401 (AWS reloads the secret then)."""

    endpoint: str
    token: str | Callable[[], str]
    version: str = "V2"

    def read_token(self) -> str:
        return self.token if isinstance(self.token, str) else str(self.token())


#: What the page's error table says InfluxDB answers and what AWS does: 503 is retried with
#: back-off (the HTTP action's tries and time-out here), 401 once with the token read again,
#: any other status (404, 422, ...) goes to the error action at once.
RETRIED_STATUSES: Final = frozenset({503})


class InfluxDBSink:
    """Writes the InfluxDB action's lines to real InfluxDB endpoints through the v2 write API
    (`POST /api/v2/write?bucket=&org=&precision=`, which InfluxDB 3 serves too), with the
    token as `Authorization: Token ...` and the HTTP action's time-out and retries (a 503 is
    retried; a 401 is tried once more with the token read again). `destinations` maps
    destination ARNs to `InfluxDBDestination`s; one destination serves every ARN.

    Before anything is sent, a V2 destination needs the action's `organization` (the page:
    "Required for InfluxDB v2"; V3 ignores it), and for a V3 destination every table name and
    tag key must start with a letter or digit and no tag name of a table may be a field name of
    it (the page's naming restrictions): a write that breaks them fails the action."""

    def __init__(
        self,
        destinations: Mapping[str, InfluxDBDestination] | InfluxDBDestination,
        *,
        timeout: float = 3.0,
        retries: int = 2,
    ) -> None:
        from iotsql.actions.http import HttpSink

        self.destinations = destinations
        self.http = HttpSink(timeout=timeout, retries=retries,
                             retryable=RETRIED_STATUSES.__contains__)  # fmt: skip

    def destination(self, arn: str) -> InfluxDBDestination:
        if isinstance(self.destinations, InfluxDBDestination):
            return self.destinations
        found = self.destinations.get(arn)
        if found is None:
            raise InfluxDBActionError(f"{_FAILED}: the destination {arn} does not exist")
        return found

    def __call__(self, request: ActionRequest) -> dict[str, Any]:
        from iotsql.actions.http import HttpActionError

        call = request.request
        target = self.destination(str(call.get("destinationArn")))
        query = {"bucket": call.get("databaseName"), "precision": call.get("precision") or "ms"}
        if target.version == "V2":
            if not call.get("organization"):
                raise InfluxDBActionError(
                    f"{_FAILED}: the action has no organization, which InfluxDB V2 requires"
                )
            query["org"] = call["organization"]
        else:
            _check_v3_names(call.get("columns") or ())
        url = f"{target.endpoint.rstrip('/')}/api/v2/write?{urlencode(query)}"
        body = call.get("body", request.payload)
        for attempt in (1, 2):
            headers = [("Authorization", f"Token {target.read_token()}"),
                       ("Content-Type", "text/plain; charset=utf-8")]  # fmt: skip
            try:
                return self.http.send(url, headers=headers, body=body)
            except HttpActionError as err:
                if err.status == 401 and attempt == 1:
                    continue  # the token may have been rotated: read it again, once
                detail = err.body.decode("utf-8", "replace").strip()
                reason = f"StatusCode: {err.status}. {detail}" if err.status else str(err)
                raise InfluxDBActionError(f"{_FAILED}. {reason}", err.status) from err
        raise AssertionError("unreachable")  # (the loop returns or raises)


#: The request AWS IoT Core makes to validate an InfluxDB destination's endpoint ownership
#: (influxdb-rule-action.md, "Endpoint ownership validation"): the method and the path.
OWNERSHIP_REQUESTS: Final = {
    "V2": ("GET", "/api/v2/me"),
    "V3": ("GET", "/api/v3/configure/database"),
}


def validate_ownership(
    endpoint: str, version: str, token: str, *, timeout: float = 3.0
) -> dict[str, Any]:
    """AWS's endpoint ownership validation of an InfluxDB destination: the V2 `/api/v2/me` or
    the V3 list-databases request, authenticated with the token; a 2xx answer validates (the
    response is returned), anything else raises InfluxDBActionError. For
    `TopicRuleDestinations.validate_influxdb`."""
    from iotsql.actions.http import HttpActionError, HttpSink

    method, path = OWNERSHIP_REQUESTS[version]
    try:
        return HttpSink(timeout=timeout, retries=0).send(
            f"{endpoint.rstrip('/')}{path}", method=method,
            headers=[("Authorization", f"Token {token}")], body=None,
        )  # fmt: skip
    except HttpActionError as err:
        reason = f"StatusCode: {err.status}" if err.status else str(err)
        raise InfluxDBActionError(f"{method} {path} failed. {reason}", err.status) from err


def _check_v3_names(columns: Any) -> None:
    """InfluxDB 3's naming rules, as the page gives them: table names and tag keys start with a
    letter or digit, and a tag name of a table is never a field name of it (within this
    write: the points of one table share their columns)."""
    tables: dict[str, tuple[set[str], set[str]]] = {}
    for names in columns:
        table, tags, fields = names
        for what, name in (("table name", table), *(("tag key", tag) for tag in tags)):
            if not name[:1].isalnum():
                raise InfluxDBActionError(f"{_FAILED}: InfluxDB V3: the {what} {_shown(name)} "
                                          "does not start with a letter or digit")  # fmt: skip
        known_tags, known_fields = tables.setdefault(table, (set(), set()))
        known_tags.update(tags)
        known_fields.update(fields)
        clash = known_tags & known_fields
        if clash:
            raise InfluxDBActionError(f"{_FAILED}: InfluxDB V3: {_shown(min(clash))} is both a "
                                      f"tag and a field of table {_shown(table)}")  # fmt: skip
