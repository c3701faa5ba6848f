"""`iotsql repl`: an interactive shell to debug statements against a message, the way one
debugs SQL in psql.

On a terminal it runs on prompt_toolkit: multi-line statements (one ends with `;` or an empty
line), a history file (~/.iotsql_history, or $IOTSQL_HISTORY), highlighting, and completion of
keywords, functions and the payload's keys. Otherwise (stdin or stdout not a terminal) it reads
statements and dot-commands line by line and prints plain text, so it can be scripted: stdout
then holds only what was asked for (each output as the compact JSON `iotsql eval` prints), and
the messages (confirmations, notes, errors, why a rule did not fire) go to stderr:

    printf '.payload {"a":1}\\nSELECT a FROM "t"\\n' | iotsql repl
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from iotsql.cli.check import diagnostic_of_error, lint_rule
from iotsql.cli.common import (
    DEFAULT_VERSION,
    VERSIONS,
    CliError,
    Payload,
    add_message_arguments,
    add_shape_arguments,
    add_version_argument,
    build_context,
    dumps,
    err,
    is_tty,
    load_payload,
    new_parser,
    read_json,
)
from iotsql.cli.explain import explain_lines, undefined_items, why_not
from iotsql.errors import IotSqlError, SqlParseError
from iotsql.functions.registry import REGISTRY
from iotsql.rule import CompiledRule
from iotsql.suggest import IDENTIFIER, sql_string
from iotsql.topics import validate_topic
from iotsql.values import SqlVersion, type_name

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.formatted_text import StyleAndTextTuples

    from iotsql.cli.common import Subparsers

EPILOG = """\
examples:
  iotsql repl
  iotsql repl --payload @message.json --topic sensors/d1/data
  printf '.payload {"a": 1}\\nSELECT a FROM "t"\\n' | iotsql repl

In the shell, type a statement and end it with ';' or an empty line; dot-commands set the
message: .payload JSON|@file, .edit, .topic T, .version V, .context JSON, .clientid X,
.explain [SQL], .show, .help, .quit. As in sqlite3, psql and litecli, help, quit, exit, \\q and
\\? work too. A dot-command typed on a continuation line cancels the unfinished statement.
Tab completes keywords, functions and payload keys (nested paths too: state.rep<Tab>; a key
that is not an identifier as get(*, 'battery-level')). Ctrl-R searches the history; Enter puts
the statement found in the prompt. The history is kept in ~/.iotsql_history, or in the file
$IOTSQL_HISTORY names.

When stdin or stdout is not a terminal, the statements and dot-commands are read line by line,
with no prompt; stdout holds the outputs (compact JSON, as iotsql eval prints them) and what
.show, .explain, .payload and .help print, stderr the other messages; the exit status is 1 if a
statement or command was invalid.
"""

KEYWORDS = (
    "SELECT", "VALUE", "FROM", "WHERE", "AS", "SET", "AND", "OR", "NOT", "IN", "EXISTS", "CASE",
    "WHEN", "THEN", "ELSE", "END", "TRUE", "FALSE", "NULL",
)  # fmt: skip
_KEYWORD_SET = frozenset(k.lower() for k in KEYWORDS)

HELP = """\
Type a statement and end it with ';' or an empty line; it runs on the current message.
  .payload JSON|@file   set the payload (a body that is not JSON is binary); alone: show it
  .edit                 edit the payload in $VISUAL or $EDITOR
  .topic TOPIC          set the topic (FROM is then checked); alone: no topic
  .version VERSION      set the SQL version (2015-10-08, 2016-03-23, beta)
  .context JSON|@file   set the context (principal, timestamp, ...); alone: clear it
  .clientid ID          set the client id; alone: clear it
  .explain [SQL]        the AST and the value of each SELECT item and of WHERE
  .show                 the current settings
  .help                 this help (also: help, \\?)
  .quit                 leave (also: .exit, quit, exit, \\q, Ctrl-D)
