"""Java regular expressions (`java.util.regex`) on the `regex` package: a translator from Java's
pattern syntax (possessive quantifiers, atomic groups, `\\Q...\\E`, POSIX and Java character
classes, embedded flags, Java's rules for `.`, `^`, `$`) to `regex`, Java replacement strings
(`$1`, `${name}`, `\\$`), and `Matcher.replaceAll`'s stepping after empty matches. Used by
regexp_matches, regexp_substr and regexp_replace (iotsql/functions/string.py); checked against
a JVM when it was written."""

from __future__ import annotations

import dataclasses
import threading
import time
import unicodedata
from collections import OrderedDict
from typing import Final

import regex


class PatternError(ValueError):
    """The text is not a Java regular expression this module can run (Java would throw
    PatternSyntaxException, or the pattern would expand beyond the size budget)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Flags:
    """The embedded flags in force (case-insensitivity is also passed on to `regex`)."""

    case_insensitive: bool = False  # i
    unicode_case: bool = False  # u
    dotall: bool = False  # s
    multiline: bool = False  # m
    unix_lines: bool = False  # d
    comments: bool = False  # x
    unicode_classes: bool = False  # U


_FLAG_NAMES: Final = {
    "i": "case_insensitive",
    "u": "unicode_case",
    "s": "dotall",
    "m": "multiline",
    "d": "unix_lines",
    "x": "comments",
    "U": "unicode_classes",
}
_JAVA_FLAGS: Final = frozenset("idmsuxU")


@dataclasses.dataclass(frozen=True, slots=True)
class _Group:
    """The translator's state outside an open group, restored when the group closes."""

    flags: _Flags
    size: int
    items: int
    branch: int
    alternation: bool
    lookbehind: bool


#: Extra copies the `regex` package makes of repeated items (`a{1000}` is 999): its compiled form
#: grows about 260 bytes per copy, Java's does not, so a pattern has a budget.
MAX_REPEAT_COPIES: Final = 20_000


def _cp(code: int) -> str:
    """A literal code point in `regex` syntax, safe inside and outside sets."""
    char = chr(code)
    if char.isascii() and (char.isalnum() or char == "_"):
        return char
    return f"\\U{code:08x}"


def _chars(text: str) -> str:
    return "".join(_cp(ord(c)) for c in text)


_TERMINATORS: Final = _chars("\n\r\x85\u2028\u2029")
_PUNCT: Final = _chars("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ALNUM: Final = "a-zA-Z0-9"

#: Java's POSIX classes (US-ASCII; names are case-sensitive), as set contents.
_POSIX: Final = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": _chars("\x00") + "-" + _chars("\x7f"),
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": _ALNUM,
    "Punct": _PUNCT,
    "Graph": _ALNUM + _PUNCT,
    "Print": _ALNUM + _PUNCT + _chars(" "),
    "Blank": _chars(" \t"),
    "Cntrl": _chars("\x00") + "-" + _chars("\x1f\x7f"),
    "XDigit": "0-9a-fA-F",
    "Space": _chars(" \t\n\x0b\f\r"),
}

#: The POSIX classes under UNICODE_CHARACTER_CLASS (`(?U)`), where Java makes them Unicode.
_POSIX_UNICODE: Final = {
    "Lower": r"\p{Lowercase}",
    "Upper": r"\p{Uppercase}",
    "Alpha": r"\p{Alphabetic}",
    "Digit": r"\p{Nd}",
    "Alnum": r"\p{Alphabetic}\p{Nd}",
    "Punct": r"\p{P}",
    "Cntrl": r"\p{Cc}",
    "XDigit": r"\p{Nd}\p{Hex_Digit}",
    "Space": r"\p{White_Space}",
    "Blank": r"\p{Zs}" + _chars("\t"),
}

