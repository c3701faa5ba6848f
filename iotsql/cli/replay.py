"""`iotsql replay`: publish recorded messages through a set of topic rules and print what each
action would receive, one JSON line per action request, with a summary per rule."""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from iotsql.actions.base import ActionRequest
from iotsql.actions.types import ACTION_TYPES
from iotsql.cli.check import diagnostic_of_error
from iotsql.cli.common import CliError, dumps, err, is_tty, new_parser
from iotsql.engine import PublishReport, RulesEngine
from iotsql.errors import IotSqlError, SqlParseError

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

EPILOG = """\
examples:
  iotsql replay rules.json messages.jsonl
  iotsql replay template.yaml messages.jsonl --out requests.jsonl
  mosquitto_sub -t '#' -F '{"topic":"%t","payload":%p}' | iotsql replay rules.json -

RULES holds topic rules as the AWS CLI writes them (a get-topic-rule output, a
create-topic-rule input, a list of those, {"rules": [...]}, {"Name": payload}), or the
infrastructure code that defines them: a CloudFormation or SAM template, a serverless.yml,
Terraform files (a .tf file, a folder of them, or `terraform show -json` output).
MESSAGES holds one JSON object per line:
  {"topic": "sensors/d1/data", "payload": {"temperature": 31}, "context": {"clientid": "d1"}}
with "payloadText" (a UTF-8 body) or "payloadBase64" (any bytes) instead of "payload" for
bodies that are not JSON; "context" is optional (the keys of the conformance format).

Every action request (ActionRequest.to_json()) is printed as one JSON line, republished
messages run through the rules again, and a summary per rule (messages matched, fired,
actions delivered, errors) ends on stderr. A bad line is reported with its number and
skipped.

exit status: 0 every line was replayed; 1 a line could not be; 2 the rules are invalid.
"""


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers, "replay",
        help="replay recorded messages through topic rules",
        description="Publish each message of a JSON-lines file through topic rules and print\n"
        "what every action would receive.",
        epilog=EPILOG,
    )  # fmt: skip
    parser.add_argument(
        "rules",
        metavar="RULES",
        help="topic rules: AWS CLI JSON, CloudFormation, Serverless or Terraform",
    )
    parser.add_argument("messages", metavar="MESSAGES", help="a JSON-lines file, or - for stdin")
    parser.add_argument("--out", "-o", metavar="FILE", help="write the requests to FILE")
    parser.set_defaults(handler=run)


# ---- rules and messages ----------------------------------------------------------------------


def load_rules(engine: RulesEngine, path: str) -> None:
    """Create the rules of `path` in `engine` with `RulesEngine.load_rules` (every format
    `iotsql.load_rules` reads: the AWS CLI's JSON, CloudFormation, Serverless, Terraform); an
    invalid rule is a CliError naming the file and the field."""
    source = Path(path)
    if not source.exists():
        raise CliError(f"RULES: no such file: {source}")
    try:
        created = engine.load_rules(source)
    except UnicodeDecodeError:
        raise CliError(f"{source}: not UTF-8 text") from None
    except SqlParseError as error:
        where = getattr(error, "field", None) or str(source)
        diagnostic = diagnostic_of_error(error)
        prefix = f"{where}: invalid SQL: "
        if diagnostic.message.startswith(prefix):
            diagnostic = dataclasses.replace(diagnostic, message=diagnostic.message[len(prefix) :])
        raise CliError(f"{where}: invalid SQL\n{diagnostic.render()}") from None
    if not created:
        raise CliError(f"{source}: no topic rules found")


class BadLine(Exception):
    """A line of MESSAGES that is not a message."""


_MESSAGE_KEYS = ("topic", "payload", "payloadText", "payloadBase64", "context")
_PAYLOAD_KEYS = ("payload", "payloadText", "payloadBase64")


