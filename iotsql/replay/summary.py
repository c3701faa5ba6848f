"""The counts of a replay: per rule (`RuleStats`) and in all (`Totals`), added up message by
message and merged partition by partition into the same summary a single process prints."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from iotsql.engine import PublishReport

#: Where a line is: (source, line number within it). A source is a file of MESSAGES for one
#: process, a block of one for a distributed replay; sources are numbered in reading order,
#: so positions sort in the order of the input.
Position = tuple[int, int]


@dataclass
class RuleStats:
    matched: int = 0
    fired: int = 0
    actions: int = 0
    errors: int = 0

    def add(self, other: RuleStats) -> None:
        self.matched += other.matched
        self.fired += other.fired
        self.actions += other.actions
        self.errors += other.errors


def count(report: PublishReport, stats: dict[str, RuleStats]) -> None:
    """Add one publish (and what it republished) to the per-rule counts."""
    for rule in report.rules:
        entry = stats.setdefault(rule.rule_name, RuleStats())
        entry.matched += 1
        entry.fired += rule.fired
        handled = [*rule.actions, *([rule.error_action] if rule.error_action else [])]
        entry.actions += sum(1 for action in handled if action.ok)
        entry.errors += sum(1 for action in handled if not action.ok) + (rule.error is not None)
    for sub in report.republished:
        count(sub, stats)


def merge_stats(into: dict[str, RuleStats], other: dict[str, RuleStats]) -> None:
    """Add `other`'s counts to `into`, rule by rule (rules new to `into` come last)."""
    for name, entry in other.items():
        into.setdefault(name, RuleStats()).add(entry)


def problems(report: PublishReport) -> list[str]:
    """The rule evaluations and actions that failed for one publish."""
    found = [f"rule {r.rule_name} failed: {r.error}" for r in report.errors]
    for failure in report.failures:
        kind = "error action" if failure.is_error_action else "action"
        found.append(f"rule {failure.rule_name}: {kind} {failure.action_type} failed: "
                     f"{failure.error}")  # fmt: skip
    return found


@dataclass
class Totals:
    """The counts of a whole replay: messages replayed (and those no rule matched, with the
    first few of their topics), requests, bad lines, and the time the messages took."""

    messages: int = 0
    requests: int = 0
    bad: int = 0
    unmatched: int = 0
    #: The first topics no rule matched, each at the position of its first message.
    first_unmatched: list[tuple[Position, str]] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0

    SHOWN_TOPICS = 3

    @property
    def unmatched_topics(self) -> list[str]:
        return [topic for _, topic in self.first_unmatched]

    def add_unmatched(self, topic: str, position: Position = (0, 0)) -> None:
        self.unmatched += 1
        shown = self.first_unmatched
        if len(shown) < self.SHOWN_TOPICS and all(topic != seen for _, seen in shown):
            shown.append((position, topic))

    def merge(self, other: Totals) -> None:
        """Add the counts of another part of the same replay. The topics shown stay the first
        ones of the input: each part keeps its first few in order, so the first few of all
        are among them (the elapsed time is the caller's: parts overlap)."""
        self.messages += other.messages
        self.requests += other.requests
        self.bad += other.bad
        self.unmatched += other.unmatched
        first: dict[str, Position] = {}
        for position, topic in sorted([*self.first_unmatched, *other.first_unmatched]):
            first.setdefault(topic, position)
        ordered = sorted((position, topic) for topic, position in first.items())
        self.first_unmatched = ordered[: self.SHOWN_TOPICS]

    def lines(self) -> list[str]:
        took = f"{self.elapsed * 1000:.1f} ms" if self.elapsed < 1 else f"{self.elapsed:,.2f} s"
        rate = f"{self.messages / self.elapsed:,.0f}" if self.elapsed > 0 else "-"
        first = (
            f"{_count(self.messages, 'message')} replayed in {took} ({rate} messages/s), "
            f"{_count(self.requests, 'action request')}"
        )
        if self.bad:
            first += f", {_count(self.bad, 'bad line')}"
        if not self.unmatched:
            return [first, "every message matched a rule" if self.messages else "no messages"]
        topics = ", ".join(self.unmatched_topics)
        more = " ..." if self.unmatched > len(self.first_unmatched) else ""
        return [first, f"{_count(self.unmatched, 'message')} matched no rule: {topics}{more}"]


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def summary_lines(stats: dict[str, RuleStats]) -> list[str]:
    width = max([len("rule"), *(len(name) for name in stats)])
    lines = [f"{'rule':<{width}}  matched  fired  actions  errors"]
    for name, entry in stats.items():
        lines.append(
            f"{name:<{width}}  {entry.matched:>7}  {entry.fired:>5}  {entry.actions:>7}  "
            f"{entry.errors:>6}"
        )
    return lines
