"""`Boto3Sink`: the sink that really performs AWS-service rule actions, through boto3, against
AWS or any endpoint URL (moto's server, LocalStack...).

A sink executes the downstream call the action's renderer put in `ActionRequest.request`:
`{"service": <boto3 client name>, "operation": <API operation, CamelCase>, "arguments":
{<boto3 parameters>}}`, e.g. `{"service": "sqs", "operation": "SendMessage", "arguments":
{"QueueUrl": q, "MessageBody": text}}`. It returns the service's response and raises
`AwsActionError` (an `iotsql.errors.ActionError`) on any failure, with a message in the style
of the `errorMessage` AWS IoT writes into error-action messages.

boto3 is the optional `aws` extra: it is imported when a Boto3Sink is created, never when this
module is imported.

Choices where AWS IoT's behaviour is not documented:

- CloudWatch Logs: the action's role needs `logs:CreateLogStream`, `logs:DescribeLogStreams`
  and `logs:PutLogEvents` (cloudwatch-logs-rule-action), i.e. AWS IoT creates the log stream
  it writes to. The sink puts the events first; when CloudWatch Logs answers
  `ResourceNotFoundException` it creates the log stream (an existing one is fine) and puts the
  events once more. A missing log group still fails.
- Partial failures that the services report inside a successful response (Firehose
  `FailedPutCount`, IoT SiteWise/IoT Events/IoT Analytics error entries, Location `Errors`,
  CloudWatch Logs rejected events) and a Lambda `FunctionError` raise as well.
- Streaming response bodies (Lambda's `Payload`) are read into bytes.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from iotsql.actions.base import ActionRequest, Sink
from iotsql.errors import ActionError

__all__ = ["AWS_ACTION_KEYS", "AwsActionError", "Boto3Sink", "aws_sinks"]

#: The rule actions that call an AWS service API (the keys of `Action` in CreateTopicRule).
AWS_ACTION_KEYS: Final[tuple[str, ...]] = (
    "sqs",
    "sns",
    "kinesis",
    "firehose",
    "dynamoDB",
    "dynamoDBv2",
    "s3",
    "lambda",
    "cloudwatchLogs",
    "cloudwatchMetric",
    "cloudwatchAlarm",
    "stepFunctions",
    "timestream",
    "iotAnalytics",
    "iotEvents",
    "iotSiteWise",
    "location",
)

_INSTALL_HINT: Final = "Boto3Sink needs boto3: pip install 'iotsql[aws]'"

#: What AWS IoT says before the service's own error text, where the docs show it.
_PREFIXES: Final[Mapping[tuple[str, str], str]] = {
    ("s3", "PutObject"): "Failed to put S3 object. The error received was ",
    ("lambda", "Invoke"): "Failed to invoke lambda function. The error received was ",
}

#: Response keys that list the entries a batch call rejected, by service.
_ERROR_ENTRIES: Final[Mapping[str, str]] = {
    "iotsitewise": "errorEntries",
    "iotevents-data": "BatchPutMessageErrorEntries",
    "iotanalytics": "batchPutMessageErrorEntries",
    "location": "Errors",
}


#: Services whose actions AWS IoT still takes but whose clients boto3 removed when AWS retired
#: them (boto/botocore#3630: IoT Analytics; boto/botocore#3738: IoT Events and IoT Events Data).
RETIRED_SERVICES: Final[Mapping[str, str]] = {
    "iotanalytics": "AWS IoT Analytics",
    "iotevents-data": "AWS IoT Events",
}


def _unknown_service(service: str, botocore: Any) -> str:
    """Why a boto3 client of `service` cannot be made, without botocore's list of services."""
    version = getattr(botocore, "__version__", "?")
    retired = RETIRED_SERVICES.get(service)
    if retired is not None:
        return (
            f"botocore {version} has no {service!r} client: AWS retired {retired} and boto3 "
            f"removed its client, so this action cannot be delivered"
        )
    return f"botocore {version} has no {service!r} client (a newer boto3 may have it)"


