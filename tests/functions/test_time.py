"""parse_time (Joda-Time patterns) and time_to_epoch (java.time patterns), driven through SQL,
plus the pattern machinery of iotsql.functions.joda."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from cost import cpu_at_most
from hypothesis import given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.errors import SqlParseError
from iotsql.functions import joda
from iotsql.functions.registry import lookup
from iotsql.functions.time import epoch_millis, parse_time, time_to_epoch
from iotsql.values import UNDEFINED, Binary

V1 = "2015-10-08"
V2 = "2016-03-23"

#: 2021-03-04T17:06:07.089Z, a Thursday in ISO week 9.
T = 1614877567089
#: The same day at 00:06:07.089 and 12:06:07.089 UTC.
T_MIDNIGHT = 1614816367089
T_NOON = 1614859567089


def select(expression: str, payload: Any = None, version: str = V2, **context: Any) -> Any:
    """The value of `expression AS r` for one message, or UNDEFINED when the key is absent."""
    body = json.dumps({} if payload is None else payload).encode()
    output = iotsql.compile(f"SELECT {expression} AS r FROM 't'", version).evaluate(
        body, "t", context=context or None
    )
    assert output is not None
    return output.value.get("r", UNDEFINED)


def fmt(pattern: str, millis: Any = T, zone: Any = None) -> Any:
    """parse_time through SQL with the arguments passed in the payload."""
    if zone is None:
        return select("parse_time(p, t)", {"p": pattern, "t": millis})
    return select("parse_time(p, t, z)", {"p": pattern, "t": millis, "z": zone})


def epoch(text: str, pattern: str) -> Any:
    return select("time_to_epoch(s, p)", {"s": text, "p": pattern})


# ---- declarations -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "arity"), [("parse_time", "2-3"), ("time_to_epoch", "2")])
def test_declarations(name: str, arity: str) -> None:
    spec = lookup(name)
    assert spec is not None
    assert spec.since.value == V2
    assert spec.arity_text == arity
    assert spec.pure
    assert spec.summary


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT parse_time('yyyy', 0) AS r FROM 't'",
        "SELECT time_to_epoch('2015', 'yyyy') AS r FROM 't'",
    ],
)
def test_version_2015_rejects_them(sql: str) -> None:
    with pytest.raises(SqlParseError):
        iotsql.compile(sql, V1)


def test_wrong_arity_is_undefined() -> None:
    assert select("parse_time('yyyy')") is UNDEFINED
    assert select("parse_time('yyyy', 0, 'UTC', 1)") is UNDEFINED
    assert select("time_to_epoch('2015')") is UNDEFINED


# ---- documented examples ------------------------------------------------------------------------


def test_parse_time_doc_example() -> None:
    sql = "parse_time(\"yyyy.MM.dd G 'at' HH:mm:ss z\", 100000000, 'America/Belize' )"
    assert select(sql) == "1970.01.01 AD at 21:46:40 CST"


def test_parse_time_doc_example_with_timestamp() -> None:
    sql = "parse_time(\"yyyy.MM.dd G 'at' HH:mm:ss z\", timestamp() )"
    assert select(sql, timestamp=1497028786000) == "2017.06.09 AD at 17:19:46 UTC"


def test_parse_time_in_a_template() -> None:
    rule = iotsql.compile("SELECT * FROM 'A/B'", V2)
    template = rule.compile_template("${parse_time('yyyy', timestamp(), 'UTC')}")
    message = iotsql.Message(b"{}", "A/B", {"timestamp": 1497028786000})
    assert template.render(message, "A/B") == "2017"


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        ("2020-04-03 09:45:18 UTC+01:00", "yyyy-MM-dd HH:mm:ss VV", 1585903518000),
        ("18 December 2015", "dd MMMM yyyy", 1450396800000),
        ("2007-12-03 10:15:30.592 America/Los_Angeles", "yyyy-MM-dd HH:mm:ss.SSS z", 1196705730592),
    ],
)
def test_time_to_epoch_doc_examples(text: str, pattern: str, expected: int) -> None:
    assert select(f'time_to_epoch("{text}", "{pattern}")') == expected
    assert type(select(f'time_to_epoch("{text}", "{pattern}")')) is int


# ---- parse_time: every Joda pattern letter ------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("G", "AD"), ("GGGG", "AD"),
        ("C", "20"), ("CC", "20"), ("CCC", "020"),
        ("Y", "2021"), ("YY", "21"), ("YYY", "2021"), ("YYYYY", "02021"),
        ("x", "2021"), ("xx", "21"), ("xxxxx", "02021"),
        ("w", "9"), ("ww", "09"),
        ("e", "4"), ("ee", "04"),
        ("E", "Thu"), ("EEE", "Thu"), ("EEEE", "Thursday"), ("EEEEEE", "Thursday"),
        ("y", "2021"), ("yy", "21"), ("yyy", "2021"), ("yyyy", "2021"), ("yyyyyy", "002021"),
        ("D", "63"), ("DD", "63"), ("DDDD", "0063"),
        ("M", "3"), ("MM", "03"), ("MMM", "Mar"), ("MMMM", "March"), ("MMMMM", "March"),
        ("d", "4"), ("dd", "04"), ("ddd", "004"),
        ("a", "PM"), ("aa", "PM"),
        ("h", "5"), ("hh", "05"),
        ("H", "17"), ("HH", "17"),
        ("k", "17"), ("kk", "17"),
        ("K", "5"), ("KK", "05"),
        ("m", "6"), ("mm", "06"),
        ("s", "7"), ("ss", "07"),
        ("S", "0"), ("SS", "08"), ("SSS", "089"), ("SSSS", "0890"), ("SSSSSS", "089000"),
        ("z", "UTC"), ("zz", "UTC"), ("zzz", "UTC"), ("zzzz", "Coordinated Universal Time"),
        ("Z", "+0000"), ("ZZ", "+00:00"), ("ZZZ", "UTC"), ("ZZZZ", "UTC"),
    ],
)  # fmt: skip
def test_parse_time_letters(pattern: str, expected: str) -> None:
    assert fmt(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "millis", "expected"),
    [
        ("h a k K H", T_MIDNIGHT, "12 AM 24 0 0"),
        ("h a k K H", T_NOON, "12 PM 12 0 12"),
        ("S SS SSS SSSS", T - 89, "0 00 000 0000"),
        ("SSS", T - 84, "005"),
        # Joda scales 16-18 fraction digits down to 15, and prints 19+ as zeros
        ("S" * 16, T, "089000000000000"),
        ("S" * 20, T, "0" * 20),
        # the ISO week-year of 2021-01-01 (a Friday) is 2020, week 53
        ("x-'W'ww-e", 1609459200000, "2020-W53-5"),
        ("xxxx ww yyyy", 1609459200000, "2020 53 2021"),
        ("D", 1609372800000, "366"),
    ],
)
def test_parse_time_field_edges(pattern: str, millis: int, expected: str) -> None:
    assert fmt(pattern, millis) == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2021-03-04T17:06:07.089+0000"),
        ("yyyy/MM/dd", "2021/03/04"),
        ("'T'", "T"),
        ("''", "'"),
        ("h 'o''clock' a", "5 o'clock PM"),
        ("'it''s' yyyy", "it's 2021"),
        ("'unterminated yyyy", "unterminated yyyy"),
        ("'", ""),
        ("[yyyy] {é} #", "[2021] {é} #"),
        ("yyyy 'quoted letters: yMdHms'", "2021 quoted letters: yMdHms"),
        ("EEEE, MMMM d, yyyy h:mm a", "Thursday, March 4, 2021 5:06 PM"),
    ],
)
def test_parse_time_literals(pattern: str, expected: str) -> None:
    assert fmt(pattern) == expected


@pytest.mark.parametrize("pattern", ["", "q", "yyyy-MM-dd u", "L", "Q", "yyyy T", "X", "VV", "ñ"])
def test_parse_time_bad_pattern_is_undefined(pattern: str) -> None:
    expected = UNDEFINED if pattern != "ñ" else "ñ"  # only ASCII letters are pattern letters
    assert fmt(pattern) == expected


def test_parse_time_month_and_day_names() -> None:
    for month in range(1, 13):
        millis = joda.days_from_civil(2021, month, 1) * joda.MILLIS_PER_DAY
        assert fmt("MMMM MMM", millis) == f"{joda.MONTHS[month - 1]} {joda.MONTHS[month - 1][:3]}"
    for day in range(7):
        millis = (joda.days_from_civil(2021, 3, 1) + day) * joda.MILLIS_PER_DAY  # a Monday
        assert fmt("EEEE EEE e", millis) == f"{joda.DAYS[day]} {joda.DAYS[day][:3]} {day + 1}"


# ---- parse_time: zones --------------------------------------------------------------------------

SUMMER = 1497028786000  # 2017-06-09T17:19:46Z
WINTER = 1484028786000  # 2017-01-10T06:13:06Z


@pytest.mark.parametrize(
    ("zone", "millis", "expected"),
    [
        ("America/New_York", SUMMER, "13:19 -0400 -04:00 EDT Eastern Daylight Time"),
        ("America/New_York", WINTER, "01:13 -0500 -05:00 EST Eastern Standard Time"),
        ("America/Los_Angeles", SUMMER, "10:19 -0700 -07:00 PDT Pacific Daylight Time"),
        ("America/Chicago", WINTER, "00:13 -0600 -06:00 CST Central Standard Time"),
        ("America/Phoenix", SUMMER, "10:19 -0700 -07:00 MST Mountain Standard Time"),
        ("Europe/Paris", SUMMER, "19:19 +0200 +02:00 CEST Central European Summer Time"),
        ("Europe/Paris", WINTER, "07:13 +0100 +01:00 CET Central European Standard Time"),
        ("Europe/London", SUMMER, "18:19 +0100 +01:00 BST British Summer Time"),
        ("Europe/London", WINTER, "06:13 +0000 +00:00 GMT Greenwich Mean Time"),
        ("Europe/Dublin", SUMMER, "18:19 +0100 +01:00 IST Irish Standard Time"),
        ("Europe/Dublin", WINTER, "06:13 +0000 +00:00 GMT Greenwich Mean Time"),
        ("Australia/Sydney", WINTER, "17:13 +1100 +11:00 AEDT Australian Eastern Daylight Time"),
        ("Australia/Sydney", SUMMER, "03:19 +1000 +10:00 AEST Australian Eastern Standard Time"),
        ("Asia/Kolkata", SUMMER, "22:49 +0530 +05:30 IST India Standard Time"),
        ("Asia/Tokyo", SUMMER, "02:19 +0900 +09:00 JST Japan Standard Time"),
        ("Asia/Shanghai", SUMMER, "01:19 +0800 +08:00 CST China Standard Time"),
        ("Asia/Dubai", SUMMER, "21:19 +0400 +04:00 GST Gulf Standard Time"),
        ("America/Sao_Paulo", SUMMER, "14:19 -0300 -03:00 BRT Brasilia Standard Time"),
        ("UTC", SUMMER, "17:19 +0000 +00:00 UTC Coordinated Universal Time"),
        ("Etc/UTC", SUMMER, "17:19 +0000 +00:00 UTC Coordinated Universal Time"),
        ("GMT", SUMMER, "17:19 +0000 +00:00 GMT Greenwich Mean Time"),
        ("Etc/GMT+5", SUMMER, "12:19 -0500 -05:00 GMT-05:00 GMT-05:00"),
        # not named by Java here: the numeric tz abbreviation becomes an offset
        ("Asia/Tehran", SUMMER, "21:49 +0430 +04:30 +04:30 +04:30"),
        ("+05:30", SUMMER, "22:49 +0530 +05:30 +05:30 +05:30"),
        ("-0800", SUMMER, "09:19 -0800 -08:00 -08:00 -08:00"),
        ("-08", SUMMER, "09:19 -0800 -08:00 -08:00 -08:00"),
        ("+00:00", SUMMER, "17:19 +0000 +00:00 UTC Coordinated Universal Time"),
    ],
)
def test_parse_time_zones(zone: str, millis: int, expected: str) -> None:
    assert fmt("HH:mm Z ZZ z zzzz", millis, zone) == expected


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", "America/New_York"),
        ("UTC", "UTC"),
        ("+00:00", "UTC"),
        ("+05:30", "+05:30"),
        ("-0800", "-08:00"),
        ("+05:30:15", "+05:30:15"),
    ],
)
def test_parse_time_zone_ids(zone: str, expected: str) -> None:
    assert fmt("ZZZ", SUMMER, zone) == expected


def test_parse_time_dst_transition_in_new_york() -> None:
    # 2017-03-12: 01:59:59 EST is followed by 03:00:00 EDT
    before = 1489301999000
    assert fmt("yyyy-MM-dd HH:mm:ss z", before, "America/New_York") == "2017-03-12 01:59:59 EST"
    assert fmt("yyyy-MM-dd HH:mm:ss z", before + 1000, "America/New_York") == (
        "2017-03-12 03:00:00 EDT"
    )


def test_parse_time_local_mean_time() -> None:
    # New York's offset before 1883 was -4:56:02; Joda prints hours and minutes only
    assert fmt("yyyy-MM-dd HH:mm:ss Z", -5364662400000, "America/New_York") == (
        "1799-12-31 19:03:58 -0456"
    )


@pytest.mark.parametrize(
    "zone", ["utc", "Nope/Zone", "+5", "+24:00", "+05:60", "", "America/new_york", "Factory"]
)
def test_parse_time_bad_zone_is_undefined(zone: str) -> None:
    assert fmt("yyyy", 0, zone) is UNDEFINED


@pytest.mark.parametrize("zone", [None, 5, True, ["UTC"], {"z": "UTC"}])
def test_parse_time_zone_must_be_a_string(zone: Any) -> None:
    assert select("parse_time('yyyy', 0, z)", {"z": zone}) is UNDEFINED


def test_parse_time_missing_zone_argument_is_undefined() -> None:
    assert select("parse_time('yyyy', 0, nothing)") is UNDEFINED


# ---- parse_time: timestamps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("millis", "expected"),
    [
        (0, "1970-01-01 00:00:00.000 AD"),
        (1.9, "1970-01-01 00:00:00.001 AD"),
        (-0.5, "1969-12-31 23:59:59.999 AD"),
        (-1, "1969-12-31 23:59:59.999 AD"),
        ("100000000", "1970-01-02 03:46:40.000 AD"),
        ("1e3", "1970-01-01 00:00:01.000 AD"),
        ("1.5", "1970-01-01 00:00:00.001 AD"),
        (253402300800000, "10000-01-01 00:00:00.000 AD"),
        (-62135596800001, "0000-12-31 23:59:59.999 BC"),
        (-62198755200000, "-0001-01-01 00:00:00.000 BC"),
    ],
)
def test_parse_time_timestamp_types(millis: Any, expected: str) -> None:
    assert fmt("yyyy-MM-dd HH:mm:ss.SSS G", millis) == expected


@pytest.mark.parametrize("millis", [None, True, "abc", "", " 1", [1], {"a": 1}, 10**30, "1e30"])
def test_parse_time_bad_timestamp_is_undefined(millis: Any) -> None:
    assert fmt("yyyy", millis) is UNDEFINED


def test_parse_time_with_literal_and_decimal_arguments() -> None:
    assert select("parse_time('yyyy-MM-dd', 1450396800000.7)") == "2015-12-18"
    assert select("parse_time('HH:mm', 0, 'Asia/Kolkata')") == "05:30"
    assert select("parse_time('yyyy', x)", {"x": 1.5e12}) == "2017"


def test_parse_time_far_future_uses_the_zones_last_rule() -> None:
    far = joda.days_from_civil(34089, 7, 1) * joda.MILLIS_PER_DAY
    assert fmt("yyyy-MM-dd HH:mm z", far, "America/New_York") == "34089-06-30 20:00 EDT"


@pytest.mark.parametrize("millis", [2**63 - 1, -(2**63), 2**63])
def test_parse_time_outside_jodas_range_is_undefined(millis: int) -> None:
    assert parse_time("yyyy", millis) is UNDEFINED


def test_parse_time_bounds_pattern_and_output() -> None:
    assert fmt("y" * joda.MAX_PATTERN_LENGTH) == "0" * (joda.MAX_PATTERN_LENGTH - 4) + "2021"
    assert fmt("y" * (joda.MAX_PATTERN_LENGTH + 1)) is UNDEFINED


def test_parse_time_pattern_must_be_a_string() -> None:
    assert select("parse_time(p, 0)", {"p": 5}) is UNDEFINED
    assert select("parse_time(p, 0)", {"p": None}) is UNDEFINED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (5.99, 5),
        (-5.01, -6),
        (Decimal("7.9"), 7),
        ("12", 12),
        ("-12.5", -13),
        (float("inf"), None),
        (Decimal("NaN"), None),
        (Decimal("1E+40"), None),
        (True, None),
        (None, None),
        (Binary(b"12"), None),
        (UNDEFINED, None),
    ],
)
def test_epoch_millis(value: Any, expected: int | None) -> None:
    assert epoch_millis(value) == expected


# ---- time_to_epoch: every java.time pattern letter -----------------------------------------------

DAY = 1496966400000  # 2017-06-09T00:00:00Z, a Friday
FULL = 1497028786123  # 2017-06-09T17:19:46.123Z
HOUR = 3_600_000


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        # years: u (proleptic), y (of era), Y (US week-based), 2-digit forms base 2000
        ("2017-06-09", "uuuu-MM-dd", DAY),
        ("2017-06-09", "yyyy-MM-dd", DAY),
        ("17-06-09", "yy-MM-dd", DAY),
        ("17-06-09", "uu-MM-dd", DAY),
        ("2017-06-09", "y-M-d", DAY),
        ("2017-6-9", "y-M-d", DAY),
        ("2017-06-09", "yyy-MM-dd", DAY),
        ("+12017-06-09", "yyyy-MM-dd", joda.days_from_civil(12017, 6, 9) * 86_400_000),
        ("-0001-06-09", "uuuu-MM-dd", joda.days_from_civil(-1, 6, 9) * 86_400_000),
        ("0002-06-09 BC", "yyyy-MM-dd G", joda.days_from_civil(-1, 6, 9) * 86_400_000),
        ("2017-06-09 AD", "yyyy-MM-dd G", DAY),
        ("2017-06-09 Anno Domini", "yyyy-MM-dd GGGG", DAY),
        ("2017-06-09 A", "yyyy-MM-dd GGGGG", DAY),
        # months, days, quarters
        ("2017 Jun 09", "yyyy MMM dd", DAY),
        ("2017 June 09", "yyyy MMMM dd", DAY),
        ("2017 June 09", "yyyy LLLL dd", DAY),
        ("2017 J 09", "yyyy MMMMM dd", DAY + 30 * 86_400_000),  # narrow J is July, as in Java
        ("2017 D 09", "yyyy MMMMM dd", joda.days_from_civil(2017, 12, 9) * 86_400_000),
        ("2017 160", "yyyy D", DAY),
        ("2017 160", "yyyy DD", DAY),
        ("2017 160", "yyyy DDD", DAY),
        ("2017-06-09 Q2", "yyyy-MM-dd QQQ", DAY),
        ("2017-06-09 2nd quarter", "yyyy-MM-dd QQQQ", DAY),
        ("2017-06-09 2", "yyyy-MM-dd Q", DAY),
        ("2017-06-09 02", "yyyy-MM-dd qq", DAY),
        ("2017-06-09 2", "yyyy-MM-dd QQQQQ", DAY),
        # days of week: E text, e/c localized numbers (US: 1 = Sunday)
        ("Fri 2017-06-09", "EEE yyyy-MM-dd", DAY),
        ("Friday 2017-06-09", "EEEE yyyy-MM-dd", DAY),
        ("F 2017-06-09", "EEEEE yyyy-MM-dd", DAY),
        ("6 2017-06-09", "e yyyy-MM-dd", DAY),
        ("06 2017-06-09", "ee yyyy-MM-dd", DAY),
        ("Fri 2017-06-09", "eee yyyy-MM-dd", DAY),
        ("6 2017-06-09", "c yyyy-MM-dd", DAY),
        ("Friday 2017-06-09", "cccc yyyy-MM-dd", DAY),
        ("2 2017-06-09", "F yyyy-MM-dd", DAY),  # aligned day of week in month (JDK 11's F)
        # US week fields
        ("2017-W23-6", "YYYY-'W'ww-e", DAY),
        ("2017 23 Fri", "YYYY w EEE", DAY),
        ("17 23 6", "YY ww e", DAY),
        ("2017-06 2 6", "yyyy-MM W e", DAY),
        ("2017-06-09 23 2017", "yyyy-MM-dd ww YYYY", DAY),
        # times
        ("2017-06-09 17:19:46", "yyyy-MM-dd HH:mm:ss", FULL - 123),
        ("2017-06-09 17:19", "yyyy-MM-dd H:m", FULL - 46123),
        ("2017-06-09 17", "yyyy-MM-dd HH", DAY + 17 * HOUR),
        ("2017-06-09 05:19:46 PM", "yyyy-MM-dd hh:mm:ss a", FULL - 123),
        ("2017-06-09 12:00 AM", "yyyy-MM-dd hh:mm a", DAY),
        ("2017-06-09 12:00 PM", "yyyy-MM-dd hh:mm a", DAY + 12 * HOUR),
        ("2017-06-09 5:19:46 PM", "yyyy-MM-dd K:mm:ss a", FULL - 123),
        ("2017-06-09 24:00", "yyyy-MM-dd kk:mm", DAY),
        ("2017-06-09 17:19 PM", "yyyy-MM-dd HH:mm a", FULL - 46123),
        ("2017-06-09 17:19:46.1", "yyyy-MM-dd HH:mm:ss.S", FULL - 23),
        ("2017-06-09 17:19:46.123", "yyyy-MM-dd HH:mm:ss.SSS", FULL),
        ("2017-06-09 17:19:46.123456789", "yyyy-MM-dd HH:mm:ss.SSSSSSSSS", FULL),
        ("2017-06-09 17:19:46 123456789", "yyyy-MM-dd HH:mm:ss n", FULL),
        ("2017-06-09 17:19:46 123000000", "yyyy-MM-dd HH:mm:ss nnnnnnnnn", FULL),
        ("2017-06-09 62386123", "yyyy-MM-dd A", FULL),
        ("2017-06-09 62386123456789", "yyyy-MM-dd N", FULL),
        ("2017-06-09 17:19:46.123 62386123", "yyyy-MM-dd HH:mm:ss.SSS A", FULL),
        ("20170609171946123", "yyyyMMddHHmmssSSS", FULL),
        # zones and offsets
        ("2017-06-09 17:19:46 Z", "yyyy-MM-dd HH:mm:ss X", FULL - 123),
        ("2017-06-09 17:19:46 +02", "yyyy-MM-dd HH:mm:ss X", FULL - 123 - 2 * HOUR),
        ("2017-06-09 17:19:46 +0230", "yyyy-MM-dd HH:mm:ss X", FULL - 123 - 150 * 60_000),
        ("2017-06-09 17:19:46 -0200", "yyyy-MM-dd HH:mm:ss XX", FULL - 123 + 2 * HOUR),
        ("2017-06-09 17:19:46 -02:00", "yyyy-MM-dd HH:mm:ss XXX", FULL - 123 + 2 * HOUR),
        ("2017-06-09 17:19:46 -020030", "yyyy-MM-dd HH:mm:ss XXXX", FULL - 123 + 7230_000),
        ("2017-06-09 17:19:46 -02:00:30", "yyyy-MM-dd HH:mm:ss XXXXX", FULL - 123 + 7230_000),
        ("2017-06-09 17:19:46 +00", "yyyy-MM-dd HH:mm:ss x", FULL - 123),
        ("2017-06-09 17:19:46 +0000", "yyyy-MM-dd HH:mm:ss xx", FULL - 123),
        ("2017-06-09 17:19:46 +00:00", "yyyy-MM-dd HH:mm:ss xxx", FULL - 123),
        ("2017-06-09 17:19:46 +0100", "yyyy-MM-dd HH:mm:ss Z", FULL - 123 - HOUR),
        ("2017-06-09 17:19:46 +0100", "yyyy-MM-dd HH:mm:ss ZZZ", FULL - 123 - HOUR),
        ("2017-06-09 17:19:46 GMT+01:00", "yyyy-MM-dd HH:mm:ss ZZZZ", FULL - 123 - HOUR),
        ("2017-06-09 17:19:46 GMT", "yyyy-MM-dd HH:mm:ss ZZZZ", FULL - 123),
        ("2017-06-09 17:19:46 Z", "yyyy-MM-dd HH:mm:ss ZZZZZ", FULL - 123),
        ("2017-06-09 17:19:46 +01:00", "yyyy-MM-dd HH:mm:ss ZZZZZ", FULL - 123 - HOUR),
        ("2017-06-09 17:19:46 GMT+1", "yyyy-MM-dd HH:mm:ss O", FULL - 123 - HOUR),
        ("2017-06-09 17:19:46 GMT+01:00", "yyyy-MM-dd HH:mm:ss OOOO", FULL - 123 - HOUR),
        ("2017-06-09 13:19:46 America/New_York", "yyyy-MM-dd HH:mm:ss VV", FULL - 123),
        ("2017-06-09 17:19:46 Z", "yyyy-MM-dd HH:mm:ss VV", FULL - 123),
        ("2017-06-09 17:19:46 UTC", "yyyy-MM-dd HH:mm:ss VV", FULL - 123),
        ("2017-06-09 18:19:46 GMT+01:00", "yyyy-MM-dd HH:mm:ss VV", FULL - 123),
        ("2017-06-09 18:19:46 UT+01", "yyyy-MM-dd HH:mm:ss VV", FULL - 123),
        ("2017-06-09 19:19:46 +02:00", "yyyy-MM-dd HH:mm:ss VV", FULL - 123),
        ("2017-06-09 13:19:46 EDT", "yyyy-MM-dd HH:mm:ss z", FULL - 123),
        ("2017-06-09 13:19:46 EST", "yyyy-MM-dd HH:mm:ss zzz", FULL - 123),  # a zone, not -5
        ("2017-06-09 12:19:46 CDT", "yyyy-MM-dd HH:mm:ss z", FULL - 123),
        ("2017-06-09 19:19:46 CEST", "yyyy-MM-dd HH:mm:ss z", FULL - 123),
        ("2017-06-09 22:49:46 IST", "yyyy-MM-dd HH:mm:ss z", FULL - 123),
        ("2017-06-09 13:19:46 Eastern Daylight Time", "yyyy-MM-dd HH:mm:ss zzzz", FULL - 123),
        ("2017-06-09 13:19:46 America/New_York", "yyyy-MM-dd HH:mm:ss zzzz", FULL - 123),
        ("2017-06-09 13:19:46 America/New_York", "yyyy-MM-dd HH:mm:ss v", FULL - 123),
        # literals, optional sections, padding
        ("2017-06-09T17:19:46", "yyyy-MM-dd'T'HH:mm:ss", FULL - 123),
        ("it's 2017-06-09", "'it''s' yyyy-MM-dd", DAY),
        ("'2017-06-09", "''yyyy-MM-dd", DAY),
        ("2017-06-09", "yyyy-MM-dd[ HH:mm[:ss]]", DAY),
        ("2017-06-09 17:19", "yyyy-MM-dd[ HH:mm[:ss]]", FULL - 46123),
        ("2017-06-09 17:19:46", "yyyy-MM-dd[ HH:mm[:ss]]", FULL - 123),
        ("2017-06-09 17:19:46", "yyyy-MM-dd[ HH:mm[:ss", FULL - 123),
        ("2017-06-09  5", "yyyy-MM-dd ppH", DAY + 5 * HOUR),
        ("2017-06-09 17", "yyyy-MM-dd ppH", DAY + 17 * HOUR),
    ],
)
def test_time_to_epoch_letters(text: str, pattern: str, expected: int) -> None:
    assert epoch(text, pattern) == expected


@pytest.mark.parametrize(
    ("text", "pattern", "expected"),
    [
        # java.time's SMART resolver style, which DateTimeFormatter.ofPattern uses
        ("2021-02-31", "yyyy-MM-dd", 1614470400000),  # the month's last day, 2021-02-28
        ("2020-02-31", "yyyy-MM-dd", 1582934400000),  # 2020-02-29
        ("2021-04-31", "yyyy-MM-dd", 1619740800000),  # 2021-04-30
        ("Sun 2021-02-31", "EEE yyyy-MM-dd", 1614470400000),  # checked against the 28th
        ("2017-06-09 24:00", "yyyy-MM-dd HH:mm", DAY + 24 * HOUR),  # the next midnight
        ("2017-06-09 24:00:00.000", "yyyy-MM-dd HH:mm:ss.SSS", DAY + 24 * HOUR),
        ("2017-06-09 00:00 AM", "yyyy-MM-dd hh:mm a", DAY),  # clock hour 0 is let through
        ("2017-06-09 00:00", "yyyy-MM-dd kk:mm", DAY),
    ],
)
def test_time_to_epoch_resolves_smartly(text: str, pattern: str, expected: int) -> None:
    assert epoch(text, pattern) == expected


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("2021-13-01", "yyyy-MM-dd"),
        ("2021-04-32", "yyyy-MM-dd"),  # past 31: out of the day-of-month range
        ("2021 366", "yyyy D"),  # SMART resolves a day-of-year as STRICT does
        ("Wed 2021-02-31", "EEE yyyy-MM-dd"),  # 2021-02-28 is a Sunday
        ("2017-06-09 24:01", "yyyy-MM-dd HH:mm"),  # only 24:00 is the end of the day
        ("2021-00-01", "yyyy-MM-dd"),
        ("2021-01-00", "yyyy-MM-dd"),
        ("Sat 2017-06-09", "EEE yyyy-MM-dd"),  # wrong day of week
        ("2017-06-09 Q3", "yyyy-MM-dd QQQ"),
        ("2017-06-09 PM 09:00", "yyyy-MM-dd a HH:mm"),  # am-pm disagrees with the hour
        ("2017-06-09 23:60", "yyyy-MM-dd HH:mm"),
        ("2017-06-09 23:59:60", "yyyy-MM-dd HH:mm:ss"),
        ("2017-06-09 13:00 PM", "yyyy-MM-dd hh:mm a"),
        ("2017-06-09 05:19", "yyyy-MM-dd hh:mm"),  # hour of am-pm without am-pm
        ("2017-06-09 19:46", "yyyy-MM-dd mm:ss"),  # minutes without an hour
        ("2017-06-09 17 46", "yyyy-MM-dd HH ss"),  # seconds without minutes
        ("2017-06", "yyyy-MM"),  # no day
        ("06-09", "MM-dd"),  # no year
        ("17:19", "HH:mm"),  # no date at all
        ("nope", "yyyy-MM-dd"),
        ("2017-06-09 ", "yyyy-MM-dd"),
        (" 2017-06-09", "yyyy-MM-dd"),
        ("2017-6-09", "yyyy-MM-dd"),
        ("12017-06-09", "yyyy-MM-dd"),  # more than 4 digits needs a sign
        ("+2017-06-09", "yyyy-MM-dd"),  # a sign needs more than 4 digits
        ("-0-06-09", "u-MM-dd"),
        ("0000-06-09", "yyyy-MM-dd"),  # year-of-era starts at 1
        ("2017 june 09", "yyyy MMMM dd"),  # text is case-sensitive
        ("2017 Sept 09", "yyyy MMM dd"),
        ("2017-06-09 pm", "yyyy-MM-dd a"),
        ("٢٠١٧-06-09", "yyyy-MM-dd"),  # ASCII digits only
        ("2017-06-09 +19:00", "yyyy-MM-dd XXX"),  # beyond ZoneOffset's 18 hours
        ("2017-06-09 +02:60", "yyyy-MM-dd XXX"),
        ("2017-06-09 +0200", "yyyy-MM-dd XXX"),
        ("2017-06-09 Mars/Olympus", "yyyy-MM-dd VV"),
        ("2017-06-09 america/new_york", "yyyy-MM-dd VV"),
        ("2017-06-09 Eastern Daylight Time", "yyyy-MM-dd z"),  # long names need zzzz
        ("2017-06-09 EDT", "yyyy-MM-dd zzzz"),
        ("2017-06-09 EST", "yyyy-MM-dd VV"),  # not a java.time region id
        ("2017-06-09 +01:00 +02:00", "yyyy-MM-dd XXX XXX"),  # conflicting offsets
        ("2017-06-09 2018", "yyyy-MM-dd uuuu"),  # conflicting years
        ("2017-06-09 1", "yyyy-MM-dd F"),
        ("2017-W23-8", "YYYY-'W'ww-e"),
        ("2017-W54-1", "YYYY-'W'ww-e"),
        ("2017-06 7 6", "yyyy-MM W e"),
        ("2017-06-09 17:19:46.124 62386123", "yyyy-MM-dd HH:mm:ss.SSS A"),
        ("2017-06-09   5", "yyyy-MM-dd ppppH"),  # the padded field is 4 characters wide
        ("2017-06-09 100000000", "yyyy-MM-dd A"),
    ],
)
def test_time_to_epoch_invalid_text_is_undefined(text: str, pattern: str) -> None:
    assert epoch(text, pattern) is UNDEFINED


@pytest.mark.parametrize(
    "pattern",
    [
        "yyyy-MM-dd{", "yyyy}", "yyyy#", "]", "'unterminated", "ddd", "HHH", "hhh", "mmm", "sss",
        "kkk", "KKK", "DDDD", "MMMMMM", "EEEEEE", "GGGGGG", "aa", "SSSSSSSSSS", "V", "VVV",
        "zzzzz", "vv", "OO", "ZZZZZZ", "XXXXXX", "xxxxxx", "www", "WW", "cc", "FF", "p", "pp-",
        "b", "B", "g", "yyyyyyyyyyyyyyyyyyyy", "n" * 20, "QQQQQQ",
    ],
)  # fmt: skip
def test_time_to_epoch_bad_pattern_is_undefined(pattern: str) -> None:
    assert joda.java_pattern(pattern) is None
    assert epoch("2017", pattern) is UNDEFINED


def test_time_to_epoch_dst_gap_and_overlap_resolve_as_java() -> None:
    # 02:30 does not exist on 2017-03-12 in New York: java.time moves it to 03:30 EDT
    assert epoch("2017-03-12 02:30 America/New_York", "yyyy-MM-dd HH:mm VV") == 1489303800000
    # 01:30 happens twice on 2017-11-05: java.time takes the earlier offset (EDT)
    assert epoch("2017-11-05 01:30 America/New_York", "yyyy-MM-dd HH:mm VV") == 1509859800000
    # an explicit offset wins over the zone's rules
    assert epoch("2017-11-05 01:30 -05:00", "yyyy-MM-dd HH:mm XXX") == 1509863400000


def test_time_to_epoch_zone_names_mean_the_zone() -> None:
    # java.time reads "PST" as America/Los_Angeles, so a summer date is still on PDT
    assert epoch("2017-06-09 10:19:46 PST", "yyyy-MM-dd HH:mm:ss z") == FULL - 123
    assert epoch("2017-01-10 10:19:46 PST", "yyyy-MM-dd HH:mm:ss z") == 1484072386000


def test_time_to_epoch_types() -> None:
    assert select("time_to_epoch(s, 'yyyy')", {"s": 2017}) is UNDEFINED
    assert select("time_to_epoch(s, 'yyyy')", {"s": None}) is UNDEFINED
    assert select("time_to_epoch('2017', p)", {"p": ["yyyy"]}) is UNDEFINED
    assert select("time_to_epoch(missing, 'yyyy')") is UNDEFINED
    assert time_to_epoch(Binary(b"2017"), "yyyy") is UNDEFINED


def test_time_to_epoch_far_years() -> None:
    assert epoch("+200000000-12-31", "uuuu-MM-dd") == (
        joda.days_from_civil(200_000_000, 12, 31) * joda.MILLIS_PER_DAY
    )
    assert epoch("+999999999-12-31", "uuuu-MM-dd") is UNDEFINED  # beyond a long of ms
    assert epoch("+1000000000-01-01", "uuuu-MM-dd") is UNDEFINED
    assert epoch("-5000-01-01 12:00 Europe/Paris", "uuuu-MM-dd HH:mm VV") == (
        joda.days_from_civil(-5000, 1, 1) * joda.MILLIS_PER_DAY + 12 * HOUR - 561_000
    )  # Paris local mean time, +0:09:21


def test_time_to_epoch_round_trips_parse_time() -> None:
    pattern = "yyyy-MM-dd HH:mm:ss.SSS"
    assert select(f"time_to_epoch(parse_time('{pattern}', x), '{pattern}')", {"x": FULL}) == FULL


@settings(max_examples=300, deadline=None)
@given(
    millis=st.integers(min_value=-(10**14), max_value=10**14),
    zone=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
)
def test_round_trip_with_offsets(millis: int, zone: str) -> None:
    # the offset in the text removes any DST ambiguity; uuuu keeps BC years as they are
    pattern = "uuuu-MM-dd'T'HH:mm:ss.SSSxxxxx"
    joda_pattern = "yyyy-MM-dd'T'HH:mm:ss.SSSZZ"
    text = parse_time(joda_pattern, millis, zone)
    assert isinstance(text, str)
    if not text.startswith("-") and len(text.split("-")[0]) > 4:
        text = "+" + text
    offset_seconds = joda.joda_zone(zone).at(millis // 1000)[0] // 1000  # type: ignore[union-attr]
    if offset_seconds % 60:  # Joda prints minutes only, so an LMT offset cannot round-trip
        return
    assert time_to_epoch(text, pattern) == millis


# ---- the calendar and the zone helpers ---------------------------------------------------------


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_civil_days_round_trip(days: int) -> None:
    year, month, day = joda.civil_from_days(days)
    assert 1 <= month <= 12
    assert 1 <= day <= joda.month_length(year, month)
    assert joda.days_from_civil(year, month, day) == days


def test_calendar_landmarks() -> None:
    assert joda.days_from_civil(1970, 1, 1) == 0
    assert joda.civil_from_days(-1) == (1969, 12, 31)
    assert joda.days_from_civil(2000, 3, 1) - joda.days_from_civil(2000, 2, 28) == 2
    assert joda.iso_day_of_week(0) == 4


def test_zone_names_table_is_consistent() -> None:
    recent = {"Europe/Kyiv", "America/Ciudad_Juarez"}  # absent from older tz databases
    for zone_id, names in joda.ZONE_NAMES.items():
        assert len(names) == 4
        assert zone_id in joda.region_ids() or zone_id in recent, zone_id
    for preferred in (joda.SHORT_NAME_ZONES, joda.LONG_NAME_ZONES):
        for zone_id in preferred.values():
            assert joda.region_zone(zone_id) is not None


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0, "+00:00"), (19_800_000, "+05:30"), (-28_800_000, "-08:00"), (3_723_004, "+01:02:03.004")],
)
def test_offset_id(offset: int, expected: str) -> None:
    assert joda.offset_id(offset) == expected


# ---- never raising, in bounded time --------------------------------------------------------------

sql_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.binary(max_size=10).map(Binary),
    st.just(UNDEFINED),
)
pattern_texts = st.text(
    alphabet=st.sampled_from(list("GCYxwyeEDMdahHkKmsSzZuLQqcFAnNVvOXpg'[]{}# -:./T0123456789")),
    max_size=24,
)
date_texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(list("0123456789-:+ TZ.ADPMUTCGMT/Jan")), max_size=40),
)


def _bounded(call: Any, *args: Any) -> Any:
    with cpu_at_most(3.0):
        return call(*args)


@settings(max_examples=400, deadline=None)
@given(pattern=st.one_of(pattern_texts, sql_values), millis=sql_values, zone=sql_values)
def test_parse_time_never_raises(pattern: Any, millis: Any, zone: Any) -> None:
    result = _bounded(parse_time, pattern, millis, zone)
    assert result is UNDEFINED or type(result) is str
    result = _bounded(parse_time, pattern, millis)
    assert result is UNDEFINED or type(result) is str


@settings(max_examples=300, deadline=None)
@given(pattern=pattern_texts, millis=st.integers(min_value=-(2**64), max_value=2**64))
def test_parse_time_any_pattern_any_instant(pattern: str, millis: int) -> None:
    result = _bounded(parse_time, pattern, millis, "Europe/London")
    assert result is UNDEFINED or type(result) is str


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(date_texts, sql_values), pattern=st.one_of(pattern_texts, sql_values))
def test_time_to_epoch_never_raises(text: Any, pattern: Any) -> None:
    result = _bounded(time_to_epoch, text, pattern)
    assert result is UNDEFINED or type(result) is int


@settings(max_examples=100, deadline=None)
@given(
    payload=st.fixed_dictionaries({"a": st.one_of(pattern_texts, date_texts), "b": st.integers()})
)
def test_through_sql_never_raises(payload: dict[str, Any]) -> None:
    rule = iotsql.compile(
        "SELECT parse_time(a, b) AS p, parse_time(a, b, a) AS q, time_to_epoch(a, a) AS e FROM 't'",
        V2,
    )
    output = rule.evaluate(json.dumps(payload).encode(), "t")
    assert output is not None
