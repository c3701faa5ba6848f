"""Functions that read customer resources while a rule is evaluated: aws_lambda, get_dynamodb,
get_thing_shadow, get_secret, get_registry_data and machinelearning_predict, and `Provider`, the
protocol of the object that answers them (`iotsql.providers.InMemoryProvider` for tests,
`iotsql.providers.Boto3Provider` for real AWS or an emulator).

The provider travels with each evaluation (`rule.evaluate(..., provider=...)`, `run.provider`).
A call without one is a `ProviderError`, never a silent Undefined, and so is any failure of the
provider, and a `get_dynamodb` key with no item: the rule fails and none of its actions runs,
nor its error action, which is for actions that fail (`get_or_default` catches it). AWS-observed:
a missing item is the rule's FunctionExecution error "Function getDynamoDB failed to execute
for rule" (docs/semantics.md, Functions). Arguments of the wrong type make the call Undefined
before any lookup.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any, Final, Protocol

from iotsql.budget import check_time, output_too_big
from iotsql.errors import IotSqlError, ProviderError
from iotsql.functions.registry import function
from iotsql.limits import current_limits
from iotsql.message import Run
from iotsql.values import (
    UNDEFINED,
    V1,
    V2,
    finalize,
    json_size_at_least,
    json_text,
    normalize_json,
)

U = UNDEFINED
FAMILY = "external"

#: What `get_secret`'s secretType accepts.
SECRET_TYPES: Final = ("SecretString", "SecretBinary")
#: What `get_registry_data`'s registryAPI accepts.
REGISTRY_APIS: Final = ("DescribeThing", "ListThingGroupsForThing")


class Provider(Protocol):
    """What the external functions call. Each method returns plain JSON (dict, list, str, int,
    float, bool, None) or raises; `iotsql.errors.ProviderError` is the clearest exception to
    raise, any other is wrapped in one."""

    def aws_lambda(self, function_arn: str, payload: Any) -> Any:
        """Invoke a Lambda function synchronously with `payload`; its JSON response."""
        ...

    def get_dynamodb(
        self,
        table_name: str,
        partition_key_name: str,
        partition_key_value: Any,
        sort_key_name: str | None,
        sort_key_value: Any,
        role_arn: str,
    ) -> Any:
        """The item with this key as a plain JSON object, or None when there is none."""
        ...

    def get_thing_shadow(self, thing_name: str, shadow_name: str | None, role_arn: str) -> Any:
        """The shadow document (the classic shadow when `shadow_name` is None)."""
        ...

    def get_secret(self, secret_id: str, secret_type: str, key: str | None, role_arn: str) -> Any:
        """The secret's value as `get_secret` returns it (see `secret_value`)."""
        ...

    def get_registry_data(self, api: str, thing_name: str, role_arn: str) -> Any:
        """The response of DescribeThing or ListThingGroupsForThing for the thing."""
        ...

    def machinelearning_predict(self, model_id: str, role_arn: str, record: dict[str, Any]) -> Any:
        """The `Prediction` object of Amazon ML's Predict for a flat record."""
        ...

    def decode_protobuf(
        self, data: bytes, bucket: str, key: str, proto_name: str, message_type: str
    ) -> Any:
        """A protobuf message decoded with the descriptor set stored at s3://bucket/key."""
        ...


# ---- calling the provider -----------------------------------------------------------------------


def invoke_provider(run: Run, function_name: str, method: str, *args: Any) -> Any:
    """Call `run.provider.<method>(*args)` for the SQL function `function_name`, turning a
    missing provider and every failure into a ProviderError that names the function."""
    provider = run.provider
    if provider is None:
        raise ProviderError(
            f"{function_name}() needs a provider: pass provider=InMemoryProvider(...) or "
            "Boto3Provider(...)",
            function_name,
        )
    bound = getattr(provider, method, None)
    if not callable(bound):
        raise ProviderError(
            f"{function_name}() needs a provider with a {method}() method; "
            f"{type(provider).__name__} has none",
            function_name,
        )
    check_time()  # a lookup is slow: not started once the evaluation's time budget is spent
    try:
        return bound(*args)
    except Exception as err:  # any failure of the lookup is a rule failure on AWS
        detail = str(err) if isinstance(err, IotSqlError) else f"{type(err).__name__}: {err}"
        raise ProviderError(f"{function_name}() failed: {detail}", function_name) from err


def to_sql_value(run: Run, function_name: str, result: Any) -> Any:
    """A provider's result in the value model: whole-number doubles are Ints from 2016-03-23."""
    try:
        return normalize_json(result, run.sql_version != V1.value)
    except (IotSqlError, RecursionError) as err:
        raise ProviderError(
            f"{function_name}() got a result that is not JSON: {err}", function_name
        ) from err


