"""HttpSink against a real `http.server.ThreadingHTTPServer` on 127.0.0.1: what is delivered,
AWS's retry rules (at most 2 retries, only after 429 and 5xx, none after a response over
16,384 bytes, none once the 3000 ms request timeout is spent) and the failure messages."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from iotsql.actions.base import ActionRequest, Sink
from iotsql.actions.http import MAX_RETRY_RESPONSE_BYTES, HttpActionError, HttpSink
from iotsql.errors import ActionError
from iotsql.message import Message

TOPIC = "sensors/dev1/data"
PAYLOAD = b'{"device":"dev1","temp":21.5}'


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.lock = threading.Lock()

    def add(self, seen: Seen) -> None:
        with self.lock:
            self.requests.append(seen)

    def on(self, path: str) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


class Handler(BaseHTTPRequestHandler):
    """Answers by path: /ok 200, /status/<n> n, /flaky 500 then 200, /slow sleeps,
    /slow500 sleeps then 500, /big500 a 500 with a large body, /redirect 302."""

    recorder: Recorder
    counts: dict[str, int]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.recorder.add(
            Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        path = self.path
        with self.recorder.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            count = self.counts[path]
        if path == "/ok":
            self._reply(200, b"accepted")
        elif path.startswith("/status/"):
            self._reply(int(path.rsplit("/", 1)[1]), b"no")
        elif path == "/flaky":
            self._reply(500 if count == 1 else 200, b"")
        elif path == "/slow":
            time.sleep(10.0)
            self._reply(200, b"late")
        elif path == "/slow500":
            time.sleep(0.4)
            self._reply(500, b"")
        elif path == "/big500":
            self._reply(500, b"x" * (MAX_RETRY_RESPONSE_BYTES + 1))
        elif path == "/bigok":
            self._reply(200, b"y" * (MAX_RETRY_RESPONSE_BYTES * 2))
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._reply(404, b"")

    def _reply(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the sink gave up on a slow answer (timeout tests)
            pass

    do_POST = _handle
    do_PUT = _handle


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    handler = type("RecordingHandler", (Handler,), {"recorder": recorder, "counts": {}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    finally:
        httpd.shutdown()
        httpd.server_close()


def http_request(
    url: str,
    body: bytes = PAYLOAD,
    headers: list[list[str]] | None = None,
    method: str = "POST",
) -> ActionRequest:
    return ActionRequest(
        rule_name="rule1",
        action_type="http",
        params={"url": url},
        payload=body,
        message=Message(PAYLOAD, TOPIC),
        topic=TOPIC,
        request={
            "service": "http",
            "method": method,
            "url": url,
            "headers": headers or [],
            "body": body,
        },
    )


def test_success_delivers_method_headers_and_body(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    sink = HttpSink()
    assert isinstance(sink, Sink)
    headers = [["x-device", "dev1"], ["Content-Type", "application/vnd.iot+json"]]
    result = sink(http_request(f"{base}/ok", headers=headers))
    assert result == {"status": 200, "reason": "OK", "body": b"accepted"}
    [seen] = recorder.on("/ok")
    assert seen.method == "POST"
    assert seen.body == PAYLOAD
    assert seen.headers["x-device"] == "dev1"
    assert seen.headers["content-type"] == "application/vnd.iot+json"


def test_default_content_type(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    sink = HttpSink()
    sink(http_request(f"{base}/status/201"))
    sink(http_request(f"{base}/status/202", body=b"\x00\xff binary"))
    [json_request] = recorder.on("/status/201")
    [binary_request] = recorder.on("/status/202")
    assert json_request.headers["content-type"] == "application/json"
    assert binary_request.headers["content-type"] == "application/octet-stream"
    assert binary_request.body == b"\x00\xff binary"


def test_500_is_retried_twice_then_fails(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(HttpActionError) as info:
        HttpSink()(http_request(f"{base}/status/500"))
    assert str(info.value) == (
        "HttpAction failed to make a request to the specified endpoint. "
        "StatusCode: 500. Reason: Internal Server Error."
    )
    assert isinstance(info.value, ActionError)
    assert (info.value.status, info.value.tries) == (500, 3)
    assert len(recorder.on("/status/500")) == 3


def test_500_then_success(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    assert HttpSink()(http_request(f"{base}/flaky"))["status"] == 200
    assert len(recorder.on("/flaky")) == 2


def test_429_is_retried(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(HttpActionError, match=r"StatusCode: 429\. Reason: Too Many Requests\."):
        HttpSink()(http_request(f"{base}/status/429"))
    assert len(recorder.on("/status/429")) == 3


def test_retries_setting(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(HttpActionError):
        HttpSink(retries=0)(http_request(f"{base}/status/503"))
    assert len(recorder.on("/status/503")) == 1


def test_404_is_not_retried(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(HttpActionError) as info:
        HttpSink()(http_request(f"{base}/status/404"))
    assert str(info.value).endswith("StatusCode: 404. Reason: Not Found.")
    assert info.value.body == b"no"
    assert len(recorder.on("/status/404")) == 1


def test_large_error_response_is_not_retried(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(HttpActionError) as info:
        HttpSink()(http_request(f"{base}/big500"))
    assert info.value.status == 500
    assert len(info.value.body) == MAX_RETRY_RESPONSE_BYTES
    assert len(recorder.on("/big500")) == 1


def test_response_body_is_bounded(server: tuple[str, Recorder]) -> None:
    base, _ = server
    result = HttpSink()(http_request(f"{base}/bigok"))
    assert result["body"] == b"y" * MAX_RETRY_RESPONSE_BYTES


def test_redirect_is_a_failure(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(HttpActionError, match=r"StatusCode: 302\. Reason: Found\."):
        HttpSink()(http_request(f"{base}/redirect"))
    assert len(recorder.on("/redirect")) == 1


def test_timeout(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    started = time.monotonic()
    with pytest.raises(HttpActionError) as info:
        HttpSink(timeout=0.2)(http_request(f"{base}/slow"))
    assert time.monotonic() - started < 5.0  # the answer comes after 10 s
    assert str(info.value) == (
        "HttpAction failed to make a request to the specified endpoint. "
        "Reason: the request timed out after 200 ms."
    )
    assert info.value.status is None
    assert len(recorder.on("/slow")) == 1


def test_timeout_covers_all_tries(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    # Each try alone fits in the time-out (three tries of 0.4 s would end in the 500 status);
    # together they do not: the third one (or, on a loaded machine, the second) times out.
    with pytest.raises(HttpActionError, match="timed out after 1000 ms"):
        HttpSink(timeout=1.0)(http_request(f"{base}/slow500"))
    assert len(recorder.on("/slow500")) in (2, 3)


def test_connection_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HttpActionError) as info:
        HttpSink()(http_request(f"http://127.0.0.1:{port}/ok"))
    assert str(info.value) == (
        "HttpAction failed to make a request to the specified endpoint. Reason: Connection refused."
    )
    assert info.value.tries == 1


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1/x", ""])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(HttpActionError) as info:
        HttpSink()(http_request(url))
    assert info.value.tries == 0


def test_put_method(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    HttpSink()(http_request(f"{base}/status/200", method="PUT"))
    [seen] = recorder.on("/status/200")
    assert seen.method == "PUT"


def test_header_injection_is_refused(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(HttpActionError, match="Invalid header value"):
        HttpSink()(http_request(f"{base}/status/418", headers=[["x-a", "b\r\nx-b: c"]]))
    assert recorder.on("/status/418") == []
