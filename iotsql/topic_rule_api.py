"""The topic-rule operations of the AWS IoT API over one RulesEngine, for an emulator that
answers them with iotsql's engine: the request as botocore shapes it (the operation's input
members: `ruleName`, `topicRulePayload`, `maxResults`...) in, the response body as the service
sends it out (JSON-ready: timestamps in epoch seconds, absent members left out), a refusal as an
IotSqlError whose `.code` and `.http_status` are what the service answers.

    body = handle(engine, "CreateTopicRule", {"ruleName": "R", "topicRulePayload": {...}})
    page = handle(engine, "ListTopicRules", {"maxResults": 50, "nextToken": token})
    made = handle(engine, "CreateTopicRuleDestination", {"destinationConfiguration": {
        "httpUrlConfiguration": {"confirmationUrl": "https://example.com/hook"}}})

The topic rule destinations live in `engine.destinations` (iotsql/topic_rule_destinations.py).

docs/hosts.md says what each operation does and the choices made where AWS is silent.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from iotsql.engine import RulesEngine
from iotsql.errors import IotSqlError, RuleValidationError
from iotsql.hosts import topic_rule_error_code
from iotsql.rule import TopicRule
from iotsql.topic_rule_destinations import MAX_DESTINATIONS

__all__ = [
    "DEFAULT_MAX_RESULTS",
    "DESTINATION_MAX_RESULTS",
    "MAX_RESULTS",
    "OPERATIONS",
    "handle",
    "list_item",
    "topic_rule_response",
]

#: ListTopicRules' `maxResults` range (the API's) and the page size without one (AWS does not
#: document its default; iotsql's choice, docs/hosts.md).
MAX_RESULTS: Final = 10_000
DEFAULT_MAX_RESULTS: Final = 1000
#: ListTopicRuleDestinations' `maxResults` range (the model's, 1 to 1,000), also the page size
#: without one: every destination of an account (AWS's quota is 1,000).
DESTINATION_MAX_RESULTS: Final = MAX_DESTINATIONS
_RULE_NAME: Final = re.compile(r"[a-zA-Z0-9_]{1,128}")
_DESTINATION_TOKEN: Final = re.compile(r"d[0-9]{1,18}")


class _TopicRuleRequestError(IotSqlError):
    """A refusal of CreateTopicRule or ReplaceTopicRule whose code is not the refused payload's
    own (a quota over the payload is an InvalidRequestException there, never a
    LimitExceededException): the same message, the operation's code. The refusal is its
    `__cause__`."""

    def __init__(self, err: IotSqlError, code: str) -> None:
        super().__init__(str(err))
        self.code = code


def topic_rule_response(rule: TopicRule) -> dict[str, Any]:
    """The GetTopicRule response body of `rule` (`ruleArn`, `rule`), `createdAt` in epoch
    seconds as the service sends it."""
    body = rule.to_get_topic_rule()
    body["rule"]["createdAt"] = rule.created_at
    return body


def list_item(rule: TopicRule) -> dict[str, Any]:
    """The ListTopicRules entry (TopicRuleListItem) of `rule`; a rule without FROM (Basic
    Ingest only) has no `topicPattern`."""
    item: dict[str, Any] = {"ruleArn": rule.arn, "ruleName": rule.name}
    if rule.topic_filter is not None:
        item["topicPattern"] = rule.topic_filter
    item["createdAt"] = rule.created_at
    item["ruleDisabled"] = rule.disabled
    return item


def _member(request: Mapping[str, Any], name: str, kind: type, required: bool = False) -> Any:
    value = request.get(name)
    if value is None:
        if required:
            raise RuleValidationError("is required", name)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RuleValidationError(f"must be {_KIND_NAMES[kind]}, not {value!r}", name)
    return value


_KIND_NAMES: Final[Mapping[type, str]] = {str: "a string", int: "an integer", bool: "a boolean",
                                          Mapping: "a structure"}  # fmt: skip


def _put(engine: RulesEngine, request: Mapping[str, Any], create: bool) -> dict[str, Any]:
    name = _member(request, "ruleName", str, required=True)
    payload = _member(request, "topicRulePayload", Mapping, required=True)
    try:
        if create:
            engine.create_topic_rule(name, payload)
        else:
            engine.replace_topic_rule(name, payload)
    except IotSqlError as err:
        if err.code in ("ResourceAlreadyExistsException", "ResourceNotFoundException"):
            raise
        code = topic_rule_error_code(err)
        if err.code == code:
            raise
        raise _TopicRuleRequestError(err, code) from err
    return {}


def _create(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    return _put(engine, request, create=True)


def _replace(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    return _put(engine, request, create=False)


def _get(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    return topic_rule_response(engine.rule(_member(request, "ruleName", str, required=True)))


def _delete(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    engine.delete_topic_rule(_member(request, "ruleName", str, required=True))
    return {}


def _enable(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    engine.enable_topic_rule(_member(request, "ruleName", str, required=True))
    return {}


def _disable(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    engine.disable_topic_rule(_member(request, "ruleName", str, required=True))
    return {}


def _list(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    """Rules by name; `topic` keeps the rules whose FROM filter is that text, `ruleDisabled`
    those in that state; a page ends after `maxResults` rules, and its `nextToken` names the
    last rule returned, so that rules created or deleted between pages shift nothing."""
    topic = _member(request, "topic", str)
    disabled = _member(request, "ruleDisabled", bool)
    size = _member(request, "maxResults", int)
    if size is None:
        size = DEFAULT_MAX_RESULTS
    elif not 1 <= size <= MAX_RESULTS:
        raise RuleValidationError(f"must be from 1 to {MAX_RESULTS}, not {size}", "maxResults")
    token = _member(request, "nextToken", str)
    after = None if token is None else _token_name(token)
    rules = sorted(engine.rules.values(), key=lambda rule: rule.name)
    chosen = [
        rule for rule in rules
        if (after is None or rule.name > after)
        and (topic is None or rule.topic_filter == topic)
        and (disabled is None or rule.disabled == disabled)
    ]  # fmt: skip
    body: dict[str, Any] = {"rules": [list_item(rule) for rule in chosen[:size]]}
    if len(chosen) > size:
        body["nextToken"] = _token(chosen[size - 1].name)
    return body


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def _token_name(token: str, operation: str = "ListTopicRules") -> str:
    """The rule name (ListTopicRules) or `d<sequence>` (ListTopicRuleDestinations) a token of
    `operation` holds; InvalidRequestException for any other text."""
    try:
        name = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeError, binascii.Error):
        name = ""
    wanted = _RULE_NAME if operation == "ListTopicRules" else _DESTINATION_TOKEN
    if not wanted.fullmatch(name):
        raise RuleValidationError(f"is not a token a previous {operation} returned", "nextToken")
    return name


# ---- topic rule destinations ----------------------------------------------------------------


def _create_destination(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    configuration = _member(request, "destinationConfiguration", Mapping, required=True)
    return {"topicRuleDestination": engine.destinations.create(configuration).to_api()}


def _get_destination(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    arn = _member(request, "arn", str, required=True)
    return {"topicRuleDestination": engine.destinations.get(arn).to_api()}


def _update_destination(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    arn = _member(request, "arn", str, required=True)
    engine.destinations.update(arn, _member(request, "status", str, required=True))
    return {}


def _delete_destination(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    engine.destinations.delete(_member(request, "arn", str, required=True))
    return {}


def _confirm_destination(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    engine.destinations.confirm(_member(request, "confirmationToken", str, required=True))
    return {}


def _list_destinations(engine: RulesEngine, request: Mapping[str, Any]) -> dict[str, Any]:
    """Destinations oldest first; a page's `nextToken` names the last one returned by its
    place in that order, so destinations created or deleted between pages shift nothing."""
    size = _member(request, "maxResults", int)
    if size is None:
        size = DESTINATION_MAX_RESULTS
    elif not 1 <= size <= DESTINATION_MAX_RESULTS:
        raise RuleValidationError(
            f"must be from 1 to {DESTINATION_MAX_RESULTS}, not {size}", "maxResults"
        )
    token = _member(request, "nextToken", str)
    chosen = list(engine.destinations.after(0 if token is None else _token_sequence(token)))
    body: dict[str, Any] = {"destinationSummaries": [d.summary() for d in chosen[:size]]}
    if len(chosen) > size:
        body["nextToken"] = _token(f"d{chosen[size - 1].sequence}")
    return body


def _token_sequence(token: str) -> int:
    name = _token_name(token, "ListTopicRuleDestinations")
    return int(name[1:])


_HANDLERS: Final[Mapping[str, Callable[[RulesEngine, Mapping[str, Any]], dict[str, Any]]]] = {
    "CreateTopicRule": _create,
    "ReplaceTopicRule": _replace,
    "GetTopicRule": _get,
    "ListTopicRules": _list,
    "DeleteTopicRule": _delete,
    "EnableTopicRule": _enable,
    "DisableTopicRule": _disable,
    "CreateTopicRuleDestination": _create_destination,
    "GetTopicRuleDestination": _get_destination,
    "ListTopicRuleDestinations": _list_destinations,
    "UpdateTopicRuleDestination": _update_destination,
    "DeleteTopicRuleDestination": _delete_destination,
    "ConfirmTopicRuleDestination": _confirm_destination,
}
#: The operations `handle` answers.
OPERATIONS: Final = tuple(_HANDLERS)


def handle(
    engine: RulesEngine, operation: str, request: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Answer one topic-rule operation of the IoT API (`OPERATIONS`) on `engine`: the response
    body, or the IotSqlError the service would answer with (`.code`, `.http_status`)."""
    handler = _HANDLERS.get(operation)
    if handler is None:
        raise ValueError(
            f"iotsql.topic_rule_api does not answer {operation!r}; it answers "
            f"{', '.join(OPERATIONS)}"
        )
    if request is not None and not isinstance(request, Mapping):
        raise RuleValidationError(f"must be a structure, not {request!r}", operation)
    return handler(engine, request or {})
