"""iotsql/topic_rule_api.py: the topic-rule operations of the IoT API over a RulesEngine, checked
against botocore's IoT model: every request is one botocore would send (ParamValidator on the
input shape), every response body is parsed by botocore's own rest-json parser with the output
shape, and every refusal carries the code and HTTP status the model gives the operation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.parsers import RestJSONParser
from botocore.session import get_session
from botocore.validate import ParamValidator

import iotsql
from iotsql.errors import HTTP_STATUS, IotSqlError, LimitExceededError
from iotsql.topic_rule_api import DEFAULT_MAX_RESULTS, OPERATIONS, handle

IOT = get_session().get_service_model("iot")
ROLE = "arn:aws:iam::123456789012:role/iot"
SQS = {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "roleArn": ROLE}}


def call(engine: iotsql.RulesEngine, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """`handle`, with the request checked against the input shape and the response parsed by
    botocore as a client would parse it."""
    model = IOT.operation_model(operation)
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()
    body = handle(engine, operation, request)
    if model.output_shape is None:
        assert body == {}
        return body
    response = {"status_code": 200, "headers": {}, "body": json.dumps(body).encode()}
    parsed = RestJSONParser().parse(response, model.output_shape)
    parsed.pop("ResponseMetadata", None)
    assert set(parsed) == set(body), "every member of the body is one of the output shape"
    return body


def refusal(engine: iotsql.RulesEngine, operation: str, request: dict[str, Any]) -> IotSqlError:
    with pytest.raises(IotSqlError) as caught:
        handle(engine, operation, request)
    return caught.value


def payload(sql: str = "SELECT * FROM 'sensors/+'", **more: Any) -> dict[str, Any]:
    return {"sql": sql, "awsIotSqlVersion": "2016-03-23", "actions": [SQS], **more}


def test_each_operation_answers_with_the_shapes_of_the_iot_model() -> None:
    engine = iotsql.RulesEngine()
    # (tags: the emulator's to keep)
    call(engine, "CreateTopicRule", {"ruleName": "Hot", "tags": "team=ops", "topicRulePayload":
         payload(errorAction=SQS, description="d")})  # fmt: skip
    got = call(engine, "GetTopicRule", {"ruleName": "Hot"})
    assert got["ruleArn"] == "arn:aws:iot:us-east-1:123456789012:rule/Hot"
    assert got["rule"]["errorAction"] == SQS and got["rule"]["description"] == "d"
    assert got["rule"]["createdAt"] == engine.rule("Hot").created_at  # epoch seconds
    call(engine, "ReplaceTopicRule", {"ruleName": "Hot", "topicRulePayload": payload(
        "SELECT * FROM 'other/#'")})  # fmt: skip
    assert engine.publish("other/a", b"{}").fired == ["Hot"]
    call(engine, "DisableTopicRule", {"ruleName": "Hot"})
    assert engine.publish("other/a", b"{}").fired == []
    assert call(engine, "GetTopicRule", {"ruleName": "Hot"})["rule"]["ruleDisabled"] is True
    call(engine, "EnableTopicRule", {"ruleName": "Hot"})
    assert engine.publish("other/a", b"{}").fired == ["Hot"]
    call(engine, "DeleteTopicRule", {"ruleName": "Hot"})
    assert engine.rules == {} and call(engine, "ListTopicRules", {}) == {"rules": []}
    assert set(OPERATIONS) == {"CreateTopicRule", "ReplaceTopicRule", "GetTopicRule",
                               "ListTopicRules", "DeleteTopicRule", "EnableTopicRule",
                               "DisableTopicRule", "CreateTopicRuleDestination",
                               "GetTopicRuleDestination", "ListTopicRuleDestinations",
                               "UpdateTopicRuleDestination", "DeleteTopicRuleDestination",
                               "ConfirmTopicRuleDestination"}  # fmt: skip


def test_list_topic_rules_filters_by_topic_and_state_and_pages_by_name() -> None:
    engine = iotsql.RulesEngine()
    for n in range(7):
        sql = "SELECT * FROM 'a/+'" if n % 2 else "SELECT * FROM 'b'"
        call(engine, "CreateTopicRule", {"ruleName": f"R{n}", "topicRulePayload": payload(
            sql, ruleDisabled=n % 3 == 0)})  # fmt: skip
    # No FROM: a rule for Basic Ingest only, listed without a topicPattern.
    call(engine, "CreateTopicRule", {"ruleName": "Ingest", "topicRulePayload": payload(
        "SELECT * ")})  # fmt: skip
    everything = call(engine, "ListTopicRules", {})
    assert [r["ruleName"] for r in everything["rules"]] == ["Ingest", *(f"R{n}" for n in range(7))]
    assert "nextToken" not in everything and "topicPattern" not in everything["rules"][0]
    assert everything["rules"][2] == {"ruleArn": engine.rule("R1").arn, "ruleName": "R1",
                                      "topicPattern": "a/+", "ruleDisabled": False,
                                      "createdAt": engine.rule("R1").created_at}  # fmt: skip
    a = call(engine, "ListTopicRules", {"topic": "a/+"})
    assert [r["ruleName"] for r in a["rules"]] == ["R1", "R3", "R5"]
    off = call(engine, "ListTopicRules", {"ruleDisabled": True, "topic": "b"})
    assert [r["ruleName"] for r in off["rules"]] == ["R0", "R6"]
    pages, request = [], {"maxResults": 3}
    while True:
        page = call(engine, "ListTopicRules", request)
        pages.append([r["ruleName"] for r in page["rules"]])
        if "nextToken" not in page:
            break
        if len(pages) == 1:  # a rule deleted and one created between pages shift nothing
            engine.delete_topic_rule("R1")
            engine.create_topic_rule("R9", payload())
        request = {"maxResults": 3, "nextToken": page["nextToken"]}
    assert pages == [["Ingest", "R0", "R1"], ["R2", "R3", "R4"], ["R5", "R6", "R9"]]
    assert call(engine, "ListTopicRules", {"maxResults": 9})["rules"][-1]["ruleName"] == "R9"
    assert DEFAULT_MAX_RESULTS == 1000


def test_refusals_carry_the_code_and_status_of_the_operation() -> None:
    engine = iotsql.RulesEngine()
    call(engine, "CreateTopicRule", {"ruleName": "R", "topicRulePayload": payload()})
    cases = [
        ("CreateTopicRule", {"ruleName": "R", "topicRulePayload": payload()},
         "ResourceAlreadyExistsException", 409),
        ("CreateTopicRule", {"ruleName": "S", "topicRulePayload": payload("SELECT FROM WHERE")},
         "SqlParseException", 400),
        ("CreateTopicRule", {"ruleName": "bad-name", "topicRulePayload": payload()},
         "InvalidRequestException", 400),
        ("CreateTopicRule", {"ruleName": "S", "topicRulePayload": {"sql": "SELECT * FROM 'a'"}},
         "InvalidRequestException", 400),
        ("CreateTopicRule", {"ruleName": "S"}, "InvalidRequestException", 400),
        ("CreateTopicRule", {"ruleName": "S", "topicRulePayload": "{}"},
         "InvalidRequestException", 400),
        ("ReplaceTopicRule", {"ruleName": "Nope", "topicRulePayload": payload()},
         "ResourceNotFoundException", 404),
        ("GetTopicRule", {"ruleName": "Nope"}, "ResourceNotFoundException", 404),
        ("GetTopicRule", {}, "InvalidRequestException", 400),
        ("DeleteTopicRule", {"ruleName": "Nope"}, "ResourceNotFoundException", 404),
        ("EnableTopicRule", {"ruleName": "Nope"}, "ResourceNotFoundException", 404),
        ("DisableTopicRule", {"ruleName": 7}, "InvalidRequestException", 400),
        ("ListTopicRules", {"maxResults": 0}, "InvalidRequestException", 400),
        ("ListTopicRules", {"maxResults": 10_001}, "InvalidRequestException", 400),
        ("ListTopicRules", {"maxResults": True}, "InvalidRequestException", 400),
        ("ListTopicRules", {"ruleDisabled": "yes"}, "InvalidRequestException", 400),
        ("ListTopicRules", {"nextToken": "%%%"}, "InvalidRequestException", 400),
    ]  # fmt: skip
    for operation, request, code, status in cases:
        err = refusal(engine, operation, request)
        assert (err.code, err.http_status) == (code, status), (operation, request, err)
    err = refusal(engine, "GetTopicRule", {})
    assert str(err) == "ruleName: is required"
    assert engine.rules.keys() == {"R"}
    with pytest.raises(ValueError, match="does not answer 'CreateThing'; it answers Create"):
        handle(engine, "CreateThing", {})


def test_a_refusal_whose_code_is_not_the_operations_takes_the_operations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CreateTopicRule has no LimitExceededException: a quota error of the payload is an
    InvalidRequestException there (iotsql.hosts.topic_rule_error_code), with its message."""
    engine = iotsql.RulesEngine()

    def over_a_quota(name: str, body: Any) -> None:
        raise LimitExceededError("SQL statement size (bytes)", 9, 8)

    monkeypatch.setattr(engine, "create_topic_rule", over_a_quota)
    err = refusal(engine, "CreateTopicRule", {"ruleName": "R", "topicRulePayload": payload()})
    assert (err.code, err.http_status) == ("InvalidRequestException", 400)
    assert str(err) == str(LimitExceededError("SQL statement size (bytes)", 9, 8))
    assert isinstance(err.__cause__, LimitExceededError)


