"""MQTT topics as AWS IoT treats them: validation of topic names and filters, matching a topic
against a filter, Basic Ingest (`$aws/rules/<rule>/...`) topics, and `TopicIndex`, the trie the
engine routes with (a publish costs time proportional to the topic's depth and to the number of
matches, never to the number of filters)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from iotsql.errors import InvalidTopicError, LimitExceededError
from iotsql.limits import DEFAULT_LIMITS, Limits

BASIC_INGEST_PREFIX = "$aws/rules/"
_RULE_NAME = re.compile(r"[a-zA-Z0-9_]+")


@dataclass(frozen=True, slots=True)
class BasicIngest:
    """A Basic Ingest topic split into the rule it addresses and the topic `topic()` sees."""

    rule_name: str
    topic: str


def parse_basic_ingest(topic: str) -> BasicIngest | None:
    """`$aws/rules/Rule/a/b` -> BasicIngest('Rule', 'a/b'); None for any other topic."""
    if not topic.startswith(BASIC_INGEST_PREFIX):
        return None
    rest = topic[len(BASIC_INGEST_PREFIX) :]
    name, _, inner = rest.partition("/")
    if not _RULE_NAME.fullmatch(name):
        return None
    return BasicIngest(name, inner)


def _check_size(topic: str, what: str, limits: Limits) -> None:
    size = len(topic.encode("utf-8"))
    if size > limits.max_topic_bytes:
        raise LimitExceededError(f"{what} length (bytes)", size, limits.max_topic_bytes, topic[:60])
    slashes = topic.count("/")
    if slashes > limits.max_topic_slashes:
        raise LimitExceededError(
            f"{what} depth (forward slashes)", slashes, limits.max_topic_slashes, topic[:60]
        )


def validate_topic(topic: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise InvalidTopicError/LimitExceededError unless `topic` is a publishable topic name.
    A Basic Ingest prefix does not count toward the length and depth limits."""
    if not isinstance(topic, str) or topic == "":
        raise InvalidTopicError("a topic name must be a non-empty string")
    if "\x00" in topic:
        raise InvalidTopicError("a topic name cannot contain the null character")
    if "+" in topic or "#" in topic:
        raise InvalidTopicError(f"a topic name cannot contain the wildcards + or #: {topic!r}")
    ingest = parse_basic_ingest(topic)
    _check_size(ingest.topic if ingest else topic, "topic", limits)


