"""Mistakes found by the fourth new-user audit (a developer debugging a query with `iotsql eval`
and the REPL): a rule that does not fire, or an item missing from the output, says why in the
terms of the mistake people make, not only "is false" or nothing at all."""

from __future__ import annotations

import pytest

from iotsql.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err.splitlines()


def test_an_equality_of_a_number_and_a_string_says_that_it_converts_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `temp = '31'` on {"temp": 31} only said "WHERE temp = '31' is false, not true", while
    # `temp > '30'` fires: the operators page lists = for two operands of one type only.
    status, _, err = run(
        capsys, "eval", "SELECT * FROM 'a' WHERE temp = '31'", "-p", '{"temp": 31}'
    )
    assert status == 1
    assert err == [
        "did not fire: WHERE temp = '31' is false, not true",
        "  temp = '31' is false: temp is the Int 31 and '31' is a String; = converts neither "
        "side, so values of different types are never equal (write temp = 31)",
    ]
    status, _, err = run(
        capsys, "eval", "SELECT * FROM 'a' WHERE d.t = 31", "-p", '{"d": {"t": "31"}}'
    )
    assert status == 1
    assert err[1] == (
        '  d.t = 31 is false: d.t is the String "31" and 31 is a number; = converts neither side, '
        "so values of different types are never equal (write cast(d.t AS Decimal) = 31, or "
        "d.t = '31')"
    )
    status, _, err = run(
        capsys, "eval", "SELECT * FROM 'a' WHERE 'true' = on", "-p", '{"on": true}'
    )
    assert err[1].endswith("(write on = true)")
    status, _, err = run(
        capsys, "eval", "SELECT * FROM 'a' WHERE on = true", "-p", '{"on": "true"}'
    )
    assert err[1].endswith("(write on = 'true')")
    # One type on both sides, or Int and Decimal (which = converts): nothing to add.
    status, _, err = run(capsys, "eval", "SELECT * FROM 'a' WHERE t = 3.5 OR s = 'x'",
                         "-p", '{"t": 3, "s": "y"}')  # fmt: skip
    assert (status, err) == (1, ["did not fire: WHERE t = 3.5 OR s = 'x' is false, not true"])


def test_a_context_function_written_without_parentheses_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `SELECT timestamp AS ts` reads the payload's key 'timestamp'; the note said only that
    # the payload has none.
    status, out, err = run(capsys, "eval", "SELECT timestamp AS ts, topic FROM 'a/b'", "-t", "a/b")
    assert (status, out) == (0, "{}\n")
    assert err == [
        "note: SELECT item ts is Undefined, so the output leaves it out: the payload has no key "
        "'timestamp' (did you mean timestamp(), the function?)",
        "note: SELECT item topic is Undefined, so the output leaves it out: the payload has no "
        "key 'topic' (did you mean topic(), the function?)",
    ]
    _, _, err = run(capsys, "eval", "SELECT tmestamp FROM 'a'", "-p", '{"timestamp": 1}')
    assert err[0].endswith("(did you mean timestamp?)")  # a key of the payload stays a key


