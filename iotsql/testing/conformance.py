"""Conformance cases (../shared/conformance-format.md): load them from `.json`/`.jsonl` files
or folders, run them against iotsql, and compare results strictly by JSON type. Shared by the
pytest suite (tests/test_conformance.py) and `iotsql test`."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotsql.errors import EvaluationError, IotSqlError, RuleValidationError
from iotsql.loaders.bounds import read_bounded
from iotsql.message import Context, json_body
from iotsql.rule import CompiledRule

_OUTCOMES = ("expected", "expectedBase64", "expectedPattern", "fires", "error")
_PAYLOADS = ("payload", "payloadText", "payloadBase64")
_KNOWN_FIELDS = {
    "id", "source", "sql", "sqlVersion", "topic", "context", "template", "expectedTemplate",
    "note", "status", "rule", *_OUTCOMES, *_PAYLOADS,
}  # fmt: skip
DEFAULT_VERSION = "2016-03-23"


class CaseFormatError(IotSqlError):
    """A conformance file or case that does not follow the format."""


@dataclass(frozen=True)
class Case:
    """One conformance case, as read from its file."""

    id: str
    data: Mapping[str, Any]
    file: str = ""

    @property
    def sql(self) -> str:
        return str(self.data.get("sql", ""))

    @property
    def rule(self) -> str | None:
        """The topic rule the case runs instead of its own SQL (`"rule": "HighTemp"`)."""
        value = self.data.get("rule")
        return None if value is None else str(value)

    @property
    def sql_version(self) -> str:
        return str(self.data.get("sqlVersion", DEFAULT_VERSION))

    def payload_bytes(self) -> bytes:
        if "payload" in self.data:
            try:
                return json_body(self.data["payload"])
            except IotSqlError as err:
                raise CaseFormatError(f"{self.file} ({self.id}): 'payload': {err}") from None
        if "payloadText" in self.data:
            return str(self.data["payloadText"]).encode("utf-8")
        if "payloadBase64" in self.data:
            return _base64(self.data["payloadBase64"], f"{self.file} ({self.id}): 'payloadBase64'")
        return b""


@dataclass
class CaseResult:
    case: Case
    passed: bool
    expected: Any = None
    actual: Any = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.case.id, "expected": self.expected, "actual": self.actual,
                "message": self.message, "file": self.case.file}  # fmt: skip


@dataclass
class Summary:
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "failures": [r.to_json() for r in self.results if not r.passed],
        }


# ---- loading ----------------------------------------------------------------------------------


def _validate(data: Any, where: str) -> Case:
    if not isinstance(data, Mapping):
        raise CaseFormatError(f"{where}: a case must be a JSON object")
    unknown = set(data) - _KNOWN_FIELDS
    if unknown:
        raise CaseFormatError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    case_id = data.get("id")
    if not isinstance(case_id, str) or not case_id:
        raise CaseFormatError(f"{where}: every case needs a string 'id'")
    if "sql" not in data and "rule" not in data:
        raise CaseFormatError(f"{where} ({case_id}): 'sql' is required")
    if "sql" in data and "rule" in data:
        raise CaseFormatError(f"{where} ({case_id}): give either 'sql' or 'rule', not both")
    if "rule" in data and (not isinstance(data["rule"], str) or not data["rule"]):
        raise CaseFormatError(f"{where} ({case_id}): 'rule' is the name of a topic rule")
    outcomes = [k for k in _OUTCOMES if k in data]
    if len(outcomes) > 1 or (not outcomes and "expectedTemplate" not in data):
        raise CaseFormatError(f"{where} ({case_id}): give exactly one of {', '.join(_OUTCOMES)}")
    if sum(1 for k in _PAYLOADS if k in data) > 1:
        raise CaseFormatError(f"{where} ({case_id}): give at most one of {', '.join(_PAYLOADS)}")
    if data.get("error") not in (None, "parse"):
        raise CaseFormatError(f"{where} ({case_id}): 'error' must be \"parse\"")
    if "fires" in data and data["fires"] is not False:
        raise CaseFormatError(f"{where} ({case_id}): 'fires' can only be false")
    if "expectedPattern" in data:
        _check_pattern(data["expectedPattern"], f"{where} ({case_id})")
    for key in ("payloadBase64", "expectedBase64"):
        if key in data:
            _base64(data[key], f"{where} ({case_id}): '{key}'")
    if "payloadText" in data:
        text = data["payloadText"]
        if not isinstance(text, str) or not _is_utf8(text):
            raise CaseFormatError(
                f"{where} ({case_id}): 'payloadText' must be text with a UTF-8 form "
                "(give other bodies as payloadBase64)"
            )
    return Case(case_id, data, where)


def _check_pattern(pattern: Any, where: str) -> None:
    if not isinstance(pattern, Mapping) or not all(isinstance(v, str) for v in pattern.values()):
        raise CaseFormatError(f"{where}: 'expectedPattern' must be an object of regex strings")
    for key, regex in pattern.items():
        try:
            re.compile(regex)
        except re.error as err:
            raise CaseFormatError(f"{where}: 'expectedPattern' {key!r}: {err}") from None


def _base64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise CaseFormatError(f"{where} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as err:  # (binascii.Error)
        raise CaseFormatError(f"{where} is not valid base64: {err}") from None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def load_file(path: str | Path) -> list[Case]:
    """The cases of one `.json` (an array of cases) or `.jsonl` (one case per line) file."""
    path = Path(path)
    try:
        # At most Limits.max_document_bytes, as the rules files: `iotsql test /dev/zero` read
        # for ever, and a file of cases is no larger than a template.
        text = read_bounded(path, str(path))
    except RuleValidationError as err:  # over the size, or not UTF-8
        raise CaseFormatError(str(err)) from None
    except OSError as err:
        raise CaseFormatError(f"{path}: cannot read it: {err.strerror or err}") from None
    cases: list[Case] = []
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            cases.append(_validate(_json(line, f"{path}:{number}", 1), f"{path}:{number}"))
        return cases
    data = _json(text, str(path), None)
    if not isinstance(data, list):
        raise CaseFormatError(f"{path}: a .json conformance file holds an array of cases")
    for index, item in enumerate(data):
        cases.append(_validate(item, f"{path}[{index}]"))
    return cases


def _json(text: str, where: str, line: int | None) -> Any:
    """The JSON value of a case file (or of one line of it, `line` given): invalid JSON, or
    JSON nested deeper than the parser can follow, is a CaseFormatError naming the place."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        spot = where if line is not None else f"{where}:{err.lineno}"
        raise CaseFormatError(f"{spot}: invalid JSON: {err.msg}") from None
    except RecursionError:
        raise CaseFormatError(f"{where}: invalid JSON: nested too deeply to read") from None


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file()
                and p.name != "schema.json"
            )  # fmt: skip
        elif path.exists():
            yield path
        else:
            raise CaseFormatError(f"{path}: no such file or folder")


