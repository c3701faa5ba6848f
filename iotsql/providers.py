"""Providers answer the external functions (aws_lambda, get_dynamodb, get_thing_shadow,
get_secret, get_registry_data, machinelearning_predict, protobuf decode) while a rule runs:

    provider = InMemoryProvider()
    provider.put_item("Devices", {"id": "d1", "location": "Oslo"})
    rule = iotsql.compile("SELECT get_dynamodb('Devices', 'id', id, 'arn:...').location AS l "
                          "FROM 't'")
    rule.evaluate(b'{"id": "d1"}', "t", provider=provider)  # -> Output({'l': 'Oslo'})

`InMemoryProvider` holds test data and records every call; `Boto3Provider` (the `aws` extra,
boto3 imported only when one is created) calls AWS or an emulator such as moto.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from iotsql.errors import ProviderError
from iotsql.functions.external import Provider, secret_value
from iotsql.providers_boto3 import Boto3Provider

__all__ = ["Boto3Provider", "InMemoryProvider", "Provider"]

#: A Lambda function, an ML model: a callable taking the input, or a fixed JSON result.
Handler = Callable[[Any], Any] | Any
#: A protobuf decoder for one (bucket, key, proto, message type): the payload bytes to JSON.
ProtobufDecoder = Callable[[bytes], Any]
#: A catch-all protobuf decoder: called like `Provider.decode_protobuf`.
ProtobufFallback = Callable[[bytes, str, str, str, str], Any]
ProtobufKey = tuple[str, str, str, str]

_MISSING = object()


def _function_name(name_or_arn: str) -> str:
    """`arn:aws:lambda:region:account:function:name[:qualifier]` -> name; a name stays."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        if len(parts) >= 7 and parts[5] == "function":
            return parts[6]
    return name_or_arn


def _secret_name(secret_id: str) -> str:
    """A Secrets Manager ARN's secret name, without the 6-character suffix AWS adds."""
    if secret_id.startswith("arn:") and ":secret:" in secret_id:
        name = secret_id.split(":secret:", 1)[1]
        base, dash, suffix = name.rpartition("-")
        return base if dash and len(suffix) == 6 else name
    return secret_id


