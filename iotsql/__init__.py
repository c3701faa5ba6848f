"""iotsql: the AWS IoT Core rules engine as a library.

rule = iotsql.compile("SELECT temp FROM 'sensors/+' WHERE temp > 30")
rule.evaluate(b'{"temp": 31}', topic="sensors/a")  # -> Output({'temp': 31})
"""

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
from iotsql.parser import parse, parse_expression
from iotsql.rule import CompiledRule, Explanation, Output, TopicRule, compile
from iotsql.templates import CompiledTemplate, render_template
from iotsql.topics import TopicIndex, filter_matches, validate_filter, validate_topic
from iotsql.values import UNDEFINED, SqlVersion

__version__ = "0.1.0"

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
    "parse_expression",
    "render_template",
    "unparse",
    "validate_filter",
    "validate_topic",
]
