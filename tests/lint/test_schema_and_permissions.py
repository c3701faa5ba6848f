"""CloudFormation as CloudFormation reads it, in the loaders that tests and replay use (property
names case-sensitive against cfn-lint's resource schemas, with "did you mean"; `Fn::GetAtt`
attributes against the target type); the derived schema used without cfn-lint; and
`lambda-permission-missing` across the permissions CloudFormation, SAM and Terraform write."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from lint_support import Run

import iotsql
from iotsql.loaders import cfn_schema

RULE = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Rule:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        Sql: SELECT * FROM 'a/b'
        Actions:
          - {action}
"""


def template(tmp_path: Path, action: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(RULE.format(action=action), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("action", "field", "hint"),
    [
        ("Sqs: {QueueURL: q, RoleArn: 'arn:aws:iam::1:role/r'}", "Sqs.QueueURL", "QueueUrl"),
        ("Sqs: {QueueUrl: q, Rolearn: 'arn:aws:iam::1:role/r'}", "Sqs.Rolearn", "RoleArn"),
        ("RePublish: {Topic: t, RoleArn: 'arn:aws:iam::1:role/r'}", "RePublish", "Republish"),
        ("DynamoDBV2: {PutItem: {TableName: t}, RoleArn: 'arn:aws:iam::1:role/r'}",
         "DynamoDBV2", "DynamoDBv2"),
    ],
)  # fmt: skip
def test_the_loaders_read_cloudformation_names_case_sensitively(
    tmp_path: Path, action: str, field: str, hint: str
) -> None:
    with pytest.raises(iotsql.RuleValidationError) as error:
        iotsql.load_rules(template(tmp_path, action))
    assert error.value.field.endswith(f"Properties.TopicRulePayload.Actions[0].{field}")
    assert f"did you mean {hint}?" in str(error.value)
    assert "case-sensitive" in str(error.value)


def test_a_getatt_attribute_the_type_lacks_is_refused(tmp_path: Path) -> None:
    action = "Sqs: {QueueUrl: !GetAtt Queue.Url, RoleArn: 'arn:aws:iam::1:role/r'}"
    with pytest.raises(iotsql.RuleValidationError) as error:
        iotsql.load_rules(template(tmp_path, action))
    assert "Fn::GetAtt Queue.Url: AWS::SQS::Queue has no attribute 'Url'" in str(error.value)
    assert "QueueUrl" in str(error.value)
    action = "Sqs: {QueueUrl: !GetAtt Queue.QueueUrl, RoleArn: 'arn:aws:iam::1:role/r'}"
    (rule,) = iotsql.load_rules(template(tmp_path, action))
    assert rule.payload["actions"][0]["sqs"]["queueUrl"].startswith("https://sqs.")


def test_attributes_known_only_to_cfn_lint_and_unknown_types() -> None:
    assert cfn_schema.attribute_problem("AWS::SQS::Queue", "QueueName") is None  # cfn-lint's
    assert cfn_schema.attribute_problem("AWS::Serverless::Function", "Arn") is None
    assert cfn_schema.attribute_problem("Custom::Thing", "Anything") is None
    assert cfn_schema.attribute_problem("AWS::CloudFormation::Stack", "Outputs.X") is None
    problem = cfn_schema.attribute_problem("AWS::Lambda::Function", "arn")
    assert problem is not None and problem.endswith("did you mean Arn?")


def test_the_schema_is_cfn_lints() -> None:
    version = cfn_schema.cfnlint_version()
    assert version is not None and version.startswith("1.")
    schema = cfn_schema.resource_schema("AWS::IoT::TopicRule")
    assert schema is not None and schema["typeName"] == "AWS::IoT::TopicRule"
    assert "SqsAction" in schema["definitions"]


def test_without_cfn_lint_the_derived_schema_has_cloudformations_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = cfn_schema.resource_schema("AWS::IoT::TopicRule")
    assert real is not None
    derived = cfn_schema._derived_topic_rule_schema()

    def names(schema: dict, definition: str) -> set[str]:  # type: ignore[type-arg]
        return set(schema["definitions"][definition]["properties"])

    from iotsql.loaders.cfn_schema import _read_schema_files

    shipped = _read_schema_files("AWS::IoT::TopicRule")  # cfn-lint's own, without additions
    assert shipped is not None
    for definition in ("TopicRulePayload", "Action", "SqsAction", "HttpAction", "RepublishAction",
                       "S3Action"):  # fmt: skip
        assert names(shipped, definition) <= names(derived, definition), definition
        assert names(real, definition) == names(derived, definition) | names(shipped, definition)
    # newer than cfn-lint 1.51's schema and in CloudFormation since: accepted, case-sensitively
    assert names(derived, "Action") - names(shipped, "Action") <= {"InfluxDB"}
    assert "InfluxDB" in names(real, "Action")
    monkeypatch.setattr(cfn_schema, "available", lambda: False)
    cfn_schema.resource_schema.cache_clear()
    try:
        problems = cfn_schema.check_properties(
            "AWS::IoT::TopicRule",
            {"TopicRulePayload": {"Sql": "x", "Actions": [{"Sqs": {"QueueURL": "q"}}]}},
            "Properties",
        )
        assert [(p.kind, p.path) for p in problems] == [
            ("unknown-property", "Properties.TopicRulePayload.Actions[0].Sqs.QueueURL"),
            ("missing-property", "Properties.TopicRulePayload.Actions[0].Sqs.RoleArn"),
        ]
        assert cfn_schema.attribute_problem("AWS::SQS::Queue", "Nope") is None
    finally:
        cfn_schema.resource_schema.cache_clear()


def test_intrinsics_are_not_judged_before_evaluation_but_if_branches_are() -> None:
    problems = cfn_schema.check_properties("AWS::IoT::TopicRule", {"TopicRulePayload": {
        "Sql": {"Fn::Sub": "SELECT 1"}, "Actions": {"Ref": "AWS::NoValue"},
        "ErrorAction": {"Fn::If": ["C", {"Sqs": {"QueueUrl": "q", "RoleArn": "r"}},
                                   {"Sns": {"TargetARN": "t", "RoleArn": "r"}}]},
    }}, "Properties")  # fmt: skip
    assert [(p.kind, p.path, p.hint and p.hint.split(" (")[0]) for p in problems] == [
        ("unknown-property", "Properties.TopicRulePayload.ErrorAction.Sns.TargetARN",
         "did you mean TargetArn?"),
    ]  # fmt: skip


# ---- lambda-permission-missing -------------------------------------------------------------

CFN_PERMISSION = """\
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties: {{FunctionName: worker, Runtime: python3.12, Handler: a.b, Role: r, Code: {{}}}}
  Rule:
    Type: AWS::IoT::TopicRule
    Properties:
      TopicRulePayload:
        AwsIotSqlVersion: "2016-03-23"
        Sql: SELECT * FROM 'a/b'
        Actions:
          - Lambda: {{FunctionArn: {target}}}
{permission}"""


def _permission(function: str, principal: str = "iot.amazonaws.com") -> str:
    return ("  Allow:\n    Type: AWS::Lambda::Permission\n    Properties:\n"
            f"      Action: lambda:InvokeFunction\n      FunctionName: {function}\n"
            f"      Principal: {principal}\n")  # fmt: skip


@pytest.mark.parametrize(
    ("target", "permission", "warned"),
    [
        ("!GetAtt Fn.Arn", "", True),
        ("!GetAtt Fn.Arn", _permission("!Ref Fn"), False),
        ("!GetAtt Fn.Arn", _permission("!GetAtt Fn.Arn"), False),
        ("!GetAtt Fn.Arn", _permission('!Sub "arn:aws:lambda:${AWS::Region}:1:function:worker"'),
         False),
        ("!GetAtt Fn.Arn", _permission("worker", "!Sub iot.${AWS::URLSuffix}"), False),
        ("!GetAtt Fn.Arn", _permission("!Ref Fn", "sns.amazonaws.com"), True),
        ("!GetAtt Fn.Arn", _permission("!ImportValue Elsewhere"), False),
        ("!GetAtt Fn.Arn", _permission("!Ref NotThere"), False),
        ("arn:aws:lambda:us-east-1:1:function:external", "", False),
        ("!Sub '${Fn.Arn}:live'", "", True),
    ],
)  # fmt: skip
def test_permissions_in_cloudformation(
    target: str, permission: str, warned: bool, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, run_check: Callable[..., Run],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    Path("t.yaml").write_text(CFN_PERMISSION.format(target=target, permission=permission))
    result = run_check("t.yaml", "--select", "lambda-permission-missing", "--format", "json")
    found = json.loads(result.stdout)["warnings"]
    assert bool(found) == warned, result.stdout
    if warned:
        assert (found[0]["line"], found[0]["column"]) == (12, 22)


TF = """\
resource "aws_lambda_function" "fn" {{
  function_name = "worker"
  role          = "r"
  handler       = "a.b"
  runtime       = "python3.12"
}}
resource "aws_iot_topic_rule" "rule" {{
  name        = "rule"
  enabled     = true
  sql_version = "2016-03-23"
  sql         = "SELECT * FROM 'a/b'"
  lambda {{
    function_arn = aws_lambda_function.fn.arn
  }}
}}
{permission}"""


@pytest.mark.parametrize(
    ("permission", "warned"),
    [
        ("", True),
        ('resource "aws_lambda_permission" "p" {\n  action = "lambda:InvokeFunction"\n'
         '  function_name = aws_lambda_function.fn.function_name\n'
         '  principal = "iot.amazonaws.com"\n}\n', False),
        ('resource "aws_lambda_permission" "p" {\n  action = "lambda:InvokeFunction"\n'
         '  function_name = aws_lambda_function.fn.arn\n  principal = "iot.amazonaws.com"\n}\n',
         False),
        ('resource "aws_lambda_permission" "p" {\n  action = "lambda:InvokeFunction"\n'
         '  function_name = "worker"\n  principal = "events.amazonaws.com"\n}\n', True),
        ('resource "aws_lambda_permission" "p" {\n  action = "lambda:InvokeFunction"\n'
         '  function_name = module.other.name\n  principal = "iot.amazonaws.com"\n}\n', False),
    ],
)  # fmt: skip
def test_permissions_in_terraform(
    permission: str, warned: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    run_check: Callable[..., Run],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    Path("main.tf").write_text(TF.format(permission=permission), encoding="utf-8")
    result = run_check("main.tf", "--select", "lambda-permission-missing", "--format", "json")
    found = json.loads(result.stdout)["warnings"]
    assert bool(found) == warned, result.stdout
    if warned:
        assert (found[0]["file"], found[0]["line"], found[0]["column"]) == ("main.tf", 13, 5)


def test_sam_and_serverless_events_come_with_their_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_check: Callable[..., Run]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n"
        "      Handler: a.b\n      Events:\n        E:\n          Type: IoTRule\n"
        "          Properties: {Sql: \"SELECT * FROM 'a'\", AwsIotSqlVersion: '2016-03-23'}\n",
        encoding="utf-8",
    )  # fmt: skip
    Path("serverless.yml").write_text(
        "service: s\nprovider: {name: aws}\nfunctions:\n  f:\n    handler: h\n    events:\n"
        "      - iot: {sql: \"SELECT * FROM 'a'\", sqlVersion: '2016-03-23'}\n", encoding="utf-8",
    )  # fmt: skip
    result = run_check(".", "--format", "json")
    assert json.loads(result.stdout)["summary"] == {"files": 2, "rules": 2, "errors": 0,
                                                    "warnings": 0, "infos": 0}  # fmt: skip
