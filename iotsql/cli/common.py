"""What the `iotsql` commands share: reading `SQL|@file|-` and `JSON|@file|-` arguments, the
message arguments (`--payload`, `--topic`, `--context`, `--clientid`, `--timestamp`), printing
JSON and outputs, and `CliError`, the one way a command reports a user error."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from iotsql.errors import IotSqlError
from iotsql.limits import DEFAULT_LIMITS
from iotsql.loaders.bounds import read_at_most
from iotsql.message import Context
from iotsql.values import UNDEFINED, Binary, SqlVersion, decode_json, json_text

if TYPE_CHECKING:
    from iotsql.output import Output

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

#: The SQL version the CLI uses when none is given (the recommended one, as `iotsql.compile`).
DEFAULT_VERSION = "2016-03-23"
VERSIONS = tuple(v.value for v in SqlVersion)


class CliError(Exception):
    """A problem the user can fix; `main` prints it (no traceback) and exits with `code`."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ---- printing ----------------------------------------------------------------------------------


def out(text: str = "") -> None:
    """A line on stdout."""
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    """A line on stderr, after whatever stdout holds, so that a merged stream keeps its order."""
    sys.stdout.flush()
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def write_bytes(data: bytes) -> None:
    """Bytes on stdout, exactly."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def is_tty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def dumps(value: Any, pretty: bool = False) -> str:
    """JSON text: indented when `pretty`, else compact (as AWS serialises outputs)."""
    if pretty:
        return json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return str(value)


def show_value(value: Any) -> str:
    """An evaluated SQL value for people: `Undefined`, JSON text, or a binary body's size."""
    if value is UNDEFINED:
        return "Undefined"
    if isinstance(value, (bytes, Binary)):
        return f"<binary body, {len(value)} bytes>"
    try:
        return json_text(value)
    except (TypeError, ValueError):
        return repr(value)


def print_output(output: Output, *, pretty: bool, raw: bool) -> None:
    """What a rule that fired emits: pretty or compact JSON; a binary body as base64 with a
    note on stderr, or its exact bytes with `raw`. With `raw`, a JSON output is written as the
    exact body the actions receive, without a final newline."""
    body = output.to_bytes()
    if raw:
        write_bytes(body)
        return
    if output.is_binary:
        if not body:  # (why is said by the notes of iotsql.cli.explain.undefined_items)
            return
        out(base64.b64encode(body).decode("ascii"))
        err(f"note: the output is a binary body ({len(body)} bytes), shown as base64; "
            "use --raw to write the bytes")  # fmt: skip
        return
    if pretty:
        out(dumps(output.value, pretty=True))
    else:
        write_bytes(body + b"\n")


# ---- arguments: text, bytes, JSON ----------------------------------------------------------------


def read_source(
    spec: str,
    what: str,
    *,
    stdin_used: list[str] | None = None,
    limit: int | None = None,
    limit_name: str = "Limits.max_document_bytes",
) -> tuple[bytes, str]:
    """The bytes an argument names: `@path` (a file), `-` (stdin) or the argument itself.
    Returns (bytes, where they came from). `stdin_used` guards against two arguments both
    reading stdin. At most `limit` bytes are read (`limit_name` says which limit that is):
    `@/dev/zero` or an endless pipe is an error, not exhausted memory."""
    limit = DEFAULT_LIMITS.max_document_bytes if limit is None else limit
    if spec == "-":
        if stdin_used is not None:
            if stdin_used:
                raise CliError(f"{what} and {stdin_used[0]} cannot both read stdin ('-')")
            stdin_used.append(what)
        data, source = read_at_most(sys.stdin.buffer, limit + 1), "<stdin>"
    elif spec.startswith("@"):
        path = Path(spec[1:]).expanduser()
        try:
            with path.open("rb") as handle:
                data, source = read_at_most(handle, limit + 1), str(path)
        except FileNotFoundError:
            raise CliError(f"{what}: no such file: {path}") from None
        except IsADirectoryError:
            raise CliError(f"{what}: {path} is a folder, not a file") from None
        except OSError as error:
            raise CliError(f"{what}: cannot read {path}: {error.strerror or error}") from None
    else:
        try:  # argv bytes that are not UTF-8 come back as they were given
            data, source = spec.encode("utf-8", "surrogateescape"), "<argument>"
        except UnicodeEncodeError as error:
            raise CliError(f"{what}: the argument is not text (character {error.start})") from None
    if len(data) > limit:
        raise CliError(f"{what}: {source} is larger than {limit:,} bytes ({limit_name})")
    return data, source