def test_the_http_status_of_each_code_is_the_one_of_the_aws_iot_models() -> None:
    session = get_session()
    statuses: dict[str, int] = {}
    for service in ("iot", "iot-data"):
        model = session.get_service_model(service)
        for name in model.operation_names:
            for shape in model.operation_model(name).error_shapes:
                statuses[shape.name] = shape.metadata["error"]["httpStatusCode"]
    assert {code: statuses[code] for code in HTTP_STATUS if code in statuses} == HTTP_STATUS
    assert set(HTTP_STATUS) - set(statuses) == {"SqlParseException"} - set(statuses)
    assert iotsql.IotSqlError("no code").http_status == 400
    assert iotsql.ResourceNotFoundError("r").http_status == 404


@pytest.mark.parametrize(
    ("operation", "request_", "message"),
    [
        ("ListTopicRules", {"maxResults": "5"}, "maxResults: must be an integer, not '5'"),
        ("ListTopicRules", {"maxResults": 5.0}, "maxResults: must be an integer, not 5.0"),
        ("ListTopicRules", {"maxResults": 10**100}, "maxResults: must be from 1 to 10000"),
        ("ListTopicRules", {"nextToken": "x" * 1_000_000}, "nextToken: is not a token"),
        ("ListTopicRules", {"nextToken": "\ud800"}, "nextToken: is not a token"),
        ("CreateTopicRule", {"ruleName": "a/b", "topicRulePayload": payload()},
         "ruleName: does not match the pattern"),
        ("CreateTopicRule", {"ruleName": "R" * 129, "topicRulePayload": payload()},
         "ruleName: must have at most 128 characters"),
        ("CreateTopicRule", {"ruleName": "R\ud800", "topicRulePayload": payload()},
         "ruleName: does not match the pattern"),
        ("CreateTopicRule", {"ruleName": "S", "topicRulePayload": payload("SELECT * FROM 'a' WHERE " + "a = 1 AND " * 20_000 + "true")},
         "topicRulePayload: topic rule payload size (bytes) limit exceeded"),
        ("CreateTopicRule", {"ruleName": "S", "topicRulePayload": [payload()]},
         "topicRulePayload: must be a structure, not"),
    ],
)  # fmt: skip
def test_hostile_members_are_invalid_requests_naming_the_member(
    operation: str, request_: dict[str, Any], message: str
) -> None:
    err = refusal(iotsql.RulesEngine(), operation, request_)
    assert err.code == "InvalidRequestException" and str(err).startswith(message), str(err)


