"""`RulesEngine`: topic rules by name, routing of each publish to the rules whose FROM filter
matches (or the one a Basic Ingest topic names), evaluation, dispatch of every action to the
sink registered for its type, error actions, a dead-letter list for what nothing could take, and
a loop guard for republish actions that feed the engine again."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotsql.actions.base import ActionRequest, Sink
from iotsql.actions.recording import Recorder
from iotsql.errors import (
    IotSqlError,
    LimitExceededError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    RuleValidationError,
)
from iotsql.limits import DEFAULT_LIMITS, Limits
from iotsql.message import Context, Message
from iotsql.rule import BoundAction, Output, TopicRule
from iotsql.topics import (
    TopicIndex,
    filter_matches,
    parse_basic_ingest,
    validate_filter,
    validate_topic,
)

#: The entry-point group through which packages provide sinks: `<action type> = module:factory`.
SINK_ENTRY_POINTS = "iotsql.sinks"


# ---- reports ----------------------------------------------------------------------------------


@dataclass
class ActionReport:
    """What happened to one action: the request handed to the sink, and the outcome."""

    rule_name: str
    action_type: str
    request: ActionRequest | None
    ok: bool
    error: str | None = None
    result: Any = None
    is_error_action: bool = False
    resource: str = ""
    failed_action: str = ""


@dataclass
class RuleReport:
    """One matched rule: whether it fired, its output, its actions, its error action."""

    rule_name: str
    fired: bool
    output: Output | None = None
    actions: list[ActionReport] = field(default_factory=list)
    error_action: ActionReport | None = None
    error: str | None = None

    @property
    def failures(self) -> list[ActionReport]:
        return [a for a in self.actions if not a.ok]


@dataclass
class PublishReport:
    """Everything one publish caused, including the messages its republish actions fed back."""

    topic: str
    message: Message
    rules: list[RuleReport] = field(default_factory=list)
    republished: list[PublishReport] = field(default_factory=list)
    basic_ingest: bool = False

    @property
    def fired(self) -> list[str]:
        """Names of the rules that fired on this message (not on republished ones)."""
        return [r.rule_name for r in self.rules if r.fired]

    @property
    def requests(self) -> list[ActionRequest]:
        """Every request handed to a sink, republished messages included."""
        own = [a.request for r in self.rules for a in (*r.actions, *_opt(r.error_action))
               if a.request is not None]  # fmt: skip
        return own + [req for sub in self.republished for req in sub.requests]

    @property
    def failures(self) -> list[ActionReport]:
        own = [a for r in self.rules for a in (*r.actions, *_opt(r.error_action)) if not a.ok]
        return own + [f for sub in self.republished for f in sub.failures]

    @property
    def errors(self) -> list[RuleReport]:
        """Rules whose evaluation failed (an external function that could not be called)."""
        own = [r for r in self.rules if r.error is not None]
        return own + [e for sub in self.republished for e in sub.errors]


def _opt(item: ActionReport | None) -> tuple[ActionReport, ...]:
    return () if item is None else (item,)


@dataclass
class DeadLetter:
    """A message whose actions failed with no error action to take the failure, or whose error
    action failed too, or whose rule could not be evaluated. `requests` are the failed requests,
    ready to be replayed."""

    rule_name: str
    topic: str
    message: Message
    failures: list[ActionReport]
    error_action_failure: ActionReport | None = None
    evaluation_error: str | None = None
    requests: list[ActionRequest] = field(default_factory=list)
    at: float = field(default_factory=time.time)


# ---- the engine -------------------------------------------------------------------------------


class RulesEngine:
    """The AWS IoT rules engine, in process.

        engine = RulesEngine()
        engine.create_topic_rule("HighTemp", {"sql": "SELECT * FROM 'sensors/+' WHERE t > 30",
                                              "actions": [{"sqs": {...}}]})
        report = engine.publish("sensors/a", b'{"t": 31}')
        engine.recorder["sqs"].bodies   # what the sqs action received

    Actions go to the sink registered for their type (`register_sink`); without one, to the
    recorder (`engine.recorder`), except `republish`, which also publishes into this engine.
    """

    def __init__(
        self,
        *,
        sinks: Mapping[str, Sink] | None = None,
        provider: Any = None,
        limits: Limits | None = None,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        plugins: bool = False,
        feed_back_republish: bool | None = None,
    ) -> None:
        self.limits = limits or DEFAULT_LIMITS
        self.provider = provider
        self.account_id = account_id
        self.region = region
        self.recorder = Recorder()
        self.dead_letters: list[DeadLetter] = []
        self._rules: dict[str, TopicRule] = {}
        self._index: TopicIndex[str] = TopicIndex(self.limits)
        self._sinks: dict[str, Sink] = {}
        self._subscribers: list[tuple[str, Callable[..., Any]]] = []
        self._feed_back = feed_back_republish
        self._lock = threading.RLock()
        self._dead_lock = threading.Lock()
        if plugins:
            self.load_sink_plugins()
        for action_type, sink in (sinks or {}).items():
            self.register_sink(action_type, sink)

    # ---- rules ------------------------------------------------------------------------------

    def create_topic_rule(self, name: str, payload: Mapping[str, Any]) -> TopicRule:
        """CreateTopicRule: validate and store a rule; it fails if the name is taken."""
        rule = TopicRule(name, payload, limits=self.limits, account_id=self.account_id,
                         region=self.region)  # fmt: skip
        with self._lock:
            if name in self._rules:
                raise ResourceAlreadyExistsError(f"rule {name} already exists")
            self._store(rule)
        return rule

    def replace_topic_rule(self, name: str, payload: Mapping[str, Any]) -> TopicRule:
        """ReplaceTopicRule: swap a rule's definition (it keeps its creation time)."""
        with self._lock:
            old = self._require(name)
        rule = TopicRule(name, payload, limits=self.limits, account_id=self.account_id,
                         region=self.region, created_at=old.created_at)  # fmt: skip
        with self._lock:
            self._unstore(self._require(name))
            self._store(rule)
        return rule

    def delete_topic_rule(self, name: str) -> None:
        with self._lock:
            self._unstore(self._require(name))

    def enable_topic_rule(self, name: str) -> None:
        with self._lock:
            self._require(name).disabled = False

    def disable_topic_rule(self, name: str) -> None:
        with self._lock:
            self._require(name).disabled = True

    def get_topic_rule(self, name: str) -> dict[str, Any]:
        """The GetTopicRule response (`ruleArn`, `rule`)."""
        return self._require(name).to_get_topic_rule()

    def rule(self, name: str) -> TopicRule:
        return self._require(name)

    def list_topic_rules(
        self, topic: str | None = None, rule_disabled: bool | None = None
    ) -> list[dict[str, Any]]:
        """The ListTopicRules entries, optionally only rules for a topic or with a state."""
        with self._lock:
            rules = list(self._rules.values())
        out = []
        for rule in sorted(rules, key=lambda r: r.name):
            if rule_disabled is not None and rule.disabled != rule_disabled:
                continue
            if topic is not None and rule.topic_filter != topic:
                continue
            entry = rule.to_get_topic_rule()
            out.append({
                "ruleArn": rule.arn, "ruleName": rule.name, "topicPattern": rule.topic_filter,
                "createdAt": entry["rule"]["createdAt"], "ruleDisabled": rule.disabled,
            })  # fmt: skip
        return out

    @property
    def rules(self) -> dict[str, TopicRule]:
        with self._lock:
            return dict(self._rules)

    def load_rules(
        self,
        source: Any,
        *,
        replace: bool = False,
        format: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> list[TopicRule]:
        """Create every rule in `source`, a path, text or decoded JSON in any format
        `iotsql.load_rules` reads (iotsql/loaders): CloudFormation and SAM templates,
        serverless.yml, Terraform `.tf` files and `terraform show -json` output, or the AWS CLI's
        JSON (a `get-topic-rule` output, a `create-topic-rule` input with `ruleName` and
        `topicRulePayload`, a list of those, `{"rules": [...]}`, an object mapping names to
        payloads). Errors name the file and the field in it."""
        from iotsql.loaders import load_rules as load_definitions

        created = []
        for loaded in load_definitions(source, format, parameters=parameters, validate=False):
            try:
                if replace and loaded.name in self._rules:
                    created.append(self.replace_topic_rule(loaded.name, loaded.payload))
                else:
                    created.append(self.create_topic_rule(loaded.name, loaded.payload))
            except ResourceAlreadyExistsError as err:
                raise ResourceAlreadyExistsError(f"{err} ({loaded.source})") from None
            except IotSqlError as err:
                raise loaded.locate(err) from err
        return created

    def _require(self, name: str) -> TopicRule:
        rule = self._rules.get(name)
        if rule is None:
            raise ResourceNotFoundError(f"rule {name} does not exist")
        return rule

    def _store(self, rule: TopicRule) -> None:
        rules = dict(self._rules)
        rules[rule.name] = rule
        if rule.topic_filter is not None:
            self._index.add(rule.topic_filter, rule.name)
        self._rules = rules

    def _unstore(self, rule: TopicRule) -> None:
        rules = dict(self._rules)
        del rules[rule.name]
        if rule.topic_filter is not None:
            self._index.remove(rule.topic_filter, rule.name)
        self._rules = rules

    # ---- sinks and subscribers --------------------------------------------------------------

    def register_sink(self, action_type: str, sink: Sink) -> None:
        """Send the requests of `action_type` (`sqs`, `republish`...) to `sink`."""
        if not callable(sink):
            raise TypeError(f"a sink must be callable with an ActionRequest, not {sink!r}")
        with self._lock:
            self._sinks[action_type] = sink

    def sink_for(self, action_type: str) -> Sink:
        sink = self._sinks.get(action_type)
        return sink if sink is not None else self.recorder.sink(action_type)

    def load_sink_plugins(self) -> list[str]:
        """Register the sinks that installed packages offer in the `iotsql.sinks` entry-point
        group; returns the action types registered."""
        from importlib.metadata import entry_points

        loaded = []
        for entry in entry_points(group=SINK_ENTRY_POINTS):
            factory = entry.load()
            sink = factory() if inspect.isclass(factory) or not _is_sink(factory) else factory
            self.register_sink(entry.name, sink)
            loaded.append(entry.name)
        return loaded

    def subscribe(self, topic_filter: str, callback: Callable[[str, bytes, Context], Any]) -> None:
        """Deliver every broker message (publishes and republishes, not Basic Ingest) whose
        topic matches `topic_filter` to `callback(topic, payload, context)`."""
        validate_filter(topic_filter, self.limits)
        with self._lock:
            self._subscribers = [*self._subscribers, (topic_filter, callback)]

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        with self._lock:
            self._subscribers = [(f, c) for f, c in self._subscribers if c is not callback]

    # ---- publishing -------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: Any,
        context: Context | Mapping[str, Any] | None = None,
    ) -> PublishReport:
        """Route one message through every matching enabled rule and dispatch their actions.
        Messages that republish actions feed back are processed before this returns, as
        `report.republished`."""
        report = self._publish_one(topic, payload, context, 0)
        if not self._feeds_back():
            return report
        pending = deque([report])
        while pending:
            current = pending.popleft()
            for request in _republish_requests(current):
                sub = self._publish_one(
                    _republish_topic(request), _republish_payload(request),
                    request.message.context, request.depth + 1,
                )  # fmt: skip
                current.republished.append(sub)
                pending.append(sub)
        return report

    def _feeds_back(self) -> bool:
        """Republished messages re-enter this engine unless a custom republish sink (a real
        broker, say) took them, which would publish them back itself."""
        if self._feed_back is not None:
            return self._feed_back
        return "republish" not in self._sinks

    async def publish_async(
        self,
        topic: str,
        payload: Any,
        context: Context | Mapping[str, Any] | None = None,
    ) -> PublishReport:
        """`publish` for asyncio servers: evaluation runs in a worker thread so the event loop
        never waits on rules or sinks, and concurrent publishes proceed independently."""
        return await asyncio.to_thread(self.publish, topic, payload, context)

    def _publish_one(
        self, topic: str, payload: Any, context: Context | Mapping[str, Any] | None, depth: int
    ) -> PublishReport:
        validate_topic(topic, self.limits)
        message = Message(payload, topic, context)
        size = len(message.body)
        if size > self.limits.max_payload_bytes:
            raise LimitExceededError("payload size (bytes)", size, self.limits.max_payload_bytes)
        ingest = parse_basic_ingest(topic)
        report = PublishReport(topic, message, basic_ingest=ingest is not None)
        rules = self._rules
        if ingest is not None:
            target = rules.get(ingest.rule_name)
            matched = [target] if target is not None else []
            effective = ingest.topic
        else:
            with self._lock:
                names = self._index.match(topic)
            matched = [rules[n] for n in names if n in rules]
            effective = topic
        for rule in matched:
            if rule.disabled:
                continue
            report.rules.append(self._run_rule(rule, message, effective, depth))
        if ingest is None:
            self._notify_subscribers(topic, message)
        return report

    def _notify_subscribers(self, topic: str, message: Message) -> None:
        for topic_filter, callback in self._subscribers:
            if filter_matches(topic_filter, topic):
                try:
                    callback(topic, message.body, message.context)
                except Exception:  # a subscriber's failure is its own; the publish stands
                    continue

    def _run_rule(self, rule: TopicRule, message: Message, topic: str, depth: int) -> RuleReport:
        variables: list[Any] = []
        try:
            output = rule.compiled.run(
                message, topic, provider=self.provider, rule_name=rule.name,
                variables_out=variables,
            )  # fmt: skip
        except IotSqlError as err:
            report = RuleReport(rule.name, False, error=str(err))
            self._bury(DeadLetter(rule.name, message.topic, message, [], evaluation_error=str(err)))
            return report
        if output is None:
            return RuleReport(rule.name, False)
        report = RuleReport(rule.name, True, output)
        for action in rule.actions:
            report.actions.append(
                self._perform(rule, action, output, message, topic, variables, depth, False)
            )
        failures = report.failures
        if not failures:
            return report
        if rule.error_action is None:
            self._bury(DeadLetter(rule.name, message.topic, message, failures,
                                  requests=[f.request for f in failures if f.request]))  # fmt: skip
            return report
        error_message = error_action_message(rule.name, message, failures)
        handled = self._perform(
            rule, rule.error_action, Output(None, error_message), message, topic, variables,
            depth, True,
        )  # fmt: skip
        report.error_action = handled
        if not handled.ok:
            self._bury(DeadLetter(rule.name, message.topic, message, failures, handled,
                                  requests=[f.request for f in failures if f.request]))  # fmt: skip
        return report

    def _perform(
        self,
        rule: TopicRule,
        action: BoundAction,
        output: Output,
        message: Message,
        topic: str,
        variables: list[Any],
        depth: int,
        is_error_action: bool,
    ) -> ActionReport:
        kind = action.action_type
        resource = ""
        try:
            params = action.render_params(
                message, topic, variables, self.provider, rule.sql_version.value
            )
            resource = kind.resource(params)
            body = output.to_bytes()
            if output.is_binary and not kind.supports_binary:
                raise ValueError(f"{kind.shape} does not support binary payloads")
            delivered, downstream = kind.render(
                params, body, None if is_error_action else output, message
            )
        except Exception as err:  # a rendering failure is this action's failure, not the rule's
            return ActionReport(rule.name, action.key, None, False, _describe(err),
                                is_error_action=is_error_action, resource=resource,
                                failed_action=kind.shape)  # fmt: skip
        request = ActionRequest(
            rule_name=rule.name, action_type=action.key, params=params, payload=delivered,
            message=message, topic=topic, request=downstream,
            output=None if is_error_action else output, is_error_action=is_error_action,
            depth=depth,
        )  # fmt: skip
        if action.key == "republish" and depth >= self.limits.max_republish_depth:
            return ActionReport(
                rule.name, action.key, request, False,
                f"republish loop stopped: the message was republished {depth} times "
                f"(limit {self.limits.max_republish_depth})",
                is_error_action=is_error_action, resource=resource, failed_action=kind.shape,
            )  # fmt: skip
        sink = self.sink_for(action.key)
        try:
            result = sink(request)
        except Exception as err:
            return ActionReport(rule.name, action.key, request, False, _describe(err),
                                is_error_action=is_error_action, resource=resource,
                                failed_action=kind.shape)  # fmt: skip
        return ActionReport(rule.name, action.key, request, True, None, result,
                            is_error_action, resource, kind.shape)  # fmt: skip

    # ---- dead letters -----------------------------------------------------------------------

    def _bury(self, letter: DeadLetter) -> None:
        with self._dead_lock:
            self.dead_letters.append(letter)

    def drain_dead_letters(self) -> list[DeadLetter]:
        """Remove and return every dead letter."""
        with self._dead_lock:
            letters, self.dead_letters = self.dead_letters, []
        return letters

    def replay_dead_letter(self, letter: DeadLetter) -> list[ActionReport]:
        """Hand a dead letter's failed requests to the sinks registered now; the ones that fail
        again go back to the dead-letter list."""
        reports = []
        still_failing = []
        for request in letter.requests:
            try:
                result = self.sink_for(request.action_type)(request)
            except Exception as err:
                failed = ActionReport(letter.rule_name, request.action_type, request, False,
                                      _describe(err))  # fmt: skip
                reports.append(failed)
                still_failing.append(failed)
            else:
                reports.append(ActionReport(letter.rule_name, request.action_type, request, True,
                                            result=result))  # fmt: skip
        if still_failing:
            self._bury(DeadLetter(letter.rule_name, letter.topic, letter.message, still_failing,
                                  requests=[f.request for f in still_failing if f.request]))  # fmt: skip
        return reports