A dot-command on a continuation line cancels the unfinished statement. Tab completes keywords,
functions and payload keys; Ctrl-R searches the history."""

#: The commands of sqlite3, psql and litecli users type from habit, as the dot-command they
#: mean. Backslash commands are commands anywhere; the bare words only as a whole input, since
#: inside a statement `help` or `exit` may well be a payload key.
BACKSLASH_COMMANDS = {"\\q": ".quit", "\\quit": ".quit", "\\?": ".help", "\\h": ".help"}
WORD_COMMANDS = {"help": ".help", "quit": ".quit", "exit": ".quit"}


def is_command_line(line: str) -> bool:
    """Whether a line is a command wherever it appears: `.name ...` or `\\name`."""
    return line.lstrip().startswith((".", "\\"))


def as_command(text: str) -> str | None:
    """The dot-command a whole input means (`quit;` -> `.quit`, `\\?` -> `.help`), the input
    itself for a dot-command, or None for a statement."""
    stripped = text.strip()
    if stripped.startswith("."):
        return stripped
    if stripped.startswith("\\"):
        name, _, rest = stripped.partition(" ")
        return f"{BACKSLASH_COMMANDS.get(name.lower(), name)} {rest}".strip()
    return WORD_COMMANDS.get(stripped.rstrip(";").rstrip().lower())


def split_cancelled(text: str) -> tuple[str, str]:
    """An input whose last line is a command after unfinished statement lines, as (the
    unfinished statement, the command); ("", text) for any other input."""
    lines = text.strip().split("\n")
    if len(lines) > 1 and is_command_line(lines[-1]) and as_command(lines[0]) is None:
        return "\n".join(lines[:-1]).strip(), lines[-1].strip()
    return "", text


def register(subparsers: Subparsers) -> None:
    parser = new_parser(
        subparsers, "repl",
        help="an interactive shell to debug statements",
        description="An interactive shell: set a message, run statements on it, see why a\n"
        "rule does not fire.",
        epilog=EPILOG,
    )  # fmt: skip
    add_message_arguments(parser, payload_default="{}")
    add_version_argument(parser)
    add_shape_arguments(parser)
    parser.set_defaults(handler=run)


# ---- the session: state and commands, independent of the terminal -------------------------------


#: The hint of a statement that runs into the next one: the REPL reads on until `;` or an
#: empty line, so two statements on consecutive lines are one statement to it.
UNTERMINATED_HINT = (
    "this line starts another statement: end each statement with ';' or an empty line"
)


def _starts_another_statement(error: SqlParseError) -> bool:
    """Whether the error is at a SELECT (or SET) that begins a line after the first."""
    lines = error.sql.splitlines()
    if not 1 < error.line <= len(lines):
        return False
    line = lines[error.line - 1]
    before, words = line[: error.column - 1], line[error.column - 1 :].split(maxsplit=1)
    return not before.strip() and bool(words) and words[0].upper() in ("SELECT", "SET")


class Session:
    """The REPL's state (the message and the SQL version) and what each input does.

    `write` receives what the user asked to see (outputs, `.show`, `.explain`, `.help`), `tell`
    the messages about it (confirmations, notes, warnings, errors, why a rule did not fire); in
    a terminal both go to the screen, in a script `tell` goes to stderr. Outputs are indented
    JSON when `pretty`, else the compact body the actions receive, as `iotsql eval` prints it.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        payload: Payload | None = None,
        *,
        tell: Callable[[str], None] | None = None,
        pretty: bool = True,
    ) -> None:
        self.write = write
        self.tell = tell or write
        self.pretty = pretty
        self.payload = payload or load_payload(None)
        self.topic: str | None = None
        self.version = DEFAULT_VERSION
        self.context: dict[str, Any] = {}
        self.clientid: str | None = None
        self.last_sql: str | None = None
        self.failures = 0
        self.done = False
        self.history: str | None = None
        self.commands: dict[str, Callable[[str], None]] = {
            ".payload": self.cmd_payload,
            ".edit": self.cmd_edit,
            ".topic": self.cmd_topic,
            ".version": self.cmd_version,
            ".context": self.cmd_context,
            ".clientid": self.cmd_clientid,
            ".explain": self.cmd_explain,
            ".show": self.cmd_show,
            ".help": self.cmd_help,
            ".quit": self.cmd_quit,
            ".exit": self.cmd_quit,
        }

    def effective_context(self) -> dict[str, Any] | None:
        return build_context(self.context or None, self.clientid)

    def execute(self, text: str) -> None:
        """Run one complete input: a dot-command (or its sqlite3/psql spelling) or a statement.
        A command typed on a continuation line cancels the unfinished statement above it."""
        cancelled, text = split_cancelled(text.strip())
        if cancelled:
            self.tell(
                f"note: the unfinished statement was cancelled by the command {text.split()[0]} "
                "(end a statement with ';' or an empty line to run it)"
            )
        if not text:
            return
        try:
            command_text = as_command(text)
            if command_text is not None:
                name, _, rest = command_text.partition(" ")
                command = self.commands.get(name.lower())
                if command is None:
                    raise CliError(f"unknown command {name}; .help lists the commands")
                command(rest.strip())
            else:
                self.evaluate(text)
        except CliError as error:
            self.fail(error.message)
        except IotSqlError as error:
            self.fail(f"error: {error}")

    def fail(self, message: str) -> None:
        self.failures += 1
        self.tell(message)

    def compile(self, sql: str) -> CompiledRule | None:
        try:
            rule = CompiledRule(sql, self.version)
        except SqlParseError as error:
            diagnostic = diagnostic_of_error(error, switch=".version")
            if diagnostic.hint is None and _starts_another_statement(error):
                diagnostic = dataclasses.replace(diagnostic, hint=UNTERMINATED_HINT)
            self.fail(diagnostic.render())
            return None
        for warning in lint_rule(rule):
            self.tell(warning.render())
        return rule

    def evaluate(self, text: str) -> None:
        sql = text.rstrip().rstrip(";").rstrip()
        rule = self.compile(sql)
        if rule is None:
            return
        self.last_sql = sql
        explanation = rule.explain(self.payload.body, self.topic, self.effective_context())
        output = explanation.output
        if explanation.fired and output is not None:
            if not output.is_binary:
                shown = output.to_bytes().decode("utf-8")
                self.write(dumps(output.value, pretty=True) if self.pretty else shown)
            elif output.value:
                body = output.to_bytes()
                encoded = base64.b64encode(body).decode("ascii")
                if self.pretty:
                    self.write(f"binary output ({len(body)} bytes), base64: {encoded}")
                else:  # as `iotsql eval` prints it
                    self.write(encoded)
                    self.tell(f"note: the output is a binary body ({len(body)} bytes), "
                              "shown as base64")  # fmt: skip
            for note in undefined_items(rule, explanation, self.payload, self.topic):
                self.tell(f"note: {note}")
            return
        first, *rest = why_not(rule, explanation, self.payload, self.topic)
        self.tell("\n".join([f"did not fire: {first}", *(f"  {line}" for line in rest)]))

    # ---- dot-commands ------------------------------------------------------------------------

    def set_payload(self, payload: Payload) -> None:
        self.payload = payload
        self.tell(f"payload: {payload.describe()}")

    def cmd_payload(self, arg: str) -> None:
        if not arg:
            if self.payload.is_json:
                self.write(dumps(self.payload.document, pretty=True))
            else:
                self.write(self.payload.describe())
            return
        if arg == "-":
            raise CliError(".payload takes JSON or @file, not - (stdin holds the session)")
        self.set_payload(load_payload(arg, what=".payload"))

    def cmd_edit(self, arg: str) -> None:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        if self.payload.is_json:
            text = dumps(self.payload.document, pretty=True) + "\n"
            before = text.encode("utf-8")
        else:
            before = self.payload.body
        with tempfile.TemporaryDirectory(prefix="iotsql-") as folder:
            path = Path(folder) / "payload.json"
            path.write_bytes(before)
            try:
                # A session read from a pipe or file keeps its own input: an editor reading
                # stdin took the rest of the script (and vi waited on it for ever).
                stdin = None if is_tty(sys.stdin) else subprocess.DEVNULL
                status = subprocess.call([*shlex.split(editor), str(path)], stdin=stdin)
            except OSError as error:
                raise CliError(f"cannot run the editor {editor!r}: {error}") from None
            if status != 0:
                raise CliError(f"the editor exited with status {status}; the payload is unchanged")
            after = path.read_bytes()
        if after == before:
            self.tell("payload unchanged")
            return
        payload = Payload.of(after.rstrip(b"\r\n") if self.payload.is_json else after, "editor")
        self.set_payload(payload)

    def cmd_topic(self, arg: str) -> None:
        if not arg:
            self.topic = None
            self.tell("topic: none (FROM is not checked, topic() is Undefined)")
            return
        validate_topic(arg)
        self.topic = arg
        self.tell(f"topic: {arg}")

    def cmd_version(self, arg: str) -> None:
        if arg:
            if arg not in VERSIONS:
                raise CliError(f"unknown SQL version {arg!r}: use one of {', '.join(VERSIONS)}")
            self.version = arg
            self.tell(f"version: {self.version}")
        else:
            self.write(f"version: {self.version}")

    def cmd_context(self, arg: str) -> None:
        if not arg:
            self.context = {}
            self.tell("context: cleared")
            return
        value = read_json(arg, ".context")
        build_context(value, self.clientid)  # raises for a bad key
        self.context = dict(value)
        self.tell(f"context: {dumps(self.context)}")

    def cmd_clientid(self, arg: str) -> None:
        self.clientid = arg or None
        self.tell(f"clientid: {self.clientid or 'none'}")

    def cmd_explain(self, arg: str) -> None:
        sql = arg.rstrip().rstrip(";").rstrip() or self.last_sql
        if not sql:
            raise CliError(".explain needs a statement: .explain SELECT ... (or run one first)")
        rule = self.compile(sql)
        if rule is None:
            return
        if arg:
            self.last_sql = sql
        context = self.effective_context()
        self.write("\n".join(explain_lines(rule, self.payload, self.topic, context)))

    def cmd_show(self, arg: str) -> None:
        payload = self.payload
        shown = dumps(payload.document) if payload.is_json else "<binary>"
        if len(shown) > 200:
            shown = shown[:197] + "..."
        lines = [
            f"payload:  {shown}  ({payload.describe()})",
            f"topic:    {self.topic or 'none (FROM is not checked)'}",
            f"version:  {self.version}",
            f"clientid: {self.clientid or 'none'}",
            f"context:  {dumps(self.context) if self.context else 'none'}",
        ]
        if self.history:
            lines.append(f"history:  {self.history}")
        self.write("\n".join(lines))

    def cmd_help(self, arg: str) -> None:
        self.write(HELP)

    def cmd_quit(self, arg: str) -> None:
        self.done = True


