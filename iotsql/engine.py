"""`RulesEngine`: topic rules by name, routing of each publish to the rules whose FROM filter
matches (or the one a Basic Ingest topic names), evaluation, dispatch of every action to the
sink registered for its type, error actions, a dead-letter list for what nothing could take, and
a loop guard for republish actions that feed the engine again."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import inspect
import json
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from inspect import isawaitable
from itertools import islice
from pathlib import Path
from threading import get_ident
from typing import Any, Literal, overload

from iotsql import report_text
from iotsql.actions.base import ActionRequest, ActionType, Sink, unrendered_request
from iotsql.actions.recording import Recorder
from iotsql.actions.types import republished_context
from iotsql.budget import (
    PublishBudget,
    current_budget,
    pause_budget,
    start_budget,
    stop_budget,
)
from iotsql.codegen import NOT_FIRED
from iotsql.delivery import (
    CALLER_LOOP,
    EventLoopThread,
    SinkCall,
    SinkThreads,
    describe,
    is_coroutine_sink,
    is_instant,
    run_to_completion,
)
from iotsql.errors import (
    BudgetExceededError,
    DeadLetterWarning,
    IotSqlError,
    PayloadTooLargeError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    RuleTerminatedError,
)
from iotsql.limits import DEFAULT_LIMITS, Limits, current_limits, pop_limits, push_limits
from iotsql.message import _EMPTY_CONTEXT, DEFAULT_ACCOUNT_ID, Context, ContextRun, Message, Run
from iotsql.output import Output
from iotsql.rule import BoundAction, TopicRule
from iotsql.topic_rule_destinations import TopicRuleDestinations
from iotsql.topics import (
    TopicIndex,
    filter_matches,
    parse_basic_ingest,
    validate_filter,
    validate_topic,
)
from iotsql.values import NO_RAW, UNDEFINED, AmbiguousNumber, codec

#: The entry-point group through which packages provide sinks: `<action type> = module:factory`.
SINK_ENTRY_POINTS = "iotsql.sinks"


# ---- reports ----------------------------------------------------------------------------------
#
# repr() of a report is one line and str() a summary of one screen (iotsql/report_text.py): a
# republish loop nests a dozen reports, whose dataclass reprs ran to thousands of characters.


@dataclass(repr=False)
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

    def __repr__(self) -> str:
        return report_text.action_repr(self)

    def __str__(self) -> str:
        return report_text.action_text(self)


@dataclass(repr=False)
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

    def __repr__(self) -> str:
        return report_text.rule_repr(self)

    def __str__(self) -> str:
        return report_text.rule_text(self)


@dataclass(repr=False)
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

    def __repr__(self) -> str:
        return report_text.publish_repr(self)

    def __str__(self) -> str:
        return report_text.publish_text(self)


def _opt(item: ActionReport | None) -> tuple[ActionReport, ...]:
    return () if item is None else (item,)


@dataclass(repr=False)
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

    def __repr__(self) -> str:
        return report_text.dead_letter_repr(self)

    def __str__(self) -> str:
        return report_text.dead_letter_text(self)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly record of the letter, what a dead-letter file holds (one per line):
        the message (body in base64, context), the failures and the failed requests
        (`ActionRequest.to_json()`)."""
        context = self.message.context
        return {
            "ruleName": self.rule_name,
            "topic": self.topic,
            "at": self.at,
            "message": {
                "topic": self.message.topic,
                "base64Payload": base64.b64encode(self.message.body).decode("ascii"),
                "context": {
                    "clientid": context.clientid, "principal": context.principal,
                    "timestamp": context.timestamp, "accountid": context.accountid,
                    "sourceip": context.sourceip, "traceid": context.traceid,
                    "protocol": context.protocol,
                    "userProperties": [list(pair) for pair in context.user_properties],
                    "mqttProperties": dict(context.mqtt_properties),
                },
            },
            "failures": [_failure_json(f) for f in self.failures],
            "errorActionFailure": (None if self.error_action_failure is None
                                   else _failure_json(self.error_action_failure)),
            "evaluationError": self.evaluation_error,
            "requests": [request.to_json() for request in self.requests],
        }  # fmt: skip


