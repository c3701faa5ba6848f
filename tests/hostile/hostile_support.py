"""Helpers shared by the hostile-input tests (issue #7): hostile SQL, payloads, functions,
failing sinks, concurrency, limits and the short fuzz runs."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: strategies, fuzz, cost

from cost import cpu_bounded

from iotsql.values import _orjson

ROLE = "arn:aws:iam::123456789012:role/hostile"
SQS = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": ROLE}}
SNS = {"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t", "roleArn": ROLE}}
LAMBDA = {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}}
S3_ERROR = {"s3": {"bucketName": "errors", "key": "k", "roleArn": ROLE}}

#: Generous CPU-time bounds: these catch blow-ups (minutes, hours), not slowness.
BOUND_SECONDS = 5.0

BACKENDS = ["json", *(["orjson"] if _orjson is not None else [])]


def bounded(step: Callable[[], Any], seconds: float = BOUND_SECONDS) -> Any:
    """Run `step`, which computes, failing if it spent more than `seconds` of CPU time (of this
    process, which the load of the machine does not inflate: see tests/cost.py); returns its
    result. A step that waits for a hung sink is bounded with `cost.waits_at_most`."""
    return cpu_bounded(step, seconds)


def peak_memory(step: Callable[[], Any]) -> tuple[Any, int]:
    """The result of `step` and the peak memory it allocated (bytes, tracemalloc's)."""
    tracemalloc.start()
    try:
        result = step()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def nested_object(depth: int) -> dict[str, Any]:
    """{"a": {"a": ... {}}}, `depth` objects deep, built without recursion."""
    doc: dict[str, Any] = {}
    node = doc
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return doc