# ---- reading statements --------------------------------------------------------------------------


def statement_complete(text: str) -> bool:
    """Whether the input typed so far is a whole input: a command (one line; on a continuation
    line it cancels the statement above it), a statement ending with ';', or anything followed
    by an empty line."""
    stripped = text.strip()
    if not stripped or as_command(stripped) is not None:
        return True
    if stripped.endswith(";"):
        return True
    lines = text.split("\n")
    return len(lines) > 1 and (not lines[-1].strip() or is_command_line(lines[-1]))


def scripted_inputs(lines: Iterable[str]) -> Iterator[str]:
    """The inputs of a script: commands are one line; a statement runs to a line ending with
    ';', an empty line, a command or the end. Unlike at the prompt, where an unfinished
    statement is in plain sight, a command after statement lines runs the statement first:
    scripts often leave out the ';'."""
    pending: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if is_command_line(line) or (not pending and as_command(line) is not None):
            if pending:
                yield "\n".join(pending)
                pending = []
            yield line
            continue
        if not line.strip():
            if pending:
                yield "\n".join(pending)
                pending = []
            continue
        pending.append(line)
        if line.rstrip().endswith(";"):
            yield "\n".join(pending)
            pending = []
    if pending:
        yield "\n".join(pending)


def run_script(session: Session, stream: TextIO) -> int:
    for text in scripted_inputs(stream):
        session.execute(text)
        if session.done:
            break
    return 1 if session.failures else 0


