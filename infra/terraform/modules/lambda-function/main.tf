# A Lambda function with its own role (only the statements given plus its logs), a log group
# with retention, reserved concurrency, tracing, an optional SQS event source with partial
# batch responses, and alarms on errors and throttles.

locals {
  log_group_name = "/aws/lambda/${var.function_name}"
  otel           = var.tracing == "otel"
  # The ADOT wrapper is read by the Lambda runtime, not by jobgate.
  environment = merge(var.environment, local.otel ? { AWS_LAMBDA_EXEC_WRAPPER = "/opt/otel-instrument" } : {})
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# What the Lambda platform needs for this function (logs, traces, DLQ, queue polling), kept
# apart from what the code calls (var.policy_statements), which the repository's tests hold
# against the adapters' boto3 calls.
data "aws_iam_policy_document" "platform" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.tracing == "off" ? [] : [1]
    content {
      sid       = "Tracing"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"] # X-Ray has no resource-level permissions
    }
  }

  dynamic "statement" {
    for_each = var.dead_letter_target_arn == null ? [] : [var.dead_letter_target_arn]
    content {
      sid       = "DeadLetters"
      actions   = startswith(statement.value, "arn:aws:sns:") ? ["sns:Publish"] : ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.sqs_event_source == null ? [] : [var.sqs_event_source.queue_arn]
    content {
      sid       = "EventSourcePolling"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "platform" {
  name   = "platform"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.platform.json
}

data "aws_iam_policy_document" "code" {
  count = length(var.policy_statements) == 0 ? 0 : 1

  dynamic "statement" {
    for_each = var.policy_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "code" {
  count  = length(var.policy_statements) == 0 ? 0 : 1
  name   = "code"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.code[0].json
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117: jobgate reaches only AWS APIs (DynamoDB, SQS, S3, Secrets Manager); a VPC would add NAT or endpoints and nothing to protect
  #checkov:skip=CKV_AWS_272: code signing needs an AWS Signer profile per account; packages are built and deployed by the same CI role
  function_name                  = var.function_name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  filename                       = var.filename
  source_code_hash               = filebase64sha256(var.filename)
  layers                         = concat(var.layers, local.otel && var.otel_layer_arn != null ? [var.otel_layer_arn] : [])
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.tracing == "off" ? "PassThrough" : "Active"
  }

  dynamic "dead_letter_config" {
    for_each = var.dead_letter_target_arn == null ? [] : [var.dead_letter_target_arn]
    content {
      target_arn = dead_letter_config.value
    }
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.platform]
}

resource "aws_lambda_event_source_mapping" "sqs" {
  count                              = var.sqs_event_source == null ? 0 : 1
  event_source_arn                   = var.sqs_event_source.queue_arn
  function_name                      = aws_lambda_function.this.arn
  batch_size                         = var.sqs_event_source.batch_size
  maximum_batching_window_in_seconds = var.sqs_event_source.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  enabled                            = var.sqs_event_source.enabled

  scaling_config {
    maximum_concurrency = var.sqs_event_source.maximum_concurrency
  }
}

# One alarm per metric: any failed or throttled invocation in five minutes.
resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.enable_alarms ? {
    errors    = { metric = "Errors", says = "invocations failed." }
    throttles = { metric = "Throttles", says = "was throttled: raise its reserved concurrency or lower the event source's." }
  } : {}
  alarm_name          = "${var.function_name}-${each.key}"
  alarm_description   = "${var.function_name} ${each.value.says}"
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  ok_actions          = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  tags                = var.tags
}
