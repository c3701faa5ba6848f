"""Habits from other SQL dialects, recognised where AWS IoT SQL rejects them, each with its fix:
`==`, `!=`, `&&` and `||`, `LIKE`, `BETWEEN`, `IS [NOT] NULL`, `IN ('a', 'b')`, aggregates (`COUNT(*)`),
`LIMIT` / `ORDER BY` / `GROUP BY`..., a trailing `;`, backticks, a quoted alias (`AS 'x'`), a quote not doubled inside a string
(`'it's'`), keyword typos (`FORM`), and
functions of other dialects or misspelled (`now()`, `len()`, `timestmp()`).

The parser and the compiler put the hint in their SqlParseError; `iotsql check` gives each habit
its own finding code (`Habit.code`). Only text is looked at (the statement and the place of the
error), so both can ask."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

#: The keywords of AWS IoT SQL, for typos.
KEYWORDS = ("SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "AS", "IN", "CASE", "WHEN", "THEN",
            "ELSE", "END", "VALUE", "SET", "EXISTS")  # fmt: skip

_CLAUSES = {
    "LIMIT": "AWS IoT SQL has no LIMIT: a rule handles one message at a time; to keep part of "
    "an array use a nested query or an index (SELECT VALUE items[0] ...)",
    "OFFSET": "AWS IoT SQL has no OFFSET: a rule handles one message at a time",
    "TOP": "AWS IoT SQL has no TOP: a rule handles one message at a time",
    "ORDER": "AWS IoT SQL has no ORDER BY: a rule handles one message at a time; sort where the "
    "action delivers (DynamoDB sort key, Timestream, a Lambda)",
    "GROUP": "AWS IoT SQL has no GROUP BY: a rule handles one message at a time; aggregate where "
    "the action delivers (Timestream, IoT Analytics, a Lambda)",
    "HAVING": "AWS IoT SQL has no HAVING: a rule handles one message at a time; use WHERE",
    "JOIN": "AWS IoT SQL has no JOIN: a rule reads one message; look up other data with "
    "get_dynamodb(), get_thing_shadow() or aws_lambda()",
    "UNION": "AWS IoT SQL has no UNION: write a second rule",
}
_AGGREGATES = ("count", "sum", "avg", "average", "min", "max", "group_concat", "array_agg",
               "string_agg", "stddev", "variance", "median", "listagg", "first", "last")  # fmt: skip
#: Functions of other dialects and what AWS IoT SQL has instead.
FUNCTION_SYNONYMS = {
    "now": "timestamp()", "current_timestamp": "timestamp()", "getdate": "timestamp()",
    "unix_timestamp": "timestamp()", "len": "length()", "char_length": "length()",
    "character_length": "length()", "substr": "substring()", "mid": "substring()",
    "ucase": "upper()", "lcase": "lower()", "pow": "power()", "ceiling": "ceil()",
    "random": "rand()", "uuid": "newuuid()", "gen_random_uuid": "newuuid()",
    "instr": "indexof()", "strpos": "indexof()", "charindex": "indexof()",
    "locate": "indexof()", "regexp_like": "regexp_matches()", "json_extract": "get()",
    "json_value": "get()", "coalesce": "get_or_default() or CASE",
    "ifnull": "get_or_default() or CASE", "nvl": "get_or_default() or CASE",
    "to_char": "parse_time()", "date_format": "parse_time()", "strftime": "parse_time()",
    "concat_ws": "concat()", "to_base64": "encode(..., 'base64')", "base64": "encode(..., 'base64')",
    "ln10": "log()", "truncate": "trunc()", "iif": "CASE WHEN ... THEN ... ELSE ... END",
    "if": "CASE WHEN ... THEN ... ELSE ... END",
}  # fmt: skip


@dataclass(frozen=True)
class Habit:
    """A recognised habit: `code` names it (stable, for `iotsql check`), `hint` is the fix."""

    code: str
    hint: str


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPEN_IN = re.compile(r"\bIN\s*\(\s*[^()\[\]]*$", re.IGNORECASE)


def _word_at(sql: str, offset: int) -> str:
    match = _WORD.match(sql, offset)
    return match.group(0) if match else ""


def _next_word(sql: str, offset: int) -> str:
    match = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)").match(sql, offset)
    return match.group(1) if match else ""


def habit_at(sql: str, offset: int) -> Habit | None:
    """The habit that explains a parse error at `offset` in `sql`, if one does."""
    if not 0 <= offset < len(sql):
        return None
    char = sql[offset]
    if char == ";":
        if sql[offset + 1 :].strip(" \t\r\n;"):
            return Habit("trailing-semicolon", "a rule holds one statement, without `;`: "
                         "write the other statement in a rule of its own")  # fmt: skip
        return Habit("trailing-semicolon", "remove the `;`: AWS IoT SQL statements do not end "
                     "with one")  # fmt: skip
    if char == "`":
        return Habit("backtick-quote", "AWS IoT SQL has no backtick quoting: quote a topic "
                     "filter with single quotes (FROM 'a/b') and read an odd key with "
                     "get(*, 'my-key')")  # fmt: skip
    if char == "=" and (sql.startswith("==", offset) or (offset > 0 and sql[offset - 1] == "=")):
        return Habit("double-equals", "use =")
    if offset > 0 and sql[offset - 1] in "'\"" and (char.isalnum() or char == "_"):
        quote = sql[offset - 1]
        start = sql.rfind(quote, 0, offset - 1)
        word = _word_at(sql, offset)
        if start >= 0 and word:
            meant = sql[start:offset] + quote + word
            return Habit("unescaped-quote", f"a {quote} inside a string is written twice: "
                         f"{meant}{quote if sql.startswith(quote, offset + len(word)) else ''}")  # fmt: skip
    if sql.startswith(("&&", "||"), offset):
        if char == "&":
            return Habit("symbol-operator", "use AND: AWS IoT SQL has no &&")
        return Habit("symbol-operator", "use OR: AWS IoT SQL has no || (concat(a, b) joins "
                     "strings)")  # fmt: skip
    if char in "'\"" and re.search(r"\bAS\s*$", sql[:offset], re.IGNORECASE):
        return Habit("quoted-alias", "an alias is a name, not a string: write AS "
                     f"{_alias_of(sql, offset)} without quotes")  # fmt: skip
    if char == "!":
        if sql.startswith("!=", offset):
            return Habit("bang-operator", 'use <> for "not equal"')
        return Habit("bang-operator", "use NOT for negation")
    if char == "," and _OPEN_IN.search(sql, 0, offset):
        return Habit("in-parentheses", "AWS IoT SQL's IN takes an array: write IN ['a', 'b'] "
                     "with square brackets")  # fmt: skip
    word = _word_at(sql, offset).upper()
    if not word:
        return None
    negated = ""
    if word == "NOT" and _next_word(sql, offset + 3).upper() in ("LIKE", "BETWEEN", "IN"):
        negated, word = "NOT ", _next_word(sql, offset + 3).upper()
        if word == "IN":
            return Habit("not-in", "write NOT (x IN [...]): NOT comes before the expression")
    if word in ("LIKE", "ILIKE", "RLIKE", "SIMILAR", "REGEXP", "GLOB"):
        return Habit("like-operator", f"AWS IoT SQL has no {negated}{word}: use "
                     f"{'NOT ' if negated else ''}startswith(s, 'prefix'), endswith(), or "
                     f"{'NOT ' if negated else ''}regexp_matches(s, '^prefix.*') for a pattern "
                     "(% is .* and _ is . in a regular expression)")  # fmt: skip
    if word == "BETWEEN":
        fix = "x < low OR x > high" if negated else "x >= low AND x <= high"
        return Habit("between-operator", f"AWS IoT SQL has no {negated}BETWEEN: write {fix}")
    if word == "IS":
        following = _next_word(sql, offset + 2).upper()
        if following == "NOT":
            fix = "NOT isNull(x) for a null value, NOT isUndefined(x) for a missing key"
        else:
            fix = "isNull(x) for a null value, isUndefined(x) for a missing key"
        return Habit("is-null", f"AWS IoT SQL has no IS {'NOT ' if following == 'NOT' else ''}"
                     f"NULL: use {fix}")  # fmt: skip
    if word in _CLAUSES:
        return Habit("unsupported-clause", _CLAUSES[word])
    before = re.search(r"([A-Za-z_]+)\s*$", sql[:offset])
    if word == "BY" and before is not None and before.group(1).upper() in ("ORDER", "GROUP"):
        return Habit("unsupported-clause", _CLAUSES[before.group(1).upper()])  # `OR` + `DER BY`
    typo = keyword_typo(word)
    if typo is not None:
        return Habit("keyword-typo", f"did you mean {typo}?")
    return None


def _alias_of(sql: str, offset: int) -> str:
    """The alias meant by the quoted one at `offset`, as a name (`'max temp'` -> max_temp)."""
    end = sql.find(sql[offset], offset + 1)
    text = sql[offset + 1 : end if end > offset else len(sql)]
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "x"
    return name if not name[0].isdigit() else "_" + name


def keyword_typo(word: str) -> str | None:
    """The keyword `word` is a likely typo of (`FORM` -> FROM), None when it is not one."""
    upper = word.upper()
    if len(upper) < 3 or upper in KEYWORDS:
        return None
    for keyword in KEYWORDS:  # a transposition (`FORM`, `ADN`) or one letter off (`SELCT`)
        if len(keyword) >= 3 and sorted(keyword) == sorted(upper):
            return keyword
    close = difflib.get_close_matches(upper, [k for k in KEYWORDS if len(k) >= 3], n=1,
                                      cutoff=0.8)  # fmt: skip
    return close[0] if close else None


def function_habit(name: str, known: list[str]) -> Habit | None:
    """The habit behind an unknown function `name` (`known`: the names of the library's
    functions, for "did you mean")."""
    lowered = name.lower()
    if lowered in _AGGREGATES:
        return Habit("aggregate-function", f"AWS IoT SQL has no aggregate functions ({name}()): "
                     "a rule evaluates each message on its own; aggregate where the action "
                     "delivers (Timestream, IoT Analytics, a Lambda), or over an array of one "
                     "message with a nested query")  # fmt: skip
    if lowered in FUNCTION_SYNONYMS:
        return Habit("unknown-function", f"AWS IoT SQL has {FUNCTION_SYNONYMS[lowered]} instead")
    close = difflib.get_close_matches(lowered, known, n=3)
    if close:
        return Habit("unknown-function", f"did you mean {' or '.join(c + '()' for c in close)}?")
    return None
