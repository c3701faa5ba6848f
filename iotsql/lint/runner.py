"""`iotsql check` over statements, files and folders: which files hold rules, loading them with
every resource's error kept, the findings of each rule and across resources, filtered by the
options.

- `.sql` files (and statements): one statement, checked as written;
- `.tf` / `.tf.json`: the Terraform module of their folder is loaded (variables and locals are
  shared across its files), and the findings in the files asked for are reported;
- `.yaml`, `.yml`, `.json`, `.template` (and any file named explicitly): CloudFormation and SAM
  templates, serverless.yml, `terraform show -json` output, AWS CLI rule JSON. A file that
  mentions no topic rule (`AWS::IoT::TopicRule`, `IoTRule`, `aws_iot_topic_rule`, `sql:`,
  `iot:`) is skipped unread, as is one that parses but is none of these: pre-commit hands the
  hook every YAML and JSON file of a repository.

Folders are walked recursively, skipping hidden folders, `node_modules`, `.terraform`, and the
build output of SAM (`.aws-sam`) and the Serverless Framework (`.serverless`); `cdk.out` is
checked (it is where a CDK app's templates are).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from iotsql.errors import RuleValidationError
from iotsql.lint.codes import CODES
from iotsql.lint.config import Options
from iotsql.lint.crossref import lambda_permission_findings
from iotsql.lint.findings import Finding
from iotsql.lint.rules import check_rule, load_error_findings
from iotsql.lint.sql import lint
from iotsql.loaders import detect_format, document_syntax, load_with_errors
from iotsql.loaders.base import (
    DocumentError,
    EmptyDocumentError,
    LoadedRule,
    LoadSession,
    SchemaError,
    SourceError,
)
from iotsql.loaders.bounds import check_file_size, read_bounded
from iotsql.loaders.positions import SourceDocument, SourceFile, TextOrigin

_SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "venv"})
_DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json", ".template")
_TFVARS = (".tfvars", ".tfvars.json")
_SCHEMA_CODES = frozenset({"unknown-property", "missing-property", "invalid-value"})
#: What a file defining a topic rule contains, in any of the formats.
_MENTIONS_RULES = re.compile(
    r"AWS::IoT::TopicRule|IoTRule|aws_iot_topic_rule|topicRulePayload|\bsql[\"']?\s*:|"
    r"\biot[\"']?\s*:"
)
#: What only a file defining topic rules contains: a syntax error in it is reported.
_DEFINES_RULES = re.compile(r"AWS::IoT::TopicRule|IoTRule|aws_iot_topic_rule|topicRulePayload")


@dataclass
class Report:
    """The findings, what was checked, and the inputs that could not be read (exit status 2)."""

    findings: list[Finding] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    rules: int = 0
    statements: set[str] = field(default_factory=set)
    unreadable: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    sql_version: str = "2016-03-23"
    #: Each rule checked: its name, resource, file and the SQL version it was checked for.
    checked: list[dict[str, Any]] = field(default_factory=list)
    #: The files looked at (named, or found in a folder), with topic rules or not.
    examined: int = 0

    def count(self, severity: str) -> int:
        return sum(1 for finding in self.findings if finding.severity == severity)

    @property
    def exit_status(self) -> int:
        """2 when an input could not be read, 1 when any finding is an error, else 0."""
        if self.unreadable:
            return 2
        return 1 if any(finding.is_error for finding in self.findings) else 0


@dataclass(frozen=True)
class Statement:
    """A statement given on the command line (or read from stdin / `@file`)."""

    sql: str
    label: str = "sql"


def check(targets: Iterable[Statement | Path], options: Options) -> Report:
    """Check statements and paths; the findings are sorted by file and place."""
    report = Report(sql_version=options.sql_version)
    documents: list[Path] = []
    terraform: dict[Path, set[Path] | None] = {}
    for target in targets:
        if isinstance(target, Statement):
            _statement(target, options, report)
            continue
        for path, explicit in _files(target, options, report):
            report.examined += 1
            if path.suffix == ".sql":
                _sql_file(path, options, report)
            elif path.name.endswith((".tf", ".tf.json")):
                folder = path.parent
                if explicit:
                    wanted = terraform.setdefault(folder, set())
                    if wanted is not None:
                        wanted.add(path)
                else:
                    terraform[folder] = None
            elif not path.name.endswith(_TFVARS):
                documents.append(path)
    for path in documents:
        _document(path, options, report)
    for folder, wanted in terraform.items():
        _terraform(folder, wanted, options, report)
    # One finding for what several rules meet alike: a parameter without a value that two rules
    # use is one error at the parameter, not one per rule.
    report.findings = sorted(
        dict.fromkeys(_finalised(finding, options) for finding in report.findings
                      if options.reports(finding.code, finding.file)),
        key=Finding.sort_key,
    )  # fmt: skip
    return report


def _finalised(finding: Finding, options: Options) -> Finding:
    severity = options.severity(finding.severity)
    return finding if severity == finding.severity else finding.promoted()


def _files(target: Path, options: Options, report: Report) -> Iterator[tuple[Path, bool]]:
    """The files of a target: itself (explicit), or the files of interest under a folder."""
    if target.is_file():
        yield target, True
        return
    if not target.is_dir():
        report.unreadable.append(f"{target}: no such file or folder")
        return
    for folder, subfolders, names in os.walk(target):
        subfolders[:] = sorted(
            name for name in subfolders
            if not name.startswith(".") and name not in _SKIPPED_FOLDERS
            and not options.excluded(Path(folder) / name)
        )  # fmt: skip
        for name in sorted(names):
            path = Path(folder) / name
            if options.excluded(path):
                continue
            # Regular files only: reading a named pipe (x.json) would wait for a writer.
            if name.endswith((*_DOCUMENT_SUFFIXES, ".sql", ".tf")) and path.is_file():
                yield path, False


def _read(path: Path, report: Report) -> str | None:
    """The file's text, read no further than Limits.max_document_bytes."""
    try:
        return read_bounded(path, str(path)).removeprefix("\ufeff")
    except DocumentError as error:
        report.unreadable.append(f"{path}: {error.detail}")  # not UTF-8 text (byte N)
    except RuleValidationError as error:
        report.unreadable.append(str(error))  # larger than Limits.max_document_bytes
    except OSError as error:
        report.unreadable.append(f"{path}: cannot read it: {error.strerror or error}")
    return None


