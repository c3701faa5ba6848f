"""The findings about one rule read from a file, placed in the file: its SQL's (parse and compile
errors, dialect habits, warnings), CreateTopicRule's refusals of the payload (a required field,
a substitution template, the republish topic space, the SQL version), the version left to the
API's default, an action whose service AWS retired, a missing error action; and the findings of a load error (a resource the loader
could not read, a property the CloudFormation schema does not have, a file that does not
parse)."""

from __future__ import annotations

import re
from typing import Any

from iotsql.actions.types import RETIRED_ACTION_TYPES
from iotsql.errors import (
    IotSqlError,
    RepublishTopicSpaceError,
    RuleValidationError,
    SqlParseError,
)
from iotsql.lint.codes import CODES
from iotsql.lint.findings import Finding
from iotsql.lint.sql import Diagnostic, lint
from iotsql.loaders.base import (
    SQL_VERSION_DEFAULT,
    VERSION_FIELD,
    DocumentError,
    DuplicateRuleError,
    GetAttError,
    LoadedRule,
    SchemaError,
    SourceError,
)
from iotsql.loaders.cfn_schema import SchemaProblem
from iotsql.loaders.positions import FilePosition, SourceDocument, split_path
from iotsql.loaders.rule_positions import locate_path
from iotsql.values import SqlVersion

_API_DEFAULT_VERSION = "2015-10-08"
_VERSIONS = tuple(v.value for v in SqlVersion)
_WHERE = re.compile(r"\(line (\d+), column (\d+)\)")
#: A statement that compiles, for validating the actions of a rule whose SQL does not.
_STAND_IN_SQL = "SELECT *"


def check_rule(rule: LoadedRule) -> list[Finding]:
    """Every finding about `rule`."""
    findings: list[Finding] = []
    version = rule.payload.get("awsIotSqlVersion")
    field = VERSION_FIELD.get(rule.format, "awsIotSqlVersion")

    def at(code: str, message: str, where: FilePosition, hint: str | None = None,
           expected: tuple[str, ...] = ()) -> None:  # fmt: skip
        findings.append(Finding.at(code, message, where, hint=hint, rule=rule.name,
                                   resource=rule.resource, expected=expected))  # fmt: skip

    for warning in rule.warnings:  # the loaders' (sql-version-default)
        if warning.code == SQL_VERSION_DEFAULT:
            at(warning.code, warning.message, rule.position_of("topicRulePayload.awsIotSqlVersion"),
               f"set {field} explicitly (2016-03-23 has nested queries, SELECT VALUE of arrays "
               "and the later functions)")  # fmt: skip
        else:
            file, _, path = warning.field.partition(": ")
            at(warning.code if warning.code in CODES else "sql-warning", warning.message,
               locate_path(rule.format, file, path, rule.document, rule.line))  # fmt: skip
    if version is not None and str(version) not in _VERSIONS:
        at("sql-version-invalid", f"{field} {version!r} is not an AWS IoT SQL version",
           rule.position_of("topicRulePayload.awsIotSqlVersion"),
           f"use {', '.join(_VERSIONS)}")  # fmt: skip
    lint_version = str(version) if str(version) in _VERSIONS else _API_DEFAULT_VERSION
    sql_ok = True
    # A payload without `sql` (misspelt `sqll`, say) has no statement to lint: the payload's
    # finding names the field, and an "empty statement" beside it would only mislead.
    statement = lint(rule.sql, lint_version) if "sql" in rule.payload else []
    for diagnostic in statement:
        sql_ok = sql_ok and not diagnostic.is_error
        where = rule.sql_position(diagnostic.line, diagnostic.column, diagnostic.line,
                                  diagnostic.end_column)  # fmt: skip
        at(_registered(diagnostic), diagnostic.message, where, _file_hint(diagnostic, field),
           diagnostic.expected)  # fmt: skip
    payload = dict(rule.payload)
    if not sql_ok:
        payload["sql"] = _STAND_IN_SQL
    if str(version) not in _VERSIONS:
        payload.pop("awsIotSqlVersion", None)
    findings.extend(_payload_findings(rule, payload))
    for field, name in _action_types(rule.payload):
        if name in RETIRED_ACTION_TYPES:
            service, end = RETIRED_ACTION_TYPES[name]
            at("retired-action", f"the {name} action delivers to {service}, which AWS retired on "
               f"{end}: every message it takes fails", rule.position_of(f"{field}.{name}"),
               "the current rule actions page no longer lists it; deliver to another service")  # fmt: skip
    if not rule.payload.get("errorAction"):
        at("no-error-action", f"rule {rule.name} has no error action: when an action fails, "
           "nothing records the message or why", rule.position_of("topicRulePayload"),
           "add an error action (CloudWatch Logs, SQS, S3...) to see failed deliveries")  # fmt: skip
    return findings


