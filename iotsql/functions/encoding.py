"""Encoding and hashing functions: encode and decode (base64, and protobuf through the
provider), and the hashes md2, md5, sha1, sha224, sha256, sha384 and sha512."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from typing import Any, Final

from iotsql.budget import check_time
from iotsql.errors import ProviderError
from iotsql.functions.external import call_provider
from iotsql.functions.registry import function
from iotsql.limits import current_limits
from iotsql.message import Run
from iotsql.values import UNDEFINED, V1, V2, Binary, decode_json, to_string

U = UNDEFINED
FAMILY = "encoding"


def utf8(text: str) -> bytes:
    """UTF-8 bytes as Java's String.getBytes writes them: a lone surrogate becomes `?`."""
    return text.encode("utf-8", "replace")


def _bytes_of(value: Any) -> bytes | None:
    """What encode and the hashes work on: raw bytes as they are, anything else as the UTF-8
    of its standard String conversion (None when it has none: Null, Undefined)."""
    if isinstance(value, bytes):
        return bytes(value)
    text = to_string(value)
    return utf8(text) if type(text) is str else None


# ---- base64 -----------------------------------------------------------------------------------

#: java.util.Base64's basic decoder: the standard alphabet only, padding optional but exact.
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def base64_decode(text: str | bytes) -> bytes | None:
    """Base64 text decoded as java.util.Base64.getDecoder() does (no whitespace, no URL-safe
    characters, missing padding allowed); None when it is not base64."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    if _BASE64.fullmatch(text) is None:
        return None
    if "=" not in text:
        if len(text) % 4 == 1:
            return None
        text += "=" * (-len(text) % 4)
    elif len(text) % 4:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@function("encode", args=2, family=FAMILY, since=V2, raw_star=True, no_variable_args=(1,),
          anchor="iot-sql-encode-payload", signature="encode(value, 'base64')")  # fmt: skip
def encode(value: Any, scheme: Any) -> Any:
    """The value (the raw payload for `*`, else its String conversion in UTF-8) in base64."""
    if scheme != "base64" or type(scheme) is not str:
        return U
    data = _bytes_of(value)
    if data is None or len(data) > current_limits().max_payload_bytes:
        return U
    return base64.b64encode(data).decode("ascii")


def _decoded_value(run: Run, data: bytes) -> Any:
    """Decoded bytes as SQL sees them: the JSON value they hold, else their UTF-8 text, else
    the bytes themselves (Binary: encode() takes them back, an output key drops them)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Binary(data)
    try:
        return decode_json(text, run.sql_version != V1.value)
    except ValueError:
        return text


def _decode_protobuf(run: Run, value: Any, names: tuple[Any, ...]) -> Any:
    if any(type(name) is not str for name in names):
        return U
    if isinstance(value, bytes):
        data: bytes | None = bytes(value)
    elif type(value) is str:
        data = base64_decode(value)
    else:
        return U
    if data is None:
        return U
    if run.provider is None:
        raise ProviderError(
            "decode(..., 'proto') needs a provider: pass provider=InMemoryProvider(...) with "
            "add_protobuf_decoder(...), or Boto3Provider(...)",
            function="decode",
        )
    bucket, key, proto_name, message_type = names
    return call_provider(
        run, "decode", "decode_protobuf", data, bucket, key, proto_name, message_type
    )


@function("decode", args=(2, 6), family=FAMILY, since=V2, context=True, raw_star=True,
          no_variable_args=(1,),
          anchor="iot-sql-decode-base64",
          signature="decode(value, scheme[, bucket, key, protoName, messageType])")  # fmt: skip
def decode(run: Run, value: Any, scheme: Any, *proto: Any) -> Any:
    """Base64 text decoded to the JSON value or String it holds, or a protobuf message to JSON.

    Text that is not base64 decodes to Null; decoded bytes that are not UTF-8 stay Binary.
    With 'proto', the provider decodes the raw payload (`*`) or the base64 argument."""
    if type(scheme) is not str:
        return U
    if scheme == "proto" and len(proto) == 4:
        return _decode_protobuf(run, value, proto)
    if scheme != "base64" or proto:
        return U
    if type(value) is not str and not isinstance(value, bytes):
        return U
    data = base64_decode(value)
    if data is None:
        return None  # "The function returns NULL if the string cannot be decoded"
    return _decoded_value(run, data)


