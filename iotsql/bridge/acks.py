"""Acknowledgements sent after dispatch, in the order the messages were received.

A QoS 1 message is acknowledged (PUBACK) only once the rules' actions for it were dispatched,
so a bridge that dies before that gets the message again from the broker (at-least-once). Workers
finish messages in any order, and MQTT wants PUBACKs in the order the PUBLISH packets came in
(MQTT 3.1.1 and 5, section 4.6), so a finished message waits for the ones received before it.

Packet identifiers belong to one network connection: after a reconnect the broker reuses them.
`reset()` forgets the messages of the old connection; they are not acknowledged (on a persistent
session the broker sends them again; they run again: at-least-once)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class Slot:
    __slots__ = ("done", "generation", "mid", "qos")

    def __init__(self, mid: int, qos: int, generation: int) -> None:
        self.mid = mid
        self.qos = qos
        self.generation = generation
        self.done = False


class AckSequencer:
    def __init__(self, send: Callable[[int, int], object]) -> None:
        self._send = send
        self._pending: deque[Slot] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._generation = 0
        self.acked = 0

    def expect(self, mid: int, qos: int) -> Slot:
        """Register a message as it arrives (in arrival order)."""
        with self._lock:
            slot = Slot(mid, qos, self._generation)
            self._pending.append(slot)
            return slot

    def done(self, slot: Slot) -> None:
        """The message's actions were dispatched: acknowledge it and every finished message
        received before it."""
        with self._lock:
            if slot.generation != self._generation:
                return
            slot.done = True
            pending = self._pending
            while pending and pending[0].done:
                head = pending.popleft()
                self._send(head.mid, head.qos)
                self.acked += 1
            if not pending:
                self._idle.notify_all()

    def reset(self) -> int:
        """A new connection: forget the messages of the old one; returns how many."""
        with self._lock:
            dropped = len(self._pending)
            self._pending.clear()
            self._generation += 1
            self._idle.notify_all()
            return dropped

    @property
    def outstanding(self) -> int:
        with self._lock:
            return len(self._pending)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every registered message was acknowledged (or forgotten)."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._pending, timeout)
