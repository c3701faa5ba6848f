"""encode, decode (base64 and protobuf) and the hash functions, driven through SQL."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cost import cpu_at_most
from hypothesis import given, settings
from hypothesis import strategies as st

import iotsql
from iotsql.errors import EvaluationError, ProviderError, SqlParseError
from iotsql.functions.encoding import base64_decode, decode, encode, md2
from iotsql.functions.registry import lookup
from iotsql.message import Message, Run
from iotsql.providers import InMemoryProvider
from iotsql.values import UNDEFINED, Binary

V1 = "2015-10-08"
V2 = "2016-03-23"
HASHES = ("md2", "md5", "sha1", "sha224", "sha256", "sha384", "sha512")


def run_sql(sql: str, payload: Any = b"{}", version: str = V2, provider: Any = None) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    output = iotsql.compile(sql, version).evaluate(body, "t", provider=provider)
    assert output is not None, "the rule did not fire"
    return output.value


def select(expression: str, payload: Any = b"{}", version: str = V2, provider: Any = None) -> Any:
    """The value of `expression AS r`, or UNDEFINED when the key is left out."""
    value = run_sql(f"SELECT {expression} AS r FROM 't'", payload, version, provider)
    return value.get("r", UNDEFINED)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---- declarations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "since", "arity", "raw_star", "context"),
    [
        ("encode", V2, "2", True, False),
        ("decode", V2, "2-6", True, True),
        *((name, V1, "1", False, False) for name in HASHES),
    ],
)
def test_declarations(name: str, since: str, arity: str, raw_star: bool, context: bool) -> None:
    spec = lookup(name)
    assert spec is not None
    assert spec.since.value == since
    assert spec.arity_text == arity
    assert spec.raw_star is raw_star
    assert spec.context is context
    assert spec.summary


@pytest.mark.parametrize("sql", ["encode(*, 'base64')", "decode('aGk=', 'base64')"])
def test_encode_and_decode_need_2016(sql: str) -> None:
    with pytest.raises(SqlParseError):
        iotsql.compile(f"SELECT {sql} AS r FROM 't'", V1)


@pytest.mark.parametrize("name", HASHES)
def test_hashes_exist_in_2015(name: str) -> None:
    digest = select(f"{name}('hello')", version=V1)
    assert (
        digest == (md2(b"hello") if name == "md2" else hashlib.new(name, b"hello").digest()).hex()
    )


# ---- encode ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a":1}', "eyJhIjoxfQ=="),
        (b'{ "temperature": 33 }', "eyAidGVtcGVyYXR1cmUiOiAzMyB9"),
        (b"\xde\xad\xbe\xef", "3q2+7w=="),
        (b"hello world", "aGVsbG8gd29ybGQ="),
        (b"", ""),
        (b"\x00\x01\xff\xfe{", "AAH//ns="),
        (b"[1,2]", "WzEsMl0="),
    ],
)
def test_encode_star_is_the_raw_body(body: bytes, expected: str) -> None:
    assert select("encode(*, 'base64')", body) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello", "aGVsbG8="),
        ("€", "4oKs"),
        ("", ""),
        (5, "NQ=="),
        (-12, "LTEy"),
        (2.5, "Mi41"),
        (True, "dHJ1ZQ=="),
        (False, "ZmFsc2U="),
        ({"k": 1}, "eyJrIjoxfQ=="),
        ([1, "a"], "WzEsImEiXQ=="),
    ],
)
def test_encode_converts_values_to_strings(value: Any, expected: str) -> None:
    assert select("encode(x, 'base64')", {"x": value}) == expected


@pytest.mark.parametrize("value", [None])
def test_encode_null_is_undefined(value: Any) -> None:
    assert select("encode(x, 'base64')", {"x": value}) is UNDEFINED


def test_encode_undefined_is_undefined() -> None:
    assert select("encode(missing, 'base64')", {"x": 1}) is UNDEFINED


@pytest.mark.parametrize("scheme", ["'BASE64'", "'base32'", "'hex'", "''", "5", "null", "true"])
def test_encode_other_schemes_are_undefined(scheme: str) -> None:
    assert select(f"encode('hi', {scheme})") is UNDEFINED
    assert select(f"encode(*, {scheme})", b"\x00") is UNDEFINED


def test_encode_literals_and_expressions() -> None:
    assert select("encode('hello', \"base64\")") == "aGVsbG8="
    assert select("encode(a + 1, 'base64')", {"a": 4}) == "NQ=="
    assert select("encode(concat_missing, 'base64')") is UNDEFINED


def test_encode_in_a_set_variable_and_select_value() -> None:
    sql = "SET @raw = encode(*, 'base64') SELECT @raw AS data FROM 'device/binary'"
    output = iotsql.compile(sql, V2).evaluate(b'\x00\x01\xff\xfe{"', "device/binary")
    assert output is not None
    assert output.value == {"data": "AAH//nsi"}
    assert run_sql("SELECT VALUE encode(*, 'base64') FROM 't'", b"\x00\x01") == "AAE="


def test_encode_bounds_its_input() -> None:
    assert encode(Binary(b"x" * (128 * 1024)), "base64") == b64(b"x" * (128 * 1024))
    assert encode(Binary(b"x" * (128 * 1024 + 1)), "base64") is UNDEFINED


def test_encode_lone_surrogate_as_java() -> None:
    assert encode("a\ud800b", "base64") == b64(b"a?b")


# ---- decode: base64 -------------------------------------------------------------------------------


def test_decode_doc_example() -> None:
    sql = "SELECT decode(encoded_temp,\"base64\").temperature AS temp from 'topic/subtopic'"
    payload = {"encoded_temp": "eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg=="}
    output = iotsql.compile(sql, V2).evaluate(json.dumps(payload).encode(), "topic/subtopic")
    assert output is not None
    assert output.value == {"temp": 33}


@pytest.mark.parametrize(
    ("decoded", "expected"),
    [
        (b'{"a":1}', {"a": 1}),
        (b'{"a":1.0,"b":[1,2.5]}', {"a": 1, "b": [1, 2.5]}),
        (b"[1,2]", [1, 2]),
        (b"80", 80),
        (b"10.0", 10),
        (b"2.5", 2.5),
        (b"true", True),
        (b'"quoted"', "quoted"),
        (b"hello", "hello"),
        (b"{not json", "{not json"),
        (b"", ""),
        (b"NaN", "NaN"),
        ("€ uro".encode(), "€ uro"),
    ],
)
def test_decode_returns_json_or_text(decoded: bytes, expected: Any) -> None:
    result = select("decode(x, 'base64')", {"x": b64(decoded)})
    assert result == expected
    assert type(result) is type(expected)


def test_decode_null_json_is_null() -> None:
    assert select("decode(x, 'base64')", {"x": b64(b"null")}) is None


def test_decode_json_is_addressable() -> None:
    payload = {"x": b64(b'{"t": {"v": [10, 20]}}')}
    assert select("decode(x, 'base64').t.v", payload) == [10, 20]
    assert select("get(decode(x, 'base64').t.v, 1)", payload) == 20


def test_decode_where_on_a_decoded_number() -> None:
    sql = (
        "SELECT decode(encode(*, 'base64'), 'base64') AS value FROM 't' "
        "WHERE decode(encode(*, 'base64'), 'base64') > 50"
    )
    rule = iotsql.compile(sql, V2)
    fired = rule.evaluate(b"80", "t")
    assert fired is not None
    assert fired.value == {"value": 80}
    assert rule.evaluate(b"30", "t") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aGVsbG8=", "hello"),
        ("aGVsbG8", "hello"),  # java.util.Base64 accepts missing padding
        ("aGk=", "hi"),
        ("aGk", "hi"),
        ("aA==", "h"),
        ("aA", "h"),
        ("", ""),
    ],
)
def test_decode_padding(text: str, expected: str) -> None:
    assert select("decode(x, 'base64')", {"x": text}) == expected


@pytest.mark.parametrize(
    "text",
    ["%%%%", "!!", "a", "aGVsbG8==", "aA=", "aA===", "====", "=", "aGk=aGk=", "aG k=", "aGk=\n",
     "_-8=", "aGVs\nbG8=", "é"],
)  # fmt: skip
def test_decode_invalid_base64_is_null(text: str) -> None:
    assert select("decode(x, 'base64')", {"x": text}) is None


def test_decode_non_utf8_bytes_are_binary() -> None:
    payload = {"x": b64(b"\xff\xfe\x00")}
    # an output key cannot hold raw bytes: it is left out ...
    assert select("decode(x, 'base64')", payload) is UNDEFINED
    # ... but encode() takes them back unchanged
    assert select("encode(decode(x, 'base64'), 'base64')", payload) == payload["x"]
    run = Run(Message(b"{}", "t"), "t", V2)
    assert decode(run, payload["x"], "base64") == Binary(b"\xff\xfe\x00")


def test_decode_star_reads_the_raw_body() -> None:
    assert select("decode(*, 'base64')", b"aGVsbG8=") == "hello"
    assert select("decode(*, 'base64').a", b"eyJhIjoxfQ==") == 1
    assert select("decode(*, 'base64')", b"\xff") is None


@pytest.mark.parametrize("value", [5, 2.5, True, [1], {"a": "aGk="}])
def test_decode_non_string_is_undefined(value: Any) -> None:
    assert select("decode(x, 'base64')", {"x": value}) is UNDEFINED


def test_decode_null_and_undefined_are_undefined() -> None:
    assert select("decode(x, 'base64')", {"x": None}) is UNDEFINED
    assert select("decode(missing, 'base64')") is UNDEFINED


@pytest.mark.parametrize("scheme", ["'BASE64'", "'hex'", "5", "null", "'proto'"])
def test_decode_other_schemes_are_undefined(scheme: str) -> None:
    assert select(f"decode('aGk=', {scheme})") is UNDEFINED


@pytest.mark.parametrize("extra", ["'b'", "'b', 'k'", "'b', 'k', 'p'", "'b', 'k', 'p', 'm'"])
def test_decode_base64_takes_two_arguments(extra: str) -> None:
    assert select(f"decode('aGk=', 'base64', {extra})") is UNDEFINED


def test_decode_in_2015_style_numbers_is_not_reachable() -> None:
    # decode exists from 2016-03-23 on, where whole-number doubles are Ints
    run = Run(Message(b"{}", "t"), "t", "beta")
    assert decode(run, b64(b"[1.0]"), "base64") == [1]


# ---- decode: protobuf -----------------------------------------------------------------------------

PROTO = "'proto', 'bucket', 'desc/messages.desc', 'myproto', 'Reading'"


def _provider() -> InMemoryProvider:
    provider = InMemoryProvider()
    provider.add_protobuf_decoder(
        lambda data: {"raw": data.hex(), "n": 2.0, "ok": True},
        "bucket",
        "desc/messages.desc",
        "myproto",
        "Reading",
    )
    return provider


def test_decode_proto_star_passes_the_raw_body() -> None:
    provider = _provider()
    output = run_sql(
        f"SELECT VALUE decode(*, {PROTO}) FROM 't'", b"\x08\x96\x01", provider=provider
    )
    assert output == {"raw": "089601", "n": 2, "ok": True}
    assert provider.calls == [
        ("decode_protobuf", (b"\x08\x96\x01", "bucket", "desc/messages.desc", "myproto", "Reading"))
    ]


def test_decode_proto_base64_argument() -> None:
    provider = _provider()
    assert select(f"decode(x, {PROTO}).raw", {"x": "CJYB"}, provider=provider) == "089601"


def test_decode_proto_bad_data_is_undefined() -> None:
    provider = _provider()
    assert select(f"decode(x, {PROTO})", {"x": "%%"}, provider=provider) is UNDEFINED
    assert select(f"decode(x, {PROTO})", {"x": 5}, provider=provider) is UNDEFINED
    assert provider.calls == []


@pytest.mark.parametrize(
    "arguments",
    [
        "'proto', 5, 'k', 'p', 'm'",
        "'proto', 'b', null, 'p', 'm'",
        "'proto', 'b', 'k', 'p'",
        "'proto'",
    ],
)
def test_decode_proto_arguments(arguments: str) -> None:
    provider = _provider()
    assert select(f"decode('CJYB', {arguments})", provider=provider) is UNDEFINED
    assert provider.calls == []


def test_decode_proto_without_a_provider_fails_the_rule() -> None:
    rule = iotsql.compile(f"SELECT decode(*, {PROTO}) AS r FROM 't'", V2)
    with pytest.raises(ProviderError, match=r"decode\(\.\.\., 'proto'\) needs a provider") as err:
        rule.evaluate(b"\x08\x96\x01", "t")
    assert err.value.function == "decode"


def test_decode_proto_unknown_descriptor_fails_the_rule() -> None:
    rule = iotsql.compile("SELECT decode(*, 'proto', 'b', 'k', 'p', 'm') AS r FROM 't'", V2)
    with pytest.raises(EvaluationError):
        rule.evaluate(b"\x08", "t", provider=_provider())


def test_the_set_page_decodes_a_protobuf_body_once() -> None:
    # iot-sql-set.html#iot-sql-set-examples ("Avoiding duplicate function calls"): the decoded
    # message is bound once and read in SELECT and WHERE; three decode calls would pass the
    # limit of two per statement. The page names the proto file 'message.proto' (with its
    # extension) where the functions page asks for the name without it: the provider receives
    # the argument as written.
    sql = (
        "SET @decoded_data = decode(encode(*, 'base64'), 'proto', 'schema', 'schema.desc', "
        "'message.proto', 'Message') SELECT @decoded_data.sensor_id, @decoded_data.reading "
        "FROM 'device/protobuf' WHERE @decoded_data.reading > 100"
    )
    provider = InMemoryProvider()
    provider.add_protobuf_decoder(
        lambda data: {"sensor_id": "s-" + data.hex(), "reading": 120 if data == b"\x01" else 90},
        "schema",
        "schema.desc",
        "message.proto",
        "Message",
    )
    rule = iotsql.compile(sql, V2)
    output = rule.evaluate(b"\x01", "device/protobuf", provider=provider)
    assert output is not None and output.value == {"sensor_id": "s-01", "reading": 120}
    assert rule.evaluate(b"\x02", "device/protobuf", provider=provider) is None
    assert [call[0] for call in provider.calls] == ["decode_protobuf", "decode_protobuf"]


def test_decode_proto_decoder_errors_fail_the_rule() -> None:
    provider = InMemoryProvider()
    provider.add_protobuf_decoder(lambda data: 1 / 0, "b", "k", "p", "m")
    rule = iotsql.compile("SELECT decode(*, 'proto', 'b', 'k', 'p', 'm') AS r FROM 't'", V2)
    with pytest.raises(ProviderError, match="ZeroDivisionError"):
        rule.evaluate(b"\x08", "t", provider=provider)


# ---- hashes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("md2", "a9046c73e00331af68917d3804f70655"),
        ("md5", "5d41402abc4b2a76b9719d911017c592"),
        ("sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        ("sha224", "ea09ae9cc6768c50fcee903ed054556e5bfc8347907f12598aa24193"),
        ("sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
        ("sha384", "59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa90125a3c79f90397bdf5f6a13de828684f"),
        ("sha512", "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043"),
    ],
)  # fmt: skip
def test_hash_of_hello(name: str, expected: str) -> None:
    assert select(f'{name}("hello")') == expected
    assert select(f"{name}(x)", {"x": "hello"}, version=V1) == expected


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"", "8350e5a3e24c153df2275c9f80692773"),
        (b"a", "32ec01ec4a6dac72c0ab96fb34c0b5d1"),
        (b"abc", "da853b0d3f88d99b30283a69e6ded6bb"),
        (b"message digest", "ab4f496bfb2a530b219ff33031fe06b0"),
        (b"abcdefghijklmnopqrstuvwxyz", "4e8ddff3650292ab5a4108c3aa47940b"),
        (
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "da33def2a42df13975352846c30338cd",
        ),
        (b"1234567890" * 8, "d5976f79d83d3a0dc9806c3c66f3efd8"),
    ],
)
def test_md2_rfc1319_vectors(message: bytes, digest: str) -> None:
    assert md2(message).hex() == digest


@pytest.mark.parametrize("length", [15, 16, 17, 31, 32, 33, 1000])
def test_md2_block_boundaries(length: int) -> None:
    digest = md2(b"x" * length)
    assert len(digest) == 16
    assert digest != md2(b"x" * (length + 1))


@pytest.mark.parametrize("name", HASHES)
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5, "5"),
        (-0, "0"),
        (2.5, "2.5"),
        (True, "true"),
        ([1], "[1]"),
        ({"k": 1}, '{"k":1}'),
        ("€", "€"),
        ("", ""),
    ],
)
def test_hashes_use_the_string_conversion(name: str, value: Any, text: str) -> None:
    expected = (
        md2(text.encode()).hex() if name == "md2" else hashlib.new(name, text.encode()).hexdigest()
    )
    assert select(f"{name}(x)", {"x": value}) == expected


@pytest.mark.parametrize("name", HASHES)
def test_hashes_of_null_and_undefined_are_undefined(name: str) -> None:
    assert select(f"{name}(x)", {"x": None}) is UNDEFINED
    assert select(f"{name}(missing)") is UNDEFINED


def test_hash_of_json_doc_example() -> None:
    sql = "SELECT temp, md5(deviceid) AS hashed_id FROM 'topic/#'"
    payload = {"deviceid": "iot123", "temp": 54.98, "humidity": 32.43}
    output = iotsql.compile(sql, V2).evaluate(json.dumps(payload).encode(), "topic/d1")
    assert output is not None
    assert output.value == {"temp": 54.98, "hashed_id": "e37f81fb397e595c4aeb5645b8cbbbd1"}


def test_hash_of_decimals_in_both_versions() -> None:
    assert select("md5(x)", {"x": 10.0}, version=V1) == hashlib.md5(b"10.0").hexdigest()
    assert select("md5(x)", {"x": 10.0}, version=V2) == hashlib.md5(b"10").hexdigest()
    assert (
        select("sha1(1.0 / 3)") == hashlib.sha1(b"0.3333333333333333333333333333333333").hexdigest()
    )


def test_hash_of_binary_payload() -> None:
    assert select("md5(*)", b"plain text") == hashlib.md5(b"plain text").hexdigest()
    assert select("md5(*)", b"\xff\xfe") is UNDEFINED  # no String conversion for non-UTF-8


def test_hash_of_lone_surrogate_as_java() -> None:
    assert select("md5(x)", b'{"x": "a\\ud800"}') == hashlib.md5(b"a?").hexdigest()


# ---- base64_decode directly ------------------------------------------------------------------------


@given(st.binary(max_size=100))
def test_base64_round_trip(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    assert base64_decode(text) == data
    assert base64_decode(text.rstrip("=")) == data
    assert base64_decode(text.encode()) == data


# ---- never raising, in bounded time --------------------------------------------------------------

sql_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(alphabet="ABCDEFabcdef0123456789+/=", max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.binary(max_size=20).map(Binary),
    st.just(UNDEFINED),
)


@settings(max_examples=300, deadline=None)
@given(value=sql_values, scheme=st.one_of(st.sampled_from(["base64", "proto"]), sql_values))
def test_encode_and_decode_never_raise(value: Any, scheme: Any) -> None:
    with cpu_at_most(2.0):
        _encode_and_decode(value, scheme)


def _encode_and_decode(value: Any, scheme: Any) -> None:
    encoded = encode(value, scheme)
    assert encoded is UNDEFINED or type(encoded) is str
    run = Run(Message(b"{}", "t"), "t", V2)
    decoded = decode(run, value, scheme)
    assert decoded is UNDEFINED or decoded is None or type(decoded) in (
        str, int, float, bool, list, dict, Binary,
    )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(value=sql_values)
def test_hashes_never_raise(value: Any) -> None:
    for name in HASHES:
        spec = lookup(name)
        assert spec is not None
        result = spec.impl(value)
        assert result is UNDEFINED or type(result) is str


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=64))
def test_star_round_trip_through_sql(body: bytes) -> None:
    assert select("encode(*, 'base64')", body) == b64(body)
    again = select("encode(decode(encode(*, 'base64'), 'base64'), 'base64')", body)
    assert again is UNDEFINED or type(again) is str
