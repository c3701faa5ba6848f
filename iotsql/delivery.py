"""How the engine calls sinks and subscribers, whatever they are and however they fail.

- A sink known to be instant (the recorder, `instant = True`) is called inline; any other one
  in a worker thread (`SinkThreads`) under `Limits.action_timeout`.
- A coroutine function (`async def sink(request)`, or an object whose `__call__` is one) is run
  on an event loop, never called and dropped: the caller's loop under `publish_async`, else the
  engine's own loop thread (`EventLoopThread`). A time-out cancels it there. A plain sink that
  returns an awaitable has it run to completion too.
- Whatever a sink raises is its action's failure: `BaseException`s included (`SystemExit`,
  `GeneratorExit`, `KeyboardInterrupt`; the engine re-raises only `KeyboardInterrupt`, and only
  once the message is accounted for), and exceptions whose `__str__` itself raises
  (`describe`). Nothing a sink does escapes a publish otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from iotsql.actions.recording import RecordingSink
from iotsql.budget import current_budget, pause_budget
from iotsql.errors import ActionError

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import Future

# asyncio (and concurrent.futures) are imported where a coroutine sink needs them, not here:
# they cost more to import than the rest of the engine, and most programs never use them.


def is_instant(sink: Any) -> bool:
    """Whether `sink` is called inline, without a time-out: the engine's recorder
    (RecordingSink), or any sink with a true `instant` attribute (it promises never to block)."""
    return type(sink) is RecordingSink or getattr(sink, "instant", False) is True


def is_coroutine_sink(sink: Any) -> bool:
    """Whether calling `sink` makes a coroutine (an `async def` function, a partial of one, or
    an object whose `__call__` is one)."""
    if inspect.iscoroutinefunction(sink):
        return True
    if inspect.isroutine(sink) or inspect.isclass(sink):
        return False
    call = inspect.getattr_static(type(sink), "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def describe(err: BaseException) -> str:
    """`Type: message` for an action's failure report, even when the exception's `__str__`
    raises (its message is then said to be unreadable, never a second exception). An
    `ActionError` (iotsql's sinks', or a host's) is its message alone: it is written in AWS's
    words (`Failed to put S3 object. The error received was ...`), which the error action's
    `errorMessage` carries as AWS sends it (rule-error-handling.md)."""
    try:
        name = type(err).__name__
    except BaseException:  # (a hostile metaclass: there is still a failure)
        name = "Exception"
    try:
        text = str(err)
    except BaseException as inner:  # (whatever __str__ raises, it is reported)
        text = f"<its message could not be read: __str__ raised {type(inner).__name__}>"
    if text and isinstance(err, ActionError):
        return text
    return f"{name}: {text}" if text else name


# ---- coroutine sinks ----------------------------------------------------------------------------

#: The event loop of the task that called `publish_async`: coroutine sinks run on it.
CALLER_LOOP: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar(
    "iotsql_caller_loop", default=None
)


class EventLoopThread:
    """An event loop in a daemon thread, started on first use, for coroutine sinks of
    publishes that did not come from `publish_async`."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            with self._lock:
                loop = self._loop
                if loop is None:
                    import asyncio

                    loop = asyncio.new_event_loop()
                    thread = threading.Thread(target=self._run, args=(loop,),
                                              name="iotsql-async-sinks", daemon=True)  # fmt: skip
                    thread.start()
                    self._loop, self._thread = loop, thread
                    # An engine dropped without close() does not leave its loop thread behind.
                    weakref.finalize(self, _stop, loop)
        return loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.run_forever()
        finally:
            loop.close()

    def close(self, wait: float = 1.0) -> None:
        """Stop the loop thread, if one was started (a later coroutine sink starts another);
        coroutines still running on it are abandoned."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            _stop(loop)
            thread.join(wait)


def _stop(loop: asyncio.AbstractEventLoop) -> None:
    with contextlib.suppress(RuntimeError):  # closed already
        loop.call_soon_threadsafe(loop.stop)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _current_loop() -> asyncio.AbstractEventLoop | None:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def schedule(coroutine: Coroutine[Any, Any, Any], own: EventLoopThread) -> Future[Any]:
    """Start `coroutine` on the caller's loop (publish_async) or the engine's loop thread; a
    concurrent Future for its result. Never on the loop running in this thread, which would
    wait on itself: a fresh loop in a thread of its own then."""
    import asyncio
    from concurrent.futures import Future

    here = _current_loop()
    loop = CALLER_LOOP.get()
    if loop is None or loop is here or loop.is_closed():
        loop = own.loop
    if loop is here:  # the engine's own loop thread publishing from a coroutine sink
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(asyncio.run(coroutine))
            except BaseException as err:  # (the sink's failure, reported)
                future.set_exception(err)

        threading.Thread(target=run, name="iotsql-async-sink", daemon=True).start()
        return future
    if current_budget() is None:
        return asyncio.run_coroutine_threadsafe(coroutine, loop)
    # The loop runs the coroutine in a copy of this thread's context, made here: without the
    # time budget of the rule that calls the sink, which is not the sink's to spend (as
    # `RulesEngine._call_inline` sets it aside for an inline sink), and whose deadline would
    # otherwise stop the rules of any publish the sink makes once it passed.
    context = contextvars.copy_context()
    context.run(pause_budget)
    return context.run(asyncio.run_coroutine_threadsafe, coroutine, loop)


# ---- one call --------------------------------------------------------------------------------


class SinkCall:
    """One call of a sink (or subscriber) made away from the publishing thread: in a worker
    thread (`run`) or as a coroutine on a loop (`SinkCall.of_future`). `done` is set when it
    ended; `error` is whatever it raised."""

    __slots__ = ("abandoned", "args", "cancel", "done", "error", "fn", "result", "timeout")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float = 0.0) -> None:
        self.fn = fn
        self.args = args
        self.timeout = timeout
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        #: Set when the caller stopped waiting: a call still queued is then never made.
        self.abandoned = False
        #: Stops the call when the caller gives up on it (a coroutine can be cancelled).
        self.cancel: Callable[[], Any] | None = None

    def run(self) -> None:
        try:
            if not self.abandoned:
                result = self.fn(*self.args)
                if inspect.isawaitable(result):  # a plain callable returning a coroutine
                    import asyncio

                    result = asyncio.run(_awaited(result))
                self.result = result
        except BaseException as err:  # everything is the sink's failure, nothing kills the thread
            self.error = err
        finally:
            self.done.set()

    @classmethod
    def of_coroutine(
        cls, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float, own: EventLoopThread
    ) -> SinkCall:
        """Start the coroutine `fn(*args)` on a loop (see `schedule`); cancelled if abandoned."""
        call = cls(fn, args, timeout)
        try:
            coroutine = fn(*args)
            if not inspect.iscoroutine(coroutine):
                coroutine = _awaited(coroutine)
            future = schedule(coroutine, own)
        except BaseException as err:  # (raising before any await: a failure too)
            call.error = err
            call.done.set()
            return call
        call.cancel = future.cancel

        def finished(done: Future[Any]) -> None:
            if done.cancelled():
                call.error = TimeoutError("cancelled")
            else:
                call.error = done.exception()
                if call.error is None:
                    call.result = done.result()
            call.done.set()

        future.add_done_callback(finished)
        return call

    def give_up(self) -> None:
        """The caller stopped waiting: never start it, and cancel it where that is possible."""
        self.abandoned = True
        if self.cancel is not None:
            self.cancel()


def run_to_completion(awaitable: Awaitable[Any], own: EventLoopThread) -> Any:
    """The result of an awaitable a sink returned inline, run on a loop (see `schedule`)."""
    return schedule(_awaited(awaitable), own).result()


# ---- worker threads ------------------------------------------------------------------------------


class SinkThreads:
    """The engine's worker threads for sinks: daemon threads (a hung sink never keeps the
    interpreter from exiting), started on demand up to `max_threads` and ended after
    IDLE_SECONDS without work. Python cannot stop a thread, so a sink that hangs keeps its
    thread for as long as it hangs; the action is reported as timed out meanwhile."""

    IDLE_SECONDS = 30.0

    def __init__(self, max_threads: int) -> None:
        self.max_threads = max(1, max_threads)
        self._cond = threading.Condition(threading.Lock())
        self._tasks: deque[SinkCall] = deque()
        self._threads = 0
        self._idle = 0
        self._closed = False
        self._started: list[threading.Thread] = []

    @property
    def threads(self) -> int:
        return self._threads

    def close(self, wait: float = 1.0) -> None:
        """End the threads: idle ones now, busy ones after their queued calls. Waits up to
        `wait` seconds for them (a sink that hangs keeps its thread until it returns)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            started = list(self._started)
        deadline = time.monotonic() + wait
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))

    def submit(self, call: SinkCall) -> None:
        with self._cond:
            self._tasks.append(call)
            if len(self._tasks) <= self._idle:
                self._cond.notify()
                return
            if self._threads >= self.max_threads:
                # Every thread is busy: the call waits for one (its time-out still runs). Calls
                # whose caller gave up are dropped so that hung sinks cannot grow the queue.
                if len(self._tasks) > 4 * self.max_threads:
                    self._tasks = deque(t for t in self._tasks if not t.abandoned)
                return
            self._threads += 1
            self._started = [t for t in self._started if t.is_alive()]
        thread = threading.Thread(target=self._work, name="iotsql-sink", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # the system refuses more threads: the call waits for one
            with self._cond:
                self._threads -= 1
            return
        with self._cond:
            self._started.append(thread)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._tasks:
                    if self._closed:
                        self._threads -= 1
                        return
                    self._idle += 1
                    woken = self._cond.wait(self.IDLE_SECONDS)
                    self._idle -= 1
                    if not woken and not self._tasks:
                        self._threads -= 1
                        return
                call = self._tasks.popleft()
            call.run()
