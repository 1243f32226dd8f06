variable "name" {
  description = "Service name; also names its roles and auto scaling configuration."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{3,39}$", var.name))
    error_message = "name: 4-40 characters of letters, digits, '-' and '_', starting with a letter or digit."
  }
}

variable "image" {
  description = "The image to run: an ECR repository URL with its tag (make image pushes jobgate's)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "The ECR repository the image comes from (the access role may pull from it only)."
  type        = string
}

variable "start_command" {
  description = "The command the image runs, e.g. \"jobgate api\" or \"jobgate worker --health-port 8080\"."
  type        = string
}

variable "port" {
  description = "Port the container listens on (the API's, or the worker's health port)."
  type        = number
  default     = 8080
}

variable "health_check_path" {
  description = "HTTP path App Runner probes."
  type        = string
  default     = "/healthz"
}

variable "environment" {
  description = "Environment variables (jobgate's settings); no secrets: the admin key stays in Secrets Manager."
  type        = map(string)
  default     = {}
}

variable "cpu" {
  description = "vCPU per instance (App Runner's values: 0.25 vCPU … 4 vCPU)."
  type        = string
  default     = "1 vCPU"
}

variable "memory" {
  description = "Memory per instance (App Runner's values: 0.5 GB … 12 GB)."
  type        = string
  default     = "2 GB"
}

variable "min_instances" {
  description = "Instances kept running (a worker service needs at least one: it polls)."
  type        = number
  default     = 1
}

variable "max_instances" {
  description = "Instances App Runner may scale out to."
  type        = number
  default     = 4

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 25
    error_message = "max_instances must be 1-25."
  }
}

variable "max_concurrency" {
  description = "Requests per instance before App Runner scales out."
  type        = number
  default     = 100
}

variable "policy_statements" {
  description = "What the code may do: IAM statements (sid, actions, resources) for the instance role."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
  default = []
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the service's encryption, or null (AWS-owned key)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
