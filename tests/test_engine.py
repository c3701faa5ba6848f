"""The rules engine: topic rules (create, replace, enable, disable, delete, get, list, load),
routing, dispatch to sinks with rendered templates, error actions, dead letters, republish."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

import pytest

import iotsql
from iotsql.actions.base import ActionRequest
from iotsql.actions.recording import RecordingSink
from iotsql.engine import RulesEngine

ROLE = "arn:aws:iam::123456789012:role/iot"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"


def sqs(queue: str = QUEUE, **extra: Any) -> dict[str, Any]:
    return {"sqs": {"roleArn": ROLE, "queueUrl": queue, **extra}}


def rule(
    sql: str, *actions: dict[str, Any], version: str = "2016-03-23", **extra: Any
) -> dict[str, Any]:
    return {"sql": sql, "awsIotSqlVersion": version, "actions": list(actions), **extra}


@pytest.fixture
def engine() -> RulesEngine:
    return RulesEngine()


# ---- rule management --------------------------------------------------------------------------


def test_create_get_list_replace_delete(engine: RulesEngine) -> None:
    created = engine.create_topic_rule("HighTemp", rule("SELECT * FROM 'a/+'", sqs(),
                                                        description="hot"))  # fmt: skip
    assert created.arn == "arn:aws:iot:us-east-1:123456789012:rule/HighTemp"
    got = engine.get_topic_rule("HighTemp")
    assert got["ruleArn"] == created.arn
    assert got["rule"]["sql"] == "SELECT * FROM 'a/+'"
    assert got["rule"]["awsIotSqlVersion"] == "2016-03-23"
    assert got["rule"]["description"] == "hot" and got["rule"]["ruleDisabled"] is False
    assert [r["ruleName"] for r in engine.list_topic_rules()] == ["HighTemp"]
    assert engine.list_topic_rules()[0]["topicPattern"] == "a/+"
    with pytest.raises(iotsql.ResourceAlreadyExistsError):
        engine.create_topic_rule("HighTemp", rule("SELECT 1 FROM 'x'"))
    engine.replace_topic_rule("HighTemp", rule("SELECT * FROM 'b/#'", sqs()))
    assert engine.publish("a/x", b"{}").fired == []
    assert engine.publish("b/x/y", b"{}").fired == ["HighTemp"]
    engine.delete_topic_rule("HighTemp")
    assert engine.publish("b/x/y", b"{}").fired == []
    with pytest.raises(iotsql.ResourceNotFoundError):
        engine.delete_topic_rule("HighTemp")


def test_sql_version_defaults_to_2015_10_08_as_the_api_does(engine: RulesEngine) -> None:
    engine.create_topic_rule("R", {"sql": "SELECT a FROM 't'", "actions": [sqs()]})
    assert engine.get_topic_rule("R")["rule"]["awsIotSqlVersion"] == "2015-10-08"
    engine.publish("t", b'{"a": 10.0}')
    assert engine.recorder["sqs"].requests[0].payload == b'{"a":10.0}'


def test_enable_and_disable(engine: RulesEngine) -> None:
    engine.create_topic_rule("R", rule("SELECT * FROM 't'", sqs(), ruleDisabled=True))
    assert engine.publish("t", b"{}").fired == []
    engine.enable_topic_rule("R")
    assert engine.publish("t", b"{}").fired == ["R"]
    engine.disable_topic_rule("R")
    assert engine.publish("t", b"{}").fired == []
    assert engine.list_topic_rules(rule_disabled=True)[0]["ruleName"] == "R"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sql": "SELECT 1 FROM 't'"}, "topicRulePayload.actions"),
        ({"actions": []}, "topicRulePayload.sql"),
        (rule("SELECT 1 FROM 't'", {"sqs": {"roleArn": ROLE}}), "topicRulePayload.actions[0].sqs.queueUrl"),
        (rule("SELECT 1 FROM 't'", {"sqs": {"roleArn": ROLE, "queueUrl": QUEUE, "nope": 1}}),
         "topicRulePayload.actions[0].sqs.nope"),
        (rule("SELECT 1 FROM 't'", {"teleport": {}}), "topicRulePayload.actions[0].teleport"),
        (rule("SELECT 1 FROM 't'", {**sqs(), "sns": {"roleArn": ROLE, "targetArn": "x"}}),
         "topicRulePayload.actions[0]"),
        (rule("SELECT 1 FROM 't'", *[sqs()] * 11), "topicRulePayload.actions"),
        ({**rule("SELECT 1 FROM 't'"), "awsIotSqlVersion": 2016}, "topicRulePayload.awsIotSqlVersion"),
        ({**rule("SELECT 1 FROM 't'"), "awsIotSqlVersion": "2016"}, "topicRulePayload.awsIotSqlVersion"),
        (rule("SELECT 1 FROM 't'", sqs(queue="${unclosed")), "topicRulePayload.actions[0].sqs.queueUrl"),
        (rule("SELECT 1 FROM 't'", {"firehose": {"roleArn": ROLE, "deliveryStreamName": "d",
                                                 "separator": ";"}}),
         "topicRulePayload.actions[0].firehose.separator"),
    ],
)  # fmt: skip
def test_bad_rules_name_the_field(engine: RulesEngine, payload: dict[str, Any], field: str) -> None:
    with pytest.raises(iotsql.RuleValidationError) as info:
        engine.create_topic_rule("Bad", payload)
    assert info.value.field == field
    assert engine.rules == {}


def test_bad_rule_names_and_sql(engine: RulesEngine) -> None:
    with pytest.raises(iotsql.RuleValidationError) as info:
        engine.create_topic_rule("bad-name", rule("SELECT 1 FROM 't'"))
    assert info.value.field == "ruleName"
    with pytest.raises(iotsql.SqlParseError):
        engine.create_topic_rule("R", rule("SELECT FROM 't'", sqs()))
    with pytest.raises(iotsql.SqlParseError):
        engine.create_topic_rule("R", rule("SELECT * FROM 'a/#/b'", sqs()))
    assert engine.rules == {}


def test_errors_carry_the_aws_api_error_code(engine: RulesEngine) -> None:
    """Emulators answer CreateTopicRule with `err.code`: each refusal maps to AWS's code."""
    cases = [
        (rule("SELECT FROM 't'"), "SqlParseException"),
        (rule("SELECT * FROM 't'", {"nope": {}}), "InvalidRequestException"),
        (rule("SELECT * FROM 't'", *[sqs()] * 11), "InvalidRequestException"),
        (
            {**rule("SELECT * FROM 't'"), "awsIotSqlVersion": "2017-01-01"},
            "InvalidRequestException",
        ),
    ]
    for payload, code in cases:
        with pytest.raises(iotsql.IotSqlError) as info:
            engine.create_topic_rule("R", payload)
        assert info.value.code == code, payload
    engine.create_topic_rule("R", rule("SELECT * FROM 't'"))
    with pytest.raises(iotsql.IotSqlError) as info:
        engine.create_topic_rule("R", rule("SELECT * FROM 't'"))
    assert info.value.code == "ResourceAlreadyExistsException"
    with pytest.raises(iotsql.IotSqlError) as info:
        engine.delete_topic_rule("Missing")
    assert info.value.code == "ResourceNotFoundException"
    # A body that is not JSON-able: what the broker refuses (it was a code-less IotSqlError).
    for body in ({"a": float("nan")}, {"a": object()}, [b"bytes"]):
        with pytest.raises(iotsql.InvalidPayloadError) as info:
            engine.publish("t", body)
        assert info.value.code == "InvalidRequestException"