# ---- topic rule destinations ------------------------------------------------------------------

HOOK = {"httpUrlConfiguration": {"confirmationUrl": "https://example.com/hook"}}
VPC = {"vpcConfiguration": {"subnetIds": ["subnet-1"], "vpcId": "vpc-1", "roleArn": ROLE,
                            "securityGroups": ["sg-1"]}}  # fmt: skip
DESTINATION_ARN = re.compile(
    r"arn:aws:iot:us-east-1:123456789012:ruledestination/(http|vpc)/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


def test_destination_operations_answer_with_the_shapes_of_the_iot_model() -> None:
    engine = iotsql.RulesEngine()
    sent: list[Any] = []
    engine.destinations.on_confirmation = sent.append
    made = call(engine, "CreateTopicRuleDestination", {"destinationConfiguration": HOOK})
    http = made["topicRuleDestination"]
    assert DESTINATION_ARN.fullmatch(http["arn"]) and "/http/" in http["arn"]
    assert http["status"] == "IN_PROGRESS" and http["statusReason"].startswith(
        "Awaiting confirmation. Confirmation message sent on "
    )
    assert http["httpUrlProperties"] == {"confirmationUrl": "https://example.com/hook"}
    assert http["createdAt"] == http["lastUpdatedAt"]  # epoch seconds
    (confirmation,) = sent
    document = json.loads(confirmation.body)
    assert document["arn"] == http["arn"] and document["messageType"] == "DestinationConfirmation"
    assert document["enableUrl"] == ("https://iot.us-east-1.amazonaws.com/confirmdestination/"
                                     + confirmation.token)  # fmt: skip
    assert confirmation.url == f"https://example.com/hook?confirmationToken={confirmation.token}"
    assert dict(confirmation.headers)["x-amz-rules-engine-destination-arn"] == http["arn"]
    call(engine, "ConfirmTopicRuleDestination", {"confirmationToken": confirmation.token})
    got = call(engine, "GetTopicRuleDestination", {"arn": http["arn"]})["topicRuleDestination"]
    assert got["status"] == "ENABLED" and "statusReason" not in got
    vpc = call(engine, "CreateTopicRuleDestination", {"destinationConfiguration": VPC})
    vpc_arn = vpc["topicRuleDestination"]["arn"]
    assert "/vpc/" in vpc_arn and vpc["topicRuleDestination"]["status"] == "ENABLED"
    assert vpc["topicRuleDestination"]["vpcProperties"] == VPC["vpcConfiguration"]
    listed = call(engine, "ListTopicRuleDestinations", {})
    assert [d["arn"] for d in listed["destinationSummaries"]] == [http["arn"], vpc_arn]
    assert listed["destinationSummaries"][0]["httpUrlSummary"] == http["httpUrlProperties"]
    assert listed["destinationSummaries"][1]["vpcDestinationSummary"] == VPC["vpcConfiguration"]
    # ENABLED <-> DISABLED; asking for the state it is in changes nothing
    for status in ("DISABLED", "DISABLED", "ENABLED", "ENABLED"):
        call(engine, "UpdateTopicRuleDestination", {"arn": http["arn"], "status": status})
        assert engine.destinations.get(http["arn"]).status == status
    # IN_PROGRESS sends a new confirmation; the old token confirms nothing any more
    call(engine, "UpdateTopicRuleDestination", {"arn": http["arn"], "status": "IN_PROGRESS"})
    assert len(sent) == 2 and sent[1].token != confirmation.token
    assert refusal(engine, "ConfirmTopicRuleDestination", {
        "confirmationToken": confirmation.token}).code == "InvalidRequestException"  # fmt: skip
    call(engine, "ConfirmTopicRuleDestination", {"confirmationToken": sent[1].token})
    call(engine, "DeleteTopicRuleDestination", {"arn": http["arn"]})
    call(engine, "DeleteTopicRuleDestination", {"arn": vpc_arn})
    assert call(engine, "ListTopicRuleDestinations", {}) == {"destinationSummaries": []}


def test_destination_refusals_carry_the_code_and_status_of_the_operation() -> None:
    engine = iotsql.RulesEngine()
    arn = handle(engine, "CreateTopicRuleDestination", {"destinationConfiguration": HOOK})[
        "topicRuleDestination"]["arn"]  # fmt: skip
    token = engine.destinations.confirmation_request(arn).token
    both = {**HOOK, **VPC}
    cases = [
        ("CreateTopicRuleDestination", {"destinationConfiguration": HOOK},
         "ResourceAlreadyExistsException", 409),
        ("CreateTopicRuleDestination", {"destinationConfiguration": {"httpUrlConfiguration": {
            "confirmationUrl": "https://EXAMPLE.com:443/hook/"}}},
         "ResourceAlreadyExistsException", 409),
        ("CreateTopicRuleDestination", {"destinationConfiguration": both},
         "InvalidRequestException", 400),
        ("CreateTopicRuleDestination", {"destinationConfiguration": {}},
         "InvalidRequestException", 400),
        ("CreateTopicRuleDestination", {}, "InvalidRequestException", 400),
        ("CreateTopicRuleDestination", {"destinationConfiguration": {"httpUrlConfiguration": {
            "confirmationUrl": "https://example.com/${topic()}"}}},
         "InvalidRequestException", 400),
        ("CreateTopicRuleDestination", {"destinationConfiguration": {"httpUrlConfiguration": {
            "confirmationUrl": "ftp://example.com/"}}}, "InvalidRequestException", 400),
        ("CreateTopicRuleDestination", {"destinationConfiguration": {"vpcConfiguration": {
            "vpcId": "vpc-1", "roleArn": ROLE, "subnetIds": []}}},
         "InvalidRequestException", 400),
        ("UpdateTopicRuleDestination", {"arn": arn, "status": "ENABLED"},
         "ConflictingResourceUpdateException", 409),
        ("UpdateTopicRuleDestination", {"arn": arn, "status": "DISABLED"},
         "ConflictingResourceUpdateException", 409),
        ("UpdateTopicRuleDestination", {"arn": arn, "status": "ERROR"},
         "InvalidRequestException", 400),
        ("UpdateTopicRuleDestination", {"arn": arn, "status": "DELETING"},
         "InvalidRequestException", 400),
        ("UpdateTopicRuleDestination", {"arn": arn, "status": "enabled"},
         "InvalidRequestException", 400),
        ("UpdateTopicRuleDestination", {"arn": arn + "0", "status": "ENABLED"},
         "ResourceNotFoundException", 404),
        ("GetTopicRuleDestination", {"arn": arn + "0"}, "ResourceNotFoundException", 404),
        ("GetTopicRuleDestination", {}, "InvalidRequestException", 400),
        ("DeleteTopicRuleDestination", {"arn": "arn:aws:iot:x"}, "ResourceNotFoundException", 404),
        ("ConfirmTopicRuleDestination", {"confirmationToken": "never-sent"},
         "InvalidRequestException", 400),
        ("ListTopicRuleDestinations", {"maxResults": 0}, "InvalidRequestException", 400),
        ("ListTopicRuleDestinations", {"maxResults": 1001}, "InvalidRequestException", 400),
        ("ListTopicRuleDestinations", {"nextToken": "Ug=="}, "InvalidRequestException", 400),
    ]  # fmt: skip
    for operation, request, code, status in cases:
        err = refusal(engine, operation, request)
        assert (err.code, err.http_status) == (code, status), (operation, request, str(err))
        listed = {e.name for e in IOT.operation_model(operation).error_shapes}
        # ResourceNotFoundException: as for the rules (docs/hosts.md), the model lists none
        assert code in listed or code == "ResourceNotFoundException", (operation, code)
        assert HTTP_STATUS[code] == status
    handle(engine, "ConfirmTopicRuleDestination", {"confirmationToken": token})
    err = refusal(engine, "ConfirmTopicRuleDestination", {"confirmationToken": token})
    assert err.code == "ConflictingResourceUpdateException" and "already confirmed" in str(err)
    for n in range(5):  # AWS's quota: 5 VPC destinations per account and region
        handle(engine, "CreateTopicRuleDestination", {"destinationConfiguration": {
            "vpcConfiguration": {**VPC["vpcConfiguration"], "vpcId": f"vpc-{n}"}}})  # fmt: skip
    err = refusal(engine, "CreateTopicRuleDestination", {"destinationConfiguration": VPC})
    assert err.code == "InvalidRequestException" and "(5)" in str(err)
    vpc_arn = engine.destinations.list()[-1].arn
    err = refusal(engine, "UpdateTopicRuleDestination", {"arn": vpc_arn, "status": "IN_PROGRESS"})
    assert err.code == "InvalidRequestException" and "VPC" in str(err)


def test_list_topic_rule_destinations_pages_oldest_first() -> None:
    engine = iotsql.RulesEngine()
    arns = [
        handle(engine, "CreateTopicRuleDestination", {"destinationConfiguration": {
            "httpUrlConfiguration": {"confirmationUrl": f"https://h{n}.example.com/"}}})[
            "topicRuleDestination"]["arn"]
        for n in range(5)
    ]  # fmt: skip
    pages, request = [], {"maxResults": 2}
    while True:
        page = call(engine, "ListTopicRuleDestinations", request)
        pages.append([d["arn"] for d in page["destinationSummaries"]])
        if "nextToken" not in page:
            break
        if len(pages) == 1:  # the last one returned is deleted: the next page goes on after it
            engine.destinations.delete(arns[1])
        request = {"maxResults": 2, "nextToken": page["nextToken"]}
    assert pages == [arns[0:2], arns[2:4], arns[4:5]]
