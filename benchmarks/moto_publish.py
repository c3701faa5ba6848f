"""`python benchmarks/moto_publish.py [--calls N] [--repeat N] [--json]`: what one `iot-data`
publish costs under moto's `mock_aws` with iotsql installed (iotsql.moto) when its rule sends one
SQS message, and iotsql's share of it next to moto's own work.

Four loops of `--calls` boto3 calls each, in one `mock_aws` session, interleaved, best of
`--repeat` rounds (the garbage collector collected, untimed, before each loop). moto's
SendMessage scans the whole queue, so its cost grows with the queue: every loop empties the
queue, untimed, after each CHUNK calls.

- *publish*: `iot-data.publish` with iotsql installed and one rule, `SELECT * FROM 'bench/+'`
  with one `sqs` action, which sends the message into a moto queue (every timed publish is
  checked to have delivered its message);
- *moto publish*: the same `iot-data.publish` with iotsql uninstalled: moto's own Publish;
- *moto send*: `sqs.send_message` of the same body: moto's own SendMessage, through boto3, as
  the sink makes it;
- *engine*: `RulesEngine.publish` of the same message on a plain engine with the same rule and a
  sink that does nothing (`instant`): iotsql's routing, evaluation and rendering alone.

iotsql's share = publish - moto publish - moto send: the rules engine, the worker thread the
action runs in, the boto3 sink, and the wrappers around moto's Publish. Results and their date:
benchmarks/README.md, section "moto".
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

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/bench"
BODY = b'{"device": "d1", "temperature": 21.5, "humidity": 40, "status": "ok"}'
SQL = "SELECT * FROM 'bench/+'"
CHUNK = 20  # calls timed between two purges of the queue


@dataclass
class MotoPublishCost:
    """µs per call, the best round of each loop."""

    calls: int
    repeat: int
    publish_us: float
    moto_publish_us: float
    moto_send_us: float
    engine_us: float
    moto_version: str

    @property
    def iotsql_us(self) -> float:
        return self.publish_us - self.moto_publish_us - self.moto_send_us

    @property
    def iotsql_share(self) -> float:
        return self.iotsql_us / self.publish_us


def _best(call: Callable[[], None], calls: int, best: float, between: Callable[[], None]) -> float:
    """The µs per call of `calls` calls (or `best`, if lower), timed in chunks of CHUNK calls
    with `between` run untimed after each chunk."""
    gc.collect()
    elapsed = 0
    for done in range(0, calls, CHUNK):
        chunk = range(min(CHUNK, calls - done))
        start = time.perf_counter_ns()
        for _ in chunk:
            call()
        elapsed += time.perf_counter_ns() - start
        between()
    return min(best, elapsed / calls / 1000)


def measure(calls: int = 500, repeat: int = 5) -> MotoPublishCost:
    import boto3
    import moto
    from moto import mock_aws

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    engine = iotsql.RulesEngine()
    noop: Any = lambda request: None  # noqa: E731
    noop.instant = True
    engine.register_sink("sqs", noop)
    engine.create_topic_rule("Bench", _payload("https://sqs.us-east-1.amazonaws.com/1/q"))
    context = {"protocol": "http", "accountid": "123456789012"}
    best = {"publish": float("inf"), "moto": float("inf"), "send": float("inf"),
            "engine": float("inf")}  # fmt: skip
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
            # moto's SendMessage scans the whole queue: keep it as short for every loop.
            delivered[0] += _queue_length(sqs, url)
            sqs.purge_queue(QueueUrl=url)

        def nothing() -> None:
            pass

        for _ in range(repeat):
            best["moto"] = _best(publish, calls, best["moto"], empty_queue)  # not installed
            with iotsql.moto.install():
                for _ in range(20):  # warm: the engine, its sink clients and worker thread
                    publish()
                empty_queue()
                delivered[0] = 0
                best["publish"] = _best(publish, calls, best["publish"], empty_queue)
                if delivered[0] != calls:
                    raise RuntimeError(f"{calls} publishes delivered {delivered[0]} messages")
            best["send"] = _best(send, calls, best["send"], empty_queue)
            best["engine"] = _best(evaluate, calls, best["engine"], nothing)
    return MotoPublishCost(calls, repeat, best["publish"], best["moto"], best["send"],
                           best["engine"], moto.__version__)  # fmt: skip


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
        ("moto send: sqs send_message", cost.moto_send_us),
        ("iotsql's share: publish - moto publish - moto send", cost.iotsql_us),
        ("  of which the engine: RulesEngine.publish, no-op instant sink", cost.engine_us),
    ]
    lines = [f"moto {cost.moto_version}, mock_aws, µs per call, best of {cost.repeat} rounds "
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
