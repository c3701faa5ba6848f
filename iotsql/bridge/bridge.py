"""`Bridge`: one MQTT connection feeding a RulesEngine.

Threads: paho's network thread receives messages and hands each to one of `workers` worker
threads (always the same one for a topic, so messages of one topic are evaluated in the order
they came); a worker publishes the message into the engine, writes the records, and marks it
done; acknowledgements then go out in arrival order (`acks.py`). The broker never has more than
`max_inflight` unacknowledged messages in flight to the bridge (MQTT 5 Receive Maximum; on
3.1.1 the broker's own limit applies), which bounds the queues."""

from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iotsql.bridge import paho
from iotsql.bridge.acks import AckSequencer, Slot
from iotsql.bridge.context import ContextMap
from iotsql.bridge.records import (
    JsonLinesWriter,
    TextStream,
    dead_letter_record,
    rejected_record,
    request_record,
)
from iotsql.bridge.republish import EchoMemory, Refusals, RepublishSink, split_hop
from iotsql.bridge.settings import settings_problem
from iotsql.bridge.stats import BridgeStats, StatsCounter
from iotsql.bridge.subscriptions import subscriptions_for
from iotsql.bridge.url import BrokerUrl
from iotsql.errors import IotSqlError
from iotsql.hosts import publish_context

if TYPE_CHECKING:
    from iotsql.engine import PublishReport, RulesEngine

LOG = logging.getLogger("iotsql.bridge")

#: MQTT 5 reason code of a DISCONNECT sent because another client took the client id.
SESSION_TAKEN_OVER = 142

Target = str | Path | TextStream


class BridgeError(IotSqlError):
    """The bridge cannot connect, subscribe or go on."""


