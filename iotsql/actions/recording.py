"""In-memory sinks for tests and for `iotsql replay`: they keep every request they receive, and
the simple adapters (callbacks, JSON-lines files)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from iotsql.actions.base import ActionRequest


class RecordingSink:
    """Keeps every request; `fail_with` makes it fail (to exercise error actions)."""

    def __init__(self, fail_with: str | BaseException | None = None) -> None:
        self.requests: list[ActionRequest] = []
        self.fail_with = fail_with
        self._lock = threading.Lock()

    def __call__(self, request: ActionRequest) -> None:
        with self._lock:
            self.requests.append(request)
        failure = self.fail_with
        if failure is not None:
            raise failure if isinstance(failure, BaseException) else RuntimeError(failure)

    @property
    def bodies(self) -> list[Any]:
        """The delivered payloads, decoded as JSON where they are JSON."""
        return [r.body for r in self.requests]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def __iter__(self) -> Iterator[ActionRequest]:
        return iter(list(self.requests))

    def __len__(self) -> int:
        return len(self.requests)


class Recorder:
    """The engine's default sink: one RecordingSink per action type, created on first use."""

    def __init__(self) -> None:
        self._sinks: dict[str, RecordingSink] = {}
        self._lock = threading.Lock()

    def sink(self, action_type: str) -> RecordingSink:
        with self._lock:
            existing = self._sinks.get(action_type)
            if existing is None:
                existing = self._sinks[action_type] = RecordingSink()
            return existing

    def __getitem__(self, action_type: str) -> RecordingSink:
        """The sink of an action type of the CreateTopicRule API (`sqs`, `dynamoDBv2`...); a
        name that is none (`SQS`, CloudFormation's `Sqs`) is a KeyError with the name meant,
        rather than a sink no rule can ever deliver to, whose `bodies` would stay empty."""
        from iotsql.actions.types import unknown_action_type  # the catalogue: on first use

        unknown = unknown_action_type(action_type)
        if unknown is not None:
            raise KeyError(unknown)
        return self.sink(action_type)

    @property
    def requests(self) -> list[ActionRequest]:
        """Every recorded request of every action type, in arrival order within each type."""
        with self._lock:
            sinks = list(self._sinks.values())
        return [request for sink in sinks for request in sink.requests]

    def by_type(self) -> dict[str, list[ActionRequest]]:
        with self._lock:
            return {name: list(sink.requests) for name, sink in self._sinks.items()}

    def clear(self) -> None:
        with self._lock:
            for sink in self._sinks.values():
                sink.clear()


class CallbackSink:
    """Adapts any `callable(request)` (or `callable(payload_bytes)` with `payload_only=True`)."""

    def __init__(self, callback: Callable[..., Any], *, payload_only: bool = False) -> None:
        self.callback = callback
        self.payload_only = payload_only

    def __call__(self, request: ActionRequest) -> Any:
        return self.callback(request.payload if self.payload_only else request)


class JsonLinesSink:
    """Appends each request as one JSON line (`ActionRequest.to_json()`) to a file or stream."""

    def __init__(self, target: str | Path | IO[str]) -> None:
        self._lock = threading.Lock()
        if isinstance(target, (str, Path)):
            self._path: Path | None = Path(target)
            self._stream: IO[str] | None = None
        else:
            self._path = None
            self._stream = target

    def __call__(self, request: ActionRequest) -> None:
        line = json.dumps(request.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._stream is not None:
                self._stream.write(line)
                self._stream.flush()
            else:
                assert self._path is not None
                with self._path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
