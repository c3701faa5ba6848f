"""iotsql as ministack's rules engine.

    import iotsql.ministack
    iotsql.ministack.install()     # in the process that runs ministack, before it serves

or, from a shell, `iotsql ministack --port 4566` (ministack and iotsql in one environment:
`pip install 'iotsql[ministack]'`). Topic rules created in ministack (the IoT API, the AWS CLI,
CloudFormation) are validated and evaluated by iotsql; their actions land in ministack's own
services. docs/ministack.md is the user's guide.

Supported ministack versions: SUPPORTED_RANGE, the range the tests ran against (the `ministack`
extra pins it). `install()` refuses any other version with MinistackVersionError, and any version
that lacks one of the internals named below, so that an upstream change fails loudly;
IOTSQL_MINISTACK_ANY_VERSION=1 (or `allow_untested_version=True`) skips the version check only.

ministack internals this module replaces (module `ministack.services.iot` unless named):

    put_topic_rule          replaced: iotsql validates the rule (SqlParseException with line and
                            column, InvalidRequestException) and puts it in the RulesEngine of the
                            request's (account, region); then ministack's own rule record is
                            stored, so Get/List/persistence/CloudFormation work as before
    broker_publish          wrapped: records the publish (client id, principal, MQTT 5
                            properties, protocol) for the rules; Basic Ingest (`$aws/rules/...`)
                            goes to iotsql instead of ministack's evaluator
    _evaluate_topic_rules   replaced: the RulesEngine of (account, region) evaluates the publish
    _run_rule_actions       replaced: ministack's evaluator; never reached, and if a future
                            ministack reaches it, it logs an error and iotsql evaluates instead
    reset                   wrapped: `/_ministack/reset` also drops the engines
    _handle_topic_rule      wrapped: a request body nested past what Python's JSON parser reads
                            is InvalidRequestException, not ministack's 500 (RecursionError)
    ministack.services.iot_data._publish
                            wrapped: marks the publish as HTTP (`clientid()` is `n/a`), and
                            refuses a topic or body the broker would refuse (over a limit, a
                            null character) with AWS's error, as the moto host does, before
                            ministack delivers it (`ministack.core.responses.error_response_json`)

ministack internals it calls without replacing them: `_topic_rules` (the rule store),
`_rules_for_account`, `RuleSqlError`, `RuleRepublishError`, `RuleRoleError`,
`_dispatch_rule_sqs`, `_dispatch_rule_sns`, `_dispatch_rule_dynamodb`, `_dispatch_rule_to_lambda`,
`_rule_role_principal`, `_decode_properties` and `_encode_properties` (MQTT 5 property blocks
as (identifier, value) pairs, the identifiers of the MQTT 5 specification:
iotsql.hosts.Mqtt5Properties), `_publish_source_ip`; `ministack.core.responses.get_account_id` and
`get_region`; `ministack.core.iam_evaluator.validate_role_arn`;
`ministack.services.lambda_svc._get_func_record_for_ref_in_scope`.

How a publish flows: ministack's broker delivers to subscribers, then calls
`_evaluate_topic_rules` on its event loop; iotsql runs `RulesEngine.publish` in a thread of its
own (sinks may call ministack's HTTP gateway, which that loop serves), and the actions ministack
dispatches itself are handed back to the loop (`asyncio.run_coroutine_threadsafe`), waited for
with the engine's action time-out. The publish completes once every action did, as in
ministack.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import importlib
import importlib.metadata
import inspect
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

from iotsql.actions.aws import AWS_ACTION_KEYS, Boto3Sink
from iotsql.actions.base import ActionRequest, Sink
from iotsql.actions.http import HttpSink
from iotsql.actions.types import ACTION_TYPES
from iotsql.engine import RulesEngine
from iotsql.errors import ActionError, IotSqlError
from iotsql.hosts import (
    INVALID_REQUEST,
    SQL_PARSE,
    DeadLetterLog,
    Mqtt5Properties,
    RuleMirror,
    mqtt5_properties,
    publish_context,
    topic_rule_error_code,
)
from iotsql.limits import DEFAULT_LIMITS, Limits
from iotsql.topics import BASIC_INGEST_PREFIX

__all__ = [
    "SUPPORTED_RANGE",
    "MinistackHost",
    "MinistackVersionError",
    "check_version",
    "install",
    "installed",
    "uninstall",
    "usable_version",
]

#: The ministack releases iotsql was tested with, both ends included (the `ministack` extra
#: of pyproject.toml pins the same range).
SUPPORTED_VERSIONS: Final = ("1.5.30", "1.5.33")
SUPPORTED_RANGE: Final = f">={SUPPORTED_VERSIONS[0]},<={SUPPORTED_VERSIONS[1]}"
#: Set to 1 to install into a ministack outside SUPPORTED_RANGE (the internals are still checked).
ANY_VERSION_ENV: Final = "IOTSQL_MINISTACK_ANY_VERSION"
INSTALL_HINT: Final = f"pip install 'iotsql[ministack]' (ministack {SUPPORTED_RANGE})"

#: Module → the names of it this module replaces or calls; install() checks that they all exist.
INTERNALS: Final[Mapping[str, tuple[str, ...]]] = {
    "ministack.services.iot": (
        # replaced or wrapped
        "put_topic_rule", "broker_publish", "_evaluate_topic_rules", "_run_rule_actions", "reset",
        "_handle_topic_rule",
        # called
        "_topic_rules", "_rules_for_account", "RuleSqlError", "RuleRepublishError",
        "RuleRoleError", "_dispatch_rule_sqs", "_dispatch_rule_sns", "_dispatch_rule_dynamodb",
        "_dispatch_rule_to_lambda", "_rule_role_principal", "_decode_properties",
        "_encode_properties", "_publish_source_ip",
    ),
    "ministack.services.iot_data": ("_publish",),
    "ministack.core.responses": ("get_account_id", "get_region", "error_response_json"),
    "ministack.core.iam_evaluator": ("validate_role_arn",),
    "ministack.services.lambda_svc": ("_get_func_record_for_ref_in_scope",),
}  # fmt: skip

#: The action types that go through ministack's own dispatchers (republish goes through its
#: broker's publish).
MINISTACK_ACTIONS: Final = ("sqs", "sns", "dynamoDBv2", "lambda")

logger = logging.getLogger("iotsql.ministack")


class MinistackVersionError(IotSqlError):
    """ministack is missing, outside SUPPORTED_RANGE, or lacks an internal this module needs."""


# ---- versions --------------------------------------------------------------------------------


def _release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string (`1.5.33` → (1, 5, 33); `1.6.0rc1` → (1, 6, 0))."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    if match is None:
        return ()
    return tuple(int(part) for part in match.group(1).split("."))


def installed_version() -> str:
    """The version of the installed ministack distribution."""
    try:
        return importlib.metadata.version("ministack")
    except importlib.metadata.PackageNotFoundError:
        raise MinistackVersionError(f"ministack is not installed: {INSTALL_HINT}") from None


def check_version(version: str | None = None) -> str:
    """`version` (default: the installed one) if it is in SUPPORTED_RANGE, else
    MinistackVersionError naming the range."""
    version = installed_version() if version is None else version
    low, high = (_release(v) for v in SUPPORTED_VERSIONS)
    release = _release(version)
    if not release or not low <= release <= high:
        raise MinistackVersionError(
            f"ministack {version} is not supported: iotsql was tested with ministack "
            f"{SUPPORTED_RANGE}. Install one of those ({INSTALL_HINT}), or set "
            f"{ANY_VERSION_ENV}=1 to try this one anyway"
        )
    return version


def usable_version(allow_untested_version: bool = False) -> str:
    """The installed ministack version, checked against SUPPORTED_RANGE unless
    `allow_untested_version` or IOTSQL_MINISTACK_ANY_VERSION=1 says not to."""
    version = installed_version()
    if not (allow_untested_version or os.environ.get(ANY_VERSION_ENV) == "1"):
        check_version(version)
    return version


def _missing_internals() -> list[str]:
    missing = []
    for module_name, names in INTERNALS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        missing.extend(f"{module_name}.{name}" for name in names if not hasattr(module, name))
    return missing


# ---- installing ----------------------------------------------------------------------------------

_installed: MinistackHost | None = None
_install_lock = threading.Lock()


def install(
    *,
    limits: Limits | None = None,
    sinks: Mapping[str, Sink] | None = None,
    endpoint_url: str | None = None,
    allow_untested_version: bool = False,
) -> MinistackHost:
    """Make iotsql the rules engine of the ministack in this process and return the host.

    `limits`: the engines' limits (action time-out, republish depth...); `sinks`: sinks that
    replace the host's for some action types (`{"kafka": my_sink}`); `endpoint_url`: ministack's
    gateway for the boto3 sinks (default: http://127.0.0.1:$GATEWAY_PORT, as ministack reads
    it). A second call returns the installed host unchanged; `uninstall()` first to change it.
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        version = usable_version(allow_untested_version)
        missing = _missing_internals()
        if missing:
            raise MinistackVersionError(
                f"ministack {version} lacks what iotsql replaces or calls: "
                f"{', '.join(missing)}. Install a supported version: {INSTALL_HINT}"
            )
        host = MinistackHost(
            importlib.import_module("ministack.services.iot"),
            importlib.import_module("ministack.services.iot_data"),
            limits=limits, sinks=sinks, endpoint_url=endpoint_url, version=version,
        )  # fmt: skip
        host.patch()
        _installed = host
        logger.info("iotsql is ministack %s's rules engine", version)
        return host


