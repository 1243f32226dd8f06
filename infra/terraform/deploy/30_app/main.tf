# 30_app: the API, worker and cron Lambdas, their dependency layer, the SQS event source, the
# HTTP API's route to the API function and the schedules' targets. Reads 10_core and 20_infra.

data "terraform_remote_state" "core" {
  backend = "s3"
  config  = merge(var.state_backend, { key = "${var.project}/${var.environment}/10_core.tfstate" })
}

data "terraform_remote_state" "infra" {
  backend = "s3"
  config  = merge(var.state_backend, { key = "${var.project}/${var.environment}/20_infra.tfstate" })
}

locals {
  core  = data.terraform_remote_state.core.outputs
  infra = data.terraform_remote_state.infra.outputs
  # null when 10_core made no key: a null output is absent from the remote state's outputs
  kms    = try(local.core.kms_key_arn, null)
  prefix = local.core.name_prefix
  tags   = local.core.tags
  build  = "${path.module}/../../../../build/lambda"

  on_lambda = var.compute == "lambda"
  # CloudWatch namespace of the functions' EMF metrics (jobgate.metrics)
  metrics_namespace = "jobgate/${local.core.name_prefix}"
  function_zip      = coalesce(var.function_zip, "${local.build}/function.zip")
  layer_zip         = coalesce(var.layer_zip, "${local.build}/layer.zip")

  # The settings each function reads (jobgate.settings, jobgate.aws_settings). AWS_REGION is
  # set by the Lambda runtime itself (a reserved name). tests/infra/test_env_contract.py holds
  # these names against the code.
  environment = merge(local.infra.jobgate_environment, {
    JOBGATE_BACKEND            = "aws"
    JOBGATE_APP                = var.jobgate_app
    JOBGATE_LOG_LEVEL          = var.log_level
    JOBGATE_VISIBILITY_TIMEOUT = tostring(local.infra.queue_visibility_timeout_seconds)
    JOBGATE_MAX_RECEIVES       = tostring(local.infra.max_receive_count)
    JOBGATE_PUBLIC_URL         = local.infra.http_api.endpoint # the links in notices
    JOBGATE_METRICS_NAMESPACE  = local.metrics_namespace       # EMF (Lambda)
  })
  api_environment = merge(local.environment, { API_KEY_SECRET_ARN = local.core.api_key_secret_arn })
  # the worker checks at start-up that every job type's timeout fits its own (jobgate doctor)
  worker_environment = merge(local.environment, {
    JOBGATE_WORKER_FUNCTION_TIMEOUT_SECONDS = tostring(local.infra.worker_timeout_seconds)
  })

  # Resource kinds of code-permissions.json => ARNs (a GSI needs its own index ARN for Query).
  resources = {
    jobs_table   = [local.infra.arns.jobs_table, "${local.infra.arns.jobs_table}/index/*"]
    jobs_stream  = [local.infra.arns.jobs_stream]
    events_table = [local.infra.arns.events_table]
    users_table  = [local.infra.arns.users_table, "${local.infra.arns.users_table}/index/*"]
    jobs_queue   = [local.infra.arns.jobs_queue]
    jobs_dlq     = [local.infra.arns.jobs_dlq]
    blobs        = ["${local.infra.arns.bucket}/*"]
    admin_key    = [local.core.api_key_secret_arn]
    # the topic, and its subscriptions (arn:…:topic:<id>) for Unsubscribe/GetSubscriptionAttributes
    notifications_topic = [local.infra.arns.notifications_topic, "${local.infra.arns.notifications_topic}:*"]
  }
  lambda_permissions = { for role, grants in jsondecode(file("${path.module}/code-permissions.json")) : role => grants if role != "_about" }
  # On App Runner the worker service also runs what the cron function runs on Lambda
  # (schedules, the reconciler, notifications): its role is the union of the two.
  code_permissions = merge(local.lambda_permissions, {
    service_worker = {
      for kind in distinct(concat(keys(local.lambda_permissions.worker), keys(local.lambda_permissions.cron))) :
      kind => sort(distinct(concat(lookup(local.lambda_permissions.worker, kind, []), lookup(local.lambda_permissions.cron, kind, []))))
    }
  })
  statements = {
    for role, grants in local.code_permissions : role => concat(
      [for kind, actions in grants : {
        sid       = replace(title(replace(kind, "_", " ")), " ", "")
        actions   = actions
        resources = local.resources[kind]
      }],
      # Tables, queues and the bucket are encrypted with the core key when there is one.
      local.kms == null ? [] : [{
        sid       = "EncryptionKey"
        actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
        resources = [local.kms]
      }],
    )
  }
}

