"""Section `replay` (`iotsql bench --section replay`, not run by default: it starts Dask
clusters): `iotsql replay` on 1 and on 2 Dask worker processes (each a `LocalCluster` started
for it, one thread per worker) over the same generated JSON-lines file, the requests of both
written as parts and compared as multisets (they must be identical), and the throughput ratio
of 2 workers to 1 against its target. The time of a run is the wall-clock time from the first
task to the last result, the cluster's start-up apart; the single-process replay of the same
file is timed too, for reference.

The workload (`write_workload`) is five rules as the AWS CLI writes them, one of which
republishes (so every partition runs republish chains), over sensor, machine and unmatched
topics; `bad_every` puts a line that is not JSON at every that many lines, for the tests."""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotsql.benchmark.errors import BenchmarkError
from iotsql.limits import DEFAULT_LIMITS

TARGET_REPLAY_SPEEDUP = 1.6
DEFAULT_REPLAY_MESSAGES = 200_000
ROLE = "arn:aws:iam::123456789012:role/iot-rules"

REPLAY_RULES: list[dict[str, Any]] = [
    {"ruleName": "HotRoom", "topicRulePayload": {
        "sql": "SELECT device_id, temperature_c, topic(2) AS building FROM "
               "'building/+/+/+/temperature' WHERE temperature_c > 28",
        "actions": [{"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/hot",
                             "roleArn": ROLE}}]}},
    {"ruleName": "Archive", "topicRulePayload": {
        "sql": "SELECT *, topic() AS source FROM 'building/#'",
        "actions": [{"s3": {"bucketName": "archive", "key": "${topic(2)}/${device_id}.json",
                            "roleArn": ROLE}}]}},
    {"ruleName": "LowBattery", "topicRulePayload": {
        "sql": "SELECT device_id, battery_v FROM 'building/+/+/+/temperature' "
               "WHERE battery_v < 3.4",
        "actions": [{"republish": {"topic": "alerts/${topic(2)}/battery", "roleArn": ROLE}}]}},
    {"ruleName": "BatteryAlert", "topicRulePayload": {
        "sql": "SELECT *, topic(2) AS building FROM 'alerts/+/battery'",
        "actions": [{"sns": {"targetArn": "arn:aws:sns:us-east-1:123456789012:battery",
                             "roleArn": ROLE}}]}},
    {"ruleName": "Machines", "topicRulePayload": {
        "sql": "SELECT *, topic(3) AS machine FROM 'factory/cnc/+/telemetry' WHERE rpm > 0",
        "actions": [{"kinesis": {"streamName": "machines", "partitionKey": "${topic(3)}",
                                 "roleArn": ROLE}}]}},
]  # fmt: skip


def _message(rng: random.Random, sequence: int) -> dict[str, Any]:
    kind = rng.random()
    if kind < 0.7:
        building = rng.choice(("north", "south", "east", "west", "hq"))
        floor = rng.randrange(1, 13)
        return {"topic": f"building/{building}/f{floor}/r{rng.randrange(1, 40)}/temperature",
                "payload": {"device_id": f"ts-{rng.randrange(4096):03x}", "seq": sequence,
                            "temperature_c": round(rng.gauss(26.0, 4.0), 1),
                            "battery_v": round(rng.uniform(3.2, 4.2), 2)}}  # fmt: skip
    if kind < 0.9:
        machine = f"cnc-{rng.randrange(64):02d}"
        return {"topic": f"factory/cnc/{machine}/telemetry",
                "payload": {"seq": sequence, "rpm": rng.choice((0, rng.randrange(800, 12000))),
                            "load": round(rng.random(), 3)},
                "context": {"clientid": machine}}  # fmt: skip
    return {"topic": f"misc/{rng.randrange(100)}/status", "payloadText": f"up {sequence}"}


def write_workload(
    folder: Path, messages: int, seed: int = 6, bad_every: int = 0
) -> tuple[Path, Path]:
    """(rules file, messages file) of the replay workload, written in `folder`."""
    rng = random.Random(seed)
    rules = folder / "replay-rules.json"
    rules.write_text(json.dumps(REPLAY_RULES, indent=1), encoding="utf-8")
    path = folder / "replay-messages.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for sequence in range(1, messages + 1):
            if bad_every and sequence % bad_every == 0:
                out.write(f'{{"topic": "building/broken/{sequence}", "payload": \n')
            else:
                out.write(json.dumps(_message(rng, sequence)) + "\n")
    return rules, path


@dataclass
class ReplayRun:
    """One replay of the workload: where it ran, how long the messages took, what it made."""

    workers: int  # 0: in this process, without Dask
    seconds: float
    messages_per_s: float
    requests: int
    startup_s: float = 0.0
    #: CPU time of the publishing, per message: this process's, or the workers' tasks' added
    #: up. Equal CPU per message with a lower speed-up means the workers lacked cores (a
    #: shared machine), not that Dask added work.
    cpu_us_per_message: float = 0.0


