"""Concurrency: publishes from many threads (and concurrent `publish_async`) give the results of
serial runs, while another thread creates, replaces and deletes rules: no RuntimeError, no lost
or duplicated action."""

from __future__ import annotations

import asyncio
import collections
import json
import threading
from typing import Any

from hostile_support import LAMBDA, ROLE, SQS

import iotsql
from iotsql.actions.base import ActionRequest

THREADS = 8
PUBLISHES = 500

STABLE = "SELECT n, t, topic(2) AS device, n * 2 AS twice FROM 'dev/+/data' WHERE n >= 0"


def _messages(thread: int) -> list[tuple[str, bytes]]:
    return [
        (f"dev/d{thread}/data", json.dumps({"n": i, "t": thread, "s": "x" * (i % 7)}).encode())
        for i in range(PUBLISHES)
    ]


def _stable_engine() -> tuple[iotsql.RulesEngine, list[bytes]]:
    received: list[bytes] = []
    lock = threading.Lock()

    def callback(request: ActionRequest) -> None:  # a user sink: runs in a worker thread
        with lock:
            received.append(request.payload)

    engine = iotsql.RulesEngine()
    engine.register_sink("lambda", callback)
    engine.create_topic_rule("Recorded", {"sql": STABLE, "actions": [SQS]})
    engine.create_topic_rule("Called", {"sql": STABLE, "actions": [LAMBDA]})
    engine.create_topic_rule("Replaced", {"sql": STABLE, "actions": [
        {"kinesis": {"streamName": "s", "partitionKey": "${topic(2)}", "roleArn": ROLE}}]})  # fmt: skip
    return engine, received


def test_threads_publishing_while_rules_change_match_a_serial_run() -> None:
    engine, received = _stable_engine()
    errors: list[BaseException] = []
    stop = threading.Event()

    def churn() -> None:
        n = 0
        try:
            while not stop.is_set():
                name = f"Churn{n % 5}"
                engine.create_topic_rule(name, {"sql": "SELECT n FROM 'dev/#'",
                                                "actions": [{"sns": {
                                                    "targetArn": "arn:aws:sns:us-east-1:1:t",
                                                    "roleArn": ROLE}}]})  # fmt: skip
                engine.replace_topic_rule("Replaced", {"sql": STABLE, "description": str(n),
                                                       "actions": [{"kinesis": {
                                                           "streamName": "s",
                                                           "partitionKey": "${topic(2)}",
                                                           "roleArn": ROLE}}]})  # fmt: skip
                if n % 5 == 4:
                    for old in range(5):
                        engine.delete_topic_rule(f"Churn{old}")
                n += 1
                engine.list_topic_rules()
                _ = engine.rules
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    def publisher(thread: int) -> None:
        try:
            for topic, body in _messages(thread):
                report = engine.publish(topic, body)
                assert not report.errors and not report.failures
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    changer = threading.Thread(target=churn)
    changer.start()
    workers = [threading.Thread(target=publisher, args=(t,)) for t in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    changer.join()
    assert errors == []

    serial, serial_received = _stable_engine()
    for thread in range(THREADS):
        for topic, body in _messages(thread):
            serial.publish(topic, body)
    total = THREADS * PUBLISHES
    for action in ("sqs", "kinesis"):
        got = sorted(r.payload for r in engine.recorder[action].requests)
        assert len(got) == total  # never lost, never duplicated
        assert got == sorted(r.payload for r in serial.recorder[action].requests)
    assert sorted(received) == sorted(serial_received) and len(received) == total
    # Rules created and deleted meanwhile fired at most once per message each.
    churned = collections.Counter(
        (r.rule_name, r.message.body) for r in engine.recorder["sns"].requests
    )
    assert all(count == 1 for count in churned.values())
    assert engine.dead_letters == []


def test_concurrent_publish_async_matches_serial_publish() -> None:
    engine, _ = _stable_engine()
    messages = [m for t in range(4) for m in _messages(t)[:100]]

    async def main() -> list[Any]:
        return await asyncio.gather(*(engine.publish_async(t, b) for t, b in messages))

    reports = asyncio.run(main())
    serial, _ = _stable_engine()
    expected = [serial.publish(t, b) for t, b in messages]
    for report, wanted in zip(reports, expected, strict=True):
        assert report.fired == wanted.fired
        assert [r.output for r in report.rules] == [r.output for r in wanted.rules]


def test_compiling_and_evaluating_from_many_threads() -> None:
    statements = [
        f"SELECT regexp_matches(s, '^x{{{i}}}$') AS m, lpad(s, {i}) AS p FROM 'a'"
        for i in range(300)  # more patterns than the regex cache holds
    ]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(300):
                index = (i + offset * 37) % 300
                rule = iotsql.compile(statements[index])
                value = rule.evaluate({"s": "x" * index}).value  # type: ignore[union-attr]
                assert value == {"m": True, "p": " " * index + "x" * index}
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