def test_load_rules_in_every_shape(engine: RulesEngine, tmp_path: Any) -> None:
    get_output = {"ruleArn": "arn:aws:iot:us-east-1:1:rule/A",
                  "rule": {"ruleName": "A", "sql": "SELECT * FROM 'a'", "createdAt": "x",
                           "actions": [sqs()], "ruleDisabled": False,
                           "awsIotSqlVersion": "2016-03-23"}}  # fmt: skip
    create_input = {"ruleName": "B", "topicRulePayload": rule("SELECT * FROM 'b'", sqs())}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([get_output, create_input]))
    assert [r.name for r in engine.load_rules(path)] == ["A", "B"]
    assert [r.name for r in engine.load_rules({"C": rule("SELECT * FROM 'c'")})] == ["C"]
    assert [r.name for r in engine.load_rules(json.dumps({"rules": [{"ruleName": "D",
            **rule("SELECT * FROM 'd'")}]}))] == ["D"]  # fmt: skip
    with pytest.raises(iotsql.RuleValidationError):
        engine.load_rules(tmp_path / "missing.json")


# ---- routing ----------------------------------------------------------------------------------


def test_routing_by_topic_filter(engine: RulesEngine) -> None:
    engine.create_topic_rule("Plus", rule("SELECT * FROM 'sensor/+/data'", sqs()))
    engine.create_topic_rule("Hash", rule("SELECT * FROM 'sensor/#'", sqs()))
    engine.create_topic_rule("All", rule("SELECT * FROM '#'", sqs()))
    engine.create_topic_rule("Shadow", rule("SELECT * FROM '$aws/things/+/shadow/update'", sqs()))
    assert engine.publish("sensor/a/data", b"{}").fired == ["Plus", "Hash", "All"]
    assert engine.publish("sensor/", b"{}").fired == ["Hash", "All"]
    assert engine.publish("sensor", b"{}").fired == ["All"]
    assert engine.publish("$aws/things/t1/shadow/update", b"{}").fired == ["Shadow"]


