"""`iotsql bench`: time iotsql against hand-written Python doing the same work.

The command only parses its arguments and prints; the workload, the baselines and the runner
are the `iotsql.benchmark` package (benchmarks/README.md describes what is measured)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from iotsql.benchmark.errors import BenchmarkError
from iotsql.benchmark.replay import DEFAULT_REPLAY_MESSAGES
from iotsql.benchmark.report import format_report
from iotsql.benchmark.runner import (
    DEFAULT_MESSAGES,
    DEFAULT_REPEAT,
    DEFAULT_RULES,
    DEFAULT_SEED,
    OPTIONAL_SECTIONS,
    SECTIONS,
    run,
)
from iotsql.replay.distributed import ReplayError

EPILOG = """\
examples:
  iotsql bench                                   every section but replay (about two minutes)
  iotsql bench --section rules --messages 5000   R1..R5 only, on fewer messages
  iotsql bench --section replay                  replay on 1 and 2 Dask workers (iotsql[dask])
  iotsql bench --json > bench.json               every figure and target, as JSON

Each ratio compares iotsql with hand-written Python doing the same work in the same process,
after checking that both give the same bytes on every message (benchmarks/README.md).

exit status: 0 the run finished (whether or not every target was met; the last line names
the misses); 1 iotsql and a hand-written baseline disagreed on an output; 2 an invalid
argument, or the replay section could not run (Dask missing, a cluster that failed).
"""


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _sections(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    known = (*SECTIONS, *OPTIONAL_SECTIONS)
    unknown = [s for s in chosen if s not in known]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown) or '(none)'}: choose from {','.join(known)}"
        )
    return chosen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `iotsql bench`, for a parser or a sub-command parser."""
    parser.add_argument(
        "--messages", type=_positive, default=DEFAULT_MESSAGES, metavar="N",
        help=f"messages per rule and per routing row (default {DEFAULT_MESSAGES:,})",
    )  # fmt: skip
    parser.add_argument(
        "--rules", type=_positive, default=DEFAULT_RULES, metavar="N",
        help=f"routing rules (default {DEFAULT_RULES:,})",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=_positive, default=DEFAULT_REPEAT, metavar="N",
        help=f"runs per measurement, the best is kept (default {DEFAULT_REPEAT})",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED,
        help=f"seed of the generated workload (default {DEFAULT_SEED})",
    )  # fmt: skip
    parser.add_argument(
        "--section", type=_sections, default=list(SECTIONS), metavar=",".join((*SECTIONS, *OPTIONAL_SECTIONS)),
        help="the sections to run, comma-separated (default: all but replay, which starts Dask "
        "clusters: --section replay runs it)",
    )  # fmt: skip
    parser.add_argument(
        "--replay-messages", type=_positive, default=DEFAULT_REPLAY_MESSAGES, metavar="N",
        help=f"messages of the replay section (default {DEFAULT_REPLAY_MESSAGES:,})",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run_command(args: argparse.Namespace) -> int:
    """Run `iotsql bench` for parsed arguments: 0, or 1 when iotsql and a hand-written
    baseline disagree (the outputs must be identical for the numbers to mean anything)."""

    def progress(section: str) -> None:
        if sys.stderr.isatty():
            print(f"bench: {section}...", file=sys.stderr, flush=True)

    try:
        report = run(args.section, args.messages, args.rules, args.repeat, args.seed, progress,
                     args.replay_messages)  # fmt: skip
    except BenchmarkError as err:
        print(f"iotsql bench: correctness check failed: {err}", file=sys.stderr)
        return 1
    except ReplayError as err:  # the replay section: Dask missing, a cluster that failed
        print(f"iotsql bench: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`iotsql bench [--messages N] [--rules N] [--repeat N] [--json] [--section ...]`."""
    parser = argparse.ArgumentParser(
        prog="iotsql bench",
        description="Time iotsql against hand-written Python doing the same work.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