# ---- hashes -----------------------------------------------------------------------------------

#: RFC 1319's substitution table, a permutation of 0..255 built from the digits of pi.
_MD2_S: Final = bytes((
    41, 46, 67, 201, 162, 216, 124, 1, 61, 54, 84, 161, 236, 240, 6, 19,
    98, 167, 5, 243, 192, 199, 115, 140, 152, 147, 43, 217, 188, 76, 130, 202,
    30, 155, 87, 60, 253, 212, 224, 22, 103, 66, 111, 24, 138, 23, 229, 18,
    190, 78, 196, 214, 218, 158, 222, 73, 160, 251, 245, 142, 187, 47, 238, 122,
    169, 104, 121, 145, 21, 178, 7, 63, 148, 194, 16, 137, 11, 34, 95, 33,
    128, 127, 93, 154, 90, 144, 50, 39, 53, 62, 204, 231, 191, 247, 151, 3,
    255, 25, 48, 179, 72, 165, 181, 209, 215, 94, 146, 42, 172, 86, 170, 198,
    79, 184, 56, 210, 150, 164, 125, 182, 118, 252, 107, 226, 156, 116, 4, 241,
    69, 157, 112, 89, 100, 113, 135, 32, 134, 91, 207, 101, 230, 45, 168, 2,
    27, 96, 37, 173, 174, 176, 185, 246, 28, 70, 97, 105, 52, 64, 126, 15,
    85, 71, 163, 35, 221, 81, 175, 58, 195, 92, 249, 206, 186, 197, 234, 38,
    44, 83, 13, 110, 133, 40, 132, 9, 211, 223, 205, 244, 65, 129, 77, 82,
    106, 220, 55, 200, 108, 193, 171, 250, 36, 225, 123, 8, 12, 189, 177, 74,
    120, 136, 149, 139, 227, 99, 232, 109, 233, 203, 213, 254, 59, 0, 29, 57,
    242, 239, 183, 14, 102, 88, 208, 228, 166, 119, 114, 248, 235, 117, 75, 10,
    49, 68, 80, 180, 143, 237, 31, 26, 219, 153, 141, 51, 159, 17, 131, 20,
))  # fmt: skip


def md2(data: bytes) -> bytes:
    """The MD2 digest (RFC 1319 with its erratum: the checksum XORs into itself); OpenSSL 3
    builds of hashlib no longer offer it."""
    pad = 16 - len(data) % 16
    message = data + bytes([pad]) * pad
    checksum = bytearray(16)
    last = 0
    for block in range(0, len(message), 16):
        for j in range(16):
            checksum[j] ^= _MD2_S[message[block + j] ^ last]
            last = checksum[j]
    message += bytes(checksum)
    state = bytearray(48)
    for block in range(0, len(message), 16):
        if not block & 0x3FF:  # every 64 blocks (about 6 ms): the evaluation's time budget
            check_time()
        for j in range(16):
            state[16 + j] = message[block + j]
            state[32 + j] = state[16 + j] ^ state[j]
        t = 0
        for round_ in range(18):
            for k in range(48):
                state[k] ^= _MD2_S[t]
                t = state[k]
            t = (t + round_) & 0xFF
    return bytes(state[:16])


def _hashlib_digest(name: str) -> Callable[[bytes], bytes]:
    return lambda data: hashlib.new(name, data).digest()


_DIGESTS: Final[dict[str, Callable[[bytes], bytes]]] = {
    "md2": md2,
    **{
        name: _hashlib_digest(name)
        for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
    },
}


def _declare_hash(name: str, digest: Callable[[bytes], bytes]) -> None:
    def hash_value(value: Any) -> Any:
        text = to_string(value)
        return U if type(text) is not str else digest(utf8(text)).hex()

    hash_value.__name__ = name
    hash_value.__qualname__ = name
    hash_value.__doc__ = (
        f"The {name.upper()} digest of the value's String conversion (UTF-8), in lower-case hex."
    )
    # md2 runs in Python (about 0.75 s for 128 KB): it is charged as unbounded, and checks the
    # evaluation's time budget inside its loop.
    function(name, args=1, family=FAMILY, anchor="iot-sql-function-hash",
             signature=f"{name}(string)",
             cost="unbounded" if name == "md2" else "linear")(hash_value)  # fmt: skip


for _name, _digest in _DIGESTS.items():
    _declare_hash(_name, _digest)