def test_basic_ingest_runs_only_the_named_rule(engine: RulesEngine) -> None:
    seen: list[str] = []
    engine.subscribe("#", lambda topic, payload, context: seen.append(topic))
    engine.create_topic_rule("Ingest", rule("SELECT topic() AS t, topic(1) AS first", sqs()))
    engine.create_topic_rule("Other", rule("SELECT * FROM '#'", sqs()))
    report = engine.publish("$aws/rules/Ingest/Buildings/Building5/Lights", b"{}")
    assert report.basic_ingest and report.fired == ["Ingest"]
    assert engine.recorder["sqs"].bodies == [
        {"t": "Buildings/Building5/Lights", "first": "Buildings"}
    ]
    assert engine.publish("$aws/rules/Nope/x", b"{}").fired == []
    assert seen == []
    engine.publish("a/b", b"{}")
    assert seen == ["a/b"]


def test_invalid_topics_and_payload_limits(engine: RulesEngine) -> None:
    with pytest.raises(iotsql.InvalidTopicError):
        engine.publish("a/+/b", b"{}")
    with pytest.raises(iotsql.LimitExceededError):
        engine.publish("/".join(["a"] * 9), b"{}")
    with pytest.raises(iotsql.LimitExceededError):
        engine.publish("t", b"x" * (128 * 1024 + 1))
    engine.publish("$aws/rules/R/" + "/".join(["a"] * 8), b"{}")  # the prefix does not count


# ---- actions and templates --------------------------------------------------------------------


def test_actions_get_rendered_requests(engine: RulesEngine) -> None:
    engine.create_topic_rule(
        "Temp",
        rule(
            "SET @room = topic(2) SELECT temp, @room AS room FROM 'building/+/temp' WHERE temp > 30",
            sqs(queue="https://sqs.us-east-1.amazonaws.com/1/${topic(2)}-${device}"),
            {"republish": {"roleArn": ROLE, "topic": "$$aws/things/${device}/shadow/update"}},
        ),
    )
    report = engine.publish("building/r1/temp", b'{"temp": 31, "device": "d1"}', {"clientid": "c"})
    assert report.fired == ["Temp"]
    (sent,) = engine.recorder["sqs"].requests
    assert isinstance(sent, ActionRequest)
    assert sent.params["queueUrl"] == "https://sqs.us-east-1.amazonaws.com/1/r1-d1"
    assert sent.body == {"temp": 31, "room": "r1"}
    assert sent.request["operation"] == "SendMessage"
    assert sent.message.context.clientid == "c" and sent.rule_name == "Temp"
    (republished,) = engine.recorder["republish"].requests
    assert republished.params["topic"] == "$aws/things/d1/shadow/update"
    assert engine.publish("building/r1/temp", b'{"temp": 20}').fired == []


