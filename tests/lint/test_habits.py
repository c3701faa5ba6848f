"""Habits from other SQL dialects: `iotsql.compile` refuses each with the fix in its hint (so
the loaders, the pytest plugin and replay say it too), and `iotsql check` gives each its code;
keyword typos and functions of other dialects get "did you mean"."""

from __future__ import annotations

import pytest

import iotsql
from iotsql.lint.sql import lint
from iotsql.sql_habits import keyword_typo

CASES = [
    ("SELECT * FROM 'a' WHERE name LIKE 'x%'", "like-operator", "startswith("),
    ("SELECT * FROM 'a' WHERE name NOT LIKE 'x%'", "like-operator", "NOT startswith("),
    ("SELECT * FROM 'a' WHERE t BETWEEN 1 AND 5", "between-operator", "x >= low AND x <= high"),
    ("SELECT * FROM 'a' WHERE t NOT BETWEEN 1 AND 5", "between-operator", "x < low OR x > high"),
    ("SELECT * FROM 'a' WHERE t IS NULL", "is-null", "isNull(x)"),
    ("SELECT * FROM 'a' WHERE t IS NOT NULL", "is-null", "NOT isUndefined(x)"),
    ("SELECT * FROM 'a' WHERE m IN ('x', 'y')", "in-parentheses", "IN ['a', 'b']"),
    ("SELECT * FROM 'a' WHERE m NOT IN ['x']", "not-in", "NOT (x IN [...])"),
    ("SELECT * FROM 'a' WHERE a == 1", "double-equals", "use ="),
    ("SELECT * FROM 'a' WHERE a != 1", "bang-operator", 'use <> for "not equal"'),
    ("SELECT * FROM 'a' WHERE a && b", "symbol-operator", "use AND"),
    ("SELECT * FROM 'a' WHERE a || b", "symbol-operator", "use OR"),
    ("SELECT a AS 'max temp' FROM 'a'", "quoted-alias", "write AS max_temp without quotes"),
    ("SELECT a AS \"t\" FROM 'a'", "quoted-alias", "write AS t without quotes"),
    ("SELECT * FROM 'a' WHERE b = 'it's'", "unescaped-quote", "written twice: 'it''s'"),
    ('SELECT * FROM \'a\' WHERE b = "say "hi" now"', "unescaped-quote", 'twice: "say ""hi"'),
    ("SELECT * FROM 'a' LIMIT 5", "unsupported-clause", "no LIMIT"),
    ("SELECT * FROM 'a' WHERE b = 1 ORDER BY c", "unsupported-clause", "no ORDER BY"),
    ("SELECT * FROM 'a' GROUP BY c", "unsupported-clause", "no GROUP BY"),
    ("SELECT * FROM 'a';", "trailing-semicolon", "remove the `;`"),
    ("SELECT * FROM 'a'; SELECT 1", "trailing-semicolon", "one statement"),
    ("SELECT `my-key` FROM 'a'", "backtick-quote", "get(*, 'my-key')"),
    ("SELECT * FORM 'a'", "keyword-typo", "did you mean FROM?"),
    ("SELCT * FROM 'a'", "keyword-typo", "did you mean SELECT?"),
    ("SELECT * FROM 'a' WHER b = 1", "keyword-typo", "did you mean WHERE?"),
    ("SELECT * FROM 'a' WHERE b = 1 ADN c = 2", "keyword-typo", "did you mean AND?"),
    ("SELECT count(*) FROM 'a'", "aggregate-function", "no aggregate functions"),
    ("SELECT max(t) FROM 'a'", "aggregate-function", "no aggregate functions"),
    ("SELECT timestmp() FROM 'a'", "unknown-function", "did you mean timestamp()?"),
    ("SELECT now() AS t FROM 'a'", "unknown-function", "timestamp() instead"),
    ("SELECT len(s) FROM 'a'", "unknown-function", "length() instead"),
]


@pytest.mark.parametrize(("sql", "code", "fix"), CASES, ids=[c[0] for c in CASES])
def test_compile_names_the_fix_and_check_the_code(sql: str, code: str, fix: str) -> None:
    with pytest.raises(iotsql.SqlParseError) as error:
        iotsql.compile(sql)
    assert error.value.hint is not None and fix in error.value.hint
    (diagnostic,) = [d for d in lint(sql) if d.is_error]
    assert diagnostic.code == code
    assert diagnostic.hint is not None and fix in diagnostic.hint


