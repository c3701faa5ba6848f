"""The registry holds every documented function once, and docs/functions.md is generated
from it (a stale file fails this test: regenerate with `python -m iotsql.functions`)."""

from __future__ import annotations

from pathlib import Path

import iotsql
from iotsql.functions.registry import REGISTRY, functions_markdown
from iotsql.values import V1, V2

DOCS = Path(__file__).resolve().parents[2] / "docs" / "functions.md"

# The functions of iot-sql-functions.md and NEWER_FEATURES.md, and the version of each.
DOCUMENTED = {
    "abs": V1, "accountid": V1, "acos": V1, "asin": V1, "atan": V1, "atan2": V1,
    "aws_lambda": V1, "bitand": V1, "bitor": V1, "bitxor": V1, "bitnot": V1, "ceil": V1,
    "chr": V1, "clientid": V1, "concat": V1, "cos": V1, "cosh": V1, "decode": V2, "encode": V2,
    "endswith": V1, "exp": V1, "floor": V1, "get": V1, "get_dynamodb": V2,
    "get_mqtt_property": V1, "get_or_default": V2, "get_registry_data": V2, "get_secret": V1,
    "get_thing_shadow": V2, "get_user_properties": V1, "md2": V1, "md5": V1, "sha1": V1,
    "sha224": V1, "sha256": V1, "sha384": V1, "sha512": V1, "indexof": V2, "isnull": V1,
    "isundefined": V2, "length": V2, "ln": V1, "log": V1, "lower": V1, "lpad": V1, "ltrim": V1,
    "machinelearning_predict": V1, "mod": V1, "nanvl": V1, "newuuid": V1, "numbytes": V2,
    "parse_time": V2, "power": V1, "principal": V1, "rand": V1, "regexp_matches": V1,
    "regexp_replace": V1, "regexp_substr": V1, "remainder": V1, "replace": V1, "rpad": V1,
    "round": V1, "rtrim": V1, "sign": V1, "sin": V1, "sinh": V1, "sourceip": V2,
    "substring": V1, "sql_version": V1, "sqrt": V1, "startswith": V1, "tan": V1, "tanh": V1,
    "time_to_epoch": V2, "timestamp": V1, "topic": V1, "traceid": V1, "transform": V2,
    "trim": V1, "trunc": V1, "upper": V1,
}  # fmt: skip


def test_every_documented_function_is_registered_with_its_version() -> None:
    assert set(DOCUMENTED) <= set(REGISTRY)
    for name, since in DOCUMENTED.items():
        assert REGISTRY[name].since is since, name


def test_every_function_has_docs_metadata() -> None:
    for spec in REGISTRY.values():
        assert spec.summary, spec.name
        assert spec.anchor, spec.name
        assert spec.family, spec.name


def test_docs_functions_md_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == functions_markdown(), (
        "docs/functions.md is stale: run `python -m iotsql.functions > docs/functions.md`"
    )


def test_function_names_are_case_insensitive() -> None:
    rule = iotsql.compile("SELECT ROUND(1.5) AS a, IsNull(x) AS b, Upper('a') AS c FROM 't'")
    assert rule.evaluate(b'{"x": null}', "t").value == {"a": 2, "b": True, "c": "A"}


def test_ints_when_whole_functions_never_return_a_whole_float_or_decimal() -> None:
    """The code generator skips 2016-03-23's whole-number check on the results of functions
    declared `ints_when_whole`: none may return a whole double or a whole Decimal that the
    check would make an Int, on any operand kind."""
    from decimal import Decimal

    from iotsql.values import INT_LIMIT, whole_to_int

    flagged = {name for name, spec in REGISTRY.items() if spec.ints_when_whole}
    assert flagged == {"trunc", "round", "ceil", "floor", "sign"}
    operands = [0, 7, -3, 2.5, -2.5, 25.0, 0.1, -0.75, 1e-7, 1e20, -1e300, 1.7976931348623157e308,
                float("inf"), float("-inf"), float("nan"), Decimal("2.50"), Decimal("-7.000"),
                Decimal("1E+40"), Decimal("12345678901234567890123456789012.99"), "4.0", "-2.5",
                "x", "", True, None, [1.5], {"a": 1}, 10**40]  # fmt: skip
    for name in sorted(flagged):
        spec = REGISTRY[name]
        for operand in operands:
            for extra in [None] if spec.max_args == 1 else [0, 1, 2, 34, 1.5, "2", -1]:
                arguments = [operand] if spec.max_args == 1 else [operand, extra]
                try:
                    result = spec.impl(*arguments)
                except Exception:  # (the call sites turn an error into Undefined)
                    continue
                if type(result) in (float, Decimal) and -INT_LIMIT < result < INT_LIMIT:
                    converted = whole_to_int(result)
                    assert type(converted) is type(result), (name, arguments, result)