def test_templates_see_the_original_message_not_the_output(engine: RulesEngine) -> None:
    engine.create_topic_rule("R", rule("SELECT temp AS t FROM 't'", sqs(queue="q-${temp}-${t}")))
    engine.publish("t", b'{"temp": 5}')
    assert engine.recorder["sqs"].requests[0].params["queueUrl"] == "q-5-"


def test_custom_sinks(engine: RulesEngine) -> None:
    received: list[ActionRequest] = []
    engine.register_sink("sqs", received.append)
    engine.create_topic_rule("R", rule("SELECT * FROM 't'", sqs()))
    engine.publish("t", b'{"a": 1}')
    assert [r.body for r in received] == [{"a": 1}]
    assert len(engine.recorder["sqs"]) == 0
    with pytest.raises(TypeError):
        engine.register_sink("sqs", "not callable")  # type: ignore[arg-type]


# ---- failures ---------------------------------------------------------------------------------


def test_failing_actions_go_to_the_error_action(engine: RulesEngine) -> None:
    engine.register_sink("sqs", RecordingSink(fail_with="queue does not exist"))
    engine.register_sink("lambda", RecordingSink(fail_with=RuntimeError("throttled")))
    engine.create_topic_rule("Failing", rule(
        "SELECT * FROM 'err/+'",
        sqs(),
        {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}},
        {"sns": {"roleArn": ROLE, "targetArn": "arn:aws:sns:us-east-1:1:t"}},
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "errors",
                            "key": "${replace(topic(), '/', '-')}"}},
    ))  # fmt: skip
    report = engine.publish("err/x", b'{"v": 1}', {"clientid": "dev-7"})
    (rule_report,) = report.rules
    assert [a.ok for a in rule_report.actions] == [False, False, True]
    assert rule_report.error_action is not None and rule_report.error_action.ok
    (error,) = engine.recorder["s3"].requests
    assert error.is_error_action and error.params["key"] == "err-x"
    body = error.body
    assert set(body) == {"ruleName", "topic", "cloudwatchTraceId", "clientId",
                         "base64OriginalPayload", "failures"}  # fmt: skip
    assert (
        body["ruleName"] == "Failing" and body["topic"] == "err/x" and body["clientId"] == "dev-7"
    )
    assert base64.b64decode(body["base64OriginalPayload"]) == b'{"v": 1}'
    assert body["failures"][0] == {
        "failedAction": "SqsAction", "failedResource": QUEUE,
        "errorMessage": "RuntimeError: queue does not exist",
    }  # fmt: skip
    assert body["failures"][1]["failedAction"] == "LambdaAction"
    assert engine.dead_letters == []


def test_unhandled_failures_become_dead_letters_and_can_be_replayed(engine: RulesEngine) -> None:
    broken = RecordingSink(fail_with="down")
    engine.register_sink("sqs", broken)
    engine.register_sink("s3", RecordingSink(fail_with="bucket gone"))
    engine.create_topic_rule("NoErrorAction", rule("SELECT * FROM 't'", sqs()))
    engine.create_topic_rule("BadErrorAction", rule(
        "SELECT * FROM 't'", sqs(),
        errorAction={"s3": {"roleArn": ROLE, "bucketName": "b", "key": "k"}},
    ))  # fmt: skip
    report = engine.publish("t", b'{"n": 1}')
    assert len(report.failures) == 3
    letters = engine.drain_dead_letters()
    assert [d.rule_name for d in letters] == ["NoErrorAction", "BadErrorAction"]
    assert letters[1].error_action_failure is not None
    assert "bucket gone" in (letters[1].error_action_failure.error or "")
    assert engine.dead_letters == []
    broken.fail_with = None
    replayed = engine.replay_dead_letter(letters[0])
    assert [r.ok for r in replayed] == [True] and broken.bodies[-1] == {"n": 1}


