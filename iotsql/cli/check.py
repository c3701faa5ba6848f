"""`iotsql check`: the linter for topic rules, in statements, `.sql` files and infrastructure
code (CloudFormation and SAM templates, serverless.yml, Terraform `.tf` / `.tf.json` / plan and
state JSON, AWS CLI rule JSON), for people, editors, pre-commit and CI. The checks, codes and
outputs are the `iotsql.lint` package's; this module is the command line: the arguments, the
`[tool.iotsql]` defaults, the output and the exit status (0 clean or only warnings, 1 an error,
2 a usage error or an input that cannot be read).

`lint`, `lint_rule` and `Diagnostic` (the findings about one statement) are re-exported from
`iotsql.lint.sql` for the other commands (eval, repl) and existing callers.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iotsql.cli.common import VERSIONS, CliError, new_parser, out, parameters_of, read_text
from iotsql.lint.config import FORMATS, ConfigError, Options, codes_of, find_pyproject, load_config
from iotsql.lint.output import render
from iotsql.lint.runner import Statement, check
from iotsql.lint.sql import (
    Diagnostic,
    children,
    diagnostic_of_error,
    lint,
    lint_rule,
    lint_statement,
    path_of,
    walk,
)

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

__all__ = ["Diagnostic", "children", "diagnostic_of_error", "lint", "lint_rule",
           "lint_statement", "path_of", "register", "run", "walk"]  # fmt: skip

# ---- the command ---------------------------------------------------------------------------------

EPILOG = """\
examples:
  iotsql check                                 # every rule under the current folder
  iotsql check template.yaml infra/ serverless.yml
  iotsql check "SELECT temp FROM 'sensors/+/data' WHERE temp > 30"
  iotsql check @rule.sql --sql-version 2015-10-08
  iotsql check --format sarif -o iotsql.sarif .   # for GitHub code scanning
  iotsql check --format github .                  # annotations in a GitHub Actions log
  iotsql check --ignore sql-version-default --extend-select no-error-action infra/
  iotsql check --parameters Stage=prod --parameters-file prod.tfvars infra/

