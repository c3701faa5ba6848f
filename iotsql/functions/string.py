"""String functions: chr, concat, endswith, indexof, length, lower, lpad, ltrim, numbytes, replace,
rpad, rtrim, startswith, substring, trim, upper, and the regular-expression functions
regexp_matches, regexp_replace and regexp_substr.

Non-String arguments take the standard String conversion (an Array or Object becomes compact
JSON, Null and Undefined do not convert). AWS runs on the JVM, so the functions follow Java:
lengths and indices count UTF-16 code units (`length` of an emoji is 2), white space is what
`String.trim()` removes, and regular expressions are `java.util.regex` patterns with Java
replacement strings (`$1`, `${name}`, `\\$`), translated here for the `regex` package.

Results longer than `Limits.max_value_bytes`, invalid patterns and matches that exceed
`Limits.regex_timeout` are Undefined (the limits of the rule being evaluated, read through
`iotsql.limits.current_limits()`). A match also stops when the evaluation's time budget
(`Limits.evaluation_timeout`, iotsql.budget) runs out, and then the rule fails.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import regex

from iotsql.budget import check_time, time_left
from iotsql.functions.java_regex import (
    ReplacementError,
    TooLong,
    java_pattern,
    java_replace_all,
    java_replacement,
)
from iotsql.functions.math import round_down_clamped
from iotsql.functions.registry import function
from iotsql.limits import DEFAULT_LIMITS, Limits, current_limits
from iotsql.values import UNDEFINED, V2, finalize, json_size, json_size_at_least, to_string

U = UNDEFINED
FAMILY = "string"

_ABSENT: Final = object()
_DEFAULTS: Final = DEFAULT_LIMITS


def _limits() -> Limits:
    """The limits of the rule being evaluated; with the defaults, this module's DEFAULT_LIMITS
    (which a test may replace to shorten the regex time-out)."""
    limits = current_limits()
    return DEFAULT_LIMITS if limits is _DEFAULTS else limits


#: What Java's `String.trim()` removes: every code point up to U+0020 (space, tab, CR, LF...).
WHITE_SPACE: Final = "".join(map(chr, range(0x21)))


def _fits(text: str) -> bool:
    """Whether `text` is within the size limit for built values (UTF-8 bytes)."""
    limit = _limits().max_value_bytes
    if len(text) * 4 <= limit:
        return True
    return len(text) <= limit and _utf8_size(text) <= limit


def _bounded(text: str) -> Any:
    """`text`, or Undefined past the size limit (`_fits`, with its common case inline)."""
    limits = current_limits()
    if len(text) * 4 <= (DEFAULT_LIMITS if limits is _DEFAULTS else limits).max_value_bytes:
        return text
    return text if _fits(text) else U


def _utf8_size(text: str) -> int:
    # A lone surrogate (a JSON "\ud800" escape) is one '?' byte, as Java encodes it.
    return len(text.encode("utf-8", "replace"))


def _utf16(text: str) -> bytes | None:
    """The UTF-16 code units of `text`, or None when each character is one unit."""
    if text.isascii():
        return None
    units = text.encode("utf-16-le", "surrogatepass")
    return None if len(units) == 2 * len(text) else units


def _utf16_length(text: str) -> int:
    units = _utf16(text)
    return len(text) if units is None else len(units) // 2


def _texts(*values: Any) -> list[Any] | None:
    """The String forms of `values`, or None if one does not convert (Null, Undefined)."""
    texts = [to_string(v) for v in values]
    return None if any(t is U for t in texts) else texts


# ---- simple string functions ---------------------------------------------------------------------


@function("chr", args=1, family=FAMILY, anchor="iot-func-chr", signature="chr(code)")
def chr_(code: Any) -> Any:
    """The ASCII character (0 to 127) with the given code, rounded down (toward zero) to an Int."""
    number = round_down_clamped(code, -1, 128)
    if number is U or not 0 <= number <= 127:
        return U
    return chr(number)


@function("concat", args=(0, None), family=FAMILY, anchor="iot-func-concat",
          signature="concat(value, ...)")  # fmt: skip
def concat(*values: Any) -> Any:
    """The arguments joined: into one Array if any is an Array, else into one String.

    Arrays are spliced in and other values appended as elements; otherwise the String forms are
    concatenated. One argument is returned as is, none gives Undefined."""
    if not values:
        return U
    if len(values) == 1:
        return values[0]
    if any(type(v) is list for v in values):
        return _concat_arrays(values)
    texts = _texts(*values)
    if texts is None or sum(map(len, texts)) > _limits().max_value_bytes:
        return U  # too long even in characters: refused before it is joined
    return _bounded("".join(texts))


def _concat_arrays(values: tuple[Any, ...]) -> Any:
    limit = _limits().max_value_bytes
    # Measured before anything is copied (an argument may repeat). Each argument's own
    # brackets and the commas between them overstate the spliced result by at most two bytes
    # an argument, so only a sum past that slack is surely too big; the result decides.
    bound = limit + 2 * len(values)
    size = 0
    for value in values:
        size += json_size_at_least(value, bound - size)
        if size > bound:
            return U
    out: list[Any] = []
    for value in values:
        if type(value) is list:
            out.extend(value)
        elif isinstance(value, bytes):
            return U  # a raw (non-JSON) body is no Array element
        elif type(value) is Decimal:
            # An exact Decimal (`1.5 * 3`) becomes a JSON number as it enters the array, as in
            # an array literal (in 2016-03-23 a whole one is an Int already).
            out.append(finalize(value, False))
        else:
            out.append(value)
    if json_size(out, limit) > limit:
        return U
    return out


@function("endswith", args=2, family=FAMILY, anchor="iot-func-endswith",
          signature="endswith(string, suffix)")  # fmt: skip
def endswith(value: Any, suffix: Any) -> Any:
    """Whether the first argument ends with the second (both as Strings)."""
    texts = _texts(value, suffix)
    return U if texts is None else texts[0].endswith(texts[1])


@function("startswith", args=2, family=FAMILY, anchor="iot-func-startswith",
          signature="startswith(string, prefix)")  # fmt: skip
def startswith(value: Any, prefix: Any) -> Any:
    """Whether the first argument starts with the second (both as Strings)."""
    texts = _texts(value, prefix)
    return U if texts is None else texts[0].startswith(texts[1])


@function("indexof", args=2, family=FAMILY, since=V2, anchor="iot-sql-function-indexof",
          signature="indexof(string, substring)")  # fmt: skip
def indexof(value: Any, substring: Any) -> Any:
    """The 0-based index of the first occurrence of the second argument in the first, or -1.

    Indices count UTF-16 code units, as Java's `String.indexOf`."""
    texts = _texts(value, substring)
    if texts is None:
        return U
    text, target = texts
    index: int = text.find(target)
    return index if index <= 0 else _utf16_length(text[:index])


