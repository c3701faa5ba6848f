"""Functions on JSON structure: get, get_or_default, isNull, isUndefined, transform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iotsql.errors import IotSqlError, RuleTerminatedError
from iotsql.functions.registry import function
from iotsql.limits import current_limits
from iotsql.message import Run
from iotsql.operators import get_item
from iotsql.values import UNDEFINED, V2, json_size, json_size_at_least

U = UNDEFINED
FAMILY = "json"


@function("get", args=2, family=FAMILY, anchor="iot-sql-function-get",
          signature="get(collection, key)")  # fmt: skip
def get(collection: Any, key: Any) -> Any:
    """An element of an Array or a character of a String by 0-based index, or an Object's
    member by name."""
    return get_item(collection, key)


@function("get_or_default", args=(1, 2), family=FAMILY, since=V2, lazy=True,
          anchor="iot-sql-function-get-or-default",
          signature="get_or_default(expression[, default])")  # fmt: skip
def get_or_default(run: Run, doc: Any, arguments: tuple[Callable[[Any, Run], Any], ...]) -> Any:
    """The first argument, unless it is Null, Undefined or fails (an external lookup that
    errors): then the second argument, or Undefined without one."""
    try:
        value = arguments[0](doc, run)
    except RuleTerminatedError:  # the whole rule ends: not a failure a default replaces
        raise
    except IotSqlError:
        value = U
    if value is not U and value is not None:
        return value
    if len(arguments) < 2:
        return U
    return arguments[1](doc, run)


@function("isNull", args=1, family=FAMILY, undefined="pass", anchor="iot-sql-function-isNull",
          signature="isNull(value)")  # fmt: skip
def is_null(value: Any) -> Any:
    """Whether the value is Null."""
    return value is None


@function("isUndefined", args=1, family=FAMILY, since=V2, undefined="pass",
          anchor="iot-sql-function-isUndefined", signature="isUndefined(value)")  # fmt: skip
def is_undefined(value: Any) -> Any:
    """Whether the value is Undefined."""
    return value is U


def _merged_object(value: Any) -> Any:
    """The Object argument: an object, or (from a nested query) an array of objects."""
    if type(value) is dict:
        return value
    if type(value) is list and value and all(type(v) is dict for v in value):
        merged: dict[str, Any] = {}
        for item in value:
            merged.update(item)
        return merged
    return U


def _elements(value: Any) -> Any:
    """The Array argument, with the one-level nesting a nested `SELECT VALUE` adds flattened."""
    if type(value) is not list:
        return U
    out: list[Any] = []
    for item in value:
        if type(item) is list:
            out.extend(item)
        else:
            out.append(item)
    return out


@function("transform", args=3, family=FAMILY, since=V2, anchor="iot-func-transform",
          no_variable_args=(0,),
          signature="transform(mode, object, array)")  # fmt: skip
def transform(mode: Any, attributes: Any, array: Any) -> Any:
    """`enrichArray`: each object of the array, enriched with the object's attributes."""
    if mode != "enrichArray":
        return U
    extra = _merged_object(attributes)
    elements = _elements(array)
    if extra is U or elements is U:
        return U
    limit = current_limits().max_value_bytes
    # Measured before building: each element gets a copy of every attribute, so a long array
    # of small objects and a wide object would make a huge result.
    extra_size = json_size_at_least(extra, limit)
    size = 0
    for element in elements:
        if type(element) is dict:
            size += json_size_at_least(element, limit) + extra_size
            if size > limit:
                return U
    result = [{**element, **extra} for element in elements if type(element) is dict]
    if json_size(result, limit) > limit:
        return U
    return result
