"""Failing sinks: a sink that raises, hangs or is slow never blocks the other actions, rules or
messages; its failure goes to the error action; what the error action cannot take goes to the
dead-letter list with both errors, ready to be replayed. Republish loops stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cost import HANG_SECONDS, waits_at_most
from hostile_support import LAMBDA, S3_ERROR, SNS, SQS, bounded

import iotsql
from iotsql import Limits
from iotsql.actions.base import ActionRequest
from iotsql.actions.recording import CallbackSink, RecordingSink
from iotsql.delivery import SinkThreads

FAST = Limits(action_timeout=0.2)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event hung sinks wait on; set at the end of the test so their threads finish."""
    event = threading.Event()
    yield event
    event.set()


def _engine(limits: Limits = FAST, **sinks: Any) -> iotsql.RulesEngine:
    engine = iotsql.RulesEngine(limits=limits)
    for action_type, sink in sinks.items():
        engine.register_sink(action_type, sink)
    return engine


def _rule(engine: iotsql.RulesEngine, name: str, actions: list[Any], error: Any = None) -> None:
    payload: dict[str, Any] = {"sql": "SELECT * FROM 'in/#'", "actions": actions}
    if error is not None:
        payload["errorAction"] = error
    engine.create_topic_rule(name, payload)


def test_a_raising_sink_fails_its_action_only() -> None:
    def boom(request: ActionRequest) -> None:
        raise RuntimeError("queue does not exist")

    engine = _engine(sqs=boom)
    _rule(engine, "A", [SQS, SNS], S3_ERROR)
    _rule(engine, "B", [SNS])
    report = engine.publish("in/x", b'{"v": 1}')
    a, b = report.rules
    assert [(x.action_type, x.ok, x.error) for x in a.actions] == [
        ("sqs", False, "RuntimeError: queue does not exist"), ("sns", True, None)
    ]  # fmt: skip
    assert b.actions[0].ok and len(engine.recorder["sns"]) == 2
    assert a.error_action is not None and a.error_action.ok
    (error,) = engine.recorder["s3"].bodies
    assert error["failures"] == [{"failedAction": "SqsAction",
                                  "failedResource": SQS["sqs"]["queueUrl"],
                                  "errorMessage": "RuntimeError: queue does not exist"}]  # fmt: skip
    assert engine.dead_letters == []


def test_a_hanging_sink_times_out_without_blocking_other_rules(release: threading.Event) -> None:
    delivered: list[str] = []
    engine = _engine(sqs=lambda request: release.wait(HANG_SECONDS),
                     sns=lambda request: delivered.append(request.rule_name))  # fmt: skip
    _rule(engine, "Hangs", [SQS, SNS], S3_ERROR)
    for name in ("B", "C", "D"):
        _rule(engine, name, [SNS])
    report = waits_at_most(lambda: engine.publish("in/x", b"{}"), 10.0)  # not the hang
    hangs = report.rules[0]
    assert hangs.actions[0].error == "action timed out after 0.2 s"
    assert sorted(delivered) == ["B", "C", "D", "Hangs"]
    assert hangs.error_action is not None and hangs.error_action.ok
    assert engine.recorder["s3"].bodies[0]["failures"][0]["errorMessage"] == (
        "action timed out after 0.2 s"
    )
    # The next messages are served too, each bounded by the time-out.
    for _ in range(3):
        assert waits_at_most(lambda: engine.publish("in/y", b"{}"), 10.0).rules[1].actions[0].ok


def test_the_actions_of_every_rule_run_at_once_so_hangs_cost_one_time_out() -> None:
    # Each call waits until all four are in flight: only a publish that starts the actions of
    # every matching rule before waiting for any (one time-out whatever the number of rules)
    # delivers them; one that called them in turn would see the first time out. Likewise for
    # the error actions of the rules whose actions failed. No clock is read.
    actions = threading.Barrier(4)
    errors = threading.Barrier(4)

    def meet(barrier: threading.Barrier) -> Any:
        return lambda request: barrier.wait(HANG_SECONDS)

    def boom(request: ActionRequest) -> None:
        raise RuntimeError("down")

    engine = _engine(Limits(action_timeout=20.0), sqs=meet(actions), sns=boom, s3=meet(errors))
    for name in ("A", "B", "C", "D"):
        _rule(engine, name, [SQS, SNS], S3_ERROR)
    report = engine.publish("in/x", b"{}")
    assert [[a.ok for a in rule.actions] for rule in report.rules] == [[True, False]] * 4
    assert all(rule.error_action is not None and rule.error_action.ok for rule in report.rules)
    assert engine.dead_letters == []


