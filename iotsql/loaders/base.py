"""What every loader returns (`LoadedRule`) and how it reports errors: a RuleValidationError whose
`field` names the file and the path of the bad field in it, in the file's own spelling
(`template.yaml: Resources.HighTempRule.Properties.TopicRulePayload.Sql`)."""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from iotsql.errors import IotSqlError, RuleValidationError, SqlParseError
from iotsql.loaders.cfn_schema import SchemaProblem
from iotsql.loaders.model import CLOUDFORMATION, TERRAFORM
from iotsql.loaders.positions import FilePosition, SourceDocument, SourceFile, TextOrigin

_T = TypeVar("_T")

#: The formats `load_rules` reads.
FORMATS = ("cloudformation", "sam", "serverless", "terraform", "terraform-json", "aws-cli")


class RuleSqlError(SqlParseError, RuleValidationError):
    """The SQL of a rule read from a file does not parse. It is both a SqlParseError (`line`,
    `column` within the statement, the caret excerpt) and a RuleValidationError whose `field`
    names the file and the resource. `position` is where the problem is in the file (None for
    rules given as decoded data); `str()` starts with it (`template.yaml:15:28: ...`) and shows
    the file's line with a caret under the spot when the SQL is written there literally."""

    def __init__(
        self,
        error: SqlParseError,
        field: str,
        file: str = "",
        path: str = "",
        position: FilePosition | None = None,
        source: SourceFile | None = None,
        hint: str | None = None,
    ) -> None:
        # Not SqlParseError.__init__: its super() is RuleValidationError's in this class.
        self.field = field
        self.file = file
        self.path = path
        self.position = position
        self.message = f"{field}: invalid SQL: {error.message}"
        self.detail = error.message
        self.sql = error.sql
        self.line = error.line
        self.column = error.column
        self.end_column = error.end_column
        self.expected = error.expected
        self.hint = hint or error.hint
        self._source = source
        Exception.__init__(self, self._render())

    @property
    def file_excerpt(self) -> str:
        """The file's line with a caret under the spot; "" unless the spot was found exactly."""
        where = self.position
        if where is None or not where.exact or self._source is None:
            return ""
        return self._source.excerpt(where.line, where.column, where.end_line, where.end_column)

    def _render(self) -> str:
        where = self.position
        if where is None:
            return super()._render()
        # not exact: the statement is not written in the file as it was evaluated (a variable,
        # an interpolation), so the place is the field's and the excerpt the statement's
        of = "the statement" if where.exact else "the statement as evaluated"
        parts = [f"{where}: {self.path}: invalid SQL: {self.detail} (line {self.line}, column "
                 f"{self.column} of {of})"]  # fmt: skip
        if self.expected:
            parts.append("expected one of: " + ", ".join(self.expected))
        parts.append(self.file_excerpt or self.excerpt)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class SourceError(RuleValidationError):
    """A RuleValidationError about a field of a file: `file`, and `path` the dotted path of the
    field in the file's own spelling (`Resources.R.Properties.TopicRulePayload.Sql`), which
    `SourceDocument.locate` turns into a line and a column."""

    def __init__(self, message: str, file: str, path: str) -> None:
        super().__init__(message, f"{file}: {path}" if path else file)
        self.file = file
        self.path = path
        self.detail = message


class DuplicateRuleError(SourceError):
    """Two rules of the files loaded have one name."""


class GetAttError(SourceError):
    """`Fn::GetAtt` of an attribute the target's resource type does not have."""


class SchemaError(SourceError):
    """Properties of a CloudFormation resource its schema refuses: `problems` has each of them
    (cfn_schema.SchemaProblem: kind, path, message, hint); the error names the first."""

    def __init__(self, file: str, problems: Sequence[SchemaProblem]) -> None:
        first = problems[0]
        more = len(problems) - 1
        message = str(first) + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
        super().__init__(message, file, first.path)
        self.problems = list(problems)


#: How an error shows a value of a template: its beginning (a template's values may be
#: megabytes long, and an error message is read on a terminal).
_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 80
_BRIEF.maxlist = _BRIEF.maxdict = 6
_BRIEF.maxlevel = 3


def brief_repr(value: Any) -> str:
    """`repr(value)` cut to its beginning: at most 80 characters of a string, 6 items of a list
    or object, 3 levels deep."""
    return _BRIEF.repr(value)


class DocumentError(RuleValidationError):
    """A file that is not valid YAML, JSON or HCL: `file`, and the `line` and `column` of the
    problem when the parser said."""

    def __init__(self, message: str, file: str, line: int | None = None,
                 column: int | None = None) -> None:  # fmt: skip
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}", file)
        self.file = file
        self.line = line
        self.column = column
        self.detail = message


class EmptyDocumentError(RuleValidationError):
    """A YAML or JSON file that holds no document (empty, or only comments)."""


