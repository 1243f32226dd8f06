# Shared by every layer (each layer links this file): the provider, the state backend and the
# variables every layer takes. The backend's settings (bucket named from the account, key per
# environment and layer, use_lockfile) are written by infra/deploy.py: make deploy ENV=dev

terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  backend "s3" {}
}

variable "aws_region" {
  description = "Region of every resource in the layer."
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint" {
  description = "Send every AWS call to this URL (an emulator such as moto's server); null for AWS itself."
  type        = string
  default     = null
}

provider "aws" {
  region = var.aws_region

  # Only an emulator run sets aws_endpoint; null leaves each setting at its AWS default.
  skip_credentials_validation = var.aws_endpoint != null
  skip_metadata_api_check     = var.aws_endpoint != null
  skip_region_validation      = var.aws_endpoint != null
  s3_use_path_style           = var.aws_endpoint != null
  # an emulator answers at once or not at all (moto has no App Runner: a 500): do not retry
  # for minutes; null leaves AWS's default
  max_retries = var.aws_endpoint != null ? 2 : null

  endpoints {
    apigatewayv2   = var.aws_endpoint
    apprunner      = var.aws_endpoint
    cloudwatch     = var.aws_endpoint
    dynamodb       = var.aws_endpoint
    ecr            = var.aws_endpoint
    events         = var.aws_endpoint
    iam            = var.aws_endpoint
    kms            = var.aws_endpoint
    lambda         = var.aws_endpoint
    logs           = var.aws_endpoint
    s3             = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    sns            = var.aws_endpoint
    sqs            = var.aws_endpoint
    sts            = var.aws_endpoint
  }

  default_tags {
    tags = {
      Project   = var.project
      ManagedBy = "terraform"
    }
  }
}

variable "project" {
  description = "Project name: the first part of every resource name."
  type        = string
  default     = "jobgate"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project: 2-21 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment."
  type        = string

  validation {
    condition     = contains(["dev", "stage", "prod", "test"], var.environment)
    error_message = "environment must be dev, stage, prod or test (test: emulator runs)."
  }
}

variable "state_backend" {
  description = "Settings of the S3 state backend, less the key (infra/deploy.py passes them), used to read lower layers' state."
  type        = any
  default     = {}
}