resource "aws_lambda_layer_version" "dependencies" {
  count                    = local.on_lambda ? 1 : 0
  layer_name               = "${local.prefix}-dependencies"
  description              = "jobgate's dependencies (make package)"
  filename                 = local.layer_zip
  source_code_hash         = filebase64sha256(local.layer_zip)
  compatible_runtimes      = ["python3.11", "python3.12", "python3.13"]
  compatible_architectures = [var.architecture]
}

module "api" {
  count                = local.on_lambda ? 1 : 0
  source               = "../../modules/lambda-function"
  function_name        = "${local.prefix}-api"
  description          = "jobgate HTTP API (FastAPI through Mangum)"
  handler              = "jobgate.aws_lambda.api_handler"
  architecture         = var.architecture
  filename             = local.function_zip
  layers               = [aws_lambda_layer_version.dependencies[0].arn]
  memory_size          = var.api_memory_mb
  timeout              = 29 # API Gateway's own limit
  environment          = local.api_environment
  reserved_concurrency = var.api_reserved_concurrency
  policy_statements    = local.statements.api
  log_retention_days   = local.core.log_retention_days
  kms_key_arn          = local.kms
  tracing              = var.tracing
  otel_layer_arn       = var.otel_layer_arn
  alarm_topic_arn      = local.infra.arns.alarm_topic
  tags                 = local.tags
}

module "worker" {
  count                = local.on_lambda ? 1 : 0
  source               = "../../modules/lambda-function"
  function_name        = "${local.prefix}-worker"
  description          = "jobgate worker: runs jobs from the SQS queue"
  handler              = "jobgate.aws_lambda.worker_handler"
  architecture         = var.architecture
  filename             = local.function_zip
  layers               = [aws_lambda_layer_version.dependencies[0].arn]
  memory_size          = var.worker_memory_mb
  timeout              = local.infra.worker_timeout_seconds
  environment          = local.worker_environment
  reserved_concurrency = var.worker_reserved_concurrency
  policy_statements    = local.statements.worker
  log_retention_days   = local.core.log_retention_days
  kms_key_arn          = local.kms
  tracing              = var.tracing
  otel_layer_arn       = var.otel_layer_arn
  alarm_topic_arn      = local.infra.arns.alarm_topic
  tags                 = local.tags

  sqs_event_source = {
    queue_arn           = local.infra.arns.jobs_queue
    batch_size          = var.worker_batch_size
    maximum_concurrency = var.worker_max_concurrency
    enabled             = var.worker_event_source_enabled
  }
}

module "cron" {
  count                  = local.on_lambda ? 1 : 0
  source                 = "../../modules/lambda-function"
  function_name          = "${local.prefix}-cron"
  description            = "jobgate schedules and housekeeping (EventBridge rules)"
  handler                = "jobgate.aws_lambda.cron_handler"
  architecture           = var.architecture
  filename               = local.function_zip
  layers                 = [aws_lambda_layer_version.dependencies[0].arn]
  memory_size            = 512
  timeout                = 120
  environment            = local.environment
  reserved_concurrency   = 2
  policy_statements      = local.statements.cron
  log_retention_days     = local.core.log_retention_days
  kms_key_arn            = local.kms
  tracing                = var.tracing
  otel_layer_arn         = var.otel_layer_arn
  dead_letter_target_arn = local.infra.arns.alarm_topic # a tick that failed every retry pages someone
  alarm_topic_arn        = local.infra.arns.alarm_topic
  tags                   = local.tags
}

# Every route of the HTTP API goes to the API (FastAPI routes inside): the function, or the
# App Runner service through an HTTP proxy.
resource "aws_apigatewayv2_integration" "api" {
  api_id                 = local.infra.http_api.id
  integration_type       = local.on_lambda ? "AWS_PROXY" : "HTTP_PROXY"
  integration_method     = local.on_lambda ? null : "ANY"
  integration_uri        = local.on_lambda ? module.api[0].invoke_arn : module.api_service[0].service_url
  payload_format_version = local.on_lambda ? "2.0" : "1.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "default" {
  #checkov:skip=CKV_AWS_309: jobgate authenticates every route itself (API keys, 401 problem+json); /docs and /healthz are public on purpose
  api_id    = local.infra.http_api.id
  route_key = "$default"
  target    = "integrations/${aws_apigatewayv2_integration.api.id}"
}

