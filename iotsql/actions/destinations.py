"""Where an HTTP action may send a message: under its confirmation URL (https-rule-action.md).

AWS sends an HTTP action only to a confirmed topic rule destination, the `confirmationUrl`:
"`url` must begin with `confirmationUrl`", and "if `url` contains a substitution template, you
must specify `confirmationUrl`". "Begin with" is checked on parsed URLs, never as text: the
text `http://127.0.0.1:1` begins `http://127.0.0.1:12000/x`, and `https://example.com` begins
`https://example.com.evil.net/`, yet neither is the same endpoint. A URL is under a
confirmation URL when both parse, their schemes, hosts and ports (the scheme's default when
absent) are the same, and the confirmation's path is a whole-segment prefix of the URL's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from iotsql.errors import RuleValidationError

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class Endpoint(NamedTuple):
    """The parts of an http(s) URL that say where a request goes."""

    scheme: str
    host: str
    port: int
    path: str


def endpoint(url: str) -> Endpoint:
    """The endpoint of an http(s) URL; ValueError (saying why) when it is not one: malformed,
    another scheme, no host, a port out of range, credentials in it."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as err:
        raise ValueError(f"malformed URL ({err})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {scheme or '(none)'!r}: only http and https")
    if not host:
        raise ValueError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL holds credentials (user@host)")
    return Endpoint(scheme, host.lower(), _DEFAULT_PORTS[scheme] if port is None else port,
                    parts.path or "/")  # fmt: skip


def is_under(url: str, confirmation: str) -> bool:
    """Whether `url` goes to the endpoint `confirmation` confirms (see the module docstring)."""
    try:
        target, confirmed = endpoint(url), endpoint(confirmation)
    except ValueError:
        return False
    return endpoint_is_under(target, confirmed)


def endpoint_is_under(target: Endpoint, confirmed: Endpoint) -> bool:
    """`is_under` on URLs already parsed (a caller that compares one URL with many)."""
    if (target.scheme, target.host, target.port) != (confirmed.scheme, confirmed.host,
                                                     confirmed.port):  # fmt: skip
        return False
    prefix = confirmed.path
    if prefix.endswith("/"):
        return target.path.startswith(prefix) or target.path == prefix.rstrip("/")
    return target.path == prefix or target.path.startswith(prefix + "/")


def check_destination(url: str, confirmation: str | None) -> None:
    """At send time: raise ValueError unless the rendered `url` may be sent to."""
    if confirmation is None:
        endpoint(url)
        return
    if not is_under(url, confirmation):
        raise ValueError(
            f"HttpAction failed: the url {url!r} is not under the confirmationUrl "
            f"{confirmation!r} (scheme, host, port and path prefix must match)"
        )


def check_http_action(params: Mapping[str, Any], path: str) -> None:
    """At CreateTopicRule: a `url` with substitution templates needs a `confirmationUrl`, and a
    `url` without them must be under the `confirmationUrl` given (RuleValidationError naming
    the field). What templates render is checked when the action runs."""
    url = params.get("url")
    confirmation = params.get("confirmationUrl")
    if not isinstance(url, str):
        return
    templated = "${" in url
    if confirmation is None or confirmation == "":
        if templated:
            raise RuleValidationError(
                "a url with substitution templates needs a confirmationUrl (a confirmed "
                "topic rule destination that the url begins with)",
                f"{path}.confirmationUrl",
            )
        return
    if not isinstance(confirmation, str) or templated or "${" in confirmation:
        return
    if not is_under(url, confirmation):
        raise RuleValidationError(
            f"the url {url!r} must begin with the confirmationUrl {confirmation!r} (same "
            "scheme, host and port, and a path under it)",
            f"{path}.url",
        )