def _is_sink(value: Any) -> bool:
    try:
        params = list(inspect.signature(value).parameters.values())
    except (TypeError, ValueError):
        return True
    return len(params) >= 1


def _describe(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def error_action_message(
    rule_name: str, message: Message, failures: Iterable[ActionReport]
) -> bytes:
    """The error-action message of rule-error-handling.md: one per rule and message."""
    context = message.context
    body: dict[str, Any] = {
        "ruleName": rule_name,
        "topic": message.topic,
        "cloudwatchTraceId": str(uuid.uuid4()),
    }
    if not context.over_mqtt:
        body["clientId"] = "n/a"
    elif context.clientid is not None:
        body["clientId"] = context.clientid
    body["base64OriginalPayload"] = base64.b64encode(message.body).decode("ascii")
    body["failures"] = [
        {"failedAction": f.failed_action, "failedResource": f.resource,
         "errorMessage": f.error or "unknown error"}
        for f in failures
    ]  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _republish_requests(report: PublishReport) -> list[ActionRequest]:
    out = []
    for rule in report.rules:
        for action in (*rule.actions, *_opt(rule.error_action)):
            if action.ok and action.request is not None and action.action_type == "republish":
                out.append(action.request)
    return out


def _republish_topic(request: ActionRequest) -> str:
    arguments = request.request.get("arguments", {})
    topic = arguments.get("topic") if isinstance(arguments, Mapping) else None
    return str(topic if topic is not None else request.params.get("topic", ""))


def _republish_payload(request: ActionRequest) -> bytes:
    return request.payload


# ---- loading rule definitions ------------------------------------------------------------------


def iter_rule_definitions(source: Any) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """(name, topicRulePayload) pairs from the JSON shapes `RulesEngine.load_rules` accepts."""
    data = source
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith(("{", "["))
    ):
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RuleValidationError(f"no such file: {path}", str(path)) from None
        except json.JSONDecodeError as err:
            raise RuleValidationError(
                f"invalid JSON: {err.msg} (line {err.lineno})", str(path)
            ) from None
    elif isinstance(source, (str, bytes)):
        try:
            data = json.loads(source)
        except json.JSONDecodeError as err:
            raise RuleValidationError(
                f"invalid JSON: {err.msg} (line {err.lineno})", "rules"
            ) from None
    yield from _definitions(data, "rules")


