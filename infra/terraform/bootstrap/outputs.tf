output "state_bucket" {
  description = "Put this in every environments/<env>/backend.tfvars (bucket) and terraform.tfvars (state_backend.bucket)."
  value       = aws_s3_bucket.state.id
}

output "lock_table" {
  description = "DynamoDB table for state locks (dynamodb_table in backend.tfvars)."
  value       = aws_dynamodb_table.lock.name
}

output "deploy_role_arns" {
  description = "Role per environment for aws-actions/configure-aws-credentials (role-to-assume)."
  value       = { for env, role in aws_iam_role.deploy : env => role.arn }
}