def test_a_topic_level_that_does_not_exist_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    # topic(0) (levels count from 1), a level past the end and topic() without --topic were
    # left out of the output without a word.
    status, out, err = run(capsys, "eval", "SELECT topic(0) AS a, topic(3) AS b, topic(2) AS c "
                           "FROM 'x/+'", "-t", "x/y")  # fmt: skip
    assert (status, out) == (0, '{"c":"y"}\n')
    assert (
        err[0] == "sql:1:8: warning: topic(0) is always Undefined: topic levels are numbered from 1"
    )
    assert err[4:] == [
        "note: SELECT item a is Undefined, so the output leaves it out: topic(0) is Undefined: "
        "topic levels are numbered from 1 (topic(1) is 'x')",
        "note: SELECT item b is Undefined, so the output leaves it out: topic(3) is Undefined: "
        "the topic 'x/y' has 2 levels",
    ]
    _, _, err = run(capsys, "eval", "SELECT topic(3) AS b FROM 'x/#'", "-t", "$aws/rules/R/x/y")
    assert err[0].endswith("the topic 'x/y' has 2 levels")  # Basic Ingest: without the prefix
    status, _, err = run(capsys, "eval", "SELECT * FROM 'x/+' WHERE topic(-1) = 'x'", "-t", "x/y")
    assert status == 1
    assert err[-1] == "  topic(-1) is Undefined: topic levels are numbered from 1 (topic(1) is 'x')"
    _, _, err = run(capsys, "eval", "SELECT topic() AS t FROM 'x/+'")
    assert err == [
        "note: SELECT item t is Undefined, so the output leaves it out: topic() is Undefined: "
        "no topic was given (iotsql eval --topic, .topic in the REPL)"
    ]


def test_a_body_that_is_not_json_output_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    # SELECT * of an empty payload was said to be "SELECT VALUE of Undefined"; SELECT * of
    # [1, 2, 3] printed base64 with nothing saying why a JSON payload became a binary body;
    # SELECT VALUE of bytes that are no UTF-8 text printed nothing; SELECT VALUE of Undefined
    # said "empty body" twice.
    status, out, err = run(capsys, "eval", "SELECT * FROM 'a'", "-p", "", "-t", "a")
    assert (status, out) == (0, "")
    assert err[1:] == ["note: the output is an empty body: the payload is empty"]
    _, out, err = run(capsys, "eval", "SELECT * FROM 'a'", "-p", "[1, 2, 3]")
    assert out == "WzEsIDIsIDNd\n"
    assert err[1] == (
        "note: the payload is a JSON Array, not an object, so * passes its 9 bytes through "
        "unchanged, as a binary body, as AWS IoT does"
    )
    _, out, err = run(
        capsys, "eval", "SELECT VALUE decode(s, 'base64') FROM 'a'", "-p", '{"s": "AAH//g=="}'
    )
    assert out == ""
    assert err == [
        "note: the output is an empty body: the value of SELECT VALUE is binary data that is not "
        "UTF-8 text, which an output leaves out as an object leaves it out (docs/semantics.md)"
    ]
    _, out, err = run(capsys, "eval", "SELECT VALUE x FROM 'a'", "-p", "[1]")
    assert err == [
        "note: SELECT VALUE is Undefined, so the output is an empty body: the payload is "
        "Array, not an object"
    ]
    _, out, err = run(capsys, "eval", "SELECT VALUE sqrt(-1) FROM 'a'")
    assert err == ["note: SELECT VALUE is Undefined, so the output is an empty body"]


