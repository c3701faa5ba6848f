"""`python benchmarks/bridge.py [--messages N] [--json]`: the throughput of `iotsql bridge`
through a real Mosquitto, one process and two on a shared subscription, next to
`RulesEngine.publish` on the same messages in this process.

The workload is `iotsql bench`'s: rules R1 to R5 (each with one `sqs` action) and the building
and CNC message streams, mixed (R5's shadow topics start with `$`, which Mosquitto 2.0 does not
deliver to shared subscriptions, so they are left out of every run). Every action goes to an instant sink that keeps nothing (what `iotsql bridge`
does with no target), so the figures are the cost of the broker round trip, the bridge's
threads, acknowledgements and the engine, not of a service.

- *publish*: `RulesEngine.publish(topic, body)` on every message, in this process (best of 3);
- *bridge x1*, *bridge x2*: `iotsql bridge` processes (the second pair with `--share`) on a
  Mosquitto started for the run; a publisher in this process sends every message at QoS 1 as
  fast as the broker takes them; the time runs from the first publish until the bridges'
  received counts (stats lines every 0.1 s) add up to the number of messages.

The ratio is bridge throughput / publish throughput. Needs Mosquitto and paho-mqtt.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iotsql.benchmark.runner import DEFAULT_SEED
from iotsql.benchmark.workload import RULES, SQL_VERSION, SQS_ACTION, Msg, rule_messages
from iotsql.engine import RulesEngine
from iotsql.testing.broker import MqttBroker

RECEIVED = re.compile(r"received: (\d+)")


def workload(count: int, seed: int) -> list[Msg]:
    """`count` messages taken in turn from the building and CNC streams."""
    streams = rule_messages(count, seed)
    mixed: list[Msg] = []
    for index in range(count):
        source = ("R1", "R3")[index % 2]
        mixed.append(streams[source][index // 2])
    return mixed


def rules_payload() -> dict[str, Any]:
    return {
        name: {"sql": sql, "awsIotSqlVersion": SQL_VERSION, "actions": [SQS_ACTION]}
        for name, sql in RULES.items()
    }


def _discard(request: object) -> None:
    """An instant sink that keeps nothing."""


_discard.instant = True  # type: ignore[attr-defined]


def publish_rate(messages: list[Msg], repeat: int = 3) -> float:
    engine = RulesEngine()
    engine.register_sink("sqs", _discard)
    for name, payload in rules_payload().items():
        engine.create_topic_rule(name, payload)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for topic, body in messages:
            engine.publish(topic, body)
        best = min(best, time.perf_counter() - started)
    return len(messages) / best


class BridgeProcess:
    def __init__(self, rules: Path, url: str, extra: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "iotsql", "bridge", str(rules), "--broker", url,
             "--stats-interval", "0.1", *extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.received = 0
        self.ready = threading.Event()
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if "subscribed to" in line:
                self.ready.set()
            match = RECEIVED.search(line)
            if match:
                self.received = int(match.group(1))

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(60)


def bridge_rate(broker: MqttBroker, rules: Path, messages: list[Msg], processes: int) -> float:
    share = ["--share", f"bench{time.monotonic_ns()}"] if processes > 1 else []
    bridges = [BridgeProcess(rules, broker.url, share) for _ in range(processes)]
    try:
        for bridge in bridges:
            if not bridge.ready.wait(30):
                raise RuntimeError("a bridge did not start:\n" + "".join(bridge.lines))
        client = broker.client()
        started = time.perf_counter()
        infos = [client.publish(topic, body, qos=1) for topic, body in messages]
        for info in infos:
            info.wait_for_publish(60)
        deadline = time.monotonic() + 300
        while sum(b.received for b in bridges) < len(messages):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bridges received {[b.received for b in bridges]}")
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        client.disconnect()
        client.loop_stop()
    finally:
        for bridge in bridges:
            bridge.stop()
    return len(messages) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    messages = workload(args.messages, args.seed)
    publish = publish_rate(messages)
    with (
        tempfile.TemporaryDirectory() as folder,
        MqttBroker("mosquitto", websockets=False) as broker,
    ):
        rules = Path(folder) / "rules.json"
        rules.write_text(json.dumps(rules_payload()))
        one = bridge_rate(broker, rules, messages, 1)
        two = bridge_rate(broker, rules, messages, 2)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "messages": len(messages),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "publish_per_s": round(publish),
        "bridge1_per_s": round(one),
        "bridge2_per_s": round(two),
        "ratio1": round(one / publish, 3),
        "ratio2": round(two / publish, 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['date']}, {len(messages)} messages (R1-R5 on building and CNC traffic, instant sink), "
          f"Python {result['python']}, {result['cpus']} CPUs")  # fmt: skip
    print(f"{'':<34}{'messages/s':>12}{'ratio':>8}")
    print(f"{'RulesEngine.publish (in process)':<34}{publish:>12,.0f}{1:>8.2f}")
    print(f"{'iotsql bridge, 1 process':<34}{one:>12,.0f}{one / publish:>8.3f}")
    print(f"{'iotsql bridge, 2 (--share)':<34}{two:>12,.0f}{two / publish:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
