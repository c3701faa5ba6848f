"""The exceptions iotsql raises: one hierarchy under `IotSqlError`, each carrying what a user
needs to fix the problem (a position and a caret for SQL, the field for a rule, the limit hit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

#: The HTTP status the AWS IoT APIs answer each error code with (the `httpStatusCode` of the
#: error shapes of botocore's `iot` and `iot-data` models; tests/test_errors_http.py checks it).
HTTP_STATUS: Final[Mapping[str, int]] = {
    "SqlParseException": 400,
    "InvalidRequestException": 400,
    "UnauthorizedException": 401,
    "ResourceNotFoundException": 404,
    "ConflictingResourceUpdateException": 409,
    "ResourceAlreadyExistsException": 409,
    "LimitExceededException": 410,
    "RequestEntityTooLargeException": 413,
    "InternalException": 500,
}


class IotSqlError(Exception):
    """Base class of every error iotsql raises on purpose.

    `code` is the error code the AWS API answers with for the same problem (an emulator of
    CreateTopicRule or Publish maps the exception to it); None where no API error applies.
    `http_status` is the HTTP status that code comes with."""

    code: str | None = None

    @property
    def http_status(self) -> int:
        """The HTTP status of `code` in the AWS IoT API (400, InvalidRequestException's, for an
        error without a code)."""
        return HTTP_STATUS.get(self.code or "InvalidRequestException", 400)


class SqlParseError(IotSqlError):
    """A statement AWS IoT would reject with `SqlParseException` at CreateTopicRule.

    `line` and `column` are 1-based; `str()` shows the offending line with a caret under it.
    """

    code = "SqlParseException"

    def __init__(
        self,
        message: str,
        sql: str = "",
        line: int = 1,
        column: int = 1,
        *,
        end_column: int | None = None,
        expected: Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.sql = sql
        self.line = line
        self.column = column
        self.end_column = end_column
        self.expected = tuple(expected)
        self.hint = hint
        super().__init__(self._render())

    @property
    def excerpt(self) -> str:
        """The statement's offending line with a caret (or a run of carets) under the spot."""
        lines = self.sql.splitlines() or [""]
        text = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        width = max(1, (self.end_column or self.column + 1) - self.column)
        return f"{text}\n{' ' * (self.column - 1)}{'^' * width}"

    def _render(self) -> str:
        parts = [f"{self.message} (line {self.line}, column {self.column})"]
        if self.expected:
            parts.append("expected one of: " + ", ".join(self.expected))
        if self.sql:
            parts.append(self.excerpt)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class LimitExceededError(IotSqlError):
    """A documented AWS IoT limit (payload size, topic length, SET variables...) was exceeded."""

    code = "LimitExceededException"

    def __init__(
        self, limit: str, value: int | float, maximum: int | float, detail: str = ""
    ) -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        text = f"{limit} limit exceeded: {_number(value)} > {_number(maximum)}"
        super().__init__(f"{text}: {detail}" if detail else text)


class PayloadTooLargeError(LimitExceededError):
    """A message body over `Limits.max_payload_bytes` (128 KB), which the broker refuses. Its
    code is iot-data's `RequestEntityTooLargeException` (413: "The payload exceeds the maximum
    size allowed"), the one error of the iot-data model for it: an emulator's Publish answers
    with it, and a boto3 client catches it as `client.exceptions.RequestEntityTooLargeException`
    (the model has no LimitExceededException)."""

    code = "RequestEntityTooLargeException"

    def __init__(self, size: int, maximum: int) -> None:
        super().__init__("payload size (bytes)", size, maximum)


def _number(value: int | float) -> str:
    """An amount in a limit message: seconds to the millisecond, counts as they are."""
    return f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


class BudgetExceededError(LimitExceededError):
    """One of iotsql's bounds on what a single message may cost was spent while the message
    was being processed: the evaluation's time budget, the size of the values a statement
    builds, the nested-query elements it visits, or the republished messages and action
    executions of one publish. The rule (or the action) fails for that message, and the engine
    hands the failure to the rule's error action, or keeps the message as a dead letter."""