@function("length", args=1, family=FAMILY, since=V2, anchor="iot-sql-function-length",
          signature="length(string)")  # fmt: skip
def length(value: Any) -> Any:
    """The number of characters of the String form, as Java's `String.length()` counts them.

    Java counts UTF-16 code units: an emoji outside the Basic Multilingual Plane counts 2."""
    text = to_string(value)
    return U if text is U else _utf16_length(text)


@function("numbytes", args=1, family=FAMILY, since=V2, anchor="iot-sql-function-numbytes",
          signature="numbytes(string)")  # fmt: skip
def numbytes(value: Any) -> Any:
    """The number of bytes of the UTF-8 encoding of the String form."""
    text = to_string(value)
    return U if text is U else _utf8_size(text)


@function("lower", args=1, family=FAMILY, anchor="iot-func-lower", signature="lower(string)")
def lower(value: Any) -> Any:
    """The String form in lower case."""
    text = value if type(value) is str else to_string(value)
    return U if text is U else _bounded(text.lower())


@function("upper", args=1, family=FAMILY, anchor="iot-sql-function-upper",
          signature="upper(string)")  # fmt: skip
def upper(value: Any) -> Any:
    """The String form in upper case."""
    text = value if type(value) is str else to_string(value)
    return U if text is U else _bounded(text.upper())


#: lpad and rpad add at most this many spaces (AWS documents the clamp to 0..1000).
MAX_PAD: Final = 1000


def _pad(value: Any, count: Any, on_left: bool) -> Any:
    text = to_string(value)
    spaces = round_down_clamped(count, 0, MAX_PAD)
    if text is U or spaces is U:
        return U
    padding = " " * spaces
    return _bounded(padding + text if on_left else text + padding)


@function("lpad", args=2, family=FAMILY, anchor="iot-func-lpad", signature="lpad(string, n)")
def lpad(value: Any, count: Any) -> Any:
    """The String form with `n` spaces (rounded down, clamped to 0..1000) on the left."""
    return _pad(value, count, on_left=True)


@function("rpad", args=2, family=FAMILY, anchor="iot-func-rpad", signature="rpad(string, n)")
def rpad(value: Any, count: Any) -> Any:
    """The String form with `n` spaces (rounded down, clamped to 0..1000) on the right."""
    return _pad(value, count, on_left=False)


@function("trim", args=1, family=FAMILY, anchor="iot-func-trim", signature="trim(string)")
def trim(value: Any) -> Any:
    """The String form without leading and trailing white space.

    White space is what Java's `String.trim()` removes: spaces, tabs, line breaks and the other
    control characters up to U+0020."""
    text = to_string(value)
    return U if text is U else text.strip(WHITE_SPACE)


