output "service_url" {
  description = "The service's HTTPS URL (https://…awsapprunner.com)."
  value       = "https://${aws_apprunner_service.this.service_url}"
}

output "service_arn" {
  description = "The service's ARN."
  value       = aws_apprunner_service.this.arn
}

output "instance_role_name" {
  description = "The role the service's code runs as."
  value       = aws_iam_role.instance.name
}
