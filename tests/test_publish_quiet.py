"""`RulesEngine.publish(..., report=False)` builds no report and does everything else the same
(docs/engine.md, "Publishing without a report"): two engines with the same rules and sinks, one
publishing with reports and one without, deliver the same requests to every sink in the same
order, send the same error actions, keep the same dead letters, feed back the same republished
messages and notify the same subscribers, on generated rules, sink failures and messages."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.actions.base import ActionRequest, unrendered_request
from iotsql.actions.recording import Recorder
from iotsql.budget import current_budget, start_budget, stop_budget
from iotsql.limits import Limits
from iotsql.output import Output

ROLE = "arn:aws:iam::123456789012:role/r"
V2 = "2016-03-23"

#: (name, sql): a WHERE that drops some messages, a projection, a context function, the
#: Basic Ingest target, an evaluation that fails (no provider), a binary pass-through.
STATEMENTS = {
    "All": "SELECT * FROM 'dev/+'",
    "Hot": "SELECT t, topic(2) AS device FROM 'dev/#' WHERE t > 10",
    "Value": "SELECT VALUE t FROM 'dev/+/x'",
    "Ping": "SELECT * FROM 'ping/+'",
    "Pong": "SELECT *, topic() AS came_from FROM 'pong/+'",
    "Fails": "SELECT get_dynamodb('t', 'k', 'v', '" + ROLE + "') AS x FROM 'dev/+'",
    "Ingested": "SELECT t * 2 AS double FROM 'unused/topic'",
    # Under a time budget (a regular expression): not a simple plan, `_run_rule` runs it.
    "Timed": "SELECT regexp_replace(t, 'o+', '0') AS t FROM 'dev/+'",
}

SQS = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": ROLE}}
SNS = {"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t", "roleArn": ROLE}}
LAMBDA = {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}}
TEMPLATED = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/${topic(2)}",
                     "roleArn": ROLE}}  # fmt: skip
#: Ping and Pong republish to each other: a loop the depth guard and the budgets end.
REPUBLISH = {
    "Ping": {"republish": {"topic": "pong/${topic(2)}", "roleArn": ROLE}},
    "Pong": {"republish": {"topic": "ping/${topic(2)}", "roleArn": ROLE}},
}
BASE64 = {"sqs": {**SQS["sqs"], "useBase64": True}}  # (deliver called on every output)
ACTIONS = [SQS, SNS, LAMBDA, TEMPLATED, BASE64]
ERROR_ACTIONS = [None, SQS, SNS, {"republish": {"topic": "errors/x", "roleArn": ROLE}}]


def _record(log: list[Any], fails: Callable[[ActionRequest], bool]) -> Callable[..., Any]:
    def sink(request: ActionRequest) -> str:
        log.append(_request_key(request))
        if fails(request):
            raise RuntimeError(f"refused {request.action_type}")
        return "ok"

    return sink


def _without_trace_id(payload: bytes) -> bytes:
    """An error-action message without its trace id, a fresh uuid per message."""
    try:
        body = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(body, dict) or "cloudwatchTraceId" not in body:
        return payload
    del body["cloudwatchTraceId"]
    return json.dumps(body, sort_keys=True).encode()


def _request_key(request: ActionRequest) -> tuple[Any, ...]:
    payload = _without_trace_id(request.payload)
    arguments = dict(request.request.get("arguments", {}))
    arguments.pop("MessageBody", None)  # the payload, compared above
    arguments.pop("Message", None)
    arguments.pop("Payload", None)
    arguments.pop("payload", None)
    return (request.rule_name, request.action_type, request.topic, payload,
            request.is_error_action, request.depth, sorted(request.params.items()),
            request.request.get("operation"), sorted(map(str, arguments.items())))  # fmt: skip


def _letter_key(letter: iotsql.DeadLetter) -> tuple[Any, ...]:
    return (letter.rule_name, letter.topic, letter.message.body, letter.evaluation_error,
            [(f.rule_name, f.action_type, f.error, f.is_error_action, f.resource)
             for f in letter.failures],
            None if letter.error_action_failure is None else letter.error_action_failure.error,
            [_request_key(r) for r in letter.requests])  # fmt: skip


class World:
    """One engine, its sinks' logs and its subscribers' log."""

    def __init__(self, rules: dict[str, dict[str, Any]], failing: frozenset[str],
                 threaded: bool, limits: Limits) -> None:  # fmt: skip
        self.engine = iotsql.RulesEngine(limits=limits)
        self.log: list[Any] = []
        self.threaded_log: list[Any] = []
        self.heard: list[tuple[str, bytes]] = []
        lock = threading.Lock()

        def fails(request: ActionRequest) -> bool:
            return request.action_type in failing or (
                request.is_error_action and "error" in failing
            )

        for action_type in ("sqs", "sns"):
            sink = _record(self.log, fails)
            sink.instant = True  # type: ignore[attr-defined]
            self.engine.register_sink(action_type, sink)
        if threaded:  # called in a worker thread, under the action time-out
            recorded = _record(self.threaded_log, fails)

            def in_thread(request: ActionRequest) -> str:
                with lock:
                    return recorded(request)  # type: ignore[no-any-return]

            self.engine.register_sink("lambda", in_thread)
        else:
            sink = _record(self.log, fails)
            sink.instant = True  # type: ignore[attr-defined]
            self.engine.register_sink("lambda", sink)
        self.engine.subscribe("#", lambda topic, body, context: self.heard.append(
            (topic, _without_trace_id(body))))  # fmt: skip
        for name, payload in rules.items():
            self.engine.create_topic_rule(name, payload)

    def publish(self, topic: str, body: bytes, report: bool) -> tuple[str, Any]:
        try:
            result = self.engine.publish(topic, body, report=report)
        except iotsql.IotSqlError as err:
            return "error", (type(err).__name__, str(err))
        return "ok", None if result is None else type(result).__name__

    def outcome(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "threaded": sorted(self.threaded_log, key=repr),
            "heard": self.heard,
            "dead": [_letter_key(letter) for letter in self.engine.dead_letters],
            "recorded": [_request_key(r) for r in self.engine.recorder.requests],
        }


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Any, ...]:
    names = draw(st.sets(st.sampled_from(sorted(STATEMENTS)), min_size=1))
    rules = {}
    for name in sorted(names):
        actions = draw(st.lists(st.sampled_from(ACTIONS), max_size=3))
        if name in REPUBLISH and draw(st.booleans()):
            actions.append(REPUBLISH[name])
        payload: dict[str, Any] = {"sql": STATEMENTS[name], "awsIotSqlVersion": V2,
                                   "actions": actions}  # fmt: skip
        error_action = draw(st.sampled_from(ERROR_ACTIONS))
        if error_action is not None:
            payload["errorAction"] = error_action
        rules[name] = payload
    failing = frozenset(draw(st.sets(st.sampled_from(["sqs", "sns", "lambda", "error"]))))
    threaded = draw(st.booleans())
    depth = draw(st.sampled_from([2, 8]))
    republishes = draw(st.sampled_from([3, 256]))
    actions_budget = draw(st.sampled_from([5, 10_000]))
    # 24 bytes: `Pong`'s outputs and the longer pass-throughs fail the rule (its actions go
    # to the error action), the others are delivered.
    output_bytes = draw(st.sampled_from([24, 128 * 1024]))
    limits = Limits(max_republish_depth=depth, max_republishes_per_publish=republishes,
                    max_actions_per_publish=actions_budget,
                    max_output_bytes=output_bytes)  # fmt: skip
    topics = ["dev/a", "dev/b/x", "dev/c/d", "ping/a", "pong/b", "other/z",
              "$aws/rules/Ingested/anything", "$aws/rules/Missing/x", "bad/+/topic"]  # fmt: skip
    # (b"\xffbinary" is not UTF-8 text: SQS and SNS refuse it as a pass-through)
    bodies = [b'{"t": 5}', b'{"t": 25.0}', b'{"t": "hot"}', b"\x00binary", b"\xffbinary",
              b"[1, 2]", b'{"u": 1}']  # fmt: skip
    messages = draw(st.lists(st.tuples(st.sampled_from(topics), st.sampled_from(bodies)),
                             min_size=1, max_size=6))  # fmt: skip
    return rules, failing, threaded, limits, messages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_quiet_publish_does_what_a_reported_one_does(scenario: tuple[Any, ...]) -> None:
    rules, failing, threaded, limits, messages = scenario
    loud = World(rules, failing, threaded, limits)
    quiet = World(rules, failing, threaded, limits)
    try:
        for topic, body in messages:
            said = loud.publish(topic, body, True)
            kept = quiet.publish(topic, body, False)
            assert said[0] == kept[0]
            if said[0] == "error":
                assert said == kept
            else:
                assert said[1] == "PublishReport" and kept[1] is None
        assert quiet.outcome() == loud.outcome()
    finally:
        loud.engine.close()
        quiet.engine.close()


@pytest.mark.parametrize("actions", [[], [SQS]])
def test_an_output_over_the_limit_fails_only_a_rule_with_actions(actions: list[Any]) -> None:
    """`_run_rule` measures the output only for actions to deliver it to."""
    rules = {"Pong": {"sql": STATEMENTS["Pong"], "awsIotSqlVersion": V2, "actions": actions}}
    limits = Limits(max_output_bytes=24)
    loud = World(rules, frozenset(), False, limits)
    quiet = World(rules, frozenset(), False, limits)
    loud.publish("pong/b", b'{"t": 5}', True)
    quiet.publish("pong/b", b'{"t": 5}', False)
    assert quiet.outcome() == loud.outcome()
    assert len(quiet.engine.dead_letters) == len(actions)


@pytest.mark.parametrize("name", ["orjson", "json"])
def test_an_output_orjson_cannot_write_is_delivered_the_same_way(name: str) -> None:
    """An integer past 64 bits: orjson refuses it, the standard library writes it (the quiet
    publish makes the body itself and leaves that case to Output.to_bytes)."""
    if name == "orjson":
        pytest.importorskip("orjson")
    rules = {"Big": {"sql": "SELECT n, n + 1 AS m FROM 'dev/+'", "awsIotSqlVersion": V2,
                     "actions": [SQS]}}  # fmt: skip
    previous = iotsql.values.json_backend()
    iotsql.values.set_json_backend(name)
    try:
        loud = World(rules, frozenset(), False, Limits())
        quiet = World(rules, frozenset(), False, Limits())
        body = b'{"n": 18446744073709551616}'
        loud.publish("dev/a", body, True)
        quiet.publish("dev/a", body, False)
    finally:
        iotsql.values.set_json_backend(previous)
    assert quiet.outcome() == loud.outcome()
    (delivered,) = quiet.log
    assert b'{"n":18446744073709551616,"m":18446744073709551617}' in delivered


def test_a_republish_loop_is_fed_back_and_stopped_the_same_way() -> None:
    rules = {
        name: {"sql": STATEMENTS[name], "awsIotSqlVersion": V2,
               "actions": [REPUBLISH[name], SQS], "errorAction": SNS}
        for name in ("Ping", "Pong")
    }  # fmt: skip
    limits = Limits(max_republish_depth=5)
    loud = World(rules, frozenset(), False, limits)
    quiet = World(rules, frozenset(), False, limits)
    report = loud.engine.publish("ping/a", b'{"n": 1}')
    assert quiet.engine.publish("ping/a", b'{"n": 1}', report=False) is None
    assert len(report.requests) > 5  # the chain ran
    assert any("republish loop stopped" in (f.error or "") for f in report.failures)
    assert quiet.outcome() == loud.outcome()
    assert [topic for topic, _ in quiet.heard][:3] == ["ping/a", "pong/a", "ping/a"]


@pytest.mark.parametrize("report", [True, False])
def test_an_invalid_topic_or_payload_raises_either_way(report: bool) -> None:
    engine = iotsql.RulesEngine(limits=Limits(max_payload_bytes=10))
    with pytest.raises(iotsql.IotSqlError):
        engine.publish("a/+", b"{}", report=report)
    with pytest.raises(iotsql.IotSqlError):
        engine.publish("a/b", b'{"long": "payload"}', report=report)
    for not_a_name in (5, ["a", "b"], {"a": 1}):  # (unhashable ones too: no TypeError)
        with pytest.raises(iotsql.InvalidTopicError):
            engine.publish(not_a_name, b"{}", report=report)  # type: ignore[arg-type]


# ---- the plans of a quiet publish (RulesEngine._plan) -------------------------------------------


def _instant(log: list[tuple[str, bytes]], tag: str) -> Callable[[ActionRequest], None]:
    def sink(request: ActionRequest) -> None:
        log.append((tag, request.payload))

    sink.instant = True  # type: ignore[attr-defined]
    return sink


def _sqs_rule(sql: str = "SELECT * FROM 'dev/+'") -> dict[str, Any]:
    return {"sql": sql, "awsIotSqlVersion": V2, "actions": [SQS]}


def test_a_sink_registered_after_a_quiet_publish_receives_the_next_one() -> None:
    log: list[tuple[str, bytes]] = []
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("R", _sqs_rule())
    engine.publish("dev/a", b'{"n": 1}', report=False)  # the plan: the recorder's sink
    assert [r.payload for r in engine.recorder["sqs"].requests] == [b'{"n":1}']
    engine.register_sink("sqs", _instant(log, "first"))
    engine.publish("dev/a", b'{"n": 2}', report=False)
    engine.register_sink("sqs", _instant(log, "second"))
    engine.publish("dev/a", b'{"n": 3}', report=False)
    assert log == [("first", b'{"n":2}'), ("second", b'{"n":3}')]
    assert len(engine.recorder["sqs"].requests) == 1


def test_a_new_recorder_receives_the_next_quiet_publish() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("R", _sqs_rule())
    engine.publish("dev/a", b'{"n": 1}', report=False)
    old = engine.recorder
    engine.recorder = Recorder()
    engine.publish("dev/a", b'{"n": 2}', report=False)
    assert [r.payload for r in old["sqs"].requests] == [b'{"n":1}']
    assert [r.payload for r in engine.recorder["sqs"].requests] == [b'{"n":2}']


def test_a_replaced_disabled_or_deleted_rule_is_seen_by_the_next_quiet_publish() -> None:
    log: list[tuple[str, bytes]] = []
    engine = iotsql.RulesEngine(sinks={"sqs": _instant(log, "sqs")})
    engine.create_topic_rule("R", _sqs_rule())
    engine.publish("dev/a", b'{"n": 1}', report=False)
    engine.replace_topic_rule("R", _sqs_rule("SELECT n + 1 AS m FROM 'dev/+'"))
    engine.publish("dev/a", b'{"n": 1}', report=False)
    engine.disable_topic_rule("R")
    engine.publish("dev/a", b'{"n": 1}', report=False)
    engine.enable_topic_rule("R")
    engine.publish("dev/a", b'{"n": 2}', report=False)
    engine.delete_topic_rule("R")
    engine.publish("dev/a", b'{"n": 3}', report=False)
    engine.create_topic_rule("R", _sqs_rule("SELECT 'again' AS s FROM 'dev/+'"))
    engine.publish("dev/a", b'{"n": 4}', report=False)
    assert [body for _, body in log] == [b'{"n":1}', b'{"m":2}', b'{"m":3}', b'{"s":"again"}']
    assert "R" in engine._plans
    engine.delete_topic_rule("R")
    assert "R" not in engine._plans  # a deleted rule's plan is not kept


@pytest.mark.parametrize("report", [True, False])
def test_a_sink_that_changes_the_rules_is_seen_by_the_rest_of_its_publish(report: bool) -> None:
    """Rules run in their order; the sink of the first deletes the second, replaces the third
    and disables the fourth: the rest of the same publish skips the second, runs the third as
    it is now and skips the fourth, with a report or without."""
    log: list[tuple[str, bytes]] = []
    engine = iotsql.RulesEngine()
    deliver = _instant(log, "sqs")

    def first(request: ActionRequest) -> None:
        deliver(request)
        if request.payload == b'{"n":2}':
            engine.delete_topic_rule("B")
            engine.replace_topic_rule("C", _sqs_rule("SELECT 'new' AS c FROM 'dev/+'"))
            engine.disable_topic_rule("D")

    first.instant = True  # type: ignore[attr-defined]
    engine.register_sink("sqs", first)
    engine.create_topic_rule("A", _sqs_rule())
    for name in "BCD":
        engine.create_topic_rule(name, _sqs_rule(f"SELECT '{name}' AS r FROM 'dev/+'"))
    for n in (1, 2, 3):
        engine.publish("dev/a", b'{"n": %d}' % n, report=report)
    assert sorted(engine.rules) == ["A", "C", "D"]
    assert [body for _, body in log] == [
        b'{"n":1}', b'{"r":"B"}', b'{"r":"C"}', b'{"r":"D"}',
        b'{"n":2}', b'{"c":"new"}',
        b'{"n":3}', b'{"c":"new"}',
    ]  # fmt: skip


def test_a_quiet_publish_hands_sinks_the_request_a_reported_one_does() -> None:
    """The quiet path sets ActionRequest's fields itself: every field, the downstream request
    and the parameters rendered on their first read (ActionType.deliver made the payload)."""
    got: list[ActionRequest] = []

    def keep(request: ActionRequest) -> None:
        got.append(request)

    keep.instant = True  # type: ignore[attr-defined]
    engine = iotsql.RulesEngine(sinks={"sqs": keep})
    engine.create_topic_rule("R", _sqs_rule("SELECT *, topic(2) AS d FROM 'dev/+'"))
    context = iotsql.Context(timestamp=1_700_000_000_000, traceid="t-1", clientid="c-1")
    engine.publish("dev/a", b'{"n": 1}', context, report=True)
    engine.publish("dev/a", b'{"n": 1}', context, report=False)
    loud, quiet = got
    assert type(quiet) is ActionRequest
    for made_by in (quiet, loud):  # a reported publish hands it over unrendered too
        assert "_unrendered" in vars(made_by) and "request" not in vars(made_by)
        assert "params" not in vars(made_by)
    action = engine.rule("R").actions[0]
    made = unrendered_request("R", "sqs", quiet.payload, quiet.message, quiet.topic, quiet.output,
                              action.render, action.constant_params)  # fmt: skip
    assert list(vars(made)) == list(vars(quiet))  # the fields the engine sets itself
    assert made.request == loud.request
    assert quiet.request == loud.request and quiet.params == loud.params
    assert quiet.params is not loud.params  # each request its own copy
    assert "_unrendered" not in vars(quiet)  # rendered, it keeps no renderer
    # Every field reads the same (is_error_action and a depth of 0 are the class's defaults).
    names = [field.name for field in dataclasses.fields(ActionRequest)]
    loud_fields = {name: getattr(loud, name) for name in names}
    quiet_fields = {name: getattr(quiet, name) for name in names}
    # The quiet path sets the Message's slots itself too: every one, as __init__ does.
    made, fresh = quiet_fields.pop("message"), iotsql.Message(b'{"n": 1}', "dev/a", context)
    assert type(made) is iotsql.Message and loud_fields.pop("message").body == made.body
    for slot in iotsql.Message.__slots__:
        if slot == "prefer_settled":  # the route's, as the reported publish sets it
            assert made.prefer_settled == loud.message.prefer_settled == frozenset({True})
        elif slot in ("_v1", "_v2", "_raw"):  # decoded on demand: the same document or unset
            decoded = iotsql.Message(b'{"n": 1}', "dev/a", context).document(slot == "_v2")
            assert getattr(made, slot) in (getattr(fresh, slot), decoded), slot
        else:
            assert getattr(made, slot) == getattr(fresh, slot), slot
    assert loud_fields.pop("output") == quiet_fields.pop("output")
    # The quiet path sets the Output's slots itself too: every one, as __init__ does.
    loud.output.to_bytes()
    for slot in Output.__slots__:
        assert getattr(quiet.output, slot) == getattr(loud.output, slot), slot
    assert loud_fields == quiet_fields
    assert quiet == ActionRequest(**quiet_fields, message=made, output=quiet.output)
    assert quiet.params is not engine.rule("R").actions[0].constant_params  # a copy each


@pytest.mark.parametrize("how", ["pickle", "copy", "equality", "replace", "repr"])
def test_an_unrendered_request_renders_wherever_it_is_read(how: str) -> None:
    """A quiet publish's request is rendered when first read, whatever reads it: a copy or a
    pickle carries the rendered request (not how to render it), equality and
    dataclasses.replace see it, and any other missing attribute is still an AttributeError."""
    import copy
    import dataclasses
    import pickle

    got: list[ActionRequest] = []

    def keep(request: ActionRequest) -> None:
        got.append(request)

    keep.instant = True  # type: ignore[attr-defined]
    engine = iotsql.RulesEngine(sinks={"sqs": keep})
    engine.create_topic_rule("R", _sqs_rule())
    for report in (True, False):
        engine.publish("dev/a", b'{"n": 1}', iotsql.Context(timestamp=1), report=report)
    loud, quiet = got
    assert "_unrendered" in vars(quiet)
    if how == "pickle":
        other = pickle.loads(pickle.dumps(quiet))
    elif how == "copy":
        other = copy.copy(quiet)
    elif how == "replace":
        other = dataclasses.replace(quiet, depth=0)
    elif how == "repr":
        assert repr(quiet) == repr(loud)
        other = quiet
    else:  # (Messages compare by identity)
        assert quiet == dataclasses.replace(loud, message=quiet.message)
        other = quiet
    if how in ("pickle", "copy", "replace"):
        assert "_unrendered" not in vars(other) and other.request == loud.request
    assert other.params == loud.params and other.request == loud.request
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        quiet.nothing  # noqa: B018


def test_a_quiet_publish_under_a_time_budget_sets_it_aside_for_its_sinks() -> None:
    """A publish made while a time budget runs (from inside a timed evaluation) goes the
    general way: its sinks are called with the budget set aside, as `_begin` does."""
    seen: list[object] = []

    def sink(request: ActionRequest) -> None:
        seen.append(current_budget())

    sink.instant = True  # type: ignore[attr-defined]
    engine = iotsql.RulesEngine(sinks={"sqs": sink})
    engine.create_topic_rule("R", _sqs_rule())
    token = start_budget(60.0)
    try:
        engine.publish("dev/a", b"{}", report=False)
        engine.publish("dev/a", b"{}", report=True)
    finally:
        stop_budget(token)
    engine.publish("dev/a", b"{}", report=False)
    assert seen == [None, None, None]


#: Every function of the message's context, which a statement reading nothing else evaluates
#: with a ContextRun (message, topic, SQL version only) on the short paths.
CONTEXT_SQL = (
    "SELECT topic() AS t, topic(2) AS t2, clientid() AS c, principal() AS p, accountid() AS a, "
    "sourceip() AS s, traceid() AS tr, timestamp() AS ts, sql_version() AS v, "
    "get_mqtt_property('content_type') AS ct, get_user_properties() AS up, "
    "get_user_properties('k') AS k FROM 'dev/+'"
)


def test_the_context_functions_read_the_same_on_every_path() -> None:
    """evaluate on bytes and a quiet publish make a ContextRun; evaluate on a Message and a
    reported publish a full Run: the same values either way."""
    context = iotsql.Context(clientid="c-1", principal="p-1", timestamp=1_700_000_000_000,
                             accountid="210987654321", sourceip="10.0.0.9", traceid="tr-1",
                             user_properties=(("k", "v1"), ("k", "v2")),
                             mqtt_properties={"content_type": "application/json"})  # fmt: skip
    version = V2  # (several of them are not in 2015-10-08)
    rule = iotsql.CompiledRule(CONTEXT_SQL, version)
    assert rule._compiled.needs_run and not rule._compiled.run_state
    body = b'{"n": 1}'
    short = rule.evaluate(body, "dev/a", context)
    full = rule.evaluate(iotsql.Message(body, "dev/a", context), "dev/a")
    assert short is not None and full is not None
    assert short.value == full.value and short.value["v"] == version
    assert short.value["t2"] == "a" and short.value["up"] == [{"k": "v1"}, {"k": "v2"}]
    bodies = []
    for report in (True, False):
        log: list[tuple[str, bytes]] = []
        engine = iotsql.RulesEngine(sinks={"sqs": _instant(log, "sqs")})
        engine.create_topic_rule("R", {"sql": CONTEXT_SQL, "awsIotSqlVersion": version,
                                       "actions": [SQS]})  # fmt: skip
        engine.publish("dev/a", body, context, report=report)
        bodies += [json.loads(payload) for _, payload in log]
    assert bodies == [short.value, short.value]


def test_a_quiet_publish_keeps_the_time_out_of_a_sink_that_may_block() -> None:
    # A sink that is not instant runs in a worker thread under Limits.action_timeout in a
    # quiet publish as in a reported one: the publish does not wait for it past the time-out,
    # and the message is kept as a dead letter.
    release = threading.Event()
    engine = iotsql.RulesEngine(limits=Limits(action_timeout=0.2))
    engine.register_sink("sqs", lambda request: release.wait(30))
    engine.create_topic_rule("R", {"sql": "SELECT * FROM 't'", "awsIotSqlVersion": V2,
                                   "actions": [{"sqs": {"queueUrl": "q", "roleArn": ROLE}}]})  # fmt: skip
    try:
        engine.publish("t", b'{"n": 1}', report=False)
        (letter,) = engine.drain_dead_letters()
        assert letter.rule_name == "R" and "timed out" in str(letter)
    finally:
        release.set()
        engine.close()
