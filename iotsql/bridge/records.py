"""What the bridge writes as JSON lines: every action request (`--out`, the format of
`iotsql replay --out`: `ActionRequest.to_json()`), and dead letters (`--dead-letters`).

A dead letter is one line:

    {"rule": "Archive", "topic": "plant/line1", "at": "2026-12-06T18:00:00.123Z",
     "message": {"topic": "plant/line1", "payloadBase64": "eyJ2IjogMX0=",
                 "context": {"timestamp": 1796580000123, "userProperties": [["k", "v"]]}},
     "failures": [{"action": "sqs", "failedAction": "SqsAction", "resource": "...",
                   "error": "...", "request": {...}}],
     "errorActionFailure": {...} or null, "evaluationError": null, "rejected": null}

`message` is a line of `iotsql replay`'s MESSAGES format, so `jq -c .message dead.jsonl |
iotsql replay rules.json -` runs them again. `failures` are the rule's failed actions,
`errorActionFailure` the error action's failure when it failed too; `evaluationError` a rule
that could not be evaluated; `rejected` a message the engine refused (a topic or a body over
a limit)."""

from __future__ import annotations

import base64
import datetime
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from iotsql.actions.base import ActionRequest
    from iotsql.engine import ActionReport, DeadLetter
    from iotsql.message import Context


def dumps(value: Any) -> str:
    """Compact JSON, as `iotsql replay` writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return str(value)


class TextStream(Protocol):
    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


class JsonLinesWriter:
    """Appends lines to a file (opened once) or a stream, flushing each batch, thread-safe."""

    def __init__(self, target: str | Path | TextStream) -> None:
        self.lock = threading.Lock()
        if isinstance(target, (str, Path)):
            self._stream: Any = Path(target).open("a", encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._stream = target
            self._owned = False

    def write(self, records: list[Any]) -> None:
        if not records:
            return
        text = "".join(dumps(record) + "\n" for record in records)
        with self.lock:
            self._stream.write(text)
            self._stream.flush()

    def close(self) -> None:
        with self.lock:
            if self._owned:
                self._stream.close()
            else:
                self._stream.flush()


def request_record(request: ActionRequest) -> dict[str, Any]:
    return request.to_json()


def context_record(context: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("clientid", "principal", "timestamp", "sourceip"):
        value = getattr(context, name)
        if value is not None:
            out[name] = value
    if context.user_properties:
        out["userProperties"] = [list(pair) for pair in context.user_properties]
    if context.mqtt_properties:
        out["mqttProperties"] = dict(context.mqtt_properties)
    return out


def message_record(topic: str, body: bytes, context: Context) -> dict[str, Any]:
    return {
        "topic": topic,
        "payloadBase64": base64.b64encode(body).decode("ascii"),
        "context": context_record(context),
    }


def _failure(report: ActionReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "action": report.action_type,
        "failedAction": report.failed_action,
        "resource": report.resource,
        "error": report.error,
        "request": report.request.to_json() if report.request is not None else None,
    }


def _now(at: float | None = None) -> str:
    moment = datetime.datetime.fromtimestamp(
        at if at is not None else datetime.datetime.now().timestamp(), datetime.timezone.utc
    )
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_letter_record(letter: DeadLetter) -> dict[str, Any]:
    message = letter.message
    return {
        "rule": letter.rule_name,
        "topic": letter.topic,
        "at": _now(letter.at),
        "message": message_record(message.topic, message.body, message.context),
        "failures": [_failure(f) for f in letter.failures],
        "errorActionFailure": _failure(letter.error_action_failure),
        "evaluationError": letter.evaluation_error,
        "rejected": None,
    }


def rejected_record(topic: str, body: bytes, context: Context, error: str) -> dict[str, Any]:
    return {
        "rule": None,
        "topic": topic,
        "at": _now(),
        "message": message_record(topic, body, context),
        "failures": [],
        "errorActionFailure": None,
        "evaluationError": None,
        "rejected": error,
    }
