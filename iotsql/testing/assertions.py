"""`RuleTester`: a small facade over a RulesEngine for tests, with or without pytest.

    iot = RuleTester.load("template.yaml")
    iot.publish("sensors/d1/data", {"temperature": 31}, clientid="d1")
    iot.assert_fired("HighTemp", body={"temperature": 31})
    iot.received("HighTemp", "sqs")                         # bodies the sqs action received
    iot.query("sqs[?params.queueUrl=='q'].body.temperature")   # jmespath over the requests

Every publish goes through the engine: its rules, routing, templates, sinks and error actions.
Actions nobody registered a sink for are recorded (the engine's recorder), so nothing leaves the
process. Failed assertions raise AssertionError with the rule, its SQL, the message, why the
rule did or did not fire (the WHERE value, from `CompiledRule.explain`) and a diff against the
expectation.
"""

from __future__ import annotations

import base64
import difflib
import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from iotsql.actions.base import ActionRequest
from iotsql.actions.recording import RecordingSink
from iotsql.ast import unparse
from iotsql.engine import ActionReport, PublishReport, RuleReport, RulesEngine
from iotsql.errors import IotSqlError
from iotsql.suggest import did_you_mean
from iotsql.testing.conformance import same_json
from iotsql.values import UNDEFINED

_WIDTH = 400