#: `\p{IsName}` binary properties (Java's UnicodeProp, matched without regard to case).
_IS_PROPERTIES: Final = {
    "ALPHABETIC": r"\p{Alphabetic}",
    "LETTER": r"\p{L}",
    "IDEOGRAPHIC": r"\p{Ideographic}",
    "LOWERCASE": r"\p{Lowercase}",
    "UPPERCASE": r"\p{Uppercase}",
    "TITLECASE": r"\p{Lt}",
    "WHITE_SPACE": r"\p{White_Space}",
    "WHITESPACE": r"\p{White_Space}",
    "CONTROL": r"\p{Cc}",
    "PUNCTUATION": r"\p{P}",
    "HEX_DIGIT": r"\p{Hex_Digit}",
    "HEXDIGIT": r"\p{Hex_Digit}",
    "ASSIGNED": r"\P{Cn}",
    "DIGIT": r"\p{Nd}",
    "ALNUM": r"\p{Alphabetic}\p{Nd}",
    "JOIN_CONTROL": r"\p{Join_Control}",
    "JOINCONTROL": r"\p{Join_Control}",
}

#: Java's `java...` properties (java.lang.Character predicates) and `all`.
_JAVA_PROPERTIES: Final = {
    "javaLowerCase": r"\p{Lowercase}",
    "javaUpperCase": r"\p{Uppercase}",
    "javaTitleCase": r"\p{Lt}",
    "javaDigit": r"\p{Nd}",
    "javaLetter": r"\p{L}",
    "javaLetterOrDigit": r"\p{L}\p{Nd}",
    "javaAlphabetic": r"\p{Alphabetic}",
    "javaIdeographic": r"\p{Ideographic}",
    "javaSpaceChar": r"\p{Z}",
    "javaMirrored": r"\p{Bidi_Mirrored}",
    "javaDefined": r"\P{Cn}",
    "javaISOControl": _chars("\x00") + "-" + _chars("\x1f\x7f") + "-" + _chars("\x9f"),
    "javaWhitespace": _chars("\t")
    + "-"
    + _chars("\r\x1c")
    + "-"
    + _chars(" \u1680\u2000")
    + "-"
    + _chars("\u2006\u2008")
    + "-"
    + _chars("\u200a\u2028\u2029\u205f\u3000"),
    "all": _chars("\x00") + r"-\U0010ffff",
    "L1": _chars("\x00") + "-" + _chars("\xff"),
    "LD": r"\p{L}\p{Nd}",
}

#: General categories Java knows by name (`\p{Lu}`, `\p{IsLu}`, `\p{gc=Lu}`).
_CATEGORIES: Final = frozenset({
    "C", "Cc", "Cf", "Cn", "Co", "Cs", "L", "LC", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me",
    "Mn", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk",
    "Sm", "So", "Z", "Zl", "Zp", "Zs",
})  # fmt: skip
_PROPERTY_KEYS: Final = {
    "script": "Script",
    "sc": "Script",
    "block": "Block",
    "blk": "Block",
    "general_category": "gc",
    "gc": "gc",
}

#: \h, \v and the ASCII \d \w \s (Java's defaults), as set contents.
_HORIZONTAL: Final = _chars(" \t\xa0\u1680\u180e\u2000") + "-" + _chars("\u200a\u202f\u205f\u3000")
_VERTICAL: Final = _chars("\n\x0b\f\r\x85\u2028\u2029")
#: \R: a repeated \R takes \r\n whole, a single one may give back the \n (as Java's does).
_LINEBREAK: Final = f"(?:\\r\\n|[{_VERTICAL}])"
_LINEBREAK_ATOMIC: Final = f"(?>\\r\\n|[{_VERTICAL}])"
_SHORTHANDS: Final = {
    "d": "0-9",
    "w": "a-zA-Z_0-9",
    "s": _chars(" \t\n\x0b\f\r"),
    "h": _HORIZONTAL,
    "v": _VERTICAL,
}
_OCTAL: Final = frozenset("01234567")
_HEX: Final = frozenset("0123456789abcdefABCDEF")


