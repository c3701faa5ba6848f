"""Broker URLs: `mqtt://`, `mqtts://` (TLS), `ws://` and `wss://` (MQTT over WebSocket, the
path in the URL), with an optional `user:password@`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from iotsql.errors import IotSqlError

#: scheme -> (transport, TLS, default port)
SCHEMES = {
    "mqtt": ("tcp", False, 1883),
    "mqtts": ("tcp", True, 8883),
    "ws": ("websockets", False, 80),
    "wss": ("websockets", True, 443),
}


class BrokerUrlError(IotSqlError):
    """A broker URL the bridge cannot use."""

    code = "InvalidRequestException"


@dataclass(frozen=True)
class BrokerUrl:
    scheme: str
    host: str
    port: int
    path: str = "/mqtt"
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, text: str) -> BrokerUrl:
        if "://" not in text:
            raise BrokerUrlError(
                f"broker URL {text!r} has no scheme: use mqtt://HOST[:PORT], mqtts://, "
                "ws://HOST[:PORT]/PATH or wss://"
            )
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise BrokerUrlError(
                f"broker URL {text!r}: unknown scheme {parts.scheme!r}; "
                f"expected one of {', '.join(s + '://' for s in SCHEMES)}"
            )
        try:
            port = parts.port
        except ValueError:
            raise BrokerUrlError(f"broker URL {text!r}: the port is not a number") from None
        if not parts.hostname:
            raise BrokerUrlError(f"broker URL {text!r} names no host")
        transport, _, default_port = SCHEMES[scheme]
        if transport == "tcp" and parts.path not in ("", "/"):
            raise BrokerUrlError(
                f"broker URL {text!r}: a path only means something for ws:// and wss://"
            )
        path = parts.path or "/mqtt"
        if parts.query:
            path = f"{path}?{parts.query}"
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port or default_port,
            path=path,
            username=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    @property
    def transport(self) -> str:
        return SCHEMES[self.scheme][0]

    @property
    def tls(self) -> bool:
        return SCHEMES[self.scheme][1]

    def __str__(self) -> str:
        """The URL without the password."""
        user = f"{self.username}@" if self.username else ""
        path = self.path if self.transport == "websockets" else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}{path}"