@dataclass
class LoadSession:
    """What a load collected for `iotsql check`: the error of each resource skipped, and the
    evaluated definitions (a CloudFormation `Template`, a Terraform `Configuration`, the data of
    `terraform show -json`), for checks across resources."""

    errors: list[RuleValidationError] = field(default_factory=list)
    definitions: list[Any] = field(default_factory=list)


_SESSION: ContextVar[LoadSession | None] = ContextVar("iotsql_load_session", default=None)


@contextmanager
def collecting_errors() -> Iterator[LoadSession]:
    """Within the block, a resource whose definition is refused is skipped and its error
    recorded in the session yielded, instead of ending the load (`iotsql check` reports every
    resource's problems, not the first one's)."""
    session = LoadSession()
    token = _SESSION.set(session)
    try:
        yield session
    finally:
        _SESSION.reset(token)


def per_resource(load: Callable[[], _T]) -> _T | None:
    """`load()` for one resource: its error is raised, or, while collecting, recorded (None)."""
    session = _SESSION.get()
    if session is None:
        return load()
    try:
        return load()
    except RuleValidationError as error:
        session.errors.append(error)
        return None


def register_definition(definition: Any) -> None:
    """Keep an evaluated definition for the checks across resources (while collecting)."""
    session = _SESSION.get()
    if session is not None:
        session.definitions.append(definition)


def refuse(error: RuleValidationError) -> None:
    """Raise `error`, or, while collecting, record it."""
    session = _SESSION.get()
    if session is None:
        raise error
    session.errors.append(error)


def source_error(file: str, path: str, message: str) -> RuleValidationError:
    """An error about the field at `path` (dotted, in the file's spelling) of `file`."""
    return SourceError(message, file, path)


#: The code of the warning for a rule that does not set awsIotSqlVersion.
SQL_VERSION_DEFAULT = "sql-version-default"

#: How each format spells awsIotSqlVersion.
VERSION_FIELD = {"cloudformation": "AwsIotSqlVersion", "sam": "AwsIotSqlVersion",
                 "serverless": "sqlVersion", "terraform": "sql_version",
                 "terraform-json": "sql_version", "aws-cli": "awsIotSqlVersion"}  # fmt: skip


@dataclass(frozen=True)
class LoadWarning:
    """Something legal in a rule definition that probably does not do what its author meant.
    `code` is stable (`sql-version-default`), `field` names the file and the field in it."""

    code: str
    message: str
    field: str

    def __str__(self) -> str:
        return f"{self.field}: warning: {self.message} [{self.code}]"


