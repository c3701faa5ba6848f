"""Loading topic rules from infrastructure code: CloudFormation and SAM templates (YAML, JSON,
`cdk synth` output), serverless.yml, Terraform (.tf, .tf.json, `terraform show -json` of a state
and of a plan) and the AWS CLI's JSON; intrinsics, variables, placeholders, and the errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import iotsql
from iotsql.actions.schema import model
from iotsql.loaders import RuleSqlError, detect_format, load_rules

EXAMPLES = Path(__file__).resolve().parent / "data" / "aws_rule_action_examples.json"
ROLE = "arn:aws:iam::123456789012:role/IotRole"


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Writes a file in a temporary folder, the working directory, and returns its name (so
    error messages name `template.yaml`)."""
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return name

    return write


def payloads(rules: list[iotsql.LoadedRule]) -> dict[str, dict[str, Any]]:
    return {rule.name: rule.payload for rule in rules}


def error(exc: pytest.ExceptionInfo[BaseException]) -> str:
    return str(exc.value)


# ---- the AWS documentation's examples, as CloudFormation and as Terraform -----------------------


def _doc_examples() -> list[tuple[str, dict[str, Any]]]:
    """Every topicRulePayload of the AWS rule-action pages that CreateTopicRule accepts as
    written, kept in tests/testing/data (extracted once from the pages; three carry typos:
    `cannedacl`, a short Salesforce token, an unterminated string)."""
    data = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    return [(e["page"], e["topicRulePayload"]) for e in data["examples"]]


DOC_EXAMPLES = _doc_examples()


def _cloudformation(value: Any, shape: str) -> Any:
    """An API value spelled as CloudFormation spells it: member names with an upper-case first
    letter (`dynamoDBv2` -> `DynamoDBv2`), map keys as they are."""
    spec = model()[shape]
    if spec["type"] == "structure":
        members = spec["members"]
        return {
            k[0].upper() + k[1:]: _cloudformation(v, members[k]["shape"]) for k, v in value.items()
        }
    if spec["type"] == "list":
        return [_cloudformation(v, spec["member"]["shape"]) for v in value]
    return value


_TF_BLOCKS = {"headers": "http_header", "dimensions": "dimension"}


def _hcl(value: Any, shape: str, indent: str) -> list[str]:
    """The body of a Terraform block for an API value (nested structures and lists of them as
    blocks, maps as objects, `${` written `$${`)."""
    lines = []
    spec = model()[shape]
    for key, item in value.items():
        member = spec["members"][key]["shape"]
        kind = model()[member]["type"]
        name = _TF_BLOCKS.get(key, re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower())
        if shape == "KafkaAction" and key == "headers":
            name = "header"
        if kind == "structure":
            lines += [f"{indent}{name} {{", *_hcl(item, member, indent + "  "), f"{indent}}}"]
        elif kind == "list":
            element = model()[member]["member"]["shape"]
            for entry in item:
                lines += [f"{indent}{name} {{", *_hcl(entry, element, indent + "  "), f"{indent}}}"]
        elif kind == "map":
            pairs = ", ".join(f"{json.dumps(k)} = {_hcl_value(v)}" for k, v in item.items())
            lines.append(f"{indent}{name} = {{ {pairs} }}")
        else:
            lines.append(f"{indent}{name} = {_hcl_value(item)}")
    return lines


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value).replace("${", "$${")


_TF_ACTIONS = {"cloudwatchAlarm", "cloudwatchLogs", "cloudwatchMetric", "dynamoDB", "dynamoDBv2",
               "elasticsearch", "firehose", "http", "iotAnalytics", "iotEvents", "kafka",
               "kinesis", "lambda", "republish", "s3", "sns", "sqs", "stepFunctions",
               "timestream"}  # fmt: skip
#: The examples of actions the Terraform provider has a block for (not iotSiteWise, openSearch,
#: location, salesforce).
TF_EXAMPLES = [e for e in DOC_EXAMPLES if set(e[1]["actions"][0]) <= _TF_ACTIONS]


def test_the_documentation_examples_are_found() -> None:
    assert len(DOC_EXAMPLES) >= 24
    assert len(TF_EXAMPLES) >= 20


@pytest.mark.parametrize(("page", "payload"), DOC_EXAMPLES, ids=[e[0] for e in DOC_EXAMPLES])
def test_documented_payloads_round_trip_through_cloudformation(
    page: str, payload: dict[str, Any], write: Any
) -> None:
    template = {"Resources": {"Rule": {"Type": "AWS::IoT::TopicRule", "Properties": {
        "RuleName": "DocExample",
        "TopicRulePayload": _cloudformation(payload, "TopicRulePayload")}}}}  # fmt: skip
    as_yaml = load_rules(write("template.yaml", yaml.safe_dump(template, sort_keys=False)))
    as_json = load_rules(write("template.json", json.dumps(template)))
    assert payloads(as_yaml) == payloads(as_json) == {"DocExample": payload}


@pytest.mark.parametrize(("page", "payload"), TF_EXAMPLES, ids=[e[0] for e in TF_EXAMPLES])
def test_documented_payloads_round_trip_through_terraform(
    page: str, payload: dict[str, Any], write: Any
) -> None:
    (action,) = payload["actions"]
    (kind,) = action
    block = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", kind).lower()
    block = {"dynamo_d_b": "dynamodb", "dynamo_d_bv2": "dynamodbv2"}.get(block, block)
    text = "\n".join([
        'resource "aws_iot_topic_rule" "example" {',
        '  name        = "DocExample"',
        f"  sql         = {_hcl_value(payload['sql'])}",
        f"  sql_version = {_hcl_value(payload.get('awsIotSqlVersion', '2015-10-08'))}",
        f"  enabled     = {_hcl_value(not payload.get('ruleDisabled', False))}",
        f"  {block} {{", *_hcl(action[kind], model()["Action"]["members"][kind]["shape"], "    "),
        "  }", "}", "",
    ])  # fmt: skip
    (rule,) = load_rules(write("main.tf", text))
    expected = {"awsIotSqlVersion": "2015-10-08", **payload}
    assert rule.payload == expected
    assert rule.resource == "aws_iot_topic_rule.example"


# ---- CloudFormation -----------------------------------------------------------------------------

TOPIC_RULE_DOC_SHAPED = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  NameParameter:
    Type: String
    Default: TemperatureLog
  TableName:
    Type: String
Resources:
  MyRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: IotRole
      AssumeRolePolicyDocument: {}
  MyTopicRule:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: !Ref NameParameter
      TopicRulePayload:
        RuleDisabled: true
        Sql: SELECT temp FROM 'SomeTopic' WHERE temp > 60
        Actions:
          - DynamoDB:
              TableName: !Ref TableName
              HashKeyField: key
              HashKeyValue: "${topic(2)}"
              RangeKeyField: timestamp
              RangeKeyValue: "${timestamp()}"
              RoleArn: !GetAtt MyRole.Arn
