"""MQTT topics as AWS IoT treats them: validation of topic names and filters, matching a topic
against a filter, Basic Ingest (`$aws/rules/<rule>/...`) topics, and `TopicIndex`, the index the
engine routes with (a publish costs time proportional to the topic's depth and to the number of
matches, never to the number of filters)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Hashable, Iterable, Iterator
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
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError as err:  # a lone surrogate ("\ud800"): no UTF-8 form, no topic
        raise InvalidTopicError(
            f"a {what} must be UTF-8 text: {topic[err.start]!r} at position {err.start} "
            "(a lone surrogate) has no UTF-8 form"
        ) from None
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
    if (
        type(topic) is str
        and topic.isascii()  # then its UTF-8 size is its length
        and 0 < len(topic) <= limits.max_topic_bytes
        and topic.count("/") <= limits.max_topic_slashes
        and "+" not in topic
        and "#" not in topic
        and "\x00" not in topic
        and not topic.startswith(BASIC_INGEST_PREFIX)
    ):
        return  # the common case, checked in one pass of cheap tests (a route cache miss)
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


def filter_hint(topic_filter: object) -> str | None:
    """What a topic filter that validate_filter refuses was probably meant to be: each level
    where a wildcard shares the level with other characters, or `#` is not last, rewritten
    (`t/#/x` -> `t/+/x`, `sensors/+x` -> `sensors/+`, `temp#` -> `temp/#`)."""
    if not isinstance(topic_filter, str) or topic_filter == "":
        return "FROM names the topic filter the rule listens to, for example FROM 'sensors/+/data'"
    levels = topic_filter.split("/")
    fixed: list[str] = []
    for position, level in enumerate(levels):
        last = position == len(levels) - 1
        if "#" in level and not (level == "#" and last):
            rest = level.replace("#", "").replace("+", "")
            if not last:
                fixed.append("+")
            elif rest:
                fixed += [rest, "#"]
            else:
                fixed.append("#")
        elif "+" in level and level != "+":
            fixed.append("+")
        else:
            fixed.append(level)
    meant = "/".join(fixed)
    if meant == topic_filter:
        return None
    return (
        f"did you mean '{meant}'? A wildcard is a whole level: '+' one level, '#' every level "
        "below and only at the end"
    )


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
    """A level of the wildcard trie: its concrete children, its `+` child, the items of the
    filters that end here, and the items of the filters that end with `#` here."""

    __slots__ = ("children", "hash_items", "items", "plus")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.plus: _Node | None = None
        self.items: dict[Any, int] = {}
        self.hash_items: dict[Any, int] = {}

    def empty(self) -> bool:
        return not (self.children or self.plus or self.items or self.hash_items)


def _earliest(maps: Iterable[dict[Any, int]]) -> dict[Any, int]:
    """Several item -> order maps in one, each item at its earliest order, sorted by order."""
    found: dict[Any, int] = {}
    for items in maps:
        for item, order in items.items():
            if found.get(item, order) >= order:
                found[item] = order
    return dict(sorted(found.items(), key=_second))


def _second(pair: tuple[Any, int]) -> int:
    return pair[1]


#: Transitions and states a matcher may remember before it is rebuilt from scratch: topics
#: with ever new levels (a device id under `+`) must not grow it without end.
_MATCHER_BUDGET = 100_000


class _Steps(dict[str, "_State"]):
    """A state's transitions by topic level, remembered as topics arrive."""

    __slots__ = ("state",)

    def __init__(self, state: _State) -> None:
        super().__init__()
        self.state = state

    def __missing__(self, level: str) -> _State:
        return self.state.advance(level)


class _State:
    """A state of the matcher: the trie nodes that the levels read so far lead to, and the
    nodes with `#` filters passed on the way (`seen`). Built the first time a topic reaches
    it, so that reading a level is one dict lookup however many nodes the state holds: the
    subset construction of a DFA, made lazily, as RE2 does for regular expressions.

    `result` is the answer for a topic that ends here (or whose next level leads nowhere):
    the items of the filters that end at the nodes and of the `#` filters passed, in order."""

    __slots__ = ("dead", "matcher", "nodes", "orders", "other", "passing", "result", "steps",
                 "wildcards")  # fmt: skip

    def __init__(
        self,
        matcher: _Matcher,
        nodes: tuple[_Node, ...],
        seen: frozenset[_Node],
        wildcards: bool,
    ) -> None:
        self.matcher = matcher
        self.nodes = nodes
        self.dead = not nodes
        self.wildcards = wildcards
        #: A `#` here matches when the topic goes on by one more level (`a/#`: `a/x`, not
        #: `a`); no wildcard matches a first level starting with `$` (`wildcards` false).
        here = frozenset(node for node in nodes if node.hash_items) if wildcards else frozenset()
        self.passing = seen | here
        self.orders = _earliest(
            [*(node.hash_items for node in seen), *(node.items for node in nodes if node.items)]
        )
        self.result = [*self.orders]
        self.steps = _Steps(self)
        self.other: _State | None = None

    def advance(self, level: str) -> _State:
        """The state after reading `level`: the concrete children named `level`, and the `+`
        children (built now, and remembered while the matcher's budget lasts)."""
        matcher = self.matcher
        children = [node.children[level] for node in self.nodes if level in node.children]
        if children:
            state = matcher.state([*children, *self._pluses()], self.passing)
        elif self.other is not None:
            state = self.other
        else:
            state = self.other = matcher.state(self._pluses(), self.passing)
        if matcher.remember():
            self.steps[level] = state
        return state

    def _pluses(self) -> list[_Node]:
        if not self.wildcards:
            return []
        return [node.plus for node in self.nodes if node.plus is not None]