def test_a_slow_sink_within_the_time_out_succeeds() -> None:
    def slow(request: ActionRequest) -> str:
        time.sleep(0.05)
        return "sent"

    engine = _engine(sqs=slow)
    _rule(engine, "Slow", [SQS, SQS, SQS])
    report = waits_at_most(lambda: engine.publish("in/x", b"{}"), 10.0)
    assert [(a.ok, a.result) for a in report.rules[0].actions] == [(True, "sent")] * 3


def test_error_action_failing_too_leaves_a_dead_letter_with_both_errors() -> None:
    def boom(request: ActionRequest) -> None:
        raise ConnectionError(f"{request.action_type} unreachable")

    engine = _engine(sqs=boom, s3=boom)
    _rule(engine, "A", [SQS], S3_ERROR)
    report = engine.publish("in/x", b'{"v": 1}')
    assert report.rules[0].error_action is not None and not report.rules[0].error_action.ok
    (letter,) = engine.dead_letters
    assert [f.error for f in letter.failures] == ["ConnectionError: sqs unreachable"]
    assert letter.error_action_failure is not None
    assert letter.error_action_failure.error == "ConnectionError: s3 unreachable"
    assert [r.action_type for r in letter.requests] == ["sqs"]


def test_a_hanging_error_action_leaves_a_dead_letter(release: threading.Event) -> None:
    def boom(request: ActionRequest) -> None:
        raise RuntimeError("down")

    engine = _engine(sqs=boom, s3=lambda request: release.wait(HANG_SECONDS))
    _rule(engine, "A", [SQS], S3_ERROR)
    waits_at_most(lambda: engine.publish("in/x", b"{}"), 10.0)
    (letter,) = engine.dead_letters
    assert letter.error_action_failure is not None
    assert letter.error_action_failure.error == "action timed out after 0.2 s"


def test_dead_letters_drain_and_replay_once_the_sink_works(release: threading.Event) -> None:
    state = {"up": False}
    received: list[bytes] = []

    def flaky(request: ActionRequest) -> None:
        if not state["up"]:
            raise RuntimeError("down")
        received.append(request.payload)

    engine = _engine(sqs=flaky)
    _rule(engine, "A", [SQS])
    for n in range(3):
        engine.publish("in/x", b'{"n": %d}' % n)
    letters = engine.drain_dead_letters()
    assert len(letters) == 3 and engine.dead_letters == []
    # A replay that fails again goes back to the list.
    assert not engine.replay_dead_letter(letters[0])[0].ok
    assert len(engine.drain_dead_letters()) == 1
    state["up"] = True
    for letter in letters:
        assert all(report.ok for report in engine.replay_dead_letter(letter))
    assert received == [b'{"n":0}', b'{"n":1}', b'{"n":2}'] and engine.dead_letters == []
    # A replay into a hanging sink is bounded by the time-out as well.
    engine.register_sink("sqs", lambda request: release.wait(HANG_SECONDS))
    (report,) = waits_at_most(lambda: engine.replay_dead_letter(letters[0]), 10.0)
    assert report.error == "action timed out after 0.2 s"
    assert len(engine.dead_letters) == 1


def test_recorder_and_instant_sinks_run_inline_other_sinks_in_worker_threads() -> None:
    threads: dict[str, str] = {}

    class Instant:
        instant = True

        def __call__(self, request: ActionRequest) -> None:
            threads["instant"] = threading.current_thread().name

    def other(request: ActionRequest) -> None:
        threads["other"] = threading.current_thread().name

    engine = _engine(Limits(), sns=Instant())
    engine.register_sink("lambda", other)
    engine.register_sink("s3", RecordingSink())
    _rule(engine, "A", [SNS, S3_ERROR])
    engine.publish("in/x", b"{}")
    assert engine._sink_threads is None  # nothing needed a thread
    assert threads["instant"] == threading.current_thread().name
    _rule(engine, "B", [LAMBDA])
    engine.publish("in/x", b"{}")
    assert threads["other"] == "iotsql-sink"


def test_no_time_out_calls_every_sink_inline() -> None:
    names: list[str] = []
    engine = _engine(Limits(action_timeout=None),
                     sqs=CallbackSink(lambda r: names.append(threading.current_thread().name)))  # fmt: skip
    _rule(engine, "A", [SQS])
    engine.publish("in/x", b"{}")
    assert names == [threading.current_thread().name] and engine._sink_threads is None