class RuleTester:
    """Publish messages into `engine` and assert what its rules did.

    `sources` maps rule names to where they were defined (`template.yaml: HighTempRule`), for
    the failure messages; `load`/`add_rules` fill it."""

    def __init__(
        self, engine: RulesEngine | None = None, *, sources: Mapping[str, str] | None = None
    ) -> None:
        self.engine = engine if engine is not None else RulesEngine()
        self.sources: dict[str, str] = dict(sources or {})
        self.reports: list[PublishReport] = []

    # ---- setting up -------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path_or_text: Any,
        format: str | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
        engine: RulesEngine | None = None,
    ) -> RuleTester:
        """A tester over the rules of a template, serverless.yml, Terraform files... (see
        `iotsql.load_rules`)."""
        from iotsql.loaders import load_rules

        tester = cls(engine)
        tester.add_rules(load_rules(path_or_text, format, parameters=parameters, validate=False))
        return tester

    def add_rules(self, rules: Iterable[Any]) -> None:
        """Create LoadedRules (from `iotsql.load_rules`) in the engine."""
        for rule in rules:
            try:
                self.engine.create_topic_rule(rule.name, rule.payload)
            except IotSqlError as err:
                raise rule.locate(err) from err
            self.sources[rule.name] = rule.source

    def fail_action(self, action_type: str, error: str = "simulated failure") -> RecordingSink:
        """Make every `action_type` action fail (its sink records the request, then raises), to
        exercise error actions. Returns the sink."""
        sink = RecordingSink(fail_with=error)
        self.engine.register_sink(action_type, sink)
        return sink

    def clear(self) -> None:
        """Forget what was published (the rules stay)."""
        self.reports.clear()
        self.engine.recorder.clear()

    # ---- publishing -------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: Any = b"",
        context: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> PublishReport:
        """Publish one message: `payload` is bytes, text, or a JSON value (dict, list...);
        `fields` are context keys (`clientid="d1"`, `timestamp=1700000000000`, `principal`...)."""
        merged = {**(context or {}), **fields}
        report = self.engine.publish(topic, payload, merged or None)
        self.reports.append(report)
        return report

    @property
    def last(self) -> PublishReport:
        """The report of the last publish."""
        __tracebackhide__ = True
        if not self.reports:
            raise AssertionError(
                "nothing was published yet: call publish(topic, payload) first, or give the "
                "assertion topic= and payload="
            )
        return self.reports[-1]

    def fired(self) -> list[str]:
        """The rules that fired on the last message, and on the messages its republish actions
        fed back."""
        return [r.rule_name for _, r in _rule_reports(self.last) if r.fired]

    # ---- assertions -------------------------------------------------------------------------

    def assert_fired(
        self,
        rule_name: str,
        topic: str | None = None,
        payload: Any = None,
        body: Any = None,
        **context: Any,
    ) -> RuleReport:
        """Assert that `rule_name` fired on the last message (with `topic` and `payload`: on
        that message, published now); with `body`, that its output is exactly that JSON value
        (compared strictly by type: 5 is not 5.0) or those bytes."""
        __tracebackhide__ = True
        self._require(rule_name)
        report = self._message(topic, payload, context)
        hits = [r for _, r in _rule_reports(report) if r.rule_name == rule_name and r.fired]
        if not hits:
            raise AssertionError(self._did_not_fire(rule_name, report))
        if body is not None:
            outputs = [hit.output.value if hit.output is not None else None for hit in hits]
            if not any(_same(body, output) for output in outputs):
                raise AssertionError(self._wrong_body(rule_name, report, body, outputs[0]))
        return hits[0]

    def assert_not_fired(
        self, rule_name: str, topic: str | None = None, payload: Any = None, **context: Any
    ) -> None:
        """Assert that `rule_name` did not fire on the last message (or on this one)."""
        __tracebackhide__ = True
        self._require(rule_name)
        report = self._message(topic, payload, context)
        hits = [r for _, r in _rule_reports(report) if r.rule_name == rule_name and r.fired]
        if hits:
            raise AssertionError(self._fired(rule_name, report, hits[0], "it was expected not to"))

    def assert_no_rule_fired(
        self, topic: str | None = None, payload: Any = None, **context: Any
    ) -> None:
        """Assert that no rule fired on the last message (or on this one)."""
        __tracebackhide__ = True
        report = self._message(topic, payload, context)
        hits = [r for _, r in _rule_reports(report) if r.fired]
        if hits:
            names = ", ".join(sorted({h.rule_name for h in hits}))
            expectation = f"no rule was expected to fire (fired: {names})"
            raise AssertionError(self._fired(hits[0].rule_name, report, hits[0], expectation))

    # ---- what the actions received ----------------------------------------------------------

    def requests(
        self,
        rule_name: str | None = None,
        action_type: str | None = None,
        *,
        error_action: bool | None = None,
    ) -> list[ActionRequest]:
        """The requests delivered to sinks by everything published through this tester (its
        republished messages included), oldest first; filtered by rule, by action type (`sqs`,
        the key of the action in the rule) and by where they come from: `error_action=None`
        (the default) both the rule's actions and its error action, `True` only the error
        action, `False` only the actions. `request.is_error_action` tells them apart.

        An action type that does not exist (`Sqs`, CloudFormation's spelling), or that the rule
        has neither among its actions nor as its error action, is an AssertionError rather than
        an empty list, which an assertion like `== []` would take for an answer."""
        __tracebackhide__ = True
        if rule_name is not None:
            self._require(rule_name)
        if action_type is not None:
            self._require_action(rule_name, action_type, error_action)
        out = []
        for action in self._delivered():
            request = action.request
            assert request is not None
            if rule_name is not None and request.rule_name != rule_name:
                continue
            if action_type is not None and request.action_type != action_type:
                continue
            if error_action is not None and request.is_error_action != error_action:
                continue
            out.append(request)
        return out

    def received(
        self, rule_name: str | None = None, action_type: str | None = None, *,
        error_action: bool | None = None,
    ) -> list[Any]:  # fmt: skip
        """The bodies those requests delivered, decoded as JSON where they are JSON (the same
        filters as `requests`: by default the error action's messages too)."""
        __tracebackhide__ = True
        return [r.body for r in self.requests(rule_name, action_type, error_action=error_action)]

    def error_messages(self, rule_name: str | None = None) -> list[Any]:
        """The error-action messages (`ruleName`, `failures`...) of `rule_name` or of any rule."""
        return self.received(rule_name, error_action=True)

    def query(self, expression: str) -> Any:
        """A jmespath expression over the delivered requests grouped by action type, each as
        `ActionRequest.to_json()` (`rule`, `action`, `errorAction`, `topic`, `params`, `body`,
        `request`): `iot.query("sqs[?params.queueUrl=='q'].body.temperature")`."""
        import jmespath

        grouped: dict[str, list[Any]] = {}
        for action in self._delivered():
            assert action.request is not None
            grouped.setdefault(action.request.action_type, []).append(action.request.to_json())
        return jmespath.search(expression, grouped)

    def _delivered(self) -> Iterator[ActionReport]:
        for report in self.reports:
            for _, rule in _rule_reports(report):
                for action in (*rule.actions, *((rule.error_action,) if rule.error_action else ())):
                    if action.ok and action.request is not None:
                        yield action

    # ---- messages ---------------------------------------------------------------------------

    def _require(self, rule_name: str) -> None:
        __tracebackhide__ = True
        rules = self.engine.rules
        if rule_name in rules:
            return
        if not rules:
            raise AssertionError(
                f"no rule named {rule_name}: no rules are loaded (set iotsql_rules in the pytest "
                "configuration, mark the test with @pytest.mark.iot_rules(path), or load some "
                "with RuleTester.load(path))"
            )
        close = difflib.get_close_matches(rule_name, list(rules), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise AssertionError(
            f"no rule named {rule_name}{hint}\n  rules: {', '.join(sorted(rules))}"
        )

    def _require_action(
        self, rule_name: str | None, action_type: str, error_action: bool | None
    ) -> None:
        __tracebackhide__ = True
        from iotsql.actions.types import ACTION_TYPES

        if action_type not in ACTION_TYPES:
            hint = did_you_mean(action_type, ACTION_TYPES)
            raise AssertionError(
                f"no action type {action_type!r}{hint}\n  action types are the keys of the "
                f"CreateTopicRule API: {', '.join(sorted(ACTION_TYPES))}"
            )
        if rule_name is None:
            return
        rule = self.engine.rule(rule_name)
        actions = [action.key for action in rule.actions]
        error = rule.error_action.key if rule.error_action is not None else None
        places = {
            None: action_type in actions or action_type == error,
            False: action_type in actions,
            True: action_type == error,
        }
        if not places[error_action]:
            where = {None: "action or error action", False: "action", True: "error action"}
            raise AssertionError(
                f"rule {rule_name} has no {action_type} {where[error_action]}, so nothing can "
                f"be delivered there\n  actions:      {', '.join(actions) or 'none'}"
                f"\n  error action: {error or 'none'}"
            )

    def _message(
        self, topic: str | None, payload: Any, context: Mapping[str, Any]
    ) -> PublishReport:
        __tracebackhide__ = True
        if topic is not None:
            return self.publish(topic, b"" if payload is None else payload, **context)
        if payload is not None or context:
            raise TypeError("give the topic to publish the payload on (topic=...)")
        return self.last

    def _rule_lines(self, rule_name: str, report: PublishReport) -> list[str]:
        rule = self.engine.rule(rule_name)
        source = self.sources.get(rule_name)
        lines = [f"  rule:     {rule_name}" + (f"  ({source})" if source else "")]
        lines.append(f"  sql:      {_one_line(rule.compiled.sql)}")
        lines.append(f"  version:  {rule.sql_version.value}")
        if rule.disabled:
            lines.append("  state:    disabled (ruleDisabled is true): a disabled rule never fires")
        lines.append(f"  topic:    {report.topic}")
        lines.append(f"  payload:  {_show_body(report.message.body)}")
        return lines

    def _why(self, rule_name: str, report: PublishReport) -> list[str]:
        rule = self.engine.rule(rule_name)
        explanation = rule.compiled.explain(report.message, report.topic,
                                            provider=self.engine.provider)  # fmt: skip
        reason = explanation.reason
        if rule.disabled:
            reason = "the rule is disabled" + (
                " (its SQL alone would fire)" if explanation.fired else f" (and {reason})"
            )
        lines = [f"  why:      {reason}"]
        if not explanation.topic_matched:
            return lines
        for name, value in explanation.variables.items():
            lines.append(f"  SET:      @{name} = {_show(value)}")
        where = rule.compiled.statement.where
        if where is not None:
            lines.append(f"  WHERE:    {unparse(where)}  ->  {_show(explanation.where_value)}")
        if explanation.items:
            items = ", ".join(
                f"{name}: {_show(value)}" for name, value in explanation.items.items()
            )
            lines.append(f"  SELECT:   {_clip(items)}")
        for _, rule_report in _rule_reports(report):
            if rule_report.rule_name == rule_name and rule_report.error:
                lines.append(f"  error:    {rule_report.error}")
        return lines

    def _did_not_fire(self, rule_name: str, report: PublishReport) -> str:
        lines = [f"rule {rule_name} did not fire"]
        lines += self._rule_lines(rule_name, report)
        lines += self._why(rule_name, report)
        fired = [r.rule_name for _, r in _rule_reports(report) if r.fired]
        lines.append(f"  fired:    {', '.join(fired) if fired else 'no rule'}")
        return "\n".join(lines)

    def _fired(
        self, rule_name: str, report: PublishReport, hit: RuleReport, expectation: str
    ) -> str:
        lines = [f"rule {rule_name} fired, but {expectation}"]
        lines += self._rule_lines(rule_name, report)
        lines += self._why(rule_name, report)
        if hit.output is not None:
            lines.append(f"  output:   {_clip(_show(hit.output.value))}")
        for action in hit.actions:
            state = "ok" if action.ok else f"failed: {action.error}"
            lines.append(f"  action:   {action.action_type} {action.resource} ({state})")
        return "\n".join(lines)

    def _wrong_body(self, rule_name: str, report: PublishReport, expected: Any, actual: Any) -> str:
        lines = [f"rule {rule_name} fired, but its output is not the expected body"]
        lines += self._rule_lines(rule_name, report)
        lines.append(f"  expected: {_clip(_show(expected))}")
        lines.append(f"  actual:   {_clip(_show(actual))}")
        lines.append("  diff (- expected, + actual; compared strictly by JSON type: 5 is not 5.0):")
        diff = difflib.unified_diff(_pretty(expected), _pretty(actual), lineterm="", n=3)
        lines += [f"    {line}" for line in list(diff)[2:]]
        return "\n".join(lines)


def _rule_reports(report: PublishReport) -> Iterator[tuple[PublishReport, RuleReport]]:
    """Every rule evaluation a publish caused, republished messages included."""
    for rule in report.rules:
        yield report, rule
    for sub in report.republished:
        yield from _rule_reports(sub)


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(actual, bytes):
        if isinstance(expected, str):
            return actual == expected.encode("utf-8")
        return isinstance(expected, (bytes, bytearray)) and actual == bytes(expected)
    return same_json(expected, actual)


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a value (Undefined and bytes shown as markers, Decimals as numbers)."""
    if value is UNDEFINED:
        return "<Undefined>"
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _show(value: Any) -> str:
    if value is UNDEFINED:
        return "Undefined"
    if isinstance(value, bytes):
        return _show_body(value)
    try:
        return json.dumps(_plain(value), ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return repr(value)


def _show_body(body: bytes) -> str:
    try:
        return _clip(json.dumps(json.loads(body), ensure_ascii=False))
    except (ValueError, UnicodeDecodeError):
        return _clip(repr(body))


def _pretty(value: Any) -> list[str]:
    if isinstance(value, (bytes, bytearray)):
        return [repr(bytes(value))]
    try:
        return json.dumps(_plain(value), indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    except (TypeError, ValueError):
        return [repr(value)]


def _clip(text: str) -> str:
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())
