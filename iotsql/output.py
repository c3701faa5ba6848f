"""`Output`: what a rule that fires hands to its actions. It sits below the rule and the actions,
which both use it (a rule makes it, an action reads its value and its body)."""

from __future__ import annotations

import json
from typing import Any

from iotsql.budget import output_too_big
from iotsql.errors import EvaluationError
from iotsql.values import codec, encode_json


class Output:
    """The result of a rule that fired. `value` is the output as a Python JSON value (dict,
    list, str, int, float, bool, None) or `bytes` for a raw pass-through of a non-JSON body;
    `to_bytes()` is the body the actions receive."""

    __slots__ = ("_body", "_max_bytes", "value")

    def __init__(self, value: Any, body: bytes | None = None, max_bytes: int | None = None) -> None:
        self.value = value
        self._body = body
        #: Limits.max_output_bytes of the rule that made it: `to_bytes` refuses a larger body.
        self._max_bytes = max_bytes

    @property
    def is_binary(self) -> bool:
        """Whether the output is a raw body (a pass-through of a body that is not an object)."""
        return isinstance(self.value, bytes)

    @property
    def is_json(self) -> bool:
        """Whether the body the actions receive is JSON text: an output value, or a raw body
        that `SELECT *` passed through and that is JSON (`[...]`, `80`), which actions that
        refuse binary payloads take."""
        value = self.value
        if not isinstance(value, bytes):
            return True
        try:
            json.loads(value)
        except (ValueError, UnicodeDecodeError):
            return False
        return True

    def to_bytes(self) -> bytes:
        body = self._body
        if body is None:
            value = self.value
            if isinstance(value, bytes):
                body = bytes(value)
            else:
                try:
                    body = codec.dumps(value)
                except TypeError:  # orjson: an integer past 64 bits, nesting past 255 levels
                    try:
                        body = encode_json(value)
                    except RecursionError:
                        raise EvaluationError(
                            "the output is nested too deeply to serialise"
                        ) from None
                    except (TypeError, ValueError) as err:  # a value that is not JSON
                        raise EvaluationError(f"the output is not JSON: {err}") from None
            # The builders measured the output before making it (a lower bound, so this text
            # is at most a few times the limit); this is the exact size the actions would get.
            limit = self._max_bytes
            if limit is not None and len(body) > limit:
                raise output_too_big(len(body), limit)
            self._body = body
        return body

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Output):
            return bool(self.value == other.value) and type(self.value) is type(other.value)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Output({self.value!r})"