# ---- the terminal: highlighting, completion, history ---------------------------------------------

_TOKEN = re.compile(
    r"""(?P<string>'(?:[^']|'')*'?|"(?:[^"]|"")*"?)
    |(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    |(?P<variable>@\w+)
    |(?P<word>[A-Za-z_][\w$]*)
    |(?P<space>\s+)
    |(?P<operator><>|!=|<=|>=|[-+*/%=<>|])
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)

STYLES = {
    "keyword": "bold ansiblue",
    "string": "ansigreen",
    "number": "ansicyan",
    "function": "ansimagenta",
    "variable": "ansiyellow",
    "command": "bold ansiyellow",
    "operator": "",
}


def tokenize(text: str) -> list[tuple[str, str]]:
    """(style, text) pairs for a statement or a dot-command: keywords, strings, numbers,
    function names, variables."""
    stripped = text.lstrip()
    if stripped.startswith("."):
        name, _, rest = stripped.partition(" ")
        lead = text[: len(text) - len(stripped)]
        sql = rest if name.lower() == ".explain" else ""
        parts = [("", lead), ("class:command", name)]
        if sql:
            return [*parts, ("", " "), *tokenize(rest)]
        return [*parts, ("", text[len(lead) + len(name) :])]
    fragments: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        value = match.group()
        style = ""
        if kind == "word":
            if value.lower() in _KEYWORD_SET:
                style = "class:keyword"
            elif text[match.end() :].lstrip().startswith("("):
                style = "class:function"
        elif kind in ("string", "number", "variable", "operator"):
            style = f"class:{kind}"
        fragments.append((style, value))
    return fragments


def _lines_of(fragments: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    lines: list[list[tuple[str, str]]] = [[]]
    for style, text in fragments:
        for index, part in enumerate(text.split("\n")):
            if index:
                lines.append([])
            if part:
                lines[-1].append((style, part))
    return lines


_SEGMENT = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def payload_completions(
    document: Any, prefix: str, *, identifiers: bool = True
) -> list[tuple[str, Any]]:
    """The keys (and their values) of the object at path `prefix` (`state.reported`,
    `items[0]`) in a decoded payload; the top level for an empty prefix. Only the keys that are
    identifiers, or with `identifiers=False` only the others (`battery-level`, `1st`)."""
    current = document
    for match in _SEGMENT.finditer(prefix):
        key, index = match.groups()
        if key is not None and isinstance(current, dict) and key in current:
            current = current[key]
        elif index is not None and isinstance(current, list) and int(index) < len(current):
            current = current[int(index)]
        else:
            return []
    if not isinstance(current, dict):
        return []
    return [
        (str(k), v) for k, v in current.items() if bool(IDENTIFIER.fullmatch(str(k))) == identifiers
    ]


def candidates(session: Session, text_before: str) -> Iterator[tuple[str, int, str, str]]:
    """Completions for the text before the cursor: (text, start position, display, meta)."""
    stripped = text_before.lstrip()
    if stripped.startswith(".") and " " not in stripped:
        for name in session.commands:
            if name.startswith(stripped.lower()):
                yield name, -len(stripped), name, "command"
        return
    if stripped.lower().startswith(".version "):
        word = stripped.partition(" ")[2].strip()
        for version in VERSIONS:
            if version.startswith(word):
                yield version, -len(word), version, "SQL version"
        return
    if stripped.startswith(".") and not stripped.lower().startswith(".explain "):
        return
    word_match = re.search(r"[\w.\[\]]*$", text_before)
    word = word_match.group() if word_match else ""
    document = session.payload.document if session.payload.is_json else None
    # A key that is not an identifier is typed as far as the user can (`battery-le`), and
    # completes to the get() that reads it.
    wide_match = re.search(r"[\w.\[\]-]*$", text_before)
    wide = wide_match.group() if wide_match else ""
    prefix, _, partial = wide.rpartition(".")
    odd = [
        (f"get({prefix or '*'}, {sql_string(key)})", key, value)
        for key, value in payload_completions(document, prefix, identifiers=False)
        if key.startswith(partial)
    ]
    if "." in word:
        prefix, _, partial = word.rpartition(".")
        for key, value in payload_completions(document, prefix):
            if key.startswith(partial):
                yield key, -len(partial), key, f"payload {type_name(value)}"
        for text, key, value in odd:
            yield text, -len(wide), key, f"payload {type_name(value)}"
        return
    for key, value in payload_completions(document, ""):
        if key.startswith(word):
            yield key, -len(word), key, f"payload {type_name(value)}"
    for text, key, value in odd:
        yield text, -len(wide), key, f"payload {type_name(value)}"
    lower = word.lower()
    for keyword in KEYWORDS:
        if keyword.lower().startswith(lower):
            text = keyword.lower() if word and word.islower() else keyword
            yield text, -len(word), keyword, "keyword"
    version = SqlVersion.parse(session.version)
    for name, spec in sorted(REGISTRY.items()):
        if name.startswith(lower) and spec.available_in(version):
            yield spec.name + "(", -len(word), spec.signature, spec.family


def _history_path() -> Path | None:
    configured = os.environ.get("IOTSQL_HISTORY")
    if configured:
        return Path(configured).expanduser()
    try:
        return Path.home() / ".iotsql_history"
    except RuntimeError:
        return None


def interactive(session: Session) -> int:
    """The prompt_toolkit shell."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from prompt_toolkit.lexers import Lexer
    from prompt_toolkit.styles import Style

    class SqlLexer(Lexer):
        def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
            lines = _lines_of(tokenize(document.text))

            def line(number: int) -> StyleAndTextTuples:
                return lines[number] if number < len(lines) else []  # type: ignore[return-value]

            return line

    class SqlCompleter(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterator[Completion]:
            for text, start, display, meta in candidates(session, document.text_before_cursor):
                yield Completion(text, start, display=display, display_meta=meta)

    bindings = KeyBindings()

    # While Ctrl-R searches the history, Enter and Alt-Enter are prompt_toolkit's own: they
    # end the search and leave the statement found in the prompt. Bound without the filter,
    # they would act on the search field and leave the prompt stuck in the search.
    @bindings.add("enter", filter=~is_searching)
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.complete_state is not None:
            buffer.complete_state = None
            return
        if statement_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    @bindings.add("escape", "enter", filter=~is_searching)
    def _accept(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    history: History = InMemoryHistory()
    path = _history_path()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8"):
                pass
            history = FileHistory(str(path))
            session.history = str(path)
        except OSError as error:
            session.tell(f"note: no history file ({path}: {error.strerror or error})")

    def continuation(width: int, line_number: int, wrap_count: int) -> str:
        return "...> ".rjust(width)

    prompt: PromptSession[str] = PromptSession(
        "iotsql> ",
        multiline=True,
        prompt_continuation=continuation,
        key_bindings=bindings,
        lexer=SqlLexer(),
        completer=SqlCompleter(),
        complete_while_typing=False,
        history=history,
        style=Style.from_dict(STYLES),
        include_default_pygments_style=False,
    )
    session.tell(
        f"iotsql REPL: SQL version {session.version} (.version to change; a topic rule without "
        "awsIotSqlVersion runs as 2015-10-08); end a statement with ';' or an empty line; .help "
        "for commands"
    )
    while not session.done:
        try:
            text = prompt.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        session.execute(text)
    return 0


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    if args.payload == "-" or args.context == "-":
        raise CliError("the REPL reads its input from stdin: give the payload as JSON or @file")
    payload = load_payload(args.payload)
    # Piped, stdout holds only the outputs (compact, as `iotsql eval` prints them); the
    # messages go to stderr.
    screen = is_tty(sys.stdout)
    pretty = args.pretty or (screen and not args.compact)
    session = Session(_print, payload, tell=_print if screen else err, pretty=pretty)
    session.version = args.sql_version
    if args.topic:
        validate_topic(args.topic)
        session.topic = args.topic
    session.clientid = args.clientid
    context = read_json(args.context, "--context") if args.context else None
    session.context = dict(build_context(context, None, args.timestamp) or {})
    note = payload.note()
    if note:
        session.tell(note)
    if is_tty(sys.stdin) and screen:
        return interactive(session)
    return run_script(session, sys.stdin)
