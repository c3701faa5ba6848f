"""The engine shared between threads (docs/engine.md, "Threads"): rules changed while other
threads publish, requests read by several threads at once, sinks on another thread's event loop.
Each test runs real threads with the interpreter switching threads as often as it can
(`sys.setswitchinterval(1e-6)`), for a bounded time, and failed reliably before its fix."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import iotsql
from iotsql.actions.base import ActionRequest
from iotsql.actions.recording import JsonLinesSink
from iotsql.budget import current_budget
from iotsql.limits import Limits

ROLE = "arn:aws:iam::123456789012:role/r"


def sqs_rule(sql: str) -> dict[str, Any]:
    return {"sql": sql, "awsIotSqlVersion": "2016-03-23", "actions": [{"sqs": {
        "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "roleArn": ROLE}}]}  # fmt: skip


@pytest.fixture
def switching() -> Iterator[None]:
    """Threads switched every microsecond, so that the interleavings that lose something come
    up within a second."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def run_together(seconds: float, *loops: Callable[[], bool]) -> list[BaseException]:
    """Run each of `loops` in its own thread, started together, calling it again and again
    until `seconds` passed or one returns True (it saw what it looks for); what they raised."""
    start = threading.Barrier(len(loops))
    stop = threading.Event()
    failures: list[BaseException] = []

    def run(loop: Callable[[], bool]) -> None:
        start.wait()
        deadline = time.monotonic() + seconds
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                if loop():
                    stop.set()
        except BaseException as err:  # (reported by the test)
            failures.append(err)
            stop.set()

    threads = [threading.Thread(target=run, args=(loop,)) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


# ---- rules changed while others publish ----------------------------------------------------------


@pytest.mark.parametrize("report", [True, False], ids=["report", "quiet"])
def test_a_rule_replaced_under_a_publish_never_runs_on_a_topic_its_new_filter_refuses(
    switching: None, report: bool
) -> None:
    """A publish reads its topic's route (the rules that match it), then runs them. A rule
    replaced in between by a definition whose FROM filter no longer takes the topic ran in its
    new form all the same: the publish looked the rule up by name. Now the route holds the
    rules themselves, and a publish that sees the rules changed since checks the filter of the
    new definition (RulesEngine._rerouted)."""
    delivered: list[bytes] = []

    def keep(request: ActionRequest) -> None:
        delivered.append(request.payload)

    keep.instant = True  # type: ignore[attr-defined]
    engine = iotsql.RulesEngine(sinks={"sqs": keep})
    here = sqs_rule("SELECT 'here' AS v FROM 'a/#'")
    elsewhere = sqs_rule("SELECT 'elsewhere' AS v FROM 'b/#'")
    engine.create_topic_rule("R", here)
    flips = 0

    def flip() -> bool:
        nonlocal flips
        flips += 1
        engine.replace_topic_rule("R", elsewhere if flips % 2 else here)
        return False

    def publish() -> bool:
        delivered.clear()
        engine.publish("a/x", b"{}", report=report)
        return any(b"elsewhere" in payload for payload in delivered)

    assert run_together(1.0, flip, publish) == []
    assert not [p for p in delivered if b"elsewhere" in p]
    assert flips > 10


def test_publishes_during_rule_changes_lose_no_rule_that_stayed(switching: None) -> None:
    """Rules created, deleted, disabled and enabled by one thread while two others publish: a
    rule nobody touched fires on every message, however the routes are remade meanwhile, and
    a deleted rule never fires once its deletion returned."""
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("Stable", sqs_rule("SELECT 'stable' AS v FROM 'a/+/x'"))
    changes = 0

    def change() -> bool:
        nonlocal changes
        changes += 1
        name = f"T{changes % 5}"
        engine.create_topic_rule(name, sqs_rule(f"SELECT '{name}' AS v FROM 'a/#'"))
        engine.disable_topic_rule(name)
        engine.enable_topic_rule(name)
        engine.delete_topic_rule(name)
        return False

    def publish() -> bool:
        fired = engine.publish("a/1/x", b"{}")
        if "Stable" not in fired.fired:
            raise AssertionError(f"Stable did not fire: {fired!r}")
        engine.publish("a/1/x", b"{}", report=False)
        return False

    assert run_together(0.8, change, publish, publish) == []
    stable = [r for r in engine.recorder["sqs"].requests if r.rule_name == "Stable"]
    others = [r for r in engine.recorder["sqs"].requests if r.rule_name != "Stable"]
    assert len(stable) > 100 and changes > 10
    engine.recorder.clear()
    engine.publish("a/1/x", b"{}")
    engine.publish("a/1/x", b"{}", report=False)
    assert [r.rule_name for r in engine.recorder["sqs"].requests] == ["Stable", "Stable"]
    assert all(r.rule_name.startswith("T") for r in others)


def test_load_rules_with_replace_creates_or_replaces_whatever_other_threads_do(
    switching: None,
) -> None:
    """`load_rules(..., replace=True)` looked a rule up, then created or replaced it: a rule
    created or deleted by another thread in between made it fail with "already exists" or "does
    not exist", which replace=True promises not to say. It now creates or replaces in one go,
    again if another thread got in between."""
    engine = iotsql.RulesEngine()
    document = {
        "rules": [{"ruleName": "Loaded", "topicRulePayload": sqs_rule("SELECT * FROM 'l'")}]
    }
    loads = 0

    def load() -> bool:
        nonlocal loads
        assert len(engine.load_rules(document, replace=True)) == 1
        loads += 1
        return False

    def delete() -> bool:
        with contextlib.suppress(iotsql.ResourceNotFoundError):
            engine.delete_topic_rule("Loaded")
        return False

    assert run_together(0.8, load, load, delete) == []
    assert loads > 20
    engine.load_rules(document, replace=True)
    assert list(engine.rules) == ["Loaded"]


# ---- requests read by several threads ------------------------------------------------------------


def test_a_request_rendered_on_first_read_can_be_read_by_two_threads_at_once(
    switching: None,
) -> None:
    """A quiet publish hands sinks requests whose `params` and `request` are rendered when
    first read (ActionRequest.__getattr__). Two threads reading one such request at once: the
    second could find the rendering done between its miss and its look, and raised
    AttributeError."""
    engine = iotsql.RulesEngine()
    engine.create_topic_rule("R", sqs_rule("SELECT * FROM 't'"))
    failures: list[BaseException] = []

    def read(requests: list[ActionRequest], field: str, start: threading.Barrier) -> None:
        start.wait()
        try:
            for request in requests:
                getattr(request, field)
        except BaseException as err:  # (reported below)
            failures.append(err)

    for _ in range(5):  # (each round a few hundred chances)
        engine.recorder.clear()
        for _ in range(4000):
            engine.publish("t", b'{"a": 1}', report=False)
        requests = engine.recorder["sqs"].requests
        assert all("_unrendered" in vars(request) for request in requests)
        start = threading.Barrier(2)
        threads = [threading.Thread(target=read, args=(requests, field, start))
                   for field in ("request", "params")]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert all(request.request["operation"] == "SendMessage" for request in requests)


# ---- coroutine sinks ------------------------------------------------------------------------------


def test_a_coroutine_sink_runs_outside_the_time_budget_of_the_rule_that_called_it() -> None:
    """A coroutine sink runs on an event loop in another thread; it was scheduled with a copy
    of the publishing thread's context, time budget included, so a sink that publishes into
    an engine after the rule's budget ran out had that publish's timed rules stopped
    (BudgetExceededError) for a deadline that was not theirs. A sink, inline or not, never
    spends the rule's budget."""
    limits = Limits(evaluation_timeout=0.2)
    downstream = iotsql.RulesEngine(limits=limits)
    downstream.create_topic_rule("Down", sqs_rule(
        "SELECT regexp_replace(a, 'x+', 'y') AS r FROM 'down'"))  # fmt: skip
    assert downstream.rule("Down").timed
    budgets: list[Any] = []

    async def forward(request: ActionRequest) -> None:
        budgets.append(current_budget())
        await asyncio.sleep(0.3)  # past the 0.2 s budget of the rule that called it
        downstream.publish("down", b'{"a": "xx"}')

    engine = iotsql.RulesEngine(limits=limits, sinks={"lambda": forward})
    engine.create_topic_rule("Up", {"sql": "SELECT regexp_replace(a, 'x+', 'y') AS r FROM 'up'",
                                    "actions": [{"lambda": {"functionArn":
                                        "arn:aws:lambda:us-east-1:123456789012:function:f"}}]})  # fmt: skip
    assert engine.rule("Up").timed
    with engine, downstream:
        report = engine.publish("up", b'{"a": "xx"}')
    assert report.failures == [] and budgets == [None]
    assert downstream.dead_letters == []
    assert downstream.recorder["sqs"].bodies == [{"r": "y"}]


# ---- what was checked and found safe --------------------------------------------------------------


def test_dead_letters_of_many_threads_are_all_kept_or_written_in_order(
    switching: None, tmp_path: Any
) -> None:
    """Publishes in four threads, every one a dead letter, past `max_dead_letters`: each
    letter is either still kept or in the dead-letter file, none twice, and each thread's
    letters are in the order it buried them."""
    path = tmp_path / "dead.jsonl"
    engine = iotsql.RulesEngine(limits=Limits(max_dead_letters=7), dead_letter_file=path)
    engine.register_sink("sqs", lambda request: (_ for _ in ()).throw(OSError("queue gone")))
    engine.create_topic_rule("Lost", sqs_rule("SELECT thread, n FROM 'lost'"))
    start = threading.Barrier(4)

    def publish(thread: int) -> None:
        start.wait()
        for n in range(60):
            engine.publish("lost", b'{"thread": %d, "n": %d}' % (thread, n), report=n % 2 == 0)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped: the file takes what memory does not
        threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    written = [
        json.loads(line)["message"]["base64Payload"] for line in path.read_text().splitlines()
    ]
    bodies = [json.loads(base64.b64decode(payload)) for payload in written]
    bodies += [json.loads(letter.message.body) for letter in engine.drain_dead_letters()]
    assert len(bodies) == 240 and engine.spilled_dead_letters == 240 - 7
    for thread in range(4):
        assert [b["n"] for b in bodies if b["thread"] == thread] == list(range(60))


def test_the_recorder_and_a_json_lines_sink_keep_every_request_of_many_threads(
    switching: None, tmp_path: Any
) -> None:
    """Four threads publishing, the recorder called inline in each and a JsonLinesSink in the
    engine's worker threads: every request is kept, every line whole."""
    path = tmp_path / "requests.jsonl"
    engine = iotsql.RulesEngine(sinks={"sns": JsonLinesSink(path)})
    engine.create_topic_rule("Both", {**sqs_rule("SELECT n FROM 'm/+'"), "actions": [
        sqs_rule("")["actions"][0],
        {"sns": {"targetArn": "arn:aws:sns:us-east-1:123456789012:t", "roleArn": ROLE}}]})  # fmt: skip
    start = threading.Barrier(4)

    def publish(thread: int) -> None:
        start.wait()
        for n in range(100):
            engine.publish(f"m/{thread}", b'{"n": %d}' % (thread * 100 + n), report=n % 2 == 0)

    threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.close()
    assert sorted(body["n"] for body in engine.recorder["sqs"].bodies) == list(range(400))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(line["action"] == "sns" for line in lines)
    assert sorted(line["body"]["n"] for line in lines) == list(range(400))


def test_a_topic_index_answers_concurrent_matches_as_one_thread_does(switching: None) -> None:
    """TopicIndex.match builds its automaton lazily, as topics arrive: threads that build the
    same states at once still get the answer of a single thread."""
    index: iotsql.TopicIndex[str] = iotsql.TopicIndex()
    filters = ["a/+/c", "a/#", "+/b/+", "a/b/c", "#", "+/+/+/d", "x/+", "$aws/#"]
    for n, topic_filter in enumerate(filters):
        index.add(topic_filter, f"f{n}")
    topics = [f"{a}/{b}/{c}" for a in ("a", "x", "$aws") for b in ("b", "q", "1", "2")
              for c in ("c", "d", "e/d")]  # fmt: skip
    alone = iotsql.TopicIndex[str]()
    for n, topic_filter in enumerate(filters):
        alone.add(topic_filter, f"f{n}")
    expected = {topic: alone.match(topic) for topic in topics}
    start = threading.Barrier(4)
    wrong: list[Any] = []

    def match() -> None:
        start.wait()
        for _ in range(30):
            for topic in topics:
                if index.match(topic) != expected[topic]:
                    wrong.append(topic)

    threads = [threading.Thread(target=match) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_the_limits_in_force_are_each_threads_own(switching: None) -> None:
    """Two engines with different limits, published into from four threads at once, then from
    asyncio tasks: the limits in force while a rule runs (`current_limits()`, which the functions read) are always
    those of the engine publishing, never another thread's."""
    from iotsql.limits import current_limits
    from iotsql.providers import InMemoryProvider

    seen: list[tuple[str, Limits]] = []

    def handler(name: str) -> Callable[[Any], Any]:
        def call(event: Any) -> Any:
            seen.append((name, current_limits()))
            return {"ok": True}

        return call

    engines = {}
    for name, limits in (("small", Limits(max_value_bytes=64 * 1024)), ("default", Limits())):
        provider = InMemoryProvider(lambdas={"arn:aws:lambda:us-east-1:123456789012:function:f":
                                             handler(name)})  # fmt: skip
        engine = iotsql.RulesEngine(limits=limits, provider=provider)
        engine.create_topic_rule("Call", sqs_rule(
            "SELECT aws_lambda('arn:aws:lambda:us-east-1:123456789012:function:f', *) AS r "
            "FROM 't'"))  # fmt: skip
        engines[name] = (engine, engine.limits)

    def publish(name: str) -> Callable[[], bool]:
        engine = engines[name][0]
        return lambda: engine.publish("t", b"{}", report=False) is not None

    assert run_together(0.5, publish("small"), publish("default"), publish("small"),
                        publish("default")) == []  # fmt: skip
    assert len(seen) > 100

    async def tasks() -> None:  # and asyncio tasks, each publish in the default executor
        await asyncio.gather(*(engines[name][0].publish_async("t", b"{}")
                               for name in ("small", "default") * 20))  # fmt: skip

    asyncio.run(tasks())
    assert {name for name, _ in seen} == {"small", "default"}
    assert all(limits is engines[name][1] for name, limits in seen)