class _Matcher:
    """The states of one version of the wildcard trie; replaced whenever a wildcard filter is
    added or removed, or when it has remembered its budget."""

    __slots__ = ("dollar", "full", "spent", "start", "states")

    def __init__(self, root: _Node) -> None:
        self.states: dict[tuple[frozenset[_Node], frozenset[_Node]], _State] = {}
        self.spent = 0
        self.full = False
        self.start = self.state([root], frozenset())
        #: The first level of a topic starting with `$`: no `+` or `#` filter can match it.
        self.dollar = _State(self, (root,), frozenset(), wildcards=False)

    def state(self, nodes: list[_Node], seen: frozenset[_Node]) -> _State:
        key = (frozenset(nodes), seen)
        state = self.states.get(key)
        if state is None:
            state = _State(self, tuple(dict.fromkeys(nodes)), seen, wildcards=True)
            if self.remember():
                self.states[key] = state
        return state

    def remember(self) -> bool:
        self.spent += 1
        if self.spent >= _MATCHER_BUDGET:
            self.full = True
        return not self.full


class TopicIndex(Generic[T]):
    """Topic filters to items, matched by topic.

    Filters without wildcards (most of them, in practice) sit in a hash map keyed by the whole
    filter: a topic finds them in one lookup, however many there are. Filters with `+` or `#`
    sit in a trie over topic levels, which `match` reads through a lazily built automaton
    (`_Matcher`): one dict lookup per topic level, so the cost of a publish grows with the
    topic's depth, not with the filters that cannot match it.

    Items come back in the order they were added (an item under several matching filters once,
    at its earliest place); an item may be added under several filters.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._exact: dict[str, dict[Any, int]] = {}
        self._root = _Node()
        self._wildcards = 0
        self._matcher: _Matcher | None = None
        self._limits = limits
        self._counter = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, topic_filter: str, item: T) -> None:
        validate_filter(topic_filter, self._limits)
        if not has_wildcards(topic_filter):
            items = self._exact.get(topic_filter)
            if items is None:
                items = self._exact[topic_filter] = {}
            if item not in items:
                items[item] = next(self._counter)
                self._size += 1
            return
        node = self._root
        levels = topic_filter.split("/")
        last = node.items
        for level in levels:
            if level == "#":
                last = node.hash_items
                break
            if level == "+":
                if node.plus is None:
                    node.plus = _Node()
                node = node.plus
            else:
                child = node.children.get(level)
                if child is None:
                    child = node.children[level] = _Node()
                node = child
            last = node.items
        if item not in last:
            last[item] = next(self._counter)
            self._size += 1
            self._wildcards += 1
        self._matcher = None

    def remove(self, topic_filter: str, item: T) -> bool:
        """Remove `item` from under `topic_filter`; False if it was not there."""
        if not has_wildcards(topic_filter):
            items = self._exact.get(topic_filter)
            if items is None or items.pop(item, None) is None:
                return False
            if not items:
                del self._exact[topic_filter]
            self._size -= 1
            return True
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
            self._wildcards -= 1
            self._prune(path)
            self._matcher = None
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
        exact = self._exact.get(topic)
        if not self._wildcards:
            return [*exact] if exact is not None else []
        matcher = self._matcher
        if matcher is None or matcher.full:
            matcher = self._matcher = _Matcher(self._root)
        levels = topic.split("/")
        first = levels[0]
        state = (matcher.dollar if first[:1] == "$" else matcher.start).steps[first]
        for level in levels[1:]:
            if state.dead:
                break
            state = state.steps[level]
        if exact is None:
            return [*state.result]
        if not state.result:
            return [*exact]
        return [*_earliest((exact, state.orders))]

    def filters(self) -> Iterator[tuple[str, T]]:
        """Every (filter, item) pair in the index."""
        for topic_filter, items in self._exact.items():
            for item in items:
                yield topic_filter, item
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
