"""`iotsql replay`: publish recorded messages through a set of topic rules and print what each
action would receive, one JSON line per action request, with a summary per rule."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from iotsql.cli.check import diagnostic_of_error
from iotsql.cli.common import CliError, err, is_tty, new_parser, parameters_of
from iotsql.engine import RulesEngine
from iotsql.errors import IotSqlError, ResourceAlreadyExistsError, SqlParseError
from iotsql.limits import DEFAULT_LIMITS
from iotsql.loaders.awscli import UnnamedPayloadError
from iotsql.loaders.base import LoadedRule, RuleSqlError
from iotsql.loaders.parameters import declaring_parameters, parameter_hint
from iotsql.loaders.positions import SourceDocument
from iotsql.replay.lines import BadLine, TooLong, decode_line, parse_message, read_lines
from iotsql.replay.replayer import Replayer, RuleDefinitions, replay_engine, request_line
from iotsql.replay.summary import summary_lines

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
  iotsql replay rules.json day1.jsonl day2.jsonl --workers 4 --out requests/
  iotsql replay rules.json *.jsonl --scheduler tcp://10.0.0.5:8786 --partition-by topic

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

MESSAGES may be several files, replayed in order (the last file, and each JSON-lines file
before it, are MESSAGES). --workers N replays on a Dask LocalCluster of N processes, and
--scheduler ADDRESS on a running Dask cluster (pip install 'iotsql[dask]'): the files are cut
in blocks (--blocksize), each block a partition, or with --partition-by topic each topic's
messages in one partition in input order; republished messages stay in their partition;
--out names a folder that gets one part-NNNNN.jsonl per partition; bad lines are reported
with their file and line number as without Dask. With --scheduler, the workers need iotsql
(the same version) and the files at the same paths. docs/cli.md says what is guaranteed.

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
    parser.add_argument(
        "messages", metavar="MESSAGES", nargs="+",
        help="JSON-lines files (- for stdin), replayed one after the other",
    )  # fmt: skip
    parser.add_argument(
        "--out", "-o", metavar="FILE",
        help="write the requests to FILE (with --workers or --scheduler: to the folder FILE, "
        "one part per partition)",
    )  # fmt: skip
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
    register_distributed(parser)
    parser.set_defaults(handler=run)


# ---- rules and messages ----------------------------------------------------------------------


#: How the loaders ask for a parameter value they were not given, in this command's terms.
PARAMETER_HINT = "give it with --parameters {name}=VALUE (or in a --parameters-file)"


def load_all_rules(engine: RulesEngine, args: argparse.Namespace) -> None:
    """Every rule of the RULES files and of the --topic-rule-payload files, created in
    `engine`; an invalid or missing one is a CliError naming the file."""
    if not args.rules and not args.topic_rule_payload:
        raise CliError("no rules: give RULES files, or --topic-rule-payload FILE")
    if args.rule_name is not None and len(args.topic_rule_payload) != 1:
        raise CliError("--rule-name names the rule of one --topic-rule-payload file; with "
                       "several, each is named after its file")  # fmt: skip
    parameters = parameters_of(args)
    with parameter_hint(PARAMETER_HINT), declaring_parameters() as declared:
        for path in args.rules:
            load_rules(engine, path, parameters)
    # A misspelt --parameters name (Stge=prod) left the rules at their defaults, silently.
    unknown = declared.unknown(item.partition("=")[0].strip() for item in args.parameters)
    if unknown and args.rules:
        raise CliError(declared.refusal(unknown, "--parameters"))
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
    except UnnamedPayloadError as error:
        if error.field != f"{source}.ruleName":
            raise
        raise CliError(f"{source} holds only a topic rule payload (sql, actions), with no "
                       f"ruleName: give it with --topic-rule-payload {path}, which names the "
                       "rule after the file (or --rule-name NAME)") from None  # fmt: skip
    if not created:
        raise CliError(f"{source}: no topic rules found")


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


#: Files taken as MESSAGES by their name, wherever they stand among the positional arguments.
MESSAGES_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")


def split_inputs(positionals: list[str]) -> tuple[list[str], list[str]]:
    """RULES and MESSAGES from the positional arguments: the last one is MESSAGES, and so is
    each one before it that is a JSON-lines file (`-`, a name ending in .jsonl, .ndjson or
    .jsonlines, or a file whose first line is a message), back to the first that is not."""
    cut = len(positionals) - 1
    while cut > 0 and _is_messages(positionals[cut - 1]):
        cut -= 1
    return positionals[:cut], positionals[cut:]


def _is_messages(path: str) -> bool:
    if path == "-" or path.lower().endswith(MESSAGES_SUFFIXES):
        return True
    try:
        with open(path, "rb") as stream:
            for number, raw, _ in read_lines(stream, DEFAULT_LIMITS.max_input_line_bytes, 0):
                if raw is None or number > 100:
                    return False
                if raw.strip():
                    parse_message(raw.decode("utf-8").strip())
                    return True
    except (OSError, TooLong, BadLine, ValueError):
        return False
    return False


def _size(text: str) -> int:
    """A size in bytes: 4096, 64k, 64KiB, 1.5MB, 1G (k, M, G count 1024s, with or without
    "iB"; "kB", "MB", "GB" count 1000s)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(([kKmMgG])(i?B)?|B)?\s*", text.replace("_", ""))
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 4096, 64KiB, 16MiB, 1GB)")
    number, _, prefix, unit = match.groups()
    base = 1000 if unit == "B" else 1024
    scale = base ** (" kmg".index(prefix.lower()) if prefix else 0)
    value = int(float(number) * scale)
    if value < 1:
        raise argparse.ArgumentTypeError(f"a block holds at least 1 byte, not {text!r}")
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1 worker, not {value}")
    return value