def validate_filter(topic_filter: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise InvalidTopicError unless `topic_filter` is a valid MQTT topic filter: `#` only as
    the whole last level, `+` only as a whole level."""
    if not isinstance(topic_filter, str) or topic_filter == "":
        raise InvalidTopicError("a topic filter must be a non-empty string")
    if "\x00" in topic_filter:
        raise InvalidTopicError("a topic filter cannot contain the null character")
    levels = topic_filter.split("/")
    for position, level in enumerate(levels):
        if "#" in level and (level != "#" or position != len(levels) - 1):
            raise InvalidTopicError(
                f"'#' must be the whole last level of a topic filter: {topic_filter!r}"
            )
        if "+" in level and level != "+":
            raise InvalidTopicError(
                f"'+' must be a whole level of a topic filter: {topic_filter!r}"
            )
    _check_size(topic_filter, "topic filter", limits)


def has_wildcards(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


def filter_matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` matches `topic_filter`: `+` is one level, `#` one or more trailing levels
    (`sensor/#` matches `sensor/` and `sensor/x`, not `sensor`), and a wildcard never matches a
    first level that starts with `$`."""
    if not has_wildcards(topic_filter):
        return topic_filter == topic
    filter_levels = topic_filter.split("/")
    levels = topic.split("/")
    for i, wanted in enumerate(filter_levels):
        if wanted == "#":
            if i >= len(levels):
                return False
            return not (i == 0 and topic.startswith("$"))
        if i >= len(levels):
            return False
        if wanted == "+":
            if i == 0 and topic.startswith("$"):
                return False
        elif wanted != levels[i]:
            return False
    return len(filter_levels) == len(levels)


def compile_filter(topic_filter: str) -> Callable[[str], bool]:
    """A fast predicate equivalent to `filter_matches(topic_filter, topic)`, built once."""
    if not has_wildcards(topic_filter):
        return topic_filter.__eq__
    levels = topic_filter.split("/")
    parts: list[str | None] = []
    for level in levels:
        if level == "#":
            parts.append(None)
        elif level == "+":
            parts.append("[^/]*")
        else:
            parts.append(re.escape(level))
    pattern = ""
    for position, part in enumerate(parts):
        if part is None:  # `#`: one or more further levels (`a/#` needs at least `a/`)
            pattern += "(?:/.*)" if position else ".*"
            break
        pattern += ("/" if position else "") + part
    guard = "(?!\\$)" if levels[0] in ("+", "#") else ""
    fullmatch = re.compile(guard + pattern, re.DOTALL).fullmatch
    # Devices publish on the same topics again and again: remember recent answers.
    seen: dict[str, bool] = {}

    def matches(topic: str) -> bool:
        answer = seen.get(topic)
        if answer is None:
            if len(seen) >= _MATCH_CACHE_SIZE:
                seen.clear()
            answer = seen[topic] = fullmatch(topic) is not None
        return answer

    return matches


_MATCH_CACHE_SIZE = 4096


def topic_level(topic: str, index: int) -> str | None:
    """The 1-based `index`th level of `topic` (what `topic(n)` returns), or None."""
    if index < 1:
        return None
    levels = topic.split("/")
    return levels[index - 1] if index <= len(levels) else None


T = TypeVar("T", bound=Hashable)


class _Node:
    __slots__ = ("children", "hash_items", "items", "plus")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.plus: _Node | None = None
        self.items: dict[Any, int] = {}
        self.hash_items: dict[Any, int] = {}

    def empty(self) -> bool:
        return not (self.children or self.plus or self.items or self.hash_items)


class TopicIndex(Generic[T]):
    """Topic filters to items, matched by topic. `match` walks one trie level per topic level,
    following at most the exact child and the `+` child, and collects `#` items on the way.

    Items come back in the order they were added; an item may be added under several filters.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._root = _Node()
        self._limits = limits
        self._counter = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, topic_filter: str, item: T) -> None:
        validate_filter(topic_filter, self._limits)
        node = self._root
        levels = topic_filter.split("/")
        for level in levels:
            if level == "#":
                if item not in node.hash_items:
                    node.hash_items[item] = next(self._counter)
                    self._size += 1
                return
            if level == "+":
                if node.plus is None:
                    node.plus = _Node()
                node = node.plus
            else:
                child = node.children.get(level)
                if child is None:
                    child = node.children[level] = _Node()
                node = child
        if item not in node.items:
            node.items[item] = next(self._counter)
            self._size += 1

    def remove(self, topic_filter: str, item: T) -> bool:
        """Remove `item` from under `topic_filter`; False if it was not there."""
        path: list[tuple[_Node, str]] = []
        node: _Node | None = self._root
        for level in topic_filter.split("/"):
            assert node is not None
            if level == "#":
                found = node.hash_items.pop(item, None) is not None
                break
            path.append((node, level))
            node = node.plus if level == "+" else node.children.get(level)
            if node is None:
                return False
        else:
            assert node is not None
            found = node.items.pop(item, None) is not None
        if found:
            self._size -= 1
            self._prune(path)
        return found

    def _prune(self, path: list[tuple[_Node, str]]) -> None:
        for parent, level in reversed(path):
            child = parent.plus if level == "+" else parent.children.get(level)
            if child is None or not child.empty():
                return
            if level == "+":
                parent.plus = None
            else:
                del parent.children[level]

    def match(self, topic: str) -> list[T]:
        """Every item whose filter matches `topic`, in the order the items were added."""
        found: dict[Any, int] = {}
        nodes = [self._root]
        dollar = topic.startswith("$")
        for depth, level in enumerate(topic.split("/")):
            wildcards = not (depth == 0 and dollar)
            following: list[_Node] = []
            for node in nodes:
                if wildcards and node.hash_items:
                    found.update(node.hash_items)
                child = node.children.get(level)
                if child is not None:
                    following.append(child)
                if wildcards and node.plus is not None:
                    following.append(node.plus)
            if not following:
                nodes = following
                break
            nodes = following
        for node in nodes:
            if node.items:
                found.update(node.items)
        if len(found) > 1:
            return sorted(found, key=found.__getitem__)
        return list(found)

    def filters(self) -> Iterator[tuple[str, T]]:
        """Every (filter, item) pair in the index."""
        stack: list[tuple[_Node, tuple[str, ...]]] = [(self._root, ())]
        while stack:
            node, prefix = stack.pop()
            for item in node.items:
                yield "/".join(prefix), item
            for item in node.hash_items:
                yield "/".join((*prefix, "#")), item
            for level, child in node.children.items():
                stack.append((child, (*prefix, level)))
            if node.plus is not None:
                stack.append((node.plus, (*prefix, "+")))
