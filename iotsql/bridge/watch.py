"""`--watch`: reload the rule files when they change and bring the engine's rules in line
(create, replace, delete), then the subscriptions (Bridge.refresh_subscriptions). Files that do
not load leave the rules in force as they were."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from iotsql.engine import RulesEngine
from iotsql.errors import IotSqlError
from iotsql.loaders import load_rules


class RuleFiles:
    """The modification times of the files under the given paths (folders recursively)."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self._seen = self._snapshot()

    def _snapshot(self) -> dict[str, tuple[float, int]]:
        seen: dict[str, tuple[float, int]] = {}
        for path in self.paths:
            files = [path] if not path.is_dir() else [p for p in path.rglob("*") if p.is_file()]
            for file in files:
                try:
                    stat = os.stat(file)
                except OSError:
                    continue
                seen[str(file)] = (stat.st_mtime, stat.st_size)
        return seen

    def changed(self) -> bool:
        now = self._snapshot()
        if now != self._seen:
            self._seen = now
            return True
        return False


def read_rules(paths: Iterable[str | Path]) -> dict[str, dict[str, Any]]:
    """name -> topicRulePayload of every rule in the files, validated as CreateTopicRule would
    (an IotSqlError names the file and field of the first problem)."""
    staging = RulesEngine()
    payloads: dict[str, dict[str, Any]] = {}
    for path in paths:
        for loaded in load_rules(path, validate=False):
            try:
                staging.create_topic_rule(loaded.name, loaded.payload)
            except IotSqlError as err:
                raise loaded.locate(err) from err
            payloads[loaded.name] = loaded.payload
    return payloads


def sync_rules(
    engine: RulesEngine, wanted: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str], list[str]]:
    """Make `engine` hold the `wanted` rules, `current` being what it was given last time;
    returns the names (created, replaced, deleted)."""
    created, replaced, deleted = [], [], []
    for name, payload in wanted.items():
        if name not in engine.rules:
            engine.create_topic_rule(name, payload)
            created.append(name)
        elif current.get(name) != payload:
            engine.replace_topic_rule(name, payload)
            replaced.append(name)
    for name in list(engine.rules):
        if name not in wanted:
            engine.delete_topic_rule(name)
            deleted.append(name)
    return created, replaced, deleted
