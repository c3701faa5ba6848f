"""The rules engine's check of HTTP actions against topic rule destinations
(iotsql/topic_rule_destinations.py, docs/engine.md "Topic rule destinations"), with HttpSink
sending to a real `http.server` on 127.0.0.1 that also answers AWS's confirmation request the
way a web service does: it reads the token and calls ConfirmTopicRuleDestination."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import iotsql
import iotsql.topic_rule_destinations
from iotsql import topic_rule_api
from iotsql.actions.http import HttpSink
from iotsql.topic_rule_destinations import ConfirmationRequest

ROLE = "arn:aws:iam::123456789012:role/iot"


class Service:
    """A web service: records what it receives; confirms a destination with the token of the
    confirmation request when `engine` is set (as its owner would, by calling the API)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.confirmations: list[dict[str, Any]] = []
        self.engine: iotsql.RulesEngine | None = None
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.headers.get("x-amz-rules-engine-message-type")
                if kind == "DestinationConfirmation":
                    document = json.loads(body)
                    query = parse_qs(urlsplit(self.path).query)
                    assert query["confirmationToken"] == [document["confirmationToken"]]
                    service.confirmations.append(document)
                    if service.engine is not None:
                        topic_rule_api.handle(service.engine, "ConfirmTopicRuleDestination", {
                            "confirmationToken": document["confirmationToken"]})  # fmt: skip
                else:
                    service.received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    made = Service()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()
    thread.join()


@pytest.fixture
def fresh(service: Service) -> Service:
    service.received.clear()
    service.confirmations.clear()
    service.engine = None
    return service


def post(request: ConfirmationRequest) -> None:
    """How an emulator delivers AWS's confirmation request: HttpSink, AWS's timeout."""
    HttpSink(retries=0).send(request.url, method=request.method, headers=request.headers,
                             body=request.body)  # fmt: skip


def http_rule(engine: iotsql.RulesEngine, name: str, url: str, **more: Any) -> None:
    engine.create_topic_rule(name, {
        "sql": "SELECT * FROM 'in/#'", "actions": [{"http": {"url": url, **more}}],
        "errorAction": {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/e",
                                "roleArn": ROLE}},
    })  # fmt: skip


def outcome(report: iotsql.PublishReport) -> tuple[bool, str | None]:
    (rule,) = report.rules
    (action,) = rule.actions
    return action.ok, action.error


def test_by_default_http_actions_are_checked_once_a_destination_exists(fresh: Service) -> None:
    engine = iotsql.RulesEngine(sinks={"http": HttpSink(retries=0)})
    http_rule(engine, "Hook", f"{fresh.url}/data/in")
    # No destination: sent as before (existing users' HTTP actions keep working).
    assert outcome(engine.publish("in/a", b'{"n": 1}')) == (True, None)
    assert fresh.received == [("/data/in", b'{"n":1}')]
    # One destination, for another service: this URL is covered by none, so it fails, the
    # error action gets the message, and nothing reaches the service.
    engine.destinations.create({"httpUrlConfiguration": {"confirmationUrl": "https://x.test/"}})
    ok, error = outcome(engine.publish("in/a", b'{"n": 2}'))
    assert not ok and error is not None and "no topic rule destination covers" in error
    assert engine.recorder["sqs"].requests[0].payload  # the error action ran
    # A destination for the service, IN_PROGRESS until its owner confirms it.
    made = engine.destinations.create({"httpUrlConfiguration": {"confirmationUrl": fresh.url}})
    ok, error = outcome(engine.publish("in/a", b'{"n": 3}'))
    assert not ok and error is not None and "IN_PROGRESS" in error and made.arn in error
    engine.destinations.confirm(engine.destinations.confirmation_request(made.arn).token)
    assert outcome(engine.publish("in/a", b'{"n": 4}')) == (True, None)
    engine.destinations.update(made.arn, "DISABLED")
    ok, error = outcome(engine.publish("in/a", b'{"n": 5}'))
    assert not ok and error is not None and "DISABLED" in error
    assert [body for _, body in fresh.received] == [b'{"n":1}', b'{"n":4}']
    # The last destination deleted: unchecked again.
    for destination in engine.destinations.list():
        engine.destinations.delete(destination.arn)
    assert outcome(engine.publish("in/a", b'{"n": 6}')) == (True, None)
    (letter,) = engine.drain_dead_letters() or [None]  # the error action took every failure
    assert letter is None


