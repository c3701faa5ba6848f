"""One replay through one engine: `Replayer` publishes messages, counts what they caused and
gives back each message's requests and problems; `RuleDefinitions` are the rules as plain
data, so that another process (a Dask worker) builds the same engine."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iotsql.actions.base import ActionRequest
from iotsql.actions.types import ACTION_TYPES
from iotsql.engine import RulesEngine
from iotsql.replay.lines import LINE_ERRORS, BadLine, describe
from iotsql.replay.summary import Position, RuleStats, Totals, count, problems


def _accept(request: ActionRequest) -> None:
    """A sink that takes every request (the replay writes them; nothing is kept in memory)."""


_accept.instant = True  # type: ignore[attr-defined]  # never blocks: no worker thread needed


def replay_engine() -> RulesEngine:
    """An engine whose every action is accepted as it comes and whose republished messages run
    through the rules again: what a replay publishes into."""
    engine = RulesEngine(feed_back_republish=True)
    for action_type in ACTION_TYPES:
        engine.register_sink(action_type, _accept)
    return engine


@dataclass(frozen=True)
class RuleDefinitions:
    """The rules of an engine as (name, topicRulePayload) pairs, in the engine's order, and a
    fingerprint of them (a worker keeps the engine it built for a fingerprint)."""

    rules: tuple[tuple[str, dict[str, Any]], ...]
    fingerprint: str = field(default="")

    @classmethod
    def of(cls, engine: RulesEngine) -> RuleDefinitions:
        rules = tuple(
            (name, {**rule.payload, "ruleDisabled": rule.disabled})
            for name, rule in engine.rules.items()
        )
        text = json.dumps(rules, sort_keys=True, default=repr).encode("utf-8", "surrogatepass")
        return cls(rules, hashlib.sha256(text).hexdigest())

    def engine(self) -> RulesEngine:
        engine = replay_engine()
        for name, payload in self.rules:
            engine.create_topic_rule(name, payload)
        return engine


_built: dict[str, RulesEngine] = {}
_building = threading.Lock()


def engine_for(definitions: RuleDefinitions) -> RulesEngine:
    """The engine of `definitions`, built once per worker process: the tasks of a replay share
    it (it keeps nothing from one message to the next, and publishes from several threads)
    rather than compile every rule again for each block. A worker keeps the engine of the
    last rules it was given only."""
    with _building:
        engine = _built.get(definitions.fingerprint)
        if engine is None:
            for old in _built.values():
                old.close()
            _built.clear()
            engine = _built[definitions.fingerprint] = definitions.engine()
        return engine


def request_line(request: ActionRequest) -> str:
    """One request as replay writes it: `ActionRequest.to_json()`, compact, on one line."""
    return json.dumps(request.to_json(), separators=(",", ":"), ensure_ascii=False,
                      default=_jsonable)  # fmt: skip


def _jsonable(value: Any) -> Any:
    """What `iotsql.cli.common.dumps` writes for a value JSON has no form for."""
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return str(value)


class Replayer:
    """Publishes messages through `engine`, keeping the counts per rule and in all."""

    def __init__(self, engine: RulesEngine, rules: Sequence[str] | None = None) -> None:
        self.engine = engine
        names = engine.rules if rules is None else rules
        self.stats: dict[str, RuleStats] = {name: RuleStats() for name in names}
        self.totals = Totals()

    def publish(
        self, topic: str, body: bytes, context: Mapping[str, Any] | None, position: Position
    ) -> tuple[list[ActionRequest], list[str]]:
        """The requests one message caused (republished messages included) and its problems
        (failed rules and actions); a message the engine refuses raises BadLine."""
        try:
            report = self.engine.publish(topic, body, context)
        except LINE_ERRORS as error:
            raise BadLine(describe(error)) from None
        finally:
            self.engine.drain_dead_letters()
        self.totals.messages += 1
        count(report, self.stats)
        if not report.rules:
            self.totals.add_unmatched(topic, position)
        requests = report.requests
        self.totals.requests += len(requests)
        return requests, problems(report)
