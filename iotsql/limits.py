"""The quotas AWS IoT documents for the rules engine and the message broker, in one place, so
that each can be changed (`Limits(max_payload_bytes=...)`) and every check names the limit it
enforces. docs/limits.md lists each one with its AWS source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    #: MQTT payload size (message broker quota): 128 KB.
    max_payload_bytes: int = 128 * 1024
    #: Topic length in UTF-8 bytes, excluding a Basic Ingest `$aws/rules/<name>/` prefix.
    max_topic_bytes: int = 256
    #: Forward slashes in a topic (8 levels), excluding the Basic Ingest prefix.
    max_topic_slashes: int = 7
    #: A rule payload (SQL, actions, error action...) is at most 128 KB; the SQL counts in it.
    max_sql_bytes: int = 128 * 1024
    #: Actions per rule (TopicRulePayload.actions: 0-10).
    max_actions: int = 10
    #: SET clause: distinct variables per statement, name length, size of each value and of all.
    max_variables: int = 10
    max_variable_name: int = 64
    max_variable_bytes: int = 128 * 1024
    max_variables_total_bytes: int = 128 * 1024
    #: Output of a string/array-building function (lpad, rpad, concat, transform, replace...):
    #: bounded by the largest payload an action can take.
    max_value_bytes: int = 128 * 1024
    #: Time a regular expression may run before the call is Undefined (seconds).
    regex_timeout: float = 1.0
    #: Nesting of republish actions feeding the same engine before the loop guard stops them.
    max_republish_depth: int = 8


DEFAULT_LIMITS = Limits()