def read_text(
    spec: str,
    what: str,
    *,
    stdin_used: list[str] | None = None,
    limit: int | None = None,
    limit_name: str = "Limits.max_document_bytes",
) -> tuple[str, str]:
    """`read_source` decoded as UTF-8 text."""
    data, source = read_source(spec, what, stdin_used=stdin_used, limit=limit,
                               limit_name=limit_name)  # fmt: skip
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError as error:
        raise CliError(f"{what}: {source} is not UTF-8 text (byte {error.start})") from None


def file_hint(spec: str, what: str) -> str | None:
    """For an argument that is text, `@FILE` or `-`: when the text given is the name of a file
    (`iotsql eval rule.sql`, `--payload message.json`), the hint that `@` reads the file, since
    the name itself was taken as the text. None otherwise."""
    if spec.startswith(("@", "-")) or "\n" in spec or len(spec) > 4096:
        return None
    try:
        if not Path(spec).expanduser().is_file():
            return None
    except (OSError, ValueError):  # a name the system cannot look up is no file
        return None
    return f"hint: {spec} is a file, but {what} is taken as written: write @{spec} to read the file"


def read_json(spec: str, what: str, *, stdin_used: list[str] | None = None) -> Any:
    """A JSON argument (`JSON`, `@file` or `-`); invalid JSON is an error naming the spot."""
    text, source = read_text(spec, what, stdin_used=stdin_used)
    where = "" if source == "<argument>" else f" in {source}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        hint = file_hint(spec, what)
        raise CliError(
            f"{what} is not valid JSON{where}: {error.msg} "
            f"(line {error.lineno}, column {error.colno})" + (f"\n{hint}" if hint else "")
        ) from None
    except RecursionError:
        raise CliError(f"{what} is nested too deeply to read{where}") from None


@dataclass(frozen=True)
class Payload:
    """A message body and what it is: JSON (`document` is its value) or not (`problem` says
    why; AWS IoT then treats the body as binary)."""

    body: bytes
    source: str = "<argument>"
    document: Any = None
    problem: str | None = None
    hint: str | None = None  # the argument named a file without @ (file_hint)

    @classmethod
    def of(cls, body: bytes, source: str = "<argument>") -> Payload:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            return cls(body, source, None, f"it is not UTF-8 text (byte {error.start})")
        if not text.strip():
            return cls(body, source, None, "it is empty")
        try:
            # (the engine's own reading: NaN, Infinity and 1e400 make the body binary)
            document = decode_json(text, whole_ints=False)
        except json.JSONDecodeError as error:
            return cls(body, source, None,
                       f"{error.msg} at line {error.lineno}, column {error.colno}")  # fmt: skip
        except (ValueError, RecursionError) as error:
            return cls(body, source, None, str(error) or "it is nested too deeply")
        return cls(body, source, document, None)

    @property
    def is_json(self) -> bool:
        return self.problem is None

    def note(self) -> str | None:
        """Why the body is binary, for a note on stderr; None for a JSON body."""
        if self.problem is None:
            return None
        return (
            f"note: the payload is not JSON ({self.problem}), so it is a binary body, as AWS IoT "
            f"treats it: SELECT * passes its {len(self.body)} bytes through and attributes "
            "read from it are Undefined" + (f"\n{self.hint}" if self.hint else "")
        )

    def describe(self) -> str:
        if self.problem is None:
            kind = type(self.document).__name__
            kinds = {"dict": "object", "list": "array", "str": "string", "NoneType": "null"}
            return f"JSON {kinds.get(kind, kind)}, {len(self.body)} bytes"
        return f"binary, {len(self.body)} bytes (not JSON: {self.problem})"


DEFAULT_PAYLOAD = b"{}"


def load_payload(
    spec: str | None, *, stdin_used: list[str] | None = None, what: str = "--payload"
) -> Payload:
    """The `--payload` argument (or what `what` names: the REPL's `.payload`): JSON text,
    `@file` or `-`; absent means `{}`."""
    if spec is None:
        return Payload.of(DEFAULT_PAYLOAD)
    body, source = read_source(spec, what, stdin_used=stdin_used,
                               limit=DEFAULT_LIMITS.max_payload_bytes,
                               limit_name="Limits.max_payload_bytes: the broker refuses a larger payload")  # fmt: skip
    payload = Payload.of(body, source)
    if not payload.is_json and source == "<argument>":
        payload = dataclasses.replace(payload, hint=file_hint(spec, what))
    return payload


