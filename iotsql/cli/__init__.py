"""The `iotsql` command: `main(argv)` parses the arguments and runs a subcommand.

Each subcommand is a module of this package listed in `COMMANDS`, with either
`register(subparsers)`, which adds its parser (`new_parser` in `iotsql.cli.common`) and sets
`handler`, a function taking the parsed arguments and returning the exit status; or
`add_arguments(parser)` and `run_command(args) -> int` (then the parser's help is the first
line of the module's docstring, and its epilog the module's `EPILOG` when it has one). A listed module that does not exist is skipped, so `bench`
appears once `iotsql/cli/bench.py` exists (the modules parse arguments and call the library).

Errors never reach the user as tracebacks: `CliError`, every `IotSqlError` and `OSError` are
printed as one message, with exit status 2 unless the command says otherwise; anything else is
a bug, reported in one line too (IOTSQL_DEBUG=1 shows its traceback).
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from iotsql import __version__
from iotsql.cli.common import CliError, err, new_parser
from iotsql.errors import IotSqlError

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

#: The subcommands, in the order `iotsql --help` lists them.
COMMANDS = (
    "eval",
    "check",
    "test",
    "replay",
    "repl",
    "bench",
    "bridge",
    "moto_server",
    "ministack",
)

DESCRIPTION = """\
The AWS IoT Core rules engine on your machine: evaluate a rule's SQL on a message, lint it,
run conformance cases, replay recorded messages through topic rules, or debug in a shell."""

EPILOG = """\
examples:
  iotsql eval "SELECT temp FROM 'sensors/+' WHERE temp > 30" -p '{"temp": 31}' -t sensors/a
  iotsql check @rule.sql
  iotsql test conformance/
  iotsql replay rules.json messages.jsonl
  iotsql repl
  iotsql bridge rules.json --broker mqtt://localhost:1883

`iotsql COMMAND --help` describes each command, with examples.
"""


def _command_module(name: str) -> ModuleType | None:
    qualified = f"{__name__}.{name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as error:
        if error.name == qualified:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iotsql",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"iotsql {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _command_module(name)
        if module is not None:
            _register(name, module, subparsers)
    return parser


def _register(name: str, module: ModuleType, subparsers: Subparsers) -> None:
    if hasattr(module, "register"):
        module.register(subparsers)
        return
    doc = (module.__doc__ or "").strip()
    summary = doc.splitlines()[0] if doc else name
    summary = summary.split(": ", 1)[-1].rstrip(".")
    parser = new_parser(subparsers, name, help=summary, description=doc.split("\n\n")[0],
                        epilog=getattr(module, "EPILOG", ""))  # fmt: skip
    module.add_arguments(parser)
    parser.set_defaults(handler=module.run_command)


def _refuse_unknown(parser: argparse.ArgumentParser, command: str | None,
                    unknown: list[str]) -> None:  # fmt: skip
    """Exit with a usage error about `unknown` arguments from the command's own parser (its
    usage, `iotsql eval: error: ...`), naming the option probably meant. `parse_args` would
    report them from the top-level parser, with the usage of `iotsql` itself."""
    from iotsql.suggest import alternatives, closest

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            parser = action.choices[command]
    message = f"unrecognized arguments: {' '.join(unknown)}"
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    for given in unknown:
        if given.startswith("--"):
            meant = closest(given.split("=", 1)[0], options)
            if meant:
                message += f" (did you mean {alternatives(meant)}?)"
                break
    parser.error(message)


def _refuse_unknown_command(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """`iotsql evl` exits with the command meant (`did you mean eval?`) rather than argparse's
    list of every command."""
    from iotsql.suggest import did_you_mean

    commands = [name for action in parser._actions
                if isinstance(action, argparse._SubParsersAction) for name in action.choices]  # fmt: skip
    if not argv or argv[0].startswith("-") or argv[0] in commands:
        return
    parser.error(f"unknown command {argv[0]!r}{did_you_mean(argv[0], commands)} (the commands: "
                 f"{', '.join(commands)})")  # fmt: skip


def _tolerant_streams() -> None:
    """Characters the terminal's encoding lacks are escaped rather than fatal."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run `iotsql` with `argv` (default: the process arguments); returns the exit status."""
    _tolerant_streams()
    parser = build_parser()
    try:
        _refuse_unknown_command(parser, sys.argv[1:] if argv is None else list(argv))
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            _refuse_unknown(parser, args.command, unknown)
    except SystemExit as exit:  # --help, --version, usage errors
        return exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = args.handler(args)
    except CliError as error:
        err(f"iotsql {args.command}: error: {error.message}")
        return error.code
    except IotSqlError as error:
        err(f"iotsql {args.command}: error: {error}")
        return 2
    except BrokenPipeError:
        # The reader went away (`iotsql replay ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        err(f"iotsql {args.command}: error: {error.strerror or error}{where}")
        return 2
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except Exception as error:  # a bug: one line, unless IOTSQL_DEBUG asks for the traceback
        if os.environ.get("IOTSQL_DEBUG"):
            raise
        err(f"iotsql {args.command}: internal error: {type(error).__name__}: {error} "
            "(set IOTSQL_DEBUG=1 to see the traceback)")  # fmt: skip
        return 2
    return status