def call_provider(run: Run, function_name: str, method: str, *args: Any) -> Any:
    """`invoke_provider`, then its result as a SQL value (what `decode(..., 'proto', ...)` uses)."""
    return to_sql_value(run, function_name, invoke_provider(run, function_name, method, *args))


# ---- helpers shared with the providers -----------------------------------------------------------


def secret_value(
    secret_id: str,
    secret_type: str,
    key: str | None,
    secret_string: str | None,
    secret_binary: bytes | None,
) -> Any:
    """What `get_secret` returns for a secret holding `secret_string` and/or `secret_binary`,
    by the documented rules: SecretString without a key is the whole text (a JSON secret too);
    with a key, the member of the JSON object; SecretBinary is base64 text and takes no key.
    Every other combination fails with ProviderError."""
    if secret_type == "SecretBinary":
        if key is not None:
            raise ProviderError(f"secret {secret_id}: a key cannot be read from a SecretBinary")
        if secret_binary is None:
            raise ProviderError(f"secret {secret_id} has no SecretBinary value")
        return base64.b64encode(secret_binary).decode("ascii")
    if secret_string is None:
        raise ProviderError(f"secret {secret_id} has no SecretString value")
    if key is None:
        return secret_string
    try:
        parsed = json.loads(secret_string)
    except ValueError:
        parsed = None
    if type(parsed) is not dict:
        raise ProviderError(
            f"secret {secret_id}: key {key!r} given but the SecretString is not a JSON object"
        )
    if key not in parsed:
        raise ProviderError(f"secret {secret_id} has no key {key!r}")
    return parsed[key]


def flatten_record(record: dict[str, Any], whole_ints: bool) -> Any:
    """machinelearning_predict's record: one level, nested values serialised to JSON text;
    U when a value cannot be JSON."""
    plain = _json_argument(record, whole_ints)
    if plain is U:
        return U
    return {
        name: json_text(value) if type(value) is dict or type(value) is list else value
        for name, value in plain.items()
    }


# ---- argument checks -----------------------------------------------------------------------------


def _strings(*values: Any) -> bool:
    return all(type(v) is str for v in values)


def _json_argument(value: Any, whole_ints: bool) -> Any:
    """A SQL value as plain JSON for a provider, or U when it cannot be JSON (a raw binary
    body, Undefined inside). A value past `Limits.max_output_bytes` as JSON (a statement can
    repeat a long value without copying it) fails the rule before the provider makes it."""
    limit = current_limits().max_output_bytes
    size = json_size_at_least(value, limit)
    if size > limit:
        raise output_too_big(size, limit)
    return _plain_argument(value, whole_ints)


def _plain_argument(value: Any, whole_ints: bool) -> Any:
    t = type(value)
    if t is dict:
        out: dict[str, Any] = {}
        for name, item in value.items():
            converted = _plain_argument(item, whole_ints)
            if converted is U:
                return U
            out[name] = converted
        return out
    if t is list:
        items = []
        for item in value:
            converted = _plain_argument(item, whole_ints)
            if converted is U:
                return U
            items.append(converted)
        return items
    if t is float or t is Decimal:
        return finalize(value, whole_ints)
    if t is str or t is int or t is bool or value is None:
        return value
    return U


def _key_value(value: Any, whole_ints: bool) -> Any:
    """A DynamoDB key value: a String or a number (key attributes are S, N or B)."""
    t = type(value)
    if t is str or t is int:
        return value
    if t is float or t is Decimal:
        return finalize(value, whole_ints)
    return U


def _whole_ints(run: Run) -> bool:
    return run.sql_version != V1.value


# ---- the functions ------------------------------------------------------------------------------


@function("aws_lambda", args=2, family=FAMILY, since=V1, context=True, pure=False, external=True,
          anchor="iot-func-aws-lambda", signature="aws_lambda(functionArn, inputJson)")  # fmt: skip
def aws_lambda(run: Run, function_arn: Any, input_json: Any) -> Any:
    """Invokes a Lambda function with a JSON input and returns the JSON it responds with."""
    if type(function_arn) is not str:
        return U
    payload = _json_argument(input_json, _whole_ints(run))
    if payload is U:
        return U
    return call_provider(run, "aws_lambda", "aws_lambda", function_arn, payload)


@function("get_dynamodb", args=(4, 6), family=FAMILY, since=V2, context=True, pure=False,
          external=True, per_statement_limit=1, anchor="iot-sql-function-get-dynamodb",
          no_variable_args=(-1,),
          signature="get_dynamodb(tableName, partitionKeyName, partitionKeyValue"
                    "[, sortKeyName, sortKeyValue], roleArn)")  # fmt: skip