def register_distributed(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "distributed replay (Dask: pip install 'iotsql[dask]'; see docs/cli.md)"
    )
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", metavar="N", type=_workers,
        help="replay on a Dask LocalCluster of N worker processes started for the replay",
    )  # fmt: skip
    where.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="replay on the Dask cluster of this scheduler (tcp://host:8786); its workers need "
        "iotsql and the MESSAGES files at the same paths",
    )  # fmt: skip
    group.add_argument(
        "--partition-by", choices=("block", "topic"), default=None,
        help="block (default): each block of a file is a partition; topic: each topic's "
        "messages in one partition, in input order",
    )  # fmt: skip
    group.add_argument(
        "--blocksize", metavar="SIZE", type=_size,
        help="bytes per block (64MiB, 4096...; default: a few blocks per worker thread, 256 KiB to 64 MiB)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    rules, messages = split_inputs([*args.rules, *args.messages])
    args.rules = rules
    if not rules and not args.topic_rule_payload and messages:
        # `iotsql replay rules.json` (the messages forgotten) or the files in the wrong order:
        # say how the files were taken, since "no rules" alone contradicts what was typed.
        taken = ", ".join(messages)
        raise CliError("no rules: give RULES files, or --topic-rule-payload FILE "
                       f"({taken} {'was' if len(messages) == 1 else 'were'} read as MESSAGES: "
                       "RULES come first, then MESSAGES)")  # fmt: skip
    distributed = args.workers is not None or args.scheduler is not None
    if not distributed:
        for option, value in (("--partition-by", args.partition_by),
                              ("--blocksize", args.blocksize)):  # fmt: skip
            if value is not None:
                raise CliError(f"{option} splits a distributed replay: give --workers N or "
                               "--scheduler ADDRESS with it")  # fmt: skip
    if messages.count("-") > 1:
        raise CliError("MESSAGES: - (stdin) can be read once")
    if distributed and "-" in messages:
        raise CliError("MESSAGES: - (stdin) cannot be split in blocks: a distributed replay "
                       "reads files (save the stream to a file, or replay it without "
                       "--workers and --scheduler)")  # fmt: skip
    engine = replay_engine()
    load_all_rules(engine, args)
    if distributed:
        return run_distributed(engine, messages, args)
    return run_here(engine, messages, args)


def _open_out(path: str | None) -> IO[str]:
    if path is None:
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        raise CliError(f"--out: cannot write {path}: {error.strerror or error}") from None


def _total_size(messages: list[str]) -> int | None:
    total = 0
    for name in messages:
        try:
            info = os.stat(name) if name != "-" else None
        except OSError:
            return None
        if info is None or not stat.S_ISREG(info.st_mode):
            return None
        total += info.st_size
    return total


def run_here(engine: RulesEngine, messages: list[str], args: argparse.Namespace) -> int:
    """The replay in this process: the files one after the other, each line as it is read."""
    replayer = Replayer(engine)
    for name in messages:
        if name != "-" and not Path(name).exists():
            raise CliError(f"MESSAGES: no such file: {name}")
    sink = _open_out(args.out)
    progress = Progress(sys.stderr, _total_size(messages))
    limit = DEFAULT_LIMITS.max_input_line_bytes
    done = lines = 0
    started = time.monotonic()
    try:
        for index, path in enumerate(messages):
            name = "<stdin>" if path == "-" else path
            source = _open_messages(path)
            try:
                for number, raw, size in read_lines(
                    source, limit, DEFAULT_LIMITS.max_document_bytes
                ):
                    done += size
                    lines += 1
                    progress.update(done, lines)
                    if raw is not None and not raw.strip():
                        continue
                    try:
                        topic, body, context = decode_line(raw, limit)
                        requests, problems = replayer.publish(topic, body, context, (index, number))
                    except BadLine as error:
                        replayer.totals.bad += 1
                        progress.close()
                        err(f"{name}:{number}: {error}")
                        continue
                    for request in requests:
                        sink.write(request_line(request) + "\n")
                    if problems:
                        progress.close()
                        for problem in problems:
                            err(f"{name}:{number}: {problem}")
            except TooLong as error:
                replayer.totals.bad += 1
                progress.close()
                err(f"{name}: {error}")
                break
            finally:
                if source is not sys.stdin.buffer:
                    source.close()
    finally:
        progress.close()
        if sink is not sys.stdout:
            sink.close()
        else:
            sys.stdout.flush()
    replayer.totals.elapsed = time.monotonic() - started
    err("\n".join([*summary_lines(replayer.stats), *replayer.totals.lines()]))
    return 1 if replayer.totals.bad else 0


def _open_messages(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise CliError(f"MESSAGES: no such file: {path}") from None
    except OSError as error:
        raise CliError(f"MESSAGES: cannot read {path}: {error.strerror or error}") from None


def run_distributed(engine: RulesEngine, messages: list[str], args: argparse.Namespace) -> int:
    """The replay on a Dask cluster (iotsql.replay.distributed), printed as `run_here` prints
    it, with one more line saying where it ran."""
    from iotsql.replay.distributed import ReplayError, check_inputs, connect, replay

    try:
        check_inputs(messages, args.out)
    except ReplayError as error:
        raise CliError(str(error)) from None
    definitions = RuleDefinitions.of(engine)
    engine.close()
    progress = Progress(sys.stderr, None)
    replayed = 0

    def on_requests(lines: list[str]) -> None:
        sys.stdout.write("\n".join(lines) + "\n")

    def on_problem(path: str, number: int, text: str) -> None:
        progress.close()
        err(f"{'<stdin>' if path == '-' else path}:{number}: {text}")

    def on_progress(done: int, total: int) -> None:
        progress.total = total
        progress.update(done, replayed)

    try:
        with connect(args.workers, args.scheduler) as cluster:
            outcome = replay(
                cluster, definitions, messages, limit=DEFAULT_LIMITS.max_input_line_bytes,
                partition_by=args.partition_by or "block", blocksize=args.blocksize,
                out_dir=args.out, on_requests=None if args.out else on_requests,
                on_problem=on_problem, on_progress=on_progress,
            )  # fmt: skip
    except ReplayError as error:
        progress.close()
        raise CliError(str(error)) from None
    finally:
        progress.close()
        sys.stdout.flush()
    where = (
        f"on {cluster.description} ({cluster.threads} thread{'s' * (cluster.threads != 1)}, "
        f"ready in {cluster.startup:.1f} s): {_plural(outcome.blocks, 'block')}, "
        f"{_plural(outcome.partitions, 'partition')} by {args.partition_by or 'block'}"
    )
    if args.out:
        where += f", {_plural(len(outcome.parts), 'part')} in {args.out}"
    err("\n".join([*summary_lines(outcome.stats), *outcome.totals.lines(), where]))
    return 1 if outcome.totals.bad else 0


def _plural(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