def test_sinks_raising_base_exceptions_fail_their_action() -> None:
    def exits(request: ActionRequest) -> None:
        raise SystemExit(3)

    engine = _engine(sqs=exits)
    _rule(engine, "A", [SQS, SNS])
    (sqs, sns) = engine.publish("in/x", b"{}").rules[0].actions
    assert (sqs.ok, sqs.error, sns.ok) == (False, "SystemExit: 3", True)


def test_idle_worker_threads_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SinkThreads, "IDLE_SECONDS", 0.05)
    engine = _engine(sqs=lambda request: "sent")
    _rule(engine, "A", [SQS, SQS, SQS])
    assert all(a.ok for a in engine.publish("in/x", b"{}").rules[0].actions)
    threads = engine._sink_threads
    assert threads is not None and threads.threads >= 1
    deadline = time.monotonic() + 10  # a wait for the threads, not a measure of speed
    while threads.threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads.threads == 0
    assert engine.publish("in/x", b"{}").rules[0].actions[0].ok  # new ones start on demand


def test_hung_sinks_beyond_the_thread_limit_still_time_out(release: threading.Event) -> None:
    engine = _engine(Limits(action_timeout=0.1, max_action_threads=2),
                     sqs=lambda request: release.wait(HANG_SECONDS))  # fmt: skip
    _rule(engine, "A", [SQS, SQS, SQS, SQS])
    for _ in range(3):
        report = waits_at_most(lambda: engine.publish("in/x", b"{}"), 10.0)
        assert all(a.error == "action timed out after 0.1 s" for a in report.rules[0].actions)
    threads = engine._sink_threads
    assert threads is not None and threads.threads == 2
    release.set()
    deadline = time.monotonic() + 5
    while threads._idle < 2 and time.monotonic() < deadline:  # the hung calls return
        time.sleep(0.01)
    # Freed threads serve new calls; the queued calls whose caller gave up are never made.
    engine.register_sink("sqs", RecordingSink())
    engine.register_sink("sns", lambda request: "ok")
    _rule(engine, "B", [SNS])
    assert engine.publish("in/x", b"{}").rules[1].actions[0].result == "ok"


def test_a_hanging_subscriber_is_given_up_on(release: threading.Event) -> None:
    seen: list[str] = []
    engine = _engine()
    engine.subscribe("in/#", lambda topic, payload, context: release.wait(HANG_SECONDS))
    engine.subscribe("in/#", lambda topic, payload, context: seen.append(topic))
    engine.subscribe("in/#", lambda topic, payload, context: 1 / 0)
    waits_at_most(lambda: engine.publish("in/x", b"{}"), 10.0)
    assert seen == ["in/x"]


def test_republish_loops_stop_at_the_republish_depth() -> None:
    role = "arn:aws:iam::1:role/r"
    engine = iotsql.RulesEngine()
    # CreateTopicRule refuses `loop/again` under `loop/#`; a template it does not expand loops.
    engine.create_topic_rule("Loop", {"sql": "SELECT * FROM 'loop/#'", "actions": [
        {"republish": {"topic": "${topic()}", "roleArn": role}}]})  # fmt: skip
    report = bounded(lambda: engine.publish("loop/start", b'{"n": 1}'))
    depth, current = 0, report
    while current.republished:
        (current,) = current.republished
        depth += 1
    assert depth == 8
    (stopped,) = current.rules[0].actions
    assert not stopped.ok and "republish loop stopped" in (stopped.error or "")
    assert len(engine.recorder["republish"]) == 8  # republished at depths 0 to 7
    assert len(engine.dead_letters) == 1
    short = iotsql.RulesEngine(limits=Limits(max_republish_depth=2))
    short.create_topic_rule("Loop", {"sql": "SELECT * FROM 'loop/#'", "actions": [
        {"republish": {"topic": "${topic()}", "roleArn": role}}]})  # fmt: skip
    short.publish("loop/start", b"{}")
    assert len(short.recorder["republish"]) == 2


def test_two_rules_republishing_to_each_other_stop_too() -> None:
    role = "arn:aws:iam::1:role/r"
    engine = iotsql.RulesEngine(limits=Limits(max_republish_depth=5))
    for source, target in (("ping", "pong"), ("pong", "ping")):
        engine.create_topic_rule(source.title(), {
            "sql": f"SELECT * FROM '{source}'",
            "actions": [{"republish": {"topic": target, "roleArn": role}},
                        {"republish": {"topic": target, "roleArn": role}}],
        })  # fmt: skip
    bounded(lambda: engine.publish("ping", b"{}"))
    # Each message republishes twice: 2 + 4 + ... + 2**5 deliveries, then the guard.
    assert len(engine.recorder["republish"]) == sum(2**n for n in range(1, 6))
    assert len(engine.dead_letters) == 2**5