def _failure_json(report: ActionReport) -> dict[str, Any]:
    return {"ruleName": report.rule_name, "action": report.action_type,
            "errorAction": report.is_error_action, "error": report.error}  # fmt: skip


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
        dead_letter_file: str | Path | None = None,
        require_destinations: bool | None = None,
    ) -> None:
        self.limits = DEFAULT_LIMITS if limits is None or limits == DEFAULT_LIMITS else limits
        #: Where dead letters past `Limits.max_dead_letters` go, oldest first, as JSON lines
        #: (`DeadLetter.to_json()`); without it they are dropped and counted.
        self.dead_letter_file = None if dead_letter_file is None else Path(dead_letter_file)
        self.spilled_dead_letters = 0
        self.dropped_dead_letters = 0
        self.provider = provider
        self.account_id = account_id
        self.region = region
        self._account_context: Context | None = None  # an empty context in this account
        self._recorder = Recorder()
        self.dead_letters: list[DeadLetter] = []
        self._rules: dict[str, TopicRule] = {}
        self._index: TopicIndex[str] = TopicIndex(self.limits)
        self._sinks: dict[str, Sink] = {}
        self._subscribers: list[tuple[str, Callable[..., Any]]] = []
        self._feed_back = feed_back_republish
        self._lock = threading.RLock()
        self._dead_lock = threading.Lock()
        self._sink_threads: SinkThreads | None = None
        # Publishes in progress per thread, for close(). Each thread writes only its own key
        # (an atomic dict operation), so a publish pays no lock; close() reads a copy.
        self._active: dict[int, int] = {}
        #: topic -> its _Route (its rules as they were when it was made, the topic the rules
        #: see, whether it is Basic Ingest, the quiet plans of its rules) for topics already
        #: validated and matched: a device publishes on its topics again and again. Replaced
        #: (copy on write: a new dict, never emptied in place), under self._lock, whenever the
        #: rules or the sinks change (_forget_routes), so that a publish that finds the same
        #: dict after reading a rule knows its route is still true; bounded by
        #: _ROUTE_CACHE_SIZE topics and _ROUTE_CACHE_RULES rules.
        self._routes: dict[str, _Route] = {}
        #: The rules the remembered routes hold, all told (_ROUTE_CACHE_RULES bounds it).
        self._route_rules = 0
        self._loops = EventLoopThread()  # started only if a coroutine sink needs it
        self._sink_kinds: dict[int, tuple[Sink, int]] = {}
        #: rule name -> how a quiet publish runs that rule (_QuietPlan), made on first use.
        #: Replaced, under self._lock, whenever a sink or the recorder changes; a rule's entry
        #: goes when the rule is replaced or deleted (and is checked against the rule anyway).
        self._plans: dict[str, _QuietPlan] = {}
        #: The account's topic rule destinations (CreateTopicRuleDestination...), and whether an
        #: HTTP action's URL must be under an ENABLED one (`require_destinations`: True as AWS,
        #: False never, None once any destination exists; docs/engine.md).
        self.destinations = TopicRuleDestinations(account_id, region,
                                                  required=require_destinations)  # fmt: skip
        self.destinations.on_change = self._destinations_changed
        if plugins:
            self.load_sink_plugins()
        for action_type, sink in (sinks or {}).items():
            self.register_sink(action_type, sink)

    @property
    def recorder(self) -> Recorder:
        """The sinks of the action types no sink is registered for (one RecordingSink each)."""
        return self._recorder

    @recorder.setter
    def recorder(self, recorder: Recorder) -> None:
        with self._lock:
            self._recorder = recorder
            self._plans = {}  # the plans hold the old recorder's sinks
            self._forget_routes()  # and so do the routes' plans

    # ---- rules ------------------------------------------------------------------------------

    def create_topic_rule(self, name: str, payload: Mapping[str, Any]) -> TopicRule:
        """CreateTopicRule: validate and store a rule; it fails if the name is taken."""
        rule = TopicRule(name, payload, limits=self.limits, account_id=self.account_id,
                         region=self.region)  # fmt: skip
        with self._lock:
            if name in self._rules:
                raise ResourceAlreadyExistsError(f"rule {name} already exists")
            self._store(rule)
        self._ensure_destinations(rule)
        return rule

    def replace_topic_rule(self, name: str, payload: Mapping[str, Any]) -> TopicRule:
        """ReplaceTopicRule: swap a rule's definition (it keeps its creation time)."""
        with self._lock:
            old = self._require(name)
        rule = TopicRule(name, payload, limits=self.limits, account_id=self.account_id,
                         region=self.region, created_at=old.created_at)  # fmt: skip
        with self._lock:
            self._store(rule, self._require(name))
        self._ensure_destinations(rule)
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
        loaded_rules = load_definitions(source, format, parameters=parameters, validate=False,
                                        limits=self.limits)  # fmt: skip
        for loaded in loaded_rules:
            try:
                if replace:
                    created.append(self._create_or_replace(loaded.name, loaded.payload))
                else:
                    created.append(self.create_topic_rule(loaded.name, loaded.payload))
            except ResourceAlreadyExistsError as err:
                raise ResourceAlreadyExistsError(f"{err} ({loaded.source})") from None
            except IotSqlError as err:
                raise loaded.locate(err) from err
        return created

    def _create_or_replace(self, name: str, payload: Mapping[str, Any]) -> TopicRule:
        """Replace the rule `name`, or create it when there is none, whatever other threads do
        meanwhile: one that creates or deletes it between the look and the change makes this
        try the other way (a look, then one of the two, could fail with "already exists" or
        "does not exist")."""
        while True:
            try:
                return self.replace_topic_rule(name, payload)
            except ResourceNotFoundError:
                pass
            try:
                return self.create_topic_rule(name, payload)
            except ResourceAlreadyExistsError:
                pass

    def _require(self, name: str) -> TopicRule:
        rule = self._rules.get(name)
        if rule is None:
            raise ResourceNotFoundError(f"rule {name} does not exist")
        return rule

    def _store(self, rule: TopicRule, old: TopicRule | None = None) -> None:
        """Put `rule` in place of `old` (or of nothing), under self._lock: O(1), the dict is
        updated in place, never copied. Publishers match the index under the same lock and
        then read rules one `get` at a time, so a replaced rule is never absent in between."""
        if old is not None and old.topic_filter is not None:
            self._index.remove(old.topic_filter, old.name)
        self._rules[rule.name] = rule
        if rule.topic_filter is not None:
            self._index.add(rule.topic_filter, rule.name)
        self._forget_routes()
        self._plans.pop(rule.name, None)

    def _ensure_destinations(self, rule: TopicRule) -> None:
        """As AWS's CreateTopicRule, when destinations are required: the IN_PROGRESS destination
        of each HTTP action's confirmation URL (else its URL) that none covers yet; a templated
        one is the user's to create (https-rule-action.md)."""
        if self.destinations.required is not True:
            return
        for action in (*rule.actions, *([rule.error_action] if rule.error_action else [])):
            if action.key != "http":
                continue
            url = action.params.get("confirmationUrl") or action.params.get("url")
            if isinstance(url, str) and "${" not in url:
                # (over the quota: no destination, and the action fails when it runs, saying so)
                with contextlib.suppress(IotSqlError):
                    self.destinations.ensure_http(url)

    def _destinations_changed(self) -> None:
        """Whether HTTP and InfluxDB actions are checked flipped: the quiet plans, which skip
        the check, are made again."""
        with self._lock:
            self._plans = {}
            self._forget_routes()

    def _unstore(self, rule: TopicRule) -> None:
        del self._rules[rule.name]
        if rule.topic_filter is not None:
            self._index.remove(rule.topic_filter, rule.name)
        self._forget_routes()
        self._plans.pop(rule.name, None)

    # ---- sinks and subscribers --------------------------------------------------------------

    def register_sink(self, action_type: str, sink: Sink) -> None:
        """Send the requests of `action_type` (`sqs`, `republish`...) to `sink`. A name that is
        no action type of the API (`dynamodb`, `SQS`) is a ValueError naming the type meant:
        the sink would never be called, and the actions would go to the recorder unseen."""
        if not callable(sink):
            raise TypeError(f"a sink must be callable with an ActionRequest, not {sink!r}")
        from iotsql.actions.types import unknown_action_type  # the catalogue: on first use

        unknown = unknown_action_type(action_type)
        if unknown is not None:
            raise ValueError(f"cannot register a sink: {unknown}")
        with self._lock:
            self._sinks[action_type] = sink
            self._plans = {}  # a plan holds the sink of each of its actions
            self._forget_routes()  # and so do the routes' plans

    def sink_for(self, action_type: str) -> Sink:
        sink = self._sinks.get(action_type)
        return sink if sink is not None else self._recorder.sink(action_type)

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
        topic matches `topic_filter` to `callback(topic, payload, context)`. A callback that
        cannot take those three arguments is a TypeError here: a subscriber's failures are
        ignored, so it would miss every message without a word."""
        validate_filter(topic_filter, self.limits)
        try:
            signature = inspect.signature(callback)
        except (TypeError, ValueError):  # a callable Python cannot describe: called as given
            signature = None
        if signature is not None:
            try:
                signature.bind(topic_filter, b"", Context())
            except TypeError as err:
                raise TypeError(
                    f"a subscriber is called as callback(topic, payload, context); "
                    f"{getattr(callback, '__name__', callback)!s}{signature} cannot be "
                    f"({err})"
                ) from None
        with self._lock:
            self._subscribers = [*self._subscribers, (topic_filter, callback)]

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        with self._lock:
            self._subscribers = [(f, c) for f, c in self._subscribers if c is not callback]

    # ---- publishing -------------------------------------------------------------------------

    @overload
    def publish(
        self,
        topic: str,
        payload: Any,
        context: Context | Mapping[str, Any] | None = None,
        *,
        depth: int = 0,
        report: Literal[True] = True,
    ) -> PublishReport: ...

    @overload
    def publish(
        self,
        topic: str,
        payload: Any,
        context: Context | Mapping[str, Any] | None = None,
        *,
        depth: int = 0,
        report: Literal[False],
    ) -> None: ...

    @overload
    def publish(
        self,
        topic: str,
        payload: Any,
        context: Context | Mapping[str, Any] | None = None,
        *,
        depth: int = 0,
        report: bool,
    ) -> PublishReport | None: ...

    def publish(
        self,
        topic: str,
        payload: Any,
        context: Context | Mapping[str, Any] | None = None,
        *,
        depth: int = 0,
        report: bool = True,
    ) -> PublishReport | None:
        """Route one message through every matching enabled rule and dispatch their actions.
        Messages that republish actions feed back are processed before this returns, as
        `report.republished`. `depth`: how many republish actions produced this message, for
        a host whose republished messages come back through a broker (the loop guard,
        `Limits.max_republish_depth`, counts from it).

        `report=False`: return None and build no report, for callers that do not read it
        (replay, bridges, load generators); everything else is the same: the deliveries,
        error actions, dead letters, republished messages, subscribers and limits."""
        if self.account_id != DEFAULT_ACCOUNT_ID:
            context = self._in_account(context)
        me = get_ident()
        active = self._active
        before = active.get(me)
        active[me] = 1 if before is None else before + 1
        try:
            if report:
                return self._publish(topic, payload, context, depth)
            # `_publish` without the reports, written here: one call less per message.
            budget = PublishBudget(self.limits)
            kept: list[RuleReport] = []
            self._publish_one_quietly(topic, payload, context, depth, budget, kept)
            if kept:
                self._feed_back_quietly(kept, budget)
            return None
        finally:
            if before is None:
                del active[me]
            else:
                active[me] = before

    def _in_account(self, context: Context | Mapping[str, Any] | None) -> Context:
        """`context` with the engine's account as `accountid()` when it names none: a rule
        belongs to the engine's account, and AWS's `accountid()` is the account that owns the
        rule."""
        context = Context.of(context)
        if context.accountid is not None:
            return context
        held = self._account_context
        if context is _EMPTY_CONTEXT and held is not None and held.accountid == self.account_id:
            return held  # the context of most publishes, made once
        with_account = dataclasses.replace(context, accountid=self.account_id)
        if context is _EMPTY_CONTEXT:
            self._account_context = with_account
        return with_account

    def check_publish(self, topic: str, payload: Any = b"") -> None:
        """Raise what `publish(topic, payload)` would raise before any rule runs, else nothing:
        InvalidTopicError, InvalidPayloadError, or LimitExceededError for a body over
        `Limits.max_payload_bytes`. A host that stores or forwards a message before the rules
        run (a broker's subscribers, a retained message) refuses it first with this."""
        if not (type(topic) is str and topic in self._routes):
            validate_topic(topic, self.limits)
        if isinstance(payload, (bytes, bytearray, memoryview)):
            size = len(memoryview(payload).cast("B"))
        else:
            size = len(Message(payload, "", None).body)
        if size > self.limits.max_payload_bytes:
            raise PayloadTooLargeError(size, self.limits.max_payload_bytes)

    def _publish(
        self, topic: str, payload: Any, context: Context | Mapping[str, Any] | None, depth: int
    ) -> PublishReport:
        # One budget for the whole chain: every republished message fed back below spends
        # from the same counters (PublishBudget), so fan-out ends as surely as depth.
        budget = PublishBudget(self.limits)
        report = self._publish_one(topic, payload, context, depth, budget, None)
        assert report is not None
        if not self._feeds_back():
            return report
        pending = deque([report])
        while pending:
            current = pending.popleft()
            for request in _republish_requests(current.rules):
                # A republished message is a new message: its context is the action's headers.
                sub = self._publish_one(
                    _republish_topic(request), _republish_payload(request),
                    republished_context(request.params, request.message.context),
                    request.depth + 1, budget, None,
                )  # fmt: skip
                assert sub is not None
                current.republished.append(sub)
                pending.append(sub)
        return report

    def _feed_back_quietly(self, kept: list[RuleReport], budget: PublishBudget) -> None:
        """The republished messages of a quiet publish (`publish(..., report=False)`), which
        keeps for each message only the reports of its rules that have a republish action or
        an action not delivered at once (what this loop and the error actions read), in the
        same order as `_publish`, so the same messages are fed back in the same order."""
        if not self._feeds_back():
            return
        pending = deque([kept])
        while pending:
            for request in _republish_requests(pending.popleft()):
                sub: list[RuleReport] = []
                self._publish_one_quietly(
                    _republish_topic(request), _republish_payload(request),
                    republished_context(request.params, request.message.context),
                    request.depth + 1, budget, sub,
                )  # fmt: skip
                if sub:
                    pending.append(sub)

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
        never waits on rules or sinks, and concurrent publishes proceed independently.
        Coroutine sinks (`async def`) run on this event loop, awaited before this returns."""
        import asyncio  # here: most programs never need it (docs/architecture.md, "Import cost")

        token = CALLER_LOOP.set(asyncio.get_running_loop())  # to_thread copies the context
        try:
            return await asyncio.to_thread(self.publish, topic, payload, context)
        finally:
            CALLER_LOOP.reset(token)

    def _publish_one(
        self,
        topic: str,
        payload: Any,
        context: Context | Mapping[str, Any] | None,
        depth: int,
        budget: PublishBudget,
        kept: list[RuleReport] | None,
    ) -> PublishReport | None:
        """One message through its rules: its PublishReport; or, with `kept` (a quiet
        publish), None, the reports a quiet publish keeps appended to `kept`."""
        routes = self._routes
        try:
            route = routes[topic]
        except (KeyError, TypeError):  # (TypeError: unhashable, which _route refuses)
            # (`routes` stays the dict read before: if the rules changed meanwhile, the loop
            # below sees it and looks each rule up again)
            route = self._route(topic)
        effective, ingest = route.effective, route.ingest
        message = Message(payload, topic, context)
        message.prefer_settled = route.settled
        size = len(message.body)
        if size > self.limits.max_payload_bytes:
            raise PayloadTooLargeError(size, self.limits.max_payload_bytes)
        report = None
        if kept is None:
            report = PublishReport(topic, message, basic_ingest=ingest)
            kept = report.rules
            quiet = False
        else:
            quiet = True
        runs: list[_RuleRun] = []
        token = None if self.limits is current_limits() else push_limits(self.limits)
        try:  # templates and functions see the engine's limits
            for routed in route.rules:
                # The route's rules are those of the routes dict read above: while it is still
                # the engine's, they are current. Else (another thread, or a sink, changed the
                # rules since) each is looked up again (_rerouted).
                rule = routed if self._routes is routes else self._rerouted(routed, route)
                if rule is not None and not rule.disabled:
                    if rule.timed:
                        done = self._start_rule(rule, message, effective, depth, runs, budget,
                                                quiet)  # fmt: skip
                    else:  # (no budget to start: one call less on the hot path)
                        done = self._run_rule(rule, message, effective, depth, runs, budget, quiet)
                    if done is not None:
                        kept.append(done)
        finally:
            if token is not None:
                pop_limits(token)
        if runs:
            self._settle(runs, budget)
        if not ingest and self._subscribers:
            self._notify_subscribers(topic, message)
        return report

    def _publish_one_quietly(
        self,
        topic: str,
        payload: Any,
        context: Context | Mapping[str, Any] | None,
        depth: int,
        budget: PublishBudget,
        kept: list[RuleReport],
    ) -> None:
        """`_publish_one` of a quiet publish. A rule whose plan is simple (`_QuietPlan`) has
        its actions rendered and handed to their sinks here, written out: the same steps,
        checks and failures as `_run_rule` and `_begin` take, without their reports; any other
        rule goes through `_run_rule`. The reports a quiet publish keeps go to `kept`."""
        routes = self._routes
        try:
            route = routes[topic]
        except (KeyError, TypeError):  # (TypeError: unhashable, which _route refuses)
            # (`routes` stays the dict read before, as in _publish_one)
            route = self._route(topic)
        plans = route.plans
        if plans is None:
            plans = self._route_plans(route)
        effective = route.effective
        if type(payload) is bytes and type(context) is Context:
            # Message(payload, topic, context), its slots set directly: __init__'s call and
            # checks are a third of its cost (test_publish_quiet compares the two).
            message = _new_message(Message)
            message.body = payload
            message.topic = topic
            message.context = context
            message._received_at = context.timestamp
            message._traceid = context.traceid
            message._v1 = message._v2 = message._raw = UNDEFINED
        else:
            message = Message(payload, topic, context)
        message.prefer_settled = route.settled
        limits = self.limits
        size = len(message.body)
        if size > limits.max_payload_bytes:
            raise PayloadTooLargeError(size, limits.max_payload_bytes)
        if plans:
            provider = self.provider
            dumps = codec.dumps
            runs: list[_RuleRun] = []
            token = None if limits is current_limits() else push_limits(limits)
            try:  # templates and functions see the engine's limits
                # A time budget in force (a publish made inside a timed evaluation) is set
                # aside around each sink call: `_begin` does that.
                plain = current_budget() is None
                for steps in plans:
                    # The plans of a route are made from its rules, and any change of the
                    # rules or sinks forgets the routes (a new dict): while it is the same
                    # dict, the plans are current. Else (another thread, or a sink, changed
                    # the rules) each rule is looked up again as `_publish_one` does.
                    (rule, name, actions, function, raw, whole_ints, version, full_run, limit,
                     make_output, execute) = steps  # (_QuietPlan.steps)  # fmt: skip
                    if self._routes is not routes:
                        current = self._rerouted(rule, route)
                        if current is None:
                            continue
                        if current is not rule:
                            rule = current
                            actions = None  # (through _run_rule)
                    if rule.disabled:
                        continue
                    if actions is None or not plain:
                        done = (self._start_rule if rule.timed else self._run_rule)(
                            rule, message, effective, depth, runs, budget, True
                        )
                        if done is not None:
                            kept.append(done)
                        continue
                    variables: list[Any] = _NO_VARIABLES
                    body = None
                    try:
                        if function is None:  # SET variables, which the templates may read
                            variables = []
                            output = execute(message, effective, provider, name, variables)
                        else:  # CompiledRule.execute, written out (StatementCall)
                            # Message.raw_document and .document, without their call
                            # once the message is decoded (for its second rule on).
                            if raw:
                                doc = message._raw
                                if doc is UNDEFINED or doc is NO_RAW:
                                    doc = message.raw_document(whole_ints)
                            else:
                                doc = message._v2 if whole_ints else message._v1
                                if doc is UNDEFINED:
                                    doc = message.document(whole_ints)
                            try:
                                value = function(
                                    doc, None if version is None
                                    else Run(message, effective, version, name, provider, 0)
                                    if full_run else ContextRun(message, effective, version),
                                )  # fmt: skip
                            except (AmbiguousNumber, RecursionError):  # execute decides
                                output = execute(message, effective, provider, name, None)
                            else:
                                if value is NOT_FIRED:
                                    continue
                                if type(value) is dict:
                                    # The body made here, as Output.to_bytes makes it when
                                    # it can; where it cannot (orjson's TypeError, a body
                                    # over the limit), to_bytes below decides.
                                    try:
                                        body = dumps(value)
                                    except TypeError:
                                        body = None
                                    if body is not None and len(body) > limit:
                                        body = None
                                    # Output(value, body, limit), its slots set directly
                                    output = _new_output(Output)
                                    output.value = value
                                    output._body = body
                                    output._max_bytes = limit
                                else:
                                    output = make_output(value, doc, message.body)
                        if output is None or not actions:  # (no action: no size to check)
                            continue
                        if body is None:
                            body = output.to_bytes()  # over Limits.max_output_bytes: fails here
                    except BudgetExceededError as err:
                        kept.append(
                            self._stop_rule(rule, message, effective, depth, runs, budget, err)
                        )
                        continue
                    except IotSqlError as err:
                        self._bury(DeadLetter(name, topic, message, [],
                                              evaluation_error=str(err)))  # fmt: skip
                        kept.append(RuleReport(name, False, error=str(err)))
                        continue
                    failed: list[ActionReport] | None = None
                    for (action, key, constant, render, binary_ok, sink, deliver, lazy,
                         verbatim) in actions:  # fmt: skip
                        params = None
                        try:
                            if not binary_ok and not output.is_json:
                                raise ValueError(
                                    f"{action.action_type.shape} does not support binary payloads"
                                )
                            if deliver is None:
                                params = dict(constant)
                                delivered, downstream = render(params, body, output, message)
                            # Else the request is rendered when a sink reads it.
                            elif verbatim and type(output.value) is dict:
                                delivered = body  # (JSON text, which deliver hands on as it is)
                            else:
                                delivered = deliver(constant, body, output, message)
                        except Exception as err:  # the action's failure, not the rule's
                            failure = _failed(name, action, None,
                                              dict(constant) if params is None else params,
                                              describe(err))  # fmt: skip
                        else:
                            # ActionRequest(name, key, params, delivered, message, effective,
                            # downstream, output, False, depth), its fields set directly:
                            # __init__'s call is a third of the cost (test_publish_quiet
                            # checks both give the same fields); with `deliver`, as
                            # actions.base.unrendered_request makes it.
                            request = _new_request(ActionRequest)
                            fields = request.__dict__
                            fields["rule_name"] = name
                            fields["action_type"] = key
                            if params is None:  # (ActionRequest.__getattr__ renders them)
                                fields["_unrendered"] = lazy
                            else:
                                fields["params"] = params
                                fields["request"] = {} if downstream is None else downstream
                            fields["payload"] = delivered
                            fields["message"] = message
                            fields["topic"] = effective
                            fields["output"] = output
                            if depth:  # (else the class's default, as is_error_action's)
                                fields["depth"] = depth
                            if budget.actions < budget.max_actions:
                                budget.actions += 1  # PublishBudget.spend, which cannot refuse
                                try:
                                    result = sink(request)
                                    if result is not None and isawaitable(result):
                                        run_to_completion(result, self._loops)
                                    continue
                                except BaseException as err:  # (every failure is the action's)
                                    failure = _failed(name, action, request, request.params, None)
                                    self._inline_failed(failure, request, err)
                            else:  # spent: refused, kept whole for the dead letters
                                failure = _failed(name, action, request, request.params,
                                                  budget.spend(False))  # fmt: skip
                        if failed is None:
                            failed = []
                        failed.append(failure)
                    if failed is not None:
                        report = RuleReport(name, True, output, failed)
                        kept.append(report)
                        runs.append(_RuleRun(rule, message, effective, depth, report, variables,
                                             [], budget))  # fmt: skip
            finally:
                if token is not None:
                    pop_limits(token)
            if runs:
                self._settle(runs, budget)
        if not route.ingest and self._subscribers:
            self._notify_subscribers(topic, message)

    def _plan(self, rule: TopicRule) -> _QuietPlan:
        """How a quiet publish runs `rule` with the sinks registered now: its actions, each
        with its sink, when every one is simple (no template in its parameters, not a
        republish, an instant sink) and the rule needs no time budget and is not terminated;
        else a plan without actions (`_run_rule` runs the rule)."""
        with self._lock:  # with the sinks, into the plans of these sinks
            actions: list[_QuietAction] | None = []
            if rule.timed or rule.termination is not None:
                actions = None
            for action in rule.actions:
                if actions is None:
                    break
                key = action.key
                constant = action.constant_params
                sink = self.sink_for(key)
                known = self._sink_kinds.get(id(sink))
                kind = known[1] if known is not None else self._classify(sink)
                if (key == "republish" or constant is None or kind != _INLINE
                        or (key in _DESTINATION_ACTIONS and self.destinations.enforced)):  # fmt: skip
                    actions = None
                else:
                    actions.append((action, key, constant, action.render,
                                    action.action_type.supports_binary, sink, action.deliver,
                                    (action.render, constant),
                                    action.verbatim_json))  # fmt: skip
            plan = _QuietPlan(rule, None if actions is None else tuple(actions))
            if self._rules.get(rule.name) is rule:  # (not a rule deleted meanwhile)
                self._plans[rule.name] = plan
        return plan

    def _forget_routes(self) -> None:
        """Under self._lock: forget every remembered route (the rules or sinks changed)."""
        self._routes = {}
        self._route_rules = 0

    def _route_plans(self, route: _Route) -> tuple[_QuietSteps, ...]:
        """The quiet plans of the rules of `route` (as the route holds them: a rule replaced
        or deleted since is found out by the publish, _rerouted), made once per route under
        the lock that changes the rules and sinks (which forgets every route)."""
        with self._lock:
            plans = route.plans
            if plans is None:
                known = self._plans
                made = []
                for rule in route.rules:
                    plan = known.get(rule.name)
                    made.append(plan if plan is not None and plan.rule is rule
                                else self._plan(rule))  # fmt: skip
                plans = route.plans = tuple(plan.steps for plan in made)
        return plans

    def _rerouted(self, rule: TopicRule, route: _Route) -> TopicRule | None:
        """`rule`, of `route`, as the engine holds it now that the rules changed since the
        route was read: None when it was deleted, or replaced by a definition whose FROM
        filter does not take the route's topic (it must not run on a topic it never matched);
        else the current definition (a replaced one runs as it is now)."""
        current = self._rules.get(rule.name)
        if current is rule or current is None:
            return current
        if route.ingest or current.compiled.matches(route.effective):
            return current
        return None

    def _route(self, topic: str) -> _Route:
        """The names of the rules `topic` goes to, the topic they see (a Basic Ingest topic
        without its prefix) and whether it is Basic Ingest; the topic is validated first."""
        route = self._routes.get(topic) if type(topic) is str else None
        if route is None:
            validate_topic(topic, self.limits)  # (InvalidTopicError for a name not a string)
            ingest = parse_basic_ingest(topic)
            with self._lock:  # the index, the rules and the cache of this set, together
                rules = self._rules
                if ingest is not None:
                    named = rules.get(ingest.rule_name)
                    route = _Route(() if named is None else (named,), ingest.topic, True)
                else:
                    route = _Route(tuple(map(rules.__getitem__, self._index.match(topic))),
                                   topic, False)  # fmt: skip
                # The settled documents its rules decode (Message.prefer_settled): a rule
                # that reads raw documents takes the one of its version, whatever the order.
                route.settled = frozenset(
                    rule.compiled.sql_version.whole_decimals_are_ints
                    for rule in route.rules
                    if not rule.disabled and not rule.compiled.reads_raw_documents
                )  # fmt: skip
                routes = self._routes
                weight = len(route.rules)
                if (
                    len(routes) >= _ROUTE_CACHE_SIZE
                    or self._route_rules + weight > _ROUTE_CACHE_RULES
                ):
                    # The older half goes (dicts keep insertion order): a fleet with more
                    # topics than the cache holds keeps half of them remembered, where
                    # clearing it all made every message after it a miss.
                    for old in list(islice(routes, len(routes) // 2 or 1)):
                        self._route_rules -= len(routes.pop(old).rules)
                routes[topic] = route
                self._route_rules += weight
        return route

    def _notify_subscribers(self, topic: str, message: Message) -> None:
        """Deliver to each matching subscriber like a sink (inline when instant, else in a
        worker thread or, for a coroutine function, on an event loop); a subscriber that fails
        is ignored, one that hangs is given up on after `Limits.action_timeout`. Only a
        KeyboardInterrupt raised inline goes on, once every subscriber had its turn."""
        pending = []
        interrupted: KeyboardInterrupt | None = None
        args = (topic, message.body, message.context)
        timeout = self.limits.action_timeout
        for topic_filter, callback in self._subscribers:
            if not filter_matches(topic_filter, topic):
                continue
            known = self._sink_kinds.get(id(callback))
            kind = known[1] if known is not None else self._classify(callback)
            if kind == _COROUTINE:
                pending.append(SinkCall.of_coroutine(callback, args, timeout or 0.0, self._loops))
            elif kind == _INLINE:
                try:
                    result = callback(*args)
                    if result is not None and inspect.isawaitable(result):
                        run_to_completion(result, self._loops)
                except KeyboardInterrupt as err:
                    interrupted = err
                except BaseException:  # (a subscriber's failure is its own)
                    continue
            else:
                call = SinkCall(callback, args, 0.0)
                self._threads().submit(call)
                pending.append(call)
        if pending:
            deadline = None if timeout is None else time.monotonic() + timeout
            for call in pending:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not call.done.wait(left):
                    call.give_up()
        if interrupted is not None:
            raise interrupted

    # ---- evaluation and dispatch --------------------------------------------------------------
    #
    # A publish evaluates every matched rule and starts every action at once (sinks that are not
    # known to be instant run in the engine's worker threads), then waits for them all with
    # one time-out each, then does the same for the error actions of the rules whose actions
    # failed. A sink that hangs costs the publish at most `Limits.action_timeout`, whatever the
    # number of rules and actions; it never stops the other actions.

    def _start_rule(
        self,
        rule: TopicRule,
        message: Message,
        topic: str,
        depth: int,
        runs: list[_RuleRun],
        budget: PublishBudget,
        quiet: bool,
    ) -> RuleReport | None:
        """Evaluate `rule` and start its actions; a rule with actions in flight or failed is
        added to `runs` for `_settle`. The rule's time budget (`Limits.evaluation_timeout`)
        covers its evaluation and the rendering of its actions; only rules whose worst case
        could reach it pay for one (`TopicRule.timed`). `quiet`: the report only when a
        quiet publish keeps it (`_run_rule`)."""
        token = start_budget(self.limits.evaluation_timeout)
        try:
            return self._run_rule(rule, message, topic, depth, runs, budget, quiet)
        finally:
            stop_budget(token)

    def _run_rule(
        self,
        rule: TopicRule,
        message: Message,
        topic: str,
        depth: int,
        runs: list[_RuleRun],
        budget: PublishBudget,
        quiet: bool,
    ) -> RuleReport | None:
        """`_start_rule` within the rule's time budget. Quiet, the rule's report is made only
        when it is kept: a failed evaluation, an action not delivered at once (in flight or
        failed), a republish action; it then lists those actions only."""
        # The SET values, for the action templates; a statement without SET writes none.
        variables: list[Any] = [] if rule.has_variables else _NO_VARIABLES
        try:
            if rule.termination is not None:  # AWS ends the rule without invoking any actions
                raise RuleTerminatedError(rule.termination)
            # The engine's limits are in force (_publish_one) and so is the rule's time budget
            # (_start_rule; TopicRule.timed covers the statement's).
            output = rule.compiled.execute(message, topic, self.provider, rule.name, variables)
            if output is not None and rule.actions:
                output.to_bytes()  # an output over Limits.max_output_bytes fails the rule here
        except BudgetExceededError as err:
            # One of iotsql's own bounds, which AWS would not have hit: the rule's actions
            # cannot run, so each is reported failed to the error action, as a failure of
            # theirs would be, and the message is never lost.
            return self._stop_rule(rule, message, topic, depth, runs, budget, err)
        except IotSqlError as err:
            self._bury(DeadLetter(rule.name, message.topic, message, [], evaluation_error=str(err)))
            return RuleReport(rule.name, False, error=str(err))
        if output is None:
            return None if quiet else RuleReport(rule.name, False)
        report = None if quiet else RuleReport(rule.name, True, output)
        pending: list[tuple[ActionReport, SinkCall, float]] = []
        unsettled = False  # an action in flight (not ok yet) or failed
        for action in rule.actions:
            done = self._begin(rule, message, topic, depth, variables, action, output, False,
                               pending, budget, quiet)  # fmt: skip
            if done is None:  # quiet, and delivered
                continue
            if report is None:
                report = RuleReport(rule.name, True, output)
            report.actions.append(done)
            if not done.ok:
                unsettled = True
        if unsettled:
            assert report is not None
            runs.append(_RuleRun(rule, message, topic, depth, report, variables, pending, budget))
        return report

    def _stop_rule(
        self,
        rule: TopicRule,
        message: Message,
        topic: str,
        depth: int,
        runs: list[_RuleRun],
        budget: PublishBudget,
        err: BudgetExceededError,
    ) -> RuleReport:
        """The report of a rule whose evaluation spent a budget: not fired, `error` says why,
        every action failed with that reason (for the error action); with no action to
        report, the message goes straight to the dead letters."""
        reason = describe(err)
        report = RuleReport(rule.name, False, error=str(err))
        report.actions = [
            ActionReport(rule.name, action.key, None, False, reason,
                         failed_action=action.action_type.shape)
            for action in rule.actions
        ]  # fmt: skip
        if report.actions:
            run = _RuleRun(rule, message, topic, depth, report, [], [], budget)
            run.evaluation_error = str(err)
            runs.append(run)
        else:
            self._bury(DeadLetter(rule.name, message.topic, message, [], evaluation_error=str(err)))
        return report

    def _settle(self, runs: list[_RuleRun], budget: PublishBudget) -> None:
        """Wait for every action started, run the error actions of the rules with failures
        (all at once, then wait for them), and bury what nothing could take."""
        for run in runs:
            run.wait()
        failed = []
        for run in runs:
            failures = run.report.failures
            if failures:
                failed.append((run, failures))
        for run, failures in failed:
            rule = run.rule
            if rule.error_action is not None:
                error_message = error_action_message(rule.name, run.message, failures)
                # The error action's templates get a time budget of their own: the rule's may
                # be what was spent.
                token = start_budget(self.limits.evaluation_timeout) if rule.timed else None
                try:
                    run.report.error_action = self._begin(
                        rule, run.message, run.topic, run.depth, run.variables,
                        rule.error_action, Output(None, error_message), True, run.pending, budget,
                        False,
                    )  # fmt: skip
                finally:
                    stop_budget(token)
        for run, failures in failed:
            run.wait()
            handled = run.report.error_action
            if handled is not None and handled.ok:
                continue
            self._bury(DeadLetter(run.rule.name, run.message.topic, run.message, failures, handled,
                                  evaluation_error=run.evaluation_error,
                                  requests=[f.request for f in failures if f.request]))  # fmt: skip

    def _begin(
        self,
        rule: TopicRule,
        message: Message,
        topic: str,
        depth: int,
        variables: list[Any],
        action: BoundAction,
        output: Output,
        is_error_action: bool,
        pending: list[tuple[ActionReport, SinkCall, float]],
        budget: PublishBudget,
        quiet: bool,
    ) -> ActionReport | None:
        """Render one action and hand it to its sink: an instant sink is called now, any other
        one in a worker thread (added to `pending`; `_wait_all` completes its report).
        `quiet`: None instead of the report of an action that is not a republish and was
        delivered at once (nothing reads it)."""
        kind = action.action_type
        params: Mapping[str, Any] | None = None
        unrendered: ActionRequest | None = None
        constant = action.constant_params
        # As a quiet publish does: the payload made by BoundAction.deliver, the request left
        # to be rendered when a sink reads it (the rule's own output, not an error message).
        deliver = None if is_error_action else action.deliver
        try:
            if constant is not None and deliver is not None:
                params = constant  # (not copied: what the reports name the resource by)
                body = output.to_bytes()
                if not kind.supports_binary and not output.is_json:
                    raise ValueError(f"{kind.shape} does not support binary payloads")
                unrendered = unrendered_request(
                    rule.name, action.key, deliver(constant, body, output, message), message,
                    topic, output, action.render, constant, depth,
                )  # fmt: skip
            else:
                params = (
                    dict(constant) if constant is not None
                    else action.render_params(message, topic, variables, self.provider,
                                              rule.version_text)
                )  # fmt: skip
                body = output.to_bytes()
                if not kind.supports_binary and not output.is_json:
                    raise ValueError(f"{kind.shape} does not support binary payloads")
                delivered, downstream = action.render(
                    params, body, None if is_error_action else output, message
                )
        except Exception as err:  # a rendering failure is this action's failure, not the rule's
            return ActionReport(rule.name, action.key, None, False, describe(err),
                                is_error_action=is_error_action,
                                resource=_resource(kind, params), failed_action=kind.shape)  # fmt: skip
        if unrendered is not None:
            request = unrendered
        else:
            request = ActionRequest(
                rule.name, action.key, params, delivered, message, topic, downstream,
                None if is_error_action else output, is_error_action, depth,
            )  # fmt: skip
        republish = action.key == "republish"
        error = None
        if action.key in _DESTINATION_ACTIONS and self.destinations.enforced:
            assert params is not None  # (rendered, or the action failed above)
            if action.key == "http":
                confirmation = params.get("confirmationUrl")
                error = self.destinations.refusal(
                    str(params["url"]), str(confirmation) if confirmation else None
                )
            else:
                error = self.destinations.influxdb_refusal(str(params["destinationArn"]))
        if error is not None:
            pass  # refused before any budget is spent: the request is kept whole
        elif republish and depth >= self.limits.max_republish_depth:
            error = (
                f"republish loop stopped: the message was republished {depth} times "
                f"(limit {self.limits.max_republish_depth})"
            )
        elif not republish and budget.actions < budget.max_actions:
            budget.actions += 1  # PublishBudget.spend when it cannot refuse, without a call
        else:
            # Charged after rendering, so that a refused request is kept whole in the dead
            # letters (ready to be replayed); rendering costs no more than the actions allowed.
            error = budget.spend(republish)
        if error is None:
            sink = self._sinks.get(action.key) or self.sink_for(action.key)
            if quiet and not republish:
                known = self._sink_kinds.get(id(sink))
                if (known[1] if known is not None else self._classify(sink)) == _INLINE:
                    if current_budget() is None:  # no time budget to set aside: call it here
                        try:
                            result = sink(request)
                            if result is not None and inspect.isawaitable(result):
                                run_to_completion(result, self._loops)
                            return None
                        except BaseException as err:  # (every failure is the action's)
                            delivered_ok, outcome = False, err
                    else:
                        delivered_ok, outcome = self._call_inline(sink, request)
                    if delivered_ok:
                        return None
                    report = ActionReport(rule.name, action.key, request, False, None,
                                          is_error_action=is_error_action,
                                          resource=_resource(kind, params),
                                          failed_action=kind.shape)  # fmt: skip
                    self._inline_failed(report, request, outcome)
                    return report
        report = ActionReport(rule.name, action.key, request, False, error,
                              is_error_action=is_error_action, resource=_resource(kind, params),
                              failed_action=kind.shape)  # fmt: skip
        if error is None:
            self._deliver(sink, request, report, pending)
        return report

    def _deliver(
        self,
        sink: Sink,
        request: ActionRequest,
        report: ActionReport,
        pending: list[tuple[ActionReport, SinkCall, float]],
    ) -> None:
        """Call `sink` inline when it is instant (or time-outs are off) and fill `report`;
        otherwise start it in a worker thread, or on an event loop when it is a coroutine
        function, and add it to `pending`. Whatever the sink raises fails the action; a
        KeyboardInterrupt raised inline is re-raised once the message is a dead letter."""
        timeout = self.limits.action_timeout
        known = self._sink_kinds.get(id(sink))
        kind = known[1] if known is not None else self._classify(sink)
        if kind == _COROUTINE:
            call = SinkCall.of_coroutine(sink, (request,), timeout or 0.0, self._loops)
            if timeout is None:
                call.done.wait()
                _wait_all([(report, call, 0.0)])
            else:
                pending.append((report, call, time.monotonic() + timeout))
            return
        if kind == _INLINE:
            delivered_ok, outcome = self._call_inline(sink, request)
            if delivered_ok:
                report.result = outcome
                report.ok = True
            else:
                self._inline_failed(report, request, outcome)
            return
        assert timeout is not None  # _THREAD only with a time-out
        call = SinkCall(sink, (request,), timeout)
        self._threads().submit(call)
        pending.append((report, call, time.monotonic() + timeout))

    def _call_inline(self, sink: Sink, request: ActionRequest) -> tuple[bool, Any]:
        """Call an instant sink: (True, what it returned) or (False, what it raised). Not part
        of the rule's evaluation: a sink does not spend its time budget (and a sink publishing
        into the engine gets budgets of its own)."""
        budget = pause_budget()
        try:
            result = sink(request)
            if result is not None and inspect.isawaitable(result):  # returned a coroutine
                result = run_to_completion(result, self._loops)
        except BaseException as err:  # (every failure is the action's)
            return False, err
        finally:
            stop_budget(budget)
        return True, result

    def _inline_failed(
        self, report: ActionReport, request: ActionRequest, err: BaseException
    ) -> None:
        """An instant sink raised `err`: the action failed. A KeyboardInterrupt is re-raised
        once the message is a dead letter."""
        report.error = describe(err)
        if isinstance(err, KeyboardInterrupt):
            self._bury(DeadLetter(request.rule_name, request.message.topic, request.message,
                                  [report], requests=[request],
                                  evaluation_error="interrupted (KeyboardInterrupt) "
                                  "while a sink ran; the publish stopped"))  # fmt: skip
            raise err

    def close(self, timeout: float | None = None) -> None:
        """Release what the engine holds, so that nothing outlives it: wait for the publishes
        in progress in other threads (each is bounded by its action time-outs; `timeout` bounds
        the whole wait), end the worker threads of non-instant sinks (each after its queued
        calls), and drop the subscribers. The rules, the recorder and the dead letters stay,
        and the engine stays usable: a later publish starts new threads when a sink needs them.
        A host calls this when it drops the engine; `with RulesEngine() as engine:` calls it at
        the end of the block."""
        deadline = None if timeout is None else time.monotonic() + timeout
        me = threading.get_ident()
        # Polled, so that a publish pays for no notification. A publish of this very thread
        # (close() called from a sink) cannot end while it waits: it is not waited for.
        while True:
            others = any(thread != me for thread in tuple(self._active))  # a copy: atomic
            if not others or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(0.005)
        with self._lock:
            self._subscribers = []
            threads, self._sink_threads = self._sink_threads, None
        if threads is not None:
            if deadline is None:
                threads.close()
            else:
                threads.close(max(0.0, deadline - time.monotonic()))
        self._loops.close()  # the loop thread of coroutine sinks, if one was started

    def __enter__(self) -> RulesEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _classify(self, sink: Sink) -> int:
        """How `sink` is called (_INLINE, _THREAD, _COROUTINE), worked out once per sink: the
        introspection costs microseconds, the publish path pays a dict lookup. The sink is kept
        with its kind, so that its id is never reused by another object."""
        if is_coroutine_sink(sink):
            kind = _COROUTINE
        elif self.limits.action_timeout is None or is_instant(sink):
            kind = _INLINE
        else:
            kind = _THREAD
        if len(self._sink_kinds) < 4096:  # sinks made per call are not worth keeping
            self._sink_kinds[id(sink)] = (sink, kind)
        return kind

    def _threads(self) -> SinkThreads:
        threads = self._sink_threads
        if threads is None:
            with self._lock:
                threads = self._sink_threads
                if threads is None:
                    threads = self._sink_threads = SinkThreads(self.limits.max_action_threads)
        return threads

    # ---- dead letters -----------------------------------------------------------------------

    def _bury(self, letter: DeadLetter) -> None:
        """Keep `letter`; past `Limits.max_dead_letters`, the oldest leave memory for the
        dead-letter file (or are dropped, counted, with a DeadLetterWarning)."""
        with self._dead_lock:
            self.dead_letters.append(letter)
            overflow = len(self.dead_letters) - self.limits.max_dead_letters
            if overflow <= 0:
                return
            oldest = self.dead_letters[:overflow]
            del self.dead_letters[:overflow]
            self._spill(oldest)

    def _spill(self, letters: list[DeadLetter]) -> None:
        """Write `letters` to the dead-letter file (under the dead-letter lock, so the file
        keeps their order), or drop them when there is none or it cannot be written."""
        path = self.dead_letter_file
        if path is not None:
            try:
                lines = "".join(
                    json.dumps(letter.to_json(), separators=(",", ":"), default=str) + "\n"
                    for letter in letters
                )
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(lines)
            except (OSError, ValueError, TypeError, RecursionError):
                pass  # counted as dropped below: a full disk must not fail the publish
            else:
                self.spilled_dead_letters += len(letters)
                return
        self.dropped_dead_letters += len(letters)
        warnings.warn(
            "dead letters dropped: more than Limits.max_dead_letters were kept and the engine "
            "has no dead_letter_file it can write the oldest to (engine.dropped_dead_letters "
            "counts them)",
            DeadLetterWarning,
            stacklevel=4,
        )

    def drain_dead_letters(self) -> list[DeadLetter]:
        """Remove and return every dead letter."""
        with self._dead_lock:
            letters, self.dead_letters = self.dead_letters, []
        return letters

    def replay_dead_letter(self, letter: DeadLetter) -> list[ActionReport]:
        """Hand a dead letter's failed requests to the sinks registered now (with the same
        time-out as a publish); the ones that fail again go back to the dead-letter list."""
        reports = []
        pending: list[tuple[ActionReport, SinkCall, float]] = []
        for request in letter.requests:
            report = ActionReport(letter.rule_name, request.action_type, request, False)
            self._deliver(self.sink_for(request.action_type), request, report, pending)
            reports.append(report)
        _wait_all(pending)
        still_failing = [report for report in reports if not report.ok]
        if still_failing:
            self._bury(DeadLetter(letter.rule_name, letter.topic, letter.message, still_failing,
                                  requests=[f.request for f in still_failing if f.request]))  # fmt: skip
        return reports


#: How a sink is called (RulesEngine._classify).
_INLINE, _THREAD, _COROUTINE = 0, 1, 2

#: The actions that send only through an ENABLED topic rule destination, once destinations are
#: enforced: an HTTP action's URL must be under one, an InfluxDB action's destinationArn name one.
_DESTINATION_ACTIONS = frozenset({"http", "influxDB"})

#: The variables of every rule without SET (never written: `_execute` extends the list only
#: for a statement that has variables).
_NO_VARIABLES: list[Any] = []

#: Topics whose route a RulesEngine keeps (RulesEngine._route); past it, the older half goes.
#: A route costs about 250 bytes with its topic, so at most about 16 MB; a fleet publishes on
#: one topic per device (the benchmark's mixed stream has 10,353 topics), and a route made
#: again costs a validation and a match of the whole index (3 µs at 10,000 rules).
_ROUTE_CACHE_SIZE = 65_536
#: The rules the remembered routes may name, all told: each costs a route 16 bytes (its name
#: and its plan), so topics that each reach thousands of rules (a `#` filter per rule) are
#: bounded too, to about 16 MB more; past it, the older half goes as well.
_ROUTE_CACHE_RULES = 1_048_576


#: One simple action of a _QuietPlan: (action, its key, its constant parameters, its render
#: function, whether it takes binary payloads, its sink, which is instant, BoundAction.deliver
#: (None: rendered at once), `lazy`, what an ActionRequest left unrendered keeps: (render,
#: constant parameters), and BoundAction.verbatim_json).
_QuietAction = tuple[
    BoundAction, str, Mapping[str, Any], Callable[..., Any], bool, Sink,
    "Callable[..., bytes] | None", tuple[Callable[..., Any], Mapping[str, Any]], bool,
]  # fmt: skip
#: _QuietPlan.steps: (rule, name, actions, function, raw, whole_ints, run_version, full_run,
#: max_output, output, execute).
_QuietSteps = tuple[
    "TopicRule", str, "tuple[_QuietAction, ...] | None", "Callable[[Any, Any], Any] | None", bool,
    bool, "str | None", bool, int, Callable[..., Any], Callable[..., Any],
]  # fmt: skip


class _QuietPlan:
    """How `_publish_one_quietly` runs one rule with the engine's current sinks, in `steps`,
    one tuple the loop unpacks at once: (rule, name, actions: its actions, each simple, or None
    when the rule goes through `_run_rule`; then the fields of `call`, the statement as the loop
    runs it itself: function (None: SET variables, `execute` runs the rule), raw, whole_ints,
    run_version, full_run, max_output, output; and `CompiledRule.execute`)."""

    __slots__ = ("call", "rule", "steps")

    def __init__(self, rule: TopicRule, actions: tuple[_QuietAction, ...] | None) -> None:
        self.rule = rule
        execute = rule.compiled.execute
        call = self.call = rule.compiled.statement_call()
        self.steps: _QuietSteps = (
            # (without a StatementCall, `execute` runs the rule: the other fields go unread)
            (rule, rule.name, actions, None, False, False, None, False, 0, execute, execute)
            if call is None
            else (rule, rule.name, actions, call.function, call.raw, call.whole_ints,
                  call.run_version, call.full_run, call.max_output, call.output, execute)
        )  # fmt: skip


class _Route:
    """Where messages on one topic go: its rules as the engine held them when the route was
    made (a snapshot: a publish never looks a rule up by name while nothing changed), the
    topic they see (without a Basic Ingest prefix), whether it is Basic Ingest, and the quiet
    plans of its rules, made on the first quiet publish (`RulesEngine._route_plans`)."""

    __slots__ = ("effective", "ingest", "plans", "rules", "settled")

    def __init__(self, rules: tuple[TopicRule, ...], effective: str, ingest: bool) -> None:
        self.rules = rules
        self.effective = effective
        self.ingest = ingest
        self.plans: tuple[_QuietSteps, ...] | None = None
        #: The `whole_ints` of its enabled rules that read the settled document (what its
        #: messages' Message.prefer_settled is).
        self.settled: frozenset[bool] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)


_new_request = _new_message = _new_output = object.__new__


def _failed(
    rule_name: str,
    action: BoundAction,
    request: ActionRequest | None,
    params: Mapping[str, Any] | None,
    error: str | None,
) -> ActionReport:
    """The report of an action of a quiet publish that failed (as `_begin` makes it)."""
    kind = action.action_type
    return ActionReport(rule_name, action.key, request, False, error,
                        resource=_resource(kind, params), failed_action=kind.shape)  # fmt: skip


# ---- waiting for sinks ---------------------------------------------------------------------------


def _resource(kind: ActionType, params: Mapping[str, Any] | None) -> str:
    """The `failedResource` of an action (its queue, table, topic...), worked out only for the
    reports: "" when its parameters could not be rendered or name none."""
    if params is None:
        return ""
    try:
        return kind.resource(params)
    except Exception:  # (a resource that cannot be named is not the action's failure)
        return ""


def _wait_all(pending: list[tuple[ActionReport, SinkCall, float]]) -> None:
    """Wait for calls started by `RulesEngine._deliver` (each until its own deadline) and
    complete their reports; a call still running at its deadline is a failed action (a
    coroutine sink is cancelled; a thread cannot be)."""
    for report, call, deadline in pending:
        if not call.done.wait(max(0.0, deadline - time.monotonic())):
            call.give_up()
            report.error = f"action timed out after {call.timeout:g} s"
        elif call.error is not None:
            report.error = describe(call.error)
        else:
            report.ok = True
            report.result = call.result


class _RuleRun:
    """One matched rule of one publish, while its actions are in flight."""

    __slots__ = ("budget", "depth", "evaluation_error", "message", "pending", "report", "rule",
                 "topic", "variables")  # fmt: skip

    def __init__(
        self,
        rule: TopicRule,
        message: Message,
        topic: str,
        depth: int,
        report: RuleReport,
        variables: list[Any],
        pending: list[tuple[ActionReport, SinkCall, float]],
        budget: PublishBudget,
    ) -> None:
        self.rule = rule
        self.message = message
        self.topic = topic
        self.depth = depth
        self.report = report
        self.variables = variables
        self.pending = pending
        self.budget = budget
        self.evaluation_error: str | None = None

    def wait(self) -> None:
        if self.pending:
            pending, self.pending = self.pending, []
            _wait_all(pending)


def _is_sink(value: Any) -> bool:
    try:
        params = list(inspect.signature(value).parameters.values())
    except (TypeError, ValueError):
        return True
    return len(params) >= 1


def error_action_message(
    rule_name: str, message: Message, failures: Iterable[ActionReport]
) -> bytes:
    """The error-action message of rule-error-handling.md: one per rule and message, every
    failed action listed. `clientId` is `N/A` for a message not published over MQTT and
    `sourceIp` is present when the message has one (as AWS sends it)."""
    failures = list(failures)
    batch = _batching(failures)
    context = message.context
    metadata: dict[str, Any] = {"topic": message.topic, "cloudwatchTraceId": str(uuid.uuid4())}
    if not context.over_mqtt:
        metadata["clientId"] = "N/A"
    elif context.clientid is not None:
        metadata["clientId"] = context.clientid
    if context.sourceip is not None:
        metadata["sourceIp"] = context.sourceip
    metadata["base64OriginalPayload"] = base64.b64encode(message.body).decode("ascii")
    listed = [
        {"failedAction": f.failed_action, "failedResource": f.resource,
         "errorMessage": f.error or "unknown error"}
        for f in failures
    ]  # fmt: skip
    body: dict[str, Any] = {"ruleName": rule_name}
    if batch is None:
        body.update(metadata)
        body["failures"] = listed
    else:
        # http_batching.html, Error Actions for Batching: the messages of the batch under
        # `payloadsWithMetadata`, each failure naming them by `affectedIds`; with
        # batchAcrossTopics the topic moves into each entry. iotsql's batches hold one message.
        topic = metadata.pop("topic")
        if batch == "across-topics":
            entry = {"id": 1, "topic": topic, **metadata}
        else:
            body["topic"] = topic
            entry = {"id": 1, **metadata}
        body["payloadsWithMetadata"] = [entry]
        body["failures"] = [{"affectedIds": [1], **failure} for failure in listed]
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def _batching(failures: list[ActionReport]) -> str | None:
    """Whether a failed HTTP action batched its messages (`enableBatching`): None if none did,
    else "across-topics" when its batchConfig has batchAcrossTopics, "per-topic" otherwise."""
    for failure in failures:
        request = failure.request
        if failure.action_type != "http" or request is None:
            continue
        if request.params.get("enableBatching") is True:
            config = request.params.get("batchConfig") or {}
            across = isinstance(config, Mapping) and config.get("batchAcrossTopics") is True
            return "across-topics" if across else "per-topic"
    return None


def _republish_requests(rules: list[RuleReport]) -> list[ActionRequest]:
    """The republish requests that were delivered, in the order of the rules and actions."""
    out = []
    for rule in rules:
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
