"""iotsql moto-server: moto's server with iotsql as its rules engine, a drop-in for `moto_server`.

It takes moto_server's options and serves the same API; in addition, every `iot-data` publish
runs the matching topic rules and their actions go to this same server (iotsql.moto).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from iotsql.cli.common import CliError, new_parser

if TYPE_CHECKING:
    from iotsql.cli.common import Subparsers

EPILOG = """\
examples:
  iotsql moto-server                      # http://127.0.0.1:5000, as moto_server
  iotsql moto-server -H 0.0.0.0 -p 4566   # reachable from containers (Lambda, other services)

Then point any SDK at it (AWS_ENDPOINT_URL=http://127.0.0.1:5000): create queues, tables and
topic rules, publish with `aws iot-data publish`, and read the results back.

exit status: the server runs until stopped; 2 if moto is missing or unsupported.
"""


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers,
        "moto-server",
        help="run moto's server with iotsql as its rules engine",
        description=(__doc__ or "").split("\n\n")[0].split(": ", 1)[-1],
        epilog=EPILOG,
    )
    parser.add_argument("-H", "--host", default="127.0.0.1", help="the address to bind")
    parser.add_argument("-p", "--port", type=int, default=None,
                        help="the port (default: $MOTO_PORT, else 5000)")  # fmt: skip
    parser.add_argument("-r", "--reload", action="store_true",
                        help="restart the server when a file changes")  # fmt: skip
    parser.add_argument("-s", "--ssl", action="store_true",
                        help="serve HTTPS with a generated certificate")  # fmt: skip
    parser.add_argument("-c", "--ssl-cert", help="the certificate file for HTTPS")
    parser.add_argument("-k", "--ssl-key", help="the private key file for HTTPS")
    parser.set_defaults(handler=run)


def _port(given: int | None) -> int:
    """--port, else $MOTO_PORT, else 5000; checked here, since a port out of range would be
    wrapped by the server (99999 listens on 34463) while the actions call the one given, and
    the environment variable is read only by this command (a bad one must not break others)."""
    if given is not None:
        if not 0 < given < 65536:
            raise CliError(f"--port {given} is not a TCP port (1 to 65535)")
        return given
    text = os.environ.get("MOTO_PORT", "").strip() or "5000"
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise CliError(f"MOTO_PORT={text!r} is not a TCP port (1 to 65535): set it or give --port")
    return port


def run(args: argparse.Namespace) -> int:
    from iotsql import moto as host

    port = _port(args.port)
    try:
        server: Any = importlib.import_module("moto.server")
    except ImportError as err:
        raise CliError(f"moto's server is not installed ({err}): pip install 'iotsql[moto]'") \
            from None  # fmt: skip
    https = bool(args.ssl or (args.ssl_cert and args.ssl_key))
    endpoint = host.server_url(args.host, port, "https" if https else "http")
    try:
        host.install(endpoint_url=endpoint)
    except (host.UnsupportedMotoError, ImportError) as err:
        raise CliError(str(err)) from None
    if https:  # the actions call this server, whose certificate is its own
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    argv = ["-H", args.host, "-p", str(port)]
    argv += ["-r"] if args.reload else []
    argv += ["-s"] if args.ssl else []
    argv += ["-c", args.ssl_cert] if args.ssl_cert else []
    argv += ["-k", args.ssl_key] if args.ssl_key else []
    print(f"iotsql: topic rules run on every iot-data publish; actions go to {endpoint}",
          file=sys.stderr, flush=True)  # fmt: skip
    server.main(argv)
    return 0