def test_evaluation_failures_are_reported_and_kept(engine: RulesEngine) -> None:
    engine.create_topic_rule(
        "Lookup",
        rule("SELECT aws_lambda('arn:aws:lambda:us-east-1:1:function:f', *) AS r FROM 't'", sqs()),
    )
    report = engine.publish("t", b"{}")
    (failed,) = report.errors
    assert "aws_lambda" in (failed.error or "")
    assert engine.dead_letters[0].evaluation_error == failed.error


def test_an_action_that_cannot_render_fails_alone(engine: RulesEngine) -> None:
    engine.create_topic_rule("R", rule(
        "SELECT VALUE 5 FROM 't'",
        {"dynamoDBv2": {"roleArn": ROLE, "putItem": {"tableName": "t"}}},
        sqs(),
    ))  # fmt: skip
    report = engine.publish("t", b"{}")
    assert [a.ok for a in report.rules[0].actions] == [False, True]


# ---- republish --------------------------------------------------------------------------------


def test_republish_feeds_the_engine_and_stops_loops(engine: RulesEngine) -> None:
    # A rule cannot republish into its own topic space (CreateTopicRule refuses it), but two
    # rules can feed each other.
    engine.create_topic_rule("Ping", rule(
        "SELECT n + 1 AS n FROM 'ping/+'",
        {"republish": {"roleArn": ROLE, "topic": "pong/${n + 1}"}},
    ))  # fmt: skip
    engine.create_topic_rule("Pong", rule(
        "SELECT n + 1 AS n FROM 'pong/+'",
        {"republish": {"roleArn": ROLE, "topic": "ping/${n + 1}"}},
    ))  # fmt: skip
    report = engine.publish("ping/0", b'{"n": 0}')
    depth = 0
    current = report
    while current.republished:
        (current,) = current.republished
        depth += 1
    assert depth == engine.limits.max_republish_depth
    (stopped,) = current.failures
    assert "republish loop stopped" in (stopped.error or "")
    assert len(engine.recorder["republish"]) == engine.limits.max_republish_depth


def test_republish_to_a_real_broker_is_not_fed_back(engine: RulesEngine) -> None:
    sent: list[ActionRequest] = []
    engine.register_sink("republish", sent.append)
    engine.create_topic_rule("R", rule("SELECT * FROM 'in'", {"republish": {"roleArn": ROLE,
                                                                            "topic": "out"}}))  # fmt: skip
    report = engine.publish("in", b"{}")
    assert report.republished == [] and len(sent) == 1


def test_publish_async(engine: RulesEngine) -> None:
    engine.create_topic_rule("R", rule("SELECT * FROM 't/+'", sqs()))

    async def main() -> list[list[str]]:
        reports = await asyncio.gather(*(engine.publish_async(f"t/{i}", b"{}") for i in range(20)))
        return [r.fired for r in reports]

    assert asyncio.run(main()) == [["R"]] * 20
    assert len(engine.recorder["sqs"]) == 20


def test_close_ends_the_sink_threads_and_the_engine_stays_usable(engine: RulesEngine) -> None:
    def sink_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "iotsql-sink"]

    before = set(sink_threads())
    delivered: list[bytes] = []
    engine.register_sink("sqs", lambda request: delivered.append(request.payload))
    engine.create_topic_rule("R", rule("SELECT * FROM 't'", sqs()))
    engine.publish("t", b"{}")
    assert set(sink_threads()) - before  # the sink ran in a worker thread
    engine.close()
    assert set(sink_threads()) - before == set()
    engine.publish("t", b"{}")  # new threads start on demand
    assert len(delivered) == 2
    engine.close()


# ---- the routes a publish remembers ---------------------------------------------------------


