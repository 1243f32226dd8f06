environment        = "prod"
aws_region         = "us-east-1"
create_kms_key     = true
log_retention_days = 365