def test_the_quiet_path_applies_the_check_as_soon_as_it_is_on() -> None:
    # Constant parameters and an instant sink (the recorder): the path a quiet publish takes
    # with a plan made before any destination existed.
    engine = iotsql.RulesEngine()
    http_rule(engine, "Hook", "https://hooks.example.com/in")
    engine.publish("in/a", b"{}", report=False)
    assert len(engine.recorder["http"].requests) == 1
    made = engine.destinations.create(
        {"httpUrlConfiguration": {"confirmationUrl": "https://hooks.example.com/"}}
    )
    engine.publish("in/a", b"{}", report=False)
    assert len(engine.recorder["http"].requests) == 1  # refused: IN_PROGRESS
    assert len(engine.recorder["sqs"].requests) == 1  # the error action
    engine.destinations.confirm(engine.destinations.confirmation_request(made.arn).token)
    engine.publish("in/a", b"{}", report=False)
    assert len(engine.recorder["http"].requests) == 2


def test_required_destinations_are_aws_behaviour_end_to_end(fresh: Service) -> None:
    """require_destinations=True: CreateTopicRule makes the IN_PROGRESS destination of the
    action's confirmation URL (AWS: "AWS IoT creates a topic rule destination"), AWS's
    confirmation request goes to the service, whose owner confirms it with the token."""
    engine = iotsql.RulesEngine(sinks={"http": HttpSink(retries=0)}, require_destinations=True)
    engine.destinations.on_confirmation = post
    ok, error = True, None
    http_rule(engine, "Early", f"{fresh.url}/a/in", confirmationUrl=f"{fresh.url}/a")
    (made,) = engine.destinations.list()
    assert made.confirmation_url == f"{fresh.url}/a" and made.status == "IN_PROGRESS"
    assert fresh.confirmations[0]["arn"] == made.arn  # delivered, not yet acted on
    ok, error = outcome(engine.publish("in/x", b"{}"))
    assert not ok and error is not None and "IN_PROGRESS" in error
    engine.delete_topic_rule("Early")
    # The owner confirms as the request arrives; a rule whose url is its confirmation URL.
    fresh.engine = engine
    http_rule(engine, "Hook", f"{fresh.url}/b")
    hook = [d for d in engine.destinations.list() if d.confirmation_url == f"{fresh.url}/b"]
    assert [d.status for d in hook] == ["ENABLED"]
    assert outcome(engine.publish("in/x", b'{"v": 1}')) == (True, None)
    assert fresh.received == [("/b", b'{"v":1}')]
    # A URL already covered makes no new destination; a templated one is the user's to make.
    engine.replace_topic_rule("Hook", {"sql": "SELECT * FROM 'in/#'", "actions": [
        {"http": {"url": f"{fresh.url}/b/deeper"}},
        {"http": {"url": f"{fresh.url}/c/${{topic(2)}}", "confirmationUrl": f"{fresh.url}/${{topic(2)}}"}},
    ]})  # fmt: skip
    assert len(engine.destinations.list()) == 2
    report = engine.publish("in/c", b"{}")
    (rule,) = report.rules
    assert [a.ok for a in rule.actions] == [True, False]
    assert "no topic rule destination covers" in (rule.actions[1].error or "")


def test_a_confirmation_that_cannot_be_delivered_puts_the_destination_in_error() -> None:
    engine = iotsql.RulesEngine()
    engine.destinations.on_confirmation = post
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        url = f"http://127.0.0.1:{closed.server_address[1]}/gone"
    made = engine.destinations.create({"httpUrlConfiguration": {"confirmationUrl": url}})
    current = engine.destinations.get(made.arn)
    assert current.status == "ERROR" and "not delivered" in (current.status_reason or "")
    with pytest.raises(iotsql.IotSqlError) as err:
        engine.destinations.confirm(made.confirmation_token or "")
    assert err.value.code == "InvalidRequestException"
    with pytest.raises(iotsql.IotSqlError) as err:
        engine.destinations.update(made.arn, "ENABLED")
    assert "is ERROR" in str(err.value) and "IN_PROGRESS sends a new one" in str(err.value)
    engine.destinations.on_confirmation = None  # the emulator will confirm by hand this time
    again = engine.destinations.update(made.arn, "IN_PROGRESS")
    assert again.status == "IN_PROGRESS" and again.confirmation_token != made.confirmation_token
    assert engine.destinations.confirm(again.confirmation_token or "").status == "ENABLED"