def _definitions(data: Any, where: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield from _definitions(item, f"{where}[{index}]")
        return
    if not isinstance(data, Mapping):
        raise RuleValidationError("a rule definition must be a JSON object", where)
    if "rules" in data and isinstance(data["rules"], list):
        yield from _definitions(data["rules"], f"{where}.rules")
        return
    if isinstance(data.get("rule"), Mapping):  # get-topic-rule output
        rule = dict(data["rule"])
        name = rule.pop("ruleName", None) or str(data.get("ruleArn", "")).rpartition("/")[2]
        if not name:
            raise RuleValidationError("the rule has no ruleName", f"{where}.rule.ruleName")
        for extra in ("createdAt",):
            rule.pop(extra, None)
        yield name, rule
        return
    if "topicRulePayload" in data:  # create-topic-rule input
        name = data.get("ruleName")
        if not isinstance(name, str):
            raise RuleValidationError("ruleName is required", f"{where}.ruleName")
        yield name, data["topicRulePayload"]
        return
    if "sql" in data:
        name = data.get("ruleName") or data.get("name")
        if not isinstance(name, str):
            raise RuleValidationError("a rule payload needs a ruleName", f"{where}.ruleName")
        payload = {k: v for k, v in data.items() if k not in ("ruleName", "name")}
        yield name, payload
        return
    for name, payload in data.items():  # {"RuleName": {...payload...}}
        if not isinstance(payload, Mapping):
            raise RuleValidationError("expected a topic rule payload object", f"{where}.{name}")
        yield str(name), payload
