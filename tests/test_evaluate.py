"""The public evaluation API: `iotsql.compile(...).evaluate(...)` on every kind of payload,
Output, context, Basic Ingest, explanations, and the guarantee that nothing but an IotSqlError
ever escapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import json_values, payload_objects, raw_payloads

import iotsql
from iotsql import UNDEFINED


def evaluate(
    sql: str, payload: object, topic: str = "t", version: str = "2016-03-23", **kw: object
):
    return iotsql.compile(sql, version).evaluate(payload, topic=topic, **kw)  # type: ignore[arg-type]


def test_payload_as_bytes_text_or_decoded_value() -> None:
    sql = "SELECT a FROM 't'"
    for payload in (b'{"a": 1}', '{"a": 1}', {"a": 1}, bytearray(b'{"a": 1}')):
        out = evaluate(sql, payload)
        assert out is not None and out.value == {"a": 1}
    assert evaluate(sql, {"a": 10.0}).value == {"a": 10}
    assert type(evaluate(sql, {"a": 10.0}, version="2015-10-08").value["a"]) is float


def test_output_bytes_are_compact_json() -> None:
    out = evaluate("SELECT *, 'é' AS e FROM 't'", b'{"b": [1, 2],  "c": null}')
    assert out.to_bytes() == '{"b":[1,2],"c":null,"e":"é"}'.encode()
    assert json.loads(out.to_bytes()) == out.value


def test_outputs_compare_by_value_and_type() -> None:
    """Two outputs are equal when their values are, with the same type (an Int 1 is not the
    Decimal-born 1.0 of 2015-10-08); an output never equals its bare value, and is unhashable
    as a mutable value is."""
    one = evaluate("SELECT VALUE a FROM 't'", {"a": 1})
    assert one == evaluate("SELECT VALUE b FROM 't'", {"b": 1})
    assert one != evaluate("SELECT VALUE a FROM 't'", {"a": 1.0}, version="2015-10-08")
    assert (one == 1) is False and (one != 1) is True
    with pytest.raises(TypeError):
        hash(one)


def test_select_value_outputs() -> None:
    assert evaluate("SELECT VALUE color FROM 't'", {"color": "red"}).to_bytes() == b'"red"'
    assert evaluate("SELECT VALUE arr FROM 't'", {"arr": [1, 2]}).value == [1, 2]
    undefined = evaluate("SELECT VALUE missing FROM 't'", {})
    assert undefined is not None and undefined.to_bytes() == b""
    v1 = evaluate("SELECT VALUE arr FROM 't'", {"arr": [1, 2]}, version="2015-10-08")
    assert v1 is not None and v1.to_bytes() == b""


def test_a_repeated_output_name_keeps_its_first_position() -> None:
    # docs/semantics.md (SELECT): key order follows the SELECT list; with `*` the payload's keys
    # come first, and a later item of the same name replaces the value in place.
    payload = b'{"a": 1, "b": 2}'
    assert evaluate("SELECT *, 'x' AS a FROM 't'", payload).to_bytes() == b'{"a":"x","b":2}'
    assert evaluate("SELECT 'x' AS a, * FROM 't'", payload).to_bytes() == b'{"a":1,"b":2}'
    assert evaluate("SELECT 1 AS b, 2 AS a, 3 AS b FROM 't'", {}).to_bytes() == b'{"b":3,"a":2}'
    mixed = evaluate("SELECT 1 AS c, {'k': 1}, 2 AS c FROM 't'", {})
    assert mixed.to_bytes() == b'{"c":2,"k":1}'


def test_rand_and_newuuid_are_never_folded_at_compile_time() -> None:
    # They are not pure: each evaluation (and each call) draws a new value, also inside
    # expressions whose other operands are constants.
    rule = iotsql.compile(
        "SELECT rand() AS r1, rand() AS r2, rand() * 10 AS r10, newuuid() AS u1, "
        "newuuid() AS u2, upper(newuuid()) AS upper FROM 't'"
    )
    first, second = rule.evaluate({}).value, rule.evaluate({}).value
    for key in ("r1", "r2", "r10", "u1", "u2", "upper"):
        assert first[key] != second[key], key
    assert first["r1"] != first["r2"] and first["u1"] != first["u2"]
    assert isinstance(first["r1"], float) and 0 <= first["r1"] < 1
    assert 0 <= first["r10"] < 10


def test_binary_payloads_pass_through() -> None:
    body = b"\x00\x01\xff binary"
    out = evaluate("SELECT * FROM 't'", body)
    assert out.value == body and out.is_binary and out.to_bytes() == body
    assert evaluate("SELECT *, 1 AS one FROM 't'", body).value == {"one": 1}
    assert evaluate("SELECT a FROM 't'", body).value == {}
    assert evaluate("SELECT * FROM 't' WHERE a = 1", body) is None
    text = b'{  "keep" : "spacing" }'
    assert evaluate("SELECT * FROM 't'", b"[1, 2.0]").to_bytes() == b"[1, 2.0]"
    assert evaluate("SELECT * FROM 't'", text).value == {"keep": "spacing"}


def test_topic_matching_and_basic_ingest() -> None:
    rule = iotsql.compile("SELECT topic() AS t, topic(2) AS second FROM 'sensors/+/data'")
    assert rule.topic_filter == "sensors/+/data"
    assert rule.evaluate(b"{}", topic="sensors/d1/data").value == {"t": "sensors/d1/data",
                                                                  "second": "d1"}  # fmt: skip
    assert rule.evaluate(b"{}", topic="sensors/d1/other") is None
    ingest = rule.evaluate(b"{}", topic="$aws/rules/MyRule/x/y")
    assert ingest is not None and ingest.value == {"t": "x/y", "second": "y"}
    no_from = iotsql.compile("SELECT topic() AS t WHERE true")
    assert no_from.topic_filter is None
    assert no_from.evaluate(b"{}", topic="a/b") is None
    assert no_from.evaluate(b"{}", topic="$aws/rules/R/a/b").value == {"t": "a/b"}
    assert no_from.evaluate(b"{}").value == {}


def test_context_functions() -> None:
    sql = (
        "SELECT clientid() AS c, principal() AS p, timestamp() AS ts, accountid() AS acct, "
        "sourceip() AS ip, traceid() AS trace, get_user_properties('k') AS k, "
        "get_mqtt_property('content_type') AS ct FROM 't'"
    )
    context = {
        "clientid": "dev1", "principal": "abc", "timestamp": 1700000000000,
        "accountid": "111122223333", "sourceip": "10.0.0.1", "traceid": "trace-1",
        "userProperties": [["k", "v1"], ["x", "y"], ["k", "v2"]],
        "mqttProperties": {"contentType": "application/json"},
    }  # fmt: skip
    assert evaluate(sql, b"{}", context=context).value == {
        "c": "dev1", "p": "abc", "ts": 1700000000000, "acct": "111122223333", "ip": "10.0.0.1",
        "trace": "trace-1", "k": ["v1", "v2"], "ct": "application/json",
    }  # fmt: skip
    http = evaluate("SELECT clientid() AS c, traceid() AS t FROM 't'", b"{}",
                    context={"protocol": "http", "clientid": "x"})  # fmt: skip
    assert http.value == {"c": "n/a"}
    bare = evaluate("SELECT clientid() AS c, accountid() AS a, timestamp() AS ts FROM 't'", b"{}")
    assert set(bare.value) == {"a", "ts"} and isinstance(bare.value["ts"], int)
    with pytest.raises(iotsql.IotSqlError):
        evaluate("SELECT 1 FROM 't'", b"{}", context={"clientID": "typo"})


def test_timestamp_and_traceid_are_stable_for_one_message() -> None:
    message = iotsql.Message(b"{}", "t")
    first = iotsql.compile("SELECT timestamp() AS a, traceid() AS b FROM 't'").evaluate(
        message, "t"
    )
    second = iotsql.compile("SELECT traceid() AS b, timestamp() AS a FROM 't'").evaluate(
        message, "t"
    )
    assert first.value == second.value


def test_set_variables() -> None:
    sql = "SET @c = (f - 32) * 5 / 9, @obj = s SELECT @c AS c, @obj.x AS x FROM 't'"
    assert evaluate(sql, {"f": 212, "s": {"x": 1}}).value == {"c": 100, "x": 1}
    with pytest.raises(iotsql.SqlParseError):
        iotsql.compile("SET @a = 1, @a = 2 SELECT @a FROM 't'")
    with pytest.raises(iotsql.SqlParseError):
        iotsql.compile("SET @a = @b SELECT 1 FROM 't'")
    with pytest.raises(iotsql.SqlParseError):
        iotsql.compile("SELECT @nowhere FROM 't'")
    with pytest.raises(iotsql.LimitExceededError):
        iotsql.compile("SET " + ", ".join(f"@v{i} = {i}" for i in range(11)) + " SELECT 1 FROM 't'")
    with pytest.raises(iotsql.SqlParseError):
        iotsql.compile(f"SET @{'x' * 65} = 1 SELECT 1 FROM 't'")


def test_version_gating_is_a_parse_error() -> None:
    for sql in (
        "SELECT [1, 2] AS a FROM 't'",
        "SELECT {'a': 1} AS a FROM 't'",
        "SELECT (SELECT VALUE x FROM e) AS a FROM 't'",
        "SELECT cast(1 AS Decimal) AS a FROM 't'",
        "SELECT isUndefined(a) AS a FROM 't'",
    ):
        iotsql.compile(sql, "2016-03-23")
        with pytest.raises(iotsql.SqlParseError) as info:
            iotsql.compile(sql, "2015-10-08")
        assert "2016-03-23" in str(info.value)


def test_unknown_functions_and_filters_are_rejected() -> None:
    with pytest.raises(iotsql.SqlParseError) as info:
        iotsql.compile("SELECT nosuch(a) FROM 't'")
    assert "nosuch" in str(info.value) and info.value.column == 8
    for bad in ("a/#/b", "a+/b", "a/b#", "#/a"):
        with pytest.raises(iotsql.SqlParseError) as info:
            iotsql.compile(f"SELECT * FROM '{bad}'")
        assert info.value.column == 15


def test_wrong_arity_is_undefined_with_a_warning() -> None:
    rule = iotsql.compile("SELECT get(a, 0, 1) AS r, 1 AS one FROM 't'")
    assert rule.warnings and rule.warnings[0].code == "arity"
    assert rule.evaluate({"a": [5]}, "t").value == {"one": 1}


def test_explain_says_why_a_rule_did_not_fire() -> None:
    rule = iotsql.compile("SELECT temp AS t FROM 'a/+' WHERE temp > 30")
    miss = rule.explain(b'{"temp": 31}', topic="b/c")
    assert not miss.fired and not miss.topic_matched and "does not match" in miss.reason
    low = rule.explain(b'{"temp": 20}', topic="a/x")
    assert not low.fired and low.where_value is False and low.items == {"t": 20}
    missing = rule.explain(b"{}", topic="a/x")
    assert missing.where_value is UNDEFINED and "Undefined" in missing.reason
    hit = rule.explain(b'{"temp": 31}', topic="a/x")
    assert hit.fired and hit.output is not None and hit.output.value == {"t": 31}


def test_explain_names_each_select_item() -> None:
    # CompiledRule.select_keys: an alias (dotted too), a path's last segment, a function's
    # name, `*`, `{...}` for an object literal, `x.*`, the source text of anything else.
    rule = iotsql.compile(
        "SELECT *, a.b AS x.y, state.temp, topic(1), {'k': 1}, c.*, 1 + 2 FROM 't'"
    )
    names = ("*", "x.y", "temp", "topic", "{...}", "c.*", "1 + 2")
    assert rule.select_keys == names
    payload = {"a": {"b": 5}, "state": {"temp": 3}, "c": {"d": 1}}
    items = rule.explain(payload, topic="t").items
    assert tuple(items) == names
    assert list(items.values()) == [payload, 5, 3, "t", {"k": 1}, {"d": 1}, 3]
    assert iotsql.compile("SELECT VALUE a FROM 't'").select_keys == ("VALUE",)


def test_compile_is_cached_per_version() -> None:
    assert iotsql.compile("SELECT a FROM 't'") is iotsql.compile("SELECT a FROM 't'")
    assert iotsql.compile("SELECT a FROM 't'", "2015-10-08") is not iotsql.compile(
        "SELECT a FROM 't'"
    )


def test_render_template() -> None:
    assert iotsql.render_template("${topic(2)}/alerts", b"{}", topic="a/b/c") == "b/alerts"
    assert (
        iotsql.render_template("$$aws/things/${topic(3)}/shadow/update", b"{}", topic="x/y/dev/z")
        == "$aws/things/dev/shadow/update"
    )
    assert iotsql.render_template("${missing}-${n}-${o}", {"n": None, "o": {"a": 1}}) == (
        '-null-{"a":1}'
    )
    assert iotsql.render_template("${'}'}|${ {'a': '}'}.a }", b"{}") == "}|}"
    with pytest.raises(iotsql.SqlParseError, match="unterminated substitution template") as e:
        iotsql.render_template("a/${unclosed", b"{}")
    assert e.value.column == 3  # at the '${' that has no '}'


def test_a_template_refusal_points_at_the_template_text() -> None:
    # Before: the caret counted from the prefix the expression is parsed with (column 14).
    with pytest.raises(iotsql.SqlParseError) as caught:
        iotsql.render_template("x/${nope(1)}", b"{}")
    assert (caught.value.line, caught.value.column) == (1, 5)
    # A syntax error inside the expression, at its own character.
    with pytest.raises(iotsql.SqlParseError) as caught:
        iotsql.render_template("abc/${a b}", b"{}")
    assert (caught.value.line, caught.value.column) == (1, 9)


def test_protobuf_decode_is_refused_in_a_template() -> None:
    # binary-payloads page, Limitations: decoding protobuf within substitution templates is
    # not supported; a variable bound in the SQL is the way (the SET page's example).
    rule = iotsql.compile("SET @m = decode(*, 'proto', 'b', 'k.desc', 'p', 'M') SELECT * FROM 't'")
    with pytest.raises(iotsql.SqlParseError, match="not supported in substitution templates") as e:
        rule.compile_template("a/${decode(data, 'proto', 'b', 'k.desc', 'p', 'M').id}")
    assert e.value.column == 5
    rule.compile_template("a/${@m.id}/${decode(data, 'base64')}")


@pytest.mark.parametrize("template", [None, 5, b"${x}", ["${x}"]], ids=repr)
def test_a_template_that_is_not_a_string_is_a_parse_error(template: object) -> None:
    # Before: a TypeError or AttributeError from the template's parser.
    with pytest.raises(iotsql.SqlParseError, match="a substitution template must be a string"):
        iotsql.render_template(template, b"{}")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("topic", "error"),
    [(5, iotsql.InvalidTopicError), ("a/#", iotsql.InvalidTopicError),
     ("a" * 300, iotsql.LimitExceededError)],
    ids=["int", "wildcard", "long"],
)  # fmt: skip
def test_render_template_refuses_the_topics_evaluate_refuses(topic: object, error: type) -> None:
    # Before: an int topic was an AttributeError, and "a/#" rendered as a topic.
    with pytest.raises(error):
        iotsql.render_template("${topic()}", b"{}", topic=topic)  # type: ignore[arg-type]
    with pytest.raises(error):
        iotsql.compile("SELECT 1 AS a").evaluate(b"{}", topic=topic)  # type: ignore[arg-type]
    assert iotsql.render_template("${topic()}", b"{}", topic="") == ""


RULES = [
    "SELECT * FROM 't'",
    "SELECT a, b.c, e[0] AS e0, a + b AS s, a * 2 AS d, -a AS n FROM 't' WHERE a > 1 OR b",
    "SELECT VALUE (SELECT v FROM e WHERE n = 'x') FROM 't'",
    "SELECT CASE a WHEN 1 THEN 'one' ELSE b END AS c, a IN arr AS i, cast(a AS String) AS s, "
    "cast(b AS Int) AS n, cast(a AS Bool) AS bo FROM 't' WHERE NOT (a = b)",
    "SET @x = state SELECT @x.reported AS r, get(s, 1) AS g, isNull(n) AS nl, "
    "get_or_default(missing, [a, b]) AS d FROM 't' WHERE exists (SELECT * FROM arr AS v WHERE v > 1)",
    "SELECT *, topic() AS topic, {'k': a, 'j': [b]} AS lit, a / b AS q, a % b AS m FROM 't'",
]


@pytest.mark.parametrize("sql", RULES)
@given(payload=st.one_of(payload_objects, json_values, raw_payloads))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_payloads_never_raise_anything_but_iotsql_errors(
    sql: str, payload: object
) -> None:
    for version in ("2015-10-08", "2016-03-23"):
        try:
            rule = iotsql.compile(sql, version)
        except iotsql.SqlParseError:
            continue  # literals and nested queries do not exist in 2015-10-08
        try:
            out = rule.evaluate(payload, topic="t")
        except iotsql.IotSqlError:
            continue
        if out is not None:
            body = out.to_bytes()
            if not out.is_binary and body:
                json.loads(body)


@pytest.mark.parametrize("topic", ["t/#", "t/+", "a\x00b", 5, ["t", "x"], {"t": 1}, "x" * 300])
def test_evaluate_refuses_a_topic_no_client_could_publish_on(topic: Any) -> None:
    """A filter given as the topic (`t/#`) used to return None silently, and a non-string one
    fired: both raise InvalidTopicError, as RulesEngine.publish does; the empty topic (a
    conformance case without one) matches no FROM filter."""
    rule = iotsql.compile("SELECT a FROM 't/#'")
    with pytest.raises(iotsql.InvalidTopicError if topic != "x" * 300 else iotsql.IotSqlError):
        rule.evaluate(b'{"a": 1}', topic)
    assert rule.evaluate(b'{"a": 1}', "") is None
    out = rule.evaluate(b'{"a": 1}', "t/x")
    assert out is not None and out.value == {"a": 1}
