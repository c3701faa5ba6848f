"""`iotsql test`: run conformance cases (`.json`/`.jsonl` files, folders recursively) with
`iotsql.testing.conformance` and report the failures."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from iotsql.cli.common import CliError, dumps, err, new_parser, out
from iotsql.loaders import load_rules
from iotsql.loaders.parameters import declaring_parameters, parameter_hint
from iotsql.testing.conformance import CaseResult, load_cases, run_cases

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

EPILOG = """\
examples:
  iotsql test conformance/
  iotsql test my-cases.jsonl more-cases.json -k select/
  iotsql test conformance/ --json > results.json
  iotsql test cases.jsonl --rules template.yaml --param Stage=prod

Each failure shows the case id, its file, the SQL, and the expected and actual outputs; the
last line is "N passed, M failed". --json prints
{"passed": N, "failed": M, "failures": [{"id", "expected", "actual", "message", "file"}]}.
A case: {"id": "select/alias", "sql": "SELECT color AS c FROM 't'", "topic": "t",
"payload": {"color": "red"}, "expected": {"c": "red"}} ("fires": false, "error": "parse",
"expectedBase64", "payloadText", "context", "sqlVersion"... as in conformance/).

exit status: 0 every case passed; 1 a case failed, or no case ran; 2 a file is missing or
malformed.
"""


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers, "test",
        help="run conformance cases",
        description="Run conformance cases (.json arrays or .jsonl lines of cases; folders are\n"
        "searched recursively) and report every failure.",
        epilog=EPILOG,
    )  # fmt: skip
    parser.add_argument("paths", nargs="+", metavar="PATH", help="case files or folders")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "-k", dest="select", metavar="TEXT", help="only the cases whose id contains TEXT"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    parser.add_argument(
        "--rules", action="append", default=[], metavar="FILE",
        help="topic rules that cases name with \"rule\" instead of \"sql\" (CloudFormation, "
        "SAM, Serverless, Terraform or AWS CLI JSON; repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter for --rules files (repeatable)",
    )
    parser.set_defaults(handler=run)


def _text(value: Any) -> str:
    if isinstance(value, str) and value in ("parse error", "did not fire", "does not fire"):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _failure(result: CaseResult) -> list[str]:
    case = result.case
    statement = case.sql or f"rule {case.data.get('rule')}"
    lines = [f"FAIL {case.id}  ({case.file})", f"  sql:      {statement}"]
    if case.sql_version != "2016-03-23":
        lines.append(f"  version:  {case.sql_version}")
    lines.append(f"  expected: {_text(result.expected)}")
    lines.append(f"  actual:   {_text(result.actual)}")
    if result.message:
        lines.extend(f"  {line}" for line in result.message.splitlines())
    return lines


def run(args: argparse.Namespace) -> int:
    cases = load_cases(args.paths)
    if args.select:
        cases = [case for case in cases if args.select in case.id]
    parameters: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--param takes KEY=VALUE, not {item!r}")
        parameters[key] = value
    with parameter_hint("give it with --param {name}=VALUE"), declaring_parameters() as declared:
        rules = [
            rule for path in args.rules for rule in load_rules(path, parameters=parameters or None)
        ]
    unknown = declared.unknown(parameters)
    if unknown:
        raise CliError(declared.refusal(unknown, "--param"))
    summary = run_cases(cases, rules=rules) if args.rules else run_cases(cases)
    if args.json:
        out(dumps(summary.to_json()))
    else:
        for result in summary.results:
            if not result.passed:
                out("\n".join(_failure(result)))
            elif args.verbose:
                out(f"ok   {result.case.id}")
        out(f"{summary.passed} passed, {summary.failed} failed")
    if not summary.results:
        # As pytest does: a run that tested nothing (an empty file, a -k that selects no
        # case) must not pass a CI job silently.
        where = f"no case id contains {args.select!r}" if args.select else "they hold no case"
        err(f"iotsql test: no case ran ({' '.join(args.paths)}: {where})")
        return 1
    return 1 if summary.failed else 0