@function("ltrim", args=1, family=FAMILY, anchor="iot-func-ltrim", signature="ltrim(string)")
def ltrim(value: Any) -> Any:
    """The String form without leading white space (the characters trim removes)."""
    text = to_string(value)
    return U if text is U else text.lstrip(WHITE_SPACE)


@function("rtrim", args=1, family=FAMILY, anchor="iot-func-rtrim", signature="rtrim(string)")
def rtrim(value: Any) -> Any:
    """The String form without trailing white space (the characters trim removes)."""
    text = to_string(value)
    return U if text is U else text.rstrip(WHITE_SPACE)


@function("replace", args=3, family=FAMILY, anchor="iot-func-replace",
          signature="replace(string, target, replacement)")  # fmt: skip
def replace_(value: Any, target: Any, replacement: Any) -> Any:
    """The String form with every occurrence of `target` (literal text) replaced."""
    texts = _texts(value, target, replacement)
    if texts is None:
        return U
    text, old, new = texts
    # The size is known before building: refuse a result over the limit without making it.
    count = text.count(old) if old else len(text) + 1
    size = _utf8_size(text) + count * (_utf8_size(new) - _utf8_size(old))
    if size > _limits().max_value_bytes:
        return U
    return text.replace(old, new)


@function("substring", args=(2, 3), family=FAMILY, anchor="iot-func-substring",
          signature="substring(string, start[, end])")  # fmt: skip
def substring(value: Any, start: Any, end: Any = _ABSENT) -> Any:
    """The String form from 0-based `start` (inclusive) to `end` (exclusive) or to its end.

    Indices are rounded down and clamped to the string (in UTF-16 code units, as Java); the
    result is empty when start >= end."""
    text = to_string(value)
    if text is U:
        return U
    size = _utf16_length(text)
    first = round_down_clamped(start, 0, size)
    last = size if end is _ABSENT else round_down_clamped(end, 0, size)
    if first is U or last is U:
        return U
    if first >= last:
        return ""
    units = _utf16(text)
    if units is None:
        return text[first:last]
    # A cut through a surrogate pair leaves half a character: it becomes U+FFFD.
    return units[2 * first : 2 * last].decode("utf-16-le", "replace")


def _regex_operands(value: Any, pattern: Any) -> tuple[str, regex.Pattern[str]] | None:
    texts = _texts(value, pattern)
    if texts is None:
        return None
    compiled = java_pattern(texts[1])
    return None if compiled is None else (texts[0], compiled)


def _regex_timeout() -> float:
    """The time-out of one match: `Limits.regex_timeout`, or what is left of the evaluation's
    budget when that is less (BudgetExceededError when nothing is)."""
    return time_left(_limits().regex_timeout)


def _timed_out() -> Any:
    """After a match timed out: the rule fails if its budget is spent, else the call is
    Undefined (the pattern alone was too slow)."""
    check_time()
    return U


@function("regexp_matches", args=2, family=FAMILY, anchor="iot-func-regex-matches",
          signature="regexp_matches(string, pattern)", cost="unbounded")  # fmt: skip
def regexp_matches(value: Any, pattern: Any) -> Any:
    """Whether the String form contains a match of the (Java) regular expression."""
    operands = _regex_operands(value, pattern)
    if operands is None:
        return U
    text, compiled = operands
    try:
        return compiled.search(text, timeout=_regex_timeout()) is not None
    except TimeoutError:
        return _timed_out()


@function("regexp_substr", args=2, family=FAMILY, anchor="iot-func-regex-substr",
          signature="regexp_substr(string, pattern)", cost="unbounded")  # fmt: skip
def regexp_substr(value: Any, pattern: Any) -> Any:
    """The first match of the (Java) regular expression in the String form.

    Undefined when there is none."""
    operands = _regex_operands(value, pattern)
    if operands is None:
        return U
    text, compiled = operands
    try:
        match = compiled.search(text, timeout=_regex_timeout())
    except TimeoutError:
        return _timed_out()
    return U if match is None else match.group(0)


@function("regexp_replace", args=3, family=FAMILY, anchor="iot-func-regex-replace",
          signature="regexp_replace(string, pattern, replacement)", cost="unbounded")  # fmt: skip
def regexp_replace(value: Any, pattern: Any, replacement: Any) -> Any:
    """The String form with every match of the (Java) regular expression replaced.

    The replacement refers to groups as `$1` or `${name}`; `\\$` is a dollar sign."""
    operands = _regex_operands(value, pattern)
    template = to_string(replacement)
    if operands is None or template is U:
        return U
    text, compiled = operands
    timeout = _regex_timeout()
    try:
        try:
            parts = java_replacement(template, compiled)
        except ReplacementError:
            # Java reads the replacement at the first match only: no match, no error.
            return text if compiled.search(text, timeout=timeout) is None else U
        result = java_replace_all(compiled, text, parts, timeout, _limits().max_value_bytes)
    except TimeoutError:
        return _timed_out()
    except TooLong:
        return U
    return _bounded(result)
