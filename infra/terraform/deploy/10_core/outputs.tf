output "name_prefix" {
  description = "\"<project>-<environment>\": the start of every resource name."
  value       = local.name_prefix
}

output "tags" {
  description = "Standard tags for every resource."
  value       = local.tags
}

output "account_id" {
  description = "AWS account the layers deploy into."
  value       = local.account_id
}

output "aws_region" {
  description = "Region of the stack (AWS_REGION: Lambda sets it; containers must)."
  value       = var.aws_region
}

output "kms_key_arn" {
  description = "The customer-managed KMS key, or null when create_kms_key is off."
  value       = try(aws_kms_key.this[0].arn, null)
}

output "log_retention_days" {
  description = "Days CloudWatch keeps logs."
  value       = var.log_retention_days
}

output "api_key_secret_arn" {
  description = "API_KEY_SECRET_ARN: the secret holding the admin API key."
  value       = module.admin_api_key.arn
}
