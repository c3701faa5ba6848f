"""The quotas AWS IoT documents for the rules engine and the message broker, and the few bounds
iotsql adds of its own so that hostile input costs bounded time and memory, in one place, so
that each can be changed (`Limits(max_payload_bytes=...)`) and every check names the limit it
enforces. docs/limits.md lists each one with its AWS source and what happens when it is hit.

A rule compiled with non-default limits (`iotsql.compile(sql, limits=...)`,
`RulesEngine(limits=...)`) evaluates with them: the functions read the limits in force through
`current_limits()`, which is the rule's while it compiles and evaluates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    #: MQTT payload size (message broker quota): 128 KB.
    max_payload_bytes: int = 128 * 1024
    #: Topic length in UTF-8 bytes, excluding a Basic Ingest `$aws/rules/<name>/` prefix.
    max_topic_bytes: int = 256
    #: Forward slashes in a topic (8 levels), excluding the Basic Ingest prefix.
    max_topic_slashes: int = 7
    #: A rule payload (SQL, actions, error action, description... as UTF-8 JSON) is at most
    #: 128 KB, and the SQL counts in it: `iotsql.compile` checks the SQL alone against
    #: max_sql_bytes, CreateTopicRule the whole payload against max_rule_payload_bytes.
    max_sql_bytes: int = 128 * 1024
    max_rule_payload_bytes: int = 128 * 1024
    #: Actions per rule (TopicRulePayload.actions: 0-10).
    max_actions: int = 10
    #: SET clause: distinct variables per statement, name length, size of each value and of all.
    max_variables: int = 10
    max_variable_name: int = 64
    max_variable_bytes: int = 128 * 1024
    max_variables_total_bytes: int = 128 * 1024
    #: External functions per SQL statement (the functions page): one get_dynamodb, one
    #: get_registry_data, two protobuf `decode(..., 'proto', ...)`.
    max_get_dynamodb_calls: int = 1
    max_get_registry_data_calls: int = 1
    max_protobuf_decode_calls: int = 2
    #: Output of a string/array-building function (lpad, rpad, concat, transform, replace...):
    #: bounded by the largest payload an action can take.
    max_value_bytes: int = 128 * 1024
    #: Time a regular expression may run before the call is Undefined (seconds), within what
    #: is left of the evaluation's own budget (evaluation_timeout).
    regex_timeout: float = 1.0
    #: iotsql's own: time one rule may spend on one message (seconds, wall clock), shared by
    #: every regular expression, nested-query element and function call of the evaluation and
    #: by the rendering of its actions' templates; past it the rule fails for that message.
    #: None turns the budget off. Three regex time-outs: one slow pattern costs its call
    #: (Undefined), not the rule, even on a loaded machine, where the regex package's time-out
    #: (CPU time) ends late in wall-clock time.
    evaluation_timeout: float | None = 3.0
    #: iotsql's own, AWS's message size: the size (as compact UTF-8 JSON) of a rule's output
    #: and of every array, object and string a statement builds or converts; past it the rule
    #: fails for that message (functions: the call is Undefined, see max_value_bytes).
    max_output_bytes: int = 128 * 1024
    #: iotsql's own: deepest expression nesting a statement may have (AWS documents none;
    #: evaluation recurses once per level, so this keeps clear of Python's recursion limit).
    max_nesting_depth: int = 150
    #: iotsql's own: elements all the nested queries of one evaluation may visit together, so
    #: that nested queries multiplying each other cannot run for ever.
    max_nested_query_elements: int = 1_000_000
    #: Time a sink may take to deliver one action before the action fails (seconds); None
    #: calls every sink inline with no time-out. AWS's HTTP action gives up after 3 s.
    action_timeout: float | None = 10.0
    #: iotsql's own: sink calls that may be running at once in the engine's worker threads
    #: (hung ones included); past it, new actions wait for a free thread within their time-out.
    max_action_threads: int = 64
    #: Nesting of republish actions feeding the same engine before the loop guard stops them.
    max_republish_depth: int = 8
    #: iotsql's own: messages the republish actions of one publish may feed back into the
    #: engine, across the whole chain, and actions (error actions included) the publish may
    #: execute; past either, the remaining actions fail (to the error action or the dead
    #: letters) with a message naming the limit.
    max_republishes_per_publish: int = 256
    max_actions_per_publish: int = 10_000
    #: iotsql's own: dead letters the engine keeps in memory; past it the oldest are written
    #: to the engine's dead-letter file (`RulesEngine(dead_letter_file=...)`), or, without one,
    #: dropped, counted (`engine.dropped_dead_letters`) and warned about (DeadLetterWarning).
    max_dead_letters: int = 10_000
    #: iotsql's own, for the loaders (`iotsql.load_rules`, `RulesEngine.load_rules`, `iotsql
    #: check`): the size of one file (CloudFormation's own maximum is 1 MB), its nesting, the
    #: values it holds once YAML aliases are expanded, and the instances one Terraform resource
    #: may expand to with count or for_each (AWS: 1,000 topic rules per account and region).
    max_document_bytes: int = 16 * 1024 * 1024
    max_document_depth: int = 64
    max_document_nodes: int = 1_000_000
    max_resource_instances: int = 1_000
    #: iotsql's own: one line of a JSON-lines input (`iotsql replay`): a message's topic,
    #: payload (base64 or escaped text takes more than the 128 KB body) and context.
    max_input_line_bytes: int = 1024 * 1024

    def per_statement_limit(self, function: str) -> int | None:
        """How many calls of the external function `function` (`get_dynamodb`,
        `get_registry_data`, or `decode` for protobuf) one statement may make."""
        if function == "get_dynamodb":
            return self.max_get_dynamodb_calls
        if function == "get_registry_data":
            return self.max_get_registry_data_calls
        if function == "decode":
            return self.max_protobuf_decode_calls
        return None


DEFAULT_LIMITS = Limits()

_CURRENT: ContextVar[Limits] = ContextVar("iotsql_limits", default=DEFAULT_LIMITS)


#: `current_limits()`: the limits in force, those of the rule being compiled or evaluated (or
#: of the engine publishing), else DEFAULT_LIMITS. The context variable's own `get`, so that the
#: evaluation hot path pays no extra call.
current_limits = _CURRENT.get


@contextmanager
def using_limits(limits: Limits) -> Iterator[None]:
    """Make `limits` the ones `current_limits()` returns inside the block (this thread/task)."""
    if limits is _CURRENT.get():
        yield
        return
    token = _CURRENT.set(limits)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def push_limits(limits: Limits) -> Token[Limits]:
    """`using_limits` without a context manager, for the evaluation hot path: pair with
    `pop_limits(token)` in a `finally`."""
    return _CURRENT.set(limits)


def pop_limits(token: Token[Limits]) -> None:
    _CURRENT.reset(token)
