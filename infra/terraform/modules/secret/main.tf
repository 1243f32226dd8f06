# A Secrets Manager secret with no value in Terraform: values never enter state or code.
# Set it after apply (seed 004): aws secretsmanager put-secret-value --secret-id <arn> ...

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57: the admin API key is rotated by putting a new value (jobgate rereads it within 5 minutes); a rotation Lambda adds nothing here
  name                    = var.name
  description             = var.description
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = merge(var.tags, { Name = var.name })
}
