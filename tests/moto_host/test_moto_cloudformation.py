"""`AWS::IoT::TopicRule` in moto's CloudFormation while iotsql is installed: a stack's rules are
created (validated, and live), replaced on update, deleted with the stack; a refused rule fails
the stack as CloudFormation does."""

from __future__ import annotations

import json
import warnings

import pytest
from botocore.exceptions import ClientError
from moto_support import REGION, Clients, bodies, boto3, moto

import iotsql.moto

TEMPLATE = """\
Parameters:
  Threshold: {Type: Number, Default: 30}
Resources:
  Alerts:
    Type: AWS::SQS::Queue
    Properties: {QueueName: alerts}
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: iot
      AssumeRolePolicyDocument: {Statement: [{Effect: Allow, Principal: {Service: iot.amazonaws.com}, Action: "sts:AssumeRole"}]}
  HighTemp:
    Type: AWS::IoT::TopicRule
    Properties:
      RuleName: HighTemp
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        RuleDisabled: false
        Sql: !Sub "SELECT device, temp FROM 'plant/+/temp' WHERE temp > ${Threshold}"
        Actions:
          - Sqs: {QueueUrl: !Ref Alerts, RoleArn: !GetAtt Role.Arn}
  Unnamed:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        Sql: "SELECT * FROM 'plant/+/status'"
        Actions:
          - Sqs: {QueueUrl: !Ref Alerts, RoleArn: !GetAtt Role.Arn}
Outputs:
  RuleArn: {Value: !GetAtt HighTemp.Arn}
  UnnamedRule: {Value: !Ref Unnamed}
"""


def test_a_stack_makes_live_rules_and_deleting_it_removes_them(aws: Clients) -> None:
    cfn = aws("cloudformation")
    cfn.create_stack(StackName="plant", TemplateBody=TEMPLATE)
    (stack,) = cfn.describe_stacks(StackName="plant")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["RuleArn"] == "arn:aws:iot:us-east-1:123456789012:rule/HighTemp"
    unnamed = outputs["UnnamedRule"]
    assert unnamed.startswith("plant_Unnamed_")  # a generated name, valid for a topic rule
    iot = aws("iot")
    assert iot.get_topic_rule(ruleName=unnamed)["rule"]["awsIotSqlVersion"] == "2015-10-08"

    data = aws("iot-data")
    data.publish(topic="plant/d1/temp", payload=b'{"device": "d1", "temp": 35}')
    data.publish(topic="plant/d2/temp", payload=b'{"device": "d2", "temp": 25}')
    data.publish(topic="plant/d3/status", payload=b'{"ok": true}')
    url = aws("sqs").get_queue_url(QueueName="alerts")["QueueUrl"]
    assert [json.loads(b) for b in bodies(aws, url)] == [{"device": "d1", "temp": 35},
                                                         {"ok": True}]  # fmt: skip

    cfn.update_stack(StackName="plant", TemplateBody=TEMPLATE.replace("temp >", "temp + 10 >"))
    assert "temp + 10 > 30" in iotsql.moto.engine().rule("HighTemp").compiled.sql
    data.publish(topic="plant/d2/temp", payload=b'{"device": "d2", "temp": 25}')
    assert [json.loads(b) for b in bodies(aws, url)] == [{"device": "d2", "temp": 25}]

    with pytest.raises(ClientError) as caught:  # a refused change fails update_stack
        cfn.update_stack(StackName="plant", TemplateBody=TEMPLATE.replace("temp >", "temp >>"))
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "SqlParseException" in caught.value.response["Error"]["Message"]
    assert "temp + 10 > 30" in iotsql.moto.engine().rule("HighTemp").compiled.sql

    cfn.delete_stack(StackName="plant")
    assert iot.list_topic_rules()["rules"] == []
    assert iotsql.moto.engine().rules == {}


def test_a_refused_rule_fails_the_stack_which_rolls_back(aws: Clients) -> None:
    cfn = aws("cloudformation")
    broken = TEMPLATE.replace("WHERE temp >", "WHERE temp >>")
    cfn.create_stack(StackName="broken", TemplateBody=broken)
    (stack,) = cfn.describe_stacks(StackName="broken")["Stacks"]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Outputs" not in stack
    events = cfn.describe_stack_events(StackName="broken")["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed["LogicalResourceId"] == "HighTemp"
    assert failed["ResourceType"] == "AWS::IoT::TopicRule"
    assert "SqlParseException" in failed["ResourceStatusReason"]
    assert "line 1, column" in failed["ResourceStatusReason"]
    # what was created before the failure is gone, and no rule exists
    assert aws("sqs").list_queues().get("QueueUrls", []) == []
    assert aws("iot").list_topic_rules()["rules"] == []
    assert cfn.describe_stack_resources(StackName="broken")["StackResources"] == []
    cfn.delete_stack(StackName="broken")


def test_a_bad_action_property_fails_the_resource_naming_the_template_field(aws: Clients) -> None:
    cfn = aws("cloudformation")
    bad = TEMPLATE.replace("Sqs: {QueueUrl: !Ref Alerts, RoleArn: !GetAtt Role.Arn}\n  Unnamed",
                           "Sqs: {QueueUri: !Ref Alerts, RoleArn: !GetAtt Role.Arn}\n  Unnamed")  # fmt: skip
    assert bad != TEMPLATE
    cfn.create_stack(StackName="typo", TemplateBody=bad)
    events = cfn.describe_stack_events(StackName="typo")["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert "InvalidRequestException" in failed["ResourceStatusReason"]
    assert "Resources.HighTemp.Properties.TopicRulePayload.Actions[0].Sqs.QueueUri" in (
        failed["ResourceStatusReason"])  # fmt: skip


def test_the_resource_type_is_moto_s_only_while_installed(offline_aws: None) -> None:
    with moto.mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto warns that it does not know the type
            cfn.create_stack(StackName="unknown", TemplateBody=TEMPLATE.split("Outputs:")[0])
        assert boto3.client("iot", region_name=REGION).list_topic_rules()["rules"] == []
    with pytest.raises(RuntimeError):
        iotsql.moto.engine()
