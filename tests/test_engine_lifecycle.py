"""`RulesEngine` as a context manager, and `close()`: it waits for the publishes in progress
(drains), ends the sink worker threads, drops the subscribers, keeps what was recorded and what
could not be delivered, and never waits for itself."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import iotsql
from iotsql.actions.base import ActionRequest
from iotsql.limits import Limits

ROLE = "arn:aws:iam::123456789012:role/r"
RULE = {
    "sql": "SELECT * FROM 't/+'", "awsIotSqlVersion": "2016-03-23",
    "actions": [{"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                         "roleArn": ROLE}}],
}  # fmt: skip


def sink_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "iotsql-sink" and t.is_alive()}


def test_a_with_block_ends_the_sink_threads() -> None:
    before = sink_threads()
    delivered: list[bytes] = []
    with iotsql.RulesEngine() as engine:
        engine.register_sink("sqs", lambda request: delivered.append(request.payload))
        engine.create_topic_rule("R", RULE)
        engine.publish("t/1", b'{"n": 1}')
        assert sink_threads() - before  # the sink ran in a worker thread
    assert sink_threads() - before == set()
    assert delivered == [b'{"n":1}']


def test_a_with_block_ends_and_closes_the_loop_of_coroutine_sinks() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def sink(request: ActionRequest) -> None:
        loops.append(asyncio.get_running_loop())

    with iotsql.RulesEngine(sinks={"sqs": sink}) as engine:
        engine.create_topic_rule("R", RULE)
        engine.publish("t/1", b'{"n": 1}')
    (loop,) = loops
    assert not loop.is_running() and loop.is_closed()  # (its resources released)


def test_close_waits_for_the_publishes_in_progress() -> None:
    started = threading.Event()
    delivered: list[bytes] = []

    def slow(request: ActionRequest) -> None:
        started.set()
        time.sleep(0.3)
        delivered.append(request.payload)

    engine = iotsql.RulesEngine(limits=Limits(action_timeout=10.0))
    engine.register_sink("sqs", slow)
    engine.create_topic_rule("R", RULE)
    reports: list[Any] = []
    publisher = threading.Thread(target=lambda: reports.append(engine.publish("t/1", b"{}")))
    publisher.start()
    assert started.wait(5)
    engine.close()
    # The publish that was in flight finished before close() returned: nothing is lost.
    assert delivered == [b"{}"]
    publisher.join(5)
    assert reports and reports[0].requests and not reports[0].failures


def test_close_with_a_timeout_does_not_wait_for_a_hung_sink() -> None:
    release = threading.Event()
    engine = iotsql.RulesEngine(limits=Limits(action_timeout=30.0))
    engine.register_sink("sqs", lambda request: release.wait(30))
    engine.create_topic_rule("R", RULE)
    publisher = threading.Thread(target=engine.publish, args=("t/1", b"{}"), daemon=True)
    publisher.start()
    time.sleep(0.1)
    began = time.monotonic()
    engine.close(timeout=0.3)
    assert time.monotonic() - began < 10.0  # the sink hangs for 30 s
    release.set()
    publisher.join(5)


def test_close_drops_the_subscribers_and_keeps_the_records() -> None:
    seen: list[str] = []
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("R", RULE)

    def down(request: ActionRequest) -> None:
        raise RuntimeError("queue down")

    down.instant = True  # type: ignore[attr-defined]
    engine.register_sink("sqs", down)
    engine.subscribe("t/#", lambda topic, payload, context: seen.append(topic))
    engine.publish("t/1", b"{}")
    engine.close()
    assert seen == ["t/1"]
    assert len(engine.dead_letters) == 1  # what could not be delivered stays
    engine.publish("t/2", b"{}")  # the engine stays usable, without the subscriber
    assert seen == ["t/1"]
    assert len(engine.dead_letters) == 2
    engine.close()  # twice is fine


def test_close_from_a_sink_does_not_wait_for_its_own_publish() -> None:
    engine = iotsql.RulesEngine()

    def closing(request: ActionRequest) -> None:
        engine.close(timeout=60)

    closing.instant = True  # type: ignore[attr-defined]
    engine.register_sink("sqs", closing)
    engine.create_topic_rule("R", RULE)
    began = time.monotonic()
    report = engine.publish("t/1", b"{}")
    assert time.monotonic() - began < 10.0  # waiting for itself would last the whole minute
    assert not report.failures


def test_after_close_a_publish_starts_worker_threads_again() -> None:
    before = sink_threads()
    delivered: list[bytes] = []
    engine = iotsql.RulesEngine()
    engine.register_sink("sqs", lambda request: delivered.append(request.payload))
    engine.create_topic_rule("R", RULE)
    engine.publish("t/1", b'{"n": 1}')
    engine.close()
    assert sink_threads() - before == set()
    report = engine.publish("t/2", b'{"n": 2}')  # a worker thread again, not inline
    assert not report.failures and sink_threads() - before
    engine.close()
    assert sink_threads() - before == set()
    assert delivered == [b'{"n":1}', b'{"n":2}']
