"""Section `routing`: `TopicIndex.match` against `HandTrie`, a dict trie written by hand with
the same semantics, at 1%, 10% and 100% of the rule count, after checking that both return the
same rules for every topic. Two series: *all match* (topics drawn from all the filters of the
row) and *100 match* (topics drawn from the smallest row's filters; the filters added at the
larger sizes cannot match them: the cost of rules that cannot match, which a publish must not
pay for)."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from iotsql.benchmark.baselines import HandTrie
from iotsql.benchmark.errors import BenchmarkError
from iotsql.benchmark.timing import best_of, us
from iotsql.benchmark.workload import Filter, routing_filters, routing_topics, unmatchable
from iotsql.topics import TopicIndex

TARGET_ROUTING_RATIO = 1.2
TARGET_ROUTING_GROWTH = 1.5


@dataclass
class RoutingPoint:
    rules: int
    topics: int
    index_us: float
    hand_us: float
    ratio: float
    matches_per_topic: float
    matched_share: float


@dataclass
class RoutingResult:
    #: The routing workload at each size: topics drawn from that size's own filters.
    points: list[RoutingPoint]
    #: Growth: topics drawn from the smallest size's filters; the filters added at the larger
    #: sizes have the same shapes but cannot match them.
    growth_points: list[RoutingPoint]

    @property
    def ratio(self) -> float:
        return self.points[-1].ratio

    @property
    def growth(self) -> float:
        return self.growth_points[-1].index_us / self.growth_points[0].index_us

    @property
    def hand_growth(self) -> float:
        return self.growth_points[-1].hand_us / self.growth_points[0].hand_us

    @property
    def natural_growth(self) -> float:
        return self.points[-1].index_us / self.points[0].index_us


def scale_sizes(rules: int) -> list[int]:
    return sorted({max(1, rules // 100), max(1, rules // 10), max(1, rules)})


def _match_all(match: Callable[[str], object], topics: Sequence[str]) -> None:
    for topic in topics:
        match(topic)


def routing_point(filters: list[Filter], topics: list[str], repeat: int) -> RoutingPoint:
    """Check TopicIndex against the hand trie on every topic, then time both."""
    index: TopicIndex[str] = TopicIndex()
    trie = HandTrie()
    for number, item in enumerate(filters):
        index.add(item.text, f"route_{number}")
        trie.add(item.text, f"route_{number}")
    matches = matched = 0
    for topic in topics:
        got = index.match(topic)
        if set(got) != set(trie.match(topic)) or len(got) != len(set(got)):
            raise BenchmarkError(
                f"routing with {len(filters)} filters: TopicIndex.match({topic!r}) gives "
                f"{sorted(got)}, the hand-written trie {sorted(trie.match(topic))}"
            )
        matches += len(got)
        matched += bool(got)
    runs: dict[str, Callable[[Sequence[str]], object]] = {
        "index": functools.partial(_match_all, index.match),
        "hand": functools.partial(_match_all, trie.match),
    }
    best = best_of(repeat, runs, topics)
    index_us, hand_us = us(best["index"], len(topics)), us(best["hand"], len(topics))
    return RoutingPoint(
        rules=len(filters), topics=len(topics), index_us=index_us, hand_us=hand_us,
        ratio=index_us / hand_us, matches_per_topic=matches / max(1, len(topics)),
        matched_share=matched / max(1, len(topics)),
    )  # fmt: skip


def bench_routing(rules: int, topic_count: int, repeat: int, seed: int) -> RoutingResult:
    filters = routing_filters(random.Random(seed + 10), rules)
    sizes = scale_sizes(rules)
    points = [
        routing_point(filters[:size],
                      routing_topics(random.Random(seed + 11), filters[:size], topic_count),
                      repeat)
        for size in sizes
    ]  # fmt: skip
    base = sizes[0]
    topics = routing_topics(random.Random(seed + 11), filters[:base], topic_count)
    others = [unmatchable(item) for item in filters[base:]]
    growth_points = [routing_point(filters[:base] + others[: size - base], topics, repeat)
                     for size in sizes]  # fmt: skip
    return RoutingResult(points, growth_points)
