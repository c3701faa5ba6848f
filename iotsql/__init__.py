"""iotsql: the AWS IoT Core rules engine as a library.

rule = iotsql.compile("SELECT temp FROM 'sensors/+' WHERE temp > 30")
rule.evaluate(b'{"temp": 31}', topic="sensors/a")  # -> Output({'temp': 31})

The names below are imported on first use (PEP 562), so that `import iotsql` costs next to
nothing and a program pays only for what it uses: a script that evaluates rules never imports
the engine's threads, the loaders or the CLI (docs/architecture.md, "Import cost").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iotsql.ast import unparse
    from iotsql.engine import DeadLetter, PublishReport, RulesEngine
    from iotsql.errors import (
        ActionError,
        BudgetExceededError,
        DeadLetterWarning,
        EvaluationError,
        InvalidPayloadError,
        InvalidTopicError,
        IotSqlError,
        LimitExceededError,
        ProviderError,
        RepublishTopicSpaceError,
        ResourceAlreadyExistsError,
        ResourceNotFoundError,
        RuleLimitExceededError,
        RuleTerminatedError,
        RuleValidationError,
        SqlParseError,
        SqlWarning,
    )
    from iotsql.limits import Limits
    from iotsql.loaders import LoadedRule, load_rules
    from iotsql.message import Context, Message
    from iotsql.output import Output
    from iotsql.parser import parse, parse_expression
    from iotsql.rule import CompiledRule, Explanation, TopicRule, compile
    from iotsql.templates import CompiledTemplate, render_template
    from iotsql.topics import (
        TopicIndex,
        filter_matches,
        parse_basic_ingest,
        validate_filter,
        validate_topic,
    )
    from iotsql.values import UNDEFINED, SqlVersion

__version__ = "0.1.0"

#: Where each public name lives.
_HOMES = {
    "unparse": "iotsql.ast",
    "DeadLetter": "iotsql.engine",
    "PublishReport": "iotsql.engine",
    "RulesEngine": "iotsql.engine",
    "ActionError": "iotsql.errors",
    "BudgetExceededError": "iotsql.errors",
    "DeadLetterWarning": "iotsql.errors",
    "EvaluationError": "iotsql.errors",
    "InvalidPayloadError": "iotsql.errors",
    "InvalidTopicError": "iotsql.errors",
    "IotSqlError": "iotsql.errors",
    "LimitExceededError": "iotsql.errors",
    "ProviderError": "iotsql.errors",
    "RepublishTopicSpaceError": "iotsql.errors",
    "ResourceAlreadyExistsError": "iotsql.errors",
    "ResourceNotFoundError": "iotsql.errors",
    "RuleLimitExceededError": "iotsql.errors",
    "RuleTerminatedError": "iotsql.errors",
    "RuleValidationError": "iotsql.errors",
    "SqlParseError": "iotsql.errors",
    "SqlWarning": "iotsql.errors",
    "Limits": "iotsql.limits",
    "LoadedRule": "iotsql.loaders",
    "load_rules": "iotsql.loaders",
    "Context": "iotsql.message",
    "Message": "iotsql.message",
    "parse": "iotsql.parser",
    "parse_expression": "iotsql.parser",
    "CompiledRule": "iotsql.rule",
    "Explanation": "iotsql.rule",
    "Output": "iotsql.output",
    "TopicRule": "iotsql.rule",
    "compile": "iotsql.rule",
    "CompiledTemplate": "iotsql.templates",
    "render_template": "iotsql.templates",
    "TopicIndex": "iotsql.topics",
    "filter_matches": "iotsql.topics",
    "parse_basic_ingest": "iotsql.topics",
    "validate_filter": "iotsql.topics",
    "validate_topic": "iotsql.topics",
    "UNDEFINED": "iotsql.values",
    "SqlVersion": "iotsql.values",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'iotsql' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
    "UNDEFINED",
    "ActionError",
    "BudgetExceededError",
    "CompiledRule",
    "CompiledTemplate",
    "Context",
    "DeadLetter",
    "DeadLetterWarning",
    "EvaluationError",
    "Explanation",
    "InvalidPayloadError",
    "InvalidTopicError",
    "IotSqlError",
    "LimitExceededError",
    "Limits",
    "LoadedRule",
    "Message",
    "Output",
    "ProviderError",
    "PublishReport",
    "RepublishTopicSpaceError",
    "ResourceAlreadyExistsError",
    "ResourceNotFoundError",
    "RuleLimitExceededError",
    "RuleTerminatedError",
    "RuleValidationError",
    "RulesEngine",
    "SqlParseError",
    "SqlVersion",
    "SqlWarning",
    "TopicIndex",
    "TopicRule",
    "__version__",
    "compile",
    "filter_matches",
    "load_rules",
    "parse",
    "parse_basic_ingest",
    "parse_expression",
    "render_template",
    "unparse",
    "validate_filter",
    "validate_topic",
]
