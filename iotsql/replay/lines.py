"""The lines of MESSAGES: one message per JSON line, read a bounded number of bytes at a time,
whole files (`read_lines`) or one block of a file (`iotsql.replay.blocks`)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import IO, Any

from iotsql.errors import IotSqlError
from iotsql.message import json_body


class BadLine(Exception):
    """A line of MESSAGES that is not a message, or a message the engine refused; the text
    is what `iotsql replay` reports after the file and line number."""


class TooLong(Exception):
    """A line of MESSAGES without an end within what replay reads of one line."""


MESSAGE_KEYS = ("topic", "payload", "payloadText", "payloadBase64", "context")
PAYLOAD_KEYS = ("payload", "payloadText", "payloadBase64")

#: How far a line longer than the limit is read (and dropped) at a time.
SKIP_CHUNK = 64 * 1024


def parse_message(line: str) -> tuple[str, bytes, Any]:
    """(topic, body, context) of one line of MESSAGES."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadLine(f"invalid JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(data, dict):
        raise BadLine('a message is a JSON object: {"topic": ..., "payload": ...}')
    unknown = sorted(set(data) - set(MESSAGE_KEYS))
    if unknown:
        raise BadLine(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(MESSAGE_KEYS)}")
    topic = data.get("topic")
    if not isinstance(topic, str):
        raise BadLine("'topic' (a string) is required")
    given = [key for key in PAYLOAD_KEYS if key in data]
    if len(given) > 1:
        raise BadLine(f"give one of {', '.join(PAYLOAD_KEYS)}, not {' and '.join(given)}")
    if "payload" in data:
        try:
            body = json_body(data["payload"])
        except IotSqlError as error:
            raise BadLine(f"'payload': {error}") from None
    elif "payloadText" in data:
        if not isinstance(data["payloadText"], str):
            raise BadLine("'payloadText' must be a string")
        try:
            body = data["payloadText"].encode("utf-8")
        except UnicodeEncodeError as error:
            raise BadLine(f"'payloadText' has no UTF-8 form (a lone surrogate at position "
                          f"{error.start}): give such a body as payloadBase64") from None  # fmt: skip
    elif "payloadBase64" in data:
        try:
            body = base64.b64decode(str(data["payloadBase64"]), validate=True)
        except (binascii.Error, ValueError):
            raise BadLine("'payloadBase64' is not valid base64") from None
    else:
        body = b""
    return topic, body, data.get("context")


def describe(error: BaseException) -> str:
    """What a bad line is reported as, for an error raised reading or publishing it."""
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(error, RecursionError):
        return "the message is nested too deeply to read"
    return str(error) or type(error).__name__


#: The errors that make a line bad (reported and skipped) rather than stop the replay.
LINE_ERRORS = (BadLine, IotSqlError, ValueError, TypeError, RecursionError)


def decode_line(raw: bytes | None, limit: int) -> tuple[str, bytes, Any]:
    """(topic, body, context) of a line as `read_lines` gives it (None: longer than `limit`);
    raises BadLine with the text to report."""
    if raw is None:
        raise BadLine(f"the line is longer than {limit:,} bytes "
                      "(Limits.max_input_line_bytes): skipped")  # fmt: skip
    try:
        return parse_message(raw.decode("utf-8").strip())
    except BadLine:
        raise
    except LINE_ERRORS as error:
        raise BadLine(describe(error)) from None


def read_lines(
    stream: IO[bytes], limit: int, give_up: int
) -> Iterator[tuple[int, bytes | None, int]]:
    """(number, line, bytes read) for each line of `stream`, reading at most `limit` bytes of
    a line at a time: a longer line comes as None (reported and skipped), its rest read and
    dropped; a line with no end within `give_up` bytes (`/dev/zero`) raises TooLong, since
    nothing after it could ever be read."""
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield number, line, len(line)
            continue
        skipped = len(line)
        while not line.endswith(b"\n"):
            line = stream.readline(SKIP_CHUNK)
            if not line:
                break
            skipped += len(line)
            if skipped > give_up:
                raise TooLong(f"line {number} has no end within {give_up:,} bytes "
                              "(Limits.max_document_bytes): the rest is not read")  # fmt: skip
        yield number, None, skipped
