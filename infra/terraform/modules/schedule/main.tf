# An EventBridge scheduled rule, optionally with its Lambda target. The event's `time` is the
# tick: jobgate derives the idempotency key from it, so a retried delivery enqueues nothing new.

resource "aws_cloudwatch_event_rule" "this" {
  name                = var.name
  description         = var.description
  schedule_expression = var.schedule_expression
  state               = var.enabled ? "ENABLED" : "DISABLED"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "lambda" {
  count     = var.target_function_arn == null ? 0 : 1
  rule      = aws_cloudwatch_event_rule.this.name
  target_id = "cron-handler"
  arn       = var.target_function_arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 8
  }
}

resource "aws_lambda_permission" "events" {
  count         = var.target_function_arn == null ? 0 : 1
  statement_id  = "AllowEventBridge-${var.name}"
  action        = "lambda:InvokeFunction"
  function_name = var.target_function_arn
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this.arn
}
