output "api_url" {
  description = "Base URL of the jobgate API."
  value       = local.infra.http_api.endpoint
}

output "lambda_environment" {
  description = "The settings every function gets, by the names jobgate reads (the API adds API_KEY_SECRET_ARN)."
  value       = local.environment
}

output "api_key_secret_arn" {
  description = "API_KEY_SECRET_ARN of the API function."
  value       = local.core.api_key_secret_arn
}

output "functions" {
  description = "Function names and their roles."
  value = {
    api    = { name = module.api.function_name, role = module.api.role_name }
    worker = { name = module.worker.function_name, role = module.worker.role_name }
    cron   = { name = module.cron.function_name, role = module.cron.role_name }
  }
}

output "event_source_mapping_uuid" {
  description = "The worker's SQS event source mapping."
  value       = module.worker.event_source_mapping_uuid
}

output "layer_arn" {
  description = "Version ARN of the dependency layer."
  value       = aws_lambda_layer_version.dependencies.arn
}
