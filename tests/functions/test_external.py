"""The external functions (aws_lambda, get_dynamodb, get_thing_shadow, get_secret,
get_registry_data, machinelearning_predict) driven through SQL with InMemoryProvider."""

from __future__ import annotations

import base64
import json
import sys
from decimal import Decimal
from typing import Any

import pytest
from cost import cpu_at_most
from hypothesis import given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.errors import EvaluationError, ProviderError, SqlParseError
from iotsql.functions.external import (
    Provider,
    call_provider,
    flatten_record,
    secret_value,
)
from iotsql.functions.registry import lookup
from iotsql.message import Message, Run
from iotsql.output import Output
from iotsql.providers import InMemoryProvider
from iotsql.values import UNDEFINED, Binary

V1 = "2015-10-08"
V2 = "2016-03-23"
ROLE = "arn:aws:iam::123456789012:role/lookup"
FN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lambda_function"


def run_sql(
    sql: str,
    payload: Any = b"{}",
    provider: Any = None,
    version: str = V2,
    topic: str = "t",
) -> Any:
    output = iotsql.compile(sql, version).evaluate(payload, topic, provider=provider)
    assert output is not None, "the rule did not fire"
    return output.value


# ---- declarations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "since", "arity", "limit"),
    [
        ("aws_lambda", V1, "2", None),
        ("get_dynamodb", V2, "4-6", 1),
        ("get_thing_shadow", V2, "2-3", None),
        ("get_secret", V1, "3-4", None),
        ("get_registry_data", V2, "3", 1),
        ("machinelearning_predict", V1, "3", None),
    ],
)
def test_declarations(name: str, since: str, arity: str, limit: int | None) -> None:
    spec = lookup(name.upper())
    assert spec is not None and spec.name == name
    assert spec.external and spec.context and not spec.pure
    assert spec.since.value == since
    assert spec.arity_text == arity
    assert spec.per_statement_limit == limit
    assert spec.family == "external"
    assert spec.summary and spec.anchor


def test_the_providers_implement_the_protocol() -> None:
    provider: Provider = InMemoryProvider()
    assert isinstance(provider, InMemoryProvider)


