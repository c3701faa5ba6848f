"""What `iotsql check` reports and how: the codes selected and ignored (globally and per file),
warnings as errors, the SQL version of statements, template parameters, paths excluded, the
output format. Defaults come from a `[tool.iotsql]` table in the nearest pyproject.toml (from
the current folder up), command-line options override them:

    [tool.iotsql]
    select = ["ALL"]                      # or a list of codes; default: every code on by default
    extend-select = ["no-error-action"]   # add codes that are off by default
    ignore = ["sql-version-default"]
    warnings-as-errors = true
    sql-version = "2016-03-23"            # of statements and .sql files
    exclude = ["cdk.out/**", "legacy/*"]  # globs, relative to the pyproject.toml's folder
    format = "text"
    [tool.iotsql.per-file-ignores]
    "v1/*.yaml" = ["sql-version-default"]
    [tool.iotsql.parameters]              # CloudFormation parameters, Terraform variables,
    Stage = "prod"                        # Serverless options
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from iotsql.lint.codes import CODES, DEFAULT_CODES, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

FORMATS = ("text", "json", "github", "sarif")
_KEYS = ("select", "extend-select", "ignore", "per-file-ignores", "warnings-as-errors",
         "sql-version", "exclude", "format", "parameters")  # fmt: skip


class ConfigError(Exception):
    """A bad option or `[tool.iotsql]` entry (exit status 2)."""


@dataclass(frozen=True)
class Options:
    select: frozenset[str] | None = None
    extend_select: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    warnings_as_errors: bool = False
    sql_version: str = "2016-03-23"
    parameters: Mapping[str, Any] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    format: str = "text"
    root: Path = field(default_factory=Path.cwd)

    @property
    def codes(self) -> frozenset[str]:
        """The codes reported."""
        chosen = DEFAULT_CODES if self.select is None else self.select
        return (chosen | self.extend_select) - self.ignore

    def reports(self, code: str, file: str) -> bool:
        if code not in self.codes:
            return False
        relative = self._relative(file)
        return not any(
            code in codes and _matches(relative, pattern)
            for pattern, codes in self.per_file_ignores
        )

    def severity(self, severity: Severity) -> Severity:
        return "error" if self.warnings_as_errors and severity == "warning" else severity

    def excluded(self, path: Path) -> bool:
        relative = self._relative(str(path))
        return any(_matches(relative, pattern) for pattern in self.exclude)

    def _relative(self, file: str) -> str:
        try:
            return Path(os.path.abspath(file)).relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return Path(file).as_posix()


def _matches(relative: str, pattern: str) -> bool:
    """A glob against a relative path: `*` within a folder, `**` across folders, a pattern
    without `/` against the file's name too."""
    pattern = pattern.rstrip("/")
    if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, pattern + "/*"):
        return True
    if pattern.endswith("/**") and (relative + "/").startswith(pattern[:-2]):
        return True
    parts = relative.split("/")
    if "/" not in pattern:
        return any(fnmatch.fnmatchcase(part, pattern) for part in parts)
    return any(fnmatch.fnmatchcase("/".join(parts[:n]), pattern) for n in range(1, len(parts)))


def codes_of(values: Iterable[str], where: str) -> frozenset[str]:
    """Code names from options (comma-separated allowed), `ALL` for every code; an unknown name
    is a ConfigError with the close ones."""
    names: set[str] = set()
    for value in values:
        for name in (part.strip() for part in str(value).split(",")):
            if not name:
                continue
            if name.upper() == "ALL":
                names.update(CODES)
                continue
            if name not in CODES:
                close = difflib.get_close_matches(name, list(CODES), n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConfigError(f"{where}: unknown code {name!r}{hint} (docs/check.md lists "
                                  "the codes)")  # fmt: skip
            names.add(name)
    return frozenset(names)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.iotsql] table, from `start` up."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if isinstance(data.get("tool"), dict) and "iotsql" in data["tool"]:
                return candidate
    return None


def load_config(path: Path) -> Options:
    """The options of a pyproject.toml's [tool.iotsql] table."""
    where = f"{path}: [tool.iotsql]"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    table = (data.get("tool") or {}).get("iotsql")
    if not isinstance(table, dict):
        raise ConfigError(f"{path} has no [tool.iotsql] table")
    for key in table:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"{where}: unknown setting {key!r}{hint}")
    options = Options(root=path.parent)
    if "select" in table:
        options = replace(options, select=codes_of(_strings(table, "select", where), where))
    if "extend-select" in table:
        options = replace(options, extend_select=codes_of(_strings(table, "extend-select", where),
                                                          where))  # fmt: skip
    if "ignore" in table:
        options = replace(options, ignore=codes_of(_strings(table, "ignore", where), where))
    ignores = table.get("per-file-ignores", {})
    if not isinstance(ignores, dict):
        raise ConfigError(f"{where}: per-file-ignores must be a table of glob = [codes]")
    options = replace(options, per_file_ignores=tuple(
        (str(glob), codes_of(_listed(value, f"per-file-ignores.{glob}", where), where))
        for glob, value in ignores.items()))  # fmt: skip
    if "warnings-as-errors" in table:
        value = table["warnings-as-errors"]
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: warnings-as-errors must be true or false")
        options = replace(options, warnings_as_errors=value)
    if "sql-version" in table:
        options = replace(options, sql_version=sql_version(table["sql-version"], where))
    if "exclude" in table:
        options = replace(options, exclude=tuple(_strings(table, "exclude", where)))
    if "format" in table:
        if table["format"] not in FORMATS:
            raise ConfigError(f"{where}: format must be one of {', '.join(FORMATS)}")
        options = replace(options, format=str(table["format"]))
    if "parameters" in table:
        parameters = table["parameters"]
        if not isinstance(parameters, dict):
            raise ConfigError(f"{where}: parameters must be a table of name = value")
        options = replace(options, parameters=dict(parameters))
    return options


def sql_version(value: Any, where: str) -> str:
    from iotsql.values import SqlVersion

    versions = [v.value for v in SqlVersion]
    if value not in versions:
        raise ConfigError(f"{where}: sql-version must be one of {', '.join(versions)}")
    return str(value)


def _strings(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    return _listed(table[key], key, where)


def _listed(value: Any, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    return list(value)