def _larger_than_a_document(path: Path) -> RuleValidationError | None:
    """The refusal of a file over Limits.max_document_bytes, else None."""
    try:
        check_file_size(path.stat().st_size, str(path))
    except RuleValidationError as error:
        return error
    except OSError:
        pass  # _read reports it
    return None


def _defines_rules(path: Path) -> bool:
    """Whether a file too large to read whole defines topic rules: a scan a chunk at a time."""
    pattern = re.compile(_DEFINES_RULES.pattern.encode("ascii"))
    tail = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                if pattern.search(tail + chunk):
                    return True
                tail = chunk[-64:]
    except OSError:
        return False
    return False


# ---- statements --------------------------------------------------------------------------------


def _statement(statement: Statement, options: Options, report: Report) -> None:
    report.statements.add(statement.label)
    _lint_text(statement.sql, statement.label, options, report)


def _sql_file(path: Path, options: Options, report: Report) -> None:
    text = _read(path, report)
    if text is not None:
        report.files.add(str(path))
        _lint_text(text, str(path), options, report)


def _lint_text(sql: str, label: str, options: Options, report: Report) -> None:
    report.sources[label] = sql
    report.rules += 1
    report.checked.append({"rule": None, "resource": None, "file": label, "format": "sql",
                           "sqlVersion": options.sql_version})  # fmt: skip
    origin = TextOrigin.verbatim(SourceFile(label, sql), 0, len(sql))
    for diagnostic in lint(sql, options.sql_version):
        where = origin.locate(diagnostic.line, diagnostic.column, diagnostic.line,
                              diagnostic.end_column)  # fmt: skip
        code = diagnostic.code if diagnostic.code in CODES else "sql-warning"
        report.findings.append(Finding.at(code, diagnostic.message, where, hint=diagnostic.hint,
                                          expected=diagnostic.expected))  # fmt: skip


