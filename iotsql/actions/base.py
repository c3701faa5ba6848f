"""What the dispatcher hands to sinks, and what a sink is.

- `ActionType`: one AWS action (`sqs`, `dynamoDBv2`, ...): which of its parameters take
  substitution templates, how AWS turns the rule's output into the downstream request (the SQS
  message body, the DynamoDB item, the Kinesis partition key...), and what AWS reports as the
  failed resource. The catalogue is `iotsql.actions.types.ACTION_TYPES`.
- `ActionRequest`: one action of one rule for one message, fully rendered.
- `Sink`: anything callable with an ActionRequest. Returning means delivered; raising means
  the action failed (the failure goes to the rule's error action).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from iotsql.message import Message
    from iotsql.output import Output


@dataclass(frozen=True, repr=False, init=False)
class ActionRequest:
    """One action of one rule for one message, with every `${...}` rendered.

    `params` are the action's parameters as written in the rule, templates substituted;
    `payload` the bytes the action delivers (the SELECT output, or the error-action message);
    `request` the downstream call as AWS would make it, for example
    `{"service": "sqs", "operation": "SendMessage", "arguments": {"QueueUrl": ..., ...}}`.
    The engine may hand a sink a request whose `params` and `request` are rendered when first
    read (`unrendered_request`): they read the same as if rendered at once.
    """

    rule_name: str
    action_type: str
    params: Mapping[str, Any]
    payload: bytes
    message: Message
    topic: str
    request: Mapping[str, Any] = field(default_factory=dict)
    output: Output | None = None
    is_error_action: bool = False
    depth: int = 0

    def __init__(
        self,
        rule_name: str,
        action_type: str,
        params: Mapping[str, Any],
        payload: bytes,
        message: Message,
        topic: str,
        request: Mapping[str, Any] | None = None,
        output: Output | None = None,
        is_error_action: bool = False,
        depth: int = 0,
    ) -> None:
        # Written into the instance's dict directly: a frozen dataclass's own __init__ calls
        # object.__setattr__ per field, which timeit showed several times slower.
        fields = self.__dict__
        fields["rule_name"] = rule_name
        fields["action_type"] = action_type
        fields["params"] = params
        fields["payload"] = payload
        fields["message"] = message
        fields["topic"] = topic
        fields["request"] = {} if request is None else request
        fields["output"] = output
        fields["is_error_action"] = is_error_action
        fields["depth"] = depth

    if not TYPE_CHECKING:  # (hidden from type checkers: a misspelt field stays an error)

        def __getattr__(self, name: str) -> Any:
            # Called only for an attribute the instance lacks: the `params` and `request` of a
            # request that a quiet publish handed over unrendered (ActionType.deliver made its
            # payload), rendered on their first read, from what `_unrendered` keeps: the action's
            # `render` and its constant parameters.
            fields = self.__dict__
            unrendered = fields.get("_unrendered")
            if unrendered is None or (name != "params" and name != "request"):
                if name in fields:  # another thread rendered it since this one looked
                    return fields[name]
                raise AttributeError(f"'ActionRequest' object has no attribute {name!r}")
            render, constant = unrendered
            output = fields["output"]
            params = dict(constant)
            _, request = render(params, output.to_bytes(), output, fields["message"])
            # (setdefault: of two threads reading it at once, the first one's request is kept)
            fields.setdefault("params", params)
            fields.setdefault("request", request)
            fields.pop("_unrendered", None)
            return fields[name]

    def __getstate__(self) -> dict[str, Any]:
        # A pickled or copied request carries its rendered request, not how to render it.
        if "_unrendered" in self.__dict__:
            self.request  # noqa: B018 (rendered by __getattr__)
        return dict(self.__dict__)

    def __repr__(self) -> str:  # one line, not the nested reprs of the message and request
        from iotsql.report_text import request_repr

        return request_repr(self)

    @property
    def body(self) -> Any:
        """The payload decoded as JSON when it is JSON, else the raw bytes. A body with NaN,
        Infinity or a number beyond a double's range is not JSON (AWS reads it as binary), nor
        one nested deeper than the decoder follows: the bytes, so that `to_json` stays JSON."""
        payload = self.payload
        try:
            # json.loads on bytes, with one decoder made once (json.loads with hooks makes a
            # new one per call: a microsecond per request replay writes).
            text = payload.decode(json.detect_encoding(payload), "surrogatepass")
            return _STRICT_JSON.decode(text)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return payload

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly view (what `iotsql replay` prints and the recording sinks keep)."""
        body = self.body
        if isinstance(body, bytes):
            body = {"base64": base64.b64encode(body).decode("ascii")}
        return {
            "rule": self.rule_name,
            "action": self.action_type,
            "errorAction": self.is_error_action,
            "topic": self.topic,
            "params": dict(self.params),
            "body": body,
            "request": _jsonable(self.request),
        }


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text} is beyond a double's range")
    return value