def test_importing_iotsql_and_its_providers_does_not_import_boto3() -> None:
    code = (
        "import sys, iotsql, iotsql.providers; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


# ---- no provider, failing providers -------------------------------------------------------------

CALLS = [
    f"aws_lambda('{FN_ARN}', {{'a': 1}})",
    f"get_dynamodb('T', 'id', 'd1', '{ROLE}')",
    f"get_thing_shadow('thing', '{ROLE}')",
    f"get_secret('s', 'SecretString', '{ROLE}')",
    f"get_registry_data('DescribeThing', 'thing', '{ROLE}')",
    f"machinelearning_predict('m', '{ROLE}', {{'a': 1}})",
]


@pytest.mark.parametrize("call", CALLS)
def test_without_a_provider_the_rule_fails_naming_the_function(call: str) -> None:
    name = call.split("(")[0]
    rule = iotsql.compile(f"SELECT {call} AS r FROM 't'", V2)
    with pytest.raises(ProviderError) as caught:
        rule.evaluate(b"{}", "t")
    assert caught.value.function == name
    assert str(caught.value).startswith(f"{name}() needs a provider")
    assert "InMemoryProvider" in str(caught.value) and "Boto3Provider" in str(caught.value)
    assert isinstance(caught.value, EvaluationError)


@pytest.mark.parametrize("call", CALLS)
def test_a_missing_resource_is_a_rule_failure(call: str) -> None:
    name = call.split("(")[0]
    provider = InMemoryProvider()
    provider.add_table("T")  # an empty table: the item lookup below finds nothing
    rule = iotsql.compile(f"SELECT {call} AS r FROM 't'", V2)
    with pytest.raises(ProviderError) as caught:
        rule.evaluate(b"{}", "t", provider=provider)
    assert caught.value.function == name
    assert str(caught.value).startswith(f"{name}() failed: ")


@pytest.mark.parametrize("call", CALLS)
def test_get_or_default_catches_a_failed_lookup(call: str) -> None:
    rule = iotsql.compile(f"SELECT get_or_default({call}, 'fallback') AS r FROM 't'", V2)
    assert rule.evaluate(b"{}", "t") == Output({"r": "fallback"})
    assert rule.evaluate(b"{}", "t", provider=InMemoryProvider()) == Output({"r": "fallback"})


def test_get_or_default_without_a_default_leaves_the_key_out() -> None:
    sql = (
        f"SELECT get_or_default(get_dynamodb('Nope', 'id', id, '{ROLE}')) AS config, 1 AS n "
        "FROM 't'"
    )
    assert run_sql(sql, {"id": "x"}, InMemoryProvider()) == {"n": 1}


def test_the_documented_get_or_default_example() -> None:
    sql = (
        "SELECT get_or_default(get_dynamodb(\"DeviceConfig\", \"deviceId\", nonExistentId, "
        f"\"{ROLE}\"), {{\"mode\": \"standard\", \"timeout\": 30, \"enabled\": true}}) as config "
        "FROM 'device/telemetry'"
    )  # fmt: skip
    provider = InMemoryProvider(tables={"DeviceConfig": []})
    out = run_sql(sql, {"nonExistentId": "d9"}, provider, topic="device/telemetry")
    assert out == {"config": {"mode": "standard", "timeout": 30, "enabled": True}}


class _Broken:
    """A provider whose every lookup raises something that is not a ProviderError."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any) -> Any:
            raise KeyError("boom")

        return fail


def test_any_provider_exception_becomes_a_provider_error() -> None:
    rule = iotsql.compile(f"SELECT get_secret('s', 'SecretString', '{ROLE}') AS r FROM 't'", V2)
    with pytest.raises(ProviderError, match=r"get_secret\(\) failed: KeyError: 'boom'") as caught:
        rule.evaluate(b"{}", "t", provider=_Broken())
    assert isinstance(caught.value.__cause__, KeyError)


def test_a_provider_without_the_method_is_a_provider_error() -> None:
    rule = iotsql.compile(f"SELECT get_secret('s', 'SecretString', '{ROLE}') AS r FROM 't'", V2)
    with pytest.raises(ProviderError, match=r"needs a provider with a get_secret\(\) method"):
        rule.evaluate(b"{}", "t", provider=object())


def test_a_result_that_is_not_json_is_a_provider_error() -> None:
    provider = InMemoryProvider(lambdas={"f": lambda payload: {1, 2}})
    rule = iotsql.compile("SELECT aws_lambda('f', 1) AS r FROM 't'", V2)
    with pytest.raises(ProviderError, match="not JSON"):
        rule.evaluate(b"{}", "t", provider=provider)
    provider.add_lambda("f", float("nan"))
    with pytest.raises(ProviderError, match="not JSON"):
        rule.evaluate(b"{}", "t", provider=provider)


def test_a_failure_in_where_stops_the_rule_too() -> None:
    rule = iotsql.compile(
        f"SELECT * FROM 't' WHERE get_thing_shadow('x', '{ROLE}').state.reported.on = true", V2
    )
    with pytest.raises(ProviderError):
        rule.evaluate(b"{}", "t", provider=InMemoryProvider())


def test_explain_reports_the_failure() -> None:
    rule = iotsql.compile(f"SELECT get_thing_shadow('x', '{ROLE}') AS s FROM 't'", V2)
    explanation = rule.explain(b"{}", "t", provider=InMemoryProvider())
    assert not explanation.fired
    assert explanation.error is not None and "get_thing_shadow() failed" in explanation.error


# ---- aws_lambda ----------------------------------------------------------------------------------


def test_aws_lambda_documented_example() -> None:
    provider = InMemoryProvider()
    provider.add_lambda(FN_ARN, lambda event: {"doubled": event["payload"] * 2})
    sql = f'SELECT aws_lambda("{FN_ARN}", {{"payload":attribute1}}) as output FROM \'topic-filter\''
    out = run_sql(sql, {"attribute1": 21, "attribute2": "value"}, provider, topic="topic-filter")
    assert out == {"output": {"doubled": 42}}
    assert provider.calls == [("aws_lambda", (FN_ARN, {"payload": 21}))]


def test_aws_lambda_with_the_whole_payload() -> None:
    provider = InMemoryProvider(lambdas={"lambda_function": lambda event: event})
    sql = f"SELECT aws_lambda(\"{FN_ARN}\", *) as output FROM 'topic-filter'"
    payload = {"attribute1": 21, "attribute2": "value", "nested": {"x": [1, 2.5]}}
    assert run_sql(sql, payload, provider, topic="topic-filter") == {"output": payload}


def test_aws_lambda_result_member_access() -> None:
    provider = InMemoryProvider(lambdas={FN_ARN: {"some": {"value": "v"}}})
    sql = (
        f"SELECT aws_lambda('{FN_ARN}', payload.inner.element).some.value AS v "
        "FROM 'topic/subtopic'"
    )
    out = run_sql(sql, {"payload": {"inner": {"element": 1}}}, provider, topic="topic/subtopic")
    assert out == {"v": "v"}
    assert provider.calls[0][1] == (FN_ARN, 1)


@pytest.mark.parametrize(
    ("registered", "called"),
    [
        ("my_fn", "arn:aws:lambda:eu-west-1:111122223333:function:my_fn"),
        ("arn:aws:lambda:eu-west-1:111122223333:function:my_fn", "my_fn"),
        ("my_fn", "arn:aws:lambda:eu-west-1:111122223333:function:my_fn:prod"),
    ],
)
def test_aws_lambda_is_found_by_arn_or_name(registered: str, called: str) -> None:
    provider = InMemoryProvider(lambdas={registered: "ok"})
    assert run_sql(f"SELECT aws_lambda('{called}', 1) AS r FROM 't'", b"{}", provider) == {
        "r": "ok"
    }


def test_aws_lambda_numbers_follow_the_sql_version() -> None:
    provider = InMemoryProvider(lambdas={"f": {"whole": 3.0, "half": 2.5, "big": 10**20}})
    sql = "SELECT aws_lambda('f', 0) AS r FROM 't'"
    assert run_sql(sql, b"{}", provider, V2) == {"r": {"whole": 3, "half": 2.5, "big": 10**20}}
    v1 = run_sql(sql, b"{}", provider, V1)["r"]
    assert v1 == {"whole": 3.0, "half": 2.5, "big": 10**20} and type(v1["whole"]) is float


def test_aws_lambda_input_decimals_arrive_as_json_numbers() -> None:
    provider = InMemoryProvider(lambdas={"f": lambda event: event})
    out = run_sql("SELECT aws_lambda('f', {'x': 0.1 + 0.2, 'y': 2.5 * 2}) AS r FROM 't'",
                  b"{}", provider)  # fmt: skip
    assert out == {"r": {"x": 0.3, "y": 5}}
    sent = provider.calls[0][1][1]
    assert type(sent["x"]) is float and type(sent["y"]) is int


@pytest.mark.parametrize("value", ["'text'", "5", "1.5", "true", "null", "[1, 'a']"])
def test_aws_lambda_accepts_any_json_input(value: str) -> None:
    provider = InMemoryProvider(lambdas={"f": lambda event: [event]})
    out = run_sql(f"SELECT aws_lambda('f', {value}) AS r FROM 't'", b"{}", provider)
    assert out == {"r": [json.loads(value.replace("'", '"'))]}


def test_aws_lambda_returning_null_is_null() -> None:
    provider = InMemoryProvider(lambdas={"f": lambda event: None})
    assert run_sql("SELECT aws_lambda('f', 1) AS r FROM 't'", b"{}", provider) == {"r": None}


def test_aws_lambda_in_2015_10_08() -> None:
    provider = InMemoryProvider(lambdas={"f": lambda event: {"got": event}})
    out = run_sql("SELECT aws_lambda('f', *) AS r FROM 't'", {"a": 1.0}, provider, V1)
    assert out == {"r": {"got": {"a": 1.0}}}
    with pytest.raises(SqlParseError, match="2016-03-23"):
        iotsql.compile("SELECT aws_lambda('f', {'a': 1}) AS r FROM 't'", V1)


def test_aws_lambda_function_error_fails_the_rule() -> None:
    def handler(event: Any) -> Any:
        raise RuntimeError("bad input")

    provider = InMemoryProvider(lambdas={"f": handler})
    rule = iotsql.compile("SELECT aws_lambda('f', 1) AS r FROM 't'", V2)
    with pytest.raises(ProviderError, match="function error: RuntimeError: bad input"):
        rule.evaluate(b"{}", "t", provider=provider)


@pytest.mark.parametrize("arn", ["5", "true", "null", "{'a': 1}", "['f']", "missing"])
def test_aws_lambda_needs_a_string_arn(arn: str) -> None:
    provider = InMemoryProvider(lambdas={"f": 1})
    assert run_sql(f"SELECT aws_lambda({arn}, 1) AS r FROM 't'", b"{}", provider) == {}
    assert provider.calls == []


def test_aws_lambda_of_a_binary_payload_is_undefined() -> None:
    provider = InMemoryProvider(lambdas={"f": 1})
    assert run_sql("SELECT aws_lambda('f', *) AS r FROM 't'", b"\x00\xffraw", provider) == {}
    assert provider.calls == []


def test_aws_lambda_of_undefined_input_is_undefined() -> None:
    provider = InMemoryProvider(lambdas={"f": 1})
    assert run_sql("SELECT aws_lambda('f', nope) AS r FROM 't'", b"{}", provider) == {}
    assert provider.calls == []


def test_aws_lambda_calls_are_not_limited_per_statement() -> None:
    provider = InMemoryProvider(lambdas={"f": lambda e: e + 1})
    sql = (
        "SELECT aws_lambda('f', 1) AS a, aws_lambda('f', 2) AS b, aws_lambda('f', 3) AS c FROM 't'"
    )
    assert run_sql(sql, b"{}", provider) == {"a": 2, "b": 3, "c": 4}
    assert iotsql.compile(sql, V2).external_calls == {"aws_lambda": 3}


def test_aws_lambda_result_is_a_copy() -> None:
    fixed = {"list": [1]}
    provider = InMemoryProvider(lambdas={"f": fixed})
    run_sql("SELECT aws_lambda('f', 1) AS r FROM 't'", b"{}", provider)
    assert provider.lambdas["f"] == {"list": [1]}


# ---- get_dynamodb --------------------------------------------------------------------------------


def _devices() -> InMemoryProvider:
    provider = InMemoryProvider()
    provider.add_table("InServiceDevices", "deviceId")
    provider.put_item("InServiceDevices", {"deviceId": "d1", "location": "Oslo", "floor": 3.0})
    provider.put_item("InServiceDevices", {"deviceId": "d2", "location": "Lima", "floor": 1.5})
    return provider


def test_get_dynamodb_documented_example() -> None:
    sql = (
        'SELECT *, get_dynamodb("InServiceDevices", "deviceId", id, '
        "\"arn:aws:iam::12345678910:role/getdynamo\").location AS location FROM 'some/topic'"
    )
    provider = _devices()
    out = run_sql(sql, {"id": "d1", "t": 20}, provider, topic="some/topic")
    assert out == {"id": "d1", "t": 20, "location": "Oslo"}
    assert provider.calls == [
        ("get_dynamodb", ("InServiceDevices", "deviceId", "d1", None, None,
                          "arn:aws:iam::12345678910:role/getdynamo")),
    ]  # fmt: skip


def test_get_dynamodb_whole_item_and_number_types() -> None:
    sql = f"SELECT get_dynamodb('InServiceDevices', 'deviceId', id, '{ROLE}') AS item FROM 't'"
    assert run_sql(sql, {"id": "d1"}, _devices()) == {
        "item": {"deviceId": "d1", "location": "Oslo", "floor": 3}
    }


def test_get_dynamodb_missing_item_fails_the_rule() -> None:
    # AWS-observed (re:Post QUtmrQNjM4SkiP8mWy31_8Ew): a key with no item is the rule's
    # FunctionExecution error, in SELECT as in WHERE, where isUndefined() cannot test for it;
    # get_or_default is the way to read an item that may be absent.
    select = iotsql.compile(
        f"SELECT id, get_dynamodb('InServiceDevices', 'deviceId', id, '{ROLE}') AS item FROM 't'"
    )
    where = iotsql.compile(
        "SELECT id FROM 't' WHERE "
        f"isUndefined(get_dynamodb('InServiceDevices', 'deviceId', id, '{ROLE}'))"
    )
    for rule in (select, where):
        with pytest.raises(ProviderError) as caught:
            rule.evaluate(b'{"id": "nope"}', "t", provider=_devices())
        assert caught.value.function == "get_dynamodb"
        assert 'no item in table InServiceDevices with the key deviceId="nope"' in str(caught.value)
    fallback = (
        f"SELECT get_or_default(get_dynamodb('InServiceDevices', 'deviceId', id, '{ROLE}'), "
        "{'location': 'unknown'}).location AS place FROM 't'"
    )
    assert run_sql(fallback, {"id": "nope"}, _devices()) == {"place": "unknown"}
    assert run_sql(fallback, {"id": "d1"}, _devices()) == {"place": "Oslo"}


def test_get_dynamodb_with_a_sort_key() -> None:
    provider = InMemoryProvider()
    provider.add_table("Readings", "device", "seq")
    provider.put_item("Readings", {"device": "d1", "seq": 1, "v": "first"})
    provider.put_item("Readings", {"device": "d1", "seq": 2, "v": "second"})
    provider.put_item("Readings", {"device": "d1", "seq": 2, "v": "replaced"})
    sql = f"SELECT get_dynamodb('Readings', 'device', d, 'seq', n, '{ROLE}').v AS v FROM 't'"
    assert run_sql(sql, {"d": "d1", "n": 1}, provider) == {"v": "first"}
    assert run_sql(sql, {"d": "d1", "n": 2}, provider) == {"v": "replaced"}
    assert run_sql(sql, {"d": "d1", "n": 2.0}, provider) == {"v": "replaced"}
    with pytest.raises(ProviderError, match='with the key device="d1", seq=3 '):
        iotsql.compile(sql).evaluate(b'{"d": "d1", "n": 3}', "t", provider=provider)
    assert provider.calls[0] == ("get_dynamodb", ("Readings", "device", "d1", "seq", 1, ROLE))


def test_get_dynamodb_key_names_must_match_the_schema() -> None:
    provider = InMemoryProvider()
    provider.add_table("Readings", "device", "seq")
    rule = iotsql.compile(
        f"SELECT get_dynamodb('Readings', 'device', 'd1', '{ROLE}') AS r FROM 't'"
    )
    with pytest.raises(ProviderError, match="does not match the schema"):
        rule.evaluate(b"{}", "t", provider=provider)


def test_get_dynamodb_missing_table_fails() -> None:
    rule = iotsql.compile(f"SELECT get_dynamodb('Nope', 'id', 'd1', '{ROLE}') AS r FROM 't'")
    with pytest.raises(ProviderError, match="table Nope not found"):
        rule.evaluate(b"{}", "t", provider=InMemoryProvider())


def test_get_dynamodb_key_types_are_kept() -> None:
    provider = InMemoryProvider(
        tables={"T": [{"id": 5, "kind": "number"}, {"id": "5", "kind": "string"}]}
    )
    sql = f"SELECT get_dynamodb('T', 'id', k, '{ROLE}').kind AS kind FROM 't'"
    assert run_sql(sql, {"k": 5}, provider) == {"kind": "number"}
    assert run_sql(sql, {"k": "5"}, provider) == {"kind": "string"}
    assert run_sql(sql, {"k": 5.0}, provider, V2) == {"kind": "number"}


@pytest.mark.parametrize("key", ["true", "null", "{'a': 1}", "[1]", "missing"])
def test_get_dynamodb_key_value_must_be_a_string_or_number(key: str) -> None:
    provider = InMemoryProvider(tables={"T": [{"id": True}]})
    assert (
        run_sql(f"SELECT get_dynamodb('T', 'id', {key}, '{ROLE}') AS r FROM 't'", b"{}", provider)
        == {}
    )
    ranged = f"SELECT get_dynamodb('T', 'id', 'a', 'seq', {key}, '{ROLE}') AS r FROM 't'"
    assert run_sql(ranged, b"{}", provider) == {}
    assert provider.calls == []


@pytest.mark.parametrize(
    "args",
    [
        f"5, 'id', 'a', '{ROLE}'",
        f"'T', 5, 'a', '{ROLE}'",
        "'T', 'id', 'a', 5",
        f"'T', 'id', 'a', 5, 1, '{ROLE}'",
        f"'T', 'id', 'a', null, 1, '{ROLE}'",
        "'T', 'id', 'a', 'seq', 1",  # five arguments: neither documented form
    ],
)
def test_get_dynamodb_wrong_arguments_are_undefined(args: str) -> None:
    provider = InMemoryProvider(tables={"T": [{"id": "a", "seq": 1}]})
    assert run_sql(f"SELECT get_dynamodb({args}) AS r FROM 't'", b"{}", provider) == {}
    assert provider.calls == []


def test_get_dynamodb_wrong_arity_is_a_warning() -> None:
    rule = iotsql.compile("SELECT get_dynamodb('T', 'id', 'a') AS r FROM 't'", V2)
    assert any(w.code == "arity" for w in rule.warnings)


def test_get_dynamodb_needs_2016_03_23() -> None:
    with pytest.raises(SqlParseError, match="2016-03-23"):
        iotsql.compile(f"SELECT get_dynamodb('T', 'id', id, '{ROLE}') AS r FROM 't'", V1)


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT get_dynamodb('T', 'id', a, '{ROLE}') AS x, "
        f"get_dynamodb('T', 'id', b, '{ROLE}') AS y FROM 't'",
        f"SELECT get_dynamodb('T', 'id', a, '{ROLE}') AS x FROM 't' "
        f"WHERE isUndefined(GET_DYNAMODB('T', 'id', b, '{ROLE}'))",
        f"SET @v = get_dynamodb('T', 'id', a, '{ROLE}') "
        f"SELECT get_or_default(get_dynamodb('T', 'id', b, '{ROLE}'), @v) AS x FROM 't'",
    ],
)
def test_get_dynamodb_at_most_once_per_statement(sql: str) -> None:
    # "Calling get_dynamodb() multiple times in a single SQL statement causes the rule to
    # terminate without invoking any actions": accepted at creation, never fires.
    provider = _devices()
    rule = iotsql.compile(sql, V2)
    assert rule.termination is not None and "get_dynamodb()" in rule.termination
    assert rule.evaluate(b'{"a": "d1", "b": "d2"}', "t", provider=provider) is None
    assert provider.calls == []


def test_get_dynamodb_once_through_a_variable() -> None:
    provider = _devices()
    sql = (
        f"SET @d = get_dynamodb('InServiceDevices', 'deviceId', id, '{ROLE}') "
        "SELECT @d.location AS location, @d.floor AS floor FROM 't' WHERE @d.floor > 1"
    )
    assert run_sql(sql, {"id": "d2"}, provider) == {"location": "Lima", "floor": 1.5}
    assert len(provider.calls) == 1


# ---- get_thing_shadow ---------------------------------------------------------------------------


def _shadows() -> InMemoryProvider:
    provider = InMemoryProvider()
    provider.put_shadow("MyThing", {"state": {"reported": {"alarm": "OFF", "t": 20.0}}})
    provider.put_shadow("MyThing", {"state": {"reported": {"alarm": "ON"}}}, "MyThingShadow")
    return provider


def test_get_thing_shadow_documented_examples() -> None:
    role = "arn:aws:iam::123456789012:role/AllowsThingShadowAccess"
    named = (
        "SELECT * from 'topic/subtopic' WHERE "
        f'get_thing_shadow("MyThing","MyThingShadow","{role}").state.reported.alarm = \'ON\''
    )
    classic = (
        "SELECT * from 'topic/subtopic' WHERE "
        f'get_thing_shadow("MyThing","{role}").state.reported.alarm = \'ON\''
    )
    provider = _shadows()
    assert run_sql(named, {"v": 1}, provider, topic="topic/subtopic") == {"v": 1}
    assert iotsql.compile(classic).evaluate({"v": 1}, "topic/subtopic", provider=provider) is None
    assert provider.calls == [
        ("get_thing_shadow", ("MyThing", "MyThingShadow", role)),
        ("get_thing_shadow", ("MyThing", None, role)),
    ]


def test_get_thing_shadow_document() -> None:
    sql = f"SELECT get_thing_shadow(topic(2), '{ROLE}') AS s FROM 'things/+'"
    out = run_sql(sql, b"{}", _shadows(), topic="things/MyThing")
    assert out == {"s": {"state": {"reported": {"alarm": "OFF", "t": 20}}}}


def test_get_thing_shadow_missing_shadow_fails() -> None:
    provider = _shadows()
    for sql in (
        f"SELECT get_thing_shadow('Other', '{ROLE}') AS s FROM 't'",
        f"SELECT get_thing_shadow('MyThing', 'nope', '{ROLE}') AS s FROM 't'",
    ):
        with pytest.raises(ProviderError, match="get_thing_shadow"):
            iotsql.compile(sql).evaluate(b"{}", "t", provider=provider)


@pytest.mark.parametrize(
    "args", [f"1, '{ROLE}'", "'MyThing', 1", f"'MyThing', 1, '{ROLE}'", f"null, '{ROLE}'"]
)
def test_get_thing_shadow_needs_strings(args: str) -> None:
    provider = _shadows()
    assert run_sql(f"SELECT get_thing_shadow({args}) AS s FROM 't'", b"{}", provider) == {}
    assert provider.calls == []


def test_get_thing_shadow_needs_2016_03_23() -> None:
    with pytest.raises(SqlParseError):
        iotsql.compile(f"SELECT get_thing_shadow('x', '{ROLE}') AS s FROM 't'", V1)


# ---- get_secret ----------------------------------------------------------------------------------


def _secrets() -> InMemoryProvider:
    return InMemoryProvider(
        secrets={
            "API_KEY": '{"API_KEY_VALUE": "k-123", "port": 8443, "nested": {"a": 1.0}}',
            "plain": "just text",
            "blob": b"\x00\x01hi",
            "array": "[1, 2]",
        }
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("'API_KEY', 'SecretString', 'API_KEY_VALUE'", "k-123"),
        ("'API_KEY', 'SecretString', 'port'", 8443),
        ("'API_KEY', 'SecretString', 'nested'", {"a": 1}),
        ("'API_KEY', 'SecretString'",
         '{"API_KEY_VALUE": "k-123", "port": 8443, "nested": {"a": 1.0}}'),
        ("'plain', 'SecretString'", "just text"),
        ("'array', 'SecretString'", "[1, 2]"),
        ("'blob', 'SecretBinary'", base64.b64encode(b"\x00\x01hi").decode()),
    ],
)  # fmt: skip
def test_get_secret_values(args: str, expected: Any) -> None:
    out = run_sql(f"SELECT get_secret({args}, '{ROLE}') AS s FROM 't'", b"{}", _secrets())
    assert out == {"s": expected}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("'plain', 'SecretString', 'k'", "not a JSON object"),
        ("'array', 'SecretString', 'k'", "not a JSON object"),
        ("'API_KEY', 'SecretString', 'absent'", "no key 'absent'"),
        ("'blob', 'SecretBinary', 'k'", "cannot be read from a SecretBinary"),
        ("'blob', 'SecretString'", "has no SecretString"),
        ("'plain', 'SecretBinary'", "has no SecretBinary"),
        ("'nope', 'SecretString'", "can't find the secret nope"),
    ],
)
def test_get_secret_failures(args: str, message: str) -> None:
    rule = iotsql.compile(f"SELECT get_secret({args}, '{ROLE}') AS s FROM 't'")
    with pytest.raises(ProviderError, match=message):
        rule.evaluate(b"{}", "t", provider=_secrets())


@pytest.mark.parametrize(
    "args",
    [
        f"'plain', 'secretstring', '{ROLE}'",
        f"'plain', 'Other', '{ROLE}'",
        f"1, 'SecretString', '{ROLE}'",
        f"'plain', 'SecretString', 1, '{ROLE}'",
        "'plain', 'SecretString', 1",
        f"'plain', null, '{ROLE}'",
    ],
)
def test_get_secret_wrong_arguments_are_undefined(args: str) -> None:
    provider = _secrets()
    assert run_sql(f"SELECT get_secret({args}) AS s FROM 't'", b"{}", provider) == {}
    assert provider.calls == []


def test_get_secret_by_arn() -> None:
    provider = InMemoryProvider(secrets={"db": "pw"})
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    assert run_sql(f"SELECT get_secret('{arn}', 'SecretString', '{ROLE}') AS s FROM 't'",
                   b"{}", provider) == {"s": "pw"}  # fmt: skip


def test_get_secret_in_2015_10_08() -> None:
    out = run_sql(f"SELECT get_secret('plain', 'SecretString', '{ROLE}') AS s FROM 't'",
                  b"{}", _secrets(), V1)  # fmt: skip
    assert out == {"s": "just text"}


def test_get_secret_in_a_substitution_template() -> None:
    from iotsql.templates import render_template

    provider = InMemoryProvider(secrets={"API_KEY": '{"API_KEY_VALUE": "k-123"}'})
    template = (
        "${get_secret('API_KEY', 'SecretString', 'API_KEY_VALUE', "
        "'arn:aws:iam::12345678910:role/getsecret')}"
    )
    assert render_template(template, b"{}", "t", provider=provider) == "k-123"


def test_the_kafka_page_reads_binary_secrets_without_a_key() -> None:
    # apache-kafka-rule-action.html#apache-kafka-rule-action-examples: ssl.truststore and
    # sasl.kerberos.keytab are `${get_secret(id, 'SecretBinary', roleArn)}`, three arguments
    # (no key), and render as the secret's bytes in base64.
    from iotsql.templates import render_template

    role = "arn:aws:iam::123456789012:role/kafka-get-secret-role-name"
    provider = InMemoryProvider(
        secrets={"kafka_client_truststore": b"\xfe\xedtrust", "kafka_keytab": b"\x05\x02keytab"}
    )
    truststore = f"${{get_secret('kafka_client_truststore', 'SecretBinary','{role}')}}"
    keytab = f"${{get_secret('kafka_keytab','SecretBinary', '{role}')}}"
    assert render_template(truststore, b"{}", "some/topic", provider=provider) == (
        base64.b64encode(b"\xfe\xedtrust").decode()
    )
    assert render_template(keytab, b"{}", "some/topic", provider=provider) == (
        base64.b64encode(b"\x05\x02keytab").decode()
    )
    assert [call[1][0] for call in provider.calls] == ["kafka_client_truststore", "kafka_keytab"]


def test_secret_value_helper() -> None:
    assert secret_value("s", "SecretString", None, '{"a":1}', None) == '{"a":1}'
    assert secret_value("s", "SecretString", "a", '{"a":1}', None) == 1
    assert secret_value("s", "SecretBinary", None, None, b"\xff") == "/w=="
    with pytest.raises(ProviderError):
        secret_value("s", "SecretString", "a", "x", None)


# ---- get_registry_data ---------------------------------------------------------------------------


def _registry() -> InMemoryProvider:
    provider = InMemoryProvider()
    provider.put_thing("sensor1", attributes={"temperature_threhold": "30"}, thing_type="testenv",
                       groups=["floor1", "building"])  # fmt: skip
    provider.put_thing("bare")
    return provider


def test_get_registry_data_documented_examples() -> None:
    role = "arn:aws:iam::123456789012:role/registry"
    select = (
        f'SELECT *, get_registry_data("DescribeThing", "sensor1", "{role}")'
        ".attributes.temperature_threhold AS device1_tempthreshold FROM 'home1/gateway1/sensor1/#'"
    )
    out = run_sql(select, {"t": 31}, _registry(), topic="home1/gateway1/sensor1/x")
    assert out == {"t": 31, "device1_tempthreshold": "30"}
    where = (
        "SELECT * FROM '$aws/events/lifecycle/+' WHERE "
        f'get_registry_data("DescribeThing", clientId, "{role}").thingTypeName = \'testenv\''
    )
    rule = iotsql.compile(where)
    provider = _registry()
    assert rule.evaluate({"clientId": "sensor1"}, "$aws/events/lifecycle/connected",
                         provider=provider) is not None  # fmt: skip
    assert rule.evaluate({"clientId": "bare"}, "$aws/events/lifecycle/connected",
                         provider=provider) is None  # fmt: skip


def test_get_registry_data_describe_thing_shape() -> None:
    out = run_sql(f"SELECT get_registry_data('DescribeThing', 'sensor1', '{ROLE}') AS d FROM 't'",
                  b"{}", _registry())["d"]  # fmt: skip
    assert out["thingName"] == "sensor1" and out["defaultClientId"] == "sensor1"
    assert out["thingArn"] == "arn:aws:iot:us-east-1:123456789012:thing/sensor1"
    assert out["thingTypeName"] == "testenv" and out["version"] == 1
    assert isinstance(out["thingId"], str)


def test_get_registry_data_thing_groups() -> None:
    sql = f"SELECT get_registry_data('ListThingGroupsForThing', 'sensor1', '{ROLE}') AS g FROM 't'"
    assert run_sql(sql, b"{}", _registry()) == {
        "g": {
            "thingGroups": [
                {"groupName": "floor1",
                 "groupArn": "arn:aws:iot:us-east-1:123456789012:thinggroup/floor1"},
                {"groupName": "building",
                 "groupArn": "arn:aws:iot:us-east-1:123456789012:thinggroup/building"},
            ]
        }
    }  # fmt: skip


def test_get_registry_data_given_description() -> None:
    provider = InMemoryProvider(things={"x": {"attributes": {"a": "1"}, "version": 4}})
    out = run_sql(f"SELECT get_registry_data('DescribeThing', 'x', '{ROLE}') AS d FROM 't'",
                  b"{}", provider)  # fmt: skip
    assert out == {"d": {"attributes": {"a": "1"}, "version": 4, "thingName": "x"}}


def test_get_registry_data_unknown_thing_fails() -> None:
    rule = iotsql.compile(
        f"SELECT get_registry_data('DescribeThing', 'ghost', '{ROLE}') AS d FROM 't'"
    )
    with pytest.raises(ProviderError, match="ghost"):
        rule.evaluate(b"{}", "t", provider=_registry())


@pytest.mark.parametrize(
    "args",
    [
        f"'describething', 'sensor1', '{ROLE}'",
        f"'ListThings', 'sensor1', '{ROLE}'",
        f"'DescribeThing', 1, '{ROLE}'",
        "'DescribeThing', 'sensor1', 1",
        f"'DescribeThing', missing, '{ROLE}'",
    ],
)
def test_get_registry_data_wrong_arguments_are_undefined(args: str) -> None:
    provider = _registry()
    assert run_sql(f"SELECT get_registry_data({args}) AS d FROM 't'", b"{}", provider) == {}
    assert provider.calls == []


def test_get_registry_data_api_must_be_a_literal() -> None:
    with pytest.raises(SqlParseError, match="literal string"):
        iotsql.compile(f"SELECT get_registry_data(api, 'sensor1', '{ROLE}') AS d FROM 't'")


def test_get_registry_data_limits_and_version() -> None:
    twice = iotsql.compile(
        f"SELECT get_registry_data('DescribeThing', 'a', '{ROLE}') AS a, "
        f"get_registry_data('ListThingGroupsForThing', 'a', '{ROLE}') AS b FROM 't'"
    )
    assert twice.termination is not None and "get_registry_data()" in twice.termination
    assert twice.evaluate(b"{}", "t", provider=_registry()) is None
    with pytest.raises(SqlParseError):
        iotsql.compile(f"SELECT get_registry_data('DescribeThing', 'a', '{ROLE}') FROM 't'", V1)


# ---- machinelearning_predict ---------------------------------------------------------------------

PREDICTION = {
    "predictedLabel": "1",
    "predictedScores": {"1": 0.875},
    "details": {"PredictiveModelType": "BINARY", "Algorithm": "SGD"},
}


def test_machinelearning_predict_flattens_the_record() -> None:
    provider = InMemoryProvider(models={"ml-model": PREDICTION})
    sql = f"SELECT machinelearning_predict('ml-model', '{ROLE}', *) AS p FROM 't'"
    payload = {"key1": {"innerKey1": "value1"}, "key2": 0, "key3": [1, 2.5], "key4": None}
    assert run_sql(sql, payload, provider) == {"p": PREDICTION}
    assert provider.calls == [
        ("machinelearning_predict", ("ml-model", ROLE, {
            "key1": '{"innerKey1":"value1"}', "key2": 0, "key3": "[1,2.5]", "key4": None,
        })),
    ]  # fmt: skip


def test_machinelearning_predict_with_a_model_function_in_2015_10_08() -> None:
    provider = InMemoryProvider()
    provider.add_model("m", lambda record: {"predictedValue": record["x"] * 2.0})
    sql = f"SELECT machinelearning_predict('m', '{ROLE}', *).predictedValue AS v FROM 't'"
    assert run_sql(sql, {"x": 2}, provider, V1) == {"v": 4.0}
    assert run_sql(sql, {"x": 2}, provider, V2) == {"v": 4}


def test_machinelearning_predict_unknown_model_fails() -> None:
    rule = iotsql.compile(f"SELECT machinelearning_predict('m', '{ROLE}', *) AS p FROM 't'")
    with pytest.raises(ProviderError, match="model m not found"):
        rule.evaluate(b"{}", "t", provider=InMemoryProvider())


@pytest.mark.parametrize(
    "args", [f"'m', '{ROLE}', 5", f"'m', '{ROLE}', 'text'", f"'m', '{ROLE}', [1]",
             f"1, '{ROLE}', *", "'m', 1, *", f"'m', '{ROLE}', null"],
)  # fmt: skip
def test_machinelearning_predict_wrong_arguments_are_undefined(args: str) -> None:
    provider = InMemoryProvider(models={"m": PREDICTION})
    assert (
        run_sql(f"SELECT machinelearning_predict({args}) AS p FROM 't'", {"a": 1}, provider) == {}
    )
    assert provider.calls == []


def test_flatten_record_helper() -> None:
    assert flatten_record({"a": Decimal("2.50"), "b": {"c": [1]}}, True) == {
        "a": 2.5,
        "b": '{"c":[1]}',
    }
    assert flatten_record({"a": Decimal("2.0")}, True) == {"a": 2}
    assert flatten_record({"a": Decimal("2.0")}, False) == {"a": 2.0}
    assert flatten_record({"a": [Binary(b"x")]}, True) is UNDEFINED


# ---- protobuf decoding through the provider ------------------------------------------------------


def _run(provider: Any, version: str = V2) -> Run:
    return Run(Message(b"{}", "t"), "t", version, provider=provider)


def test_in_memory_protobuf_decoders() -> None:
    provider = InMemoryProvider()
    provider.add_protobuf_decoder(
        lambda data: {"len": len(data), "f": 1.0}, "b", "k.desc", "p", "M"
    )
    value = call_provider(
        _run(provider), "decode", "decode_protobuf", b"\x08\x01", "b", "k.desc", "p", "M"
    )
    assert value == {"len": 2, "f": 1}
    assert provider.calls == [("decode_protobuf", (b"\x08\x01", "b", "k.desc", "p", "M"))]
    with pytest.raises(ProviderError, match=r"decode\(\) failed: no protobuf descriptor"):
        call_provider(_run(provider), "decode", "decode_protobuf", b"", "b", "other", "p", "M")


def test_in_memory_protobuf_fallback_and_mapping() -> None:
    seen: list[tuple[Any, ...]] = []

    def fallback(data: bytes, bucket: str, key: str, proto: str, message_type: str) -> Any:
        seen.append((data, bucket, key, proto, message_type))
        return {"type": message_type}

    provider = InMemoryProvider(protobuf=fallback)
    assert call_provider(_run(provider), "decode", "decode_protobuf", b"x", "b", "k", "p", "T") == {
        "type": "T"
    }
    assert seen == [(b"x", "b", "k", "p", "T")]
    mapped = InMemoryProvider(protobuf={("b", "k", "p", "T"): lambda data: data.decode()})
    assert (
        call_provider(_run(mapped), "decode", "decode_protobuf", b"ok", "b", "k", "p", "T") == "ok"
    )


def test_call_provider_without_provider() -> None:
    with pytest.raises(ProviderError, match=r"^decode\(\) needs a provider"):
        call_provider(_run(None), "decode", "decode_protobuf", b"", "b", "k", "p", "T")


# ---- InMemoryProvider details --------------------------------------------------------------------


def test_in_memory_provider_constructor_and_calls() -> None:
    provider = InMemoryProvider(
        lambdas={"f": 1},
        tables={"T": [{"id": "a"}]},
        shadows={("thing", None): {"state": {}}, ("thing", "named"): {"state": {"x": 1}}},
        secrets={"s": "v"},
        things={"thing": {"thingName": "thing"}},
        models={"m": {"predictedValue": 1.5}},
    )
    assert provider.aws_lambda("f", {}) == 1
    assert provider.get_dynamodb("T", "id", "a", None, None, ROLE) == {"id": "a"}
    assert provider.get_dynamodb("T", "id", "b", None, None, ROLE) is None
    assert provider.get_thing_shadow("thing", "named", ROLE) == {"state": {"x": 1}}
    assert provider.get_secret("s", "SecretString", None, ROLE) == "v"
    assert provider.get_registry_data("ListThingGroupsForThing", "thing", ROLE) == {
        "thingGroups": []
    }
    assert provider.machinelearning_predict("m", ROLE, {}) == {"predictedValue": 1.5}
    assert [method for method, _ in provider.calls] == [
        "aws_lambda", "get_dynamodb", "get_dynamodb", "get_thing_shadow", "get_secret",
        "get_registry_data", "machinelearning_predict",
    ]  # fmt: skip


def test_in_memory_provider_rejects_bad_data() -> None:
    provider = InMemoryProvider()
    provider.add_table("T", "id")
    with pytest.raises(ProviderError, match="lacks key"):
        provider.put_item("T", {"other": 1})
    with pytest.raises(TypeError):
        provider.put_secret("s", 5)  # type: ignore[arg-type]


def test_stored_items_are_isolated_from_the_caller() -> None:
    item: dict[str, Any] = {"id": "a", "list": [1]}
    provider = InMemoryProvider(tables={"T": [item]})
    item["list"].append(2)
    got = provider.get_dynamodb("T", "id", "a", None, None, ROLE)
    assert got == {"id": "a", "list": [1]}
    got["list"].append(3)
    assert provider.get_dynamodb("T", "id", "a", None, None, ROLE) == {"id": "a", "list": [1]}


# ---- arbitrary arguments never raise -------------------------------------------------------------


class _AnswerEverything:
    """A provider for which every lookup succeeds, so only the functions' own argument
    handling is under test."""

    def aws_lambda(self, function_arn: str, payload: Any) -> Any:
        json.dumps(payload)  # the payload must be plain JSON
        return {"echo": payload}

    def get_dynamodb(self, *args: Any) -> Any:
        json.dumps(args)
        return {"id": args[2], "n": 1.0}

    def get_thing_shadow(self, *args: Any) -> Any:
        return {"state": {"reported": {"on": True}}}

    def get_secret(self, *args: Any) -> Any:
        return "secret"

    def get_registry_data(self, *args: Any) -> Any:
        return {"thingName": args[1]}

    def machinelearning_predict(self, model_id: str, role_arn: str, record: dict[str, Any]) -> Any:
        json.dumps(record)
        assert all(type(v) not in (dict, list) for v in record.values())
        return {"predictedValue": 0.5}


sql_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.decimals(allow_nan=False, allow_infinity=False, places=6),
        st.text(max_size=12),
        st.sampled_from(
            ["DescribeThing", "ListThingGroupsForThing", "SecretString", "SecretBinary"]
        ),
        st.binary(max_size=8).map(Binary),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)

EXTERNAL = [
    ("aws_lambda", 2),
    ("get_dynamodb", 4),
    ("get_dynamodb", 5),
    ("get_dynamodb", 6),
    ("get_thing_shadow", 2),
    ("get_thing_shadow", 3),
    ("get_secret", 3),
    ("get_secret", 4),
    ("get_registry_data", 3),
    ("machinelearning_predict", 3),
]


@pytest.mark.parametrize(("name", "count"), EXTERNAL)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_arbitrary_arguments_give_a_value_or_undefined(name: str, count: int, data: Any) -> None:
    spec = lookup(name)
    assert spec is not None
    args = data.draw(st.lists(sql_values, min_size=count, max_size=count))
    version = data.draw(st.sampled_from([V1, V2]))
    with cpu_at_most(1.0):
        result = spec.impl(_run(_AnswerEverything(), version), *args)
    if result is not UNDEFINED:
        json.dumps(result)


@settings(max_examples=100, deadline=None)
@given(payload=st.dictionaries(st.sampled_from(["a", "b", "c"]), sql_values.filter(
    lambda v: type(v) is not Binary and not isinstance(v, Decimal)), max_size=3))  # fmt: skip
def test_arbitrary_payloads_through_sql(payload: dict[str, Any]) -> None:
    try:
        body = json.dumps(payload, default=str).encode()
    except ValueError:
        return
    sql = (
        f"SELECT aws_lambda(a, b) AS l, get_dynamodb(a, b, c, '{ROLE}') AS d, "
        f"get_secret(a, b, c, '{ROLE}') AS s, machinelearning_predict(a, b, c) AS m FROM 't'"
    )
    output = iotsql.compile(sql, V2).evaluate(body, "t", provider=_AnswerEverything())
    assert output is not None
    json.loads(output.to_bytes())


def test_a_where_conjunction_with_a_lookup_tests_both_sides() -> None:
    # The AND table has no short circuit: with a lookup on the right the lookup runs even
    # when the left is false (a failed one would fail the rule), and the rule fires only
    # when both sides are true.
    sql = (
        "SELECT id FROM 't' WHERE ok = true AND "
        f"get_dynamodb('InServiceDevices', 'deviceId', id, '{ROLE}').floor > 2"
    )
    rule = iotsql.compile(sql, V2)
    provider = _devices()
    assert rule.evaluate(b'{"id": "d1", "ok": false}', "t", provider=provider) is None
    assert [call[0] for call in provider.calls] == ["get_dynamodb"]
    assert rule.evaluate(b'{"id": "d1", "ok": true}', "t", provider=provider) == Output(
        {"id": "d1"}
    )
    assert rule.evaluate(b'{"id": "d2", "ok": true}', "t", provider=provider) is None