# ---- infrastructure files ----------------------------------------------------------------------


def _document(path: Path, options: Options, report: Report) -> None:
    from iotsql.loaders.cloudformation import parse_document

    label = str(path)
    too_large = _larger_than_a_document(path)
    if too_large is not None:  # a large data file passes; a large template is an error
        if _defines_rules(path):
            report.files.add(label)
            report.findings.extend(load_error_findings(too_large, "", {}))
        return
    text = _read(path, report)
    if text is None or _MENTIONS_RULES.search(text) is None:
        return
    report.sources[label] = text
    try:
        data = parse_document(text, label)
    except DocumentError as error:
        if _DEFINES_RULES.search(text) is None:
            return  # broken or multi-document YAML that only mentions `sql:` or `iot:`
        report.files.add(label)
        report.findings.extend(load_error_findings(error, "", {}))
        return
    except EmptyDocumentError:
        return
    except RuleValidationError as error:  # over a Limits.max_document_* bound (alias bomb...)
        if _DEFINES_RULES.search(text) is None:
            return
        report.files.add(label)
        report.findings.extend(load_error_findings(error, "", {}))
        return
    try:
        fmt = detect_format(data, path.name)
    except RuleValidationError:
        return  # not infrastructure code this checks
    report.files.add(label)
    rules, session = load_with_errors(path, fmt, parameters=options.parameters, text=text,
                                      data=data)  # fmt: skip
    _report_load(rules, session, fmt, None, report)


def _terraform(folder: Path, wanted: set[Path] | None, options: Options, report: Report) -> None:
    from iotsql.loaders.terraform import config_files

    files, _ = config_files(folder)
    texts = {}
    for path in files:
        text = _read(path, report)
        if text is not None:
            texts[str(path)] = text
    if not any("aws_iot_topic_rule" in text for text in texts.values()):
        return
    report.sources.update(texts)
    names = {str(p) for p in wanted} if wanted is not None else set(texts)
    report.files.update(names & set(texts))
    rules, session = load_with_errors(folder, "terraform", parameters=options.parameters)
    _report_load(rules, session, "terraform", names, report)


def _report_load(
    rules: list[LoadedRule],
    session: LoadSession,
    fmt: str,
    files: set[str] | None,
    report: Report,
) -> None:
    documents = {rule.file: rule.document for rule in rules if rule.document is not None}
    for error in session.errors:
        file = error.file if isinstance(error, SourceError) else None
        if file and file in report.sources and file not in documents:
            text = report.sources[file]
            documents[file] = SourceDocument(file, text, document_syntax(file, text))
    found: list[Finding] = []
    for error in session.errors:
        findings = load_error_findings(error, fmt, documents)
        whole_file = not isinstance(error, (SourceError, SchemaError))
        outside = {f.file for f in findings} - files if files is not None else set()
        if files is not None and whole_file and outside:
            # A file of the module that cannot be read (not HCL, not UTF-8, over a document
            # bound) stops the whole module from loading, the files asked for too: it is
            # reported even though it was not asked for.
            asked = ", ".join(sorted(files))
            hint = f"the Terraform module of this folder loads as a whole: {asked} could not be checked"
            findings = [replace(f, hint=f.hint or hint) for f in findings]
            files.update(outside)
            report.files.update(outside)
        found.extend(findings)
    for rule in rules:
        if files is None or rule.file in files:
            report.rules += 1
            report.checked.append({"rule": rule.name, "resource": rule.resource,
                                   "file": rule.file, "format": rule.format,
                                   "sqlVersion": rule.sql_version})  # fmt: skip
        found.extend(check_rule(rule))
    found.extend(lambda_permission_findings(rules, session.definitions))
    # a value the schema refuses is refused by CreateTopicRule too: one finding is enough
    schema = {(f.file, f.line, f.column) for f in found if f.code in _SCHEMA_CODES}
    report.findings.extend(
        f for f in found
        if (files is None or f.file in files)
        and not (f.code == "invalid-rule" and (f.file, f.line, f.column) in schema)
    )  # fmt: skip
