"""`Boto3Provider`: the external functions answered by real AWS calls through boto3 (or by an
emulator such as moto, with `endpoint_url`). boto3 is the optional `aws` extra: it is imported
when a Boto3Provider is created, never when iotsql is imported.

| SQL function            | AWS call                                                     |
| ----------------------- | ------------------------------------------------------------ |
| aws_lambda              | lambda Invoke (RequestResponse, JSON payload)                |
| get_dynamodb            | dynamodb GetItem, attribute values unmarshalled              |
| get_thing_shadow        | iot-data GetThingShadow                                      |
| get_secret              | secretsmanager GetSecretValue                                |
| get_registry_data       | iot DescribeThing / ListThingGroupsForThing                  |
| machinelearning_predict | machinelearning GetMLModel (for the endpoint), then Predict  |
| decode(..., 'proto')    | s3 GetObject of the .desc file, decoded with `protobuf`      |

By default every call uses the session's credentials. With `assume_role=True` the provider
assumes each call's roleArn with STS first, as the rules engine does, so that a role missing a
permission fails here as it would on AWS.
"""

from __future__ import annotations

import base64
import importlib
import json
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from iotsql.errors import ProviderError
from iotsql.functions.external import REGISTRY_APIS, Provider, secret_value
from iotsql.values import to_exact, to_string

#: The largest protobuf descriptor file AWS IoT reads from S3 (binary-payloads page).
MAX_DESCRIPTOR_BYTES: Final = 32 * 1024
#: Refresh an assumed role's credentials this long before they expire (seconds).
_CREDENTIAL_MARGIN: Final = 300.0