def test_a_backtick_topic_and_in_of_a_literal() -> None:
    (error,) = lint("SELECT * FROM `sensors/+`")
    assert (error.code, error.column, error.hint) == (
        "backtick-quote", 15, "write FROM 'sensors/+'",
    )  # fmt: skip
    (warning,) = lint("SELECT * FROM 'a' WHERE mode IN ('eco')")
    assert (warning.code, warning.severity, warning.column) == ("in-not-array", "warning", 34)
    assert lint("SELECT * FROM 'a' WHERE mode IN ['eco']") == []


def test_from_missing_is_an_info() -> None:
    # Every rule without FROM in public templates was meant for Basic Ingest (docs/check.md).
    (info,) = lint("SELECT temperature")
    assert (info.code, info.severity, info.line, info.column) == (
        "from-missing", "info", 1, 1,
    )  # fmt: skip


def test_compile_errors_that_parse_are_not_syntax() -> None:
    (error,) = lint("SELECT cast(t AS Float) FROM 'a'")
    assert error.code == "invalid-sql"


@pytest.mark.parametrize(
    ("word", "keyword"),
    [("FORM", "FROM"), ("frmo", "FROM"), ("SELCT", "SELECT"), ("WHRE", "WHERE"),
     ("WHER", "WHERE"), ("ADN", "AND"), ("CAES", "CASE"), ("temperature", None), ("id", None),
     ("FROM", None), ("a", None), ("ASS", None)],
)  # fmt: skip
def test_keyword_typos(word: str, keyword: str | None) -> None:
    assert keyword_typo(word) == keyword


def test_a_double_quoted_name_is_a_string() -> None:
    # A PostgreSQL habit: `SELECT "temp" FROM 'a'` output {"\"temp\"": "temp"}, and WHERE
    # "temp" > 30 never fired, without a word (found by the fourth cold-user audit).
    found = lint("SELECT \"temp\", \"battery-level\", \"on\" AS s FROM 'a' WHERE \"mode\" = 'eco' "
                 "AND mode = \"eco\" AND concat(\"x\", a) = 'x1'")  # fmt: skip
    assert [(d.code, d.column, d.message, d.hint) for d in found] == [
        ("quoted-name", 8, "\"temp\" is the string 'temp', not the attribute temp: AWS IoT SQL "
         "quotes strings with double quotes, not names", "write temp to read the attribute"),
        ("quoted-name", 16, "\"battery-level\" is the string 'battery-level', not the attribute "
         "battery-level: AWS IoT SQL quotes strings with double quotes, not names",
         "write get(*, 'battery-level') to read the attribute"),
        ("quoted-name", 58, "\"mode\" is the string 'mode', not the attribute mode: AWS IoT SQL "
         "quotes strings with double quotes, not names", "write mode to read the attribute"),
    ]  # fmt: skip
    assert lint("SELECT 'temp', temp FROM 'a' WHERE 'x' = 'y'") == []  # single quotes: meant


def test_a_topic_level_no_topic_has_is_a_warning() -> None:
    # topic(0) (levels count from 1) and topic(9) (8 levels at most) are Undefined for every
    # message, and check said nothing (found by the fourth cold-user audit).
    found = lint("SELECT topic(0) AS a, topic(-1) AS b, topic(9) AS c, topic(8) AS d, topic(1) AS e "
                 "FROM 'x/#' WHERE topic(0) = 'x'")  # fmt: skip
    assert [(d.code, d.column, d.message) for d in found] == [
        ("topic-level", 8, "topic(0) is always Undefined: topic levels are numbered from 1"),
        ("topic-level", 23, "topic(-1) is always Undefined: topic levels are numbered from 1"),
        ("topic-level", 39, "topic(9) is always Undefined: a topic has at most 8 levels (7 slashes)"),
        ("topic-level", 100, "topic(0) is always Undefined: topic levels are numbered from 1"),
    ]  # fmt: skip