def _action_types(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(API field, action type) of each action of `payload` and of its error action."""
    found: list[tuple[str, str]] = []
    actions = payload.get("actions")
    for index, action in enumerate(actions if isinstance(actions, list) else []):
        if isinstance(action, dict):
            found.extend((f"topicRulePayload.actions[{index}]", str(name)) for name in action)
    error_action = payload.get("errorAction")
    if isinstance(error_action, dict):
        found.extend(("topicRulePayload.errorAction", str(name)) for name in error_action)
    return found


def _registered(diagnostic: Diagnostic) -> str:
    return diagnostic.code if diagnostic.code in CODES else "sql-warning"


def _file_hint(diagnostic: Diagnostic, field: str) -> str | None:
    if diagnostic.code == "version":
        found = re.search(r"SQL version (\S+) has it", diagnostic.hint or "")
        if found:
            return f"set {field} to {found.group(1)} in the rule"
    return diagnostic.hint


def _payload_findings(rule: LoadedRule, payload: dict[str, Any]) -> list[Finding]:
    """What CreateTopicRule refuses in the payload (the first problem, as the API reports)."""
    from iotsql.rule import TopicRule

    try:
        TopicRule(rule.name, payload)
    except SqlParseError:
        return []  # the SQL's findings say it
    except RuleValidationError as error:
        field = error.field
        message = _strip_field(str(error), field).splitlines()[0]
        if message.startswith(_FIELD_PREDICATES):
            # `queueUrl is required`: the finding is at the field's place, or at its parent's
            # when the field is missing, so the message names it.
            message = f"{split_path(field)[-1]} {message}"
        message, hint = _split_hint(message)
        code = "republish-loop" if isinstance(error, RepublishTopicSpaceError) else "invalid-rule"
        if field.endswith("awsIotSqlVersion"):
            code = "sql-version-invalid"
        where = _template_position(rule, field, message) or rule.position_of(field)
        message = _WHERE.sub("", message).rstrip()
        return [Finding.at(code, message, where, hint=hint, rule=rule.name,
                           resource=rule.resource)]  # fmt: skip
    except IotSqlError as error:
        return [Finding.at("invalid-rule", str(error).splitlines()[0],
                           rule.position_of("topicRulePayload"), rule=rule.name,
                           resource=rule.resource)]  # fmt: skip
    return []


#: How the payload validation's messages about a field begin (`is required`, `must be ...`).
_FIELD_PREDICATES = ("is ", "must ", "does ")


def _strip_field(text: str, field: str) -> str:
    prefix = f"{field}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _template_position(rule: LoadedRule, field: str, message: str) -> FilePosition | None:
    """Where in the file a substitution template's error is (`(line 1, column 4)` of the
    template, mapped through the field's string)."""
    found = _WHERE.search(message)
    document = rule.document
    if found is None or document is None:
        return None
    actual = _payload_value(rule.payload, field)
    if not isinstance(actual, str):
        return None
    from iotsql.loaders.rule_positions import document_path

    path = document_path(rule.format, rule.source_path(field), document)
    origin = document.string(path, actual) if path else None
    if origin is None:
        return None
    return origin.locate(int(found.group(1)), int(found.group(2)))


def _payload_value(payload: dict[str, Any], field: str) -> Any:

    value: Any = {"topicRulePayload": payload}
    for segment in split_path(field):
        try:
            value = value[segment]
        except (KeyError, IndexError, TypeError):
            return None
    return value


# ---- load errors --------------------------------------------------------------------------------


def load_error_findings(
    error: RuleValidationError, fmt: str, documents: dict[str, SourceDocument]
) -> list[Finding]:
    """The findings of an error the loader recorded for a resource (or a whole file)."""
    if isinstance(error, DocumentError):
        return [Finding("document-syntax", "error", error.detail, error.file, error.line or 1,
                        error.column or 1)]  # fmt: skip
    if isinstance(error, SchemaError):
        document = documents.get(error.file)
        return [Finding.at(problem.kind, _schema_message(problem),
                           locate_path(fmt, error.file, problem.path, document),
                           hint=problem.hint, resource=_resource(problem.path))
                for problem in error.problems]  # fmt: skip
    if isinstance(error, SourceError):
        code = "template-error"
        if isinstance(error, GetAttError):
            code = "getatt-attribute"
        elif isinstance(error, DuplicateRuleError):
            code = "duplicate-rule-name"
        where = locate_path(fmt, error.file, error.path, documents.get(error.file))
        detail, hint = _split_hint(error.detail)
        if detail.startswith("is required"):  # at the resource that lacks it: name it
            detail = f"{split_path(error.path)[-1]} {detail}"
        return [Finding.at(code, detail, where, hint=hint, resource=_resource(error.path))]
    file = error.field.split(": ", 1)[0]
    message = _strip_field(str(error), error.field)
    return [Finding("template-error", "error", message, file, 1, 1)]


def _schema_message(problem: SchemaProblem) -> str:
    """The message of a schema problem at its place in the file. A missing property has no
    place of its own (the finding is at the key that lacks it), so the message names it."""
    if problem.kind == "missing-property":
        return f"{problem.path.rsplit('.', 1)[-1]} {problem.message}"
    return problem.message


def _split_hint(message: str) -> tuple[str, str | None]:
    """`message; did you mean X?` -> (message, `did you mean X?`)."""
    head, separator, tail = message.rpartition("; ")
    if separator and tail.startswith("did you mean"):
        return head, tail
    return message, None


def _resource(path: str) -> str | None:
    parts = path.split(".")
    if len(parts) >= 2 and parts[0] == "Resources":
        return parts[1]
    if len(parts) >= 3 and parts[0] == "resources" and parts[1] == "Resources":
        return parts[2]
    if len(parts) >= 2 and parts[0].startswith("aws_"):
        return ".".join(parts[:2])
    return None
