"""Sinks that are coroutines, raise BaseExceptions or exceptions that cannot be printed, more dead
letters than memory should hold, HTTP actions pointed away from their confirmed destination
(issue #12): a publish never loses a message to any of them, and never raises because of them
(except a KeyboardInterrupt, once the message is kept)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from cost import HANG_SECONDS, waits_at_most
from hostile_support import S3_ERROR, SNS, SQS

import iotsql
from iotsql import DeadLetterWarning, Limits, RuleValidationError
from iotsql.actions.base import ActionRequest
from iotsql.actions.http import HttpActionError, HttpSink
from iotsql.message import Context

FAST = Limits(action_timeout=0.5)


def _engine(limits: Limits = FAST, **sinks: Any) -> iotsql.RulesEngine:
    engine = iotsql.RulesEngine(limits=limits)
    for action_type, sink in sinks.items():
        engine.register_sink(action_type, sink)
    engine.create_topic_rule("R", {"sql": "SELECT * FROM 'in/#'", "actions": [SQS],
                                   "errorAction": S3_ERROR})  # fmt: skip
    return engine


# ---- coroutine sinks -------------------------------------------------------------------------


def test_an_async_sink_is_run_to_completion_by_publish() -> None:
    delivered: list[bytes] = []

    async def sink(request: ActionRequest) -> str:
        await asyncio.sleep(0.001)
        delivered.append(request.payload)
        return "sent"

    engine = _engine(sqs=sink)
    reports = [engine.publish("in/x", json.dumps({"n": n}).encode()) for n in range(10)]
    assert len(delivered) == 10  # 0 without the fix: the coroutine was made and dropped
    assert all(r.rules[0].actions[0].ok and r.rules[0].actions[0].result == "sent"
               for r in reports)  # fmt: skip
    assert engine.recorder["s3"].requests == [] and engine.dead_letters == []
    inline = _engine(Limits(action_timeout=None), sqs=sink)
    assert inline.publish("in/x", b"{}").rules[0].actions[0].ok and len(delivered) == 11


def test_publish_async_awaits_async_sinks_on_the_callers_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def sink(request: ActionRequest) -> None:
        loops.append(asyncio.get_running_loop())

    engine = _engine(sqs=sink)

    async def main() -> tuple[asyncio.AbstractEventLoop, list[iotsql.PublishReport]]:
        reports = await asyncio.gather(*(engine.publish_async("in/x", b"{}") for _ in range(5)))
        return asyncio.get_running_loop(), list(reports)

    loop, reports = asyncio.run(main())
    assert len(loops) == 5 and all(seen is loop for seen in loops)
    assert all(r.rules[0].actions[0].ok for r in reports)


def test_an_async_sink_that_raises_or_hangs_fails_its_action() -> None:
    cancelled = threading.Event()

    async def failing(request: ActionRequest) -> None:
        await asyncio.sleep(0)
        raise ConnectionError("queue unreachable")

    async def hanging(request: ActionRequest) -> None:
        try:
            await asyncio.sleep(HANG_SECONDS)
        finally:
            cancelled.set()  # a time-out cancels the coroutine: nothing keeps running

    report = _engine(sqs=failing).publish("in/x", b"{}")
    assert report.rules[0].actions[0].error == "ConnectionError: queue unreachable"
    assert report.rules[0].error_action is not None and report.rules[0].error_action.ok
    engine = _engine(sqs=hanging)
    report = waits_at_most(lambda: engine.publish("in/x", b"{}"), 10.0)
    assert report.rules[0].actions[0].error == "action timed out after 0.5 s"
    assert cancelled.wait(10.0)


def test_a_plain_sink_returning_a_coroutine_has_it_awaited() -> None:
    delivered: list[str] = []

    async def deliver(request: ActionRequest) -> None:
        delivered.append(request.rule_name)

    for limits in (FAST, Limits(action_timeout=None)):
        engine = _engine(limits, sqs=lambda request: deliver(request))
        assert engine.publish("in/x", b"{}").rules[0].actions[0].ok
    assert delivered == ["R", "R"]


def test_a_coroutine_sink_may_publish_to_a_coroutine_sink_of_the_same_engine() -> None:
    # The inner publish is made on the engine's own loop thread, so its coroutine sink cannot
    # run on that loop (it would wait on itself): it gets a loop of its own, and is delivered.
    delivered: list[Any] = []

    async def inner(request: ActionRequest) -> None:
        delivered.append(request.topic)

    engine = _engine(sns=inner)

    async def outer(request: ActionRequest) -> None:
        delivered.append(engine.publish("inner", b"{}").rules[0].actions[0].ok)

    engine.register_sink("sqs", outer)
    engine.create_topic_rule("Inner", {"sql": "SELECT * FROM 'inner'", "actions": [SNS]})
    with engine:
        report = engine.publish("in/x", b"{}")
    assert report.rules[0].actions[0].ok and delivered == ["inner", True]


# ---- whatever a sink raises ------------------------------------------------------------------


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


class _NamelessType(type):
    @property
    def __name__(cls) -> str:  # type: ignore[override]
        raise RuntimeError("no name for you")


class Nameless(Exception, metaclass=_NamelessType):
    """An exception whose class name cannot be read (a hostile metaclass)."""


@pytest.mark.parametrize(
    ("raised", "error"),
    [
        (SystemExit(3), "SystemExit: 3"),
        (GeneratorExit(), "GeneratorExit"),
        (
            Unprintable(),
            "Unprintable: <its message could not be read: __str__ raised RuntimeError>",
        ),
        (Nameless("down"), "Exception: down"),
    ],
)
@pytest.mark.parametrize("instant", [True, False])
def test_base_exceptions_and_unprintable_ones_are_action_failures(
    raised: BaseException, error: str, instant: bool
) -> None:
    def sink(request: ActionRequest) -> None:
        raise raised

    sink.instant = instant  # type: ignore[attr-defined]
    engine = _engine(sqs=sink)
    report = engine.publish("in/x", b'{"v": 1}')  # returns: nothing escapes
    (action,) = report.rules[0].actions
    assert (action.ok, action.error) == (False, error)
    (body,) = engine.recorder["s3"].bodies
    assert body["failures"][0]["errorMessage"] == error
    assert engine.publish("in/y", b"{}").rules[0].actions[0].error == error  # and again


def test_a_keyboard_interrupt_is_re_raised_once_the_message_is_kept() -> None:
    def sink(request: ActionRequest) -> None:
        raise KeyboardInterrupt

    sink.instant = True  # type: ignore[attr-defined]
    engine = _engine(sqs=sink)
    with pytest.raises(KeyboardInterrupt):
        engine.publish("in/x", b'{"v": 1}')
    (letter,) = engine.dead_letters
    assert letter.message.body == b'{"v": 1}' and [r.action_type for r in letter.requests] == [
        "sqs"
    ]
    assert letter.failures[0].error == "KeyboardInterrupt"
    assert "interrupted" in (letter.evaluation_error or "")


def test_a_keyboard_interrupt_in_a_worker_thread_is_an_action_failure() -> None:
    def sink(request: ActionRequest) -> None:
        raise KeyboardInterrupt

    engine = _engine(sqs=sink)  # not instant: called in a worker thread
    report = engine.publish("in/x", b'{"v": 1}')  # returns: the interrupt was not the caller's
    assert report.rules[0].actions[0].error == "KeyboardInterrupt"
    (body,) = engine.recorder["s3"].bodies
    assert body["failures"][0]["errorMessage"] == "KeyboardInterrupt"
    assert engine.dead_letters == []


@pytest.mark.parametrize("instant", [True, False])
def test_a_sink_may_publish_into_the_engine_again(instant: bool) -> None:
    engine = _engine()

    def forward(request: ActionRequest) -> str:
        if request.topic == "in/x":
            engine.publish("in/again", request.payload)
        return "forwarded"

    forward.instant = instant  # type: ignore[attr-defined]
    engine.register_sink("sqs", forward)
    report = engine.publish("in/x", b'{"v": 1}')
    assert report.rules[0].actions[0].result == "forwarded"
    assert engine.dead_letters == [] and engine.recorder["s3"].requests == []


def test_subscribers_raising_base_exceptions_do_not_break_the_publish() -> None:
    seen: list[str] = []

    def exits(topic: str, payload: bytes, context: Any) -> None:
        raise SystemExit(1)

    async def records(topic: str, payload: bytes, context: Any) -> None:
        seen.append(topic)

    exits.instant = True  # type: ignore[attr-defined]
    engine = iotsql.RulesEngine(limits=FAST)
    engine.subscribe("in/#", exits)
    engine.subscribe("in/#", records)
    engine.publish("in/x", b"{}")
    assert seen == ["in/x"]


# ---- a bounded dead-letter list --------------------------------------------------------------


def _failing_engine(limits: Limits, **kwargs: Any) -> iotsql.RulesEngine:
    def down(request: ActionRequest) -> None:
        raise ConnectionError("down")

    engine = iotsql.RulesEngine(limits=limits, **kwargs)
    engine.register_sink("sqs", down)
    engine.create_topic_rule("R", {"sql": "SELECT * FROM 'in/#'", "actions": [SQS]})
    return engine


def test_dead_letters_past_the_limit_spill_to_a_json_lines_file(tmp_path: Path) -> None:
    spill = tmp_path / "dead.jsonl"
    engine = _failing_engine(Limits(max_dead_letters=3), dead_letter_file=spill)
    for n in range(10):
        engine.publish("in/x", json.dumps({"n": n}).encode(), {"clientid": "c"})
    assert [json.loads(letter.message.body)["n"] for letter in engine.dead_letters] == [7, 8, 9]
    records = [json.loads(line) for line in spill.read_text().splitlines()]
    assert [r["requests"][0]["body"]["n"] for r in records] == list(range(7))  # oldest first
    assert records[0]["message"]["context"]["clientid"] == "c"
    assert records[0]["failures"][0]["error"] == "ConnectionError: down"
    assert (engine.spilled_dead_letters, engine.dropped_dead_letters) == (7, 0)


def test_a_spilled_dead_letter_records_its_failures_and_its_error_actions(tmp_path: Path) -> None:
    spill = tmp_path / "dead.jsonl"
    engine = _failing_engine(Limits(max_dead_letters=1), dead_letter_file=spill)
    engine.replace_topic_rule("R", {"sql": "SELECT * FROM 'in/#'", "actions": [SQS],
                                    "errorAction": SQS})  # fmt: skip
    engine.publish("in/x", b"{}")
    engine.publish("in/x", b"{}")  # (the first letter leaves for the file)
    (record,) = [json.loads(line) for line in spill.read_text().splitlines()]
    assert record["failures"] == [{"ruleName": "R", "action": "sqs", "errorAction": False,
                                   "error": "ConnectionError: down"}]  # fmt: skip
    assert record["errorActionFailure"] == {
        "ruleName": "R",
        "action": "sqs",
        "errorAction": True,
        "error": "ConnectionError: down",
    }
    assert record["evaluationError"] is None


def test_a_spilled_dead_letter_holds_what_rebuilds_its_message(tmp_path: Path) -> None:
    # docs/engine.md: the record has "the message's body in base64 and its context", in the
    # keys Context.of reads (the conformance format's), so the message can be published again.
    spill = tmp_path / "dead.jsonl"
    engine = _failing_engine(Limits(max_dead_letters=1), dead_letter_file=spill)
    context = Context(clientid="c", principal="p", timestamp=1700000000123, accountid="210987654321",
                      sourceip="192.0.2.1", traceid="t-1", protocol="mqtt",
                      user_properties=(("k", "v"), ("k", "w")),
                      mqtt_properties={"contentType": "application/json"})  # fmt: skip
    engine.publish("in/x", b'{"n": 1}', context)
    engine.publish("in/y", b"{}")  # (the first letter leaves for the file)
    (record,) = [json.loads(line) for line in spill.read_text().splitlines()]
    assert (record["ruleName"], record["topic"], record["message"]["topic"]) == (
        "R",
        "in/x",
        "in/x",
    )
    assert base64.b64decode(record["message"]["base64Payload"]) == b'{"n": 1}'
    assert Context.of(record["message"]["context"]) == context


def test_without_a_file_the_oldest_dead_letters_are_dropped_counted_and_warned() -> None:
    engine = _failing_engine(Limits(max_dead_letters=3))
    with pytest.warns(DeadLetterWarning, match="dead letters dropped"):
        for n in range(10):
            engine.publish("in/x", json.dumps({"n": n}).encode())
    assert len(engine.dead_letters) == 3 and engine.dropped_dead_letters == 7
    unwritable = _failing_engine(Limits(max_dead_letters=1), dead_letter_file="/nonexistent/d/x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unwritable.publish("in/x", b"{}")
        unwritable.publish("in/x", b"{}")
    assert unwritable.dropped_dead_letters == 1
    assert any(issubclass(w.category, DeadLetterWarning) for w in caught)


# ---- HTTP destinations ---------------------------------------------------------------------


def _http_rule(engine: iotsql.RulesEngine, http: dict[str, Any]) -> None:
    engine.create_topic_rule("H", {"sql": "SELECT * FROM 'in/#'", "actions": [{"http": http}]})


def test_a_templated_url_needs_a_confirmation_url() -> None:
    engine = iotsql.RulesEngine()
    with pytest.raises(RuleValidationError) as info:
        _http_rule(engine, {"url": "https://example.com/${topic()}"})
    assert info.value.field == "topicRulePayload.actions[0].http.confirmationUrl"
    with pytest.raises(RuleValidationError) as info:
        _http_rule(engine, {"url": "https://example.com.evil.net/x",
                            "confirmationUrl": "https://example.com"})  # fmt: skip
    assert info.value.field == "topicRulePayload.actions[0].http.url"
    _http_rule(engine, {"url": "https://example.com/${topic()}",
                        "confirmationUrl": "https://example.com"})  # fmt: skip


@pytest.mark.parametrize(
    ("confirmation", "url"),
    [
        ("http://127.0.0.1:1", "http://127.0.0.1:12000/x"),  # a text prefix, another port
        ("https://example.com", "https://example.com.evil.net/x"),  # another host
        ("https://example.com/api", "https://example.com/api2/x"),  # not under the path
        ("https://example.com", "http://example.com/x"),  # another scheme
        ("https://example.com", "https://example.com@evil.net/x"),  # credentials, another host
        ("https://example.com", "https://[::1/x"),  # malformed
    ],
)
def test_rendered_urls_are_compared_as_parsed_urls(confirmation: str, url: str) -> None:
    engine = iotsql.RulesEngine()
    _http_rule(engine, {"url": "${target}", "confirmationUrl": confirmation})
    report = engine.publish("in/x", json.dumps({"target": url}))
    (action,) = report.rules[0].actions
    assert not action.ok and "is not under the confirmationUrl" in (action.error or "")
    assert engine.recorder["http"].requests == []  # nothing was sent
    assert len(engine.dead_letters) == 1


@pytest.mark.parametrize(
    ("confirmation", "url"),
    [
        ("http://127.0.0.1:1", "http://127.0.0.1:1/x"),
        ("https://Example.com", "https://example.com:443/a/b?q=1"),
        ("https://example.com/api", "https://example.com/api/v1"),
        ("https://example.com/api/", "https://example.com/api/v1"),
    ],
)
def test_urls_under_the_confirmation_url_are_sent(confirmation: str, url: str) -> None:
    engine = iotsql.RulesEngine()
    _http_rule(engine, {"url": "${target}", "confirmationUrl": confirmation})
    assert engine.publish("in/x", json.dumps({"target": url})).rules[0].actions[0].ok


@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]/", "ftp://example.com/", "http:///x"])
def test_http_sink_send_refuses_a_malformed_url(url: str) -> None:
    with pytest.raises(HttpActionError, match="HttpAction failed to make a request"):
        HttpSink(timeout=0.5).send(url, body=b"{}")


def test_close_stops_the_loop_thread_of_coroutine_sinks() -> None:
    async def sink(request: ActionRequest) -> None:
        await asyncio.sleep(0)

    def loop_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "iotsql-async-sinks" and t.is_alive()}

    others = loop_threads()  # engines of other tests that were not closed
    engine = _engine(sqs=sink)
    assert engine.publish("in/x", b"{}").rules[0].actions[0].ok
    assert loop_threads() - others
    engine.close()
    assert not loop_threads() - others
    assert engine.publish("in/x", b"{}").rules[0].actions[0].ok  # still usable: a new loop
    engine.close()
    assert not loop_threads() - others
