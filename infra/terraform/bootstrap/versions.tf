terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Bootstrap creates the state bucket, so its own state stays local (keep the file safe,
  # or migrate it into the bucket afterwards with `terraform init -migrate-state`).
  backend "local" {}
}

provider "aws" {
  region = var.aws_region

  skip_credentials_validation = var.aws_endpoint != null
  skip_metadata_api_check     = var.aws_endpoint != null
  s3_use_path_style           = var.aws_endpoint != null

  endpoints {
    dynamodb = var.aws_endpoint
    iam      = var.aws_endpoint
    s3       = var.aws_endpoint
    sts      = var.aws_endpoint
  }
}
