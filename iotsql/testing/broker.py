"""A real MQTT broker for tests: Mosquitto (MQTT 5, shared subscriptions, websockets) when it is
installed, else amqtt, a pure-Python broker (MQTT 3.1.1 only: no properties, no shared
subscriptions, no `$`-topics), each started as a process on a free 127.0.0.1 port with a
generated configuration and stopped by its pid.

    with MqttBroker() as broker:        # started on entering, stopped by pid on leaving
        broker.url                     # mqtt://127.0.0.1:PORT
        seen = broker.collect("alerts/#")
        broker.publish("sensors/d1", b'{"t": 31}', user_properties=[("k", "v")])
        seen.wait(1)                   # the messages, as paho MQTTMessage objects

`IOTSQL_MOSQUITTO` names the mosquitto binary when it is neither on PATH nor in /usr/sbin.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: How to install Mosquitto, for the skip (or, in CI, failure) message of tests that need it.
MOSQUITTO_INSTALL = "apt-get install -y mosquitto (or brew install mosquitto)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str | None:
    explicit = os.environ.get("IOTSQL_MOSQUITTO")
    if explicit:
        return explicit
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in (
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
        "/opt/homebrew/sbin/mosquitto",
    ):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def has_amqtt() -> bool:
    import importlib.util

    return importlib.util.find_spec("amqtt") is not None


class BrokerError(RuntimeError):
    pass


class MqttBroker:
    """One broker process. `kind` is "mosquitto" or "amqtt"; `mqtt5` and `shared` say what it
    supports; `ws_url` is its websocket listener (Mosquitto only)."""

    def __init__(
        self,
        kind: str | None = None,
        *,
        websockets: bool = True,
        tls: tuple[str, str, str] | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        mosquitto = find_mosquitto()
        if kind is None:
            kind = "mosquitto" if mosquitto else "amqtt"
        if kind == "mosquitto" and not mosquitto:
            raise BrokerError(f"mosquitto is not installed: {MOSQUITTO_INSTALL}")
        if kind == "amqtt" and not has_amqtt():
            raise BrokerError("amqtt is not installed: pip install amqtt")
        if kind not in ("mosquitto", "amqtt"):
            raise BrokerError(f"unknown broker kind {kind!r}")
        self.kind = kind
        self.binary = mosquitto
        self.host = "127.0.0.1"
        self.port = 0
        self.ws_port: int | None = None
        self.websockets = websockets and kind == "mosquitto"
        self.folder = Path(tempfile.mkdtemp(prefix=f"iotsql-{kind}-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._clients: list[Any] = []
        self._default_publisher: Any = None
        #: (CA file, server certificate, server key) of a TLS listener that requires a client
        #: certificate signed by the CA, as AWS IoT Core does (Mosquitto only).
        self.tls = tls if kind == "mosquitto" else None
        self.tls_port: int | None = None
        #: The websocket listener over TLS (wss://), with the same certificates, when both.
        self.wss_port: int | None = None
        #: name -> password: Mosquitto then refuses anonymous clients (the helpers here log in
        #: as the first user).
        self.users = dict(users or {}) if kind == "mosquitto" else {}

    @classmethod
    def start_new(cls, kind: str | None = None, **options: Any) -> MqttBroker:
        return cls(kind, **options).start()

    @property
    def mqtt5(self) -> bool:
        return self.kind == "mosquitto"

    @property
    def shared(self) -> bool:
        """Whether the broker supports shared subscriptions ($share/GROUP/filter)."""
        return self.kind == "mosquitto"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str | None:
        return f"ws://{self.host}:{self.ws_port}/mqtt" if self.ws_port else None

    @property
    def tls_url(self) -> str | None:
        return f"mqtts://{self.host}:{self.tls_port}" if self.tls_port else None

    @property
    def wss_url(self) -> str | None:
        return f"wss://{self.host}:{self.wss_port}/mqtt" if self.wss_port else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log(self) -> str:
        path = self.folder / "broker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # ---- process ------------------------------------------------------------------------------

    def _config(self, extra: Iterable[str] = ()) -> Path:
        if self.kind == "mosquitto":
            lines = [
                "per_listener_settings false",
                f"allow_anonymous {'false' if self.users else 'true'}",
                "persistence false",
                # A bridge under test may be stopped while messages queue for its session:
                # keep every one (the default, 1000, drops the rest).
                "max_queued_messages 0",
                "set_tcp_nodelay true",
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                # Started by root, Mosquitto switches to the `mosquitto` user, which cannot read
                # files in a test's private temporary folder (certificates).
                lines.append("user root")
            lines += [
                f"listener {self.port} {self.host}",
                "protocol mqtt",
            ]
            if self.ws_port:
                lines += [f"listener {self.ws_port} {self.host}", "protocol websockets"]
            if self.tls_port and self.tls:
                ca, cert, key = self.tls
                lines += [f"listener {self.tls_port} {self.host}", "protocol mqtt",
                          f"cafile {ca}", f"certfile {cert}", f"keyfile {key}",
                          "require_certificate true"]  # fmt: skip
            if self.wss_port and self.tls:
                ca, cert, key = self.tls
                lines += [f"listener {self.wss_port} {self.host}", "protocol websockets",
                          f"cafile {ca}", f"certfile {cert}", f"keyfile {key}",
                          "require_certificate true"]  # fmt: skip
            if self.users:
                lines.append(f"password_file {self._password_file()}")
            lines += list(extra)
            path = self.folder / "mosquitto.conf"
            path.write_text("\n".join(lines) + "\n")
            return path
        path = self.folder / "amqtt.yaml"
        path.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: {self.host}:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )
        return path

    def _password_file(self) -> Path:
        path = self.folder / "passwords"
        path.write_text("")
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        for name, password in self.users.items():
            subprocess.run([tool, "-b", str(path), name, password], check=True,
                           capture_output=True)  # fmt: skip
        return path

    def restart(self, *, crash: bool = False) -> MqttBroker:
        """Stop the broker process and start a new one on the same ports (clients see the
        connection drop; sessions are gone unless `start()` was given `persistence true`). With
        `crash`, the process is killed (SIGKILL) rather than asked to stop: it saves nothing on
        the way out. The helper clients of this object (`publish`, `collect`) are closed; make
        new ones."""
        self._close_clients()
        if crash and self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._terminate()
        log = (self.folder / "broker.log").open("ab")
        command = [str(self.binary), "-c", str(self.folder / "mosquitto.conf")]
        if self.kind != "mosquitto":
            code = "import sys; from amqtt.scripts.broker_script import main; sys.exit(main())"
            command = [sys.executable, "-c", code, "-c", str(self.folder / "amqtt.yaml")]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)  # fmt: skip
        log.close()
        if not self._wait_listening(15.0):
            raise BrokerError(f"the {self.kind} broker did not restart:\n{self.log[-2000:]}")
        return self

    def start(self, extra_config: Iterable[str] = ()) -> MqttBroker:
        """Start on free ports (retried if another process takes a port first)."""
        extra = list(extra_config)
        last = ""
        for _ in range(3):
            self.port = free_port()
            self.ws_port = free_port() if self.websockets else None
            self.tls_port = free_port() if self.tls else None
            self.wss_port = free_port() if self.tls and self.websockets else None
            config = self._config(extra)
            if self.kind == "mosquitto":
                command = [str(self.binary), "-c", str(config)]
            else:
                code = "import sys; from amqtt.scripts.broker_script import main; sys.exit(main())"
                command = [sys.executable, "-c", code, "-c", str(config)]
            log = (self.folder / "broker.log").open("ab")
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)  # fmt: skip
            log.close()
            if self._wait_listening(15.0):
                return self
            last = self.log[-2000:]
            self._terminate()
        raise BrokerError(f"the {self.kind} broker did not start:\n{last}")

    def _wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        ports = [p for p in (self.port, self.ws_port, self.tls_port, self.wss_port) if p]
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                for port in ports:
                    socket.create_connection((self.host, port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.process = None

    def _close_clients(self) -> None:
        for client in self._clients:
            try:
                client.disconnect()
                client.loop_stop()
            except Exception:  # a client of a test that already went away
                pass
        self._clients.clear()
        self._default_publisher = None

    def stop(self) -> None:
        self._close_clients()
        self._terminate()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> MqttBroker:
        return self if self.process else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- clients ------------------------------------------------------------------------------

    def client(self, client_id: str | None = None, *, mqtt5: bool | None = None) -> Any:
        """A paho client connected to the broker, its network loop running (MQTT 5 when the
        broker speaks it); disconnected when the broker stops."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        use5 = self.mqtt5 if mqtt5 is None else mqtt5
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"iotsql-test-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if use5 else mqtt.MQTTv311,
        )
        if self.users:
            client.username_pw_set(*next(iter(self.users.items())))
        connected = threading.Event()
        client.on_connect = lambda *args: connected.set()
        client.connect(self.host, self.port)
        client.loop_start()
        if not connected.wait(10):
            client.loop_stop()
            raise BrokerError(f"could not connect to {self.url}")
        self._clients.append(client)
        return client

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        user_properties: Iterable[tuple[str, str]] = (),
        client: Any = None,
        **properties: Any,
    ) -> None:
        """Publish one message and wait until the broker has it. `properties` are paho
        `Properties` attribute names (`ContentType="application/json"`...)."""
        client = client or self._publisher()
        props = None
        users = list(user_properties)
        if (users or properties) and self.mqtt5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if users:
                props.UserProperty = users
            for name, value in properties.items():
                setattr(props, name, value)
        info = client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(10)

    def _publisher(self) -> Any:
        if self._default_publisher is None:
            self._default_publisher = self.client()
        return self._default_publisher

    def collect(self, *topic_filters: str, qos: int = 1) -> Collector:
        """A subscriber that keeps what it receives on `topic_filters`."""
        collector = Collector()
        client = self.client()
        client.on_message = collector.on_message
        subscribed = threading.Event()
        client.on_subscribe = lambda *args: subscribed.set()
        client.subscribe([(f, qos) for f in topic_filters])
        if not subscribed.wait(10):
            raise BrokerError(f"no SUBACK for {topic_filters}")
        collector.client = client
        return collector


class Collector:
    """Messages received by a test subscriber (paho MQTTMessage objects, in arrival order)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.client: Any = None
        self._cond = threading.Condition()

    def on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list[Any]:
        """Wait until at least `count` messages arrived; returns them all."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    @property
    def payloads(self) -> list[bytes]:
        with self._cond:
            return [bytes(m.payload) for m in self.messages]