class _Inbound:
    __slots__ = ("mqtt", "payload", "received_at", "slot", "topic", "users")

    def __init__(
        self,
        topic: str,
        payload: bytes,
        users: list[tuple[str, str]],
        mqtt: dict[str, Any],
        slot: Slot | None,
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.users = users
        self.mqtt = mqtt
        self.slot = slot
        self.received_at = int(time.time() * 1000)


def _no_delay(sock: Any) -> None:
    """Send small packets at once (TCP_NODELAY): a PUBACK or a republished message held back by
    Nagle's algorithm waits for the peer's delayed ACK, tens of milliseconds per message."""
    for candidate in (sock, getattr(sock, "_socket", None)):
        setsockopt = getattr(candidate, "setsockopt", None)
        if setsockopt is not None:
            try:
                setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return
            except OSError:
                continue


def _mqtt_version(value: str | int) -> int:
    text = str(value).strip().lower().removeprefix("v")
    if text in ("5", "5.0", "mqttv5"):
        return 5
    if text in ("3.1.1", "311", "4", "mqttv311"):
        return 4
    raise BridgeError(f"MQTT version {value!r}: the bridge speaks 5 or 3.1.1")


class Bridge:
    """Topic rules of `engine` on the live traffic of the broker at `broker_url`.

    - `client_id`: the MQTT client id (default: a new one per run). With a client id the
      session is persistent unless `clean_start=True`: the broker keeps the subscriptions and
      the QoS 1 messages that arrive while the bridge is away (`session_expiry` seconds on
      MQTT 5). Without one, every connection starts clean.
    - `share`: a shared-subscription group: every subscription is `$share/<share>/<filter>`,
      and the broker gives each message to one bridge of the group.
    - `mqtt_version`: "5" (default) or "3.1.1"; `username`, `password`; `cafile`, `certfile`,
      `keyfile` (TLS and X.509 client certificates, for mqtts:// and wss://), `insecure`
      (do not check the broker's host name).
    - `context`: `ContextMap` specs (`clientid=topic:2`, `clientid=user-property:client`).
    - `out`: a file or stream receiving every action request as a JSON line (the format of
      `iotsql replay --out`); `dead_letters`: a file or stream receiving dead letters as JSON
      lines (records.py). Without `dead_letters`, dead letters stay in `engine.dead_letters`
      and rejected messages in `bridge.rejected`.
    - `workers`, `max_inflight`, `keepalive`, `reconnect_delay` (min, max seconds: paho's
      exponential backoff), `connect_timeout`, `drain_timeout`, `publish_timeout`.

    `start()` connects and subscribes (it raises BridgeError when it cannot); `stop()` stops
    taking messages, finishes and acknowledges those received, and disconnects. The bridge
    registers its republish sink on the engine: republished messages go to the broker.
    """

    def __init__(
        self,
        engine: RulesEngine,
        broker_url: str | BrokerUrl,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        mqtt_version: str | int = "5",
        share: str | None = None,
        clean_start: bool | None = None,
        session_expiry: int = 3600,
        cafile: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        insecure: bool = False,
        context: Iterable[str] | Mapping[str, str] | ContextMap = (),
        qos: int = 1,
        workers: int = 4,
        max_inflight: int = 100,
        keepalive: int = 60,
        reconnect_delay: tuple[int, int] = (1, 30),
        connect_timeout: float = 10.0,
        drain_timeout: float = 30.0,
        publish_timeout: float = 10.0,
        out: Target | None = None,
        dead_letters: Target | None = None,
        log: Callable[[str], Any] | None = None,
    ) -> None:
        self._mqtt = paho.load()
        self.engine = engine
        self.url = broker_url if isinstance(broker_url, BrokerUrl) else BrokerUrl.parse(broker_url)
        self.protocol = _mqtt_version(mqtt_version)
        self.persistent = client_id is not None if clean_start is None else not clean_start
        self.client_id = (
            client_id
            or f"iotsql-{socket.gethostname()[:16]}-{os.getpid()}-" + (uuid.uuid4().hex[:6])
        )
        self.username = username if username is not None else self.url.username
        self.password = password if password is not None else self.url.password
        problem = settings_problem(
            client_id=client_id, username=self.username, password=self.password, share=share,
            keepalive=keepalive, session_expiry=session_expiry, workers=workers,
            timeouts={"connect time-out": connect_timeout, "drain time-out": drain_timeout,
                      "publish time-out": publish_timeout},
        )  # fmt: skip
        if problem:
            raise BridgeError(problem)
        self.share = share
        self.session_expiry = session_expiry
        self.tls = (cafile, certfile, keyfile)
        self.insecure = insecure
        if (certfile is None) != (keyfile is None):
            raise BridgeError("a client certificate needs both --cert and --key")
        if (cafile or certfile) and not self.url.tls:
            raise BridgeError(
                f"TLS files are given but {self.url.scheme}:// is not TLS: use mqtts:// or wss://"
            )
        self.context_map = context if isinstance(context, ContextMap) else ContextMap(context)
        if qos not in (0, 1, 2):
            raise BridgeError(f"qos {qos}: expected 0, 1 or 2")
        self.qos = qos
        self.workers = workers
        self.max_inflight = max(1, min(max_inflight, 65535))
        self.keepalive = keepalive
        self.reconnect_delay = reconnect_delay
        self.connect_timeout = connect_timeout
        self.drain_timeout = drain_timeout
        self.publish_timeout = publish_timeout
        self._log = log or LOG.info
        self._out = JsonLinesWriter(out) if out is not None else None
        self._dead = JsonLinesWriter(dead_letters) if dead_letters is not None else None
        #: Messages the engine refused (a topic or body over a limit), when no dead-letter
        #: file takes them: the last `Limits.max_dead_letters` of the engine (a device
        #: publishing oversized messages cannot fill the memory); older ones are dropped,
        #: counted in `dropped_rejected` and logged.
        self.rejected: list[dict[str, Any]] = []
        self.dropped_rejected = 0
        self.subscriptions: list[str] = self._compute_subscriptions()
        self.error: str | None = None
        self.failed = threading.Event()
        self._counter = StatsCounter()
        self._acks = AckSequencer(self._send_ack)
        self._memory = EchoMemory() if self.protocol == 4 else None
        self._refusals = Refusals()
        self._queues: list[queue.SimpleQueue[_Inbound | None]] = []
        self._threads: list[threading.Thread] = []
        self._client: Any = None
        self._connected = threading.Event()
        self._ready = threading.Event()
        self._unsubscribed = threading.Event()
        self._ever_connected = False
        self._session_present = False
        self._stopping = False
        self._started = False
        self._stopped = False
        self._inflight = 0
        self._inflight_cond = threading.Condition()
        self._sub_lock = threading.Lock()
        self._dead_lock = threading.Lock()
        self._sub_waits: dict[int, list[str]] = {}
        #: The mids of SUBSCRIBE packets the broker has answered (SUBACK), until
        #: `refresh_subscriptions` has seen its own; notified under _sub_lock.
        self._sub_acked: set[int] = set()
        self._suback = threading.Condition(self._sub_lock)
        #: Messages received but not processed when `stop()` ended its drain (not acknowledged).
        self.unfinished = 0
        self._last_problem: str | None = None

    # ---- subscriptions ------------------------------------------------------------------------

    def _compute_subscriptions(self) -> list[str]:
        rules = self.engine.rules
        return subscriptions_for(
            [rule.topic_filter for rule in rules.values()], list(rules), self.share
        )

    def refresh_subscriptions(self) -> tuple[list[str], list[str]]:
        """Subscribe to what the engine's rules need now and drop what they no longer need;
        returns (added, removed). New subscriptions are made before old ones are dropped, so no
        message is missed in between (one may run twice). Returns once the broker has
        acknowledged the new subscriptions (at most `connect_timeout`): a message published
        after that reaches the rules that need it."""
        wanted = self._compute_subscriptions()
        with self._sub_lock:
            added = [t for t in wanted if t not in self.subscriptions]
            removed = [t for t in self.subscriptions if t not in wanted]
            self.subscriptions = wanted
        client = self._client
        if client is not None and self._connected.is_set():
            if added:
                mid = self._subscribe(added)
                if mid is not None:
                    with self._suback:
                        self._suback.wait_for(
                            lambda: mid in self._sub_acked or self.failed.is_set(),
                            self.connect_timeout,
                        )
                        self._sub_acked.discard(mid)
            if removed:
                client.unsubscribe(removed)
        return added, removed

    def _subscribe(self, topics: list[str]) -> int | None:
        """SUBSCRIBE to `topics`; its mid (None when nothing was sent)."""
        if not topics:
            return None
        if self.protocol == 5:
            from paho.mqtt.subscribeoptions import SubscribeOptions

            request: list[Any] = [(t, SubscribeOptions(qos=self.qos)) for t in topics]
        else:
            request = [(t, self.qos) for t in topics]
        _, mid = self._client.subscribe(request)
        if mid is not None:
            with self._sub_lock:
                self._sub_waits[mid] = list(topics)
        return mid  # type: ignore[no-any-return]

    # ---- lifecycle ----------------------------------------------------------------------------

    def _new_client(self) -> Any:
        mqtt = self._mqtt
        protocol = mqtt.MQTTv5 if self.protocol == 5 else mqtt.MQTTv311
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if self.protocol == 5 else not self.persistent,
            protocol=protocol,
            transport=self.url.transport,
            manual_ack=True,
        )
        if self.url.transport == "websockets":
            client.ws_set_options(path=self.url.path)
        if self.url.tls:
            cafile, certfile, keyfile = self.tls
            client.tls_set(ca_certs=cafile, certfile=certfile, keyfile=keyfile)
            if self.insecure:
                client.tls_insecure_set(True)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        low, high = self.reconnect_delay
        client.reconnect_delay_set(min_delay=max(1, int(low)), max_delay=max(1, int(high)))
        client.max_inflight_messages_set(self.max_inflight)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_unsubscribe = lambda *args: self._unsubscribed.set()
        return client

    def _connect_properties(self) -> Any:
        if self.protocol != 5:
            return None
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry if self.persistent else 0
        props.ReceiveMaximum = self.max_inflight
        return props

    def start(self) -> Bridge:
        """Connect, subscribe, and start the workers; raises BridgeError when the broker cannot
        be reached or refuses the connection or a subscription within `connect_timeout`."""
        if self._started:
            return self
        self._started = True
        self.engine.register_sink(
            "republish",
            RepublishSink(self._publish_raw, mqtt5=self.protocol == 5,
                          timeout=self.publish_timeout, memory=self._memory,
                          on_sent=lambda: self._counter.add(republished=1),
                          refusals=self._refusals),
        )  # fmt: skip
        for index in range(self.workers):
            work: queue.SimpleQueue[_Inbound | None] = queue.SimpleQueue()
            thread = threading.Thread(
                target=self._work, args=(work,), name=f"iotsql-bridge-{index}", daemon=True
            )
            self._queues.append(work)
            self._threads.append(thread)
            thread.start()
        self._client = self._new_client()
        clean_start = not self.persistent
        try:
            self._client.connect_async(
                self.url.host, self.url.port, keepalive=self.keepalive,
                clean_start=clean_start if self.protocol == 5 else 3,
                properties=self._connect_properties(),
            )  # fmt: skip
        except (OSError, ValueError) as err:
            self._shutdown_threads()
            raise BridgeError(f"cannot connect to {self.url}: {err}") from None
        self._client.loop_start()
        if not self._ready.wait(self.connect_timeout) or self.error is not None:
            problem = self.error or self._last_problem or "no answer"
            self.stop(drain_timeout=0)
            raise BridgeError(f"cannot connect to {self.url}: {problem}")
        return self

    def __enter__(self) -> Bridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, drain_timeout: float | None = None) -> BridgeStats:
        """Stop taking messages, finish and acknowledge the ones received (up to
        `drain_timeout` seconds), disconnect, and return the final counts. Messages still
        unfinished then are counted in `unfinished` and reported: logged on a persistent
        session (the broker sends them again), an `error` on a clean one."""
        if self._stopped or not self._started:
            return self.stats
        self._stopping = True
        timeout = self.drain_timeout if drain_timeout is None else drain_timeout
        client = self._client
        if client is not None and self._connected.is_set() and not self.persistent:
            # A clean session ends with the connection: unsubscribe first so that the broker
            # gives the rest of the group's traffic to other members, not to a leaving one.
            self._unsubscribed.clear()
            client.unsubscribe(list(self.subscriptions))
            # After the UNSUBACK no new message comes; the ones before it are drained below.
            self._unsubscribed.wait(min(timeout, 5.0))
        if self.failed.is_set():
            timeout = 0.0  # what failed stays unacknowledged; the broker sends it again
        deadline = time.monotonic() + timeout
        with self._inflight_cond:
            self._inflight_cond.wait_for(
                lambda: self._inflight == 0, max(0.0, deadline - time.monotonic())
            )
        self._acks.wait_idle(max(0.0, deadline - time.monotonic()))
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._shutdown_threads(deadline)
        self._stopped = True
        self.unfinished = self._inflight
        if self.unfinished:
            self._report_unfinished(timeout)
        for writer in (self._out, self._dead):
            if writer is not None:
                try:
                    writer.close()
                except OSError as err:  # already reported when a write failed
                    self._fail(f"cannot finish writing: {err}")
        return self.stats

    def _shutdown_threads(self, deadline: float | None = None) -> None:
        """End the workers once their queues are done, waiting for them until `deadline` (the
        end of the drain; 5 s without one). Workers still busy then run on (daemon threads);
        `stop()` reports their messages as unfinished."""
        for work in self._queues:
            work.put(None)
        if deadline is None:
            deadline = time.monotonic() + 5
        for thread in self._threads:
            thread.join(max(0.05, deadline - time.monotonic()))

    def _report_unfinished(self, timeout: float) -> None:
        """Messages received but not processed when the drain ended are not acknowledged: a
        persistent session gets them again; a clean one does not, which is an error (exit 1)."""
        count = self.unfinished
        note = (
            f"{count} message(s) received were not finished within the drain time-out "
            f"({timeout:g} s) and are not acknowledged"
        )
        if self.persistent and not self.failed.is_set():
            self._log(f"iotsql bridge: {note}: the broker sends them again to the next run")
        else:
            self._fail(f"{note}: with a clean session the broker does not send them again "
                       "(use --client-id, or a longer --drain-timeout)")  # fmt: skip

    @property
    def stats(self) -> BridgeStats:
        return self._counter.snapshot()

    def stats_line(self) -> str:
        """The counts, with the rate since the previous stats line."""
        return self._counter.interval_line()

    def summary_line(self) -> str:
        return self._counter.summary_line()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def inflight(self) -> int:
        return self._inflight

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every message received so far is processed and acknowledged."""
        deadline = time.monotonic() + timeout
        with self._inflight_cond:
            if not self._inflight_cond.wait_for(lambda: self._inflight == 0, timeout):
                return False
        return self._acks.wait_idle(max(0.0, deadline - time.monotonic()))

    def wait_received(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until the bridge has received at least `count` messages since it started and
        processed and acknowledged every one (for tests: publish N, then wait for N)."""
        deadline = time.monotonic() + timeout
        while self._counter.snapshot().received < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return self.wait_idle(max(0.0, deadline - time.monotonic()))

    # ---- paho callbacks (network thread) -----------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._last_problem = f"the broker refused the connection: {reason}"
            if not self._ever_connected:
                self.error = self._last_problem
                self._ready.set()
                client.disconnect()
            else:
                self._log(f"iotsql bridge: {self._last_problem}; retrying")
            return
        _no_delay(client.socket())
        dropped = self._acks.reset()
        self._session_present = bool(getattr(flags, "session_present", False))
        again = self._ever_connected
        self._ever_connected = True
        self._connected.set()
        if again:
            note = (
                f", {dropped} unacknowledged message(s) of the last connection" if dropped else ""
            )
            self._log(f"iotsql bridge: reconnected to {self.url}{note}")
        with self._sub_lock:
            topics = list(self.subscriptions)
        if topics:
            self._subscribe(topics)
        else:
            self._ready.set()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        error = sys.exc_info()[1]
        self._last_problem = f"{error}" if error is not None else "the connection failed"

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._connected.clear()
        if self._stopping:
            return
        if getattr(reason, "value", None) == SESSION_TAKEN_OVER:
            self._fail(
                f"another client connected with client id {self.client_id!r} (session taken "
                "over): give each bridge its own --client-id"
            )
            client.disconnect()
            return
        self._log(f"iotsql bridge: disconnected from {self.url} ({reason}); reconnecting")

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        with self._sub_lock:
            topics = self._sub_waits.pop(mid, [])
            if len(self._sub_acked) >= 64:  # acks nobody waits for (a reconnect's subscribe)
                self._sub_acked.clear()
            self._sub_acked.add(mid)
            self._suback.notify_all()
        refused = [
            f"{topic} ({reason})"
            for topic, reason in zip(topics, reasons, strict=False)
            if getattr(reason, "is_failure", False)
        ]
        if refused:
            problem = f"the broker refused the subscription to {', '.join(refused)}"
            if not self._ready.is_set():
                self.error = problem
            else:
                self._log(f"iotsql bridge: {problem}")
        self._ready.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            if self._stopping and self.persistent:
                return  # not acknowledged: the session keeps it for the next run
            slot = self._acks.expect(message.mid, message.qos) if message.qos > 0 else None
            topic = message.topic
            users, mqtt = paho.received_properties(
                message.properties if self.protocol == 5 else None
            )
            item = _Inbound(topic, bytes(message.payload), users, mqtt, slot)
            with self._inflight_cond:
                self._inflight += 1
            self._queues[zlib.crc32(topic.encode("utf-8", "replace")) % self.workers].put(item)
        except Exception as err:  # never let an exception end paho's network thread
            self._fail(f"internal error receiving a message: {type(err).__name__}: {err}")

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._refusals.note(mid, reason)

    # ---- outgoing -------------------------------------------------------------------------------

    def _send_ack(self, mid: int, qos: int) -> None:
        client = self._client
        if client is not None:
            client.ack(mid, qos)

    def _publish_raw(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: Any
    ) -> Any:
        if not self._connected.wait(self.publish_timeout):
            raise RuntimeError(f"not connected to {self.url}")
        return self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def _fail(self, problem: str) -> None:
        if self.error is None:
            self.error = problem
        self._log(f"iotsql bridge: error: {problem}")
        self.failed.set()

    # ---- workers ------------------------------------------------------------------------------

    def _work(self, work: queue.SimpleQueue[_Inbound | None]) -> None:
        while True:
            item = work.get()
            if item is None:
                return
            try:
                ok = self._process(item)
            except Exception as err:  # a bug or a full disk: stop, leave the message unacked
                self._fail(f"{type(err).__name__}: {err} (topic {item.topic})")
                ok = False
            except BaseException as err:  # KeyboardInterrupt from a sink called inline...
                ok = self._interrupted(item, err)
            if ok and item.slot is not None:
                self._acks.done(item.slot)
            with self._inflight_cond:
                self._inflight -= 1
                if self._inflight == 0:
                    self._inflight_cond.notify_all()

    def _interrupted(self, item: _Inbound, err: BaseException) -> bool:
        """The publish raised a BaseException that is not an Exception: a KeyboardInterrupt from
        a sink called inline, which the engine lets through once the message is a dead letter.
        The bridge stops as on any other failure, this worker going on to the end of its queue
        (unacknowledged: the broker sends those again on a persistent session) instead of ending
        with its messages stuck; the dead letter is written, and the message acknowledged once
        it is kept. Anything else (a SystemExit from the bridge's own code) leaves it
        unacknowledged."""
        kept = isinstance(err, KeyboardInterrupt)
        note = "the message is kept as a dead letter" if kept else "the message is not acknowledged"
        self._fail(f"a sink raised {type(err).__name__} (topic {item.topic}): the bridge stops; "
                   f"{note}")  # fmt: skip
        if kept:
            self._counter.add(received=1, dead_letters=1)
        if not kept or self._dead is None:
            return kept  # the dead letter is in engine.dead_letters
        try:
            with self._dead_lock:
                letters = self.engine.drain_dead_letters()
                self._dead.write([dead_letter_record(letter) for letter in letters])
        except Exception as error:  # not kept on file: left unacknowledged
            self._log(f"iotsql bridge: error: cannot write the dead letter: {error}")
            return False
        return True

    def _process(self, item: _Inbound) -> bool:
        if self.failed.is_set():
            return False
        users = item.users
        hop: int | None = None
        if self.protocol == 5:
            hop, users = split_hop(users)
        elif self._memory is not None:
            hop = self._memory.recall(item.topic, item.payload)
        if hop:
            # A republished message is a new message published by the rules engine, not by a
            # device (docs/semantics.md): clientid() is n/a, no principal, source IP or trace.
            context = publish_context(
                protocol="http", user_properties=users, mqtt_properties=item.mqtt
            )
        else:
            context = self.context_map.context(item.topic, users, item.mqtt, item.received_at)
        try:
            report = self.engine.publish(item.topic, item.payload, context, depth=hop or 0)
        except IotSqlError as err:
            record = rejected_record(item.topic, item.payload, context, str(err))
            if self._dead is not None:
                self._dead.write([record])
            else:
                self._keep_rejected(record)
            self._counter.add(received=1, rejected=1, dead_letters=1)
            return True
        self._count(report)
        if self._out is not None:
            self._out.write([request_record(r) for r in report.requests])
        if self._dead is not None:
            # Drained and written under one lock: a worker that finds the list empty knows
            # that what another worker drained is on file before it acknowledges its message.
            with self._dead_lock:
                letters = self.engine.drain_dead_letters()
                self._dead.write([dead_letter_record(letter) for letter in letters])
        return True

    def _keep_rejected(self, record: dict[str, Any]) -> None:
        with self._dead_lock:
            if len(self.rejected) >= max(1, self.engine.limits.max_dead_letters):
                del self.rejected[0]
                self.dropped_rejected += 1
                if self.dropped_rejected == 1:
                    self._log("iotsql bridge: more refused messages than Limits.max_dead_letters: "
                              "the oldest are dropped (give the bridge a dead_letters file)")  # fmt: skip
            self.rejected.append(record)

    def _count(self, report: PublishReport) -> None:
        matched = fired = ok = failed = dead = 0
        for rule in report.rules:
            matched += 1
            fired += rule.fired
            handled = [*rule.actions, *([rule.error_action] if rule.error_action else [])]
            for action in handled:
                if action.ok:
                    ok += 1
                else:
                    failed += 1
            error_action_ok = rule.error_action is not None and rule.error_action.ok
            if rule.error is not None or (rule.failures and not error_action_ok):
                dead += 1
        self._counter.add(received=1, matched=matched, fired=fired, actions_ok=ok,
                          actions_failed=failed, dead_letters=dead)  # fmt: skip
