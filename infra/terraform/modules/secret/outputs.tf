output "arn" {
  description = "ARN of the secret (API_KEY_SECRET_ARN for jobgate)."
  value       = aws_secretsmanager_secret.this.arn
}

output "name" {
  description = "Name of the secret."
  value       = aws_secretsmanager_secret.this.name
}