"""


def test_a_template_shaped_like_the_cloudformation_reference(write: Any) -> None:
    (rule,) = load_rules(write("template.yaml", TOPIC_RULE_DOC_SHAPED),
                         parameters={"TableName": "Readings"})  # fmt: skip
    assert rule.name == "TemperatureLog"
    assert (rule.file, rule.resource, rule.format, rule.line) == (
        "template.yaml",
        "MyTopicRule",
        "cloudformation",
        14,
    )
    assert rule.source == "template.yaml: MyTopicRule (line 14)"
    assert rule.payload == {
        "ruleDisabled": True,
        "sql": "SELECT temp FROM 'SomeTopic' WHERE temp > 60",
        "actions": [{"dynamoDB": {
            "tableName": "Readings", "hashKeyField": "key", "hashKeyValue": "${topic(2)}",
            "rangeKeyField": "timestamp", "rangeKeyValue": "${timestamp()}", "roleArn": ROLE,
        }}],
    }  # fmt: skip
    assert rule.sql_version == "2015-10-08"
    assert rule.to_create_topic_rule() == {
        "ruleName": "TemperatureLog",
        "topicRulePayload": rule.payload,
    }


def test_a_parameter_without_default_or_value_is_named(write: Any) -> None:
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", TOPIC_RULE_DOC_SHAPED))
    assert exc.value.field == "template.yaml: Parameters.TableName"
    assert "parameters={'TableName': ...}" in error(exc)


CDK_SYNTH = {
    "Resources": {
        "AlertsQueue9DD1E2A4": {
            "Type": "AWS::SQS::Queue",
            "UpdateReplacePolicy": "Delete",
            "DeletionPolicy": "Delete",
            "Metadata": {"aws:cdk:path": "IotStack/AlertsQueue/Resource"},
        },
        "HandlerServiceRoleFCDC14AE": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Handler886CB40B": {
            "Type": "AWS::Lambda::Function",
            "Properties": {"Role": {"Fn::GetAtt": ["HandlerServiceRoleFCDC14AE", "Arn"]}},
        },
        "TopicRuleTopicRuleActionRole246C4F77": {"Type": "AWS::IAM::Role", "Properties": {}},
        "TopicRule40A4EA44": {
            "Type": "AWS::IoT::TopicRule",
            "Properties": {
                "TopicRulePayload": {
                    "Actions": [
                        {"Sqs": {"QueueUrl": {"Ref": "AlertsQueue9DD1E2A4"},
                                 "RoleArn": {"Fn::GetAtt": ["TopicRuleTopicRuleActionRole246C4F77", "Arn"]},
                                 "UseBase64": False}},
                        {"Lambda": {"FunctionArn": {"Fn::GetAtt": ["Handler886CB40B", "Arn"]}}},
                        {"Republish": {
                            "Qos": 1,
                            "RoleArn": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::",
                                                          {"Ref": "AWS::AccountId"}, ":role/republisher"]]},
                            "Topic": "$$aws/things/${topic(2)}/shadow/update",
                        }},
                    ],
                    "AwsIotSqlVersion": "2016-03-23",
                    "Description": {"Fn::Join": ["", ["alerts for ", {"Ref": "AWS::StackName"}]]},
                    "ErrorAction": {"CloudwatchLogs": {
                        "LogGroupName": {"Ref": "ErrorsLogGroup"},
                        "RoleArn": {"Fn::GetAtt": ["TopicRuleTopicRuleActionRole246C4F77", "Arn"]},
                    }},
                    "RuleDisabled": False,
                    "Sql": "SELECT topic(2) as device_id, temperature FROM 'device/+/data' WHERE temperature > 30",
                }
            },
            "Metadata": {"aws:cdk:path": "IotStack/TopicRule/Resource"},
        },
        "ErrorsLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/iot/errors"}},
        "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2:deflate64:H4sI"}},
    },
    "Parameters": {
        "BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                             "Default": "/cdk-bootstrap/hnb659fds/version"},
    },
    "Rules": {"CheckBootstrapVersion": {"Assertions": [{"Assert": {"Fn::Not": [{"Fn::Contains": [
        ["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}]}}]}},
}  # fmt: skip


def test_cdk_synth_output(write: Any) -> None:
    (rule,) = load_rules(write("IotStack.template.json", json.dumps(CDK_SYNTH, indent=1)))
    assert rule.name == "TopicRule40A4EA44"
    assert rule.format == "cloudformation"
    assert rule.payload["actions"] == [
        {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/AlertsQueue9DD1E2A4",
                 "roleArn": "arn:aws:iam::123456789012:role/TopicRuleTopicRuleActionRole246C4F77",
                 "useBase64": False}},
        {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:Handler886CB40B"}},
        {"republish": {"qos": 1, "roleArn": "arn:aws:iam::123456789012:role/republisher",
                       "topic": "$$aws/things/${topic(2)}/shadow/update"}},
    ]  # fmt: skip
    assert rule.payload["description"] == "alerts for IotsqlStack"
    assert rule.payload["errorAction"] == {"cloudwatchLogs": {"logGroupName": "/iot/errors",
        "roleArn": "arn:aws:iam::123456789012:role/TopicRuleTopicRuleActionRole246C4F77"}}  # fmt: skip


def test_region_account_and_stack_name_come_from_parameters(write: Any) -> None:
    (rule,) = load_rules(write("t.json", json.dumps(CDK_SYNTH)), parameters={
        "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "AWS::StackName": "prod"})  # fmt: skip
    sqs = rule.payload["actions"][0]["sqs"]
    assert sqs["queueUrl"] == "https://sqs.eu-west-1.amazonaws.com/111122223333/AlertsQueue9DD1E2A4"
    assert rule.payload["actions"][1]["lambda"]["functionArn"].startswith(
        "arn:aws:lambda:eu-west-1:111122223333:"
    )
    assert rule.payload["description"] == "alerts for prod"


def test_a_rule_named_after_the_stack_loads_without_a_stack_name(write: Any) -> None:
    # The AWS samples name rules `!Sub "${AWS::StackName}_Rule"` (aws-samples/aws-iot-core-lorawan,
    # six templates): the stack name iotsql assumes must be one a rule name can embed.
    template = """\
Resources:
  Forward:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: !Sub "${AWS::StackName}_ForwardTelemetry"
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        Sql: SELECT * FROM 'lorawan/+/up'
        Actions:
          - Republish: {Topic: out, RoleArn: arn:aws:iam::123456789012:role/r}
"""
    (rule,) = load_rules(write("template.yaml", template))
    assert rule.name == "IotsqlStack_ForwardTelemetry"
    (given,) = load_rules(write("template.yaml", template), parameters={"AWS::StackName": "prod"})
    assert given.name == "prod_ForwardTelemetry"


def test_the_engine_runs_a_cdk_template(write: Any) -> None:
    engine = iotsql.RulesEngine()
    (created,) = engine.load_rules(write("IotStack.template.json", json.dumps(CDK_SYNTH)))
    assert created.name == "TopicRule40A4EA44"
    report = engine.publish("device/d1/data", b'{"temperature": 31}')
    assert report.fired == ["TopicRule40A4EA44"]
    assert engine.recorder["sqs"].bodies == [{"device_id": "d1", "temperature": 31}]
    assert (
        engine.recorder["republish"].requests[0].params["topic"] == "$aws/things/d1/shadow/update"
    )


INTRINSICS = """\
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Threshold: {Type: Number, Default: 30}
  Zones: {Type: CommaDelimitedList, Default: "a, b, c"}