class InvalidTopicError(IotSqlError):
    """A topic name or topic filter that AWS IoT would refuse."""

    code = "InvalidRequestException"


class InvalidPayloadError(IotSqlError):
    """A payload that cannot be a message body: text with no UTF-8 form (a lone surrogate
    such as "\\ud800" in a `str` payload), or a Python value that is not JSON."""

    code = "InvalidRequestException"


class EvaluationError(IotSqlError):
    """Evaluating a rule failed in a way AWS IoT reports as a rule execution failure (the
    actions do not run and the error action is invoked), for example an external function
    that could not be called."""

    def __init__(self, message: str, function: str | None = None) -> None:
        self.function = function
        super().__init__(message)


class RuleTerminatedError(EvaluationError):
    """The rule ends without invoking any actions, as AWS IoT ends it: a statement that calls
    an external function more often than the functions page allows (a second `get_dynamodb()`,
    a second `get_registry_data()` counting the action templates, a third protobuf `decode`).
    The statement is accepted at CreateTopicRule; `CompiledRule.termination` says why."""


class ProviderError(EvaluationError):
    """An external function (aws_lambda, get_dynamodb...) had no provider or its provider failed."""


class RuleValidationError(IotSqlError):
    """A topic rule payload that CreateTopicRule would refuse; `field` names the bad field."""

    code = "InvalidRequestException"

    def __init__(self, message: str, field: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class RuleLimitExceededError(LimitExceededError, RuleValidationError):
    """A topic rule payload over a limit (actions per rule, payload size): both the limit hit
    and the field of the payload that is too big, as CreateTopicRule reports it."""

    code = "InvalidRequestException"  # CreateTopicRule's answer, not the broker's quota error

    def __init__(self, limit: str, value: int, maximum: int, field: str) -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        self.field = field
        IotSqlError.__init__(self, f"{field}: {limit} limit exceeded: {value} > {maximum}")


class RepublishTopicSpaceError(RuleValidationError):
    """A republish action whose topic, as written, the rule's own FROM filter matches: every
    message it republishes would run the rule again. CreateTopicRule and ReplaceTopicRule refuse
    it with InvalidRequestException and exactly this message; `str()` is AWS's message, `field`
    the republish action's topic, `topic_filter` the rule's FROM filter."""

    code = "InvalidRequestException"

    def __init__(self, topic_filter: str, topic: str, field: str) -> None:
        self.topic_filter = topic_filter
        self.topic = topic
        self.field = field
        self.message = (
            f"Republish topic cannot be within topic space of rule's topic pattern '{topic_filter}'"
        )
        IotSqlError.__init__(self, self.message)


class ActionError(IotSqlError):
    """A rule action could not be delivered."""


class SqlWarning:
    """Something legal but almost certainly not what the author meant (a function called with
    the wrong number of arguments evaluates to Undefined on AWS). Collected at compile time."""

    __slots__ = ("code", "column", "line", "message")

    def __init__(self, message: str, line: int = 1, column: int = 1, code: str = "") -> None:
        self.message = message
        self.line = line
        self.column = column
        self.code = code

    def __repr__(self) -> str:
        return f"SqlWarning({self.message!r}, line={self.line}, column={self.column})"

    def __str__(self) -> str:
        return f"{self.message} (line {self.line}, column {self.column})"


class ResourceAlreadyExistsError(IotSqlError):
    """CreateTopicRule for a name that is taken (AWS: ResourceAlreadyExistsException)."""

    code = "ResourceAlreadyExistsException"


class ResourceNotFoundError(IotSqlError):
    """A rule that does not exist (AWS: ResourceNotFoundException / UnauthorizedException)."""

    code = "ResourceNotFoundException"


class DeadLetterWarning(UserWarning):
    """Dead letters were dropped: more than `Limits.max_dead_letters` were kept and the engine
    has no dead-letter file to write the oldest to (or it could not be written)."""