class _Translator:
    """One pass over a Java pattern, writing the equivalent `regex` (VERSION1) pattern.

    `regex` gives possessive quantifiers, atomic groups, nested classes with `&&`, scoped inline
    flags and variable-length lookbehind; this class turns Java's escapes, POSIX classes, `.`,
    `^`, `$`, \\Q...\\E, comments mode and back references into that syntax, and rejects what
    Java rejects (unknown escapes, `(?P<...>)`, dangling quantifiers, bad `{n,m}`).
    """

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.out: list[str | int] = []  # an int is a back reference, resolved at the end
        self.groups = 0
        self.names: set[str] = set()
        self.flags = _Flags()
        self.scopes: list[_Group] = []
        self.items = 0  # items of the current group, and whether it has alternatives
        self.branch = 0  # items of the current alternative
        self.alternation = False
        self.lookbehinds = 0  # open lookbehind groups
        self.simple = True  # whether the last item is one character, class or escape
        self.size = 0  # size of the current group so far, repeats expanded
        self.last = 0  # size of the last quantifiable item; 0 when nothing can be quantified
        self.copies = 0

    # -- driver -------------------------------------------------------------------------------

    def translate(self) -> str:
        while True:
            self._skip_comments()
            if self.pos >= len(self.src):
                break
            self._token()
        if self.scopes:
            raise PatternError("unclosed group")
        parts = [p if isinstance(p, str) else self._backref(p) for p in self.out]
        return "".join(parts)

    def _backref(self, number: int) -> str:
        # A reference to a group that does not exist compiles in Java and never matches.
        return f"(?:\\g<{number}>)" if number <= self.groups else "(?!)"

    def _fail(self, message: str) -> PatternError:
        return PatternError(f"{message} near index {self.pos}")

    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.src[index] if index < len(self.src) else ""

    def _skip_comments(self) -> None:
        if not self.flags.comments:
            return
        src = self.src
        while self.pos < len(src):
            char = src[self.pos]
            if char in " \t\n\x0b\f\r":
                self.pos += 1
            elif char == "#":
                while self.pos < len(src) and src[self.pos] not in "\n\r\x85\u2028\u2029":
                    self.pos += 1
            else:
                return

    def _emit(self, text: str | int, size: int = 1) -> None:
        self.out.append(text)
        self.size += size
        self.last = size
        self.items += 1
        self.branch += 1
        self.simple = True

    def _literal(self, code: int) -> None:
        text = _cp(code)
        flags = self.flags
        if code > 127 and flags.case_insensitive and not flags.unicode_case:
            text = f"(?-i:{text})"  # Java's (?i) folds US-ASCII only, unless (?u) or (?U)
        self._emit(text)

    # -- tokens outside classes --------------------------------------------------------------------

    def _token(self) -> None:
        char = self.src[self.pos]
        self.pos += 1
        if char == "\\":
            self._escape_outside()
        elif char == "[":
            self._emit(self._class())
        elif char == "(":
            self._open_group()
        elif char == ")":
            self._close_group()
        elif char == "|":
            self.out.append("|")
            self.alternation = True
            self.last = self.branch = 0
        elif char == ".":
            self._emit(self._dot())
        elif char == "^":
            self._emit(self._caret())
        elif char == "$":
            self._emit(self._dollar(self.flags.multiline))
        elif char in "?*+{":
            self._quantifier(char)
        else:
            self._literal(ord(char))

    def _dot(self) -> str:
        if self.flags.dotall:
            return "(?s:.)"
        if self.flags.unix_lines:
            return "[^\\n]"
        return f"[^{_TERMINATORS}]"

    def _caret(self) -> str:
        if not self.flags.multiline:
            return "(?:\\A)"
        # Java's multiline ^ matches after a line terminator, but not at the end of the input.
        if self.flags.unix_lines:
            return "(?:(?:\\A|(?<=\\n))(?!\\z))"
        after = _chars("\n\x85\u2028\u2029")
        return f"(?:(?:\\A|(?<=[{after}])|(?<=\\r)(?!\\n))(?!\\z))"

    def _dollar(self, multiline: bool) -> str:
        if self.flags.unix_lines:
            return "(?=\\n|\\z)" if multiline else "(?=\\n?\\z)"
        not_inside_crlf = "(?!(?<=\\r)\\n)"
        if multiline:
            return f"(?:\\z|(?=[{_TERMINATORS}]){not_inside_crlf})"
        return f"(?:\\z|(?=[{_TERMINATORS}]\\z){not_inside_crlf}|(?=\\r\\n\\z))"

    def _quantifier(self, char: str) -> None:
        low, high, text = (1 if char == "+" else 0), (1 if char == "?" else None), char
        if char == "{":
            low, high, text = self._counted()
        elif self.last == 0:
            raise self._fail(f"dangling meta character {char!r}")
        if self._peek() in ("?", "+"):
            text += self._peek()
            self.pos += 1
        if self.lookbehinds and high is None and self.last:
            self._check_unbounded_lookbehind(greedy=len(text) == 1 or text[-1] == "}")
        if self.out and self.out[-1] == _LINEBREAK:
            self.out[-1] = _LINEBREAK_ATOMIC  # Java does not backtrack into a repeated \R
        if self.last == 0:
            return  # Java repeats an empty node: `{2}a` and `a{2}{3}` are valid
        self.out.append(text)
        if low > 1:
            extra = self.last * (low - 1)
            self.copies += extra
            self.size += extra
            if self.copies > MAX_REPEAT_COPIES:
                raise self._fail("repetitions beyond the size budget")
        self.last = 0

    def _check_unbounded_lookbehind(self, greedy: bool) -> None:
        """Java sizes lookbehinds: it takes an unbounded repeat of one character (a lazy or
        possessive one only at the start of an alternative), never one of a group."""
        if not self.simple or (not greedy and self.branch > 1):
            raise self._fail("look-behind group does not have an obvious maximum length")

    def _counted(self) -> tuple[int, int | None, str]:
        """`{n}`, `{n,}` or `{n,m}` after the `{`; Java accepts nothing else."""
        low = self._number()
        if low is None:
            raise self._fail("illegal repetition")
        high: int | None = low
        if self._peek() == ",":
            self.pos += 1
            high = self._number()
        if self._peek() != "}":
            raise self._fail("unclosed counted closure")
        self.pos += 1
        if low >= 2**31 or (high is not None and not low <= high < 2**31):
            raise self._fail("illegal repetition range")
        if high == low:
            return low, high, f"{{{low}}}"
        return low, high, f"{{{low},{'' if high is None else high}}}"

    def _number(self) -> int | None:
        start = self.pos
        while self._peek().isdigit() and self._peek().isascii():
            self.pos += 1
        return int(self.src[start : self.pos]) if self.pos > start else None

    # -- groups ----------------------------------------------------------------------------------

    def _open_group(self) -> None:
        if self._peek() != "?":
            self.groups += 1
            self._push("(")
            return
        self.pos += 1
        char = self._peek()
        if char in (":", "=", "!", ">"):
            self.pos += 1
            self._push("(?" + char)
        elif char == "<" and self._peek(1) in ("=", "!"):
            self.pos += 2
            self._push("(?<" + self.src[self.pos - 1])
        elif char == "<":
            self.pos += 1
            name = self._group_name()
            if name in self.names:
                raise self._fail(f"named capturing group <{name}> is already defined")
            self.names.add(name)
            self.groups += 1
            self._push(f"(?<{name}>")
        else:
            self._inline_flags()

    def _group_name(self) -> str:
        start = self.pos
        while self._peek().isascii() and self._peek().isalnum():
            self.pos += 1
        name = self.src[start : self.pos]
        if not name or not name[0].isalpha() or self._peek() != ">":
            raise self._fail("bad named capturing group")
        self.pos += 1
        return name

    def _inline_flags(self) -> None:
        """`(?idmsuxU-idmsuxU)` (for the rest of the group) or `(?...:X)`."""
        on, off = "", ""
        while self._peek() in _JAVA_FLAGS:
            on += self._peek()
            self.pos += 1
        if self._peek() == "-":
            self.pos += 1
            while self._peek() in _JAVA_FLAGS:
                off += self._peek()
                self.pos += 1
        end = self._peek()
        if end not in (")", ":"):
            raise self._fail("unknown inline modifier")
        self.pos += 1
        on += "u" if "U" in on else ""  # UNICODE_CHARACTER_CLASS implies UNICODE_CASE
        changes = {_FLAG_NAMES[c]: True for c in on if c in _FLAG_NAMES}
        changes.update({_FLAG_NAMES[c]: False for c in off if c in _FLAG_NAMES})
        case = "-i" if "i" in off else ("i" if "i" in on else "")
        if end == ")":
            self.flags = dataclasses.replace(self.flags, **changes)
            if case:
                self.out.append(f"(?{case})")
            self.last = 0
            return
        self._push(f"(?{case}:")
        self.flags = dataclasses.replace(self.flags, **changes)

    def _push(self, text: str) -> None:
        lookbehind = text.startswith(("(?<=", "(?<!"))
        group = _Group(self.flags, self.size, self.items, self.branch, self.alternation, lookbehind)
        self.out.append(text)
        self.scopes.append(group)
        self.lookbehinds += lookbehind
        self.size = self.items = self.branch = self.last = 0
        self.alternation = False

    def _close_group(self) -> None:
        if not self.scopes:
            raise self._fail("unmatched closing ')'")
        inner = max(self.size, 1)
        simple = self.items <= 1 and not self.alternation
        group = self.scopes.pop()
        self.lookbehinds -= group.lookbehind
        self.flags, self.size = group.flags, group.size
        self.items, self.branch, self.alternation = group.items, group.branch, group.alternation
        self._emit(")", inner)
        self.simple = simple

    # -- escapes ---------------------------------------------------------------------------------

    def _escape_outside(self) -> None:
        char = self._peek()
        if char == "Q":
            self.pos += 1
            for code in self._quoted():
                self._literal(code)
            return
        if (char.isdigit() and char != "0" and char.isascii()) or char == "k":
            if self.lookbehinds:
                raise self._fail("look-behind group does not have an obvious maximum length")
            if char == "k":
                self.pos += 1
                self._emit(f"(?:(?P={self._named_backref()}))")
            else:
                self._emit(self._numbered_backref())
            return
        anchor = self._anchor(char)
        if anchor is not None:
            self.pos += 1
            self._emit(anchor)
            return
        item = self._escape(in_class=False)
        if isinstance(item, int):
            self._literal(item)
        else:
            self._emit(item)

    def _quoted(self) -> list[int]:
        """The characters of `\\Q...\\E` (to the end of the pattern without `\\E`)."""
        end = self.src.find("\\E", self.pos)
        stop = len(self.src) if end < 0 else end
        text = self.src[self.pos : stop]
        self.pos = len(self.src) if end < 0 else end + 2
        return [ord(c) for c in text]

    def _numbered_backref(self) -> int:
        # Java reads more digits only while they name a group that already exists.
        number = int(self._peek())
        self.pos += 1
        while self._peek().isdigit() and self._peek().isascii():
            candidate = number * 10 + int(self._peek())
            if candidate > self.groups:
                break
            number = candidate
            self.pos += 1
        return number

    def _named_backref(self) -> str:
        if self._peek() != "<":
            raise self._fail("\\k is not followed by '<'")
        self.pos += 1
        name = self._group_name()
        if name not in self.names:
            raise self._fail(f"named capturing group <{name}> does not exist")
        return name

    def _anchor(self, char: str) -> str | None:
        if char in ("A", "z", "G"):
            return f"(?:\\{char})"
        if char in ("b", "B"):
            if char == "b" and self.src.startswith("{g}", self.pos + 1):
                raise self._fail("grapheme cluster boundaries are not supported")
            return f"(?:\\{char})"
        if char == "Z":
            return self._dollar(multiline=False)
        if char == "R":
            return _LINEBREAK
        if char == "X":
            return "\\X"
        return None

    def _escape(self, in_class: bool) -> int | str:
        """The escape after a backslash: a code point, or a set (in `regex` syntax)."""
        char = self._peek()
        if not char:
            raise self._fail("unexpected end of pattern after '\\'")
        self.pos += 1
        simple = {"t": 9, "n": 10, "r": 13, "f": 12, "a": 7, "e": 27}
        if char in simple:
            return simple[char]
        if char in "pP":
            return self._property(negated=char == "P")
        if char.lower() in _SHORTHANDS:
            return self._shorthand(char)
        if char == "0":
            return self._octal()
        if char == "x":
            return self._hex_escape()
        if char == "u":
            return self._unicode_escape()
        if char == "c":
            return self._control()
        if char == "N":
            return self._named_char()
        if char.isascii() and char.isalnum():
            where = " in a character class" if in_class else ""
            raise self._fail(f"illegal/unsupported escape sequence \\{char}{where}")
        return ord(char)

    def _shorthand(self, char: str) -> str:
        key = char.lower()
        negated = char.isupper()
        if self.flags.unicode_classes and key in "dws":
            return f"\\{char}"
        return f"[{'^' if negated else ''}{_SHORTHANDS[key]}]"

    def _octal(self) -> int:
        digits = ""
        limit = 3 if self._peek() in "0123" and self._peek() else 2
        while len(digits) < limit and self._peek() in _OCTAL:
            digits += self._peek()
            self.pos += 1
        if not digits:
            raise self._fail("illegal octal escape sequence")
        return int(digits, 8)

    def _hex_digits(self, count: int) -> int:
        text = self.src[self.pos : self.pos + count]
        if len(text) != count or not set(text) <= _HEX:
            raise self._fail("illegal hexadecimal escape sequence")
        self.pos += count
        return int(text, 16)

    def _hex_escape(self) -> int:
        if self._peek() != "{":
            return self._hex_digits(2)
        end = self.src.find("}", self.pos)
        text = self.src[self.pos + 1 : end] if end > 0 else ""
        if not text or not set(text) <= _HEX or int(text, 16) > 0x10FFFF:
            raise self._fail("illegal hexadecimal escape sequence")
        self.pos = end + 1
        return int(text, 16)

    def _unicode_escape(self) -> int:
        code = self._hex_digits(4)
        # Java joins an escaped surrogate pair into one supplementary character.
        if 0xD800 <= code <= 0xDBFF and self.src.startswith("\\u", self.pos):
            mark = self.pos
            self.pos += 2
            low = self._hex_digits(4)
            if 0xDC00 <= low <= 0xDFFF:
                return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            self.pos = mark
        return code

    def _control(self) -> int:
        char = self._peek()
        if not char:
            raise self._fail("illegal control escape sequence")
        self.pos += 1
        return ord(char) ^ 64

    def _named_char(self) -> int:
        end = self.src.find("}", self.pos)
        if self._peek() != "{" or end < 0:
            raise self._fail("unclosed character name escape sequence")
        name = self.src[self.pos + 1 : end]
        self.pos = end + 1
        try:
            return ord(unicodedata.lookup(name))
        except KeyError:
            raise self._fail(f"unknown character name [{name}]") from None

    def _property(self, negated: bool) -> str:
        """`\\p{Name}` / `\\pL` as a set: Java's POSIX classes are US-ASCII; general
        categories, scripts (`IsLatin`, `sc=`) and blocks (`InGreek`, `blk=`) are Unicode."""
        if self._peek() == "{":
            end = self.src.find("}", self.pos)
            if end < 0:
                raise self._fail("unclosed character family")
            name = self.src[self.pos + 1 : end]
            self.pos = end + 1
        else:
            name = self._peek()
            self.pos += 1
        if not name or not all(c.isalnum() or c in "_=- " for c in name):
            raise self._fail("unknown character property name")
        return f"[{'^' if negated else ''}{self._property_content(name)}]"

    def _property_content(self, name: str) -> str:
        if "=" in name:
            key, _, value = name.partition("=")
            kind = _PROPERTY_KEYS.get(key.lower())
            if kind is None or (kind == "gc" and value not in _CATEGORIES):
                raise self._fail(f"unknown Unicode property {{name={key}}}")
            return f"\\p{{{value}}}" if kind == "gc" else f"\\p{{{kind}={value}}}"
        if name.startswith("In"):
            return f"\\p{{Block={name[2:]}}}"
        scripts = name.startswith("Is")
        if scripts:
            known = _IS_PROPERTIES.get(name[2:].upper())
            if known is not None:
                return known
            name = name[2:]  # IsAlpha is the POSIX class, IsLu the category, IsLatin a script
        if name in _POSIX:
            if self.flags.unicode_classes:
                return _POSIX_UNICODE.get(name, _POSIX[name])
            return _POSIX[name]
        if name in _JAVA_PROPERTIES:
            return _JAVA_PROPERTIES[name]
        if name in _CATEGORIES:
            return f"\\p{{{name}}}"
        if scripts:
            return f"\\p{{Script={name}}}"
        raise self._fail(f"unknown character property name {{{name}}}")

    # -- character classes -------------------------------------------------------------------------

    def _class(self) -> str:
        """A class after its `[`: unions, ranges, nested classes and `&&` intersections."""
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        operands: list[list[str]] = [[]]
        first = True
        while True:
            self._skip_comments()
            char = self._peek()
            if not char:
                raise self._fail("unclosed character class")
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            if char == "[":
                self.pos += 1
                operands[-1].append(self._class())
            elif self.src.startswith("&&", self.pos):
                self.pos += 2
                operands.append([])
            elif self.src.startswith("\\Q", self.pos):
                self.pos += 2
                operands[-1].extend(_cp(code) for code in self._quoted())
            else:
                operands[-1].append(self._class_item())
        return self._set(negated, [items for items in operands if items])

    def _set(self, negated: bool, operands: list[list[str]]) -> str:
        if not operands:
            raise self._fail("bad class syntax")
        caret = "^" if negated else ""
        if len(operands) == 1:
            return f"[{caret}{''.join(operands[0])}]"
        return f"[{caret}{'&&'.join('[' + ''.join(items) + ']' for items in operands)}]"

    def _class_item(self) -> str:
        low = self._class_char()
        if isinstance(low, str):
            return low
        self._skip_comments()
        if self._peek() == "-" and self._peek(1) not in ("]", "[", ""):
            self.pos += 1
            high = self._class_char()
            if isinstance(high, str) or high < low:
                raise self._fail("illegal character range")
            return f"{_cp(low)}-{_cp(high)}"
        return _cp(low)

    def _class_char(self) -> int | str:
        self._skip_comments()
        char = self._peek()
        if not char:
            raise self._fail("unclosed character class")
        self.pos += 1
        if char != "\\":
            return ord(char)
        return self._escape(in_class=True)