Mappings:
  Sizes:
    dev: {Qos: 0}
    prod: {Qos: 1}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  Either: !Or [!Condition IsProd, !Condition IsDev]
  Both: !And [!Condition IsProd, !Condition IsDev]
Resources:
  Queue: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "alerts-${Stage}"}}
  Topic: {Type: AWS::SNS::Topic}
  Stream: {Type: AWS::Kinesis::Stream, Properties: {Name: readings}}
  Role: {Type: AWS::IAM::Role, Properties: {RoleName: iot}}
  ProdOnlyRule:
    Type: AWS::IoT::TopicRule
    Condition: IsProd
    Properties:
      TopicRulePayload: {Sql: "SELECT * FROM 'p'", Actions: []}
  Rule:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: !Join ["_", [Rule, !Ref Stage]]
      TopicRulePayload:
        Description: !Select [1, !Split [",", "zero,one,two"]]
        AwsIotSqlVersion: 2016-03-23
        Sql: !Sub
          - "SELECT *, '${Stage}' AS stage FROM '${Prefix}/+/data' WHERE t > ${Threshold}"
          - Prefix: !Select [0, !Ref Zones]
        RuleDisabled: !If [Both, true, "false"]
        Actions:
          - Republish:
              Topic: !Sub "out/${AWS::Region}/${AWS::AccountId}/${!topic(2)}/${Queue.QueueName}"
              Qos: !FindInMap [Sizes, !Ref Stage, Qos]
              RoleArn: !GetAtt Role.Arn
          - Sqs:
              QueueUrl: !If [IsProd, !GetAtt Queue.QueueUrl, !Ref Queue]
              RoleArn: !Sub "${Role.Arn}"
              UseBase64: !If [IsProd, !Ref AWS::NoValue, !If [Either, "true", false]]
          - Kinesis:
              StreamName: !Ref Stream
              PartitionKey: "${topic(2)}-${newuuid()}"
              RoleArn: !ImportValue shared-role-arn
          - !If [IsProd, {Sns: {TargetArn: !Ref Topic, RoleArn: x}}, !Ref AWS::NoValue]
          - CloudwatchMetric:
              MetricNamespace: !Base64 iot
              MetricName: !Select [2, !GetAZs ""]
              MetricValue: !Select [1, !Cidr [10.0.0.0/16, 3, 8]]
              MetricUnit: Count
              RoleArn: !FindInMap [Sizes, staging, Role, {DefaultValue: !GetAtt Role.Arn}]
"""


def test_intrinsic_functions(write: Any) -> None:
    (rule,) = load_rules(write("template.yaml", INTRINSICS))
    assert rule.name == "Rule_dev"
    payload = rule.payload
    assert payload["description"] == "one"
    assert payload["awsIotSqlVersion"] == "2016-03-23"
    assert payload["sql"] == "SELECT *, 'dev' AS stage FROM 'a/+/data' WHERE t > 30"
    assert payload["ruleDisabled"] is False
    republish, sqs, kinesis, metric = (a[k] for a in payload["actions"] for k in a)
    assert republish == {"topic": "out/us-east-1/123456789012/${topic(2)}/alerts-dev", "qos": 0,
                         "roleArn": "arn:aws:iam::123456789012:role/iot"}  # fmt: skip
    assert sqs == {"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/alerts-dev",
                   "roleArn": "arn:aws:iam::123456789012:role/iot", "useBase64": True}  # fmt: skip
    assert kinesis == {"streamName": "readings", "partitionKey": "${topic(2)}-${newuuid()}",
                       "roleArn": "imported-shared-role-arn"}  # fmt: skip
    assert metric == {"metricNamespace": "aW90", "metricName": "us-east-1c",
                      "metricValue": "10.0.1.0/24", "metricUnit": "Count",
                      "roleArn": "arn:aws:iam::123456789012:role/iot"}  # fmt: skip


def test_conditions_and_parameters_change_what_is_loaded(write: Any) -> None:
    rules = load_rules(write("template.yaml", INTRINSICS), parameters={
        "Stage": "prod", "Zones": "eu,us", "Threshold": 40, "shared-role-arn": ROLE})  # fmt: skip
    assert [r.name for r in rules] == ["ProdOnlyRule", "Rule_prod"]
    payload = rules[1].payload
    assert payload["sql"] == "SELECT *, 'prod' AS stage FROM 'eu/+/data' WHERE t > 40"
    kinds = [next(iter(a)) for a in payload["actions"]]
    assert kinds == ["republish", "sqs", "kinesis", "sns", "cloudwatchMetric"]
    assert payload["actions"][1]["sqs"] == {  # AWS::NoValue removed useBase64
        "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/alerts-prod",
        "roleArn": "arn:aws:iam::123456789012:role/iot",
    }
    assert payload["actions"][2]["kinesis"]["roleArn"] == ROLE


def test_allowed_values_are_enforced(write: Any) -> None:
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", INTRINSICS), parameters={"Stage": "qa"})
    assert exc.value.field == "template.yaml: Parameters.Stage"
    assert "AllowedValues" in error(exc)


def _rule_template(payload: str, extra: str = "") -> str:
    return ("Resources:\n  Role: {Type: AWS::IAM::Role}\n" + extra +
            "  HighTempRule:\n    Type: AWS::IoT::TopicRule\n    Properties:\n"
            "      TopicRulePayload:\n" + "".join(f"        {line}\n" for line in payload.splitlines()))  # fmt: skip


def test_a_substitution_template_inside_sub_must_be_escaped(write: Any) -> None:
    text = _rule_template("""Sql: "SELECT * FROM 'a'"
Actions:
  - Republish: {Topic: !Sub "alerts/${topic(2)}", RoleArn: !GetAtt Role.Arn}""")
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", text))
    assert exc.value.field == (
        "template.yaml: Resources.HighTempRule.Properties.TopicRulePayload.Actions[0].Republish.Topic"
    )
    assert "write ${!topic(2)}" in error(exc)


def test_an_unknown_name_inside_sub_is_an_error(write: Any) -> None:
    text = _rule_template("""Sql: !Sub "SELECT * FROM '${deviceId}/data'"