def get_dynamodb(run: Run, *args: Any) -> Any:
    """Reads one item of a DynamoDB table by its key; a key with no item fails the rule."""
    if len(args) == 4:
        table, pk_name, pk_value, role = args
        sk_name: Any = None
        sk_value: Any = None
    elif len(args) == 6:
        table, pk_name, pk_value, sk_name, sk_value, role = args
        if type(sk_name) is not str:
            return U
        sk_value = _key_value(sk_value, _whole_ints(run))
        if sk_value is U:
            return U
    else:
        return U
    if not _strings(table, pk_name, role):
        return U
    pk_value = _key_value(pk_value, _whole_ints(run))
    if pk_value is U:
        return U
    item = invoke_provider(
        run, "get_dynamodb", "get_dynamodb", table, pk_name, pk_value, sk_name, sk_value, role
    )
    if item is None:
        # GetItem answers "no item" successfully, but the rules engine reports a failure
        # (re:Post QUtmrQNjM4SkiP8mWy31_8Ew, AWS-observed; the docs' get_or_default example
        # looks up a nonExistentId and calls it a failed lookup).
        raise ProviderError(
            f"get_dynamodb() failed: no item in table {table} with the key {pk_name}="
            f"{json_text(pk_value)}"
            + ("" if sk_name is None else f", {sk_name}={json_text(sk_value)}")
            + " (AWS: Function getDynamoDB failed to execute for rule; not able to retrieve"
            " the requested item)",
            "get_dynamodb",
        )
    return to_sql_value(run, "get_dynamodb", item)


@function("get_thing_shadow", args=(2, 3), family=FAMILY, since=V2, context=True, pure=False,
          external=True, anchor="iot-sql-function-get-thing-shadow",
          no_variable_args=(-1,),
          signature="get_thing_shadow(thingName[, shadowName], roleArn)")  # fmt: skip
def get_thing_shadow(run: Run, *args: Any) -> Any:
    """Returns the classic or a named shadow document of a thing."""
    if not _strings(*args):
        return U
    if len(args) == 2:
        thing, role = args
        shadow = None
    else:
        thing, shadow, role = args
    return call_provider(run, "get_thing_shadow", "get_thing_shadow", thing, shadow, role)


@function("get_secret", args=(3, 4), family=FAMILY, since=V1, context=True, pure=False,
          external=True, anchor="iot-sql-function-get-secret",
          no_variable_args=(-1,),
          signature="get_secret(secretId, secretType[, key], roleArn)")  # fmt: skip
def get_secret(run: Run, *args: Any) -> Any:
    """Returns a Secrets Manager secret: its SecretString, one key of it, or base64 SecretBinary.

    SecretString without a key is the whole text (even a JSON object's); with a key, the key's
    value in the JSON object. SecretBinary is base64 text and takes no key."""
    if not _strings(*args):
        return U
    if len(args) == 3:
        secret_id, secret_type, role = args
        key = None
    else:
        secret_id, secret_type, key, role = args
    if secret_type not in SECRET_TYPES:
        return U
    return call_provider(run, "get_secret", "get_secret", secret_id, secret_type, key, role)


@function("get_registry_data", args=3, family=FAMILY, since=V2, context=True, pure=False,
          external=True, per_statement_limit=1, literal_args=(0,),
          anchor="iot-sql-function-get-registry_data",
          no_variable_args=(2,),
          signature="get_registry_data(registryAPI, thingName, roleArn)")  # fmt: skip
def get_registry_data(run: Run, api: Any, thing_name: Any, role_arn: Any) -> Any:
    """Returns a thing's DescribeThing or ListThingGroupsForThing response from the registry."""
    if not _strings(api, thing_name, role_arn) or api not in REGISTRY_APIS:
        return U
    return call_provider(run, "get_registry_data", "get_registry_data", api, thing_name, role_arn)


@function("machinelearning_predict", args=3, family=FAMILY, since=V1, context=True, pure=False,
          external=True, anchor="iot-sql-function-machine-learning",
          no_variable_args=(1,),
          signature="machinelearning_predict(modelId, roleArn, record)")  # fmt: skip
def machinelearning_predict(run: Run, model_id: Any, role_arn: Any, record: Any) -> Any:
    """Returns an Amazon ML model's prediction for a record (nested values sent as JSON text).

    The prediction has predictedLabel, predictedValue, predictedScores and details."""
    if not _strings(model_id, role_arn) or type(record) is not dict:
        return U
    flat = flatten_record(record, _whole_ints(run))
    if flat is U:
        return U
    return call_provider(
        run, "machinelearning_predict", "machinelearning_predict", model_id, role_arn, flat
    )
