# terraform init -backend-config=environments/dev/backend.tfvars
# The state bucket and lock table come from infra/terraform/bootstrap.
bucket         = "jobgate-tfstate"
key            = "jobgate/dev/10_core.tfstate"
region         = "us-east-1"
dynamodb_table = "jobgate-tflock"
encrypt        = true
