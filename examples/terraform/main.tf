# Battery and door monitoring for the greenhouse fleet. The rules are tested locally with
# iotsql (examples/tests/test_rules.py); `terraform apply` deploys the same definitions.

variable "environment" {
  type    = string
  default = "dev"
}

variable "battery_threshold" {
  type    = number
  default = 20
}

locals {
  prefix = "greenhouse-${var.environment}"
}

data "aws_caller_identity" "current" {}

resource "aws_sns_topic" "battery" {
  name = "${local.prefix}-battery"
}

resource "aws_sqs_queue" "rule_errors" {
  name = "${local.prefix}-rule-errors"
}

resource "aws_kinesis_stream" "doors" {
  name        = "${local.prefix}-doors"
  shard_count = 1
}

resource "aws_iam_role" "iot" {
  name               = "${local.prefix}-iot-rules"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole",
                   Principal = { Service = "iot.amazonaws.com" } }]
  })
}

# Low batteries are published to SNS; if SNS fails, the error goes to a queue.
resource "aws_iot_topic_rule" "battery_low" {
  name        = "BatteryLow"
  description = "Battery below ${var.battery_threshold}%"
  enabled     = true
  sql         = "SELECT deviceId, battery FROM 'devices/+/status' WHERE battery < ${var.battery_threshold}"
  sql_version = "2016-03-23"

  sns {
    message_format = "RAW"
    role_arn       = aws_iam_role.iot.arn
    target_arn     = aws_sns_topic.battery.arn
  }

  error_action {
    sqs {
      queue_url  = aws_sqs_queue.rule_errors.url
      role_arn   = aws_iam_role.iot.arn
      use_base64 = false
    }
  }
}

# Door events are streamed to Kinesis, partitioned by device ($${...} is an AWS IoT
# substitution template: Terraform writes it as ${...}).
resource "aws_iot_topic_rule" "door_events" {
  name        = "DoorEvents"
  enabled     = true
  sql         = <<-SQL
    SELECT topic(2) AS deviceId, door, timestamp() AS at
    FROM 'devices/+/door'
  SQL
  sql_version = "2016-03-23"

  kinesis {
    stream_name   = aws_kinesis_stream.doors.name
    partition_key = "$${topic(2)}"
    role_arn      = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/${local.prefix}-iot-rules"
  }
}
