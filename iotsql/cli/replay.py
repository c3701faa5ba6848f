"""`iotsql replay`: publish recorded messages through a set of topic rules and print what each
action would receive, one JSON line per action request, with a summary per rule."""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import json
import os
import re
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
from iotsql.errors import IotSqlError, ResourceAlreadyExistsError, SqlParseError
from iotsql.limits import DEFAULT_LIMITS
from iotsql.loaders.base import LoadedRule, RuleSqlError
from iotsql.loaders.parameters import ParametersFileError, parameter_hint, read_parameters
from iotsql.loaders.positions import SourceDocument

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

EPILOG = """\
examples:
  iotsql replay rules.json messages.jsonl
  iotsql replay template.yaml messages.jsonl --out requests.jsonl
  iotsql replay template.yaml --parameters Env=prod --parameters Threshold=40 messages.jsonl
  iotsql replay main.tf serverless.yml --parameters-file prod.tfvars messages.jsonl
  iotsql replay --topic-rule-payload high-temp.json messages.jsonl
  mosquitto_sub -t '#' -F '{"topic":"%t","payload":%p}' | iotsql replay rules.json -

RULES holds topic rules as the AWS CLI writes them (a get-topic-rule output, a
create-topic-rule input, a list of those, {"rules": [...]}, {"Name": payload}), or the
infrastructure code that defines them: a CloudFormation or SAM template, a serverless.yml,
Terraform files (a .tf file, a folder of them, or `terraform show -json` output). Several
RULES files load together. --topic-rule-payload adds a rule from a file that holds only its
payload ({"sql": ..., "actions": [...]}, what `aws iot create-topic-rule --topic-rule-payload
file://FILE` takes), named by --rule-name or the file's name without its extension.

--parameters KEY=VALUE and --parameters-file FILE give the values of CloudFormation
parameters, Terraform variables and Serverless options (--parameters wins over the file). A
parameters file is CloudFormation's [{"ParameterKey": ..., "ParameterValue": ...}] or
["KEY=VALUE", ...] JSON, CodePipeline's {"Parameters": {...}}, a .tfvars or .tfvars.json file,
a JSON or YAML object, or KEY=VALUE lines.
MESSAGES holds one JSON object per line:
  {"topic": "sensors/d1/data", "payload": {"temperature": 31}, "context": {"clientid": "d1"}}
with "payloadText" (a UTF-8 body) or "payloadBase64" (any bytes) instead of "payload" for
bodies that are not JSON; "context" is optional (the keys of the conformance format).

Every action request (ActionRequest.to_json()) is printed as one JSON line, republished
messages run through the rules again, and a summary ends on stderr: per rule (messages
matched, fired, actions delivered, errors), then the messages replayed, the time it took and
the rate, and the messages that matched no rule (with their first topics). A bad line is
reported with its number and skipped: invalid JSON, a payload over 128 KB, a line over
1 MiB (Limits.max_input_line_bytes) or nested too deeply to read. A line with no end within
16 MiB stops the replay.

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
        "rules", metavar="RULES", nargs="*",
        help="files of topic rules: AWS CLI JSON, CloudFormation, Serverless or Terraform",
    )  # fmt: skip
    parser.add_argument("messages", metavar="MESSAGES", help="a JSON-lines file, or - for stdin")
    parser.add_argument("--out", "-o", metavar="FILE", help="write the requests to FILE")
    parser.add_argument(
        "--topic-rule-payload", metavar="FILE", action="append", default=[],
        help="a rule from a topicRulePayload JSON file (file://FILE works too); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--rule-name", metavar="NAME",
        help="the name of the --topic-rule-payload rule (default: the file's stem)",
    )  # fmt: skip
    parser.add_argument(
        "--parameters", metavar="KEY=VALUE", action="append", default=[],
        help="a CloudFormation parameter, Terraform variable or Serverless option; repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--parameters-file", metavar="FILE", action="append", default=[],
        help="parameter values from a file (CloudFormation JSON, .tfvars, JSON or YAML object, "
        "KEY=VALUE lines); repeatable, later files win",
    )  # fmt: skip
    parser.set_defaults(handler=run)


# ---- rules and messages ----------------------------------------------------------------------


#: How the loaders ask for a parameter value they were not given, in this command's terms.
PARAMETER_HINT = "give it with --parameters {name}=VALUE (or in a --parameters-file)"


def parameters_of(args: argparse.Namespace) -> dict[str, Any]:
    """The values of --parameters-file files, in order, then of --parameters on top."""
    values: dict[str, Any] = {}
    for path in args.parameters_file:
        try:
            values.update(read_parameters(path))
        except ParametersFileError as error:
            raise CliError(f"--parameters-file: {error}") from None
    for item in args.parameters:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--parameters takes KEY=VALUE, not {item!r}")
        values[key.strip()] = value
    return values


def load_all_rules(engine: RulesEngine, args: argparse.Namespace) -> None:
    """Every rule of the RULES files and of the --topic-rule-payload files, created in
    `engine`; an invalid or missing one is a CliError naming the file."""
    if not args.rules and not args.topic_rule_payload:
        raise CliError("no rules: give RULES files, or --topic-rule-payload FILE")
    if args.rule_name is not None and len(args.topic_rule_payload) != 1:
        raise CliError("--rule-name names the rule of one --topic-rule-payload file; with "
                       "several, each is named after its file")  # fmt: skip
    parameters = parameters_of(args)
    with parameter_hint(PARAMETER_HINT):
        for path in args.rules:
            load_rules(engine, path, parameters)
    for path in args.topic_rule_payload:
        load_payload_file(engine, path, args.rule_name)


def load_payload_file(engine: RulesEngine, spec: str, name: str | None) -> None:
    """One rule from a file holding its topicRulePayload, named `name` or after the file."""
    source = Path(spec.removeprefix("file://"))
    try:
        payload = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"--topic-rule-payload: no such file: {source}") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise CliError(f"--topic-rule-payload: cannot read {source}: {reason}") from None
    except json.JSONDecodeError as error:
        raise CliError(f"{source}: invalid JSON: {error.msg} (line {error.lineno}, column "
                       f"{error.colno})") from None  # fmt: skip
    if isinstance(payload, dict) and "topicRulePayload" in payload:
        raise CliError(f"{source} is a create-topic-rule input (ruleName, topicRulePayload): "
                       "give it as RULES, not as --topic-rule-payload")  # fmt: skip
    if not isinstance(payload, dict) or "sql" not in payload:
        raise CliError(f'{source}: a topic rule payload is an object with "sql" and "actions", '
                       'as `aws iot create-topic-rule --topic-rule-payload` takes it')  # fmt: skip
    rule_name = name if name is not None else source.stem
    if name is None and not _RULE_NAME.fullmatch(rule_name):
        raise CliError(f"{source}: the file's name {rule_name!r} is not a rule name (letters, "
                       "digits and _): name the rule with --rule-name")  # fmt: skip
    try:
        engine.create_topic_rule(rule_name, payload)
    except SqlParseError as error:
        # where the statement is in the file, as for RULES files
        raise CliError(str(payload_rule(rule_name, payload, source).locate(error))) from None
    except IotSqlError as error:
        raise CliError(f"{source}: {error}") from None


_RULE_NAME = re.compile(r"[A-Za-z0-9_]{1,128}")


def payload_rule(name: str, payload: dict[str, Any], source: Path) -> LoadedRule:
    """The rule of a --topic-rule-payload file, knowing its file (for the places of errors)."""
    text = source.read_text(encoding="utf-8")
    document = SourceDocument(str(source), text, "json")
    return LoadedRule(name, payload, str(source), name, "aws-cli",
                      origins={"topicRulePayload.sql": "sql"}, document=document)  # fmt: skip


def load_rules(engine: RulesEngine, path: str, parameters: dict[str, Any] | None = None) -> None:
    """Create the rules of `path` in `engine` with `RulesEngine.load_rules` (every format
    `iotsql.load_rules` reads: the AWS CLI's JSON, CloudFormation, Serverless, Terraform); an
    invalid rule is a CliError naming the file and the field."""
    source = Path(path)
    if not source.exists():
        raise CliError(f"RULES: no such file: {source}")
    try:
        created = engine.load_rules(source, parameters=parameters or None)
    except UnicodeDecodeError:
        raise CliError(f"{source}: not UTF-8 text") from None
    except SqlParseError as error:
        if isinstance(error, RuleSqlError) and error.position is not None:
            raise CliError(str(error)) from None  # at its place in the file
        where = getattr(error, "field", None) or str(source)
        diagnostic = diagnostic_of_error(error)
        prefix = f"{where}: invalid SQL: "
        if diagnostic.message.startswith(prefix):
            diagnostic = dataclasses.replace(diagnostic, message=diagnostic.message[len(prefix) :])
        raise CliError(f"{where}: invalid SQL\n{diagnostic.render()}") from None
    except ResourceAlreadyExistsError as error:
        raise CliError(
            f"{source}: {error}: rule names must be unique across the RULES files"
        ) from None
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


@dataclass
class Totals:
    """The counts of a whole replay: messages replayed (and those no rule matched, with the
    first few of their topics), requests, bad lines, and the time the messages took."""

    messages: int = 0
    requests: int = 0
    bad: int = 0
    unmatched: int = 0
    unmatched_topics: list[str] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0

    SHOWN_TOPICS = 3

    def add_unmatched(self, topic: str) -> None:
        self.unmatched += 1
        if len(self.unmatched_topics) < self.SHOWN_TOPICS and topic not in self.unmatched_topics:
            self.unmatched_topics.append(topic)

    def lines(self) -> list[str]:
        took = f"{self.elapsed * 1000:.1f} ms" if self.elapsed < 1 else f"{self.elapsed:,.2f} s"
        rate = f"{self.messages / self.elapsed:,.0f}" if self.elapsed > 0 else "-"
        first = (
            f"{_count(self.messages, 'message')} replayed in {took} ({rate} messages/s), "
            f"{_count(self.requests, 'action request')}"
        )
        if self.bad:
            first += f", {_count(self.bad, 'bad line')}"
        if not self.unmatched:
            return [first, "every message matched a rule" if self.messages else "no messages"]
        topics = ", ".join(self.unmatched_topics)
        more = " ..." if self.unmatched > len(self.unmatched_topics) else ""
        return [first, f"{_count(self.unmatched, 'message')} matched no rule: {topics}{more}"]


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


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


class TooLong(Exception):
    """A line of MESSAGES without an end within what replay reads of one line."""


def _lines(stream: IO[bytes], limit: int, give_up: int) -> Iterator[tuple[int, bytes | None, int]]:
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
            line = stream.readline(64 * 1024)
            if not line:
                break
            skipped += len(line)
            if skipped > give_up:
                raise TooLong(f"line {number} has no end within {give_up:,} bytes "
                              "(Limits.max_document_bytes): the rest is not read")  # fmt: skip
        yield number, None, skipped


def run(args: argparse.Namespace) -> int:
    engine = RulesEngine(feed_back_republish=True)
    for action_type in ACTION_TYPES:
        engine.register_sink(action_type, _accept)
    load_all_rules(engine, args)
    stats = {name: RuleStats() for name in engine.rules}
    totals = Totals()
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
    started = time.monotonic()
    limit = DEFAULT_LIMITS.max_input_line_bytes
    try:
        for number, raw, size in _lines(source, limit, DEFAULT_LIMITS.max_document_bytes):
            done += size
            progress.update(done, number)
            if raw is not None and not raw.strip():
                continue
            try:
                if raw is None:
                    raise BadLine(f"the line is longer than {limit:,} bytes "
                                  "(Limits.max_input_line_bytes): skipped")  # fmt: skip
                topic, body, context = parse_message(raw.decode("utf-8").strip())
                report = engine.publish(topic, body, context)
            except UnicodeDecodeError:
                error_text = "not UTF-8 text"
            except RecursionError:
                error_text = "the message is nested too deeply to read"
            except (BadLine, IotSqlError, ValueError, TypeError) as error:
                error_text = str(error) or type(error).__name__
            else:
                messages += 1
                count(report, stats)
                if not report.rules:
                    totals.add_unmatched(topic)
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
    except TooLong as error:
        bad += 1
        progress.close()
        err(f"{name}: {error}")
    finally:
        progress.close()
        if source is not sys.stdin.buffer:
            source.close()
        if sink is not sys.stdout:
            sink.close()
        else:
            sys.stdout.flush()
    totals.elapsed = time.monotonic() - started
    totals.messages, totals.requests, totals.bad = messages, requests, bad
    err("\n".join([*summary_lines(stats), *totals.lines()]))
    return 1 if bad else 0
