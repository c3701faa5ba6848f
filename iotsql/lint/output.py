"""The outputs of `iotsql check`:

- `text`, for people: `file:line:col: CODE severity: message`, the line of the file with a
  caret under the spot, the rule (and its resource), the hint, then a summary;
- `json`, for scripts and editors: `{"ok", "sqlVersion", "rules", "summary", "errors",
  "warnings", "infos"}` (`sqlVersion`: of the statements and .sql files; `rules`: each rule
  checked, with the SQL version it was checked for), each finding with its code, severity,
  message, hint, file, line, column, endLine, endColumn, rule and resource;
- `github`: GitHub Actions workflow commands (`::error file=...,line=...::message`), which
  annotate the lines of a pull request;
- `sarif`: SARIF 2.1.0 (sarif.py), for GitHub code scanning and other viewers.
"""

from __future__ import annotations

import json
from typing import Any

from iotsql.lint.findings import Finding
from iotsql.lint.runner import Report
from iotsql.loaders.positions import SourceFile


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(to_json(report), separators=(",", ":"), ensure_ascii=False)
    if fmt == "github":
        return "\n".join(github_line(finding) for finding in report.findings)
    if fmt == "sarif":
        from iotsql.lint.sarif import to_sarif

        return json.dumps(to_sarif(report), indent=2, ensure_ascii=False)
    return text(report)


# ---- text ------------------------------------------------------------------------------------


def text(report: Report) -> str:
    sources = {name: SourceFile(name, content) for name, content in report.sources.items()}
    blocks = [_text_finding(finding, sources.get(finding.file)) for finding in report.findings]
    blocks.append(summary(report))
    return "\n".join(blocks)


def _text_finding(finding: Finding, source: SourceFile | None) -> str:
    lines = [f"{finding.file}:{finding.line}:{finding.column}: {finding.code} "
             f"{finding.severity}: {finding.message}"]  # fmt: skip
    if source is not None:
        excerpt = source.excerpt(finding.line, finding.column, finding.end_line,
                                 finding.end_column)  # fmt: skip
        lines.extend(excerpt.splitlines())
    if finding.rule and finding.resource and finding.resource != finding.rule:
        lines.append(f"   rule: {finding.rule} ({finding.resource})")
    elif finding.rule or finding.resource:
        lines.append(f"   {'rule' if finding.rule else 'resource'}: "
                     f"{finding.rule or finding.resource}")  # fmt: skip
    if finding.expected and finding.code == "syntax":
        lines.append("   expected one of: " + ", ".join(finding.expected))
    if finding.hint:
        lines.append(f"   hint: {finding.hint}")
    return "\n".join(lines)


def summary(report: Report) -> str:
    """`All checks passed (...)` or `Found N errors, M warnings (...)`, saying what was checked:
    rules in files, statements and the SQL version they were checked for."""

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    checked = []
    in_files = report.rules - len(report.statements)
    if report.files or in_files:
        checked.append(f"{count(in_files, 'rule')} in {count(len(report.files), 'file')}")
    if report.statements:
        checked.append(f"{count(len(report.statements), 'statement')}, SQL version "
                       f"{report.sql_version}")  # fmt: skip
    what = "; ".join(checked) or "nothing to check"
    if not checked and report.examined and not report.unreadable:
        # Files were given or found, and none defines a topic rule: say so, for the user who
        # names a file whose rules iotsql did not recognise (still a pass: pre-commit hands the
        # hook every YAML and JSON file of a repository).
        what = f"no topic rules in the {count(report.examined, 'file')} looked at"
    if not report.findings:
        if report.unreadable:  # (not "passed": an input named on the command line was not read)
            return f"No findings ({what}), but {count(len(report.unreadable), 'input')} could not be read."
        return f"All checks passed ({what})."
    parts = [count(report.count("error"), "error"), count(report.count("warning"), "warning")]
    if report.count("info"):
        parts.append(count(report.count("info"), "info"))
    return f"Found {', '.join(parts)} ({what})."


# ---- json ------------------------------------------------------------------------------------


def to_json(report: Report) -> dict[str, Any]:
    by_severity: dict[str, list[dict[str, Any]]] = {"error": [], "warning": [], "info": []}
    for finding in report.findings:
        by_severity[finding.severity].append(finding.to_json())
    return {
        "ok": not by_severity["error"],
        "sqlVersion": report.sql_version,
        "rules": report.checked,
        "summary": {
            "files": len(report.files),
            "rules": report.rules,
            "errors": len(by_severity["error"]),
            "warnings": len(by_severity["warning"]),
            "infos": len(by_severity["info"]),
        },
        "errors": by_severity["error"],
        "warnings": by_severity["warning"],
        "infos": by_severity["info"],
    }


# ---- GitHub workflow commands ----------------------------------------------------------------

_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(finding: Finding) -> str:
    """`::error file=F,line=L,col=C,endLine=L,endColumn=C,title=CODE::message`."""
    properties = [f"file={_escape_property(finding.file)}", f"line={finding.line}",
                  f"col={finding.column}"]  # fmt: skip
    if finding.end_line is not None:
        properties.append(f"endLine={finding.end_line}")
    if finding.end_column is not None and finding.end_line in (None, finding.line):
        properties.append(f"endColumn={finding.end_column}")
    properties.append(f"title={_escape_property(f'iotsql {finding.code}')}")
    message = finding.message + (f"\nhint: {finding.hint}" if finding.hint else "")
    level = _GITHUB_LEVEL[finding.severity]
    return f"::{level} {','.join(properties)}::{_escape_data(message)}"