@dataclass
class ReplayResult:
    messages: int
    requests: int
    runs: list[ReplayRun]
    identical: bool

    def run(self, workers: int) -> ReplayRun:
        return next(run for run in self.runs if run.workers == workers)

    @property
    def speedup(self) -> float:
        """Throughput on 2 workers / on 1 worker."""
        return self.run(2).messages_per_s / self.run(1).messages_per_s


def digest_lines(lines: Counter[str]) -> str:
    """A digest of a multiset of lines (order does not count)."""
    sha = hashlib.sha256()
    for line in sorted(lines):
        sha.update(f"{lines[line]}:{line}\n".encode("utf-8", "surrogatepass"))
    return sha.hexdigest()


def _part_lines(parts: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for part in parts:
        with open(part, encoding="utf-8") as stream:
            found.update(line.rstrip("\n") for line in stream)
    return found


def _replay_here(rules: Path, messages: Path) -> tuple[ReplayRun, Counter[str]]:
    from iotsql.replay.lines import BadLine, decode_line, read_lines
    from iotsql.replay.replayer import Replayer, replay_engine, request_line

    engine = replay_engine()
    engine.load_rules(rules)
    replayer = Replayer(engine)
    limit = DEFAULT_LIMITS.max_input_line_bytes
    found: Counter[str] = Counter()
    started, cpu = time.monotonic(), time.thread_time()
    with messages.open("rb") as stream:
        for number, raw, _ in read_lines(stream, limit, DEFAULT_LIMITS.max_document_bytes):
            try:
                topic, body, context = decode_line(raw, limit)
                requests, _ = replayer.publish(topic, body, context, (0, number))
            except BadLine:
                continue
            found.update(request_line(request) for request in requests)
    seconds, cpu = time.monotonic() - started, time.thread_time() - cpu
    engine.close()
    count = replayer.totals.messages
    run = ReplayRun(0, seconds, count / seconds, replayer.totals.requests, 0.0, cpu / count * 1e6)
    return run, found


def _replay_on(workers: int, rules: Path, messages: Path, out: Path
               ) -> tuple[ReplayRun, Counter[str]]:  # fmt: skip
    from iotsql.replay.distributed import connect, replay
    from iotsql.replay.replayer import RuleDefinitions, replay_engine

    engine = replay_engine()
    engine.load_rules(rules)
    definitions = RuleDefinitions.of(engine)
    engine.close()
    with connect(workers=workers) as cluster:
        outcome = replay(cluster, definitions, [str(messages)],
                         limit=DEFAULT_LIMITS.max_input_line_bytes, out_dir=str(out))  # fmt: skip
    seconds = outcome.totals.elapsed
    count = outcome.totals.messages
    run = ReplayRun(workers, seconds, count / seconds, outcome.totals.requests, cluster.startup,
                    outcome.cpu_s / count * 1e6)  # fmt: skip
    return run, _part_lines(outcome.parts)


def bench_replay(messages: int = DEFAULT_REPLAY_MESSAGES, seed: int = 6) -> ReplayResult:
    """Replay the same `messages` generated messages in this process, on 1 and on 2 Dask
    workers; raises BenchmarkError unless all three made the same requests."""
    with tempfile.TemporaryDirectory(prefix="iotsql-bench-replay-") as folder:
        root = Path(folder)
        rules, stream = write_workload(root, messages, seed)
        here, expected = _replay_here(rules, stream)
        runs = [here]
        for workers in (1, 2):
            run, found = _replay_on(workers, rules, stream, root / f"out-{workers}")
            if found != expected:
                raise BenchmarkError(
                    f"replay on {workers} Dask worker(s) made other requests than the replay in "
                    f"one process: {digest_lines(found)[:12]} vs {digest_lines(expected)[:12]} "
                    f"({sum(found.values()):,} vs {sum(expected.values()):,} requests)"
                )
            runs.append(run)
    return ReplayResult(messages, here.requests, runs, identical=True)


def replay_lines(r: ReplayResult) -> list[str]:
    """The section as text: each run's throughput, and the ratio against its target."""
    lines = [
        f"Replay: {r.messages:,} messages, {r.requests:,} requests (the same multiset of request "
        "lines in one process, on 1 and on 2 Dask workers)",
    ]
    for run in r.runs:
        where = (f"{run.workers} Dask worker{'s' * (run.workers != 1)}" if run.workers
                 else "one process, no Dask")  # fmt: skip
        started = f" (cluster ready in {run.startup_s:.1f} s, not counted)" if run.workers else ""
        lines.append(f"{where:<21} {run.messages_per_s:>10,.0f} messages/s  {run.seconds:6.2f} s"
                     f"  {run.cpu_us_per_message:6.1f} µs CPU per message{started}")  # fmt: skip
    mark = "PASS" if r.speedup >= TARGET_REPLAY_SPEEDUP else "MISS"
    lines.append(f"2 workers / 1 worker: {r.speedup:.2f} (target >= {TARGET_REPLAY_SPEEDUP:g}): "
                 f"{mark}")  # fmt: skip
    return lines
