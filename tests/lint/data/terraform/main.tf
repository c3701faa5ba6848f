variable "prefix" {
  type    = string
  default = "plant"
}

resource "aws_lambda_function" "notify" {
  function_name = "notify"
  role          = "arn:aws:iam::123456789012:role/lambda"
  handler       = "index.handler"
  runtime       = "python3.12"
  filename      = "notify.zip"
}

resource "aws_lambda_function" "store" {
  function_name = "store"
  role          = "arn:aws:iam::123456789012:role/lambda"
  handler       = "index.handler"
  runtime       = "python3.12"
  filename      = "store.zip"
}

resource "aws_lambda_permission" "store_from_iot" {
  statement_id  = "AllowIot"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.store.function_name
  principal     = "iot.amazonaws.com"
}

resource "aws_iot_topic_rule" "temperature" {
  name        = "temperature"
  enabled     = true
  sql_version = "2016-03-23"
  sql         = <<-EOT
    SELECT *, "${var.prefix}" AS site
    FROM '${var.prefix}/+/temperature'
    WHERE temperature BETWEEN 10 AND 30
  EOT

  lambda {
    function_arn = aws_lambda_function.notify.arn
  }
}

resource "aws_iot_topic_rule" "stored" {
  name        = "stored"
  enabled     = true
  sql_version = "2016-03-23"
  sql         = "SELECT state.reported AS r, \"$${x}\" AS tag FROM 'home/+/state' WHERE state.reported.mode IN ('eco', 'off')"

  lambda {
    function_arn = aws_lambda_function.store.arn
  }
}