def test_the_most_specific_destination_governs_a_url() -> None:
    engine = iotsql.RulesEngine(require_destinations=False)
    store = engine.destinations
    assert store.refusal("https://h.example.com/a/x") is None  # never checked: not enforced
    assert not store.enforced
    store.required = None
    wide = store.create({"httpUrlConfiguration": {"confirmationUrl": "https://h.example.com/"}})
    narrow = store.create({"httpUrlConfiguration": {"confirmationUrl": "https://h.example.com/a"}})
    assert store.enforced
    for made in (wide, narrow):
        store.confirm(made.confirmation_token or "")
    store.update(narrow.arn, "DISABLED")
    assert "DISABLED" in (store.refusal("https://h.example.com/a/x") or "")
    assert store.refusal("https://h.example.com/ab") is None  # whole path segments only
    assert store.refusal("https://h.example.com/b") is None
    assert store.refusal("https://h.example.com.evil.test/") is not None
    # the action's confirmation URL picks the destination, as on AWS
    assert store.refusal("https://h.example.com/a/x", "https://h.example.com/") is None


def test_a_refused_action_without_error_action_is_a_dead_letter_kept_whole() -> None:
    engine = iotsql.RulesEngine(require_destinations=True)
    engine.create_topic_rule("Hook", {"sql": "SELECT * FROM 'in/#'",
                                      "actions": [{"http": {"url": "https://h.example.com/in"}}]})  # fmt: skip
    (made,) = engine.destinations.list()
    report = engine.publish("in/a", b'{"v": 1}')
    assert not report.rules[0].actions[0].ok and engine.recorder["http"].requests == []
    (letter,) = engine.drain_dead_letters()
    (request,) = letter.requests
    assert request.request["url"] == "https://h.example.com/in" and request.payload == b'{"v":1}'
    assert "IN_PROGRESS" in letter.failures[0].error
    # a confirmation that timed out, as the emulator reports it; the enableUrl's endpoint
    engine.destinations.fail_confirmation(made.arn, "Confirmation timed out")
    failed = engine.destinations.get(made.arn)
    assert (failed.status, failed.status_reason) == ("ERROR", "Confirmation timed out")
    assert "ERROR" in (engine.destinations.refusal("https://h.example.com/in") or "")
    own = iotsql.topic_rule_destinations.TopicRuleDestinations(
        "1", "eu-west-1", enable_endpoint="http://localhost:4566/"
    )
    again = own.create({"httpUrlConfiguration": {"confirmationUrl": "https://a.example.com/?k=v"}})
    request_sent = own.confirmation_request(again.arn)
    assert json.loads(request_sent.body)["enableUrl"] == (
        f"http://localhost:4566/confirmdestination/{again.confirmation_token}"
    )
    assert (
        request_sent.url
        == f"https://a.example.com/?k=v&confirmationToken={again.confirmation_token}"
    )
    assert again.arn.startswith("arn:aws:iot:eu-west-1:1:ruledestination/http/")


def test_the_quotas_and_the_url_length_are_invalid_requests() -> None:
    store = iotsql.topic_rule_destinations.TopicRuleDestinations(max_destinations=2)
    assert iotsql.topic_rule_destinations.MAX_DESTINATIONS == 1000
    for n in range(2):
        store.create({"httpUrlConfiguration": {"confirmationUrl": f"https://h{n}.example.com/"}})
    with pytest.raises(iotsql.IotSqlError) as over:
        store.create({"httpUrlConfiguration": {"confirmationUrl": "https://h2.example.com/"}})
    assert over.value.code == "InvalidRequestException" and "(2)" in str(over.value)
    longest = "https://h.example.com/" + "a" * (2000 - len("https://h.example.com/"))
    with pytest.raises(iotsql.IotSqlError) as too_long:
        iotsql.topic_rule_destinations.TopicRuleDestinations().create(
            {"httpUrlConfiguration": {"confirmationUrl": longest + "a"}}
        )
    assert too_long.value.code == "InvalidRequestException" and "2000" in str(too_long.value)
    assert (
        iotsql.topic_rule_destinations.TopicRuleDestinations()
        .create({"httpUrlConfiguration": {"confirmationUrl": longest}})
        .status
        == "IN_PROGRESS"
    )
