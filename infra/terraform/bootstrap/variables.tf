variable "project" {
  description = "Project name: deploy roles may only touch resources named \"<project>-*\"."
  type        = string
  default     = "jobgate"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project: 2-21 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "aws_region" {
  description = "Region of the state bucket and the deployments."
  type        = string
  default     = "us-east-1"
}

variable "aws_endpoint" {
  description = "Send every AWS call to this URL (an emulator); null for AWS itself."
  type        = string
  default     = null
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows deploy."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "environments" {
  description = "Deploy roles to create, by environment: which GitHub environment (or branch ref) may assume each."
  type = map(object({
    github_subject = string
  }))
  default = {
    dev   = { github_subject = "environment:dev" }
    stage = { github_subject = "environment:stage" }
    prod  = { github_subject = "environment:prod" }
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false when it already exists)."
  type        = bool
  default     = true
}