Actions: []""")
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", text))
    assert (
        exc.value.field == "template.yaml: Resources.HighTempRule.Properties.TopicRulePayload.Sql"
    )
    assert "${deviceId} is neither a parameter nor a resource" in error(exc)
    assert "${!deviceId}" in error(exc)


def test_refs_and_getatts_to_nothing_are_errors(write: Any) -> None:
    with pytest.raises(
        iotsql.RuleValidationError, match="'Missing' is neither a parameter nor a resource"
    ):
        load_rules(write("a.yaml", _rule_template("Sql: !Ref Missing\nActions: []")))
    with pytest.raises(iotsql.RuleValidationError, match="'Missing' is not a resource"):
        load_rules(write("b.yaml", _rule_template("Sql: !GetAtt Missing.Arn\nActions: []")))
    with pytest.raises(iotsql.RuleValidationError, match="Fn::Transform cannot be evaluated"):
        load_rules(write("c.yaml", _rule_template("Sql: !Transform {Name: M}\nActions: []")))


# ---- errors in definitions ---------------------------------------------------------------------


def test_missing_sql_names_the_field(write: Any) -> None:
    text = _rule_template(
        "Actions:\n  - Lambda: {FunctionArn: arn:aws:lambda:us-east-1:1:function:f}"
    )
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", text))
    assert (
        exc.value.field == "template.yaml: Resources.HighTempRule.Properties.TopicRulePayload.Sql"
    )
    assert error(exc).endswith("is required")


def test_missing_payload_and_unknown_properties(write: Any) -> None:
    text = "Resources:\n  R:\n    Type: AWS::IoT::TopicRule\n    Properties: {RuleName: x}\n"
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", text))
    assert exc.value.field == "template.yaml: Resources.R.Properties.TopicRulePayload"
    text = "Resources:\n  R:\n    Type: AWS::IoT::TopicRule\n    Properties: {Payload: {}}\n"
    with pytest.raises(iotsql.RuleValidationError, match="unknown property of AWS::IoT::TopicRule"):
        load_rules(write("template.yaml", text))


def test_an_unknown_action_lists_the_known_ones(write: Any) -> None:
    text = _rule_template("Sql: \"SELECT * FROM 'a'\"\nActions:\n  - DynamoDbV3: {}")
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", text))
    assert exc.value.field == (
        "template.yaml: Resources.HighTempRule.Properties.TopicRulePayload.Actions[0].DynamoDbV3"
    )
    assert (
        "DynamoDBv2" in error(exc)
        and "CloudwatchAlarm" in error(exc)
        and "OpenSearch" in error(exc)
    )


def test_a_missing_required_action_field_is_named_in_the_template_spelling(write: Any) -> None:
    text = _rule_template(
        "Sql: \"SELECT * FROM 'a'\"\nActions:\n  - Sqs: {RoleArn: !GetAtt Role.Arn}"
    )
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", text))
    assert exc.value.field == (
        "template.yaml: Resources.HighTempRule.Properties.TopicRulePayload.Actions[0].Sqs.QueueUrl"
    )


def test_wrong_types_and_cloudformation_coercions(write: Any) -> None:
    text = _rule_template("""Sql: "SELECT * FROM 'a'"
RuleDisabled: "False"
Actions:
  - Republish: {Topic: t, Qos: "1", RoleArn: !GetAtt Role.Arn}
  - CloudwatchMetric: {MetricNamespace: n, MetricName: m, MetricValue: 1.5, MetricUnit: Count, RoleArn: r}""")
    (rule,) = load_rules(write("template.yaml", text))
    assert rule.payload["ruleDisabled"] is False
    assert rule.payload["actions"][0]["republish"]["qos"] == 1
    assert rule.payload["actions"][1]["cloudwatchMetric"]["metricValue"] == "1.5"
    bad = _rule_template(
        "Sql: \"SELECT * FROM 'a'\"\nActions:\n  - Republish: {Topic: t, Qos: high, RoleArn: r}"
    )
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("bad.yaml", bad))
    assert exc.value.field.endswith("Actions[0].Republish.Qos")
    assert "must be an integer" in error(exc)


def test_bad_sql_is_both_a_parse_error_and_a_validation_error(write: Any) -> None:
    text = _rule_template("Sql: SELECT a FROM my topic\nActions: []")
    with pytest.raises(RuleSqlError) as exc:
        load_rules(write("template.yaml", text))
    assert isinstance(exc.value, iotsql.SqlParseError)
    assert isinstance(exc.value, iotsql.RuleValidationError)
    assert (
        exc.value.field == "template.yaml: Resources.HighTempRule.Properties.TopicRulePayload.Sql"
    )
    assert (exc.value.line, exc.value.column) == (1, 18)
    where = exc.value.position
    assert where is not None and where.exact
    line = text.splitlines()[where.line - 1]
    assert line[where.column - 1 : where.end_column - 1] == "topic"
    assert error(exc).startswith(
        f"template.yaml:{where.line}:{where.column}: "
        "Resources.HighTempRule.Properties.TopicRulePayload.Sql: invalid SQL"
    )
    assert "^^^^^" in error(exc)


def test_the_engine_reports_errors_against_the_template_too(write: Any) -> None:
    text = _rule_template("Sql: SELECT a FROM my topic\nActions: []")
    with pytest.raises(iotsql.SqlParseError) as exc:
        iotsql.RulesEngine().load_rules(write("template.yaml", text))
    assert "Resources.HighTempRule.Properties.TopicRulePayload.Sql" in error(exc)
    engine = iotsql.RulesEngine()
    engine.load_rules(write("ok.yaml", _rule_template("Sql: \"SELECT * FROM 'a'\"\nActions: []")))
    with pytest.raises(iotsql.ResourceAlreadyExistsError, match=r"ok\.yaml: HighTempRule"):
        engine.load_rules("ok.yaml")
    assert [r.name for r in engine.load_rules("ok.yaml", replace=True)] == ["HighTempRule"]


def test_malformed_yaml_gives_the_line(write: Any) -> None:
    text = "Resources:\n  Rule:\n    Type: AWS::IoT::TopicRule\n    Properties:\n      - a\n     b: c\n"
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", text))
    assert exc.value.field == "template.yaml"
    assert re.search(r"invalid YAML: .* \(line 6, column \d+\)", error(exc))


def test_malformed_json_gives_the_line(write: Any) -> None:
    with pytest.raises(iotsql.RuleValidationError, match=r"invalid JSON: .*\(line 3, column"):
        load_rules(write("template.json", '{\n "Resources": {\n  "R": ,\n }\n}'))


def test_empty_missing_and_unrecognised_files(write: Any) -> None:
    with pytest.raises(iotsql.RuleValidationError, match="the file is empty"):
        load_rules(write("empty.yaml", "# nothing\n"))
    with pytest.raises(iotsql.RuleValidationError, match="no such file"):
        load_rules("missing.yaml")
    with pytest.raises(iotsql.RuleValidationError, match="cannot tell what this is"):
        load_rules(write("other.yaml", "kind: Deployment\nspec: {}\n"))
    with pytest.raises(ValueError, match="unknown format"):
        load_rules("x.yaml", "pulumi")


def test_two_rules_with_one_name(write: Any) -> None:
    text = ("Resources:\n"
            "  A: {Type: AWS::IoT::TopicRule, Properties: {RuleName: Same, TopicRulePayload: {Sql: \"SELECT 1 FROM 'a'\", Actions: []}}}\n"
            "  B: {Type: AWS::IoT::TopicRule, Properties: {RuleName: Same, TopicRulePayload: {Sql: \"SELECT 1 FROM 'b'\", Actions: []}}}\n")  # fmt: skip
    with pytest.raises(
        iotsql.RuleValidationError, match="the rule name Same is also used by A"
    ) as exc:
        load_rules(write("template.yaml", text))
    assert exc.value.field == "template.yaml: B"


def test_text_and_decoded_templates(write: Any) -> None:
    text = _rule_template("Sql: \"SELECT * FROM 'a'\"\nActions: []")
    (from_text,) = load_rules(text)
    assert (from_text.file, from_text.name) == ("<text>", "HighTempRule")
    (from_data,) = load_rules(yaml.safe_load(text))
    assert from_data.file == "<rules>"
    assert from_text.payload == from_data.payload == {"sql": "SELECT * FROM 'a'", "actions": []}


# ---- SAM ------------------------------------------------------------------------------------------

SAM = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
Resources:
  ThermostatFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: src/
      Events:
        HighTemp:
          Type: IoTRule
          Properties:
            Sql: "SELECT * FROM 'thermostats/+/reading' WHERE temperature > 28"
            AwsIotSqlVersion: "2016-03-23"
        Api:
          Type: Api
          Properties: {Path: /t, Method: get}
  NamedFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-doors"
      Handler: app.doors
      Events:
        Door:
          Type: IoTRule
          Properties:
            Sql: !Sub "SELECT * FROM 'doors/${AWS::Region}/+'"
"""


