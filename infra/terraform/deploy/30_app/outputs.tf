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
  description = "Function names and their roles (compute = \"lambda\"; empty otherwise)."
  value = local.on_lambda ? {
    api    = { name = module.api[0].function_name, role = module.api[0].role_name }
    worker = { name = module.worker[0].function_name, role = module.worker[0].role_name }
    cron   = { name = module.cron[0].function_name, role = module.cron[0].role_name }
  } : {}
}

output "event_source_mapping_uuid" {
  description = "The worker's SQS event source mapping (compute = \"lambda\")."
  value       = local.on_lambda ? module.worker[0].event_source_mapping_uuid : null
}

output "layer_arn" {
  description = "Version ARN of the dependency layer (compute = \"lambda\")."
  value       = local.on_lambda ? aws_lambda_layer_version.dependencies[0].arn : null
}

output "services" {
  description = "App Runner services (compute = \"apprunner\"): URL and instance role; and the image repository."
  value = local.on_lambda ? null : {
    repository = aws_ecr_repository.images[0].repository_url
    api        = { url = module.api_service[0].service_url, role = module.api_service[0].instance_role_name }
    worker     = { url = module.worker_service[0].service_url, role = module.worker_service[0].instance_role_name }
  }
}
