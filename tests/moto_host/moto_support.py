"""Helpers of the iotsql.moto tests: boto3 clients of moto's mock_aws (Lambda without Docker)
with iotsql installed, rule payloads, queues."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3", reason="the moto extra (boto3)")
moto = pytest.importorskip("moto", reason="the moto extra: pip install 'iotsql[moto]'")

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/iot"

Clients = Callable[..., Any]
_NO_ROLE = frozenset({"http", "kafka", "lambda", "salesforce"})  # actions without a roleArn


def rule(sql: str, *actions: dict[str, Any], **payload: Any) -> dict[str, Any]:
    """A topicRulePayload with `actions` (each `{"sqs": {...}}`, its role added)."""
    with_role = [{kind: params if kind in _NO_ROLE else {**params, "roleArn": ROLE}
                  for kind, params in action.items()} for action in actions]  # fmt: skip
    return {"sql": sql, "awsIotSqlVersion": "2016-03-23", "actions": with_role, **payload}


def queue(aws: Clients, name: str) -> str:
    return str(aws("sqs").create_queue(QueueName=name)["QueueUrl"])


def bodies(aws: Clients, url: str) -> list[str]:
    messages = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [m["Body"] for m in messages.get("Messages", [])]


def lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()
