"""The engine's reports print readably: `repr()` is one line and `str()` one screen, even for a
republish loop, whose reports nest a dozen messages (their dataclass reprs ran to thousands of
characters)."""

from __future__ import annotations

from typing import Any

import pytest

import iotsql
from iotsql.actions.base import ActionRequest
from iotsql.report_text import MAX_LINES

ROLE = "arn:aws:iam::123456789012:role/r"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/alerts"


def queue_down(request: ActionRequest) -> None:
    raise RuntimeError("AWS.SimpleQueueService.NonExistentQueue")


@pytest.fixture
def loop() -> iotsql.RulesEngine:
    """Two rules that republish to each other until the loop guard stops them; the first also
    sends to a queue that is down, and has no error action."""
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Ping", {
        "sql": "SELECT *, topic(2) AS n FROM 'a/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"topic": "b/${topic(2)}", "roleArn": ROLE}},
                    {"sqs": {"queueUrl": QUEUE, "roleArn": ROLE}}],
    })  # fmt: skip
    engine.create_topic_rule("Pong", {
        "sql": "SELECT * FROM 'b/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"topic": "a/${topic(2)}", "roleArn": ROLE}}],
    })  # fmt: skip
    engine.register_sink("sqs", queue_down)
    return engine


def test_a_republish_loop_prints_on_one_screen(loop: iotsql.RulesEngine) -> None:
    report = loop.publish("a/b", b'{"x": 1}')
    assert len(report.republished) == 1 and report.republished[0].republished  # it nests
    one_line = repr(report)
    assert "\n" not in one_line and len(one_line) < 120
    assert one_line.startswith("<PublishReport a/b: fired Ping; ")
    assert "messages republished>" in one_line
    screen = str(report).splitlines()
    assert len(screen) == MAX_LINES
    assert all(len(line) <= 120 for line in screen)
    assert screen[:7] == [
        screen[0],
        "  Ping fired: {\"x\":1,\"n\":\"b\"}",
        "    republish ok -> b/b",
        "    sqs failed: RuntimeError: AWS.SimpleQueueService.NonExistentQueue",
        "  republished to b/b: fired Pong",
        "    Pong fired: {\"x\":1,\"n\":\"b\"}",
        "      republish ok -> a/b",
    ]  # fmt: skip
    assert screen[-1].startswith("... ") and screen[-1].endswith(
        " more lines (the report's rules and republished fields hold everything)"
    )
    # Lists of reports and requests print one line per element, too.
    assert len(repr(report.requests)) < 120 * len(report.requests)
    assert repr(report.requests[1]) == '<ActionRequest Ping sqs on a/b: {"x":1,"n":"b"}>'


def test_the_totals_count_every_republished_message(loop: iotsql.RulesEngine) -> None:
    report = loop.publish("a/b", b'{"x": 1}')
    messages: list[Any] = []
    pending = [report]
    while pending:
        current = pending.pop()
        messages.append(current)
        pending.extend(current.republished)
    delivered = len([a for a in _actions(messages) if a.ok])
    failed = len([a for a in _actions(messages) if not a.ok])
    assert repr(report) == (
        f"<PublishReport a/b: fired Ping; {delivered} actions delivered, {failed} failed, "
        f"{len(messages) - 1} messages republished>"
    )


def _actions(messages: list[Any]) -> list[Any]:
    return [
        a for m in messages for r in m.rules for a in (*r.actions, *filter(None, [r.error_action]))
    ]


def test_rules_actions_and_dead_letters(loop: iotsql.RulesEngine) -> None:
    report = loop.publish("a/b", b'{"x": 1}')
    rule = report.rules[0]
    assert repr(rule) == (
        '<RuleReport Ping fired: {"x":1,"n":"b"}; republish ok -> b/b; '
        "sqs failed: RuntimeError: AWS.SimpleQueueService.NonExistentQueue>"
    )
    assert str(rule).splitlines() == [
        'Ping fired: {"x":1,"n":"b"}',
        "  republish ok -> b/b",
        "  sqs failed: RuntimeError: AWS.SimpleQueueService.NonExistentQueue",
    ]
    action = rule.actions[1]
    assert repr(action) == (
        "<ActionReport Ping: sqs failed: RuntimeError: AWS.SimpleQueueService.NonExistentQueue>"
    )
    assert str(action).splitlines()[1:] == [
        "  topic:   a/b",
        "  params:  " + f"{{'queueUrl': '{QUEUE}', 'roleArn': '{ROLE}'}}"[:69] + "...",
        '  payload: {"x":1,"n":"b"}',
    ]
    letter = loop.dead_letters[0]
    assert repr(letter) == "<DeadLetter Ping on a/b: 1 request not delivered (sqs)>"
    assert str(letter).splitlines() == [
        "dead letter: Ping on a/b: 1 request not delivered (sqs)",
        '  message: {"x": 1}',
        "  sqs failed: RuntimeError: AWS.SimpleQueueService.NonExistentQueue",
    ]


def test_what_did_not_fire_binary_bodies_and_error_actions() -> None:
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Hot", {
        "sql": "SELECT * FROM 'cams/+' WHERE false", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sqs": {"queueUrl": QUEUE, "roleArn": ROLE}}],
    })  # fmt: skip
    engine.create_topic_rule("Raw", {
        "sql": "SELECT * FROM 'cams/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"s3": {"bucketName": "frames", "key": "${topic(2)}", "roleArn": ROLE}}],
        "errorAction": {"sns": {"targetArn": "arn:aws:sns:us-east-1:123456789012:e", "roleArn": ROLE}},
    })  # fmt: skip
    engine.register_sink("s3", queue_down)
    report = engine.publish("cams/c1", b"\xff\xd8\xff" + bytes(5000))
    assert str(report).splitlines() == [
        "publish cams/c1 (5003 bytes): fired Raw; 1 action delivered, 1 failed",
        "  Hot did not fire",
        "  Raw fired: <5003 bytes, binary>",
        "    s3 failed: RuntimeError: AWS.SimpleQueueService.NonExistentQueue",
        "    error action sns ok -> arn:aws:sns:us-east-1:123456789012:e",
    ]
    assert repr(engine.publish("dogs/d1", b"{}")) == (
        "<PublishReport dogs/d1: no rule matched; 0 actions delivered>"
    )
    engine.disable_topic_rule("Raw")
    assert repr(engine.publish("cams/c1", b"{}")) == (
        "<PublishReport cams/c1: 1 rule matched, none fired; 0 actions delivered>"
    )