def test_a_remembered_route_follows_every_change_of_the_rules() -> None:
    """A topic's route (validated, matched) is remembered until a rule is created, replaced or
    deleted: each change is seen by the next publish on a topic already routed."""
    engine = RulesEngine()
    sql = rule("SELECT * FROM 'fleet/+/data'", sqs())
    assert engine.publish("fleet/a/data", b"{}").fired == []
    engine.create_topic_rule("First", sql)
    assert engine.publish("fleet/a/data", b"{}").fired == ["First"]
    engine.create_topic_rule("Second", {**sql, "sql": "SELECT * FROM 'fleet/#'"})
    assert engine.publish("fleet/a/data", b"{}").fired == ["First", "Second"]
    engine.replace_topic_rule("First", {**sql, "sql": "SELECT * FROM 'other/+'"})
    assert engine.publish("fleet/a/data", b"{}").fired == ["Second"]
    engine.disable_topic_rule("Second")
    assert engine.publish("fleet/a/data", b"{}").fired == []
    engine.enable_topic_rule("Second")
    engine.delete_topic_rule("Second")
    assert engine.publish("fleet/a/data", b"{}").fired == []
    with pytest.raises(iotsql.InvalidTopicError):  # an invalid topic is never remembered
        engine.publish("fleet/+/data", b"{}")
    with pytest.raises(iotsql.InvalidTopicError):
        engine.publish("fleet/+/data", b"{}")


def test_more_topics_than_the_engine_remembers_are_routed_alike() -> None:
    engine = RulesEngine()
    engine.create_topic_rule("Even", rule("SELECT * FROM 'd/+/even'", sqs()))
    topics = [f"d/{n}/{'even' if n % 2 == 0 else 'odd'}" for n in range(10_000)]
    for _ in range(2):
        fired = [engine.publish(topic, b"{}", report=False) for topic in topics]
        assert fired == [None] * len(topics)
    assert len(engine.recorder["sqs"].requests) == 2 * 5_000


