"""`python benchmarks/moto_publish.py [--calls N] [--repeat N] [--json]`: what one `iot-data`
publish costs under moto's `mock_aws` with iotsql installed (iotsql.moto) when its rule sends one
SQS message, and iotsql's share of it next to moto's own work.

The loops, in one `mock_aws` session, interleaved, `--calls` boto3 calls each, best of
`--repeat` rounds (the garbage collector collected, untimed, before each loop):

- *publish*: `iot-data.publish` with iotsql installed and one rule, `SELECT * FROM 'bench/+'`
  with one `sqs` action, which sends the message into a moto queue (every timed publish is
  checked to have delivered its message). Within these very publishes, the time spent in the
  action's call of moto (SendMessage through boto3, as the action makes it) is measured apart,
  by a sink that wraps the real one (`register_sink`): *moto send*.
- *moto publish*: the same `iot-data.publish` with iotsql uninstalled: moto's own Publish.
- *send_message*: `sqs.send_message` of the same body from the caller, for comparison with
  moto send;
- *engine*: `RulesEngine.publish` of the same message on a plain engine with the same rule and a
  sink that does nothing (`instant`): iotsql's routing, evaluation and rendering alone.

iotsql's share = publish - moto publish - moto send: the HTTP context, the rules engine, the
boto3 sink around the SendMessage call, and the wrappers around moto's Publish.

The figures are CPU time of this process (`time.process_time_ns`; everything runs in the caller's
thread under `mock_aws`), which other processes on a busy machine disturb less than wall time.
moto's SendMessage scans the whole queue, so its cost grows with the queue: every loop empties
the queue, untimed, after each CHUNK calls. Results and their date: benchmarks/README.md,
section "moto".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Run the checkout this file belongs to, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import iotsql
import iotsql.moto
from iotsql.actions.base import ActionRequest

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/bench"
BODY = b'{"device": "d1", "temperature": 21.5, "humidity": 40, "status": "ok"}'
SQL = "SELECT * FROM 'bench/+'"
CHUNK = 20  # calls timed between two emptyings of the queue


@dataclass
class MotoPublishCost:
    """CPU µs per call, the best round of each loop."""

    calls: int
    repeat: int
    publish_us: float
    moto_publish_us: float
    moto_send_us: float
    send_message_us: float
    engine_us: float
    moto_version: str

    @property
    def iotsql_us(self) -> float:
        return self.publish_us - self.moto_publish_us - self.moto_send_us

    @property
    def iotsql_share(self) -> float:
        return self.iotsql_us / self.publish_us


class TimedSink:
    """Calls `sink` inline and adds the CPU time of each call to `ns`."""

    instant = True

    def __init__(self, sink: Callable[[ActionRequest], Any]) -> None:
        self.sink = sink
        self.ns = 0

    def __call__(self, request: ActionRequest) -> Any:
        start = time.process_time_ns()
        try:
            return self.sink(request)
        finally:
            self.ns += time.process_time_ns() - start


def _timed(call: Callable[[], None], calls: int, between: Callable[[], None]) -> int:
    """CPU ns of `calls` calls, timed in chunks of CHUNK with `between` run untimed after each."""
    gc.collect()
    elapsed = 0
    for done in range(0, calls, CHUNK):
        chunk = range(min(CHUNK, calls - done))
        start = time.process_time_ns()
        for _ in chunk:
            call()
        elapsed += time.process_time_ns() - start
        between()
    return elapsed


def measure(calls: int = 500, repeat: int = 5) -> MotoPublishCost:
    import boto3
    import moto
    from moto import mock_aws

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    engine = iotsql.RulesEngine()
    engine.register_sink("sqs", TimedSink(lambda request: None))
    engine.create_topic_rule("Bench", _payload("https://sqs.us-east-1.amazonaws.com/1/q"))
    context = {"protocol": "http", "accountid": "123456789012"}
    inf = float("inf")
    best = {"publish": inf, "moto": inf, "moto send": inf, "send": inf, "engine": inf}
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        sqs, data = session.client("sqs"), session.client("iot-data")
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]
        with iotsql.moto.install():
            session.client("iot").create_topic_rule(
                ruleName="Bench", topicRulePayload=_payload(url)
            )
        text = BODY.decode()
        delivered = [0]

        def publish() -> None:
            data.publish(topic="bench/d1", qos=0, payload=BODY)

        def send() -> None:
            sqs.send_message(QueueUrl=url, MessageBody=text)

        def evaluate() -> None:
            engine.publish("bench/d1", BODY, context)

        def empty_queue() -> None:
            # Received and deleted, not purged: moto (from 5.2.6, as SQS) allows one PurgeQueue
            # a minute.
            delivered[0] += _queue_length(sqs, url)
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                  VisibilityTimeout=60).get("Messages"):  # fmt: skip
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)])  # fmt: skip

        def keep(name: str, ns: int) -> None:
            best[name] = min(best[name], ns / calls / 1000)

        for _ in range(repeat):
            keep("moto", _timed(publish, calls, empty_queue))  # iotsql not installed
            with iotsql.moto.install():
                moto_engine = iotsql.moto.engine()
                timed = TimedSink(moto_engine.sink_for("sqs"))
                moto_engine.register_sink("sqs", timed)
                for _ in range(20):  # warm: the engine and its boto3 clients
                    publish()
                empty_queue()
                delivered[0] = timed.ns = 0
                keep("publish", _timed(publish, calls, empty_queue))
                keep("moto send", timed.ns)
                if delivered[0] != calls:
                    raise RuntimeError(f"{calls} publishes delivered {delivered[0]} messages")
            keep("send", _timed(send, calls, empty_queue))
            keep("engine", _timed(evaluate, calls, lambda: None))
    return MotoPublishCost(calls, repeat, best["publish"], best["moto"], best["moto send"],
                           best["send"], best["engine"], moto.__version__)  # fmt: skip


def _payload(url: str) -> dict[str, Any]:
    return {"sql": SQL, "awsIotSqlVersion": "2016-03-23",
            "actions": [{"sqs": {"queueUrl": url, "roleArn": ROLE}}]}  # fmt: skip


def _queue_length(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages"]
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"][names[0]])


def render(cost: MotoPublishCost) -> str:
    rows = [
        ("publish: iot-data publish, iotsql installed, one rule, one sqs action", cost.publish_us),
        ("moto publish: iot-data publish, iotsql not installed", cost.moto_publish_us),
        ("moto send: the action's SendMessage call, within those publishes", cost.moto_send_us),
        ("iotsql's share: publish - moto publish - moto send", cost.iotsql_us),
        ("  for comparison: sqs send_message from the caller", cost.send_message_us),
        ("  for comparison: RulesEngine.publish alone, no-op instant sink", cost.engine_us),
    ]
    lines = [f"moto {cost.moto_version}, mock_aws, CPU µs per call, best of {cost.repeat} rounds "
             f"of {cost.calls} calls"]  # fmt: skip
    lines += [f"{value:10.1f}  {label}" for label, value in rows]
    lines.append(f"iotsql's share of the publish: {cost.iotsql_share:.1%} (target < 10%)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per loop (500)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best counts (5)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    cost = measure(args.calls, args.repeat)
    if args.json:
        print(json.dumps({**asdict(cost), "iotsql_us": cost.iotsql_us,
                          "iotsql_share": cost.iotsql_share}, indent=2))  # fmt: skip
    else:
        print(render(cost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
