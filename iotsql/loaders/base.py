"""What every loader returns (`LoadedRule`) and how it reports errors: a RuleValidationError whose
`field` names the file and the path of the bad field in it, in the file's own spelling
(`template.yaml: Resources.HighTempRule.Properties.TopicRulePayload.Sql`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from iotsql.errors import IotSqlError, RuleValidationError, SqlParseError
from iotsql.loaders.model import CLOUDFORMATION, TERRAFORM

#: The formats `load_rules` reads.
FORMATS = ("cloudformation", "sam", "serverless", "terraform", "terraform-json", "aws-cli")


class RuleSqlError(SqlParseError, RuleValidationError):
    """The SQL of a rule read from a file does not parse. It is both a SqlParseError (`line`,
    `column` within the statement, the caret excerpt) and a RuleValidationError whose `field`
    names the file and the resource."""

    def __init__(self, error: SqlParseError, field: str) -> None:
        # Not SqlParseError.__init__: its super() is RuleValidationError's in this class.
        self.field = field
        self.message = f"{field}: invalid SQL: {error.message}"
        self.sql = error.sql
        self.line = error.line
        self.column = error.column
        self.end_column = error.end_column
        self.expected = error.expected
        self.hint = error.hint
        Exception.__init__(self, self._render())


def source_error(file: str, path: str, message: str) -> RuleValidationError:
    """An error about the field at `path` (dotted, in the file's spelling) of `file`."""
    return RuleValidationError(message, f"{file}: {path}" if path else file)


#: The code of the warning for a rule that does not set awsIotSqlVersion.
SQL_VERSION_DEFAULT = "sql-version-default"


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
    known.
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

    def field_for(self, api_field: str) -> str:
        """The file's field for a field of the API payload (`topicRulePayload.actions[0].sqs`)."""
        best = ""
        for candidate in self.origins:
            if (api_field == candidate or api_field.startswith((candidate + ".", candidate + "[")))\
                    and len(candidate) > len(best):  # fmt: skip
                best = candidate
        if not best:
            return f"{self.file}: {self.resource}"
        suffix = api_field[len(best) :]
        return f"{self.file}: {self.origins[best]}{_restyle(suffix, self._style)}"

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
            return RuleSqlError(error, self.field_for("topicRulePayload.sql"))
        if isinstance(error, RuleValidationError):
            text = str(error)
            prefix = f"{error.field}: "
            message = text[len(prefix) :] if text.startswith(prefix) else text
            return RuleValidationError(message, self.field_for(error.field))
        return RuleValidationError(str(error), self.field_for("topicRulePayload"))


def _restyle(suffix: str, style: str) -> str:
    from iotsql.loaders.model import styled

    if style == "api" or not suffix:
        return suffix
    return re.sub(r"(?<=\.)([A-Za-z0-9]+)", lambda m: styled(m.group(1), style), suffix)
