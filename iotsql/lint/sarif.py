"""`iotsql check --format sarif`: a SARIF 2.1.0 log (OASIS Static Analysis Results Interchange
Format), as GitHub code scanning reads it: one run of the tool `iotsql`, every code as a
reporting descriptor (id, name, descriptions, help text, help URI, default level), every finding
as a result with its physical location (the file relative to the current folder, under the
`%SRCROOT%` base, and the region: start line and column, end line and column, exclusive, in
Unicode code points). Findings about a statement given on the command line have no location."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from iotsql.lint.codes import CODES, Code
from iotsql.lint.runner import Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/iotsql/iotsql"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("iotsql")
    except PackageNotFoundError:
        return "0"


def _descriptor(code: Code) -> dict[str, Any]:
    return {
        "id": code.name,
        "name": "".join(part.capitalize() for part in code.name.split("-")),
        "shortDescription": {"text": code.title},
        "fullDescription": {"text": f"{code.title} {code.fix}"},
        "help": {
            "text": f"{code.title}\nFix: {code.fix}",
            "markdown": f"{code.title}\n\n**Fix:** {code.fix}",
        },
        "helpUri": code.help_uri,
        "defaultConfiguration": {"level": _LEVEL[code.severity], "enabled": code.default},
        "properties": {"tags": ["aws-iot", code.severity], "cfnLintId": code.cfn_lint_id},
    }


def _artifact(file: str, base: Path) -> dict[str, str]:
    """The file relative to `base` (under %SRCROOT%), or its absolute URI when outside."""
    absolute = Path(os.path.abspath(file))
    try:
        relative = absolute.relative_to(base)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": "%SRCROOT%"}


def to_sarif(report: Report, base: Path | None = None) -> dict[str, Any]:
    base = (base or Path.cwd()).resolve()
    names = list(CODES)
    results = []
    for finding in report.findings:
        text = finding.message + (f"\nhint: {finding.hint}" if finding.hint else "")
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "ruleIndex": names.index(finding.code),
            "level": _LEVEL[finding.severity],
            "message": {"text": text},
        }
        if finding.file not in report.statements:
            region: dict[str, Any] = {"startLine": finding.line, "startColumn": finding.column}
            if finding.end_line is not None:
                region["endLine"] = finding.end_line
            if finding.end_column is not None:
                region["endColumn"] = finding.end_column
            result["locations"] = [{"physicalLocation": {
                "artifactLocation": _artifact(finding.file, base),
                "region": region,
            }}]  # fmt: skip
        properties = {k: v for k, v in (("rule", finding.rule), ("resource", finding.resource))
                      if v is not None}  # fmt: skip
        if properties:
            result["properties"] = properties
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "iotsql",
                "version": _version(),
                "informationUri": INFORMATION_URI,
                "rules": [_descriptor(CODES[name]) for name in names],
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": base.as_uri() + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }  # fmt: skip
