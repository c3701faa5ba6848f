"""The built-in adapters (callbacks, JSON-lines files, the recorder) and sinks offered by other
packages through the `iotsql.sinks` entry-point group."""

from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path

import pytest

import iotsql
from iotsql.actions.base import ActionRequest
from iotsql.actions.recording import CallbackSink, JsonLinesSink, Recorder, RecordingSink

ROLE = "arn:aws:iam::123456789012:role/iot"


def engine_with_rule(**sinks: object) -> iotsql.RulesEngine:
    engine = iotsql.RulesEngine(sinks=sinks)  # type: ignore[arg-type]
    engine.create_topic_rule("R", {
        "sql": "SELECT * FROM 'a/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t", "roleArn": ROLE}}],
    })  # fmt: skip
    return engine


def test_callback_sink_passes_the_request_or_the_payload() -> None:
    requests: list[ActionRequest] = []
    payloads: list[bytes] = []
    engine_with_rule(sns=CallbackSink(requests.append)).publish("a/b", b'{"x": 1}')
    engine_with_rule(sns=CallbackSink(payloads.append, payload_only=True)).publish("a/b", b"{}")
    assert requests[0].body == {"x": 1} and payloads == [b"{}"]


def test_json_lines_sink_writes_one_line_per_request(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    stream = io.StringIO()
    engine_with_rule(sns=JsonLinesSink(path)).publish("a/b", b'{"x": 1}')
    engine_with_rule(sns=JsonLinesSink(stream)).publish("a/c", b"\x00\x01")
    line = json.loads(path.read_text().strip())
    assert line["rule"] == "R" and line["action"] == "sns" and line["body"] == {"x": 1}
    assert line["topic"] == "a/b" and line["request"]["operation"] == "Publish"
    raw = json.loads(stream.getvalue())
    assert raw["body"] == {"base64": "AAE="}


def test_recorder_and_recording_sink() -> None:
    recorder = Recorder()
    assert recorder["sqs"] is recorder.sink("sqs") and len(recorder["sqs"]) == 0
    failing = RecordingSink(fail_with=ValueError("nope"))
    engine = engine_with_rule(sns=failing)
    report = engine.publish("a/b", b"{}")
    assert len(failing) == 1 and "ValueError: nope" in (report.failures[0].error or "")
    failing.clear()
    assert list(failing) == []


def test_sinks_from_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "mysinks.py"
    package.write_text(
        textwrap.dedent("""
        RECEIVED = []

        class QueueSink:
            instant = True
            def __call__(self, request):
                RECEIVED.append(request.payload)
    """)
    )
    dist = tmp_path / "mysinks-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mysinks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[iotsql.sinks]\nsns = mysinks:QueueSink\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    engine = iotsql.RulesEngine(plugins=True)
    engine.create_topic_rule("R", {
        "sql": "SELECT * FROM 'a/+'",
        "actions": [{"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t", "roleArn": ROLE}}],
    })  # fmt: skip
    engine.publish("a/b", b'{"x": 1}')
    assert sys.modules["mysinks"].RECEIVED == [b'{"x":1}']
    assert len(engine.recorder["sns"]) == 0
