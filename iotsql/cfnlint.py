"""iotsql's findings as cfn-lint rules:

    cfn-lint template.yaml --append-rules iotsql.cfnlint

(cfn-lint 1.x takes several values after `--append-rules`, so the template comes first.) Each
code of `iotsql check` is one rule, under the id `iotsql.lint.codes` gives it (E9100-E9212,
W9120-W9213, I9123 and I9211; cfn-lint keeps the 9xxx ids for its users' rules): SQL errors
and habits of other dialects, warnings about the SQL, CreateTopicRule's refusals, the SQL
version left to the default, `lambda-permission-missing`..., at the line and column in the
template where iotsql places them. cfn-lint's own options select them (`--ignore-checks W9200`,
`--include-checks I9123,I9211` for the informational `from-missing` and `no-error-action`).
What cfn-lint checks itself (`CFN_LINT_OWN`: properties against the schema, GetAtt
attributes, the template's syntax) is not repeated.

Internals of cfn-lint used: `--append-rules MODULE` imports the module and instantiates every
subclass of `cfnlint.rules.CloudFormationLintRule` in it (`cfnlint.helpers.create_rules`); a
rule's `match(cfn)` returns `cfnlint.rules.RuleMatch`es, whose `location` attribute (0-based
line, column, end line, end column) places them; `cfn.filename` names the template file, which
iotsql reads and checks once for all the rules. Supported: cfn-lint 1.x (checked on import).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from iotsql.lint.codes import CODES, Code
from iotsql.lint.config import Options
from iotsql.lint.findings import Finding
from iotsql.lint.runner import check
from iotsql.loaders.cfn_schema import cfnlint_version

SUPPORTED_MAJOR = "1"

if (cfnlint_version() or "").split(".")[0] != SUPPORTED_MAJOR:  # pragma: no cover
    raise ImportError(
        f"iotsql.cfnlint supports cfn-lint 1.x, not {cfnlint_version() or 'an unknown version'}"
    )


@functools.lru_cache(maxsize=64)
def findings_of(filename: str, mtime: float) -> tuple[Finding, ...]:
    """iotsql's findings about a template file (every code; cfn-lint filters), once per file
    and modification time for all the rules."""
    options = Options(select=frozenset(CODES))
    return tuple(check([Path(filename)], options).findings)


def _findings(cfn: Any) -> tuple[Finding, ...]:
    filename = getattr(cfn, "filename", None)
    if not filename or filename == "-":
        return ()
    path = Path(filename)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return ()
    return findings_of(str(path), mtime)


def _match(finding: Finding) -> RuleMatch:
    message = finding.message + (f" (hint: {finding.hint})" if finding.hint else "")
    if finding.rule:
        message += f" [rule {finding.rule}]"
    path: list[str] = ["Resources", finding.resource] if finding.resource else []
    end_line = finding.end_line or finding.line
    end_column = finding.end_column or finding.column + 1
    return RuleMatch(
        path,
        message,
        location=(finding.line - 1, finding.column - 1, end_line - 1, end_column - 1),
    )


def _rule_class(code: Code) -> type[CloudFormationLintRule]:
    def match(self: CloudFormationLintRule, cfn: Any) -> list[RuleMatch]:
        return [_match(f) for f in _findings(cfn) if f.code == code.name]

    name = "Iotsql" + "".join(part.capitalize() for part in code.name.split("-"))
    return type(name, (CloudFormationLintRule,), {
        "id": code.cfn_lint_id,
        "shortdesc": f"iotsql {code.name}",
        "description": f"{code.title} Fix: {code.fix}",
        "source_url": code.help_uri,
        "tags": ["iotsql", "iot", "topic-rule"],
        "match": match,
        "__module__": __name__,
    })  # fmt: skip


#: Codes cfn-lint reports itself: schema properties (E3002, E3003, E3030...), GetAtt attributes
#: (E1010) and templates that do not parse (E0000).
CFN_LINT_OWN = frozenset({"unknown-property", "missing-property", "invalid-value",
                          "getatt-attribute", "document-syntax"})  # fmt: skip

for _code in CODES.values():
    if _code.name in CFN_LINT_OWN:
        continue
    _cls = _rule_class(_code)
    globals()[_cls.__name__] = _cls
del _code, _cls
