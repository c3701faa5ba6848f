"""Topic filters: validation, matching, Basic Ingest, and TopicIndex checked against a
brute-force reference (every filter tried on every topic) on generated filters and topics."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.topics import (
    TopicIndex,
    compile_filter,
    filter_matches,
    parse_basic_ingest,
    topic_level,
    validate_filter,
    validate_topic,
)


def reference_match(topic_filter: str, topic: str) -> bool:
    """MQTT matching written from the rules, independently of iotsql.topics."""
    f, t = topic_filter.split("/"), topic.split("/")
    if t[0].startswith("$") and f[0] in ("+", "#"):
        return False
    for i, level in enumerate(f):
        if level == "#":
            return len(t) > i  # one or more remaining levels (`a/#` needs at least `a/`)
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


LEVELS = st.sampled_from(["a", "b", "c", "", "$aws", "$SYS", "things", "x y"])
topics = st.lists(LEVELS, min_size=1, max_size=5).map("/".join).filter(bool)
filters = (
    st.lists(st.one_of(LEVELS, st.just("+")), min_size=1, max_size=5)
    .flatmap(lambda levels: st.sampled_from(["/".join(levels), "/".join([*levels, "#"]), "#"]))
    .filter(bool)
)


@given(filters, topics)
@settings(max_examples=2000, deadline=None)
def test_filter_matching_agrees_with_the_reference(topic_filter: str, topic: str) -> None:
    expected = reference_match(topic_filter, topic)
    assert filter_matches(topic_filter, topic) is expected
    assert compile_filter(topic_filter)(topic) is expected


@given(st.lists(filters, min_size=1, max_size=40), st.lists(topics, min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_topic_index_agrees_with_brute_force(filter_list: list[str], topic_list: list[str]) -> None:
    index: TopicIndex[int] = TopicIndex()
    for number, topic_filter in enumerate(filter_list):
        index.add(topic_filter, number)
    for topic in topic_list:
        expected = [n for n, f in enumerate(filter_list) if reference_match(f, topic)]
        assert index.match(topic) == sorted(set(expected))
    for number, topic_filter in enumerate(filter_list):
        index.remove(topic_filter, number)
    assert len(index) == 0
    for topic in topic_list:
        assert index.match(topic) == []


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("sensor/#", "sensor/", True),
        ("sensor/#", "sensor/temperature/room1", True),
        ("sensor/#", "sensor", False),
        ("sensor/+/room1", "sensor/humidity/room1", True),
        ("sensor/+/room1", "sensor/temperature/room2", False),
        ("topic/+", "topic/subtopic-3/details", False),
        ("#", "$aws/things/t/shadow/update", False),
        ("+/things/#", "$aws/things/t", False),
        ("$aws/things/+/shadow/update", "$aws/things/t1/shadow/update", True),
        ("a/+", "a/", True),
        ("#", "a", True),
    ],
)
def test_documented_matching(topic_filter: str, topic: str, matches: bool) -> None:
    assert filter_matches(topic_filter, topic) is matches
    index: TopicIndex[str] = TopicIndex()
    index.add(topic_filter, "rule")
    assert index.match(topic) == (["rule"] if matches else [])


def test_index_bookkeeping() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("a/+", "r1")
    index.add("a/+", "r1")  # the same item under the same filter once
    index.add("a/#", "r1")
    index.add("a/b", "r2")
    assert len(index) == 3
    assert index.match("a/b") == ["r1", "r2"]
    assert sorted(index.filters()) == [("a/#", "r1"), ("a/+", "r1"), ("a/b", "r2")]
    assert index.remove("a/b", "r2") and not index.remove("a/b", "r2")
    assert not index.remove("x/y", "r1")
    with pytest.raises(iotsql.InvalidTopicError):
        index.add("a/#/b", "r3")


def test_an_item_under_several_matching_filters_comes_once_at_its_earliest_place() -> None:
    # TopicIndex's docstring: "Items come back in the order they were added (an item under
    # several matching filters once, at its earliest place)", exact and wildcard filters mixed.
    index: TopicIndex[str] = TopicIndex()
    index.add("x/y", "B")
    index.add("x/#", "A")
    index.add("x/y", "A")
    index.add("x/+", "C")
    assert index.match("x/y") == ["B", "A", "C"]
    index.remove("x/y", "B")
    index.add("x/y", "B")  # added again: now after A and C
    assert index.match("x/y") == ["A", "C", "B"]


@pytest.mark.parametrize("bad", ["", "a/#/b", "a+/b", "a/b#", "#a"])
def test_invalid_filters(bad: str) -> None:
    with pytest.raises(iotsql.InvalidTopicError):
        validate_filter(bad)


def test_topic_validation_and_limits() -> None:
    validate_topic("a/b/c")
    for bad in ("", "a/+", "a/#", "a\x00b"):
        with pytest.raises(iotsql.InvalidTopicError):
            validate_topic(bad)
    with pytest.raises(iotsql.LimitExceededError) as info:
        validate_topic("/".join(["a"] * 9))
    assert info.value.maximum == 7
    with pytest.raises(iotsql.LimitExceededError):
        validate_topic("x" * 257)
    validate_topic("$aws/rules/Rule/" + "/".join(["a"] * 8))
    roomy = iotsql.Limits(max_topic_slashes=20)
    validate_topic("/".join(["a"] * 15), roomy)


def test_basic_ingest_topics() -> None:
    ingest = parse_basic_ingest("$aws/rules/BuildingManager/Buildings/Building5/Floor2")
    assert ingest is not None and ingest.rule_name == "BuildingManager"
    assert ingest.topic == "Buildings/Building5/Floor2"
    assert parse_basic_ingest("$aws/rules/R") == parse_basic_ingest("$aws/rules/R/")
    assert parse_basic_ingest("$aws/rules//a") is None
    assert parse_basic_ingest("$aws/rules/bad-name/a") is None
    assert parse_basic_ingest("$aws/things/x") is None


def test_topic_levels() -> None:
    assert topic_level("things/myThings/thingOne", 1) == "things"
    assert topic_level("things/myThings/thingOne", 3) == "thingOne"
    assert topic_level("a/b", 3) is None and topic_level("a/b", 0) is None


operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "match"]), filters, topics, st.integers(0, 5)),
    min_size=1,
    max_size=60,
)


@given(operations)
@example(  # an item under two matching filters, added before and after another item's
    [("add", "+/b", "", 0), ("add", "a/+", "", 1), ("add", "a/#", "", 0), ("match", "", "a/b", 0)]
)
@settings(max_examples=300, deadline=None)
def test_topic_index_follows_adds_and_removes_between_matches(
    steps: list[tuple[str, str, str, int]],
) -> None:
    """The matcher's remembered states are dropped on every change of the wildcard filters:
    matches interleaved with adds and removes agree with brute force over what is held, and
    an item under several matching filters comes back once, at its earliest place."""
    index: TopicIndex[int] = TopicIndex()
    held: dict[tuple[str, int], int] = {}  # (filter, item) -> order of its add
    added = 0
    for operation, topic_filter, topic, item in steps:
        if operation == "add":
            index.add(topic_filter, item)
            if (topic_filter, item) not in held:
                held[(topic_filter, item)] = added
                added += 1
        elif operation == "remove":
            assert index.remove(topic_filter, item) is ((topic_filter, item) in held)
            held.pop((topic_filter, item), None)
        else:
            earliest: dict[int, int] = {}
            for (f, n), order in held.items():
                if reference_match(f, topic):
                    earliest[n] = min(order, earliest.get(n, order))
            assert index.match(topic) == sorted(earliest, key=earliest.__getitem__)
        assert len(index) == len(held)


def test_a_matcher_past_its_budget_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Topics with ever new levels under `+` cannot grow the matcher without end: past its
    budget it is rebuilt, and the answers stay the same."""
    from iotsql import topics as topics_module

    monkeypatch.setattr(topics_module, "_MATCHER_BUDGET", 8)
    index: TopicIndex[str] = TopicIndex()
    index.add("devices/+/data", "plus")
    index.add("devices/#", "hash")
    index.add("devices/d1/data", "exact")
    matchers: list[object] = []
    for number in range(40):
        device = f"d{number % 13}"
        expected = ["plus", "hash", "exact"] if device == "d1" else ["plus", "hash"]
        assert index.match(f"devices/{device}/data") == expected
        assert index.match(f"devices/{device}") == ["hash"]
        assert index.match(f"$devices/{device}/data") == []
        if not matchers or index._matcher is not matchers[-1]:
            matchers.append(index._matcher)
    assert len(matchers) > 1


