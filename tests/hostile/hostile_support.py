"""Helpers shared by the hostile-input tests (issue #7): hostile SQL, payloads, functions,
failing sinks, concurrency, limits and the short fuzz runs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: strategies, fuzz

from iotsql.values import _orjson

ROLE = "arn:aws:iam::123456789012:role/hostile"
SQS = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": ROLE}}
SNS = {"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t", "roleArn": ROLE}}
LAMBDA = {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}}
S3_ERROR = {"s3": {"bucketName": "errors", "key": "k", "roleArn": ROLE}}

#: Generous wall-clock bounds: these catch blow-ups (minutes, hours), not slowness.
BOUND_SECONDS = 5.0

BACKENDS = ["json", *(["orjson"] if _orjson is not None else [])]


def bounded(step: Callable[[], Any], seconds: float = BOUND_SECONDS) -> Any:
    """Run `step`, failing if it took longer than `seconds`; returns its result."""
    start = time.perf_counter()
    result = step()
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s (bound {seconds} s)"
    return result