Arguments are files and folders (CloudFormation and SAM templates, serverless.yml, Terraform
.tf/.tf.json and `terraform show -json` output, AWS CLI rule JSON, .sql files), or statements
("SELECT ...", @file, - for stdin). Each finding has a code (docs/check.md lists them with
their fixes). Exit status: 0 when clean or only warnings, 1 when any finding is an error,
2 for a usage error or an input that cannot be read. Defaults come from [tool.iotsql] in the
nearest pyproject.toml.
"""


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers, "check",
        help="lint topic rules in statements and infrastructure code (CloudFormation, SAM, "
        "Serverless, Terraform, AWS CLI JSON)",
        description="Check AWS IoT topic rules as CreateTopicRule and CloudFormation would, at\n"
        "their line and column in the file, and warn about legal SQL that does not mean what\n"
        "it seems to.",
        epilog=EPILOG,
    )  # fmt: skip
    parser.add_argument(
        "targets", nargs="*", metavar="PATH|SQL|@FILE|-",
        help="files and folders to check (default: the current folder), or statements",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=FORMATS, default=None,
        help="output: text (default), json, github (workflow annotations), sarif (SARIF 2.1.0)",
    )  # fmt: skip
    parser.add_argument("--output", "-o", metavar="FILE", help="write the output to FILE")
    parser.add_argument(
        "--select", action="append", metavar="CODES",
        help="report only these codes (comma-separated; ALL for every code)",
    )  # fmt: skip
    parser.add_argument(
        "--extend-select", action="append", metavar="CODES",
        help="report these codes too (those off by default, like no-error-action)",
    )  # fmt: skip
    parser.add_argument("--ignore", action="append", metavar="CODES",
                        help="do not report these codes")  # fmt: skip
    parser.add_argument("--warnings-as-errors", action="store_true", default=None,
                        help="report warnings as errors (exit status 1)")  # fmt: skip
    parser.add_argument(
        "--sql-version", "-V", default=None, choices=VERSIONS, metavar="VERSION",
        help=f"awsIotSqlVersion of statements and .sql files: {', '.join(VERSIONS)} "
        "(default: 2016-03-23); rules in templates use their own",
    )  # fmt: skip
    parser.add_argument(
        "--parameters", "--parameter", "-P", dest="parameters", action="append", default=[],
        metavar="KEY=VALUE",
        help="a CloudFormation parameter, Terraform variable or Serverless option (stage=prod); "
        "repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--parameters-file", metavar="FILE", action="append", default=[],
        help="parameter values from a file (CloudFormation JSON, .tfvars, JSON or YAML object, "
        "KEY=VALUE lines); repeatable, later files win",
    )  # fmt: skip
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip files and folders matching GLOB")  # fmt: skip
    parser.add_argument(
        "--config",
        metavar="PYPROJECT",
        help="read [tool.iotsql] from this file instead of the nearest one",
    )
    parser.add_argument("--isolated", action="store_true",
                        help="ignore every pyproject.toml")  # fmt: skip
    parser.set_defaults(handler=run)


def options_of(args: argparse.Namespace) -> Options:
    """The options: [tool.iotsql] (the nearest, or --config), then the command line."""
    try:
        if args.isolated:
            options = Options()
        elif args.config:
            options = load_config(Path(args.config))
        else:
            found = find_pyproject(Path.cwd())
            options = load_config(found) if found is not None else Options()
        changes: dict[str, Any] = {}
        if args.select:
            changes["select"] = codes_of(args.select, "--select")
        if args.extend_select:
            changes["extend_select"] = options.extend_select | codes_of(args.extend_select,
                                                                        "--extend-select")  # fmt: skip
        if args.ignore:
            changes["ignore"] = options.ignore | codes_of(args.ignore, "--ignore")
        if args.warnings_as_errors:
            changes["warnings_as_errors"] = True
        if args.sql_version:
            changes["sql_version"] = args.sql_version
        if args.format:
            changes["format"] = args.format
        if args.exclude:
            changes["exclude"] = (*options.exclude, *args.exclude)
        if args.parameters or args.parameters_file:
            changes["parameters"] = {**options.parameters, **parameters_of(args)}
    except ConfigError as error:
        raise CliError(str(error)) from None
    return replace(options, **changes)


#: How the loaders ask for a parameter value they were not given, in this command's terms.
PARAMETER_HINT = "give it with --parameters {name}=VALUE (or in a --parameters-file, or [tool.iotsql.parameters])"


def _looks_like_sql(text: str) -> bool:
    words = text.strip().split(None, 1)
    return bool(words) and (words[0].upper() in ("SELECT", "SET") or len(text.split()) > 1)


#: Files read as topic rule definitions even when given as `@FILE`.
RULE_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".template", ".tf")


def targets_of(args: argparse.Namespace) -> list[Statement | Path]:
    """Statements (text, `@file`, `-`) and paths, as the arguments give them."""
    targets: list[Statement | Path] = []
    stdin_used: list[str] = []
    for spec in args.targets or ["."]:
        if spec.startswith("@") and spec.lower().endswith(RULE_FILE_SUFFIXES):
            targets.append(Path(spec[1:]))  # `@template.yaml`: a file of rule definitions
        elif spec == "-" or spec.startswith("@"):
            sql, source = read_text(spec, "SQL", stdin_used=stdin_used)
            targets.append(Statement(sql, "sql" if source == "<argument>" else source))
        elif Path(spec).exists():
            targets.append(Path(spec))
        elif _looks_like_sql(spec):
            targets.append(Statement(spec))
        else:
            raise CliError(f"no such file or folder: {spec} (to check a statement, write it in "
                           "full: \"SELECT ... FROM '...'\")")  # fmt: skip
    return targets


def run(args: argparse.Namespace) -> int:
    from iotsql.loaders.parameters import declaring_parameters, parameter_hint

    options = options_of(args)
    targets = targets_of(args)
    with parameter_hint(PARAMETER_HINT), declaring_parameters() as declared:
        report = check(targets, options)
    # A misspelt --parameters name (Stge=prod) left the rules at their defaults, silently. A
    # warning, where `iotsql replay` and `iotsql test` refuse it: a pipeline may hand every
    # tool the same values, and files that define no rule are not read. Only the command
    # line's: a --parameters-file or [tool.iotsql.parameters] may serve other stacks too.
    unknown = declared.unknown(item.partition("=")[0].strip() for item in args.parameters)
    if unknown and report.examined and not report.unreadable:
        sys.stdout.flush()
        sys.stderr.write(f"iotsql check: warning: {declared.refusal(unknown, '--parameters')}\n")
    for problem in report.unreadable:
        sys.stdout.flush()
        sys.stderr.write(f"iotsql check: error: {problem}\n")
    text = render(report, options.format)
    if args.output:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise CliError(f"cannot write {args.output}: {error.strerror or error}") from None
    elif text:
        out(text)
    return report.exit_status
