"""Fixtures of the bridge tests: a Mosquitto process for the module (MQTT 5, shared
subscriptions, websockets), and bridge processes (`iotsql bridge ...`) started and stopped by
pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("paho.mqtt", reason="the mqtt extra (paho-mqtt)")

from iotsql.testing.broker import MOSQUITTO_INSTALL, BrokerError, MqttBroker


def need(reason: str) -> None:
    """Skip for a missing component, except in CI (IOTSQL_CI=1), where it is a failure."""
    if os.environ.get("IOTSQL_CI") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MqttBroker]:
    try:
        broker = MqttBroker("mosquitto").start()
    except BrokerError as err:
        need(f"needs Mosquitto: {err} ({MOSQUITTO_INSTALL})")
        raise
    try:
        yield broker
    finally:
        broker.stop()


def wait_until(condition: Any, timeout: float = 30.0) -> bool:
    """Poll `condition` until it is true or `timeout` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def unique(prefix: str = "t") -> str:
    """A topic prefix no other test uses (one broker serves the session)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class BridgeProcess:
    """`python -m iotsql bridge ...` as a child process; its stderr is read line by line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "iotsql", "bridge", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env=env, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no line with {text!r}; stderr:\n" + "\n".join(self.lines)
                    )
                self._cond.wait(min(left, 0.2))

    def wait_ready(self) -> BridgeProcess:
        self.wait_for("subscribed to")
        return self

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    def finish(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> int:
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        return self.finish()

    @property
    def stderr(self) -> str:
        with self._cond:
            return "\n".join(self.lines)


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[Any]:
    """Start bridge processes with `bridges(args...)`; any still running at the end is killed."""
    started: list[BridgeProcess] = []

    def start(*args: str) -> BridgeProcess:
        process = BridgeProcess(list(args), tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            os.kill(process.process.pid, signal.SIGKILL)
            process.process.wait(10)
