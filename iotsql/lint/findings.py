"""A finding of `iotsql check`: a code, a severity, a message and its fix, at a place in a file
(1-based line and column, the end exclusive), with the rule and the resource it is about."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from iotsql.lint.codes import CODES, Severity
from iotsql.loaders.positions import FilePosition


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None
    hint: str | None = None
    rule: str | None = None
    resource: str | None = None
    expected: tuple[str, ...] = ()

    @classmethod
    def at(
        cls,
        code: str,
        message: str,
        where: FilePosition,
        *,
        hint: str | None = None,
        rule: str | None = None,
        resource: str | None = None,
        expected: tuple[str, ...] = (),
        severity: Severity | None = None,
    ) -> Finding:
        """A finding of `code` (its registered severity unless given) at `where`."""
        return cls(
            code, severity or CODES[code].severity, message, where.file, where.line,
            where.column, where.end_line, where.end_column, hint, rule, resource, expected,
        )  # fmt: skip

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def promoted(self) -> Finding:
        """The finding as an error (`--warnings-as-errors`)."""
        return replace(self, severity="error") if self.severity == "warning" else self

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.code)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "endLine": self.end_line,
            "endColumn": self.end_column,
            "rule": self.rule,
            "resource": self.resource,
        }
        if self.expected:
            data["expected"] = list(self.expected)
        return data