@dataclass(frozen=True)
class LoadedRule:
    """One topic rule read from infrastructure code.

    `name` is the rule's name (its RuleName, or the logical id / generated name when the code
    gives none); `payload` the topicRulePayload in the API's shape (`sql`, `awsIotSqlVersion`,
    `ruleDisabled`, `description`, `actions`, `errorAction`), exactly what
    `RulesEngine.create_topic_rule(name, payload)` takes; `file` and `resource` say where it came
    from (`template.yaml`, `HighTempRule`; `main.tf`, `aws_iot_topic_rule.high_temp`;
    `serverless.yml`, `functions.alerts.events[0].iot`), `line` where the resource starts when
    known. `document` is the file it was read from (None for rules given as decoded data): with
    it, `sql_position` and `position_of` say where in the file a place of the SQL or a field of
    the payload was written.
    """

    name: str
    payload: dict[str, Any]
    file: str
    resource: str
    format: str
    line: int | None = None
    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: Warnings about the definition (`sql-version-default` when it omits awsIotSqlVersion).
    warnings: tuple[LoadWarning, ...] = field(default=(), compare=False)
    document: SourceDocument | None = field(default=None, repr=False, compare=False)

    @property
    def topic_rule_payload(self) -> dict[str, Any]:
        return self.payload

    @property
    def sql(self) -> str:
        return str(self.payload.get("sql", ""))

    @property
    def sql_version(self) -> str:
        """The rule's SQL version; the API's default (2015-10-08) when the payload has none."""
        return str(self.payload.get("awsIotSqlVersion") or "2015-10-08")

    @property
    def source(self) -> str:
        where = f"{self.file}: {self.resource}"
        return f"{where} (line {self.line})" if self.line else where

    def with_default_warnings(self) -> LoadedRule:
        """This rule with the warnings every loader gives: `sql-version-default` when the
        payload has no awsIotSqlVersion (the API then runs it as 2015-10-08, while the console
        proposes 2016-03-23)."""
        if self.payload.get("awsIotSqlVersion") is not None or any(
            w.code == SQL_VERSION_DEFAULT for w in self.warnings
        ):
            return self
        warning = LoadWarning(
            SQL_VERSION_DEFAULT,
            "the rule does not set awsIotSqlVersion, so AWS runs it as 2015-10-08 (the API's "
            "default; the console defaults to 2016-03-23): set it explicitly",
            self.field_for("topicRulePayload.awsIotSqlVersion"),
        )
        return replace(self, warnings=(*self.warnings, warning))

    def to_create_topic_rule(self) -> dict[str, Any]:
        """The `aws iot create-topic-rule --cli-input-json` form."""
        return {"ruleName": self.name, "topicRulePayload": self.payload}

    def source_path(self, api_field: str) -> str:
        """The path in the file of a field of the API payload (`topicRulePayload.actions[0].sqs`
        -> `Resources.R.Properties.TopicRulePayload.Actions[0].Sqs`)."""
        best = ""
        for candidate in self.origins:
            if (api_field == candidate or api_field.startswith((candidate + ".", candidate + "[")))\
                    and len(candidate) > len(best):  # fmt: skip
                best = candidate
        if not best:
            return self.resource
        suffix = api_field[len(best) :]
        return f"{self.origins[best]}{_restyle(suffix, self._style)}"

    def field_for(self, api_field: str) -> str:
        """The file's field for a field of the API payload (`topicRulePayload.actions[0].sqs`)."""
        return f"{self.file}: {self.source_path(api_field)}"

    # ---- positions in the file ----------------------------------------------------------------

    def sql_origin(self) -> TextOrigin | None:
        """Where each character of the SQL is in the file (None when the file is not known)."""
        from iotsql.loaders.rule_positions import sql_origin

        return sql_origin(self)

    def sql_position(
        self, line: int, column: int, end_line: int | None = None, end_column: int | None = None
    ) -> FilePosition:
        """The place in the file of a place in the SQL (1-based line and column of the
        statement, as SqlParseError has them); where the text is not written literally in the
        file (an evaluated variable), the place of what produced it; without the file, the
        rule's own place (`exact` False)."""
        origin = self.sql_origin()
        if origin is None:
            return self.position_of("topicRulePayload.sql")
        return origin.locate(line, column, end_line, end_column)

    def position_of(self, api_field: str) -> FilePosition:
        """The place in the file of a field of the API payload (its key), or of the nearest of
        its parents written in the file (`exact` False)."""
        from iotsql.loaders.rule_positions import field_position

        return field_position(self, api_field)

    @property
    def _style(self) -> str:
        if self.format in ("terraform", "terraform-json"):
            return TERRAFORM
        if self.format in ("cloudformation", "sam"):
            return CLOUDFORMATION
        return "api"

    def locate(self, error: IotSqlError) -> IotSqlError:
        """`error`, raised by CreateTopicRule for this rule's payload, restated with the field of
        the file it came from."""
        if isinstance(error, SqlParseError):
            path = self.source_path("topicRulePayload.sql")
            end_line = error.line if error.end_column is not None else None
            where = self.sql_position(error.line, error.column, end_line, error.end_column)
            statement = SourceFile("", error.sql)
            if statement.offset(error.line, error.column) >= len(error.sql.rstrip()):
                # the end of the statement: just after its last word, not past the newlines a
                # block scalar ends with (that would be the next line of the file)
                where = self.sql_position(*statement.line_column(len(error.sql.rstrip())))
            source = self.document.source if self.document is not None else None
            if source is not None and where.exact and not _written_as_is(error, source, where):
                where = replace(where, exact=False)
            # a hint naming the version field names it as this format spells it
            hint = (error.hint or "").replace(
                "awsIotSqlVersion", VERSION_FIELD.get(self.format, "awsIotSqlVersion")
            )
            return RuleSqlError(error, f"{self.file}: {path}", self.file, path,
                                where if source is not None else None, source, hint)  # fmt: skip
        if isinstance(error, RuleValidationError):
            text = str(error)
            prefix = f"{error.field}: "
            message = text[len(prefix) :] if text.startswith(prefix) else text
            return SourceError(message, self.file, self.source_path(error.field))
        return SourceError(str(error), self.file, self.source_path("topicRulePayload"))


def _written_as_is(error: SqlParseError, source: SourceFile, where: FilePosition) -> bool:
    """Whether the file has the statement's character at the error where `where` says, rather
    than what produced it (a variable evaluated into the statement)."""
    at = SourceFile("", error.sql).offset(error.line, error.column)
    if at >= len(error.sql):  # the end of the statement: placed just after its last character
        return True
    offset = source.offset(where.line, where.column)
    return source.text[offset : offset + 1] == error.sql[at]


def _restyle(suffix: str, style: str) -> str:
    from iotsql.loaders.model import styled

    if style == "api" or not suffix:
        return suffix
    return re.sub(r"(?<=\.)([A-Za-z0-9]+)", lambda m: styled(m.group(1), style), suffix)
