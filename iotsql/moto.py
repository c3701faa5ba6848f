"""iotsql as moto's rules engine: after `install()`, every moto IoT backend in the process runs its
topic rules on each `iot-data` publish, in `mock_aws` and in moto's server, and the actions land in
moto's own services.

    from moto import mock_aws
    import iotsql.moto

    with mock_aws(), iotsql.moto.install():
        ...  # iot.create_topic_rule, iot-data.publish, sqs.receive_message, as against AWS

Supported moto: `SUPPORTED_MOTO` (tested with the versions in `TESTED_MOTO`). `install()` refuses
any other version with an error naming the range, then checks that every internal listed below
is still there, so that an upstream change fails loudly instead of silently.

The moto internals this module touches (nowhere else in iotsql does):

- `moto.__version__`.
- `moto.iot.models`: `iot_backends[account][region]`, an `IoTBackend` whose `rules` maps a rule
  name to a `FakeRule` (`sql`, `aws_iot_sql_version`, `rule_disabled`, `description`, `actions`,
  `error_action`). Wrapped while installed: `IoTBackend.create_topic_rule(rule_name, sql,
  **kwargs)`, `replace_topic_rule(rule_name, **kwargs)` (moto deletes, then creates),
  `delete_topic_rule`, `enable_topic_rule`, `disable_topic_rule`, and `reset` (inherited from
  `BaseBackend.reset`, which empties the backend's `__dict__`: the engine lives there, so a
  `mock_aws` reset drops it).
- `moto.iot.responses.IoTResponse`: wrapped `setup_class(request, full_url, ...)`: a body that
  is not UTF-8, and a CreateTopicRule/ReplaceTopicRule body (`POST`/`PATCH /rules/{name}`, read
  from the request's `data` or `body`) that is not a JSON object, which moto would answer with a
  500 (5.2.1 in the operation, 5.2.6 in its model parser inside `setup_class`).
- `moto.iotdata.models`: `iotdata_backends`, `IoTDataPlaneBackend.published_payloads` (a list of
  `(topic, payload)`); wrapped: `IoTDataPlaneBackend.publish(topic, payload)`.
- `moto.iotdata.responses.IoTDataPlaneResponse`: wrapped `setup_class(request, ...)` (to keep the
  werkzeug `request.environ` in server mode; in releases after 5.2.1 `Request.from_wsgi_server` says which
  request came through the server) and `publish()` (the HTTP context of the publish,
  from the response's `headers`, `parsed_url`, `current_account`, `region` and
  `get_access_key()`).
- `moto.sts.models.sts_backends[account]["global"].get_caller_identity(access_key, region)`: the
  IAM user id that `principal()` returns for an HTTP publish.
- `moto.core.exceptions.JsonRESTError(code, message)`: the errors the control and data planes
  answer with (its `code` attribute is the HTTP status).
- `moto.core.models.botocore_stubber.enabled`: whether `mock_aws` intercepts boto3 in this
  process.
- `moto.core.responses.BaseResponse.get_current_account`: it honours the `x-moto-account-id`
  header, which the action clients send so that actions land in the rule's account.
- `moto.cloudformation.parsing.get_model_map` and `get_name_type_map` (module functions, called
  by name inside the module), wrapped while installed so that `AWS::IoT::TopicRule` resolves to
  `TopicRuleResource`; the stack code then calls its `create_from_cloudformation_json`,
  `update_from_cloudformation_json`, `delete(account_id, region)`, `physical_resource_id`,
  `get_cfn_attribute`, `has_cfn_attr` and `is_created`.
- `moto.cloudformation.models.Stack` (`FakeStack` in early 5.1 releases): wrapped
  `create_resources`, so that a refused rule rolls the stack back as CloudFormation does, with
  the stack's `events`, `_add_stack_event`, `status`, `stack_id`, `name`, `output_map` (rebuilt
  empty) and `resource_map` (`delete()`, `_resource_json_map`); `Event` (`FakeEvent`) for the
  resource's CREATE_FAILED event; `moto.cloudformation.exceptions.ValidationError(message=...)`.
- `moto.server.main(argv)` (the `iotsql moto-server` command, iotsql/cli/moto_server.py).
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import threading
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, urlparse

from iotsql.actions.base import ActionRequest
from iotsql.actions.types import ACTION_TYPES
from iotsql.engine import DeadLetter, PublishReport, RulesEngine
from iotsql.errors import (
    HTTP_STATUS,
    ActionError,
    IotSqlError,
    RuleValidationError,
)
from iotsql.hosts import (
    RuleMirror,
    describe_dead_letter,
    publish_context,
    publish_request_context,
    topic_rule_error_code,
)
from iotsql.limits import Limits
from iotsql.message import DEFAULT_ACCOUNT_ID, Context
from iotsql.rule import TopicRule
from iotsql.topics import parse_basic_ingest
from iotsql.values import SqlVersion

__all__ = [
    "DEFAULT_SQL_VERSION",
    "MOTO_ACTION_TYPES",
    "RECORDED_ACTION_TYPES",
    "SUPPORTED_MOTO",
    "TESTED_MOTO",
    "Installation",
    "MotoRulesEngine",
    "TopicRuleResource",
    "UnsupportedMotoError",
    "capture_reports",
    "check_moto_version",
    "engine",
    "install",
    "installed",
    "server_url",
    "uninstall",
]

#: The moto versions this module supports: (lowest, first unsupported).
SUPPORTED_MOTO: Final = ((5, 1), (5, 3))
#: The versions the test suite ran against.
TESTED_MOTO: Final = ("5.1.0", "5.1.10", "5.2.1", "5.2.6")
#: AWS's default `awsIotSqlVersion` (moto would store 2016-03-23 for a payload naming none).
DEFAULT_SQL_VERSION: Final = SqlVersion.parse(None).value
#: Action types performed against moto's own services, through the boto3 sink.
MOTO_ACTION_TYPES: Final = (
    "cloudwatchAlarm", "cloudwatchLogs", "cloudwatchMetric", "dynamoDB", "dynamoDBv2",
    "firehose", "kinesis", "lambda", "s3", "sns", "sqs", "stepFunctions", "timestream",
)  # fmt: skip
#: Action types moto has no backend for (kafka, http, openSearch, iotSiteWise, influxDB...):
#: recorded in the engine's recorder, never dropped.
RECORDED_ACTION_TYPES: Final = tuple(sorted(set(ACTION_TYPES) - {*MOTO_ACTION_TYPES, "republish"}))
#: How many publish reports each engine keeps (the oldest are dropped first).
MAX_REPORTS: Final = 10_000

_ENGINE: Final = "_iotsql_engine"  # the attribute of an IoTBackend holding its engine
_ENVIRON: Final = "_iotsql_environ"  # ... of an IoTDataPlaneResponse holding the WSGI environ
_RULE_NAME: Final = re.compile(r"[^A-Za-z0-9_]")
_logger = logging.getLogger(__name__)


class UnsupportedMotoError(RuntimeError):
    """The installed moto is outside `SUPPORTED_MOTO`, or lacks an internal this module uses."""


def _range() -> str:
    (low, high) = SUPPORTED_MOTO
    return f">={low[0]}.{low[1]},<{high[0]}.{high[1]}"


def check_moto_version(version: str) -> None:
    """Raise UnsupportedMotoError unless `version` (moto's `__version__`) is supported."""
    match = re.match(r"(\d+)\.(\d+)", version)
    parsed = (int(match.group(1)), int(match.group(2))) if match else None
    low, high = SUPPORTED_MOTO
    if parsed is None or not low <= parsed < high:
        raise UnsupportedMotoError(
            f"iotsql.moto supports moto {_range()} (tested with {', '.join(TESTED_MOTO)}), "
            f"not moto {version}: pip install 'iotsql[moto]' installs a supported one"
        )


# ---- the engine of one (account, region) ---------------------------------------------------------


class MotoRulesEngine(RulesEngine):
    """The rules engine of one moto IoT backend, kept on that backend (so `mock_aws` resets drop
    it). Its rules follow moto's store; `reports` holds the last MAX_REPORTS publish reports;
    actions of `MOTO_ACTION_TYPES` go to moto's services, republish goes back into moto's
    `iot-data` (and through the rules again), the other types go to `recorder`."""

    def __init__(self, account_id: str, region: str, *, limits: Limits | None = None) -> None:
        super().__init__(account_id=account_id, region=region, limits=limits,
                         feed_back_republish=True)  # fmt: skip
        self.reports: deque[PublishReport] = deque(maxlen=MAX_REPORTS)
        #: Where actions go: None for moto in this process (mock_aws), else a moto server's URL
        #: (set by `install(endpoint_url=...)` or learned from the server's own requests).
        self.endpoint_url: str | None = None
        #: Keeps the rules equal to moto's store, whichever door changed it.
        self.mirror = RuleMirror(self, _left_out)
        self.principals: dict[str, str | None] = {}  # access key -> principal() of its publishes
        service = MotoServiceSink(self)
        for action_type in MOTO_ACTION_TYPES:
            self.register_sink(action_type, service)
        self.register_sink("republish", MotoRepublishSink(self))

    def _bury(self, letter: DeadLetter) -> None:
        """Keep the letter in the engine, and say so in the log where a server runs: logged
        here, by the thread that buries it, each letter is logged once however many publishes
        the server's request threads run at once (counting the letters before and after a
        publish logged another thread's letters too)."""
        super()._bury(letter)
        _logger.warning("%s", describe_dead_letter(letter))

    @property
    def published_payloads(self) -> list[tuple[str, Any]]:
        """moto's record of what was published in this account and region (republished
        messages included, Basic Ingest messages not)."""
        payloads: list[tuple[str, Any]] = (
            _moto().iotdata_backends[self.account_id][self.region].published_payloads
        )
        return payloads

    def recorded(self, action_type: str | None = None) -> list[ActionRequest]:
        """The requests of the action types moto has no backend for (`kafka`, `http`...), or
        of one of them."""
        if action_type is not None:
            return list(self.recorder[action_type].requests)
        return [r for kind in RECORDED_ACTION_TYPES for r in self.recorder[kind].requests]

    def follow(self, backend: Any) -> None:
        """Make the engine's rules what moto stores (iotsql.hosts.RuleMirror): a rule moto
        stored before this engine existed and iotsql refuses is left out (it could never fire
        on AWS), with a warning."""
        self.mirror.sync(list(backend.rules.items()), _stored_payload,
                         lambda fake: bool(getattr(fake, "rule_disabled", False)))  # fmt: skip


def _left_out(name: str, err: IotSqlError) -> None:
    warnings.warn(f"iotsql.moto: the topic rule {name} stored in moto is not valid for AWS IoT "
                  f"and will never fire: {err}", stacklevel=2)  # fmt: skip


def _stored_payload(fake: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sql": fake.sql, "awsIotSqlVersion": fake.aws_iot_sql_version,
        "ruleDisabled": bool(fake.rule_disabled), "description": fake.description or "",
        "actions": list(fake.actions or []),
    }  # fmt: skip
    if fake.error_action:
        payload["errorAction"] = fake.error_action
    return payload


# ---- actions -------------------------------------------------------------------------------------


class MotoServiceSink:
    """Performs AWS-service actions against moto through iotsql's boto3 sink: in this process
    while `mock_aws` is active, else at the moto server's endpoint. The clients name the rule's
    account (`x-moto-account-id`), use the rule's region and ignore any endpoint configured in
    the environment, so an action can never reach real AWS."""

    def __init__(self, engine: MotoRulesEngine) -> None:
        self._engine = engine
        self._sinks: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    @property
    def instant(self) -> bool:
        """True (the engine calls the sink inline) when moto runs in this process: the call is
        a function call that no network can hold up, and a worker thread would only add a
        context switch per action (milliseconds on a busy machine: benchmarks/README.md,
        "moto"). A server is called from the engine's worker threads,
        under the action time-out."""
        return (_state.endpoint_url or self._engine.endpoint_url) is None

    def __call__(self, request: ActionRequest) -> Any:
        engine = self._engine
        endpoint = _state.endpoint_url or engine.endpoint_url
        if endpoint is None and not _moto().botocore_stubber.enabled:
            raise ActionError(
                f"{request.action_type}: moto is not mocking AWS in this process (no mock_aws "
                "active) and no moto server endpoint is known, so the action was not sent: "
                "install(endpoint_url=...) names the server"
            )
        return self._sink(endpoint)(request)

    def _sink(self, endpoint: str | None) -> Any:
        sink = self._sinks.get(endpoint)
        if sink is None:
            with self._lock:
                sink = self._sinks.get(endpoint)
                if sink is None:
                    sink = self._sinks[endpoint] = self._new_sink(endpoint)
        return sink

    def _new_sink(self, endpoint: str | None) -> Any:
        from iotsql.actions.aws import Boto3Sink

        return Boto3Sink.for_emulator(endpoint, region_name=self._engine.region,
                                      headers={"x-moto-account-id": self._engine.account_id})  # fmt: skip


class MotoRepublishSink:
    """Republish: the message is recorded in moto's `iot-data` (`published_payloads`, unless its
    topic is a Basic Ingest one, which subscribers never see); the engine then routes it through
    the rules again, within its republish depth limit."""

    instant = True  # a list append: no worker thread, no time-out

    def __init__(self, engine: MotoRulesEngine) -> None:
        self._engine = engine

    def __call__(self, request: ActionRequest) -> None:
        arguments = request.request.get("arguments") or {}
        topic = str(arguments.get("topic") or request.params.get("topic") or "")
        if parse_basic_ingest(topic) is None:
            self._engine.published_payloads.append((topic, request.payload))


# ---- installing ----------------------------------------------------------------------------------


class _Internals:
    """The moto modules and objects this module uses, resolved once by `install()`."""

    def __init__(self) -> None:
        try:
            moto: Any = importlib.import_module("moto")
        except ImportError as err:
            raise ImportError("iotsql.moto needs moto: pip install 'iotsql[moto]'") from err
        check_moto_version(str(getattr(moto, "__version__", "unknown")))
        self.version = str(moto.__version__)
        find = self._find
        self.iot_backends: Any = find("moto.iot.models", "iot_backends")
        self.IoTBackend: Any = find("moto.iot.models", "IoTBackend")
        self.IoTResponse: Any = find("moto.iot.responses", "IoTResponse")
        self.iotdata_backends: Any = find("moto.iotdata.models", "iotdata_backends")
        self.IoTDataPlaneBackend: Any = find("moto.iotdata.models", "IoTDataPlaneBackend")
        self.IoTDataPlaneResponse: Any = find("moto.iotdata.responses", "IoTDataPlaneResponse")
        self.sts_backends: Any = find("moto.sts.models", "sts_backends")
        self.JsonRESTError: Any = find("moto.core.exceptions", "JsonRESTError")
        self.botocore_stubber: Any = find("moto.core.models", "botocore_stubber")
        self.parsing: Any = importlib.import_module("moto.cloudformation.parsing")
        # moto 5.1.0 to 5.1.x named the stack classes FakeStack and FakeEvent.
        self.Stack: Any = find("moto.cloudformation.models", "Stack", "FakeStack")
        self.StackEvent: Any = find("moto.cloudformation.models", "Event", "FakeEvent")
        self.ValidationError: Any = find("moto.cloudformation.exceptions", "ValidationError")
        required = {
            self.IoTBackend: ("create_topic_rule", "replace_topic_rule", "delete_topic_rule",
                              "enable_topic_rule", "disable_topic_rule", "reset"),
            self.IoTDataPlaneBackend: ("publish",),
            self.IoTResponse: ("setup_class",),
            self.IoTDataPlaneResponse: ("setup_class", "publish", "get_access_key"),
            self.parsing: ("get_model_map", "get_name_type_map"),
            self.botocore_stubber: ("enabled",),
            self.Stack: ("create_resources", "_add_stack_event"),
        }  # fmt: skip
        for owner, names in required.items():
            for name in names:
                if not hasattr(owner, name):
                    raise UnsupportedMotoError(
                        f"moto {self.version} has no {getattr(owner, '__name__', owner)}.{name}, "
                        f"which iotsql.moto wraps; supported: moto {_range()}"
                    )

    def _find(self, module: str, *names: str) -> Any:
        """The first of `names` that `module` defines; UnsupportedMotoError if none."""
        try:
            found = importlib.import_module(module)
        except ImportError:
            found = None
        for name in names:
            if found is not None and hasattr(found, name):
                return getattr(found, name)
        raise UnsupportedMotoError(
            f"moto {self.version} has no {module}.{names[0]}, which iotsql.moto uses; "
            f"supported: moto {_range()}"
        )


class _Patch:
    """One attribute replaced while installed, restored exactly (or removed, when the owner only
    inherited it) by `undo`."""

    def __init__(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        self.owner = owner
        self.name = name
        self.own = name in vars(owner)
        self.original = getattr(owner, name)
        setattr(owner, name, make(self.original))

    def undo(self) -> None:
        if self.own:
            setattr(self.owner, self.name, self.original)
        else:
            delattr(self.owner, self.name)


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.internals: _Internals | None = None
        self.patches: list[_Patch] = []
        self.endpoint_url: str | None = None
        self.limits: Limits | None = None


_state = _State()
_local = threading.local()  # .replacing, .environ / .context of the publish handled, .capture


def _moto() -> _Internals:
    internals = _state.internals
    if internals is None:
        raise RuntimeError("iotsql.moto is not installed: call iotsql.moto.install() first")
    return internals


class Installation:
    """What `install()` returns; as a context manager, `uninstall()`s on exit if that call is the
    one that installed (an `install()` inside an installed block changes nothing)."""

    def __init__(self, owner: bool) -> None:
        self.owner = owner

    def __enter__(self) -> Installation:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.owner:
            uninstall()


def install(*, endpoint_url: str | None = None, limits: Limits | None = None) -> Installation:
    """Make iotsql the rules engine of every moto IoT backend in this process (idempotent).

    `endpoint_url`: where actions go when moto runs as a server (`http://127.0.0.1:5000`); by
    default the server a publish arrives at, or moto in this process under `mock_aws`.
    `limits`: the `iotsql.Limits` of the engines created from now on."""
    with _state.lock:
        if endpoint_url is not None:
            _state.endpoint_url = endpoint_url.rstrip("/")
        if limits is not None:
            _state.limits = limits
        if _state.internals is not None:
            return Installation(owner=False)
        moto = _Internals()
        _state.internals = moto
        try:
            _state.patches = [
                _Patch(moto.IoTBackend, "create_topic_rule", _wrap_create),
                _Patch(moto.IoTBackend, "replace_topic_rule", _wrap_replace),
                *(_Patch(moto.IoTBackend, name, _wrap_follow) for name in
                  ("delete_topic_rule", "enable_topic_rule", "disable_topic_rule")),
                _Patch(moto.IoTBackend, "reset", _wrap_reset),
                _Patch(moto.IoTResponse, "setup_class", _wrap_body_decoding),
                _Patch(moto.IoTDataPlaneBackend, "publish", _wrap_publish),
                _Patch(moto.IoTDataPlaneResponse, "setup_class", _wrap_setup_class),
                _Patch(moto.IoTDataPlaneResponse, "publish", _wrap_publish_response),
                _Patch(moto.parsing, "get_model_map", _with_topic_rule(TopicRuleResource)),
                _Patch(moto.parsing, "get_name_type_map", _with_topic_rule("RuleName")),
                _Patch(moto.Stack, "create_resources", _wrap_create_resources),
            ]  # fmt: skip
        except BaseException:
            _state.internals = None
            raise
        return Installation(owner=True)


def uninstall() -> None:
    """Restore moto as it was (idempotent); the engines are closed and dropped, the rules stay in
    moto's store."""
    with _state.lock:
        moto = _state.internals
        if moto is None:
            return
        for patch in reversed(_state.patches):
            patch.undo()
        _state.patches = []
        _state.endpoint_url = None
        _state.limits = None
        for region_backends in list(moto.iot_backends.values()):
            for backend in list(region_backends.values()):
                held = backend.__dict__.pop(_ENGINE, None)
                if held is not None:
                    held.close()
        _state.internals = None


def installed() -> bool:
    return _state.internals is not None


def engine(account_id: str = DEFAULT_ACCOUNT_ID, region: str = "us-east-1") -> MotoRulesEngine:
    """The rules engine of moto's IoT backend for `account_id` and `region` (made on first use):
    `.reports` of every publish, `.recorded()` requests of the action types moto has no backend
    for, `.dead_letters`, `.rules`."""
    return _engine_of(_moto().iot_backends[account_id][region])


def rule_locations(rule_name: str) -> list[tuple[str, str]]:
    """The (account, region) of each moto IoT backend that stores a topic rule `rule_name`
    (for the message of a test that looks for it in another one). Backends are not created."""
    found = []
    for account_id, region_backends in list(_moto().iot_backends.items()):
        for region, backend in list(region_backends.items()):
            if rule_name in backend.rules:
                found.append((account_id, region))
    return found


@contextmanager
def capture_reports() -> Iterator[list[PublishReport]]:
    """The reports of the publishes handled in this thread while the block runs (in `mock_aws`,
    a boto3 `iot-data` publish is handled in the caller's thread)."""
    captured: list[PublishReport] = []
    previous = getattr(_local, "capture", None)
    _local.capture = captured
    try:
        yield captured
    finally:
        _local.capture = previous


def _engine_of(backend: Any) -> MotoRulesEngine:
    held: MotoRulesEngine | None = backend.__dict__.get(_ENGINE)
    if held is not None:
        return held
    with _state.lock:
        held = backend.__dict__.get(_ENGINE)
        if held is None:
            held = MotoRulesEngine(backend.account_id, backend.region_name, limits=_state.limits)
            held.follow(backend)
            backend.__dict__[_ENGINE] = held
        return held


def _error(err: IotSqlError, code: str | None = None) -> Exception:
    """The moto error answering with `code` (by default `err`'s AWS error code) and iotsql's
    message."""
    code = code or err.code or "InvalidRequestException"
    error: Any = _moto().JsonRESTError(code, str(err))
    error.code = HTTP_STATUS.get(code, 400)
    return error  # type: ignore[no-any-return]


# ---- the control plane ---------------------------------------------------------------------------


def _refusal(backend: Any, name: str, kwargs: Mapping[str, Any]) -> IotSqlError | None:
    """Why CreateTopicRule refuses this rule (None: it accepts it)."""
    keys = {"sql": "sql", "aws_iot_sql_version": "awsIotSqlVersion", "actions": "actions",
            "error_action": "errorAction", "rule_disabled": "ruleDisabled",
            "description": "description"}  # fmt: skip
    payload = {api: kwargs[key] for key, api in keys.items() if kwargs.get(key) is not None}
    held = _engine_of(backend)
    try:
        TopicRule(name, payload, limits=held.limits, account_id=held.account_id,
                  region=held.region)  # fmt: skip
    except IotSqlError as err:
        return err
    return None


def _validate(backend: Any, name: str, kwargs: Mapping[str, Any]) -> None:
    refusal = _refusal(backend, name, kwargs)
    if refusal is not None:
        raise _error(refusal, topic_rule_error_code(refusal))


def _as_given(kwargs: dict[str, Any]) -> dict[str, Any]:
    if kwargs.get("aws_iot_sql_version") is None:
        kwargs["aws_iot_sql_version"] = DEFAULT_SQL_VERSION
    return kwargs


#: Held by each control-plane call (create, replace, delete, enable, disable) from moto's
#: change of its store to the engine's following it: moto replaces a rule by deleting then
#: creating it, and another request thread's call that mirrored the store in between would
#: delete the rule from the engine, losing it for the publishes meanwhile. Publishes never
#: take it.
_control = threading.RLock()


def _wrap_create(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_topic_rule(self: Any, rule_name: str, sql: str, **kwargs: Any) -> Any:
        if getattr(_local, "replacing", False):  # inside replace_topic_rule: already checked
            return original(self, rule_name, sql=sql, **kwargs)
        kwargs = _as_given(kwargs)
        _validate(self, rule_name, {**kwargs, "sql": sql})
        with _control:
            result = original(self, rule_name, sql=sql, **kwargs)
            _engine_of(self).follow(self)
        return result

    return create_topic_rule


def _wrap_replace(original: Callable[..., Any]) -> Callable[..., Any]:
    def replace_topic_rule(self: Any, rule_name: str, **kwargs: Any) -> Any:
        kwargs = _as_given(kwargs)
        _validate(self, rule_name, kwargs)
        with _control:
            _local.replacing = True
            try:
                result = original(self, rule_name, **kwargs)
            finally:
                _local.replacing = False
            _engine_of(self).follow(self)  # one swap: the rule is never missing
        return result

    return replace_topic_rule


def _wrap_follow(original: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, rule_name: str) -> Any:
        if getattr(_local, "replacing", False):  # inside replace_topic_rule, which follows
            return original(self, rule_name)
        with _control:
            result = original(self, rule_name)
            _engine_of(self).follow(self)
        return result

    method.__name__ = original.__name__
    return method


def _request_error(message: str) -> Exception:
    return _error(RuleValidationError(message, "the request body"))


def _wrap_body_decoding(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto decodes every request body as UTF-8 and answers a 500 when it is not; and it reads
    a CreateTopicRule or ReplaceTopicRule body as a JSON object (5.2.1 with
    `json.loads(body)[name]` in the operation, later versions with its botocore-model parser
    inside `setup_class`): a body that is JSON but not an object (`[]`, `"x"`, `null`), or
    nested too deeply for Python's parser, is a 500 there. AWS answers InvalidRequestException,
    so the rule body is checked here, before either reads it."""

    def setup_class(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        full_url = args[0] if args else kwargs.get("full_url")
        _check_rule_body(request, full_url)
        try:
            return original(self, request, *args, **kwargs)
        except UnicodeDecodeError as err:
            raise _request_error(f"is not UTF-8 (byte {err.start})") from None

    return setup_class


#: The paths of CreateTopicRule (POST) and ReplaceTopicRule (PATCH): /rules/{ruleName}.
_RULE_PATH: Final = re.compile(r"/rules/[^/]+")


def _check_rule_body(request: Any, full_url: str | None) -> None:
    """Raise InvalidRequestException for a CreateTopicRule or ReplaceTopicRule request whose body
    is not a JSON object. moto hands `setup_class` a werkzeug request (`data`) or, in
    `mock_aws` before 5.2.2, botocore's prepared request (`body`)."""
    if getattr(request, "method", None) not in ("POST", "PATCH"):
        return
    url = full_url or getattr(request, "url", None) or ""
    if not _RULE_PATH.fullmatch(urlparse(str(url)).path):
        return
    headers = getattr(request, "headers", None) or {}
    if str(headers.get("Content-Encoding", "")).lower() not in ("", "identity"):
        return  # (moto decompresses it in setup_class; botocore does not compress these)
    body = getattr(request, "data", None)
    if body is None:
        body = getattr(request, "body", None)
    if hasattr(body, "read"):
        return  # (a stream: moto reads it itself)
    if not body:
        return
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as err:
            raise _request_error(f"is not UTF-8 (byte {err.start})") from None
    try:
        data = json.loads(body)
    except RecursionError:
        raise _request_error("is nested too deeply") from None
    except ValueError as err:
        raise _request_error(f"is not JSON ({err})") from None
    if not isinstance(data, dict):
        raise _request_error(f"must be a TopicRulePayload object, not {_json_kind(data)}")


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _wrap_reset(original: Callable[..., Any]) -> Callable[..., Any]:
    def reset(self: Any) -> Any:
        held = self.__dict__.get(_ENGINE)
        if held is not None:
            held.close()  # its worker threads end with it
        return original(self)

    return reset


# ---- the data plane ------------------------------------------------------------------------------


def _wrap_setup_class(original: Callable[..., Any]) -> Callable[..., Any]:
    def setup_class(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        setattr(self, _ENVIRON, _server_environ(request))
        return original(self, request, *args, **kwargs)

    return setup_class


def _server_environ(request: Any) -> Any:
    """The WSGI environ of a request that moto's server received, else None. Until moto 5.2.1 only
    a server's request had an `environ`; later releases turn every request, `mock_aws`'s too, into
    a werkzeug request and say which came through the server with `from_wsgi_server`."""
    if not getattr(request, "from_wsgi_server", True):
        return None
    return getattr(request, "environ", None)


def _wrap_publish_response(original: Callable[..., Any]) -> Callable[..., Any]:
    def publish(self: Any) -> Any:
        environ = getattr(self, _ENVIRON, None)
        _local.environ = environ if isinstance(environ, Mapping) else None
        _local.context = _http_context(self, _local.environ)
        try:
            return original(self)
        finally:
            _local.environ = _local.context = None

    return publish


def _wrap_publish(original: Callable[..., Any]) -> Callable[..., Any]:
    def publish(self: Any, topic: str, payload: Any) -> Any:
        held = _engine_of(_moto().iot_backends[self.account_id][self.region_name])
        body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload or b"")
        context = getattr(_local, "context", None) or publish_context(
            protocol="http", accountid=self.account_id
        )  # a call of the backend itself, not through the API
        try:  # what would refuse the message, before moto records it
            held.check_publish(topic, body)
        except IotSqlError as err:
            raise _error(err) from None
        environ = getattr(_local, "environ", None)
        if environ is not None and _state.endpoint_url is None:
            held.endpoint_url = _server_url(environ)
        result = None
        if parse_basic_ingest(topic) is None:  # Basic Ingest messages reach no subscriber
            result = original(self, topic, payload)
        report = held.publish(topic, body, context)  # (its dead letters logged: MotoRulesEngine)
        held.reports.append(report)
        capture = getattr(_local, "capture", None)
        if capture is not None:
            capture.append(report)
        return result

    return publish


def _http_context(response: Any, environ: Mapping[str, Any] | None) -> Context:
    """What AWS IoT knows of an HTTP publish (iotsql.hosts.publish_request_context): the IAM
    identity as `principal()`, the account, the source IP (server mode), and the MQTT 5
    properties the Publish API carries in its query and headers."""
    account = response.current_account
    principal = _principal(account, response.region, response.get_access_key())
    raw_query = response.parsed_url.query
    wanted = ("contentType=", "responseTopic=", "messageExpiry=")  # besides qos and retain
    query = parse_qs(raw_query) if any(name in raw_query for name in wanted) else {}
    headers = response.headers
    request: dict[str, Any] = {name: values[0] for name, values in query.items() if values}
    for name, header in (("payloadFormatIndicator", "x-amz-mqtt5-payload-format-indicator"),
                         ("correlationData", "x-amz-mqtt5-correlation-data"),
                         ("userProperties", "x-amz-mqtt5-user-properties")):  # fmt: skip
        if headers.get(header):
            request[name] = str(headers[header])
    sourceip = environ.get("REMOTE_ADDR") if environ is not None else None
    try:
        return publish_request_context(
            request, principal=principal, accountid=account,
            sourceip=str(sourceip) if sourceip else None,
        )  # fmt: skip
    except IotSqlError as err:
        raise _error(err) from None


def _principal(account: str, region: str, access_key: str) -> str | None:
    """The IAM user id of the caller, as moto's GetCallerIdentity answers it (None for an
    unsigned request: `principal()` is then Undefined). Kept per access key on the engine, so a
    moto reset forgets it."""
    known = _engine_of(_moto().iot_backends[account][region]).principals
    if access_key not in known:
        try:
            identity = (
                _moto().sts_backends[account]["global"].get_caller_identity(access_key, region)
            )
            known[access_key] = str(identity[0])
        except Exception:
            known[access_key] = None
    return known[access_key]


def server_url(host: str, port: int | str, scheme: str = "http") -> str:
    """The URL at which a server bound to `host` and `port` reaches itself (a wildcard address
    becomes the loopback one)."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _server_url(environ: Mapping[str, Any]) -> str:
    """The URL of the server that received `environ`'s request (werkzeug's WSGI environ)."""
    return server_url(str(environ.get("SERVER_NAME") or ""), environ.get("SERVER_PORT") or 80,
                      str(environ.get("wsgi.url_scheme") or "http"))  # fmt: skip


# ---- CloudFormation ------------------------------------------------------------------------------


def _with_topic_rule(value: Any) -> Callable[[Callable[[], dict[str, Any]]], Callable[[], Any]]:
    def wrap(original: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        def mapping() -> dict[str, Any]:
            return {**original(), TopicRuleResource.cloudformation_type(): value}

        return mapping

    return wrap


class TopicRuleResource:
    """`AWS::IoT::TopicRule` in moto's CloudFormation, registered while installed: creating a
    stack creates its rules (through CreateTopicRule, so they are validated and run), updating
    replaces them, deleting the stack deletes them. `Ref` is the rule name, `Fn::GetAtt ... Arn`
    its ARN. A rule without `RuleName` is named `<stack>_<logical id>_<suffix>`."""

    def __init__(self, name: str, account_id: str, region: str) -> None:
        self.name = name
        self.account_id = account_id
        self.region = region
        self.arn = f"arn:aws:iot:{region}:{account_id}:rule/{name}"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IoT::TopicRule"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "RuleName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise importlib.import_module(
            "moto.cloudformation.exceptions"
        ).UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> TopicRuleResource:
        logical_id = str(kwargs.get("LogicalId") or resource_name)
        name, arguments = _cfn_rule(resource_name, cloudformation_json, logical_id)
        _stack_call(logical_id, _moto().iot_backends[account_id][region_name].create_topic_rule,
                    name, arguments)  # fmt: skip
        return cls(name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: TopicRuleResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> TopicRuleResource:
        properties = cloudformation_json.get("Properties") or {}
        # Without a RuleName, the rule keeps the name it was given at creation.
        name = properties.get("RuleName") or original_resource.name
        logical_id = str(getattr(original_resource, "logical_resource_id", name))
        name, arguments = _cfn_rule(name, cloudformation_json, logical_id)
        backend = _moto().iot_backends[account_id][region_name]
        if name == original_resource.name:
            _stack_call(logical_id, backend.replace_topic_rule, name, arguments)
        else:  # a new RuleName is a replacement: the new rule first, then the old one goes
            _stack_call(logical_id, backend.create_topic_rule, name, arguments)
            original_resource.delete(account_id, region_name)
        return cls(name, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls(resource_name, account_id, region_name).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _moto().iot_backends[account_id][region_name]
        if self.name in backend.rules:
            backend.delete_topic_rule(self.name)


def _stack_call(
    logical_id: str, call: Callable[..., Any], name: str, arguments: dict[str, Any]
) -> None:
    """Create or replace a stack's rule; a refusal fails the stack's resource as CloudFormation
    reports it (the stack then rolls back, see `_wrap_create_resources`)."""
    moto = _moto()
    try:
        call(name, **arguments)
    except moto.JsonRESTError as err:
        raise _stack_error(logical_id, str(err.error_type), str(err.message),
                           int(err.code)) from None  # fmt: skip


def _stack_error(logical_id: str, code: str, message: str, status: int) -> Exception:
    reason = (
        f'Resource handler returned message: "{code}: {message} (Service: Iot, Status '
        f'Code: {status}, Request ID: {uuid.uuid4()})" (HandlerErrorCode: InvalidRequest)'
    )
    error: Any = _moto().ValidationError(message=reason)
    error.iotsql_failure = (logical_id, reason)
    return error  # type: ignore[no-any-return]


def _wrap_create_resources(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_resources(self: Any) -> Any:
        try:
            return original(self)
        except Exception as err:
            failure = getattr(err, "iotsql_failure", None)
            if failure is None:
                raise
        _roll_back(self, *failure)
        return None

    return create_resources


def _roll_back(stack: Any, logical_id: str, reason: str) -> None:
    """What CloudFormation does when a resource fails to create: the resource's CREATE_FAILED
    event, the resources created so far deleted, the stack in ROLLBACK_COMPLETE."""
    moto = _moto()
    stack.events.append(moto.StackEvent(
        stack.stack_id, stack.name, logical_id, "", TopicRuleResource.cloudformation_type(),
        "CREATE_FAILED", reason, None,
    ))  # fmt: skip
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason=f"The following resource(s) failed to create: [{logical_id}]. "
        "Rollback requested by user.",
    )
    resources = stack.resource_map
    resources.delete()
    # Nothing is left for the lazy maps to create when the stack is described: no resources,
    # no outputs, as for a stack in ROLLBACK_COMPLETE.
    resources._resource_json_map = {}
    stack.output_map = type(stack.output_map)(resources, {"Outputs": {}}, stack.stack_id)
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.status = "ROLLBACK_COMPLETE"


def _cfn_rule(
    name: str, cloudformation_json: Mapping[str, Any], logical_id: str
) -> tuple[str, dict[str, Any]]:
    """The rule name and the `create_topic_rule` arguments of a resolved TopicRule resource."""
    from iotsql.loaders.model import CLOUDFORMATION, Converter

    properties = cloudformation_json.get("Properties") or {}
    where = f"Resources.{logical_id}.Properties"

    def fail(path: str, message: str) -> RuleValidationError:
        return RuleValidationError(message, path)

    try:
        payload = Converter(CLOUDFORMATION, fail).convert(
            properties.get("TopicRulePayload"), "TopicRulePayload", "topicRulePayload",
            f"{where}.TopicRulePayload",
        ) or {}  # fmt: skip
        if not payload:
            raise RuleValidationError("is required", f"{where}.TopicRulePayload")
    except IotSqlError as err:
        code = topic_rule_error_code(err)
        raise _stack_error(logical_id, code, str(err), HTTP_STATUS.get(code, 400)) from None
    rule_name = _RULE_NAME.sub("_", str(properties.get("RuleName") or name))
    arguments = {"sql": payload.get("sql"), "description": payload.get("description"),
                 "rule_disabled": payload.get("ruleDisabled"), "actions": payload.get("actions"),
                 "error_action": payload.get("errorAction"),
                 "aws_iot_sql_version": payload.get("awsIotSqlVersion")}  # fmt: skip
    return rule_name, arguments