class AwsActionError(ActionError):
    """An AWS-service action failed. `code` is the service's error code (`NoSuchBucket`,
    `AWS.SimpleQueueService.NonExistentQueue`...) or the botocore exception name for a failure
    that never reached the service; `status` the HTTP status when there was a response."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        operation: str,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.service = service
        self.operation = operation
        self.code = code
        self.status = status
        self.request_id = request_id
        super().__init__(message)


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err


class Boto3Sink:
    """Executes `request["operation"]` of `request["service"]` with `request["arguments"]`.

    `session`: a boto3 Session (default: a new one, configured by the environment);
    `endpoint_url`: one endpoint for every service (an emulator); `region_name`: the region of
    the clients (default: the session's, else us-east-1); `client_factory`: called like
    `boto3.client(service, region_name=..., endpoint_url=..., config=...)` to make each
    client instead of the session (e.g. to hand out clients wrapped in botocore's Stubber);
    `config`: a `botocore.config.Config` merged over the sink's defaults (standard retry mode
    with 3 attempts, 5 s connect and 10 s read timeouts).

    One client per service is created on first use and reused; creation is serialised with a
    lock (boto3 clients are thread-safe, creating them from one session is not), so one sink
    can serve every action of a dispatcher running on many threads.
    """

    def __init__(
        self,
        session: Any = None,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        client_factory: Callable[..., Any] | None = None,
        config: Any = None,
    ) -> None:
        botocore_config = _import("botocore.config")
        self._botocore: Any = _import("botocore")
        self._exceptions: Any = _import("botocore.exceptions")
        if session is None and client_factory is None:
            session = _import("boto3").session.Session()
        self.session: Any = session
        self.endpoint_url = endpoint_url
        session_region = getattr(session, "region_name", None) if session is not None else None
        self.region_name: str = region_name or session_region or "us-east-1"
        self.client_factory = client_factory
        defaults = botocore_config.Config(
            user_agent_extra="iotsql",
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=10,
        )
        self.config: Any = defaults.merge(config) if config is not None else defaults
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_emulator(
        cls,
        endpoint_url: str | None,
        *,
        region_name: str,
        access_key_id: str = "iotsql",
        secret_access_key: str = "iotsql",
        headers: Mapping[str, str] | None = None,
        config: Any = None,
    ) -> Boto3Sink:
        """A sink that delivers into an emulator's own services, never to AWS: at
        `endpoint_url`, or, with None, to whatever intercepts boto3 in this process (moto's
        `mock_aws`); endpoints configured in the environment (`AWS_ENDPOINT_URL`...) are
        ignored. It signs with the given credentials, not the environment's (an emulator's
        process often has none; some emulators tell accounts apart by the access key),
        adds `headers` to every request (moto's `x-moto-account-id`), and does not verify the
        TLS certificate of an https endpoint (emulators' are self-signed)."""
        boto3 = _import("boto3")
        botocore_config = _import("botocore.config")
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region_name,
        )
        verify = not (endpoint_url or "").lower().startswith("https://")
        extra = dict(headers or {})

        def add_headers(request: Any, **_: Any) -> None:
            for name, value in extra.items():
                request.headers[name] = value

        def client(service: str, **options: Any) -> Any:
            made = session.client(service, verify=verify, **options)
            if extra:
                made.meta.events.register("before-sign", add_headers)
            return made

        isolated = botocore_config.Config(ignore_configured_endpoint_urls=True)
        return cls(
            endpoint_url=endpoint_url,
            region_name=region_name,
            client_factory=client,
            config=isolated.merge(config) if config is not None else isolated,
        )

    # ---- clients ------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """The cached boto3 client of `service` (created on first use)."""
        client = self._clients.get(service)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                options: dict[str, Any] = {"region_name": self.region_name, "config": self.config}
                if self.endpoint_url is not None:
                    options["endpoint_url"] = self.endpoint_url
                if self.client_factory is not None:
                    client = self.client_factory(service, **options)
                else:
                    client = self.session.client(service, **options)
                self._clients[service] = client
            return client

    # ---- the call -----------------------------------------------------------------------------

    def __call__(self, request: ActionRequest) -> dict[str, Any]:
        call = request.request
        service = call.get("service")
        operation = call.get("operation")
        if not isinstance(service, str) or not isinstance(operation, str):
            raise ActionError(
                f"{request.action_type}: the request names no AWS service and operation: "
                f"{dict(call)!r}"
            )
        arguments = call.get("arguments")
        if arguments is None:
            extra = sorted(set(call) - {"service", "operation"})
            if extra:
                raise ActionError(
                    f"{request.action_type}: the boto3 parameters of {service} {operation} "
                    f"belong under 'arguments', not at the top of the request: {extra}"
                )
            arguments = {}
        if not isinstance(arguments, Mapping):
            raise ActionError(f"{request.action_type}: 'arguments' must be a mapping")
        return self.execute(service, operation, arguments, request)

    def execute(
        self,
        service: str,
        operation: str,
        arguments: Mapping[str, Any],
        request: ActionRequest | None = None,
    ) -> dict[str, Any]:
        """Call `operation` of `service`; the response as a dict, or AwsActionError."""
        try:
            try:
                response = self._invoke(service, operation, arguments)
            except self._exceptions.ClientError as err:
                if not self._missing_log_stream(service, operation, err):
                    raise
                self._create_log_stream(arguments)
                response = self._invoke(service, operation, arguments)
        except AwsActionError:
            raise
        except (self._exceptions.ClientError, self._exceptions.BotoCoreError) as err:
            raise self._error(service, operation, arguments, request, err) from err
        self._check_partial_failure(service, operation, arguments, request, response)
        return response

    def _invoke(self, service: str, operation: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        client = self.client(service)
        method_name = self._botocore.xform_name(operation)
        method = getattr(client, method_name, None)
        if method is None or not callable(method):
            raise AwsActionError(
                f"{self._service_name(client, service)} has no operation {operation}",
                service=service,
                operation=operation,
                code="UnknownOperation",
            )
        response = method(**dict(arguments))
        return _read_streams(response)

    # ---- CloudWatch Logs ----------------------------------------------------------------------

    @staticmethod
    def _missing_log_stream(service: str, operation: str, err: Any) -> bool:
        if service != "logs" or operation != "PutLogEvents":
            return False
        return _error_code(err) == "ResourceNotFoundException"

    def _create_log_stream(self, arguments: Mapping[str, Any]) -> None:
        """Create the log stream PutLogEvents named (AWS IoT's role may CreateLogStream)."""
        try:
            self._invoke(
                "logs",
                "CreateLogStream",
                {
                    "logGroupName": arguments.get("logGroupName"),
                    "logStreamName": arguments.get("logStreamName"),
                },
            )
        except self._exceptions.ClientError as err:
            if _error_code(err) != "ResourceAlreadyExistsException":
                raise

    # ---- errors -------------------------------------------------------------------------------

    def _service_name(self, client: Any, service: str) -> str:
        try:
            metadata = client.meta.service_model.metadata
        except AttributeError:
            return service
        name = metadata.get("serviceAbbreviation") or metadata.get("serviceId") or service
        return str(name)

    def _display_name(self, service: str) -> str:
        client = self._clients.get(service)
        return service if client is None else self._service_name(client, service)

    def _error(
        self,
        service: str,
        operation: str,
        arguments: Mapping[str, Any],
        request: ActionRequest | None,
        err: Exception,
    ) -> AwsActionError:
        prefix = _PREFIXES.get(
            (service, operation), f"Failed to call {operation}. The error received was "
        )
        name = self._display_name(service)
        response = getattr(err, "response", None)
        if isinstance(response, Mapping) and isinstance(err, self._exceptions.ClientError):
            error = response.get("Error") or {}
            metadata = response.get("ResponseMetadata") or {}
            code = str(error.get("Code") or "Unknown")
            text = str(error.get("Message") or type(err).__name__)
            raw_status = metadata.get("HTTPStatusCode")
            status = raw_status if isinstance(raw_status, int) else None
            request_id = metadata.get("RequestId") or None
            detail = f"Service: {name}; Status Code: {status}; Error Code: {code}"
            if request_id:
                detail += f"; Request ID: {request_id}"
            message = f"{prefix}{text} ({detail})"
        else:
            code = type(err).__name__
            status = None
            request_id = None
            transport = (self._exceptions.ConnectionError, self._exceptions.HTTPClientError)
            if isinstance(err, transport):
                message = f"{prefix}Unable to execute HTTP request: {err} (Service: {name})"
            elif isinstance(err, self._exceptions.UnknownServiceError):
                # botocore's own message lists every service it knows (over 6 KB in a dead
                # letter); what the user needs is which client is missing, and why it may be.
                message = f"{prefix}{_unknown_service(service, self._botocore)} (Service: {name})"
            else:
                message = f"{prefix}{err} (Service: {name}; Error Code: {code})"
        message += _arrival(service, operation, arguments, request)
        return AwsActionError(
            message,
            service=service,
            operation=operation,
            code=code,
            status=status,
            request_id=request_id,
        )

    def _check_partial_failure(
        self,
        service: str,
        operation: str,
        arguments: Mapping[str, Any],
        request: ActionRequest | None,
        response: Mapping[str, Any],
    ) -> None:
        code: str | None = None
        text = ""
        if service == "lambda" and response.get("FunctionError"):
            code = str(response["FunctionError"])
            payload = response.get("Payload") or b""
            shown = payload[:512] if isinstance(payload, (bytes, bytearray)) else payload
            text = f"the function returned an error: {shown!r}"
        elif service == "firehose" and int(response.get("FailedPutCount") or 0) > 0:
            entries = [
                e for e in response.get("RequestResponses") or () if e.get("ErrorCode") is not None
            ]
            first = entries[0] if entries else {}
            code = str(first.get("ErrorCode") or "FailedPut")
            text = (
                f"{response['FailedPutCount']} record(s) failed: "
                f"{first.get('ErrorMessage') or code}"
            )
        elif service == "logs" and response.get("rejectedLogEventsInfo"):
            code = "RejectedLogEvents"
            text = f"log events were rejected: {response['rejectedLogEventsInfo']}"
        elif service in _ERROR_ENTRIES and response.get(_ERROR_ENTRIES[service]):
            entries = response[_ERROR_ENTRIES[service]]
            first = entries[0] if isinstance(entries, list) and entries else {}
            found = _first_error(first)
            code = found[0] or "BatchEntryFailed"
            text = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} failed: {found[1]}"
        if code is None:
            return
        prefix = _PREFIXES.get(
            (service, operation), f"Failed to call {operation}. The error received was "
        )
        message = f"{prefix}{text} (Service: {self._display_name(service)}; Error Code: {code})"
        message += _arrival(service, operation, arguments, request)
        raise AwsActionError(message, service=service, operation=operation, code=code)


def _first_error(entry: Any) -> tuple[str | None, str]:
    """The code and message of a batch error entry, whatever the service calls them."""
    if not isinstance(entry, Mapping):
        return None, str(entry)
    nested = entry.get("errors") or entry.get("Error")
    if isinstance(nested, list) and nested:
        return _first_error(nested[0])
    if isinstance(nested, Mapping):
        entry = {**entry, **nested}
    code = entry.get("errorCode") or entry.get("ErrorCode") or entry.get("Code")
    text = entry.get("errorMessage") or entry.get("ErrorMessage") or entry.get("Message")
    return (str(code) if code else None), str(text or entry)


def _arrival(
    service: str, operation: str, arguments: Mapping[str, Any], request: ActionRequest | None
) -> str:
    """The `. Message arrived on: ...` tail AWS IoT appends to an action's error message."""
    if request is None:
        return ""
    tail = f". Message arrived on: {request.topic}, Action: {request.action_type}"
    if service == "s3" and operation == "PutObject":
        tail += f', Bucket: {arguments.get("Bucket")}, Key: "{arguments.get("Key")}"'
    return tail


def _error_code(err: Any) -> str | None:
    response = getattr(err, "response", None)
    if isinstance(response, Mapping):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code else None
    return None


def _read_streams(response: Any) -> dict[str, Any]:
    """The response as a dict, with streaming bodies (Lambda's Payload) read into bytes."""
    result: dict[str, Any] = dict(response) if isinstance(response, Mapping) else {}
    for key, value in result.items():
        read = getattr(value, "read", None)
        if callable(read) and not isinstance(value, (bytes, bytearray, str)):
            result[key] = read()
    return result


def aws_sinks(
    session: Any = None, endpoint_url: str | None = None, region_name: str | None = None
) -> dict[str, Sink]:
    """One shared Boto3Sink for every AWS-service action (`sqs`, `dynamoDBv2`, `s3`...).

    Not for `http`, `kafka`, `republish`, `elasticsearch`, `openSearch` and `salesforce`,
    which do not call an AWS API through boto3.
    """
    sink = Boto3Sink(session, endpoint_url=endpoint_url, region_name=region_name)
    return dict.fromkeys(AWS_ACTION_KEYS, sink)