def test_past_its_size_the_route_cache_forgets_its_older_half(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fleet with more topics than the engine remembers keeps the newer half remembered
    (clearing it all made every message after it a miss), and routes alike either way."""
    from iotsql import engine as engine_module

    monkeypatch.setattr(engine_module, "_ROUTE_CACHE_SIZE", 8)
    engine = RulesEngine()
    engine.create_topic_rule("Even", rule("SELECT * FROM 'd/+/even'", sqs()))
    topics = [f"d/{n}/{'even' if n % 2 == 0 else 'odd'}" for n in range(11)]
    for topic in topics:
        engine.publish(topic, b"{}", report=False)
        assert len(engine._routes) <= 8
    # 8 remembered, then the 4 oldest forgotten for the 9th: the 7 newest are left.
    assert list(engine._routes) == topics[-7:]
    route = engine._routes["d/10/even"]
    assert (route.names, route.effective, route.ingest) == (("Even",), "d/10/even", False)
    assert len(engine.recorder["sqs"].requests) == 6


def test_routes_that_name_many_rules_are_bounded_by_the_rules_they_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every topic reaches all four rules: the cache keeps at most _ROUTE_CACHE_RULES rule
    names (plus one route's), forgetting its older half, and delivers the same."""
    from iotsql import engine as engine_module

    monkeypatch.setattr(engine_module, "_ROUTE_CACHE_RULES", 10)
    engine = RulesEngine()
    for number in range(4):
        engine.create_topic_rule(f"All{number}", rule("SELECT * FROM '#'", sqs()))
    for number in range(9):
        engine.publish(f"d/{number}", b"{}", report=False)
        held = sum(len(route.names) for route in engine._routes.values())
        assert held == engine._route_rules <= 10
    assert list(engine._routes) == ["d/7", "d/8"]
    assert len(engine.recorder["sqs"].requests) == 9 * 4
    engine.delete_topic_rule("All0")  # a change of the rules forgets them all
    assert engine._route_rules == 0 and not engine._routes


def test_publishes_in_threads_while_rules_and_sinks_change_see_each_rule_old_or_new() -> None:
    """Three threads publish (with reports and without) while the main thread replaces,
    deletes and re-creates one rule, disables and enables another and registers the sink
    again: no publish fails, and every delivery is the output of some version of its rule
    (the routes and their plans are remade under the lock that changes them)."""
    import sys

    delivered: list[tuple[str, bytes]] = []

    delivered_r: list[None] = []  # (R's deliveries, counted for the changes to wait on)

    def keep(request: Any) -> None:
        delivered.append((request.rule_name, request.payload))  # (list.append is atomic)
        if request.rule_name == "R":
            delivered_r.append(None)

    keep.instant = True  # type: ignore[attr-defined]
    engine = RulesEngine()
    engine.register_sink("sqs", keep)
    engine.create_topic_rule("R", rule("SELECT 'v0' AS v, n FROM 'dev/+'", sqs()))
    engine.create_topic_rule("S", rule("SELECT 'stable' AS s FROM 'dev/#'", sqs()))
    failures: list[BaseException] = []

    def publish(thread: int) -> None:
        try:
            for n in range(1500):
                engine.publish(f"dev/{(n * 7 + thread) % 40}", b'{"n": %d}' % n,
                               report=n % 3 == 0)  # fmt: skip
        except BaseException as err:  # (reported below)
            failures.append(err)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # many switches: the changes land mid-publish
    try:
        threads = [threading.Thread(target=publish, args=(t,)) for t in range(3)]
        for thread in threads:
            thread.start()
        version = 0
        while any(thread.is_alive() for thread in threads):
            # Each version waits for a delivery of the one before (bounded), so that a loaded
            # machine, where the publishers could finish before the first change, still shows
            # more than one version of R.
            seen = len(delivered_r)
            waited = time.monotonic() + 2.0
            while (
                len(delivered_r) == seen
                and time.monotonic() < waited
                and any(thread.is_alive() for thread in threads)
            ):
                time.sleep(0.0005)
            version += 1
            if version % 7 == 0:
                engine.delete_topic_rule("R")
                engine.create_topic_rule("R", rule(f"SELECT 'v{version}' AS v, n FROM 'dev/+'",
                                                   sqs()))  # fmt: skip
            else:
                engine.replace_topic_rule("R", rule(f"SELECT 'v{version}' AS v, n FROM 'dev/+'",
                                                    sqs()))  # fmt: skip
            (engine.disable_topic_rule if version % 2 else engine.enable_topic_rule)("S")
            if version % 5 == 0:
                engine.register_sink("sqs", keep)
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures
    versions = set()
    for name, payload in delivered:
        body = json.loads(payload)
        if name == "S":
            assert body == {"s": "stable"}
        else:
            assert name == "R" and set(body) == {"v", "n"}, body
            versions.add(body["v"])
    assert len(versions) > 1 and len(delivered) > 1000  # (R is absent while re-created)


def test_accountid_is_the_engines_account_unless_the_context_names_one() -> None:
    """AWS's accountid() is the account that owns the rule: an engine made for an account
    (an emulator keeps one per account) answers with it, whatever form the context takes."""
    engine = RulesEngine(account_id="111122223333", region="eu-west-1")
    engine.create_topic_rule("A", {
        "sql": "SELECT accountid() AS a FROM 'in/#'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"topic": "out/${accountid()}", "roleArn": ROLE}}]})  # fmt: skip
    engine.create_topic_rule("B", {
        "sql": "SELECT accountid() AS b FROM 'out/#'",
        "actions": [{"sqs": {"queueUrl": "https://q", "roleArn": ROLE}}]})  # fmt: skip
    for context in (None, {}, {"clientid": "d1"}, iotsql.Context(), iotsql.Context(clientid="d")):
        report = engine.publish("in/x", b"{}", context)
        assert report.rules[0].output.value == {"a": "111122223333"}
        (again,) = report.republished
        assert again.message.topic == "out/111122223333"
        assert again.rules[0].output.value == {"b": "111122223333"}
    engine.recorder["sqs"].clear()
    assert engine.publish("in/x", b"{}", report=False) is None
    assert engine.recorder["sqs"].bodies == [{"b": "111122223333"}]
    named = engine.publish("in/x", b"{}", {"accountid": "999988887777"})
    assert named.rules[0].output.value == {"a": "999988887777"}
    engine.account_id = "555566667777"  # a host may move an engine: the next publish follows
    assert engine.publish("in/x", b"{}").rules[0].output.value == {"a": "555566667777"}
    default = RulesEngine()
    default.create_topic_rule("A", {"sql": "SELECT accountid() AS a FROM 't'", "actions": []})
    assert default.publish("t", b"{}").rules[0].output.value == {"a": "123456789012"}