def test_a_filter_remembers_a_bounded_number_of_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """compile_filter's predicate remembers the answers for the topics it saw, up to
    _MATCH_CACHE_SIZE of them: past it, it forgets them and answers the same."""
    from iotsql import topics as topics_module

    monkeypatch.setattr(topics_module, "_MATCH_CACHE_SIZE", 4)
    matches = compile_filter("devices/+/data")
    remembered = next(cell.cell_contents for cell in matches.__closure__ or ()
                      if isinstance(cell.cell_contents, dict))  # fmt: skip
    for number in range(20):
        assert matches(f"devices/d{number}/data") and not matches(f"devices/d{number}")
        assert len(remembered) <= 4


@pytest.mark.parametrize(
    ("topic_filter", "meant"),
    [("t/#/x", "t/+/x"), ("sensors/+x", "sensors/+"), ("sensors/temp#", "sensors/temp/#"),
     ("a/b#/c/d+", "a/+/c/+"), ("#x", "x/#"), ("+#", "#")],
)  # fmt: skip
def test_an_invalid_from_filter_gets_the_filter_probably_meant(
    topic_filter: str, meant: str
) -> None:
    """The parse error of a FROM filter with a wildcard inside a level, or `#` before the end,
    says which filter would be valid; the suggestion is itself a valid filter."""
    with pytest.raises(iotsql.SqlParseError) as error:
        iotsql.compile(f"SELECT * FROM '{topic_filter}'")
    assert (error.value.line, error.value.column) == (1, 15)
    assert error.value.hint is not None
    assert error.value.hint.startswith(f"did you mean '{meant}'? A wildcard is a whole level")
    assert f"hint: did you mean '{meant}'?" in str(error.value)
    validate_filter(meant)


def test_an_empty_from_filter_gets_an_example() -> None:
    with pytest.raises(iotsql.SqlParseError) as error:
        iotsql.compile("SELECT * FROM ''")
    assert error.value.hint == (
        "FROM names the topic filter the rule listens to, for example FROM 'sensors/+/data'"
    )
