"""`iotsql eval`: evaluate one statement on one message and print the output, or say why the
rule did not fire."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from iotsql.cli.check import diagnostic_of_error, lint_rule
from iotsql.cli.common import (
    CliError,
    add_message_arguments,
    add_shape_arguments,
    add_version_argument,
    context_from_args,
    err,
    file_hint,
    is_tty,
    load_payload,
    new_parser,
    print_output,
    read_text,
    version_note,
)
from iotsql.cli.explain import explain_lines, undefined_items, why_not
from iotsql.errors import InvalidTopicError, LimitExceededError, SqlParseError
from iotsql.limits import DEFAULT_LIMITS
from iotsql.rule import CompiledRule
from iotsql.topics import validate_topic

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

EPILOG = """\
examples:
  iotsql eval "SELECT temp FROM 'sensors/+' WHERE temp > 30" -p '{"temp": 31}' -t sensors/a
  iotsql eval @rule.sql --payload @message.json --topic sensors/a --clientid d1
  cat message.json | iotsql eval "SELECT VALUE temp FROM 'sensors/+'" --payload -
  iotsql eval "SELECT * FROM 'cams/+'" --payload @photo.jpg --raw > copy.jpg
  iotsql eval "SELECT topic(2) AS id, timestamp() AS ts FROM 'a/+'" -t a/b \\
      --timestamp 2024-01-01T00:00:00Z

The output is pretty JSON on a terminal and the exact body the actions receive (compact JSON)
when piped. A payload that is not JSON is a binary body, as in AWS IoT (a note says so).
Without --topic, FROM is not checked. Warnings about the statement go to stderr, and so does
a note for each SELECT item that is Undefined because the payload lacks a key it reads, with
the keys it was probably meant to be (`bat` -> get(*, 'battery-level')).

exit status: 0 the rule fires; 1 it does not (stderr says why: the topic does not match FROM,
or WHERE was false or Undefined, with the attributes it read that the payload lacks);
2 an invalid statement or argument.
"""


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers, "eval",
        help="evaluate a statement on one message",
        description="Evaluate an AWS IoT SQL statement on one message and print its output.",
        epilog=EPILOG,
    )  # fmt: skip
    parser.add_argument("sql", metavar="SQL|@FILE|-", help="the statement, @file or - for stdin")
    add_message_arguments(parser, payload_default="{}")
    add_version_argument(parser)
    shape = add_shape_arguments(parser)
    shape.add_argument(
        "--raw", action="store_true",
        help="write the output body exactly (binary outputs as bytes), without a final newline",
    )  # fmt: skip
    parser.add_argument(
        "--explain", action="store_true",
        help="also print the AST and the value of each SELECT item and of WHERE (on stderr)",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def _check_topic(topic: str | None) -> None:
    """--topic is a topic a message can be published to, as `iotsql repl` and `iotsql replay`
    require: a filter given there by mistake would otherwise match FROM by accident, or not."""
    if topic is None:
        return
    try:
        validate_topic(topic)
    except (InvalidTopicError, LimitExceededError) as error:
        hint = ""
        if "+" in topic or "#" in topic:
            hint = " (--topic is the topic the message is published on, such as sensors/d1/data; the filter with + or # belongs in FROM)"
        raise CliError(f"--topic: {error}{hint}") from None


def run(args: argparse.Namespace) -> int:
    _check_topic(args.topic)
    stdin_used: list[str] = []
    sql, _ = read_text(args.sql, "SQL", stdin_used=stdin_used,
                       limit=DEFAULT_LIMITS.max_sql_bytes, limit_name="Limits.max_sql_bytes")  # fmt: skip
    payload = load_payload(args.payload, stdin_used=stdin_used)
    context = context_from_args(args, stdin_used)
    try:
        rule = CompiledRule(sql, args.sql_version)
    except SqlParseError as error:
        err(diagnostic_of_error(error).render())
        hint = file_hint(args.sql, "the SQL argument")
        if hint:
            rules_file = not args.sql.lower().endswith((".sql", ".txt"))
            err(hint + ("; iotsql replay runs the topic rules of a file" if rules_file else ""))
        return 2
    for warning in lint_rule(rule):
        err(warning.render())
    if not args.sql_version_given and is_tty(sys.stderr):
        # Said to people at a terminal; scripts read the version from --explain.
        err(version_note(rule.sql_version.value))
    note = payload.note()
    if note:
        err(note)
    if args.explain:
        err("\n".join(explain_lines(rule, payload, args.topic, context)))
    explanation = rule.explain(payload.body, topic=args.topic, context=context)
    if explanation.fired and explanation.output is not None:
        pretty = args.pretty or (not args.compact and is_tty(sys.stdout))
        print_output(explanation.output, pretty=pretty, raw=args.raw)
        for missing in undefined_items(rule, explanation, payload, args.topic):
            err(f"note: {missing}")
        return 0
    first, *rest = why_not(rule, explanation, payload, args.topic)
    err(f"did not fire: {first}")
    for line in rest:
        err(f"  {line}")
    return 1
