"""`HttpSink`: the sink that really performs the `http` rule action (and `salesforce`, which is
an HTTP POST too), with the standard library's urllib.

It executes the request the renderer built, `{"service": "http", "method": "POST", "url": ...,
"headers": [[name, value], ...], "body": bytes}`, the way the AWS IoT rules engine does
(https-rule-action.md, "HTTP action retry logic", and the HTTP action quotas):

- a request timeout of 3000 ms, for all the tries together: a try gets what is left of it,
  and there is no retry once it is spent;
- at most 2 retries (3 tries), only after a 429 or a 5xx status, and none when that
  response was larger than 16,384 bytes or the endpoint closed the connection;
- a 2xx status is success; anything else raises `HttpActionError` with the wording AWS IoT
  puts in error-action messages: `HttpAction failed to make a request to the specified
  endpoint. StatusCode: 500. Reason: Internal Server Error.`

Choices where AWS IoT's behaviour is not documented:

- redirects are not followed: a 3xx fails like any other non-2xx status;
- a failure without a status (connection refused, reset, timeout, TLS) raises with
  `Reason: <what happened>.` and no `StatusCode`;
- without a content-type header the body goes as `application/json` when it is JSON, else
  `application/octet-stream` (the documented default);
- retries are immediate (AWS documents no back-off).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import IO, Any, Final

from iotsql.actions.base import ActionRequest
from iotsql.actions.destinations import endpoint
from iotsql.errors import ActionError

__all__ = ["HttpActionError", "HttpSink"]

#: The HTTP action's request timeout (seconds), for all tries together.
DEFAULT_TIMEOUT: Final = 3.0
#: The HTTP action retries at most twice.
DEFAULT_RETRIES: Final = 2
#: No retry after a response larger than this (bytes); also the most of a body kept.
MAX_RETRY_RESPONSE_BYTES: Final = 16384

_FAILED: Final = "HttpAction failed to make a request to the specified endpoint."


class HttpActionError(ActionError):
    """The HTTP action failed. `status` and `reason` are the last response's (None when
    no response came back), `body` its first 16,384 bytes, `tries` the number of tries made."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        reason: str | None = None,
        body: bytes = b"",
        tries: int = 0,
    ) -> None:
        self.url = url
        self.status = status
        self.reason = reason
        self.body = body
        self.tries = tries
        super().__init__(message)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a 3xx as the response it is instead of following it."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def _default_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect())


def _reason(status: int, reason: str | None) -> str:
    if reason:
        return reason
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _content_type(body: bytes) -> str:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "application/octet-stream"
    return "application/json"


def _headers(raw: Any) -> list[tuple[str, str]]:
    if raw is None:
        return []
    items: Iterable[Any] = raw.items() if isinstance(raw, Mapping) else raw
    pairs: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, Mapping):
            name, value = item.get("key"), item.get("value")
        else:
            name, value = item
        pairs.append((str(name), "" if value is None else str(value)))
    return pairs


class HttpSink:
    """Executes `{"service": "http", "method", "url", "headers", "body"}` requests.

    `timeout`: seconds for all tries of one request together (AWS: 3000 ms); `retries`: the
    most retries after a 429 or 5xx (AWS: 2), or after the statuses `retryable` accepts;
    `opener`: a `urllib.request.OpenerDirector`
    (default: urllib's, with redirects not followed). Returns `{"status", "reason", "body"}`
    (the body's first 16,384 bytes); raises `HttpActionError` otherwise.
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        opener: urllib.request.OpenerDirector | None = None,
        retryable: Callable[[int], bool] | None = None,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.opener = opener if opener is not None else _default_opener()
        #: Which statuses are tried again (the HTTP action's: 429 and 5xx).
        self.retryable = retryable or _retryable

    def __call__(self, request: ActionRequest) -> dict[str, Any]:
        call = request.request
        url = call.get("url")
        if not isinstance(url, str) or not url:
            raise HttpActionError(f"{_FAILED} Reason: the request has no URL.", url=str(url))
        return self.send(
            url,
            method=str(call.get("method") or "POST"),
            headers=_headers(call.get("headers")),
            body=call.get("body", request.payload),
        )

    def send(
        self,
        url: str,
        *,
        method: str = "POST",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | str | None = b"",
    ) -> dict[str, Any]:
        """Send one HTTP action request with AWS's timeout and retry rules. A URL that is not
        a well-formed http(s) URL raises HttpActionError before anything is sent."""
        try:
            endpoint(url)
        except ValueError as err:
            raise HttpActionError(f"{_FAILED} Reason: {err}.", url=str(url)) from None
        data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        header_list = list(headers)
        if not any(name.lower() == "content-type" for name, _ in header_list):
            header_list.append(("Content-Type", _content_type(data)))

        deadline = time.monotonic() + self.timeout
        tries = 0
        while True:
            tries += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(url, tries - 1)
            try:
                req = urllib.request.Request(url, data=data, method=method.upper())
                for name, value in header_list:
                    req.add_header(name, value)
                with self.opener.open(req, timeout=remaining) as response:
                    status = int(response.status)
                    reason = _reason(status, response.reason)
                    content, oversized = _read_bounded(response)
            except urllib.error.HTTPError as err:
                status = int(err.code)
                reason = _reason(status, err.reason if isinstance(err.reason, str) else None)
                try:
                    content, oversized = _read_bounded(err)
                except (OSError, http.client.HTTPException):
                    content, oversized = b"", False
                finally:
                    err.close()
            except TimeoutError as err:
                raise self._timed_out(url, tries) from err
            except urllib.error.URLError as err:
                if isinstance(err.reason, TimeoutError):
                    raise self._timed_out(url, tries) from err
                raise HttpActionError(
                    f"{_FAILED} Reason: {_describe(err.reason)}.", url=url, tries=tries
                ) from err
            except (OSError, http.client.HTTPException, ValueError) as err:
                raise HttpActionError(
                    f"{_FAILED} Reason: {_describe(err)}.", url=url, tries=tries
                ) from err

            if 200 <= status < 300:
                return {"status": status, "reason": reason, "body": content}
            retryable = self.retryable(status)
            in_time = deadline - time.monotonic() > 0
            if retryable and not oversized and tries <= self.retries and in_time:
                continue
            raise HttpActionError(
                f"{_FAILED} StatusCode: {status}. Reason: {reason}.",
                url=url,
                status=status,
                reason=reason,
                body=content,
                tries=tries,
            )

    def _timed_out(self, url: str, tries: int) -> HttpActionError:
        return HttpActionError(
            f"{_FAILED} Reason: the request timed out after {round(self.timeout * 1000)} ms.",
            url=url,
            tries=tries,
        )


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _read_bounded(response: Any) -> tuple[bytes, bool]:
    """The first 16,384 bytes of a response body, and whether there was more."""
    content: bytes = response.read(MAX_RETRY_RESPONSE_BYTES + 1)
    oversized = len(content) > MAX_RETRY_RESPONSE_BYTES
    return content[:MAX_RETRY_RESPONSE_BYTES], oversized


def _describe(err: Any) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(err, ConnectionResetError):
        return "Connection reset by the endpoint"
    if isinstance(err, http.client.RemoteDisconnected):
        return "The endpoint closed the connection without a response"
    if isinstance(err, socket.gaierror):
        return f"Unknown host ({err.strerror or err})"
    if isinstance(err, OSError) and err.strerror:
        return str(err.strerror)
    return str(err) or type(err).__name__
