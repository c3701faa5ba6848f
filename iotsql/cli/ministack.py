"""`iotsql ministack`: start ministack (installed in the same environment: `pip install
'iotsql[ministack]'`) with iotsql as its rules engine (`iotsql.ministack.install()`)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from iotsql.cli.common import CliError, err, new_parser, out

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

EPILOG = """\
examples:
  iotsql ministack                          # ministack on port 4566, iotsql its rules engine
  iotsql ministack --port 4567 --host 127.0.0.1
  iotsql ministack -d --port 4567           # in the background; stop it with:
  iotsql ministack --stop --port 4567
  LOG_LEVEL=DEBUG iotsql ministack -- ...   # ministack's settings are environment variables;
                                            # arguments after -- go to ministack's command

Topic rules created in ministack (boto3, the AWS CLI, CloudFormation) are validated by iotsql
(SqlParseException with line and column) and evaluated by iotsql on every HTTP iot-data Publish
and MQTT-over-WebSocket publish; their actions land in ministack's services. iotsql's dead
letters are logged (logger iotsql.ministack). See docs/ministack.md.

exit status: 0 stopped normally; 1 ministack refused to start (port in use), or --stop found
no server to stop; 2 ministack is missing or its version is not supported.
"""


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers, "ministack",
        help="start ministack with iotsql as its rules engine",
        description="Start ministack, the local AWS emulator, with iotsql as the rules engine of\n"
        "its IoT Core (ministack must be installed here: pip install 'iotsql[ministack]').",
        epilog=EPILOG,
    )  # fmt: skip
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="the gateway port (ministack's GATEWAY_PORT; default 4566)",
    )
    parser.add_argument(
        "--host",
        default=None,
        help="the interface to listen on (ministack's BIND_HOST; default 0.0.0.0)",
    )
    parser.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="run in the background, logging to $TMPDIR/ministack-PORT.log",
    )
    parser.add_argument(
        "--stop", action="store_true", help="stop the server started with -d on --port"
    )
    parser.add_argument("ministack_args", nargs=argparse.REMAINDER, metavar="-- ARGS",
                        help="further arguments for ministack's own command")  # fmt: skip
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    rest = list(args.ministack_args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if args.port is not None:
        if not 0 < args.port < 65536:
            raise CliError(f"--port {args.port} is not a TCP port")
        os.environ["GATEWAY_PORT"] = str(args.port)  # read when ministack.app is imported
    if args.host is not None:
        os.environ["BIND_HOST"] = args.host
    port = os.environ.get("GATEWAY_PORT") or os.environ.get("EDGE_PORT") or "4566"
    if args.stop:
        return _stop(port)
    if args.detach:
        return _detach(port, args.host, rest)
    from iotsql import __version__
    from iotsql.ministack import install

    host = install()
    err(f"iotsql {__version__} is the rules engine of ministack {host.version}")
    from ministack.app import main as ministack_main

    sys.argv = ["ministack", *rest]
    ministack_main()
    return 0


def _pid_file(port: str) -> Path:
    """Where a foreground ministack writes its PID (ministack's own convention)."""
    return Path(tempfile.gettempdir()) / f"ministack-{port}.pid"


def _detach(port: str, host: str | None, rest: list[str]) -> int:
    """Start `iotsql ministack` in the background (ministack's own -d would start a server
    without iotsql), logging where ministack -d logs; `--stop` stops it the same way."""
    from iotsql.ministack import usable_version

    usable_version()  # fail here, not silently in the background
    log_path = _pid_file(port).with_suffix(".log")
    command = [sys.executable, "-m", "iotsql", "ministack", "--port", port]
    if host is not None:
        command += ["--host", host]
    if rest:
        command += ["--", *rest]
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    out(f"ministack with iotsql started in the background (PID {process.pid}) on port {port}.")
    out(f"  Logs: {log_path}")
    out(f"  Stop: iotsql ministack --stop --port {port}")
    return 0


def _stop(port: str) -> int:
    """Stop the server started with -d on `port` and wait until it is gone. (ministack's own
    --stop races the server, which removes its PID file as it stops.)"""
    path = _pid_file(port)
    try:
        pid = int(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        raise CliError(f"no ministack runs on port {port} (no {path})", 1) from None
    except ValueError:
        raise CliError(f"{path} does not hold a PID", 1) from None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        out(f"ministack (PID {pid}) on port {port} was not running.")
        return 0
    deadline = time.monotonic() + 30
    while _alive(pid):
        if time.monotonic() > deadline:
            raise CliError(f"ministack (PID {pid}) did not stop within 30 s", 1)
        time.sleep(0.1)
    path.unlink(missing_ok=True)
    out(f"ministack (PID {pid}) on port {port} stopped.")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the PID
        return False
    return True