def parse_timestamp(text: str) -> int:
    """`--timestamp`: milliseconds since the epoch, or an ISO 8601 date-time (UTC if naive)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{text!r} is neither milliseconds since the epoch (1700000000000) "
            "nor an ISO 8601 date-time (2023-11-14T22:13:20Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def build_context(
    context: Any = None, clientid: str | None = None, timestamp: int | None = None
) -> dict[str, Any] | None:
    """The message context: the `--context` object, with `--clientid` and `--timestamp` on top;
    checked now so that a bad key is a clear error."""
    if context is not None and not isinstance(context, Mapping):
        raise CliError('--context must be a JSON object, for example \'{"clientid": "d1"}\'')
    merged: dict[str, Any] = dict(context or {})
    if clientid is not None:
        merged["clientid"] = clientid
    if timestamp is not None:
        merged["timestamp"] = timestamp
    if not merged:
        return None
    try:
        Context.of(merged)
    except IotSqlError as error:
        raise CliError(f"invalid context: {error}") from None
    except TypeError as error:
        raise CliError(f"invalid context: {error}") from None
    return merged


def add_message_arguments(parser: argparse.ArgumentParser, *, payload_default: str) -> None:
    """`--payload`, `--topic`, `--clientid`, `--timestamp`, `--context`."""
    parser.add_argument(
        "--payload", "-p", metavar="JSON|@FILE|-",
        help=f"the message body: JSON text, @file or - for stdin (default: {payload_default}); "
        "a body that is not JSON is a binary body, as in AWS IoT",
    )  # fmt: skip
    parser.add_argument(
        "--topic", "-t", metavar="TOPIC",
        help="the topic the message was published on; without it FROM is not checked and "
        "topic() is Undefined",
    )  # fmt: skip
    parser.add_argument("--clientid", metavar="ID", help="the client id (clientid())")
    parser.add_argument(
        "--timestamp", metavar="MS|ISO", type=_timestamp_arg,
        help="the time of the publish (timestamp()): ms since the epoch or ISO 8601",
    )  # fmt: skip
    parser.add_argument(
        "--context", metavar="JSON|@FILE",
        help="the message context as in conformance cases: clientid, principal, timestamp, "
        "accountid, sourceip, traceid, protocol, userProperties, mqttProperties",
    )  # fmt: skip


class _GivenVersion(argparse.Action):
    """Stores --sql-version and remembers that it was given (`args.sql_version_given`)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
        option_string: str | None = None,
    ) -> None:  # fmt: skip
        setattr(namespace, self.dest, values)
        namespace.sql_version_given = True


def add_version_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sql-version", "-V", default=DEFAULT_VERSION, choices=VERSIONS, metavar="VERSION",
        action=_GivenVersion,
        help=f"awsIotSqlVersion: {', '.join(VERSIONS)} (default: {DEFAULT_VERSION}; a topic "
        "rule without awsIotSqlVersion runs as 2015-10-08, the API's default)",
    )  # fmt: skip
    parser.set_defaults(sql_version_given=False)


def version_note(version: str) -> str:
    """What the commands that default to 2016-03-23 say about the version they used."""
    return (
        f"note: SQL version {version} (iotsql's default; a topic rule without awsIotSqlVersion "
        "runs as 2015-10-08, the API's default): pass --sql-version to choose"
    )


def add_shape_arguments(parser: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    """`--pretty` and `--compact`, for a command that prints JSON outputs: indented on a
    terminal, compact (the body the actions receive) when piped, unless one says otherwise.
    Returns their group, for the command's other mutually exclusive shapes (`--raw`)."""
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument(
        "--pretty", action="store_true", help="indent the JSON output, even when piped"
    )
    shape.add_argument("--compact", action="store_true", help="compact JSON even on a terminal")
    return shape


def _timestamp_arg(text: str) -> int:
    try:
        return parse_timestamp(text)
    except CliError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def context_from_args(args: argparse.Namespace, stdin_used: list[str] | None = None) -> Any:
    """The context the message arguments describe (None when none is given)."""
    raw = read_json(args.context, "--context", stdin_used=stdin_used) if args.context else None
    return build_context(raw, args.clientid, args.timestamp)


def new_parser(
    subparsers: Subparsers, name: str, *, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """A subcommand parser with the examples of its epilog kept as written."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def parameters_of(args: argparse.Namespace) -> dict[str, Any]:
    """The values of --parameters-file files, in order, then of --parameters on top."""
    from iotsql.loaders.parameters import ParametersFileError, read_parameters

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