def test_sam_iot_rule_events(write: Any) -> None:
    rules = load_rules(write("template.yaml", SAM), parameters={"AWS::StackName": "home"})
    assert payloads(rules) == {
        "ThermostatFunctionHighTemp": {
            "sql": "SELECT * FROM 'thermostats/+/reading' WHERE temperature > 28",
            "awsIotSqlVersion": "2016-03-23",
            "ruleDisabled": False,
            "actions": [{"lambda": {
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ThermostatFunction"}}],
        },
        "NamedFunctionDoor": {
            "sql": "SELECT * FROM 'doors/us-east-1/+'",
            "ruleDisabled": False,
            "actions": [{"lambda": {
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:home-doors"}}],
        },
    }  # fmt: skip
    assert rules[0].format == "sam"
    assert rules[0].resource == "ThermostatFunction.Events.HighTemp"


def test_a_sam_event_without_sql(write: Any) -> None:
    text = SAM.replace(
        "            Sql: \"SELECT * FROM 'thermostats/+/reading' WHERE temperature > 28\"\n", ""
    )
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("template.yaml", text))
    assert exc.value.field == (
        "template.yaml: Resources.ThermostatFunction.Properties.Events.HighTemp.Properties.Sql"
    )


# ---- Serverless Framework ------------------------------------------------------------------------

SERVERLESS = """\
service: smart-home
frameworkVersion: "3"
provider:
  name: aws
  runtime: nodejs18.x
  stage: ${opt:stage, 'dev'}
  region: eu-central-1
custom:
  threshold: 30
  rulePrefix: smarthome
  topics:
    base: home/${sls:stage}
functions:
  thermostat:
    handler: handler.thermostat
    events:
      - http: {path: t, method: get}
      - iot:
          sql: "SELECT * FROM '${self:custom.topics.base}/+/temperature' WHERE value > ${self:custom.threshold}"
          sqlVersion: "2016-03-23"
          description: Too hot in ${self:service} (${ssm:/home/owner})
      - iot:
          name: ${self:custom.rulePrefix}_${self:provider.stage}_humidity
          sql: >
            SELECT * FROM '${self:custom.topics.base}/+/humidity'
            WHERE value > 80
          enabled: false
  door-bell:
    name: doorbell-${sls:stage}
    handler: handler.bell
    events:
      - iot:
          sql: "SELECT * FROM 'home/door' WHERE pressed = ${env:BELL_ENABLED, true}"
resources:
  Resources:
    AuditRule:
      Type: AWS::IoT::TopicRule
      Properties:
        RuleName: audit_${sls:stage}
        TopicRulePayload:
          Sql: "SELECT * FROM 'home/#'"
          Actions:
            - Lambda:
                FunctionArn: !GetAtt ThermostatLambdaFunction.Arn
            - Republish:
                Topic: audit/${topic()}
                RoleArn: !Sub "arn:aws:iam::${AWS::AccountId}:role/audit"
"""


def test_a_serverless_service(write: Any) -> None:
    rules = load_rules(write("serverless.yml", SERVERLESS), parameters={"ssm:/home/owner": "ann"})
    thermostat = "arn:aws:lambda:eu-central-1:123456789012:function:smart-home-dev-thermostat"
    assert [(r.name, r.resource) for r in rules] == [
        ("ThermostatIotTopicRule1", "functions.thermostat.events[1].iot"),
        ("smarthome_dev_humidity", "functions.thermostat.events[2].iot"),
        ("DoorDashbellIotTopicRule1", "functions.door-bell.events[0].iot"),
        ("audit_dev", "resources.Resources.AuditRule"),
    ]
    first, second, third, audit = (r.payload for r in rules)
    assert first == {
        "sql": "SELECT * FROM 'home/dev/+/temperature' WHERE value > 30",
        "awsIotSqlVersion": "2016-03-23",
        "description": "Too hot in smart-home (ann)",
        "ruleDisabled": False,
        "actions": [{"lambda": {"functionArn": thermostat}}],
    }
    assert second["sql"] == "SELECT * FROM 'home/dev/+/humidity' WHERE value > 80"
    assert second["ruleDisabled"] is True
    assert third["sql"] == "SELECT * FROM 'home/door' WHERE pressed = true"
    assert third["actions"][0]["lambda"]["functionArn"].endswith(":function:doorbell-dev")
    assert audit["actions"] == [
        {"lambda": {"functionArn": thermostat}},
        {
            "republish": {
                "topic": "audit/${topic()}",
                "roleArn": "arn:aws:iam::123456789012:role/audit",
            }
        },
    ]
    assert {r.format for r in rules} == {"serverless"}


def test_serverless_options_and_environment(write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELL_ENABLED", "false")
    rules = load_rules(write("serverless.yml", SERVERLESS), parameters={"stage": "prod"})
    assert rules[0].payload["sql"] == "SELECT * FROM 'home/prod/+/temperature' WHERE value > 30"
    assert rules[0].payload["description"] == "Too hot in smart-home (${ssm:/home/owner})"
    assert rules[1].name == "smarthome_prod_humidity"
    assert rules[2].payload["sql"] == "SELECT * FROM 'home/door' WHERE pressed = false"


def test_an_unresolvable_variable_in_the_sql_is_an_error(write: Any) -> None:
    text = SERVERLESS.replace("${self:custom.threshold}", "${ssm:/home/threshold}")
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("serverless.yml", text))
    assert exc.value.field == "serverless.yml: functions.thermostat.events[1].iot.sql"
    assert "${ssm:/home/threshold}" in error(exc)
    assert "parameters={'ssm:/home/threshold': ...}" in error(exc)
    (first, *_) = load_rules("serverless.yml", parameters={"ssm:/home/threshold": 25})
    assert first.payload["sql"].endswith("WHERE value > 25")


def test_a_serverless_iot_event_with_an_unknown_key(write: Any) -> None:
    text = "service: s\nprovider: {name: aws}\nfunctions:\n  f:\n    events:\n      - iot: {sql: \"SELECT 1 FROM 'a'\", topic: a}\n"
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("serverless.yml", text))
    assert exc.value.field == "serverless.yml: functions.f.events[0].iot.topic"


# ---- Terraform -----------------------------------------------------------------------------------

TERRAFORM_DOC_SHAPED = """\
resource "aws_iot_topic_rule" "rule" {
  name        = "MyRule"
  description = "Example rule"
  enabled     = true
  sql         = "SELECT * FROM 'topic/test'"
  sql_version = "2016-03-23"

  sns {
    message_format = "RAW"
    role_arn       = aws_iam_role.role.arn
    target_arn     = aws_sns_topic.mytopic.arn
  }

  error_action {
    sns {
      message_format = "RAW"
      role_arn       = aws_iam_role.role.arn
      target_arn     = aws_sns_topic.myerrortopic.arn
    }
  }
}

resource "aws_sns_topic" "mytopic" {
  name = "mytopic"
}

resource "aws_sns_topic" "myerrortopic" {
  name = "myerrortopic"
}

resource "aws_iam_role" "role" {
  name               = "myrole"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}
"""


def test_a_configuration_shaped_like_the_provider_documentation(write: Any) -> None:
    (rule,) = load_rules(write("main.tf", TERRAFORM_DOC_SHAPED))
    assert (rule.name, rule.file, rule.resource, rule.format) == (
        "MyRule",
        "main.tf",
        "aws_iot_topic_rule.rule",
        "terraform",
    )
    role = "arn:aws:iam::123456789012:role/myrole"
    assert rule.payload == {
        "sql": "SELECT * FROM 'topic/test'",
        "awsIotSqlVersion": "2016-03-23",
        "ruleDisabled": False,
        "description": "Example rule",
        "actions": [{"sns": {"messageFormat": "RAW", "roleArn": role,
                             "targetArn": "arn:aws:sns:us-east-1:123456789012:mytopic"}}],
        "errorAction": {"sns": {"messageFormat": "RAW", "roleArn": role,
                                "targetArn": "arn:aws:sns:us-east-1:123456789012:myerrortopic"}},
    }  # fmt: skip


MODULE = {
    "variables.tf": """\
variable "env" {
  type = string
}
variable "rooms" {
  type    = list(string)
  default = ["kitchen"]
}
variable "headers" {
  default = { "x-api-key" = "k1", "x-env" = "test" }
}
""",
    "main.tf": """\
locals {
  prefix = "home-${var.env}"
  table  = "${local.prefix}-readings"
}

data "aws_caller_identity" "me" {}
data "aws_region" "here" {}

resource "aws_dynamodb_table" "readings" {
  name     = local.table
  hash_key = "id"
}

resource "aws_iot_topic_rule" "per_room" {
  count       = length(var.rooms)
  name        = "room_${count.index}_${upper(var.env)}"
  enabled     = true
  sql         = format("SELECT * FROM 'home/%s/+'", var.rooms[count.index])
  sql_version = "2016-03-23"

  dynamodbv2 {
    put_item {
      table_name = aws_dynamodb_table.readings.name
    }
    role_arn = "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/${local.prefix}"
  }

  timestream {
    database_name = "home"
    table_name    = "readings"
    role_arn      = module.roles.timestream_arn
    dimension {
      name  = "device"
      value = "$${topic(3)}"
    }
    timestamp {
      unit  = "MILLISECONDS"
      value = "$${timestamp()}"
    }
  }

  http {
    url = "https://api.example.com/${data.aws_region.here.name}/ingest"
    dynamic "http_header" {
      for_each = var.headers
      content {
        key   = http_header.key
        value = http_header.value
      }
    }
  }
}

resource "aws_iot_topic_rule" "by_key" {
  for_each    = { alarm = "ALARM", ok = "OK" }
  name        = "state_${each.key}"
  enabled     = true
  sql         = <<-EOT
    SELECT * FROM 'alarms/${each.key}'
    WHERE level > 2
  EOT
  sql_version = "2016-03-23"

  cloudwatch_alarm {
    alarm_name   = "home"
    role_arn     = "arn:aws:iam::123456789012:role/cw"
    state_reason = "$${reason}"
    state_value  = each.value
  }
}
""",
    "terraform.tfvars": 'env = "test"\n',
    "extra.auto.tfvars": 'rooms = ["kitchen", "garage"]\n',
}


def test_a_terraform_module_folder(write: Any) -> None:
    for name, text in MODULE.items():
        write(f"infra/{name}", text)
    rules = load_rules("infra")
    names = [r.name for r in rules]
    assert names == ["room_0_TEST", "room_1_TEST", "state_alarm", "state_ok"]
    assert [r.resource for r in rules] == [
        "aws_iot_topic_rule.per_room[0]", "aws_iot_topic_rule.per_room[1]",
        'aws_iot_topic_rule.by_key["alarm"]', 'aws_iot_topic_rule.by_key["ok"]']  # fmt: skip
    room = rules[1].payload
    assert room["sql"] == "SELECT * FROM 'home/garage/+'"
    dynamo, http, timestream = (a[k] for a in room["actions"] for k in a)
    assert dynamo == {"putItem": {"tableName": "home-test-readings"},
                      "roleArn": "arn:aws:iam::123456789012:role/home-test"}  # fmt: skip
    assert http == {"url": "https://api.example.com/us-east-1/ingest",
                    "headers": [{"key": "x-api-key", "value": "k1"}, {"key": "x-env", "value": "test"}]}  # fmt: skip
    assert timestream == {
        "databaseName": "home", "tableName": "readings", "roleArn": "module.roles.timestream_arn",
        "dimensions": [{"name": "device", "value": "${topic(3)}"}],
        "timestamp": {"unit": "MILLISECONDS", "value": "${timestamp()}"},
    }  # fmt: skip
    alarm = rules[2].payload
    assert alarm["sql"] == "SELECT * FROM 'alarms/alarm'\nWHERE level > 2"
    assert alarm["actions"] == [{"cloudwatchAlarm": {"alarmName": "home",
        "roleArn": "arn:aws:iam::123456789012:role/cw", "stateReason": "${reason}",
        "stateValue": "ALARM"}}]  # fmt: skip


def test_terraform_variables_from_parameters(write: Any) -> None:
    for name, text in MODULE.items():
        write(f"infra/{name}", text)
    rules = load_rules("infra", parameters={"env": "prod", "rooms": ["attic"]})
    assert [r.name for r in rules] == ["room_0_PROD", "state_alarm", "state_ok"]
    assert rules[0].payload["sql"] == "SELECT * FROM 'home/attic/+'"


def test_a_variable_without_value_in_the_sql_is_an_error(write: Any) -> None:
    text = TERRAFORM_DOC_SHAPED.replace(
        "\"SELECT * FROM 'topic/test'\"", "\"SELECT * FROM '${var.topic}'\""
    )
    text += 'variable "topic" {\n  type = string\n}\n'
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("main.tf", text))
    assert exc.value.field == "main.tf: aws_iot_topic_rule.rule.sql"
    assert "${var.topic}" in error(exc)
    (rule,) = load_rules("main.tf", parameters={"topic": "a/b"})
    assert rule.payload["sql"] == "SELECT * FROM 'a/b'"


@pytest.mark.parametrize(
    "template", ["${topic(2)}", "${deviceId}", "${timestamp()}", "${state.reported.t}"]
)
def test_an_iot_template_must_be_escaped_in_hcl(write: Any, template: str) -> None:
    text = TERRAFORM_DOC_SHAPED.replace(
        "  sns {\n",
        f'  republish {{\n    topic = "out/{template}"\n    role_arn = "r"\n  }}\n  sns {{\n',
        1,
    )
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("main.tf", text))
    assert exc.value.field == "main.tf: aws_iot_topic_rule.rule.republish"
    assert f"write ${template}" in error(exc)


def test_terraform_errors(write: Any) -> None:
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(
            write("a.tf", TERRAFORM_DOC_SHAPED.replace('  sql_version = "2016-03-23"\n', ""))
        )
    assert exc.value.field == "a.tf: aws_iot_topic_rule.rule.sql_version"
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(
            write(
                "b.tf", TERRAFORM_DOC_SHAPED.replace("  sns {\n", "  sqs_fifo {\n  }\n  sns {\n", 1)
            )
        )
    assert exc.value.field == "b.tf: aws_iot_topic_rule.rule.sqs_fifo"
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(
            write(
                "c.tf",
                TERRAFORM_DOC_SHAPED.replace('message_format = "RAW"', 'message_format = "XML"', 1),
            )
        )
    assert exc.value.field == "c.tf: aws_iot_topic_rule.rule.sns[0].message_format"
    assert "must be one of RAW, JSON" in error(exc)
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("d.tf", 'resource "aws_iot_topic_rule" "r" {\n  name = \n}\n'))
    assert exc.value.field == "d.tf"
    assert re.search(r"invalid HCL: .* \(line 2, column 10\)$", error(exc))


def test_without_python_hcl2_the_message_says_what_to_install(
    write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "hcl2", None)
    with pytest.raises(iotsql.RuleValidationError, match=r"pip install 'iotsql\[terraform\]'"):
        load_rules(write("main.tf", TERRAFORM_DOC_SHAPED))


def test_terraform_json_configuration(write: Any) -> None:
    config = {
        "variable": {"threshold": {"default": 40}},
        "resource": {"aws_iot_topic_rule": {"hot": {
            "name": "Hot", "enabled": True, "sql_version": "2016-03-23",
            "sql": "SELECT * FROM 'a' WHERE t > ${var.threshold}",
            "lambda": [{"function_arn": "${aws_lambda_function.alert.arn}"}],
        }}, "aws_lambda_function": {"alert": {"function_name": "alerter"}}},
    }  # fmt: skip
    (rule,) = load_rules(write("main.tf.json", json.dumps(config)))
    assert rule.payload["sql"] == "SELECT * FROM 'a' WHERE t > 40"
    assert rule.payload["actions"] == [
        {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:alerter"}}
    ]


STATE = {
    "format_version": "1.0",
    "terraform_version": "1.7.5",
    "values": {"root_module": {
        "resources": [
            {"address": "aws_sqs_queue.q", "mode": "managed", "type": "aws_sqs_queue", "name": "q",
             "values": {"name": "q", "url": "https://sqs.us-east-1.amazonaws.com/1/q"}},
            {"address": "aws_iot_topic_rule.rule", "mode": "managed", "type": "aws_iot_topic_rule",
             "name": "rule", "provider_name": "registry.terraform.io/hashicorp/aws",
             "values": {
                 "arn": "arn:aws:iot:us-east-1:1:rule/MyRule", "id": "MyRule", "name": "MyRule",
                 "description": "", "enabled": True, "sql": "SELECT * FROM 'topic/test'",
                 "sql_version": "2016-03-23", "tags": None, "tags_all": {},
                 "cloudwatch_alarm": [], "cloudwatch_logs": [], "cloudwatch_metric": [],
                 "dynamodb": [{"hash_key_field": "id", "hash_key_type": "", "hash_key_value": "${topic()}",
                               "operation": "", "payload_field": "", "range_key_field": "",
                               "range_key_type": "", "range_key_value": "", "role_arn": ROLE,
                               "table_name": "t"}],
                 "dynamodbv2": [], "elasticsearch": [], "firehose": [], "http": [],
                 "iot_analytics": [], "iot_events": [], "kafka": [], "kinesis": [], "lambda": [],
                 "republish": [{"qos": 0, "role_arn": ROLE, "topic": "out"}], "s3": [],
                 "sns": [], "sqs": [{"queue_url": "https://sqs.us-east-1.amazonaws.com/1/q",
                                     "role_arn": ROLE, "use_base64": False}],
                 "step_functions": [], "timestream": [],
                 "error_action": [{"cloudwatch_alarm": [], "cloudwatch_logs": [
                     {"batch_mode": False, "log_group_name": "errors", "role_arn": ROLE}],
                     "sqs": [], "sns": []}],
             }},
        ],
        "child_modules": [{"address": "module.doors", "resources": [
            {"address": "module.doors.aws_iot_topic_rule.door[0]", "mode": "managed",
             "type": "aws_iot_topic_rule", "name": "door", "index": 0,
             "values": {"name": "Door", "enabled": False, "sql": "SELECT * FROM 'door'",
                        "sql_version": "2015-10-08", "lambda": [{"function_arn": "arn:f"}]}},
            {"address": "data.aws_iot_topic_rule.x", "mode": "data", "type": "aws_iot_topic_rule",
             "name": "x", "values": {"name": "NotMine"}},
        ]}],
    }},
}  # fmt: skip


def test_terraform_show_json_of_a_state(write: Any) -> None:
    rules = load_rules(write("state.json", json.dumps(STATE)))
    assert [(r.name, r.resource, r.format) for r in rules] == [
        ("MyRule", "aws_iot_topic_rule.rule", "terraform-json"),
        ("Door", "module.doors.aws_iot_topic_rule.door[0]", "terraform-json"),
    ]
    assert rules[0].payload == {
        "sql": "SELECT * FROM 'topic/test'", "awsIotSqlVersion": "2016-03-23", "ruleDisabled": False,
        "actions": [
            {"dynamoDB": {"hashKeyField": "id", "hashKeyValue": "${topic()}", "roleArn": ROLE, "tableName": "t"}},
            {"republish": {"qos": 0, "roleArn": ROLE, "topic": "out"}},
            {"sqs": {"queueUrl": "https://sqs.us-east-1.amazonaws.com/1/q", "roleArn": ROLE, "useBase64": False}},
        ],
        "errorAction": {"cloudwatchLogs": {"batchMode": False, "logGroupName": "errors", "roleArn": ROLE}},
    }  # fmt: skip
    assert rules[1].payload["ruleDisabled"] is True


def test_terraform_show_json_of_a_plan(write: Any) -> None:
    plan = {
        "format_version": "1.2",
        "variables": {"stage": {"value": "qa"}},
        "planned_values": {"root_module": {"resources": [
            {"address": "aws_sqs_queue.alerts", "mode": "managed", "type": "aws_sqs_queue",
             "name": "alerts", "values": {"name": "qa-alerts"}},
            {"address": "aws_iot_topic_rule.hot", "mode": "managed", "type": "aws_iot_topic_rule",
             "name": "hot", "values": {"name": "Hot", "enabled": True, "sql_version": "2016-03-23",
                                       "sql": "SELECT * FROM 'a'", "sqs": [{"use_base64": False}]}},
        ]}},
        "resource_changes": [{"address": "aws_iot_topic_rule.hot", "change": {
            "actions": ["create"], "after_unknown": {"arn": True, "id": True, "sqs": [
                {"queue_url": True, "role_arn": True}]}}}],
        "configuration": {"root_module": {"resources": [{
            "address": "aws_iot_topic_rule.hot", "expressions": {"sqs": [{
                "queue_url": {"references": ["aws_sqs_queue.alerts.url", "aws_sqs_queue.alerts"]},
                "role_arn": {"references": ["aws_iam_role.iot.arn", "aws_iam_role.iot"]},
            }]}}]}},
    }  # fmt: skip
    (rule,) = load_rules(write("plan.json", json.dumps(plan)))
    assert rule.payload["actions"] == [{"sqs": {
        "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/qa-alerts",
        "roleArn": "arn:aws:iam::123456789012:role/iot", "useBase64": False}}]  # fmt: skip


# ---- the AWS CLI's shapes, detection -------------------------------------------------------------


def test_the_aws_cli_shapes(write: Any) -> None:
    payload = {"sql": "SELECT * FROM 'a'", "actions": [], "awsIotSqlVersion": "2016-03-23"}
    get_output = {"ruleArn": "arn:aws:iot:us-east-1:1:rule/A", "rule": {"ruleName": "A", **payload}}
    create_input = {"ruleName": "B", "topicRulePayload": payload}
    rules = load_rules(write("rules.json", json.dumps([get_output, create_input])))
    assert [(r.name, r.format) for r in rules] == [("A", "aws-cli"), ("B", "aws-cli")]
    (rule,) = load_rules(write("rule.yaml", yaml.safe_dump(create_input)))
    assert rule.payload == payload
    bad = {
        "ruleName": "C",
        "topicRulePayload": {"sql": "SELECT * FROM 'a'", "actions": [{"sqs": {}}]},
    }
    with pytest.raises(iotsql.RuleValidationError) as exc:
        load_rules(write("bad.json", json.dumps(bad)))
    assert exc.value.field == "bad.json: C.topicRulePayload.actions[0].sqs.roleArn"


def test_detect_format() -> None:
    assert (
        detect_format({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}})
        == "cloudformation"
    )
    assert detect_format({"Transform": ["AWS::Serverless-2016-10-31"], "Resources": {}}) == "sam"
    assert detect_format({"service": "s", "functions": {}}) == "serverless"
    assert detect_format({}, "serverless.yml") == "serverless"
    assert detect_format({"format_version": "1.0", "values": {}}) == "terraform-json"
    assert detect_format({"resource": {}}, "main.tf.json") == "terraform"
    assert detect_format({"ruleName": "x", "topicRulePayload": {}}) == "aws-cli"
    assert detect_format([{"rule": {}}]) == "aws-cli"
    with pytest.raises(iotsql.RuleValidationError):
        detect_format({"apiVersion": "v1"})


def test_hcl_text_is_detected(write: Any) -> None:
    (rule,) = load_rules(TERRAFORM_DOC_SHAPED)
    assert (rule.file, rule.format) == ("<text>", "terraform")
    (rule,) = load_rules(write("rules.hcl", TERRAFORM_DOC_SHAPED), "terraform")
    assert rule.name == "MyRule"


# ---- what docs/testing.md ("What gets evaluated", "Placeholders") lists, each kept true -----------


def test_the_documented_cloudformation_intrinsics_and_placeholders(write: Any) -> None:
    # Fn::ToJsonString, Fn::Length and Fn::Base64 are evaluated; a log group's and a delivery
    # stream's ARNs are the placeholders of the table.
    write("template.yaml", """
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: rule-logs}
  Stream:
    Type: AWS::KinesisFirehose::DeliveryStream
  Rule:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        AwsIotSqlVersion: '2016-03-23'
        Sql: !Sub
          - "SELECT ${Json} AS j, ${Len} AS n, '${B64}' AS b FROM 'a'"
          - Json: !ToJsonString {k: [1, 2]}
            Len: !Length [x, y, z]
            B64: !Base64 hi
        Actions:
          - CloudwatchLogs: {LogGroupName: !Ref Logs, RoleArn: !GetAtt Logs.Arn}
          - Firehose: {DeliveryStreamName: !Ref Stream, RoleArn: !GetAtt Stream.Arn}
""")  # fmt: skip
    (rule,) = load_rules("template.yaml")
    assert rule.payload["sql"] == "SELECT {\"k\":[1,2]} AS j, 3 AS n, 'aGk=' AS b FROM 'a'"
    logs, firehose = rule.payload["actions"]
    assert logs["cloudwatchLogs"] == {
        "logGroupName": "rule-logs",
        "roleArn": "arn:aws:logs:us-east-1:123456789012:log-group:rule-logs:*",
    }
    assert firehose["firehose"]["roleArn"] == (
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/Stream"
    )


def test_the_documented_serverless_variables(write: Any) -> None:
    # ${strToBool(...)} with an option's fallback, ${aws:accountId}, and ${cf:...} from
    # `parameters` under its full text.
    write("serverless.yml", """
service: plant
provider:
  name: aws
functions:
  handler:
    handler: h.main
    events:
      - iot:
          sql: "SELECT '${aws:accountId}' AS account, '${cf:infra.Threshold}' AS t FROM 'a'"
          sqlVersion: '2016-03-23'
          enabled: ${strToBool(${opt:enabled, 'true'})}
""")  # fmt: skip
    (rule,) = load_rules("serverless.yml", parameters={"cf:infra.Threshold": "30"})
    assert rule.payload["sql"] == "SELECT '123456789012' AS account, '30' AS t FROM 'a'"
    assert rule.payload["ruleDisabled"] is False
    (off,) = load_rules("serverless.yml", parameters={"cf:infra.Threshold": "30",
                                                       "enabled": "false"})  # fmt: skip
    assert off.payload["ruleDisabled"] is True


def test_a_serverless_yml_is_read_with_yaml_1_2_booleans(write: Any) -> None:
    # The Serverless Framework parses serverless.yml with js-yaml, whose booleans are YAML
    # 1.2's (true/false): `on`, `off`, `yes` and `no` are strings there. PyYAML (YAML 1.1) made
    # the key `on` below the boolean True, so `${self:custom.on}` was "no custom.on".
    write("serverless.yml", """
service: plant
provider:
  name: aws
custom:
  on: false
  no: "SELECT 1 AS one FROM 'a'"
functions:
  handler:
    handler: h.main
    events:
      - iot:
          sql: ${self:custom.no}
          enabled: ${self:custom.on}
""")  # fmt: skip
    (rule,) = load_rules("serverless.yml")
    assert rule.payload["sql"] == "SELECT 1 AS one FROM 'a'"
    assert rule.payload["ruleDisabled"] is True
    # iotsql check reads it the same way (the file is parsed once to find its format).
    from iotsql.cli import main

    assert main(["check", "serverless.yml", "--format", "json", "--isolated"]) == 0


def test_the_documented_terraform_functions_and_data_sources(write: Any) -> None:
    # jsonencode, data.aws_partition.*.partition (AWS::Partition in parameters changes it)
    # and data.aws_caller_identity.*.account_id.
    write("main.tf", """
data "aws_partition" "p" {}
data "aws_caller_identity" "me" {}
resource "aws_iot_topic_rule" "r" {
  name        = "r"
  enabled     = true
  sql         = "SELECT '${data.aws_partition.p.partition}' AS p, '${data.aws_caller_identity.me.account_id}' AS a, ${jsonencode({k = [1, 2]})} AS j FROM 'a'"
  sql_version = "2016-03-23"
}
""")  # fmt: skip
    (rule,) = load_rules("main.tf")
    assert rule.payload["sql"] == (
        "SELECT 'aws' AS p, '123456789012' AS a, {\"k\":[1,2]} AS j FROM 'a'"
    )
    (china,) = load_rules("main.tf", parameters={"AWS::Partition": "aws-cn"})
    assert china.payload["sql"].startswith("SELECT 'aws-cn' AS p")
