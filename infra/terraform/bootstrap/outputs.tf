output "state_bucket" {
  description = "The state bucket infra/deploy.py uses (<project>-tfstate-<account id>)."
  value       = aws_s3_bucket.state.id
}

output "deploy_role_arns" {
  description = "Role per environment for aws-actions/configure-aws-credentials (role-to-assume)."
  value       = { for env, role in aws_iam_role.deploy : env => role.arn }
}
