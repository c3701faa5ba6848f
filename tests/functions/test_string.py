"""The string functions (iotsql/functions/string.py) driven through SQL: every documented example,
the argument-type tables, Java semantics (UTF-16 lengths, String.trim, java.util.regex patterns
and replacement strings), the size and time limits, and "never raises" properties."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cost import cpu_at_most
from hypothesis import given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.errors import SqlParseError
from iotsql.functions import java_regex as fregex
from iotsql.functions import string as fstring
from iotsql.functions.registry import lookup
from iotsql.limits import DEFAULT_LIMITS, Limits
from iotsql.values import UNDEFINED, Binary

V1 = "2015-10-08"
V2 = "2016-03-23"
U = UNDEFINED


def call(expr: str, payload: Any = None, version: str = V2) -> Any:
    """The value of `expr` selected as `r`, or UNDEFINED when the key is left out."""
    body = json.dumps({} if payload is None else payload).encode()
    output = iotsql.compile(f"SELECT {expr} AS r FROM 't'", version).evaluate(body, "t")
    assert output is not None, "the rule did not fire"
    return output.value.get("r", U)


def check(expr: str, expected: Any, payload: Any = None, version: str = V2) -> None:
    actual = call(expr, payload, version)
    assert type(actual) is type(expected), f"{expr}: {actual!r} is not {expected!r}"
    assert actual == expected, f"{expr}: {actual!r} != {expected!r}"


def substr(pattern: str, text: str) -> Any:
    """regexp_substr with both arguments from the payload (no SQL quoting to worry about)."""
    return call("regexp_substr(s, p)", {"s": text, "p": pattern})


# ---- declarations --------------------------------------------------------------------------------

DECLARED = {
    "chr": (1, 1, V1), "concat": (0, None, V1), "endswith": (2, 2, V1),
    "indexof": (2, 2, V2), "length": (1, 1, V2), "lower": (1, 1, V1), "lpad": (2, 2, V1),
    "ltrim": (1, 1, V1), "numbytes": (1, 1, V2), "regexp_matches": (2, 2, V1),
    "regexp_replace": (3, 3, V1), "regexp_substr": (2, 2, V1), "replace": (3, 3, V1),
    "rpad": (2, 2, V1), "rtrim": (1, 1, V1), "startswith": (2, 2, V1),
    "substring": (2, 3, V1), "trim": (1, 1, V1), "upper": (1, 1, V1),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_declaration(name: str) -> None:
    spec = lookup(name.upper())
    assert spec is not None
    low, high, since = DECLARED[name]
    assert (spec.min_args, spec.max_args, spec.since.value) == (low, high, since)
    assert spec.family == "string" and spec.pure and spec.anchor.startswith("iot-")
    assert spec.summary and spec.signature.startswith(name + "(")


@pytest.mark.parametrize("expr", ['indexof("abcd", "bc")', 'length("hi")', 'numbytes("hi")'])
def test_2016_functions_are_unknown_in_2015(expr: str) -> None:
    with pytest.raises(SqlParseError):
        iotsql.compile(f"SELECT {expr} AS r FROM 't'", V1)


# ---- documented examples -------------------------------------------------------------------------

DOC_EXAMPLES = [
    ("chr(65)", "A"),
    ("chr(49)", "1"),
    ("concat([1, 2, 3], 4)", [1, 2, 3, 4]),
    ('concat([1, 2, 3], "hello")', [1, 2, 3, "hello"]),
    ('concat("con", "cat")', "concat"),
    ('concat(1, "hello")', "1hello"),
    ('concat("he","is","man")', "heisman"),
    ('concat([1, 2, 3], "hello", [4, 5, 6])', [1, 2, 3, "hello", 4, 5, 6]),
    ('endswith("cat","at")', True),
    ('indexof("abcd", "bc")', 1),
    ('length("hi")', 2),
    ("length(false)", 5),
    ('lower("HELLO")', "hello"),
    ('lower(["HELLO"])', '["hello"]'),
    ('lpad("hello", 2)', "  hello"),
    ("lpad(1, 3)", "   1"),
    ('Ltrim(" h i ")', "h i "),  # the page prints "hi ", a typo: only leading space goes
    ('numbytes("hi")', 2),
    ('numbytes("€")', 3),
    ('regexp_matches("aaaa", "a{2,}")', True),
    ('regexp_matches("aaaa", "b")', False),
    ('regexp_matches("aaa", "(aaa|bbb)")', True),
    ('regexp_matches("bbb", "(aaa|bbb)")', True),
    ('regexp_matches("ccc", "(aaa|bbb)")', False),
    ('regexp_replace("abcd", "bc", "x")', "axd"),
    ('regexp_replace("abcd", "b(.*)d", "$1")', "ac"),
    ('regexp_substr("hihihello", "hi")', "hi"),
    ('regexp_substr("hihihello", "(hi)*")', "hihi"),
    ('replace("abcd", "bc", "x")', "axd"),
    ('replace("abcdabcd", "b", "x")', "axcdaxcd"),
    ('rpad("hello", 2)', "hello  "),
    ("rpad(1, 3)", "1   "),
    ('rtrim(" h i ")', " h i"),
    ('startswith("ranger","ran")', True),
    ('substring("012345", 0)', "012345"),
    ('substring("012345", 2)', "2345"),
    ('substring("012345", 2.745)', "2345"),
    ("substring(123, 2)", "3"),
    ('substring("012345", -1)', "012345"),
    ("substring(true, 1.2)", "rue"),
    ("substring(false, -2.411E247)", "false"),
    ('substring("012345", 1, 3)', "12"),
    ('substring("012345", -50, 50)', "012345"),
    ('substring("012345", 3, 1)', ""),
    ('Trim(" hi ")', "hi"),
    ('upper("hello")', "HELLO"),
]


@pytest.mark.parametrize(("expr", "expected"), DOC_EXAMPLES)
def test_documented_example(expr: str, expected: Any) -> None:
    check(expr, expected)
    if not expr.startswith(("indexof", "length", "numbytes")) and "[" not in expr:
        check(expr, expected, version=V1)


def test_concat_of_nothing_is_undefined() -> None:
    assert call("concat()") is U


def test_concat_of_one_argument_is_unchanged() -> None:
    # The page prints concat(1) = "1" but its table returns one argument unmodified.
    check("concat(1)", 1)
    check("concat(x)", [1, 2], {"x": [1, 2]})
    check("concat(x)", {"k": 1}, {"x": {"k": 1}})
    check("concat(x)", None, {"x": None})


# ---- String conversion of every type ---------------------------------------------------------------

STRING_FORMS = [
    ("Int", 12345, "12345"),
    ("Decimal", 2.5, "2.5"),
    ("small Decimal", 1.5e-5, "1.5E-5"),
    ("Boolean", True, "true"),
    ("String", "aBc", "aBc"),
    ("Array", [1, " a "], '[1," a "]'),
    ("Object", {"k": 1}, '{"k":1}'),
]
TO_STRING_FUNCTIONS: dict[str, Callable[[str], Any]] = {
    "lower": str.lower, "upper": str.upper, "trim": str.strip, "ltrim": str.lstrip,
    "rtrim": str.rstrip, "length": len, "numbytes": lambda s: len(s.encode()),
    "concat": lambda s: s,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TO_STRING_FUNCTIONS))
@pytest.mark.parametrize(
    ("row", "value", "text"), STRING_FORMS, ids=[r for r, _, _ in STRING_FORMS]
)
def test_unary_string_functions_take_the_string_form(
    name: str, row: str, value: Any, text: str
) -> None:
    if name == "concat" and row == "Array":
        check("concat('', x)", ["", *value], {"x": value})  # an Array argument: Array result
        return
    expr = "concat('', x)" if name == "concat" else f"{name}(x)"
    check(expr, TO_STRING_FUNCTIONS[name](text), {"x": value})


STRING_FUNCTIONS = [
    "lower(x)", "upper(x)", "trim(x)", "ltrim(x)", "rtrim(x)", "length(x)", "numbytes(x)",
    "lpad(x, 1)", "rpad(x, 1)", "substring(x, 0)", "substring(x, 0, 1)", "indexof(x, 'a')",
    "indexof('a', x)", "startswith(x, 'a')", "startswith('a', x)", "endswith(x, 'a')",
    "endswith('a', x)", "replace(x, 'a', 'b')", "replace('a', x, 'b')", "replace('a', 'a', x)",
    "regexp_matches(x, 'a')", "regexp_matches('a', x)", "regexp_substr(x, 'a')",
    "regexp_substr('a', x)", "regexp_replace(x, 'a', 'b')", "regexp_replace('a', x, 'b')",
    "regexp_replace('a', 'a', x)", "concat('a', x)", "chr(x)",
]  # fmt: skip


@pytest.mark.parametrize("expr", STRING_FUNCTIONS)
@pytest.mark.parametrize("payload", [{"x": None}, {}], ids=["Null", "Undefined"])
def test_null_and_undefined_arguments_are_undefined(expr: str, payload: Any) -> None:
    assert call(expr, payload) is U


# ---- chr ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"x": 122}, "z"),
        ({"x": 0}, "\x00"),
        ({"x": 127}, "\x7f"),
        ({"x": 128}, U),
        ({"x": -1}, U),
        ({"x": 255}, U),
        ({"x": 10**40}, U),
        ({"x": 65.9}, "A"),
        ({"x": 300.5}, U),
        ({"x": -0.5}, "\x00"),  # rounded down toward zero: chr(0)
        ({"x": -1.5}, U),
        ({"x": "-0.5"}, "\x00"),
        ({"x": "65"}, "A"),
        ({"x": "65.9"}, "A"),
        ({"x": "1000"}, U),
        ({"x": "A"}, U),
        ({"x": True}, U),
        ({"x": [65]}, U),
        ({"x": {"k": 65}}, U),
    ],
)
def test_chr_table(payload: Any, expected: Any) -> None:
    if expected is U:
        assert call("chr(x)", payload) is U
    else:
        check("chr(x)", expected, payload)


# ---- concat ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("concat('x', x)", {"x": True}, "xtrue"),
        ("concat('x', x)", {"x": 2.5}, "x2.5"),
        ("concat('x', x)", {"x": {"k": 1}}, 'x{"k":1}'),
        ("concat(x, y)", {"x": [1], "y": [2, 3]}, [1, 2, 3]),
        ("concat(x, y)", {"x": {"k": 1}, "y": [2]}, [{"k": 1}, 2]),
        ("concat(x, 'x')", {"x": [1]}, [1, "x"]),
        ("concat(x, y)", {"x": [1], "y": None}, [1, None]),
        ("concat(x, y)", {"x": 1, "y": 2}, "12"),
        ("concat(x, y, x)", {"x": True, "y": 2.5}, "true2.5true"),
    ],
)
def test_concat_table(expr: str, payload: Any, expected: Any) -> None:
    check(expr, expected, payload)


def test_concat_with_null_or_undefined() -> None:
    # Null has no String form; an Undefined argument makes the call Undefined.
    assert call("concat('a', x)", {"x": None}) is U
    assert call("concat([1], x)", {}) is U
    assert call("concat('a', x, 'b')", {}) is U


# ---- startswith, endswith, indexof ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("endswith(x, y)", {"x": "cat", "y": "ca"}, False),
        ("endswith(x, y)", {"x": 12345, "y": 45}, True),
        ("endswith(x, '.5')", {"x": 2.5}, True),
        ("endswith(x, ']')", {"x": [1]}, True),
        ("endswith(x, 5)", {"x": "a5"}, True),
        ("endswith(x, '')", {"x": "a"}, True),
        ("startswith(x, y)", {"x": "ranger", "y": "an"}, False),
        ("startswith(x, y)", {"x": 12345, "y": 12}, True),
        ("startswith(x, 'tr')", {"x": True}, True),
        ("startswith(x, '{')", {"x": {"a": 1}}, True),
        ("startswith(x, 5)", {"x": "a5"}, False),
        ("indexof(x, 'c')", {"x": "abcabc"}, 2),
        ("indexof(x, 'z')", {"x": "abc"}, -1),
        ("indexof(x, '')", {"x": "abc"}, 0),
        ("indexof(x, 34)", {"x": 12345}, 2),
        ("indexof(x, 'u')", {"x": True}, 2),
        ("indexof(x, '2')", {"x": [1, 2]}, 3),
        ("indexof(x, 'b')", {"x": "😀ab"}, 3),
        ("indexof(x, 'b')", {"x": "éab"}, 2),
    ],
)
def test_comparisons_and_indexof(expr: str, payload: Any, expected: Any) -> None:
    check(expr, expected, payload)


# ---- length and numbytes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "chars", "octets"),
    [("", 0, 0), ("€", 1, 3), ("é", 1, 2), ("😀", 2, 4), ("a😀b", 4, 6), ("\ud800", 1, 1)],
)
def test_length_counts_utf16_units_and_numbytes_utf8_bytes(
    text: str, chars: int, octets: int
) -> None:
    check("length(x)", chars, {"x": text})
    check("numbytes(x)", octets, {"x": text})


def test_length_and_numbytes_of_other_types() -> None:
    check("length(x)", 5, {"x": 12345})
    check("length(x)", 3, {"x": 2.5})
    check("length(x)", 5, {"x": [1, 2]})
    check("length(x)", 7, {"x": {"k": 1}})
    check("numbytes(x)", 4, {"x": True})


# ---- lower, upper -------------------------------------------------------------------------------------


def test_case_mapping() -> None:
    check("lower(x)", '{"kk":"vv"}', {"x": {"Kk": "Vv"}})
    check("upper(x)", '["AB"]', {"x": ["Ab"]})
    check("upper(x)", "STRASSE", {"x": "straße"})
    check("lower(x)", "éa", {"x": "ÉA"})


# ---- lpad, rpad --------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["lpad", "rpad"])
@pytest.mark.parametrize(
    ("count", "spaces"),
    [(1, 1), (0, 0), (2.7, 2), ("3", 3), ("2.7", 2), (-5, 0), (-0.5, 0), (1000, 1000),
     (1001, 1000), (10**40, 1000), ("1E3", 1000), (1e300, 1000)],
)  # fmt: skip
def test_pad_counts(side: str, count: Any, spaces: int) -> None:
    padding = " " * spaces
    check(f"{side}(x, n)", padding + "ab" if side == "lpad" else "ab" + padding,
          {"x": "ab", "n": count})  # fmt: skip


@pytest.mark.parametrize("side", ["lpad", "rpad"])
@pytest.mark.parametrize("count", ["abc", True, [1], {"k": 1}, None])
def test_pad_other_counts_are_undefined(side: str, count: Any) -> None:
    assert call(f"{side}('ab', n)", {"n": count}) is U


@pytest.mark.parametrize(
    ("value", "text"), [(True, "true"), (2.5, "2.5"), ([1], "[1]"), ({"k": 1}, '{"k":1}')]
)
def test_pad_converts_the_first_argument(value: Any, text: str) -> None:
    check("lpad(x, 1)", " " + text, {"x": value})
    check("rpad(x, 1)", text + " ", {"x": value})


# ---- trim, ltrim, rtrim ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "both", "left", "right"),
    [
        ("  a b  ", "a b", "a b  ", "  a b"),
        ("\t a \t", "a", "a \t", "\t a"),
        ("\r\n a\n\x00", "a", "a\n\x00", "\r\n a"),
        ("\u00a0a\u00a0", "\u00a0a\u00a0", "\u00a0a\u00a0", "\u00a0a\u00a0"),
        ("\u2003a", "\u2003a", "\u2003a", "\u2003a"),
        ("   ", "", "", ""),
    ],
)
def test_trim_removes_what_java_string_trim_removes(
    text: str, both: str, left: str, right: str
) -> None:
    check("trim(x)", both, {"x": text})
    check("ltrim(x)", left, {"x": text})
    check("rtrim(x)", right, {"x": text})


# ---- replace ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("replace(x, '.', '!')", {"x": "a.c"}, "a!c"),
        ("replace(x, 'b', '$1')", {"x": "abc"}, "a$1c"),
        ("replace(x, 'b', '\\1')", {"x": "abc"}, "a\\1c"),
        ("replace(x, 2, 9)", {"x": 12321}, "19391"),
        ("replace(x, '1', '2')", {"x": [1]}, "[2]"),
        ("replace(x, 'k', 'q')", {"x": {"k": 1}}, '{"q":1}'),
        ("replace(x, '', '-')", {"x": "abc"}, "-a-b-c-"),
        ("replace(x, 'aa', 'a')", {"x": "aaaa"}, "aa"),
    ],
)
def test_replace_is_literal(expr: str, payload: Any, expected: str) -> None:
    check(expr, expected, payload)


# ---- substring -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("substring(x, 6)", {"x": "012345"}, ""),
        ("substring(x, 10)", {"x": "012345"}, ""),
        ("substring(x, 1, 50)", {"x": "012345"}, "12345"),
        ("substring(x, 2, 2)", {"x": "012345"}, ""),
        ("substring(x, '2')", {"x": "012345"}, "2345"),
        ("substring(x, '2.9')", {"x": "012345"}, "2345"),
        ("substring(x, 1, '3')", {"x": "012345"}, "12"),
        ("substring(x, 1)", {"x": 2.5}, ".5"),
        ("substring(x, 1, 2)", {"x": [1, 2]}, "1"),
        ("substring(x, -1, 1.5)", {"x": "012345"}, "0"),
        ("substring(x, 1, 3)", {"x": "😀ab"}, "\ufffda"),
        ("substring(x, 2)", {"x": "😀ab"}, "ab"),
        ("substring(x, 0, 2)", {"x": "😀ab"}, "😀"),
        ("substring(x, 1)", {"x": "éab"}, "ab"),
    ],
)
def test_substring_table(expr: str, payload: Any, expected: str) -> None:
    check(expr, expected, payload)


@pytest.mark.parametrize(
    "expr",
    ["substring(x, 'abc')", "substring(x, true)", "substring(x, 1, null)",
     "substring(x, [1])", "substring('012345')"],
)  # fmt: skip
def test_substring_bad_indices_are_undefined(expr: str) -> None:
    assert call(expr, {"x": "012345"}) is U


# ---- regular expressions: function behaviour ----------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        ("regexp_matches(x, 'a{2}')", {"x": "xaay"}, True),
        ("regexp_matches(x, '^b')", {"x": "abc"}, False),
        ("regexp_matches(x, '^123$')", {"x": 123}, True),
        ("regexp_matches(x, '\\.5$')", {"x": 2.5}, True),
        ("regexp_matches(x, '^\\[1\\]$')", {"x": [1]}, True),
        ("regexp_matches(x, '\"k\":1')", {"x": {"k": 1}}, True),
        ("regexp_matches(x, 1)", {"x": "a1b"}, True),
        ("regexp_substr(x, '\\d+')", {"x": "ab12cd345"}, "12"),
        ("regexp_substr(x, '3.')", {"x": 12345}, "34"),
        ("regexp_substr(x, 'al')", {"x": False}, "al"),
        ("regexp_substr(x, 'a*')", {"x": "xyz"}, ""),
        ("regexp_replace(x, 'a', 'b')", {"x": "aaa"}, "bbb"),
        ("regexp_replace(x, '2', '9')", {"x": 12321}, "19391"),
        ("regexp_replace(x, '\\d', 'x')", {"x": [1]}, "[x]"),
        ("regexp_replace(x, 'b', 7)", {"x": "abc"}, "a7c"),
        ("regexp_replace(x, '\\s+', '')", {"x": " a b  c "}, "abc"),
        ("regexp_replace(x, '^[^/]*/[^/]*/', '')", {"x": "a/b/c/d"}, "c/d"),
    ],
)
def test_regexp_functions(expr: str, payload: Any, expected: Any) -> None:
    check(expr, expected, payload)


def test_regexp_substr_without_a_match_is_undefined() -> None:
    assert call("regexp_substr('abc', 'z')") is U


# ---- regular expressions: Java syntax and semantics --------------------------------------------------

JAVA_PATTERNS = [
    # possessive quantifiers and atomic groups
    ("a++a", "aaa", U),
    ("a+a", "aaa", "aaa"),
    ("a*+b", "aaab", "aaab"),
    ("a?+a", "a", U),
    ("a{1,3}+a", "aaa", U),
    ("(?>a+)a", "aaa", U),
    ("(?>a|ab)c", "abc", U),
    # POSIX classes are US-ASCII; Unicode properties are Unicode
    ("\\p{Alpha}+", "12abc3", "abc"),
    ("\\p{Alpha}", "é", U),
    ("\\p{IsAlpha}+", "x1", "x"),
    ("\\p{L}+", "1éa", "éa"),
    ("\\pL+", "1ab", "ab"),
    ("\\p{Lu}", "abC", "C"),
    ("\\p{IsLu}", "abC", "C"),
    ("\\p{Digit}+", "a123", "123"),
    ("\\p{Punct}+", "a!?b", "!?"),
    ("\\p{Punct}+", "a[\\]^`{|}~", "[\\]^`{|}~"),
    ("\\p{Upper}\\p{Lower}", "aBcD", "Bc"),
    ("\\p{Alnum}+", "-a1-", "a1"),
    ("\\p{XDigit}+", "xyzBEEF", "BEEF"),
    ("\\p{Space}+", "a \t\nb", " \t\n"),
    ("\\p{Blank}+", "a \tb", " \t"),
    ("\\p{Cntrl}", "a\x07", "\x07"),
    ("\\p{ASCII}+", "é abc", " abc"),
    ("\\p{Graph}+", " a! ", "a!"),
    ("\\p{Print}+", "\x01a b\x02", "a b"),
    ("\\P{Alpha}+", "ab12cd", "12"),
    ("[\\p{Alpha}&&[^aeiou]]+", "aebcd", "bcd"),
    ("[^\\p{Alpha}]+", "ab12cd", "12"),
    ("\\p{IsAlphabetic}+", "1é", "é"),
    ("\\p{javaLowerCase}+", "ABcdE", "cd"),
    ("\\p{javaWhitespace}+", "a \u2003b", " \u2003"),
    ("\\p{IsLatin}+", "αbc", "bc"),
    ("\\p{InGreek}+", "abαβ", "αβ"),
    ("(?U)\\p{Alpha}+", "1é", "é"),
    # \d \w \s are ASCII unless (?U)
    ("\\d+", "٣3", "3"),
    ("\\w+", "é_a1", "_a1"),
    ("\\s+", "a\u00a0 b", " "),
    ("\\S+", " é ", "é"),
    ("[\\d]+", "a12", "12"),
    ("[^\\d]+", "12ab", "ab"),
    ("(?U)\\d+", "٣3", "٣3"),
    ("(?U)\\w+", "é", "é"),
    ("\\h+", "a\t\u00a0b", "\t\u00a0"),
    ("\\v", "a\x0bb", "\x0b"),
    ("\\R", "a\r\nb", "\r\n"),
    # case-insensitivity is ASCII-only unless (?u)
    ("(?i)abc", "xABC", "ABC"),
    ("(?i)é", "É", U),
    ("(?iu)é", "É", "É"),
    ("a(?i)b", "aB", "aB"),
    ("a(?i)b", "Ab", U),
    ("(?i:a)b", "Ab", "Ab"),
    ("(?i:a)b", "AB", U),
    ("(?i)a(?-i)b", "AB", U),
    # . and line terminators
    ("a.b", "a\rb", U),
    ("a.b", "a\u2028b", U),
    ("a.b", "a\u0085b", U),
    ("a.b", "a\tb", "a\tb"),
    ("(?s)a.b", "a\rb", "a\rb"),
    ("(?d)a.b", "a\rb", "a\rb"),
    ("(?d)a.b", "a\nb", U),
    # ^ and $
    ("a$", "a\n", "a"),
    ("a$", "a\r\n", "a"),
    ("a$", "a\r", "a"),
    ("a$", "a\nb", U),
    ("a$", "a\n\n", U),
    ("(?m)a$", "a\nb", "a"),
    ("(?m)a$", "a\rb", "a"),
    ("^b", "a\nb", U),
    ("(?m)^b", "a\nb", "b"),
    ("(?m)^b", "a\rb", "b"),
    ("(?m)^", "", U),
    ("(?m)$", "", ""),
    ("(?md)^b", "a\rb", U),
    ("a\\Z", "a\n", "a"),
    ("a\\z", "a\n", U),
    ("\\Aa", "ba", U),
    # quoting and escapes
    ("\\Qa.b\\E", "axb", U),
    ("\\Qa.b\\E", "a.b", "a.b"),
    ("\\Qab\\E+", "abbb", "abbb"),
    ("\\Q(a", "x(a", "(a"),
    ("[\\Q]\\E]+", "x]]", "]]"),
    ("\\x41\\u0042\\x{43}", "ABC", "ABC"),
    ("\\0101", "A", "A"),
    ("\\cA", "\x01", "\x01"),
    ("\\t\\e\\a\\f", "\t\x1b\x07\x0c", "\t\x1b\x07\x0c"),
    ("\\uD83D\\uDE00", "x😀", "😀"),
    ("\\N{LATIN SMALL LETTER A}", "ba", "a"),
    ("\\.\\$\\^\\{\\}", ".$^{}", ".$^{}"),
    ("\\é", "é", "é"),
    # groups and back references
    ("(?<year>\\d{4})-\\k<year>", "2024-2024", "2024-2024"),
    ("(a)\\1", "aa", "aa"),
    ("(a)\\11", "aa1", "aa1"),
    ("(a)\\2", "aa", U),
    ("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10", "abcdefghijj", "abcdefghijj"),
    ("(?:a)(?<n>b)", "ab", "ab"),
    ("(?<=a)b", "ab", "b"),
    ("(?<!a)b", "ab", U),
    ("a(?=b)", "ab", "a"),
    ("a(?!b)", "ab", U),
    # classes
    ("[a-c[x-z]]+", "abxyzd", "abxyz"),
    ("[a-z&&[^aeiou]]+", "aebcd", "bcd"),
    ("[a-z&&def]+", "abcdefg", "def"),
    ("[\\w&&[^\\d]]+", "12ab3", "ab"),
    ("[^a-c]", "abcd", "d"),
    ("[]a]+", "x]a]", "]a]"),
    ("[^]a]", "]ab", "b"),
    ("[a-]+", "x-a-", "-a-"),
    ("[-a]+", "x-a-", "-a-"),
    ("[a-[bc]]+", "-abc", "-abc"),
    ("[\\^]", "a^", "^"),
    ("[a^]+", "^a", "^a"),
    ("[|]", "a|", "|"),
    ("[a||b]+", "|ab", "|ab"),
    ("[--a]+", "x-a", "-a"),
    ("[~~]", "~", "~"),
    ("[\\x{1F600}-\\x{1F64F}]", "a😀", "😀"),
    # literal } and ], quantifier forms
    ("a}", "a}", "a}"),
    ("a]", "a]", "a]"),
    ("x{2}", "xxx", "xx"),
    ("x{2,}", "xxx", "xxx"),
    ("x{1,2}?", "xxx", "x"),
    ("x{0}", "x", ""),
    ("^*a", "a", "a"),
    # Java 17 repeats an empty node when a counted quantifier has nothing before it
    ("{1}", "a", ""),
    ("{2}a", "xa", "a"),
    ("a{2}{3}", "aaaa", "aa"),
    ("a*{2}", "aaa", "aaa"),
    ("\\b{0,3}x", "x", "x"),
    # \R gives back the \n of \r\n, unless it is repeated
    ("\\R\n", "\r\n", "\r\n"),
    ("\\R{2}", "\rB\r\n", U),
    ("\\R{2}", "\n\n", "\n\n"),
    # lookbehinds Java can size
    ("(?<=a+)b", "aab", "b"),
    ("(?<=ab*)c", "abbc", "c"),
    ("(?<=a*+)b", "ab", "b"),
    ("(?<=(?:a)+)b", "ab", "b"),
    ("(?<=(?:ab){1,3})c", "abc", "c"),
    # comments mode
    ("(?x) a b # comment", "ab", "ab"),
    ("(?x)a\\ b", "a b", "a b"),
    ("(?x)[a b]+", "a b", "a"),
    ("(?x)a #c\n b", "ab", "ab"),
    ("(?x:a b)c d", "abc d", "abc d"),
    # flags
    ("(?)a", "a", "a"),
    ("(?i-i)a", "A", U),
    ("(?x)[a - c]+", "xb-", "b"),
    ("(?-i)a", "a", "a"),
    ("(?s:a.)b.", "a\nbx", "a\nbx"),
    ("(?s:a.)b.", "a\nb\n", U),
    ("a|b|", "c", ""),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), JAVA_PATTERNS)
def test_java_pattern(pattern: str, text: str, expected: Any) -> None:
    actual = substr(pattern, text)
    assert actual == expected and type(actual) is type(expected), (pattern, text, actual)


INVALID_IN_JAVA = [
    "(?P<n>b)", "(?P=n)", "(?#c)", "(?|a)", "(?R)", "(?z)", "(?i", "\\y", "\\m", "\\i",
    "\\g<1>", "\\K", "\\E", "a{", "a{,3}", "a{x}", "a{3,2}", "{", "{x}", "*a",
    "+a", "?a", "a**", "a*+*", "(a", "a)", "[a", "[]", "[^]", "[z-a]", "[a-\\d]",
    "\\k<nope>", "\\k<n>(?<n>a)", "(?<1n>a)", "(?<n>a)(?<n>b)", "(?<n_x>a)", "\\x4",
    "\\xZZ", "\\u12", "\\x{110000}", "\\0", "\\08", "\\c", "\\", "[a\\", "\\p{Nope}", "\\p{",
    "\\p{alpha}", "\\N{NOT A CHARACTER NAME}", "[\\b]", "[\\1]", "[\\A]", "(?i)*", "a|*",
    "(*)", "a{2147483648}", "(a)(?<=\\1)b", "(?<n>a)(?<=\\k<n>)", "(?<=(?:ab)+)c",
    "(?<=(?:a|b)*)c", "(?<=ab*+)c", "(?<=ab*?)c", "\\p{IsNope}", "[a--]", "\\p{gc=Latin}", "\\p{foo=bar}",
]  # fmt: skip


@pytest.mark.parametrize("pattern", INVALID_IN_JAVA)
def test_invalid_java_patterns_are_undefined(pattern: str) -> None:
    payload = {"s": "a", "p": pattern}
    assert call("regexp_matches(s, p)", payload) is U
    assert call("regexp_substr(s, p)", payload) is U
    assert call("regexp_replace(s, p, 'x')", payload) is U


def test_grapheme_cluster_boundaries_are_not_supported() -> None:
    # Java 9+ accepts \b{g}; `regex` has no equivalent, so the call is Undefined.
    assert substr("\\b{g}a", "a") is U


def test_invalid_patterns_written_in_sql() -> None:
    assert call("regexp_matches('a(b', 'a(')") is U
    assert call("regexp_substr('abc', '[')") is U
    assert call("regexp_replace('abc', '(', 'x')") is U


# ---- regular expressions: Java replacement strings ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pattern", "replacement", "expected"),
    [
        ("abcd", "b(c)", "[$1]", "a[c]d"),
        ("abcd", "b(?<n>.*)d", "${n}", "ac"),
        ("abc", "b", "\\$", "a$c"),
        ("abc", "b", "\\\\", "a\\c"),
        ("abc", "b", "\\x", "axc"),
        ("abc", "b", "\\1", "a1c"),
        ("abc", "(b)", "\\g<1>", "ag<1>c"),
        ("aaa", "a", "$0$0", "aaaaaa"),
        ("abc", "(b)", "$12", "ab2c"),
        ("abcdefghijk", "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)", "$11$10$1", "kja"),
        ("b", "(a)?b", "[$1]", "[]"),
        ("abc", "z", "$9", "abc"),
        ("abc", "z", "${nope}", "abc"),
        ("abc", "x*", "-", "-a-b-c-"),
        ("abc", "b*", "-", "-a--c-"),
        ("abc", "", "-", "-a-b-c-"),
        ("\t_\t.x", "{1,}|\\S{1,}", "", "\t_\t.x"),
        ("\x85b1", "|\\W", "", "\x85b1"),
        ("ab", "|b", "-", "-a-b-"),
        ("a.b.c", "\\.", "/", "a/b/c"),
        ("Hello World", "(\\w+) (\\w+)", "$2 $1", "World Hello"),
    ],
)
def test_java_replacement(text: str, pattern: str, replacement: str, expected: str) -> None:
    payload = {"s": text, "p": pattern, "r": replacement}
    check("regexp_replace(s, p, r)", expected, payload)


@pytest.mark.parametrize(
    "replacement", ["$2", "$", "${", "${n", "${}", "${1a}", "${nope}", "\\", "$a", "$-1"]
)
def test_invalid_replacements_are_undefined_when_there_is_a_match(replacement: str) -> None:
    assert call("regexp_replace(s, p, r)", {"s": "abc", "p": "(b)", "r": replacement}) is U
    # Java reads the replacement only at a match.
    check("regexp_replace(s, p, r)", "xyz", {"s": "xyz", "p": "(b)", "r": replacement})


def test_java_replacement_parser() -> None:
    pattern = fregex.java_pattern("(a)(?<name>b)")
    assert pattern is not None
    assert fregex.java_replacement("x$1y${name}\\$", pattern) == ["x", 1, "y", 2, "$"]
    assert fregex.java_replacement("$21", pattern) == [2, "1"]
    with pytest.raises(fregex.ReplacementError):
        fregex.java_replacement("$3", pattern)


# ---- regular expressions: time, size and cache ---------------------------------------------------------


def test_catastrophic_backtracking_is_bounded() -> None:
    payload = {"s": "a" * 40 + "b", "p": "(a+)+$"}
    with cpu_at_most(3 * DEFAULT_LIMITS.regex_timeout + 1):  # the regex time-out's own clock
        result = call("regexp_matches(s, p)", payload)
    assert result is False or result is U


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fstring, "DEFAULT_LIMITS", Limits(regex_timeout=0.05))


@pytest.mark.usefixtures("short_timeout")
@pytest.mark.parametrize(
    "expr", ["regexp_matches(s, p)", "regexp_substr(s, p)", "regexp_replace(s, p, 'x')"]
)
def test_a_pattern_that_times_out_is_undefined(expr: str) -> None:
    payload = {"s": "a" * 60 + "b", "p": "(a|aa)+$"}
    with cpu_at_most(1.0):
        assert call(expr, payload) is U


def test_repeat_budget() -> None:
    assert substr("a{10000}", "a" * 10000) == "a" * 10000
    assert substr("(?:a{100}){100}", "a" * 10000) == "a" * 10000
    assert substr("a{0,2147483647}", "aaa") == "aaa"
    assert substr("a{30000}", "a") is U
    assert substr("(?:a{200}){200}", "a") is U
    assert substr("a{15000}b{15000}", "a") is U


def test_deep_nesting_is_bounded() -> None:
    assert substr("(" * 100 + "a" + ")" * 100, "a") == "a"
    assert substr("[" * 100 + "a" + "]" * 100, "a") == "a"
    assert substr("(" * 5000 + "a" + ")" * 5000, "a") is U  # beyond Python's recursion limit
    assert substr("[" * 5000 + "a" + "]" * 5000, "a") is U


def test_compiled_patterns_are_cached() -> None:
    first = fregex.java_pattern("[a-z]+\\d")
    assert first is not None and fregex.java_pattern("[a-z]+\\d") is first
    assert fregex.java_pattern("(?P<x>a)") is None
    for i in range(300):
        fregex.java_pattern(f"x{i}")
    assert len(fregex._PATTERNS.entries) <= 256
    assert "x299" in fregex._PATTERNS.entries and "x0" not in fregex._PATTERNS.entries
    fregex.java_pattern("a{5000}")
    assert "a{5000}" not in fregex._PATTERNS.entries


@pytest.fixture
def small_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fstring, "DEFAULT_LIMITS", Limits(max_value_bytes=100))


@pytest.mark.usefixtures("small_values")
@pytest.mark.parametrize(
    "expr",
    ["concat(s, s)", "concat(a, a)", "lpad(s, 60)", "rpad(s, 60)", "replace(s, 'a', 'aa')",
     "replace(s, '', 'xx')", "regexp_replace(s, 'a', 'aa')", "regexp_replace(s, '', 'xx')",
     "upper(t)", "lower(t)"],
)  # fmt: skip
def test_results_over_the_size_limit_are_undefined(expr: str) -> None:
    payload = {"s": "a" * 60, "a": ["a" * 30, "b" * 30], "t": "é" * 60}
    assert call(expr, payload) is U


@pytest.mark.usefixtures("small_values")
def test_results_at_the_size_limit_are_kept() -> None:
    check("concat(s, s)", "a" * 100, {"s": "a" * 50})
    check("lpad(s, 50)", " " * 50 + "a" * 50, {"s": "a" * 50})
    check("replace(s, 'a', 'aa')", "a" * 100, {"s": "a" * 50})
    # An Array result of exactly the limit as compact JSON: ["x...x","y...y"] is 100 bytes.
    check("concat(a, s)", ["x" * 45, "y" * 48], {"a": ["x" * 45], "s": "y" * 48})


@pytest.mark.usefixtures("small_values")
def test_results_under_the_size_limit_in_bytes_are_kept() -> None:
    # Past a quarter of the limit in characters, a String's UTF-8 size decides (the common
    # case, at most 4 bytes a character, is checked without encoding it).
    check("concat(s, s)", "a" * 60, {"s": "a" * 30})
    check("upper(t)", "É" * 40, {"t": "é" * 40})  # 80 bytes
    assert call("upper(t)", {"t": "é" * 51}) is U  # 102 bytes


def test_a_huge_regexp_replace_stops_early() -> None:
    payload = {"s": "a" * 2000, "r": "b" * 2000}
    with cpu_at_most(1.0):
        assert call("regexp_replace(s, '', r)", payload) is U
        assert call("replace(s, '', r)", payload) is U


# ---- properties -----------------------------------------------------------------------------------------

REGEX_TOKENS = st.sampled_from(
    ["a", "b", ".", "*", "+", "?", "{2}", "{1,}", "|", "(", ")", "(?:", "(?<n>", "(?i)", "(?x)",
     "[", "]", "^", "$", "\\", "\\d", "\\p{Alpha}", "\\Q", "\\E", "&&", "-", "\\1", "\\k<n>",
     "(?=", "(?<=", "(?>", "++", "\\u0041", "\\x{1F600}", " ", "#", "\n", "é", "😀", "{", "}"]
)  # fmt: skip
patterns = st.one_of(st.lists(REGEX_TOKENS, max_size=12).map("".join), st.text(max_size=12))
replacements = st.lists(
    st.sampled_from(["a", "$", "1", "0", "{", "}", "n", "\\", "$1", "${n}", "é"]), max_size=6
).map("".join)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    patterns,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
python_values = st.one_of(
    values,
    st.sampled_from([U, Binary(b"\xffab"), Binary(b"ab"), "\ud800", 10**400, 1e308]),
)
_RULES: dict[tuple[str, int], Any] = {}


def _rule(name: str, arity: int) -> Any:
    key = (name, arity)
    if key not in _RULES:
        args = ", ".join("abc"[:arity])
        _RULES[key] = iotsql.compile(f"SELECT {name}({args}) AS r FROM 't'", V2)
    return _RULES[key]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(DECLARED)),
    st.integers(min_value=0, max_value=3),
    st.lists(st.one_of(values, st.just(U)), min_size=3, max_size=3),
)
def test_every_function_through_sql_never_raises(name: str, extra: int, args: list[Any]) -> None:
    low, high, _ = DECLARED[name]
    arity = min(low + extra, 3 if high is None else high)
    payload = {k: v for k, v in zip("abc", args[:arity], strict=False) if v is not U}
    with cpu_at_most(3 * DEFAULT_LIMITS.regex_timeout + 1):
        output = _rule(name, arity).evaluate(json.dumps(payload).encode(), "t")
    assert output is not None
    json.dumps(output.value)
    output.to_bytes()


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(DECLARED)), st.lists(python_values, min_size=3, max_size=3))
def test_every_implementation_never_raises(name: str, args: list[Any]) -> None:
    spec = lookup(name)
    assert spec is not None
    result = spec.impl(
        *args[: max(spec.min_args, 2)] if name == "concat" else args[: spec.min_args]
    )
    assert result is U or type(result) in (int, str, bool, list, dict, type(None), Binary)
    if type(result) is str:
        assert len(result.encode("utf-8", "surrogatepass")) <= DEFAULT_LIMITS.max_value_bytes


@settings(max_examples=500, deadline=None)
@given(patterns, st.text(max_size=30), replacements)
def test_any_pattern_translates_or_is_rejected(pattern: str, text: str, replacement: str) -> None:
    compiled = fregex.java_pattern(pattern)
    payload = {"s": text, "p": pattern, "r": replacement}
    matched = call("regexp_matches(s, p)", payload)
    found = call("regexp_substr(s, p)", payload)
    replaced = call("regexp_replace(s, p, r)", payload)
    if compiled is None:
        assert matched is U and found is U and replaced is U
    else:
        assert matched in (True, False, U)
        assert found is U or (type(found) is str and found in text)
        assert replaced is U or type(replaced) is str


@pytest.mark.usefixtures("small_values")
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(st.one_of(st.text(max_size=12), st.integers(-999, 999)), max_size=6),
            st.text(max_size=20),
            st.integers(-999, 999),
        ),
        min_size=2,
        max_size=5,
    )
)
def test_concat_of_arrays_is_undefined_exactly_past_the_size_limit(parts: list[Any]) -> None:
    """An Array result is refused only when its compact JSON is over max_value_bytes (100
    here): its arguments' sizes, brackets and all, overstate it by up to two bytes each, so a
    result at the limit was refused (concat(["a"*46], ["b"*47]) is 100 bytes)."""
    if not any(type(part) is list for part in parts):
        parts = [[], *parts]
    payload = {f"p{i}": part for i, part in enumerate(parts)}
    spliced = [x for part in parts for x in (part if type(part) is list else [part])]
    size = len(json.dumps(spliced, separators=(",", ":"), ensure_ascii=False).encode())
    expr = "concat(" + ", ".join(f"p{i}" for i in range(len(parts))) + ")"
    assert call(expr, payload) == (U if size > 100 else spliced)


@pytest.mark.usefixtures("small_values")
def test_concat_of_arrays_at_the_size_limit() -> None:
    payload = {"a": ["a" * 46], "b": ["b" * 47], "c": ["c" * 48]}
    assert call("concat(a, b)", payload) == ["a" * 46, "b" * 47]
    assert call("concat(a, c)", payload) is U