class _Cache:
    """A small LRU of compiled patterns (None for an invalid one); patterns that expand a lot
    are compiled each time instead of being kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[str, regex.Pattern[str] | None] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, source: str) -> regex.Pattern[str] | None:
        with self.lock:
            if source in self.entries:
                self.entries.move_to_end(source)
                return self.entries[source]
        compiled, copies = _compile(source)
        if copies <= 1000 and len(source) <= 4096:
            with self.lock:
                self.entries[source] = compiled
                if len(self.entries) > self.size:
                    self.entries.popitem(last=False)
        return compiled


def _compile(source: str) -> tuple[regex.Pattern[str] | None, int]:
    translator = _Translator(source)
    try:
        text = translator.translate()
        # (?-f): no full case folding (Java's (?i) does not match "ß" with "SS").
        return regex.compile("(?-f)" + text, regex.VERSION1), translator.copies
    except Exception:
        # PatternError, regex.error, RecursionError (nesting deeper than ~200), and internal
        # errors of `regex` on some unusual nested sets (a TypeError in regex 2026.5).
        return None, translator.copies


_PATTERNS: Final = _Cache(256)


def java_pattern(source: str) -> regex.Pattern[str] | None:
    """The compiled `regex` equivalent of the Java pattern `source`, or None if Java would
    reject it (or it is beyond the size budget)."""
    return _PATTERNS.get(source)


class ReplacementError(ValueError):
    """An invalid Java replacement string (Matcher.appendReplacement would throw)."""


def java_replacement(text: str, pattern: regex.Pattern[str]) -> list[str | int]:
    """Java's replacement syntax: `$n` (as many digits as name a group), `${name}`, and `\\x`
    for a literal x. The result alternates literal text and group numbers."""
    parts: list[str | int] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            if i + 1 == n:
                raise ReplacementError("character to be escaped is missing")
            literal.append(text[i + 1])
            i += 2
        elif char == "$":
            group, i = _group_reference(text, i + 1, pattern)
            parts.append("".join(literal))
            parts.append(group)
            literal = []
        else:
            literal.append(char)
            i += 1
    parts.append("".join(literal))
    return [p for p in parts if p != ""]


def _group_reference(text: str, i: int, pattern: regex.Pattern[str]) -> tuple[int, int]:
    """The group named after a `$` at `text[i:]`, and the index after the reference."""
    n = len(text)
    if i == n:
        raise ReplacementError("illegal group reference: group index is missing")
    if text[i] == "{":
        j = i + 1
        while j < n and text[j].isascii() and text[j].isalnum():
            j += 1
        name = text[i + 1 : j]
        if not name or j == n or text[j] != "}" or name[0].isdigit():
            raise ReplacementError("illegal named group reference")
        number = pattern.groupindex.get(name)
        if number is None:
            raise ReplacementError(f"no group with name {{{name}}}")
        return number, j + 1
    if not "0" <= text[i] <= "9":
        raise ReplacementError("illegal group reference")
    number = int(text[i])
    if number > pattern.groups:
        raise ReplacementError(f"no group {number}")
    i += 1
    while i < n and "0" <= text[i] <= "9" and number * 10 + int(text[i]) <= pattern.groups:
        number = number * 10 + int(text[i])
        i += 1
    return number, i


class TooLong(Exception):
    """A replacement result passed the size limit while it was being built."""


def java_replace_all(
    pattern: regex.Pattern[str], text: str, parts: list[str | int], timeout: float, budget: int
) -> str:
    """Java's `Matcher.replaceAll`: after an empty match the next search starts one character
    further on (`regex.sub`, like Perl, would first look for a non-empty match at the same
    place). Raises TimeoutError when the whole replacement takes longer than `timeout`, and
    TooLong when the result passes `budget` characters."""
    deadline = time.monotonic() + timeout
    out: list[str] = []
    copied = 0
    start = 0
    while start <= len(text):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("regular expression timed out")
        match = pattern.search(text, start, timeout=remaining)
        if match is None:
            break
        begin, end = match.span()
        piece = "".join(p if isinstance(p, str) else (match.group(p) or "") for p in parts)
        budget -= (begin - copied) + len(piece)
        if budget < 0:
            raise TooLong
        out.append(text[copied:begin])
        out.append(piece)
        copied = end
        start = end + 1 if end == begin else end
    out.append(text[copied:])
    return "".join(out)
