# Outputs named after the settings jobgate reads (JOBS_TABLE_NAME => jobs_table_name, ...),
# plus the ARNs the application layer grants access to.

output "jobs_table_name" {
  description = "JOBS_TABLE_NAME"
  value       = module.jobs_table.name
}

output "events_table_name" {
  description = "EVENTS_TABLE_NAME"
  value       = module.events_table.name
}

output "users_table_name" {
  description = "USERS_TABLE_NAME"
  value       = module.users_table.name
}

output "jobs_queue_url" {
  description = "JOBS_QUEUE_URL"
  value       = module.jobs_queue.queue_url
}

output "jobs_dlq_url" {
  description = "JOBS_DLQ_URL"
  value       = module.jobs_queue.dlq_url
}

output "s3_bucket_name" {
  description = "S3_BUCKET_NAME"
  value       = module.blobs.name
}

output "jobgate_environment" {
  description = "The settings this layer provides, by the names jobgate reads."
  value = {
    JOBS_TABLE_NAME   = module.jobs_table.name
    EVENTS_TABLE_NAME = module.events_table.name
    USERS_TABLE_NAME  = module.users_table.name
    JOBS_QUEUE_URL    = module.jobs_queue.queue_url
    JOBS_DLQ_URL      = module.jobs_queue.dlq_url
    S3_BUCKET_NAME    = module.blobs.name
    # every notice is published here; email and SMS subscriptions are made on it
    NOTIFICATIONS_TOPIC_ARN = module.notifications.topic_arn
    # the jobs table's stream: notifications are read from it
    JOBS_STREAM_ARN = module.jobs_table.stream_arn
  }
}

output "arns" {
  description = "ARNs of the tables, queues, bucket and topics, for IAM policies."
  value = {
    jobs_table          = module.jobs_table.arn
    jobs_stream         = module.jobs_table.stream_arn
    events_table        = module.events_table.arn
    users_table         = module.users_table.arn
    jobs_queue          = module.jobs_queue.queue_arn
    jobs_dlq            = module.jobs_queue.dlq_arn
    bucket              = module.blobs.arn
    alarm_topic         = module.alarms.topic_arn
    notifications_topic = module.notifications.topic_arn
  }
}

output "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the jobs queue (JOBGATE_VISIBILITY_TIMEOUT must match)."
  value       = 6 * var.worker_timeout_seconds
}

output "max_receive_count" {
  description = "Receives before the DLQ (JOBGATE_MAX_RECEIVES)."
  value       = var.max_receive_count
}

output "worker_timeout_seconds" {
  description = "Timeout the worker Lambda must use (the queue's visibility is 6x it)."
  value       = var.worker_timeout_seconds
}

output "http_api" {
  description = "The HTTP API: id, endpoint (the public URL) and execution ARN."
  value = {
    id            = module.http_api.api_id
    endpoint      = module.http_api.api_endpoint
    execution_arn = module.http_api.execution_arn
  }
}

output "schedule_rules" {
  description = "EventBridge rules by schedule name: name and ARN."
  value       = { for k, m in module.schedules : k => { name = m.rule_name, arn = m.rule_arn } }
}
