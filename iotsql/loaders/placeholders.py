"""Placeholder values for what only a deployment knows: the ARN of a queue a template creates,
the URL `Ref` returns for it, the account id. Rules read from infrastructure code need them
where an action names another resource (`!GetAtt AlertsQueue.Arn`,
`aws_sqs_queue.alerts.url`).

The scheme, for a resource named N (its explicit name property, `QueueName`/`name`..., when
the template gives one as a plain value, else the logical id or the Terraform label), in
account 123456789012, region us-east-1 and partition aws unless the caller passes others
(`KINDS` below has every kind):

- SQS queue: `Ref`/`id`/`QueueUrl`/`url` `https://sqs.us-east-1.amazonaws.com/123456789012/N`,
  ARN `arn:aws:sqs:us-east-1:123456789012:N`;
- SNS topic: `Ref`/`id` and ARN `arn:aws:sns:us-east-1:123456789012:N`;
- Lambda function: `Ref`/`id` N, ARN `arn:aws:lambda:us-east-1:123456789012:function:N`;
- IAM role: `Ref`/`id` N, ARN `arn:aws:iam::123456789012:role/N`;
- DynamoDB table, Kinesis and Firehose streams, S3 bucket, log group, Timestream, IoT
  Analytics, IoT Events, alarms, OpenSearch domains, Location trackers: `Ref` N, the ARN of
  their service (`...:table/N`, `...:stream/N`, `arn:aws:s3:::N`...); a state machine's `Ref`
  is its ARN, a Kinesis or Firehose stream's Terraform `id` too;
- anything else: `Ref` N, ARN `arn:aws:<service>:us-east-1:123456789012:<type>/N`, any other
  attribute `N-<Attribute>`.

Terraform data sources resolve too: `data.aws_caller_identity.*.account_id` is the account,
`data.aws_region.*.name` (or `.region`, `.id`) the region, `data.aws_partition.*.partition`
the partition; `data.aws_sqs_queue.q.url` and the like follow the same scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"


@dataclass(frozen=True)
class Environment:
    """Where the placeholders pretend the stack is deployed."""

    account_id: str = ACCOUNT_ID
    region: str = REGION
    partition: str = PARTITION

    @property
    def url_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"


@dataclass(frozen=True)
class Kind:
    """One kind of AWS resource: how its ARN is spelled, what `Ref` and Terraform's `id`
    return, which property names it, and its other attributes."""

    arn: str
    ref: str = "name"
    tf_id: str = "name"
    cfn_types: tuple[str, ...] = ()
    tf_types: tuple[str, ...] = ()
    cfn_name: str = ""
    tf_name: str = "name"
    attributes: Mapping[str, str] = field(default_factory=dict)


_URL = "https://sqs.{region}.{suffix}/{account}/{name}"

KINDS: tuple[Kind, ...] = (
    Kind("arn:{partition}:sqs:{region}:{account}:{name}", ref="url", tf_id="url",
         cfn_types=("AWS::SQS::Queue",), tf_types=("aws_sqs_queue",), cfn_name="QueueName",
         attributes={"queuename": "{name}", "queueurl": _URL, "url": _URL}),
    Kind("arn:{partition}:sns:{region}:{account}:{name}", ref="arn", tf_id="arn",
         cfn_types=("AWS::SNS::Topic",), tf_types=("aws_sns_topic",), cfn_name="TopicName",
         attributes={"topicarn": "{arn}", "topicname": "{name}"}),
    Kind("arn:{partition}:lambda:{region}:{account}:function:{name}",
         cfn_types=("AWS::Lambda::Function", "AWS::Serverless::Function"),
         tf_types=("aws_lambda_function",), cfn_name="FunctionName", tf_name="function_name",
         attributes={"functionname": "{name}", "qualifiedarn": "{arn}:$LATEST",
                     "invokearn": "arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/"
                                  "functions/{arn}/invocations"}),
    Kind("arn:{partition}:iam::{account}:role/{name}", cfn_types=("AWS::IAM::Role",),
         tf_types=("aws_iam_role",), cfn_name="RoleName",
         attributes={"roleid": "AROAPLACEHOLDER{name}", "uniqueid": "AROAPLACEHOLDER{name}"}),
    Kind("arn:{partition}:dynamodb:{region}:{account}:table/{name}",
         cfn_types=("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable",
                    "AWS::Serverless::SimpleTable"),
         tf_types=("aws_dynamodb_table",), cfn_name="TableName",
         attributes={"streamarn": "{arn}/stream/1970-01-01T00:00:00.000"}),
    Kind("arn:{partition}:kinesis:{region}:{account}:stream/{name}", tf_id="arn",
         cfn_types=("AWS::Kinesis::Stream",), tf_types=("aws_kinesis_stream",), cfn_name="Name"),
    Kind("arn:{partition}:firehose:{region}:{account}:deliverystream/{name}", tf_id="arn",
         cfn_types=("AWS::KinesisFirehose::DeliveryStream",),
         tf_types=("aws_kinesis_firehose_delivery_stream",), cfn_name="DeliveryStreamName"),
    Kind("arn:{partition}:s3:::{name}", cfn_types=("AWS::S3::Bucket",),
         tf_types=("aws_s3_bucket",), cfn_name="BucketName", tf_name="bucket",
         attributes={"domainname": "{name}.s3.{suffix}", "bucketdomainname": "{name}.s3.{suffix}",
                     "regionaldomainname": "{name}.s3.{region}.{suffix}",
                     "bucketregionaldomainname": "{name}.s3.{region}.{suffix}"}),
    Kind("arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
         cfn_types=("AWS::Logs::LogGroup",), tf_types=("aws_cloudwatch_log_group",),
         cfn_name="LogGroupName"),
    Kind("arn:{partition}:states:{region}:{account}:stateMachine:{name}", ref="arn",
         tf_id="arn", cfn_types=("AWS::StepFunctions::StateMachine",
                                 "AWS::Serverless::StateMachine"),
         tf_types=("aws_sfn_state_machine",), cfn_name="StateMachineName"),
    Kind("arn:{partition}:iot:{region}:{account}:rule/{name}", cfn_types=("AWS::IoT::TopicRule",),
         tf_types=("aws_iot_topic_rule",), cfn_name="RuleName"),
    Kind("arn:{partition}:iot:{region}:{account}:ruledestination/vpc/{name}", ref="arn",
         tf_id="arn", cfn_types=("AWS::IoT::TopicRuleDestination",),
         tf_types=("aws_iot_topic_rule_destination",)),
    Kind("arn:{partition}:timestream:{region}:{account}:database/{name}",
         cfn_types=("AWS::Timestream::Database",), tf_types=("aws_timestreamwrite_database",),
         cfn_name="DatabaseName", tf_name="database_name"),
    Kind("arn:{partition}:timestream:{region}:{account}:database/db/table/{name}",
         cfn_types=("AWS::Timestream::Table",), tf_types=("aws_timestreamwrite_table",),
         cfn_name="TableName", tf_name="table_name"),
    Kind("arn:{partition}:iotanalytics:{region}:{account}:channel/{name}",
         cfn_types=("AWS::IoTAnalytics::Channel",), cfn_name="ChannelName"),
    Kind("arn:{partition}:iotevents:{region}:{account}:input/{name}",
         cfn_types=("AWS::IoTEvents::Input",), cfn_name="InputName"),
    Kind("arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
         cfn_types=("AWS::CloudWatch::Alarm",), tf_types=("aws_cloudwatch_metric_alarm",),
         cfn_name="AlarmName", tf_name="alarm_name"),
    Kind("arn:{partition}:es:{region}:{account}:domain/{name}",
         cfn_types=("AWS::OpenSearchService::Domain", "AWS::Elasticsearch::Domain"),
         tf_types=("aws_opensearch_domain", "aws_elasticsearch_domain"), cfn_name="DomainName",
         tf_name="domain_name",
         attributes={"domainarn": "{arn}",
                     "domainendpoint": "search-{name}-placeholder.{region}.es.{suffix}",
                     "endpoint": "search-{name}-placeholder.{region}.es.{suffix}"}),
    Kind("arn:{partition}:geo:{region}:{account}:tracker/{name}",
         cfn_types=("AWS::Location::Tracker",), tf_types=("aws_location_tracker",),
         cfn_name="TrackerName", tf_name="tracker_name"),
)  # fmt: skip

_BY_CFN = {t: kind for kind in KINDS for t in kind.cfn_types}
_BY_TF = {t: kind for kind in KINDS for t in kind.tf_types}


def cfn_kind(resource_type: str) -> Kind | None:
    return _BY_CFN.get(resource_type)


def tf_kind(resource_type: str) -> Kind | None:
    return _BY_TF.get(resource_type)


def _generic_arn(resource_type: str) -> str:
    if resource_type.startswith("AWS::"):
        _, service, kind = [*resource_type.split("::"), "", ""][:3]
        return f"arn:{{partition}}:{service.lower()}:{{region}}:{{account}}:{kind.lower()}/{{name}}"
    parts = resource_type.split("_")
    service = parts[1] if len(parts) > 2 else "unknown"
    rest = "_".join(parts[2:]) or resource_type
    return f"arn:{{partition}}:{service}:{{region}}:{{account}}:{rest}/{{name}}"


class Placeholders:
    """Placeholder values of resources in one environment."""

    def __init__(self, env: Environment | None = None) -> None:
        self.env = env or Environment()

    def _fill(self, template: str, name: str, arn: str = "") -> str:
        env = self.env
        return template.format(
            partition=env.partition, region=env.region, account=env.account_id,
            suffix=env.url_suffix, name=name, arn=arn,
        )  # fmt: skip

    def arn(self, kind: Kind | None, resource_type: str, name: str) -> str:
        return self._fill(kind.arn if kind else _generic_arn(resource_type), name)

    def value(self, kind: Kind | None, resource_type: str, name: str, what: str) -> str:
        """`what`: `name`, `arn`, `url` or an attribute name (any case, `_` ignored)."""
        arn = self.arn(kind, resource_type, name)
        key = what.replace("_", "").lower()
        if key == "arn":
            return arn
        if key == "name":
            return name
        if key == "url":
            return self._fill(_URL, name)
        attributes = kind.attributes if kind else {}
        if key in attributes:
            return self._fill(attributes[key], name, arn)
        if key.endswith("arn"):
            return arn
        if key.endswith("name"):
            return name
        return f"{name}-{what}"

    def cfn_ref(self, resource_type: str, name: str) -> str:
        kind = cfn_kind(resource_type)
        return self.value(kind, resource_type, name, kind.ref if kind else "name")

    def cfn_attribute(self, resource_type: str, name: str, attribute: str) -> str:
        return self.value(cfn_kind(resource_type), resource_type, name, attribute)

    def tf_attribute(self, resource_type: str, name: str, attribute: str) -> str:
        kind = tf_kind(resource_type)
        if attribute == "id":
            attribute = kind.tf_id if kind else "name"
        if kind is not None and attribute == kind.tf_name:
            return name
        return self.value(kind, resource_type, name, attribute)

    def tf_data(self, resource_type: str, name: str, attribute: str) -> str | None:
        """The well-known data sources; None for any other (resolved like a resource)."""
        env = self.env
        if resource_type == "aws_caller_identity":
            values = {"account_id": env.account_id, "id": env.account_id,
                      "arn": f"arn:{env.partition}:iam::{env.account_id}:user/placeholder",
                      "user_id": "AIDAPLACEHOLDER"}  # fmt: skip
            return values.get(attribute)
        if resource_type == "aws_region":
            return env.region if attribute in ("name", "id", "region") else None
        if resource_type == "aws_partition":
            values = {"partition": env.partition, "id": env.partition, "dns_suffix": env.url_suffix}
            return values.get(attribute)
        return None
