# What operators watch (seed 002): a dashboard and alarms on the job metrics the functions emit
# as EMF (namespace jobgate/<prefix>, jobgate.metrics), the queue, the worker and the tables.
# On compute = "apprunner" the services expose the same metrics at GET /metrics (Prometheus).

locals {
  region         = local.core.aws_region
  worker_name    = "${local.prefix}-worker"
  worker_timeout = local.infra.worker_timeout_seconds
  queue_name     = "${local.prefix}-jobs"
  dlq_name       = "${local.prefix}-jobs-dlq"
  tables         = ["${local.prefix}-jobs", "${local.prefix}-users", "${local.prefix}-events"]
  p95_threshold  = coalesce(var.p95_run_seconds, local.worker_timeout * 0.8)
  job_metric     = { for name in ["jobs_submitted", "jobs_started", "jobs_completed", "jobs_failed", "jobs_retried"] : name => [local.metrics_namespace, name] }
}

resource "aws_cloudwatch_dashboard" "jobs" {
  dashboard_name = "${local.prefix}-jobs"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Jobs (per minute)", region = local.region, stat = "Sum", period = 60
          metrics = [for name, m in local.job_metric : concat(m, [{ label = name }])]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "Failure rate (failed / finished)", region = local.region, period = 300
          yAxis = { left = { min = 0, max = 1 } }
          metrics = [
            [local.metrics_namespace, "jobs_completed", { id = "c", stat = "Sum", visible = false }],
            [local.metrics_namespace, "jobs_failed", { id = "f", stat = "Sum", visible = false }],
            [{ expression = "IF(c + f > 0, f / (c + f), 0)", label = "failure rate", id = "rate" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "Run time and queue wait (seconds)", region = local.region, period = 300
          metrics = [
            [local.metrics_namespace, "job_run_seconds", { stat = "p50", label = "run p50" }],
            [local.metrics_namespace, "job_run_seconds", { stat = "p95", label = "run p95" }],
            [local.metrics_namespace, "job_queue_wait_seconds", { stat = "p95", label = "queue wait p95" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "Queue", region = local.region, stat = "Maximum", period = 60
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.queue_name, { label = "depth" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.dlq_name, { label = "DLQ depth" }],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", local.queue_name, { label = "oldest (s)", yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title = "Worker function", region = local.region, period = 300
          metrics = [
            ["AWS/Lambda", "Duration", "FunctionName", local.worker_name, { stat = "p99", label = "duration p99 (ms)" }],
            ["AWS/Lambda", "Errors", "FunctionName", local.worker_name, { stat = "Sum", yAxis = "right" }],
            ["AWS/Lambda", "Throttles", "FunctionName", local.worker_name, { stat = "Sum", yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "DynamoDB throttles", region = local.region, stat = "Sum", period = 60
          metrics = flatten([for t in local.tables : [["AWS/DynamoDB", "ReadThrottleEvents", "TableName", t], ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", t]]])
        }
      },
    ]
  })
}

resource "aws_cloudwatch_metric_alarm" "failure_rate" {
  alarm_name          = "${local.prefix}-job-failure-rate"
  alarm_description   = "More than ${var.failure_rate_threshold * 100} % of the jobs that finished in 15 minutes failed."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.failure_rate_threshold
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.infra.arns.alarm_topic]
  ok_actions          = [local.infra.arns.alarm_topic]
  tags                = local.tags

  metric_query {
    id          = "rate"
    expression  = "IF(c + f > 0, f / (c + f), 0)"
    label       = "failure rate"
    return_data = true
  }

  metric_query {
    id = "c"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "jobs_completed"
      period      = 300
      stat        = "Sum"
    }
  }

  metric_query {
    id = "f"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "jobs_failed"
      period      = 300
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "run_time_p95" {
  alarm_name          = "${local.prefix}-job-run-time-p95"
  alarm_description   = "The 95th percentile of attempt run time is over ${local.p95_threshold} s."
  namespace           = local.metrics_namespace
  metric_name         = "job_run_seconds"
  extended_statistic  = "p95"
  period              = 300
  evaluation_periods  = 3
  threshold           = local.p95_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.infra.arns.alarm_topic]
  ok_actions          = [local.infra.arns.alarm_topic]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "worker_near_timeout" {
  count               = local.on_lambda ? 1 : 0
  alarm_name          = "${local.prefix}-worker-near-timeout"
  alarm_description   = "Worker invocations run close to the function's ${local.worker_timeout} s timeout (p99 over 80 %)."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = local.worker_name }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 2
  threshold           = local.worker_timeout * 1000 * 0.8
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.infra.arns.alarm_topic]
  ok_actions          = [local.infra.arns.alarm_topic]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each            = toset(local.tables)
  alarm_name          = "${each.value}-throttled"
  alarm_description   = "DynamoDB throttled requests on ${each.value}."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.infra.arns.alarm_topic]
  ok_actions          = [local.infra.arns.alarm_topic]
  tags                = local.tags

  metric_query {
    id          = "throttled"
    expression  = "r + w"
    label       = "throttled requests"
    return_data = true
  }

  metric_query {
    id = "r"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      dimensions  = { TableName = each.value }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "w"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      dimensions  = { TableName = each.value }
      period      = 60
      stat        = "Sum"
    }
  }
}