def test_the_repl_says_the_same(capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import io

    script = ('.payload {"t": "5"}\nSELECT * FROM \'a\' WHERE t = 5;\n'
              ".topic a\nSELECT topic(2) AS x FROM 'a';\n")  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    status, _, err = run(capsys, "repl")
    assert status == 0
    assert (
        '  t = 5 is false: t is the String "5" and 5 is a number; = converts neither side, '
        "so values of different types are never equal (write cast(t AS Decimal) = 5, or t = '5')"
        in err
    )
    assert ("note: SELECT item x is Undefined, so the output leaves it out: topic(2) is Undefined: "
            "the topic 'a' has 1 level") in err  # fmt: skip


def test_a_sink_registered_under_a_name_that_is_no_action_type_is_refused() -> None:
    # An emulator author wrote register_sink("dynamodb", ...) (boto3's spelling) and
    # register_sink("Lambda", ...) (CloudFormation's): both were accepted, never called, and
    # every DynamoDB and Lambda action went to the recorder without a word.
    import iotsql

    engine = iotsql.RulesEngine()
    with pytest.raises(ValueError, match=r"no action type 'Lambda'; did you mean lambda\?"):
        engine.register_sink("Lambda", print)
    with pytest.raises(ValueError, match=r"'cloudwatch_metric'; did you mean cloudwatchMetric\?"):
        iotsql.RulesEngine(sinks={"cloudwatch_metric": print})
    with pytest.raises(ValueError, match=r"no action type 'queue': action types are the keys"):
        engine.register_sink("queue", print)
    engine.register_sink("dynamoDBv2", print)  # the API's names are taken
    with pytest.raises(KeyError, match="did you mean sqs"):  # as the recorder already refused
        engine.recorder["SQS"]


def test_a_subscriber_that_cannot_take_topic_payload_context_is_refused() -> None:
    # A broker's own callbacks take (topic, body); given to engine.subscribe, one raised a
    # TypeError on every message, and a subscriber's failures are ignored: it heard nothing.
    import iotsql

    engine = iotsql.RulesEngine()
    heard: list[str] = []
    with pytest.raises(
        TypeError, match=r"callback\(topic, payload, context\); <lambda>\(topic, body\)"
    ):
        engine.subscribe("a/#", lambda topic, body: heard.append(topic))
    engine.subscribe("a/#", lambda topic, payload, context: heard.append(topic))
    engine.subscribe("a/#", lambda *args: None)  # what can take three arguments is taken
    engine.publish("a/b", b"{}")
    assert heard == ["a/b"]


def test_an_action_error_is_the_error_actions_error_message_as_written() -> None:
    # rule-error-handling.md's errorMessage is "Failed to put S3 object. The error received
    # was ..."; iotsql's boto3 and HTTP sinks raise ActionErrors in those words, but the error
    # action received "AwsActionError: Failed to ...", and an emulator author had no way to
    # give AWS's wording from a sink of their own.
    import iotsql
    from iotsql.errors import ActionError

    def gone(request: object) -> None:
        raise ActionError("Failed to call SendMessage. The error received was X")

    def broken(request: object) -> None:
        raise RuntimeError("disk full")

    engine = iotsql.RulesEngine(sinks={"sqs": gone, "sns": broken})
    role = "arn:aws:iam::1:role/r"
    engine.create_topic_rule("R", {"sql": "SELECT * FROM 'a'", "actions": [
        {"sqs": {"queueUrl": "https://q", "roleArn": role}},
        {"sns": {"targetArn": "arn:aws:sns:us-east-1:1:t", "roleArn": role}}],
        "errorAction": {"s3": {"bucketName": "b", "key": "k", "roleArn": role}}})  # fmt: skip
    report = engine.publish("a", b"{}")
    assert [a.error for a in report.rules[0].actions] == [
        "Failed to call SendMessage. The error received was X", "RuntimeError: disk full"]  # fmt: skip
    (document,) = engine.recorder["s3"].bodies
    assert [f["errorMessage"] for f in document["failures"]] == [
        "Failed to call SendMessage. The error received was X", "RuntimeError: disk full"]  # fmt: skip


def test_a_publish_over_128_kb_is_iot_datas_request_entity_too_large() -> None:
    # An emulator's iot-data Publish answered a body over 128 KB with LimitExceededException
    # and HTTP 410 (the control plane's code): the iot-data model has no such error, so a
    # boto3 client could not catch it by name; its error for this is RequestEntityTooLarge.
    from botocore.session import get_session

    import iotsql
    from iotsql.errors import LimitExceededError, PayloadTooLargeError

    engine = iotsql.RulesEngine()
    with pytest.raises(PayloadTooLargeError) as raised:
        engine.check_publish("a/b", b"x" * 131_073)
    err = raised.value
    assert (err.code, err.http_status) == ("RequestEntityTooLargeException", 413)
    assert isinstance(err, LimitExceededError) and err.limit == "payload size (bytes)"
    model = get_session().get_service_model("iot-data")
    assert model.shape_for(err.code).metadata["error"]["httpStatusCode"] == err.http_status
    with pytest.raises(PayloadTooLargeError):
        engine.publish("a/b", b"x" * 131_073)
    with pytest.raises(LimitExceededError) as deep:  # a topic limit keeps its code
        engine.check_publish("a/" * 8 + "b")
    assert deep.value.code == "LimitExceededException"


def test_a_payload_number_beyond_a_double_is_a_binary_body_with_its_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # {"n": 1e400} is no JSON to the engine (docs/semantics.md: numbers outside a double's
    # range), but eval read it with json.loads, as infinity: no note said the body was
    # binary, and `SELECT n` printed {} as if n were missing.
    status, out, err = run(capsys, "eval", "SELECT n FROM 'a'", "-p", '{"n": 1e400}')
    assert (status, out) == (0, "{}\n")
    assert err == [
        "note: the payload is not JSON (1e400 is out of the range of a double), so it is a "
        "binary body, as AWS IoT treats it: SELECT * passes its 12 bytes through and attributes "
        "read from it are Undefined"
    ]


def test_an_ordering_of_a_side_that_is_no_number_says_why_it_is_undefined(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A device that sends "n/a" for a reading: `WHERE temp > 30` was "Undefined, not true"
    # with nothing saying which side was not a number.
    status, _, err = run(
        capsys, "eval", "SELECT * FROM 'a' WHERE temp > 30", "-p", '{"temp": "n/a"}'
    )
    assert (status, err[1]) == (1, (
        '  temp > 30 is Undefined: temp is the String "n/a", not a number; > compares numbers, '
        "converting a String that holds one, and is Undefined for anything else"))  # fmt: skip
    _, _, err = run(
        capsys, "eval", "SELECT * FROM 'a' WHERE s.on <= 1", "-p", '{"s": {"on": true}}'
    )
    assert err[1].startswith(
        "  s.on <= 1 is Undefined: s.on is the Boolean true, not a number or a String;"
    )
    _, _, err = run(capsys, "eval", "SELECT * FROM 'a' WHERE t < 'high'", "-p", '{"t": 3}')
    assert err[1].startswith("  t < 'high' is Undefined: 'high' is a String, not a number;")
    # A String that holds a number is converted, as the engine converts it: nothing to say.
    status, _, err = run(capsys, "eval", "SELECT * FROM 'a' WHERE t > '5'", "-p", '{"t": "3e0"}')
    assert (status, err) == (1, ["did not fire: WHERE t > '5' is false, not true"])


def test_a_topic_that_misses_the_filter_by_a_known_habit_gets_a_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `FROM 'sensors/#'` for a message on `sensors` (an MQTT broker delivers it; AWS does
    # not, topics.md), a filter in another case, a trailing slash: "does not match" alone.
    status, _, err = run(capsys, "eval", "SELECT * FROM 'sensors/#'", "-t", "sensors")
    assert (status, err) == (1, [
        "did not fire: topic 'sensors' does not match the FROM filter 'sensors/#'",
        "  AWS IoT's 'sensors/#' takes the topics below 'sensors', not 'sensors' itself "
        "(topics.md: sensor/# does not receive sensor, though MQTT brokers often do): add a "
        "rule FROM 'sensors' for it, or publish below it",
    ])  # fmt: skip
    _, _, err = run(capsys, "eval", "SELECT * FROM 'Sensors/+'", "-t", "sensors/a")
    assert err[1] == "  topic names and filters are case-sensitive"
    _, _, err = run(capsys, "eval", "SELECT * FROM 'sensors/a/'", "-t", "sensors/a")
    assert err[1] == "  a leading or trailing / is a level of its own (an empty one)"
    _, _, err = run(capsys, "eval", "SELECT * FROM 'sensors/+'", "-t", "other/a")
    assert len(err) == 1
    _, _, err = run(capsys, "eval", "--explain", "SELECT * FROM 'Sensors/+'", "-t", "sensors/a")
    assert "        topic names and filters are case-sensitive" in err  # .explain says it too