def load_cases(paths: Iterable[str | Path]) -> list[Case]:
    """Every case under the given files and folders (recursively), checking ids are unique."""
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for path in iter_files(paths):
        for case in load_file(path):
            if case.id in seen:
                raise CaseFormatError(
                    f"{case.file}: duplicate id {case.id!r} (also in {seen[case.id]})"
                )
            seen[case.id] = case.file
            cases.append(case)
    return cases


# ---- comparing --------------------------------------------------------------------------------


def same_json(expected: Any, actual: Any) -> bool:
    """Strict JSON equality: 5 is not 5.0, true is not 1, key order is irrelevant, array order
    matters, floats compare by value."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, float) or isinstance(actual, float):
        if not (isinstance(expected, float) and isinstance(actual, float)):
            return False
        return expected == actual or (math.isnan(expected) and math.isnan(actual))
    if isinstance(expected, int) or isinstance(actual, int):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(same_json(e, a) for e, a in zip(expected, actual, strict=False))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(same_json(expected[k], actual[k]) for k in expected)
        )
    return type(expected) is type(actual) and bool(expected == actual)


def _matches_pattern(pattern: Mapping[str, str], actual: Any) -> bool:
    if not isinstance(actual, dict) or set(actual) != set(pattern):
        return False
    for key, regex in pattern.items():
        value = actual[key]
        text = value if isinstance(value, str) else json.dumps(value)
        if re.fullmatch(regex, text) is None:
            return False
    return True


def _describe(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


# ---- running ---------------------------------------------------------------------------------


#: The topic rules cases may name (`"rule": "HighTemp"`): what `iotsql.load_rules` returns, or
#: a mapping of rule names to topicRulePayloads.
Rules = Iterable[Any] | Mapping[str, Mapping[str, Any]]


def rule_payloads(rules: Rules | None) -> dict[str, Mapping[str, Any]]:
    """Rule name -> topicRulePayload, from LoadedRules (`.name`, `.payload`) or a mapping."""
    if rules is None:
        return {}
    if isinstance(rules, Mapping):
        return dict(rules)
    loaded: Iterable[Any] = rules
    return {rule.name: rule.payload for rule in loaded}


def _statement(case: Case, rules: Mapping[str, Mapping[str, Any]]) -> tuple[str, str] | CaseResult:
    """The SQL and version a case runs: its own, or those of the rule it names (with the API's
    default version, 2015-10-08, when the rule has none; a `sqlVersion` in the case wins)."""
    data = case.data
    name = case.rule
    if name is None:
        return case.sql, case.sql_version
    payload = rules.get(name)
    if payload is None:
        if not rules:
            why = (
                f"the case runs rule {name!r}: give the rules it names "
                "(run_cases(cases, rules=iotsql.load_rules(path)), iotsql test --rules PATH)"
            )
        else:
            why = f"no rule named {name!r} (rules: {', '.join(sorted(rules))})"
        return CaseResult(case, False, _expected_of(data), None, why)
    version = data.get("sqlVersion") or payload.get("awsIotSqlVersion") or "2015-10-08"
    return str(payload.get("sql", "")), str(version)


def run_case(case: Case, rules: Rules | None = None) -> CaseResult:
    """Run one case; never raises for a wrong result (only for a malformed case). `rules` are
    the topic rules that cases with `"rule": "<name>"` instead of `"sql"` run."""
    data = case.data
    statement = _statement(case, rules if isinstance(rules, Mapping) else rule_payloads(rules))
    if isinstance(statement, CaseResult):
        return statement
    sql, version = statement
    try:
        rule = CompiledRule(sql, version)
    except IotSqlError as err:
        if data.get("error") == "parse":
            return CaseResult(case, True, "parse error", "parse error")
        return CaseResult(case, False, _expected_of(data), "parse error", str(err))
    if data.get("error") == "parse":
        return CaseResult(case, False, "parse error", "compiled", "the statement was accepted")
    payload = case.payload_bytes()
    topic = str(data.get("topic", ""))
    try:
        context = Context.of(data.get("context"))
    except IotSqlError as err:
        raise CaseFormatError(f"{case.file} ({case.id}): 'context': {err}") from None
    if "template" in data:
        try:
            rendered = rule.render_template(str(data["template"]), payload, topic, context)
        except IotSqlError as err:
            return CaseResult(case, False, data.get("expectedTemplate"), None, str(err))
        if rendered != data.get("expectedTemplate"):
            return CaseResult(case, False, data.get("expectedTemplate"), rendered,
                              "template rendering differs")  # fmt: skip
        if not any(k in data for k in _OUTCOMES):
            return CaseResult(case, True, data.get("expectedTemplate"), rendered)
    try:
        output = rule.evaluate(payload, topic=topic, context=context)
    except EvaluationError as err:
        output = None
        failure = str(err)
    except IotSqlError as err:  # a topic or payload the broker refuses: not a result
        return CaseResult(case, False, _expected_of(data), "error",
                          f"{type(err).__name__}: {err}")  # fmt: skip
    else:
        failure = ""
    if data.get("fires") is False:
        if output is None:
            return CaseResult(case, True, "does not fire", "did not fire")
        return CaseResult(case, False, "does not fire", _describe(output.value), "the rule fired")
    if output is None:
        return CaseResult(case, False, _expected_of(data), "did not fire",
                          failure or _why_not(rule, payload, topic, context, data))  # fmt: skip
    actual = output.value
    if "expectedBase64" in data:
        expected_bytes = _base64(
            data["expectedBase64"], f"{case.file} ({case.id}): 'expectedBase64'"
        )
        body = output.to_bytes()
        return CaseResult(case, body == expected_bytes, data["expectedBase64"], _describe(body))
    if "expectedPattern" in data:
        ok = _matches_pattern(data["expectedPattern"], actual)
        return CaseResult(case, ok, data["expectedPattern"], _describe(actual))
    expected = data.get("expected")
    if isinstance(actual, bytes):
        return CaseResult(case, False, expected, _describe(actual), "the output is raw bytes")
    return CaseResult(case, same_json(expected, actual), expected, actual)


def _why_not(rule: CompiledRule, payload: bytes, topic: str, context: Any,
             data: Mapping[str, Any]) -> str:  # fmt: skip
    """Why a case's rule did not fire (explained only then, so passing cases cost nothing)."""
    reason = rule.explain(payload, topic=topic, context=context).reason
    if "topic" not in data:
        reason += " (the case has no 'topic': give the topic the message is published on)"
    return f"the rule did not fire: {reason}"


def _expected_of(data: Mapping[str, Any]) -> Any:
    for key in _OUTCOMES:
        if key in data:
            return data[key] if key != "error" else "parse error"
    return data.get("expectedTemplate")


def run_cases(cases: Iterable[Case], rules: Rules | None = None) -> Summary:
    """Run every case; `rules` as for `run_case`."""
    payloads = rule_payloads(rules)
    summary = Summary()
    for case in cases:
        summary.results.append(run_case(case, payloads))
    return summary