#: What ActionRequest.body reads JSON with: NaN, Infinity and numbers past a double are not JSON.
_STRICT_JSON = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite_float)


def unrendered_request(
    rule_name: str,
    action_type: str,
    payload: bytes,
    message: Message,
    topic: str,
    output: Output,
    render: Callable[..., tuple[bytes, Mapping[str, Any]]],
    constant: Mapping[str, Any],
    depth: int = 0,
) -> ActionRequest:
    """The ActionRequest of an action whose payload `ActionType.deliver` made: its `params` (a
    copy of `constant`) and its `request` (`render`'s) are made when first read. What a quiet
    publish hands to sinks (the engine sets these fields itself, without this call)."""
    request = object.__new__(ActionRequest)
    fields = request.__dict__
    fields["rule_name"] = rule_name
    fields["action_type"] = action_type
    fields["_unrendered"] = (render, constant)
    fields["payload"] = payload
    fields["message"] = message
    fields["topic"] = topic
    fields["output"] = output
    if depth:  # (else the class's default, as is_error_action's)
        fields["depth"] = depth
    return request


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@runtime_checkable
class Sink(Protocol):
    """Receives the requests of one action type. Raise to report a failure."""

    def __call__(self, request: ActionRequest) -> Any: ...


@dataclass(frozen=True)
class ActionType:
    """How AWS IoT performs one kind of action.

    `templated`: the parameters that accept `${...}` (dotted paths for nested ones, `*` for
    every string under a key); `render(params, payload, output, message)` returns the bytes the
    action delivers and the downstream request; `resource(params)` is the `failedResource` of an
    error-action message; `shape` its `failedAction` (`SqsAction`...).
    """

    name: str
    shape: str
    templated: frozenset[str]
    render: Callable[
        [Mapping[str, Any], bytes, Output | None, Message], tuple[bytes, Mapping[str, Any]]
    ]
    resource: Callable[[Mapping[str, Any]], str]
    supports_binary: bool = True
    summary: str = ""
    #: Parameters whose keys take templates too (InfluxDB's tag names).
    templated_keys: frozenset[str] = frozenset()
    #: For an action whose rendering depends on how its fields are written (InfluxDB leaves the
    #: attributes its templates name out of the fields): `bind(params, compiled)` returns the
    #: `render` of one action of one rule; `compiled` has the `${...}` templates compiled.
    bind: (
        Callable[
            [Mapping[str, Any], Mapping[str, Any]],
            Callable[
                [Mapping[str, Any], bytes, Output | None, Message],
                tuple[bytes, Mapping[str, Any]],
            ],
        ]
        | None
    ) = None
    #: Whether `render` also takes the rule's `region=` and `account_id=` (Step Functions names
    #: a state machine of the rule's own region, so its ARN depends on where the rule lives).
    located: bool = False
    #: `deliver(params, payload, output, message)`: the bytes `render` would deliver, raising
    #: the ValueError `render` would raise, without building the downstream request. Set on
    #: the types whose rendering can fail only where `deliver` checks (tests compare the two on
    #: every kind of payload): a quiet publish then leaves `ActionRequest.request` and `params`
    #: to be built when a sink first reads them (most sinks of tests read only the payload).
    deliver: Callable[[Mapping[str, Any], bytes, Output | None, Message], bytes] | None = None
    #: `verbatim_json(params)`: whether, with these parameters, `deliver` returns the body of an
    #: output value (JSON text, UTF-8) unchanged and never refuses it (SQS without base64, SNS,
    #: Lambda...); a quiet publish then hands that body on without the call.
    verbatim_json: Callable[[Mapping[str, Any]], bool] | None = None
