environment        = "dev"
aws_region         = "us-east-1"
create_kms_key     = false
log_retention_days = 30