def uninstall() -> None:
    """Give ministack its own rules engine back (rules stored meanwhile stay stored)."""
    global _installed
    with _install_lock:
        if _installed is not None:
            _installed.unpatch()
            _installed = None


def installed() -> MinistackHost | None:
    """The installed host, or None."""
    return _installed


# ---- the publish being evaluated -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Publish:
    """One message ministack's broker handles, as the rules see it."""

    topic: str
    origin: str  # MQTT (or ministack's own publish), HTTP, or a republish action
    client_id: str | None
    principal: str | None
    properties: bytes  # the MQTT 5 property block ministack forwards (empty without one)
    depth: int  # how many republish actions led to this message


MQTT, HTTP, REPUBLISH = "mqtt", "http", "republish"
# Where the next broker_publish comes from: set by the iot_data Publish wrapper and by the
# republish sink, and reset by broker_publish for what it causes, so that a shadow response to
# an HTTP publish is not an HTTP publish itself.
_ORIGIN: contextvars.ContextVar[str] = contextvars.ContextVar(
    "iotsql_ministack_origin", default=MQTT
)
_PUBLISH: contextvars.ContextVar[_Publish | None] = contextvars.ContextVar(
    "iotsql_ministack_publish", default=None
)
_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("iotsql_ministack_depth", default=0)


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(*args)` in a new thread (with this task's context) and await its result. A thread
    per publish, not a pool: a republish waits for the publish it causes, so chains of them
    would exhaust any bounded pool."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        try:
            result = context.run(fn, *args)
        except BaseException as err:  # handed to the awaiting task, whatever it is
            error = err
            loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
        else:
            loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

    threading.Thread(target=run, name="iotsql-ministack-publish", daemon=True).start()
    return await future


# ---- the host -------------------------------------------------------------------------------------


class MinistackHost:
    """iotsql inside one ministack process: one RulesEngine per (account, region), following
    ministack's rule store, fed by its broker, delivering into its services."""

    def __init__(
        self,
        iot: ModuleType,
        iot_data: ModuleType,
        *,
        limits: Limits | None = None,
        sinks: Mapping[str, Sink] | None = None,
        endpoint_url: str | None = None,
        version: str = "",
    ) -> None:
        self.iot = iot
        self.iot_data = iot_data
        self.version = version
        self.limits = limits if limits is not None else DEFAULT_LIMITS
        self.dead_letters = DeadLetterLog(logger)
        #: How many times ministack called its own evaluator (always 0 in a supported version).
        self.ministack_evaluator_calls = 0
        self._sink_overrides = dict(sinks or {})
        self._endpoint_url = endpoint_url
        self._mirrors: dict[tuple[str, str], RuleMirror] = {}
        self._lock = threading.Lock()
        self._originals: list[tuple[ModuleType, str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- patching -----------------------------------------------------------------------------

    def patch(self) -> None:
        iot, iot_data = self.iot, self.iot_data
        self._replace(iot, "put_topic_rule", self.put_topic_rule)
        self._replace(iot, "broker_publish", self._wrap_broker_publish(iot.broker_publish))
        self._replace(iot, "_evaluate_topic_rules", self._evaluate_topic_rules)
        self._replace(iot, "_run_rule_actions", self._run_rule_actions)
        self._replace(iot, "reset", self._wrap_reset(iot.reset))
        self._replace(iot, "_handle_topic_rule", _wrap_rule_request(iot._handle_topic_rule))
        self._replace(iot_data, "_publish", self._wrap_http_publish(iot_data._publish))

    def unpatch(self) -> None:
        for module, name, original in reversed(self._originals):
            setattr(module, name, original)
        self._originals.clear()

    def _replace(self, module: ModuleType, name: str, replacement: Any) -> None:
        self._originals.append((module, name, getattr(module, name)))
        setattr(module, name, replacement)

    # ---- engines -------------------------------------------------------------------------------

    def engine(self, account_id: str, region: str) -> RulesEngine:
        """The RulesEngine of one account and region (created on first use)."""
        return self._mirror(account_id, region).engine

    @property
    def engines(self) -> dict[tuple[str, str], RulesEngine]:
        with self._lock:
            return {key: mirror.engine for key, mirror in self._mirrors.items()}

    def _mirror(self, account_id: str, region: str) -> RuleMirror:
        key = (account_id, region)
        mirror = self._mirrors.get(key)
        if mirror is None:
            with self._lock:
                mirror = self._mirrors.get(key)
                if mirror is None:
                    engine = RulesEngine(limits=self.limits, account_id=account_id, region=region,
                                         feed_back_republish=False)  # fmt: skip
                    for action_type, sink in self._sinks(account_id, region).items():
                        engine.register_sink(action_type, sink)
                    invalid = functools.partial(self._stored_rule_refused, account_id, region)
                    mirror = self._mirrors[key] = RuleMirror(engine, invalid)
        return mirror

    def reset(self) -> None:
        """Drop every engine and dead letter (ministack's state was reset)."""
        with self._lock:
            self._mirrors.clear()
        self.dead_letters.clear()

    def _sync(self, account_id: str, region: str) -> RulesEngine:
        for _ in range(3):
            try:
                records = self.iot._rules_for_account(account_id, region)
                break
            except RuntimeError:  # the store changed size under it (a CloudFormation thread)
                continue
        else:
            records = self.iot._rules_for_account(account_id, region)
        stored = [(str(r.get("ruleName")), r) for r in records if isinstance(r, dict)]
        return self._mirror(account_id, region).sync(stored, _payload, _disabled)

    @staticmethod
    def _stored_rule_refused(account_id: str, region: str, name: str, err: IotSqlError) -> None:
        logger.error(
            "topic rule %s (account %s, %s) is stored in ministack but iotsql refuses it, so it "
            "will not run: %s", name, account_id, region, err,
        )  # fmt: skip

    # ---- sinks ---------------------------------------------------------------------------------

    def _sinks(self, account_id: str, region: str) -> dict[str, Sink]:
        # Every action type gets a sink: one no ministack service receives (kafka, openSearch,
        # influxDB...) fails, rather than going to the engine's in-memory recorder unnoticed.
        sinks: dict[str, Sink] = {kind: _Undeliverable(kind) for kind in ACTION_TYPES}
        aws = _LazyBoto3Sink(self, account_id, region)
        sinks.update(dict.fromkeys(AWS_ACTION_KEYS, aws))
        http = HttpSink()
        sinks["http"] = http
        sinks["salesforce"] = http  # an HTTP POST too
        for action_type in MINISTACK_ACTIONS:
            sinks[action_type] = _Dispatch(self, account_id, region, action_type)
        sinks["republish"] = _Republish(self, account_id, region)
        sinks.update(self._sink_overrides)
        return sinks

    @property
    def endpoint_url(self) -> str:
        """ministack's gateway, where the boto3 sinks send the other action types."""
        if self._endpoint_url:
            return self._endpoint_url
        port = os.environ.get("GATEWAY_PORT") or os.environ.get("EDGE_PORT") or "4566"
        host = os.environ.get("BIND_HOST", "0.0.0.0")
        host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        return f"{'https' if _uses_tls() else 'http'}://{host}:{port}"

    def on_loop(self, call: Callable[[], Any], what: str) -> Any:
        """Run `call()` on ministack's event loop (awaiting it when it returns an awaitable) from
        a publish thread, and return its result; ActionError after the action time-out."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise ActionError(f"{what}: ministack's event loop is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # waiting here would stop the very loop that must run the call
            raise ActionError(f"{what}: called on ministack's event loop")

        async def run() -> Any:
            result = call()
            return await result if inspect.isawaitable(result) else result

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        timeout = self.limits.action_timeout
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ActionError(f"{what}: timed out after {timeout:g} s") from None

    # ---- control plane -------------------------------------------------------------------------

    def put_topic_rule(
        self, name: str, payload: dict[str, Any], *, created_at: float | None = None
    ) -> dict[str, Any]:
        """ministack's `put_topic_rule` (CreateTopicRule, ReplaceTopicRule, CloudFormation):
        iotsql validates and compiles the rule, then ministack's record of it is stored."""
        from ministack.core.responses import get_account_id, get_region

        iot = self.iot
        self._check_roles(payload)
        mirror = self._mirror(get_account_id(), get_region())

        def store(rule: Any) -> dict[str, Any]:
            record = {
                "ruleName": name,
                "sql": payload.get("sql", ""),
                "actions": payload.get("actions", []) or [],
                "ruleDisabled": bool(payload.get("ruleDisabled", False)),
                "awsIotSqlVersion": rule.sql_version.value,
                "description": payload.get("description", ""),
                "errorAction": payload.get("errorAction"),
                "createdAt": created_at if created_at is not None else time.time(),
            }
            iot._topic_rules[name] = record
            return record

        try:
            record: dict[str, Any] = mirror.put(name, payload, store)  # type: ignore[assignment]
            return record
        except IotSqlError as err:
            # ministack's handlers (API and CloudFormation) answer RuleSqlError with
            # SqlParseException and RuleRepublishError with InvalidRequestException.
            refusal = (
                iot.RuleSqlError if topic_rule_error_code(err) == SQL_PARSE
                else iot.RuleRepublishError
            )  # fmt: skip
            raise refusal(str(err)) from err

    def _check_roles(self, payload: Mapping[str, Any]) -> None:
        """ministack's own check of the actions' role ARNs (it only checks under AUTH=true)."""
        from ministack.core.iam_evaluator import validate_role_arn

        for action in payload.get("actions") or []:
            if not isinstance(action, Mapping):
                continue
            for spec in action.values():
                if (
                    isinstance(spec, Mapping)
                    and "roleArn" in spec
                    and validate_role_arn(spec["roleArn"])
                ):
                    raise self.iot.RuleRoleError(f"Unable to assume role: {spec['roleArn']}")

    # ---- data plane ----------------------------------------------------------------------------

    def _wrap_http_publish(self, original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)

        @functools.wraps(original)
        async def publish(*args: Any, **kwargs: Any) -> Any:
            arguments = signature.bind(*args, **kwargs).arguments
            refusal = self._http_refusal(arguments.get("topic"), arguments.get("body") or b"")
            if refusal is not None:
                return refusal
            token = _ORIGIN.set(HTTP)
            try:
                return await original(*args, **kwargs)
            finally:
                _ORIGIN.reset(token)

        return publish

    def _http_refusal(self, topic: Any, body: Any) -> Any:
        """The error response AWS IoT answers an iot-data Publish with when the broker would
        refuse the message (a topic or body over a limit, a null character), before ministack
        delivers it to subscribers and answers 200: iotsql's moto host does the same."""
        from ministack.core.responses import error_response_json, get_account_id, get_region

        try:
            self.engine(get_account_id(), get_region()).check_publish(str(topic), body)
        except IotSqlError as err:
            return error_response_json(err.code or INVALID_REQUEST, str(err), err.http_status)
        return None

    def _wrap_broker_publish(self, original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)

        @functools.wraps(original)
        async def broker_publish(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            info = _Publish(
                topic=str(arguments["topic"]),
                origin=_ORIGIN.get(),
                client_id=arguments.get("client_id"),
                principal=arguments.get("principal"),
                properties=bytes(arguments.get("properties") or b""),
                depth=_DEPTH.get(),
            )
            origin_token = _ORIGIN.set(MQTT)
            token = _PUBLISH.set(info)
            try:
                if info.topic.startswith(BASIC_INGEST_PREFIX):
                    # Basic Ingest: only the named rule sees the message, no subscriber does.
                    await self.evaluate(
                        arguments["account_id"], arguments["region"], info, arguments["payload"]
                    )
                    return None
                return await original(*args, **kwargs)
            finally:
                _PUBLISH.reset(token)
                _ORIGIN.reset(origin_token)

        return broker_publish

    async def _evaluate_topic_rules(
        self,
        account_id: str,
        region: str,
        topic: str,
        payload: bytes,
        client_id: str | None = None,
    ) -> None:
        info = _PUBLISH.get()
        if info is None or info.topic != topic:  # not reached through broker_publish
            info = _Publish(topic, MQTT, client_id, None, b"", _DEPTH.get())
        await self.evaluate(account_id, region, info, payload)

    async def _run_rule_actions(
        self,
        account_id: str,
        region: str,
        rule: Any,
        payload: bytes,
        topic: str = "",
        client_id: str | None = None,
    ) -> None:
        self.ministack_evaluator_calls += 1
        name = rule.get("ruleName") if isinstance(rule, dict) else None
        logger.error(
            "ministack %s called its own rules evaluator for rule %s; iotsql evaluates the rule "
            "instead. Please report this with the ministack version.", self.version, name,
        )  # fmt: skip
        if name:
            full = f"{BASIC_INGEST_PREFIX}{name}" + (f"/{topic}" if topic else "")
            info = _Publish(full, MQTT, client_id, None, b"", _DEPTH.get())
            await self.evaluate(account_id, region, info, payload)

    def _wrap_reset(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def reset(*args: Any, **kwargs: Any) -> Any:
            try:
                return original(*args, **kwargs)
            finally:
                self.reset()

        return reset

    async def evaluate(
        self, account_id: str, region: str, info: _Publish, payload: bytes | None
    ) -> None:
        """Run the publish `info` through the rules of (account_id, region)."""
        engine = self._sync(account_id, region)
        if not engine.rules:
            return
        self._loop = asyncio.get_running_loop()
        context = self._context(account_id, info)
        try:
            await _off_loop(self._publish, engine, info.topic, payload or b"", context)
        except IotSqlError as err:  # a topic or payload the rules engine refuses (over a limit)
            logger.warning(
                "iotsql did not evaluate the rules of account %s (%s) on %r: %s",
                account_id, region, info.topic, err,
            )  # fmt: skip

    def _publish(self, engine: RulesEngine, topic: str, payload: bytes, context: Any) -> None:
        try:
            engine.publish(topic, payload, context)
        finally:
            self.dead_letters.collect(engine)

    def _context(self, account_id: str, info: _Publish) -> Any:
        """What the rules see. A republished message is a new data-plane publish, as on AWS
        (docs/semantics.md): `clientid()` `n/a`, no trace id, no source IP; its properties are
        the action's headers and its principal the rule role's session."""
        user_properties, mqtt_properties = self._properties(info.properties)
        return publish_context(
            protocol=MQTT if info.origin == MQTT else HTTP,
            clientid=info.client_id,
            principal=info.principal,
            sourceip=None if info.origin == REPUBLISH else self.iot._publish_source_ip.get(),
            accountid=account_id,
            user_properties=user_properties,
            mqtt_properties=mqtt_properties,
        )

    def _properties(self, block: bytes) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """The MQTT 5 properties ministack forwards, as iotsql's context keys."""
        if not block:
            return [], {}
        try:
            decoded, _ = self.iot._decode_properties(block, 0)
            return Mqtt5Properties.from_identifiers(decoded).context_properties()
        except (ValueError, IndexError, TypeError):  # a block ministack could not make sense of
            return [], {}

    def republish_properties(self, arguments: Mapping[str, Any]) -> bytes:
        """The MQTT 5 property block of a republish action's headers (iot-data Publish
        arguments, as iotsql renders them), in ministack's encoding."""
        props = mqtt5_properties(arguments).identifiers()
        return bytes(self.iot._encode_properties(props)) if props else b""


def _wrap_rule_request(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def handle(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except RecursionError:  # json.loads of the body, in ministack's _parse_body
            from ministack.core.responses import error_response_json

            return error_response_json(INVALID_REQUEST, "the request body is nested too deeply")

    return handle


def _payload(record: object) -> Mapping[str, Any]:
    """The topicRulePayload of one of ministack's stored rule records."""
    assert isinstance(record, dict)
    keys = ("sql", "awsIotSqlVersion", "ruleDisabled", "description", "actions", "errorAction")
    return {key: record[key] for key in keys if record.get(key) is not None}


def _disabled(record: object) -> bool:
    return isinstance(record, dict) and bool(record.get("ruleDisabled"))


def _uses_tls() -> bool:
    return os.environ.get("USE_SSL", "").strip().lower() in ("1", "true", "yes")


# ---- sinks ----------------------------------------------------------------------------------------


class _Dispatch:
    """sqs, sns, dynamoDBv2 and lambda through ministack's own dispatcher functions, run on its
    event loop. Called inline in the publish thread (`instant`: it waits for the loop itself,
    with the engine's action time-out)."""

    instant = True

    def __init__(self, host: MinistackHost, account_id: str, region: str, action_type: str):
        self.host = host
        self.account_id = account_id
        self.region = region
        self.action_type = action_type

    #: What each dispatcher needs, and the words of its failure: ministack's dispatchers log
    #: and skip a message whose target is empty (a template that rendered to nothing), which
    #: would count as delivered; iotsql fails the action instead (error action, dead letter).
    _TARGETS: Final = {
        "sqs": (("queueUrl",), "Failed to send message to SQS: the queue URL is empty"),
        "sns": (("targetArn",), "Failed to publish to SNS: the target ARN is empty"),
        "dynamoDBv2": (("putItem", "tableName"),
                       "Failed to put DynamoDB item: the table name is empty"),
    }  # fmt: skip

    def __call__(self, request: ActionRequest) -> None:
        iot = self.host.iot
        account, region, rule = self.account_id, self.region, request.rule_name
        params = dict(request.params)
        kind = self.action_type
        target = self._TARGETS.get(kind)
        if target is not None:
            path, empty = target
            value: Any = params
            for key in path:
                value = value.get(key) if isinstance(value, Mapping) else None
            if not value:
                raise ActionError(empty)
        call: Callable[[], Any]
        if kind == "sqs":
            url = str(params.get("queueUrl") or "")
            if url.endswith(".fifo"):
                raise ActionError(
                    f"Failed to send message to SQS: the SQS action does not support FIFO queues "
                    f"({url})"
                )
            body = request.request["arguments"]["MessageBody"]  # already base64 if useBase64
            spec = {**params, "useBase64": False}

            def call() -> Any:
                return iot._dispatch_rule_sqs(account, region, rule, spec, body)

        elif kind == "lambda":
            event = _json_event(request, "Failed to invoke lambda function")
            arn = str(params.get("functionArn") or "")

            def call() -> Any:
                from ministack.services import lambda_svc

                found = lambda_svc._get_func_record_for_ref_in_scope(
                    arn, account_id=account, region=region
                )
                if not found[0] or not found[1]:  # ministack's dispatcher only logs this
                    raise ActionError(
                        "Failed to invoke lambda function. The error received was "
                        f"Function not found: {arn}"
                    )
                return iot._dispatch_rule_to_lambda(account, region, arn, event)

        else:
            what = "Failed to publish to SNS" if kind == "sns" else "Failed to put DynamoDB item"
            event = _json_event(request, what)
            dispatch = iot._dispatch_rule_sns if kind == "sns" else iot._dispatch_rule_dynamodb

            def call() -> Any:
                return dispatch(account, region, rule, params, event)

        self.host.on_loop(call, kind)


def _json_event(request: ActionRequest, what: str) -> Any:
    """The payload as the JSON value ministack's dispatchers serialise again themselves."""
    try:
        return json.loads(request.payload)
    except (ValueError, UnicodeDecodeError):
        raise ActionError(
            f"{what}: ministack's dispatcher for this action only carries JSON payloads"
        ) from None


class _Republish:
    """republish into ministack's broker, through the broker's own publish: subscribers and the
    rules of the account get the message with iotsql's exact bytes, QoS and MQTT 5 headers, and
    `principal()` is the rule role's session, as ministack's own republish does."""

    instant = True

    def __init__(self, host: MinistackHost, account_id: str, region: str) -> None:
        self.host = host
        self.account_id = account_id
        self.region = region

    def __call__(self, request: ActionRequest) -> None:
        host, iot = self.host, self.host.iot
        arguments = request.request["arguments"]
        current = _PUBLISH.get()
        depth = current.depth if current is not None else 0
        limit = host.limits.max_republish_depth
        if depth >= limit:
            raise ActionError(
                f"republish loop stopped: the message was republished {depth} times (limit {limit})"
            )
        properties = host.republish_properties(arguments)
        role = str(request.params.get("roleArn") or "")

        async def publish() -> None:
            token = _DEPTH.set(depth + 1)
            origin = _ORIGIN.set(REPUBLISH)
            try:
                await iot.broker_publish(
                    self.account_id, self.region, arguments["topic"], arguments["payload"],
                    qos=int(arguments.get("qos") or 0), properties=properties,
                    principal=iot._rule_role_principal(self.account_id, role),
                )  # fmt: skip
            finally:
                _ORIGIN.reset(origin)
                _DEPTH.reset(token)

        host.on_loop(publish, "republish")


class _LazyBoto3Sink:
    """The boto3 sink of one account and region at ministack's gateway, made on first use (boto3
    is imported then). It signs with the account id as the access key, which is how ministack
    tells its accounts apart."""

    def __init__(self, host: MinistackHost, account_id: str, region: str) -> None:
        self.host = host
        self.account_id = account_id
        self.region = region
        self._sink: Boto3Sink | None = None
        self._lock = threading.Lock()

    def sink(self) -> Boto3Sink:
        with self._lock:
            if self._sink is None:
                self._sink = Boto3Sink.for_emulator(
                    self.host.endpoint_url, region_name=self.region, access_key_id=self.account_id
                )
            return self._sink

    def __call__(self, request: ActionRequest) -> Any:
        return self.sink()(request)


class _Undeliverable:
    """An action type that no ministack service receives: it fails (error action, dead letter)."""

    instant = True

    def __init__(self, action_type: str) -> None:
        self.action_type = action_type

    def __call__(self, request: ActionRequest) -> None:
        raise ActionError(
            f"ministack has no service that receives {self.action_type} actions; give "
            f"iotsql.ministack.install(sinks={{{self.action_type!r}: ...}}) a sink for them"
        )