class InMemoryProvider(Provider):
    """Test data for the external functions, and a record of every call in `calls` as
    `(method, args)` tuples.

    Missing resources fail as AWS fails (ProviderError: the rule fails without running its
    actions). A DynamoDB item that does not exist is returned as None, as GetItem reports it;
    `get_dynamodb` in SQL turns that into the same rule failure, as AWS does.
    Tables, things and lambdas may be given to the constructor or added later.
    """

    def __init__(
        self,
        *,
        lambdas: Mapping[str, Handler] | None = None,
        tables: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
        shadows: Mapping[tuple[str, str | None], Any] | None = None,
        secrets: Mapping[str, str | bytes] | None = None,
        things: Mapping[str, Mapping[str, Any]] | None = None,
        models: Mapping[str, Handler] | None = None,
        protobuf: ProtobufFallback | Mapping[ProtobufKey, ProtobufDecoder] | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.lambdas: dict[str, Handler] = {}
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.key_schemas: dict[str, tuple[str, str | None]] = {}
        self.shadows: dict[tuple[str, str | None], Any] = {}
        self.secrets: dict[str, str | bytes] = {}
        self.things: dict[str, dict[str, Any]] = {}
        self.thing_groups: dict[str, list[str]] = {}
        self.models: dict[str, Handler] = {}
        self.protobuf_decoders: dict[ProtobufKey, ProtobufDecoder] = {}
        self.protobuf_fallback: ProtobufFallback | None = None
        for name, handler in (lambdas or {}).items():
            self.add_lambda(name, handler)
        for table, items in (tables or {}).items():
            self.add_table(table)
            for item in items:
                self.put_item(table, item)
        for (thing, shadow_name), document in (shadows or {}).items():
            self.put_shadow(thing, document, shadow_name)
        for secret_id, value in (secrets or {}).items():
            self.put_secret(secret_id, value)
        for thing, description in (things or {}).items():
            self.put_thing(thing, description=description)
        for model_id, handler in (models or {}).items():
            self.add_model(model_id, handler)
        if callable(protobuf):
            self.protobuf_fallback = protobuf
        elif protobuf is not None:
            for (bucket, key, proto_name, message_type), decoder in protobuf.items():
                self.add_protobuf_decoder(decoder, bucket, key, proto_name, message_type)

    # ---- filling it ---------------------------------------------------------------------------

    def add_lambda(self, name_or_arn: str, handler: Handler) -> None:
        """A Lambda function, found by this ARN or by its function name: `handler(payload)`
        returns the response (an exception is a function error), or `handler` is the fixed
        JSON response."""
        self.lambdas[name_or_arn] = handler

    def add_table(
        self, name: str, partition_key: str | None = None, sort_key: str | None = None
    ) -> None:
        """An empty table; with a key schema, GetItem with other key names fails as DynamoDB's
        ValidationException does."""
        self.tables.setdefault(name, [])
        if partition_key is not None:
            self.key_schemas[name] = (partition_key, sort_key)

    def put_item(self, table: str, item: Mapping[str, Any]) -> None:
        """Add (or, with a key schema, replace) an item, written as plain JSON."""
        items = self.tables.setdefault(table, [])
        stored = copy.deepcopy(dict(item))
        schema = self.key_schemas.get(table)
        if schema is not None:
            keys = [k for k in schema if k is not None]
            missing = [k for k in keys if k not in stored]
            if missing:
                raise ProviderError(f"item for table {table} lacks key attribute(s) {missing}")
            items[:] = [i for i in items if any(i.get(k) != stored[k] for k in keys)]
        items.append(stored)

    def put_shadow(self, thing_name: str, document: Any, shadow_name: str | None = None) -> None:
        """The classic shadow of a thing (or the named shadow `shadow_name`)."""
        self.shadows[(thing_name, shadow_name)] = copy.deepcopy(document)

    def put_secret(self, secret_id: str, value: str | bytes) -> None:
        """A secret: text is its SecretString, bytes its SecretBinary."""
        if not isinstance(value, (str, bytes)):
            raise TypeError("a secret value is a str (SecretString) or bytes (SecretBinary)")
        self.secrets[secret_id] = value

    def put_thing(
        self,
        thing_name: str,
        *,
        attributes: Mapping[str, str] | None = None,
        thing_type: str | None = None,
        groups: Iterable[str] = (),
        description: Mapping[str, Any] | None = None,
    ) -> None:
        """A registry thing: its DescribeThing response is built from the arguments (or is
        `description`, as given), and `groups` are the thing groups it belongs to."""
        if description is not None:
            response = copy.deepcopy(dict(description))
            response.setdefault("thingName", thing_name)
        else:
            arn = f"arn:aws:iot:{self.region}:{self.account_id}:thing/{thing_name}"
            response = {
                "defaultClientId": thing_name,
                "thingName": thing_name,
                "thingId": str(uuid.uuid5(uuid.NAMESPACE_URL, arn)),
                "thingArn": arn,
                "attributes": dict(attributes or {}),
                "version": 1,
            }
            if thing_type is not None:
                response["thingTypeName"] = thing_type
        self.things[thing_name] = response
        self.thing_groups[thing_name] = list(groups)

    def add_model(self, model_id: str, handler: Handler) -> None:
        """An Amazon ML model: `handler(record)` returns the Prediction object, or `handler` is
        the fixed prediction."""
        self.models[model_id] = handler

    def add_protobuf_decoder(
        self,
        decoder: ProtobufDecoder,
        bucket: str,
        key: str,
        proto_name: str,
        message_type: str,
    ) -> None:
        """Decode `decode(data, 'proto', bucket, key, proto_name, message_type)` payloads with
        `decoder(bytes) -> JSON` (stands for the .desc file stored in S3)."""
        self.protobuf_decoders[(bucket, key, proto_name, message_type)] = decoder

    # ---- Provider ---------------------------------------------------------------------------

    def _record(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))

    def aws_lambda(self, function_arn: str, payload: Any) -> Any:
        self._record("aws_lambda", function_arn, payload)
        handler = self.lambdas.get(function_arn, _MISSING)
        if handler is _MISSING:
            wanted = _function_name(function_arn)
            handler = next(
                (h for k, h in self.lambdas.items() if _function_name(k) == wanted), _MISSING
            )
        if handler is _MISSING:
            raise ProviderError(f"Lambda function {function_arn} not found")
        if callable(handler):
            try:
                return handler(copy.deepcopy(payload))
            except Exception as err:
                raise ProviderError(
                    f"Lambda function {function_arn} returned a function error: "
                    f"{type(err).__name__}: {err}"
                ) from err
        return copy.deepcopy(handler)

    def get_dynamodb(
        self,
        table_name: str,
        partition_key_name: str,
        partition_key_value: Any,
        sort_key_name: str | None,
        sort_key_value: Any,
        role_arn: str,
    ) -> Any:
        self._record(
            "get_dynamodb", table_name, partition_key_name, partition_key_value,
            sort_key_name, sort_key_value, role_arn,
        )  # fmt: skip
        items = self.tables.get(table_name)
        if items is None:
            raise ProviderError(f"DynamoDB table {table_name} not found")
        schema = self.key_schemas.get(table_name)
        if schema is not None and schema != (partition_key_name, sort_key_name):
            raise ProviderError(
                f"the provided key element does not match the schema of table {table_name}"
            )
        key = [(partition_key_name, partition_key_value)]
        if sort_key_name is not None:
            key.append((sort_key_name, sort_key_value))
        for item in items:
            if all(_same_key(item.get(name, _MISSING), value) for name, value in key):
                return copy.deepcopy(item)
        return None

    def get_thing_shadow(self, thing_name: str, shadow_name: str | None, role_arn: str) -> Any:
        self._record("get_thing_shadow", thing_name, shadow_name, role_arn)
        document = self.shadows.get((thing_name, shadow_name), _MISSING)
        if document is _MISSING:
            which = "classic shadow" if shadow_name is None else f"shadow {shadow_name!r}"
            raise ProviderError(f"no {which} for thing {thing_name}")
        return copy.deepcopy(document)

    def get_secret(self, secret_id: str, secret_type: str, key: str | None, role_arn: str) -> Any:
        self._record("get_secret", secret_id, secret_type, key, role_arn)
        value = self.secrets.get(secret_id)
        if value is None:
            value = self.secrets.get(_secret_name(secret_id))
        if value is None:
            raise ProviderError(f"Secrets Manager can't find the secret {secret_id}")
        if isinstance(value, bytes):
            return secret_value(secret_id, secret_type, key, None, value)
        return secret_value(secret_id, secret_type, key, value, None)

    def get_registry_data(self, api: str, thing_name: str, role_arn: str) -> Any:
        self._record("get_registry_data", api, thing_name, role_arn)
        description = self.things.get(thing_name)
        if description is None:
            raise ProviderError(f"thing {thing_name} not found in the registry")
        if api == "DescribeThing":
            return copy.deepcopy(description)
        if api == "ListThingGroupsForThing":
            prefix = f"arn:aws:iot:{self.region}:{self.account_id}:thinggroup/"
            groups = self.thing_groups.get(thing_name, [])
            return {"thingGroups": [{"groupName": g, "groupArn": prefix + g} for g in groups]}
        raise ProviderError(f"unknown registry API {api}")

    def machinelearning_predict(self, model_id: str, role_arn: str, record: dict[str, Any]) -> Any:
        self._record("machinelearning_predict", model_id, role_arn, record)
        handler = self.models.get(model_id, _MISSING)
        if handler is _MISSING:
            raise ProviderError(f"Amazon ML model {model_id} not found")
        if callable(handler):
            return handler(copy.deepcopy(record))
        return copy.deepcopy(handler)

    def decode_protobuf(
        self, data: bytes, bucket: str, key: str, proto_name: str, message_type: str
    ) -> Any:
        self._record("decode_protobuf", data, bucket, key, proto_name, message_type)
        decoder = self.protobuf_decoders.get((bucket, key, proto_name, message_type))
        if decoder is not None:
            return decoder(data)
        if self.protobuf_fallback is not None:
            return self.protobuf_fallback(data, bucket, key, proto_name, message_type)
        raise ProviderError(
            f"no protobuf descriptor s3://{bucket}/{key} for {proto_name}.{message_type}"
        )


def _same_key(stored: Any, wanted: Any) -> bool:
    """DynamoDB key equality: same type family (S or N) and same value."""
    if stored is _MISSING or isinstance(stored, bool) or isinstance(wanted, bool):
        return False
    if isinstance(stored, str) or isinstance(wanted, str):
        return isinstance(stored, str) and isinstance(wanted, str) and stored == wanted
    return bool(stored == wanted)