resource "aws_lambda_permission" "http_api" {
  count         = local.on_lambda ? 1 : 0
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = module.api[0].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${local.infra.http_api.execution_arn}/*/*"
}

resource "aws_cloudwatch_event_target" "cron" {
  for_each  = local.on_lambda ? local.infra.schedule_rules : {}
  rule      = each.value.name
  target_id = "cron-handler"
  arn       = module.cron[0].function_arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 8
  }
}

resource "aws_lambda_permission" "cron" {
  for_each      = local.on_lambda ? local.infra.schedule_rules : {}
  statement_id  = "AllowEventBridge-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = module.cron[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = each.value.arn
}

# Failed notices: a webhook delivery that gave up (every retry failed, or 410 Gone), counted from
# the cron function's JSON log lines, and SNS's own failed deliveries (email, SMS, subscribers).
resource "aws_cloudwatch_log_metric_filter" "notices_given_up" {
  count          = local.on_lambda ? 1 : 0 # App Runner: its own log groups, made by the service
  name           = "${local.prefix}-notices-given-up"
  log_group_name = module.cron[0].log_group_name
  pattern        = "{ $.event = \"notice_failed\" && $.gave_up IS TRUE }"

  metric_transformation {
    name          = "NoticesGivenUp"
    namespace     = "jobgate/${local.prefix}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "notices_given_up" {
  count               = local.on_lambda ? 1 : 0
  alarm_name          = "${local.prefix}-notices-given-up"
  alarm_description   = "A webhook delivery failed every retry (or its receiver answered 410 Gone)."
  namespace           = "jobgate/${local.prefix}"
  metric_name         = "NoticesGivenUp"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.infra.arns.alarm_topic]
  ok_actions          = [local.infra.arns.alarm_topic]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "sns_deliveries_failed" {
  alarm_name          = "${local.prefix}-notifications-failed"
  alarm_description   = "SNS could not deliver notices to some subscribers (email, SMS, queues)."
  namespace           = "AWS/SNS"
  metric_name         = "NumberOfNotificationsFailed"
  dimensions          = { TopicName = element(split(":", local.infra.arns.notifications_topic), 5) }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.infra.arns.alarm_topic]
  ok_actions          = [local.infra.arns.alarm_topic]
  tags                = local.tags
}

# -- App Runner (compute = "apprunner"): the same image and CLI as the Dockerfile, for jobs
# longer than Lambda's 15 minutes. make image pushes jobgate's image to this repository.
resource "aws_ecr_repository" "images" {
  count                = local.on_lambda ? 0 : 1
  name                 = "${local.prefix}-jobgate"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete_images
  tags                 = local.tags

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = local.kms == null ? "AES256" : "KMS"
    kms_key         = local.kms
  }
}

module "api_service" {
  count              = local.on_lambda ? 0 : 1
  source             = "../../modules/apprunner-service"
  name               = "${local.prefix}-api"
  image              = "${aws_ecr_repository.images[0].repository_url}:${var.image_tag}"
  ecr_repository_arn = aws_ecr_repository.images[0].arn
  start_command      = "jobgate api"
  environment        = local.api_environment
  policy_statements  = local.statements.api
  max_instances      = var.service_max_instances
  kms_key_arn        = local.kms
  tags               = local.tags
}

module "worker_service" {
  count              = local.on_lambda ? 0 : 1
  source             = "../../modules/apprunner-service"
  name               = "${local.prefix}-worker"
  image              = "${aws_ecr_repository.images[0].repository_url}:${var.image_tag}"
  ecr_repository_arn = aws_ecr_repository.images[0].arn
  start_command      = "jobgate worker --health-port 8080"
  environment        = local.environment # no admin key: the worker serves no API
  policy_statements  = local.statements.service_worker
  max_instances      = var.service_max_instances
  kms_key_arn        = local.kms
  tags               = local.tags
}

# Before the compute switch these had no count: keep existing deployments' resources.
moved {
  from = module.api
  to   = module.api[0]
}

moved {
  from = module.worker
  to   = module.worker[0]
}

moved {
  from = module.cron
  to   = module.cron[0]
}

moved {
  from = aws_lambda_layer_version.dependencies
  to   = aws_lambda_layer_version.dependencies[0]
}

moved {
  from = aws_lambda_permission.http_api
  to   = aws_lambda_permission.http_api[0]
}
