# 20_infra: what the application stores and moves data with — tables, queues, the blob bucket,
# topics, the HTTP API and the schedules' rules. Reads 10_core; read by 30_app.

data "terraform_remote_state" "core" {
  backend = "s3"
  config  = merge(var.state_backend, { key = "${var.project}/${var.environment}/10_core.tfstate" })
}

locals {
  core   = data.terraform_remote_state.core.outputs
  prefix = local.core.name_prefix
  tags   = local.core.tags
  kms    = try(local.core.kms_key_arn, null) # a null output is absent from remote state
  rules = merge(var.schedules, {
    housekeeping  = var.housekeeping_expression
    notifications = var.notifications_expression
  })
}

module "alarms" {
  source      = "../../modules/notifications"
  name        = "${local.prefix}-alarms"
  kms_key_arn = local.kms
  tags        = local.tags
}

module "notifications" {
  source                  = "../../modules/notifications"
  name                    = "${local.prefix}-notifications"
  kms_key_arn             = local.kms
  allow_cloudwatch_alarms = false
  tags                    = local.tags
}

module "jobs_queue" {
  source                      = "../../modules/sqs-queue"
  name                        = "${local.prefix}-jobs"
  visibility_timeout_seconds  = 6 * var.worker_timeout_seconds
  max_receive_count           = var.max_receive_count
  kms_key_arn                 = local.kms
  enable_redrive_allow_policy = var.enable_redrive_allow_policy
  alarm_topic_arn             = module.alarms.topic_arn
  max_message_age_seconds     = var.max_message_age_seconds
  tags                        = local.tags
}

# The shapes jobgate.backends.aws (jobs.py, users.py, schedules.py) reads and writes (provision.py makes the same ones).
module "jobs_table" {
  source              = "../../modules/dynamodb-table"
  name                = "${local.prefix}-jobs"
  hash_key            = "job_id"
  attributes          = { job_id = "S", owner_shard = "S", status_shard = "S", updated_at = "N", listing = "S" }
  kms_key_arn         = local.kms
  deletion_protection = var.deletion_protection
  tags                = local.tags
  # notifications read the events each write appended from the stream (backends/aws/stream.py)
  stream_view_type = "NEW_AND_OLD_IMAGES"
  global_secondary_indexes = [
    # Every partition key is sharded (`<value>#<n>`): a partition takes ~1,000 writes a second
    # and these sort keys only grow. An owner's jobs, newest first (written once per job).
    { name = "owner-index", hash_key = "owner_shard", range_key = "job_id", projection_type = "KEYS_ONLY" },
    # queued and processing jobs only (sparse), for the reconciler
    { name = "status-index", hash_key = "status_shard", range_key = "updated_at", projection_type = "INCLUDE", non_key_attributes = ["lease_expires_at"] },
    # every owner's jobs, newest first, for the admin: `listing` is one of a few shards
    { name = "listing-index", hash_key = "listing", range_key = "job_id", projection_type = "KEYS_ONLY" },
  ]
}

# Notifications (jobgate.backends.aws.notices): subscriptions, webhook deliveries (pending ones
# in the sparse due-index the senders claim from) and the dispatcher's cursor (its positions in
# the jobs table's stream).
module "events_table" {
  source              = "../../modules/dynamodb-table"
  name                = "${local.prefix}-events"
  hash_key            = "pk"
  range_key           = "sk"
  attributes          = { pk = "S", sk = "S", due = "S", next_at = "N" }
  ttl_attribute       = "ttl"
  kms_key_arn         = local.kms
  deletion_protection = var.deletion_protection
  tags                = local.tags
  global_secondary_indexes = [
    { name = "due-index", hash_key = "due", range_key = "next_at" },
  ]
}

# The notifications cursor, made with the table: events are dispatched from the first one on.
resource "aws_dynamodb_table_item" "notifications_cursor" {
  table_name = module.events_table.name
  hash_key   = "pk"
  range_key  = "sk"
  item = jsonencode({
    pk    = { S = "cursor" }
    sk    = { S = "notifications" }
    start = { S = "0" }
  })

  lifecycle {
    ignore_changes = [item] # jobgate owns it from here on
  }
}

module "users_table" {
  source              = "../../modules/dynamodb-table"
  name                = "${local.prefix}-users"
  hash_key            = "user_id"
  attributes          = { user_id = "S", kind = "S", key_owner = "S", created_at = "N" }
  kms_key_arn         = local.kms
  deletion_protection = var.deletion_protection
  tags                = local.tags
  global_secondary_indexes = [
    { name = "kind-index", hash_key = "kind", range_key = "user_id" },
    { name = "key-owner-index", hash_key = "key_owner", range_key = "created_at" },
  ]
}

module "blobs" {
  source        = "../../modules/s3-bucket"
  name          = "${local.prefix}-blobs-${local.core.account_id}"
  kms_key_arn   = local.kms
  force_destroy = var.force_destroy_bucket

  deny_insecure_transport = var.deny_insecure_transport
  tags                    = local.tags
}

module "http_api" {
  source                 = "../../modules/http-api"
  name                   = "${local.prefix}-api"
  throttling_burst_limit = var.api_throttling_burst_limit
  throttling_rate_limit  = var.api_throttling_rate_limit
  cors_allow_origins     = var.cors_allow_origins
  log_retention_days     = local.core.log_retention_days
  kms_key_arn            = local.kms
  alarm_topic_arn        = module.alarms.topic_arn
  tags                   = local.tags
}

# Rules only: 30_app points them at the cron Lambda. The rule's name ends with the schedule's
# name, which is how jobgate.aws_lambda.cron_handler knows which schedule ticked.
module "schedules" {
  source              = "../../modules/schedule"
  for_each            = local.rules
  name                = "${local.prefix}-${each.key}"
  schedule_expression = each.value
  description         = each.key == "housekeeping" ? "jobgate reconciler" : "jobgate schedule ${each.key}"
  tags                = local.tags
}