def _client_error_text(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error", {})
        code = error.get("Code", "")
        message = error.get("Message", "")
        if code:
            return f"{code}: {message}" if message else str(code)
    return f"{type(err).__name__}: {err}"


def _plain_number(value: Decimal) -> int | float:
    """A DynamoDB number: an int when it is whole, else the nearest double."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _plain(value: Any) -> Any:
    """A deserialised DynamoDB value as plain JSON: numbers int/float, sets lists, binary
    base64 text (as DynamoDB JSON writes it)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return _plain_number(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raw = getattr(value, "value", None)  # boto3.dynamodb.types.Binary
    if isinstance(raw, (bytes, bytearray)):
        return base64.b64encode(bytes(raw)).decode("ascii")
    raise ProviderError(f"unsupported DynamoDB value {type(value).__name__}")


def _key_attribute(value: Any) -> dict[str, str]:
    """A key value from SQL as a DynamoDB attribute value: a String is S, a number N."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = to_exact(value)
        return {"N": format(number.normalize() if number != 0 else Decimal(0), "f")}
    raise ProviderError(f"a DynamoDB key value must be a String or a number, not {value!r}")


def _record_attribute(value: Any) -> str | None:
    """An Amazon ML record value: Predict takes strings only; Null leaves the variable out."""
    if value is None:
        return None
    text = to_string(value)
    return text if isinstance(text, str) else json.dumps(value)


def _read_json(body: Any, what: str) -> Any:
    raw = body.read() if hasattr(body, "read") else body
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not raw:
        raise ProviderError(f"{what} returned an empty response, not JSON")
    try:
        return json.loads(raw)
    except ValueError as err:
        raise ProviderError(f"{what} did not return JSON: {raw[:200]!r}") from err


class Boto3Provider(Provider):
    """The external functions on AWS (or an emulator).

    `session`: a boto3 Session (default: a new one, configured by the environment);
    `endpoint_url`: one endpoint for every service (moto's server, LocalStack...);
    `region_name`: the region of the calls (default: the session's, else us-east-1);
    `clients`: ready clients by service name (`{"lambda": client}`), used as they are, e.g.
    with botocore's Stubber; `assume_role`: assume each call's roleArn with STS;
    `cache_seconds`: keep secrets and protobuf descriptors that long (AWS caches both for up
    to 15 minutes; the default 0 reads them on every call).
    """

    def __init__(
        self,
        session: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        clients: Mapping[str, Any] | None = None,
        *,
        assume_role: bool = False,
        cache_seconds: float = 0.0,
    ) -> None:
        try:
            boto3 = importlib.import_module("boto3")
        except ImportError as err:
            raise ProviderError("Boto3Provider needs boto3: pip install 'iotsql[aws]'") from err
        self.session = session if session is not None else boto3.session.Session()
        self.endpoint_url = endpoint_url
        self.region_name: str = region_name or self.session.region_name or "us-east-1"
        self.assume_role = assume_role
        self.cache_seconds = cache_seconds
        self._given: dict[str, Any] = dict(clients or {})
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._role_sessions: dict[str, tuple[Any, float]] = {}
        self._cache: dict[tuple[Any, ...], tuple[Any, float]] = {}
        self._models: dict[str, str] = {}
        self._data_endpoint: str | None = None
        self._lock = threading.RLock()

    # ---- clients ------------------------------------------------------------------------------

    def client(self, service: str, role_arn: str | None = None, region: str | None = None) -> Any:
        """The boto3 client for `service` (one per service, region and assumed role)."""
        given = self._given.get(service)
        if given is not None:
            return given
        region = region or self.region_name
        role = role_arn if self.assume_role else None
        key = (service, region, role)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                session = self.session if role is None else self._role_session(role)
                options: dict[str, Any] = {"region_name": region}
                endpoint = self._endpoint_for(service, role_arn)
                if endpoint is not None:
                    options["endpoint_url"] = endpoint
                client = session.client(service, **options)
                self._clients[key] = client
            return client

    def _endpoint_for(self, service: str, role_arn: str | None) -> str | None:
        if self.endpoint_url is not None:
            return self.endpoint_url
        if service == "iot-data":
            return self._iot_data_endpoint(role_arn)
        return None

    def _iot_data_endpoint(self, role_arn: str | None) -> str:
        """The account's device data endpoint (iot-data needs it; DescribeEndpoint gives it)."""
        if self._data_endpoint is None:
            response = self._call("iot", "describe_endpoint", role_arn, endpointType="iot:Data-ATS")
            self._data_endpoint = f"https://{response['endpointAddress']}"
        return self._data_endpoint

    def _role_session(self, role_arn: str) -> Any:
        cached = self._role_sessions.get(role_arn)
        if cached is not None and cached[1] - _CREDENTIAL_MARGIN > time.time():
            return cached[0]
        response = self._call(
            "sts", "assume_role", None, RoleArn=role_arn, RoleSessionName="iotsql-rules-engine"
        )
        credentials = response["Credentials"]
        boto3 = importlib.import_module("boto3")
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=self.region_name,
        )
        expiration = credentials.get("Expiration")
        expires = expiration.timestamp() if hasattr(expiration, "timestamp") else time.time() + 900
        self._role_sessions[role_arn] = (session, expires)
        return session

    def _call(
        self, service: str, operation: str, role_arn: str | None, region: str | None = None,
        **params: Any,
    ) -> Any:  # fmt: skip
        """One API call; a botocore failure becomes a ProviderError naming the call."""
        client = self.client(service, role_arn, region)
        try:
            return getattr(client, operation)(**params)
        except ProviderError:
            raise
        except Exception as err:
            name = "".join(part.capitalize() for part in operation.split("_"))
            raise ProviderError(f"{service} {name} failed: {_client_error_text(err)}") from err

    def _cached(self, key: tuple[Any, ...]) -> Any:
        entry = self._cache.get(key)
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        return None

    def _remember(self, key: tuple[Any, ...], value: Any) -> None:
        if self.cache_seconds > 0:
            self._cache[key] = (value, time.monotonic() + self.cache_seconds)

    # ---- Provider -----------------------------------------------------------------------------

    def aws_lambda(self, function_arn: str, payload: Any) -> Any:
        region = None
        parts = function_arn.split(":")
        if function_arn.startswith("arn:") and len(parts) >= 7 and parts[3]:
            region = parts[3]  # a function in another region is invoked there
        response = self._call(
            "lambda", "invoke", None, region,
            FunctionName=function_arn,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload, separators=(",", ":")).encode("utf-8"),
        )  # fmt: skip
        body = response.get("Payload")
        if response.get("FunctionError"):
            detail = body.read()[:500] if body is not None else b""
            raise ProviderError(
                f"Lambda function {function_arn} returned a function error "
                f"({response['FunctionError']}): {detail.decode('utf-8', 'replace')}"
            )
        return _read_json(body, f"Lambda function {function_arn}")

    def get_dynamodb(
        self,
        table_name: str,
        partition_key_name: str,
        partition_key_value: Any,
        sort_key_name: str | None,
        sort_key_value: Any,
        role_arn: str,
    ) -> Any:
        key = {partition_key_name: _key_attribute(partition_key_value)}
        if sort_key_name is not None:
            key[sort_key_name] = _key_attribute(sort_key_value)
        response = self._call("dynamodb", "get_item", role_arn, TableName=table_name, Key=key)
        item = response.get("Item")
        if item is None:
            return None
        types = importlib.import_module("boto3.dynamodb.types")
        deserializer = _OrderedDeserializer(types.TypeDeserializer())
        return {name: _plain(deserializer.deserialize(value)) for name, value in item.items()}

    def get_thing_shadow(self, thing_name: str, shadow_name: str | None, role_arn: str) -> Any:
        params: dict[str, Any] = {"thingName": thing_name}
        if shadow_name is not None:
            params["shadowName"] = shadow_name
        response = self._call("iot-data", "get_thing_shadow", role_arn, **params)
        return _read_json(response["payload"], f"the shadow of {thing_name}")

    def get_secret(self, secret_id: str, secret_type: str, key: str | None, role_arn: str) -> Any:
        cache_key = ("secret", secret_id, role_arn)
        response = self._cached(cache_key)
        if response is None:
            response = self._call(
                "secretsmanager", "get_secret_value", role_arn, SecretId=secret_id
            )
            self._remember(cache_key, response)
        return secret_value(
            secret_id, secret_type, key, response.get("SecretString"), response.get("SecretBinary")
        )

    def get_registry_data(self, api: str, thing_name: str, role_arn: str) -> Any:
        if api not in REGISTRY_APIS:
            raise ProviderError(f"unknown registry API {api}")
        if api == "DescribeThing":
            response = self._call("iot", "describe_thing", role_arn, thingName=thing_name)
            return {k: v for k, v in response.items() if k != "ResponseMetadata"}
        groups: list[Any] = []
        params: dict[str, Any] = {"thingName": thing_name}
        while True:
            page = self._call("iot", "list_thing_groups_for_thing", role_arn, **params)
            groups.extend(page.get("thingGroups", []))
            token = page.get("nextToken")
            if not token:
                return {"thingGroups": groups}
            params["nextToken"] = token

    def machinelearning_predict(self, model_id: str, role_arn: str, record: dict[str, Any]) -> Any:
        endpoint = self._models.get(model_id)
        if endpoint is None:
            model = self._call("machinelearning", "get_ml_model", role_arn, MLModelId=model_id)
            info = model.get("EndpointInfo") or {}
            if info.get("EndpointStatus") != "READY" or not info.get("EndpointUrl"):
                raise ProviderError(
                    f"Amazon ML model {model_id} has no real-time endpoint ready "
                    f"(status {info.get('EndpointStatus', 'NONE')})"
                )
            endpoint = str(info["EndpointUrl"])
            self._models[model_id] = endpoint
        strings = {k: text for k, v in record.items() if (text := _record_attribute(v)) is not None}
        response = self._call(
            "machinelearning", "predict", role_arn,
            MLModelId=model_id, Record=strings, PredictEndpoint=endpoint,
        )  # fmt: skip
        return response["Prediction"]

    def decode_protobuf(
        self, data: bytes, bucket: str, key: str, proto_name: str, message_type: str
    ) -> Any:
        message_class = self._message_class(bucket, key, proto_name, message_type)
        json_format = importlib.import_module("google.protobuf.json_format")
        try:
            message = message_class.FromString(bytes(data))
        except Exception as err:
            raise ProviderError(
                f"the payload is not a valid {proto_name}.{message_type} message: {err}"
            ) from err
        # Java's JsonFormat defaults (the rules engine runs on the JVM): lowerCamelCase names,
        # 64-bit integers as strings, enums by name, fields at their default value left out.
        return json_format.MessageToDict(message)

    def _message_class(self, bucket: str, key: str, proto_name: str, message_type: str) -> Any:
        cache_key = ("proto", bucket, key, proto_name, message_type)
        cached = self._cached(cache_key)
        if cached is not None:
            return cached
        raw = self._descriptor_file(bucket, key)
        try:
            importlib.import_module("google.protobuf.json_format")
        except ImportError as err:
            raise ProviderError(
                "decode(..., 'proto', ...) with Boto3Provider needs the optional protobuf "
                "package (pip install protobuf), which iotsql does not install"
            ) from err
        message_class = _load_message_class(raw, bucket, key, proto_name, message_type)
        self._remember(cache_key, message_class)
        return message_class

    def _descriptor_file(self, bucket: str, key: str) -> bytes:
        """The .desc file from S3, refused over the 32 KiB AWS IoT accepts."""
        response = self._call("s3", "get_object", None, Bucket=bucket, Key=key)
        size = response.get("ContentLength")
        too_big = isinstance(size, int) and size > MAX_DESCRIPTOR_BYTES
        raw = b"" if too_big else response["Body"].read(MAX_DESCRIPTOR_BYTES + 1)
        if too_big or len(raw) > MAX_DESCRIPTOR_BYTES:
            response["Body"].close()
            raise ProviderError(
                f"s3://{bucket}/{key} is over {MAX_DESCRIPTOR_BYTES} bytes, the limit of a "
                "protobuf descriptor file"
            )
        return bytes(raw)


class _OrderedDeserializer:
    """boto3's TypeDeserializer, except that sets (SS, NS, BS) keep DynamoDB's order as lists
    instead of becoming Python sets."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def deserialize(self, value: Mapping[str, Any]) -> Any:
        if len(value) == 1:
            ((tag, content),) = value.items()
            if tag in ("SS", "NS", "BS"):
                return [self.deserialize({tag[0]: item}) for item in content]
            if tag == "L":
                return [self.deserialize(item) for item in content]
            if tag == "M":
                return {name: self.deserialize(item) for name, item in content.items()}
        return self._inner.deserialize(value)


def _load_message_class(
    raw: bytes, bucket: str, key: str, proto_name: str, message_type: str
) -> Any:
    """The message class `message_type` of the file `proto_name`.proto in a FileDescriptorSet
    (`protoc --descriptor_set_out=... --include_imports`)."""
    descriptor_pb2 = importlib.import_module("google.protobuf.descriptor_pb2")
    descriptor_pool = importlib.import_module("google.protobuf.descriptor_pool")
    message_factory = importlib.import_module("google.protobuf.message_factory")
    where = f"s3://{bucket}/{key}"
    try:
        files = descriptor_pb2.FileDescriptorSet.FromString(raw)
        pool = descriptor_pool.DescriptorPool()
        for file_proto in files.file:
            pool.Add(file_proto)
    except Exception as err:
        raise ProviderError(f"{where} is not a protobuf FileDescriptorSet: {err}") from err
    wanted = {proto_name, f"{proto_name}.proto"}
    file_proto = next(
        (f for f in files.file if f.name in wanted or f.name.rsplit("/", 1)[-1] in wanted), None
    )
    if file_proto is None:
        names = ", ".join(f.name for f in files.file)
        raise ProviderError(f"{where} has no file {proto_name}.proto (it has {names})")
    candidates = [message_type]
    if file_proto.package and not message_type.startswith(file_proto.package + "."):
        candidates.insert(0, f"{file_proto.package}.{message_type}")
    for full_name in candidates:
        try:
            descriptor = pool.FindMessageTypeByName(full_name)
        except KeyError:
            continue
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(descriptor)
        return message_factory.MessageFactory(pool).GetPrototype(descriptor)
    raise ProviderError(f"{where}: {proto_name}.proto defines no message type {message_type}")