def parse_message(line: str) -> tuple[str, bytes, Any]:
    """(topic, body, context) of one line of MESSAGES."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadLine(f"invalid JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(data, dict):
        raise BadLine('a message is a JSON object: {"topic": ..., "payload": ...}')
    unknown = sorted(set(data) - set(_MESSAGE_KEYS))
    if unknown:
        raise BadLine(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(_MESSAGE_KEYS)}")
    topic = data.get("topic")
    if not isinstance(topic, str):
        raise BadLine("'topic' (a string) is required")
    given = [key for key in _PAYLOAD_KEYS if key in data]
    if len(given) > 1:
        raise BadLine(f"give one of {', '.join(_PAYLOAD_KEYS)}, not {' and '.join(given)}")
    if "payload" in data:
        body = json.dumps(data["payload"], ensure_ascii=False).encode("utf-8")
    elif "payloadText" in data:
        if not isinstance(data["payloadText"], str):
            raise BadLine("'payloadText' must be a string")
        body = data["payloadText"].encode("utf-8")
    elif "payloadBase64" in data:
        try:
            body = base64.b64decode(str(data["payloadBase64"]), validate=True)
        except (binascii.Error, ValueError):
            raise BadLine("'payloadBase64' is not valid base64") from None
    else:
        body = b""
    return topic, body, data.get("context")


# ---- counting ------------------------------------------------------------------------------------


@dataclass
class RuleStats:
    matched: int = 0
    fired: int = 0
    actions: int = 0
    errors: int = 0


def count(report: PublishReport, stats: dict[str, RuleStats]) -> None:
    """Add one publish (and what it republished) to the per-rule counts."""
    for rule in report.rules:
        entry = stats.setdefault(rule.rule_name, RuleStats())
        entry.matched += 1
        entry.fired += rule.fired
        handled = [*rule.actions, *([rule.error_action] if rule.error_action else [])]
        entry.actions += sum(1 for action in handled if action.ok)
        entry.errors += sum(1 for action in handled if not action.ok) + (rule.error is not None)
    for sub in report.republished:
        count(sub, stats)


def _problems(report: PublishReport) -> list[str]:
    """The rule evaluations and actions that failed for one publish."""
    found = [f"rule {r.rule_name} failed: {r.error}" for r in report.errors]
    for failure in report.failures:
        kind = "error action" if failure.is_error_action else "action"
        found.append(f"rule {failure.rule_name}: {kind} {failure.action_type} failed: "
                     f"{failure.error}")  # fmt: skip
    return found


def summary_lines(stats: dict[str, RuleStats]) -> list[str]:
    width = max([len("rule"), *(len(name) for name in stats)])
    lines = [f"{'rule':<{width}}  matched  fired  actions  errors"]
    for name, entry in stats.items():
        lines.append(
            f"{name:<{width}}  {entry.matched:>7}  {entry.fired:>5}  {entry.actions:>7}  "
            f"{entry.errors:>6}"
        )
    return lines


# ---- progress ------------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on a terminal, shown only once a replay has run for a while."""

    DELAY = 0.5
    EVERY = 0.1

    def __init__(self, stream: IO[str], total: int | None) -> None:
        self.stream = stream
        self.total = total
        self.enabled = is_tty(stream)
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, done: int, lines: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < self.DELAY or now - self.last < self.EVERY:
            return
        self.last = now
        if self.total:
            ratio = min(1.0, done / self.total)
            bar = "#" * int(ratio * 30)
            text = f"[{bar:<30}] {ratio:4.0%}  {lines} messages"
        else:
            text = f"{lines} messages"
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# ---- the command ---------------------------------------------------------------------------------


def _accept(request: ActionRequest) -> None:
    """A sink that takes every request (the CLI prints them; nothing is kept in memory)."""


_accept.instant = True  # type: ignore[attr-defined]  # never blocks: no worker thread needed


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    yield from enumerate(stream, 1)


def run(args: argparse.Namespace) -> int:
    engine = RulesEngine(feed_back_republish=True)
    for action_type in ACTION_TYPES:
        engine.register_sink(action_type, _accept)
    load_rules(engine, args.rules)
    stats = {name: RuleStats() for name in engine.rules}
    if args.messages == "-":
        source: IO[bytes] = sys.stdin.buffer
        total = None
        name = "<stdin>"
    else:
        path = Path(args.messages)
        try:
            source = path.open("rb")
            total = os.fstat(source.fileno()).st_size
        except FileNotFoundError:
            raise CliError(f"MESSAGES: no such file: {path}") from None
        except OSError as error:
            raise CliError(f"MESSAGES: cannot read {path}: {error.strerror or error}") from None
        name = str(path)
    try:
        sink = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    except OSError as error:
        source.close()
        raise CliError(f"--out: cannot write {args.out}: {error.strerror or error}") from None
    progress = Progress(sys.stderr, total)
    messages = bad = requests = 0
    done = 0
    try:
        for number, raw in _lines(source):
            done += len(raw)
            progress.update(done, number)
            if not raw.strip():
                continue
            try:
                topic, body, context = parse_message(raw.decode("utf-8").strip())
                report = engine.publish(topic, body, context)
            except UnicodeDecodeError:
                error_text = "not UTF-8 text"
            except (BadLine, IotSqlError, ValueError, TypeError) as error:
                error_text = str(error) or type(error).__name__
            else:
                messages += 1
                count(report, stats)
                for request in report.requests:
                    sink.write(dumps(request.to_json()) + "\n")
                    requests += 1
                problems = _problems(report)
                if problems:
                    progress.close()
                    for problem in problems:
                        err(f"{name}:{number}: {problem}")
                engine.drain_dead_letters()
                continue
            bad += 1
            progress.close()
            err(f"{name}:{number}: {error_text}")
    finally:
        progress.close()
        if source is not sys.stdin.buffer:
            source.close()
        if sink is not sys.stdout:
            sink.close()
        else:
            sys.stdout.flush()
    err("\n".join(summary_lines(stats)))
    lines_note = f", {bad} bad line{'s' if bad != 1 else ''}" if bad else ""
    err(f"{messages} message{'s' if messages != 1 else ''} replayed, "
        f"{requests} action request{'s' if requests != 1 else ''}{lines_note}")  # fmt: skip
    return 1 if bad else 0
