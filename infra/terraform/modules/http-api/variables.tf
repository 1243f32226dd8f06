variable "name" {
  description = "API name."
  type        = string

  validation {
    condition     = length(var.name) >= 1 && length(var.name) <= 128
    error_message = "name: 1-128 characters."
  }
}

variable "throttling_burst_limit" {
  description = "Requests the stage accepts in a burst before answering 429."
  type        = number
  default     = 200

  validation {
    condition     = var.throttling_burst_limit >= 0
    error_message = "throttling_burst_limit must be 0 or more."
  }
}

variable "throttling_rate_limit" {
  description = "Steady requests per second the stage accepts."
  type        = number
  default     = 100

  validation {
    condition     = var.throttling_rate_limit >= 0
    error_message = "throttling_rate_limit must be 0 or more."
  }
}

variable "cors_allow_origins" {
  description = "Origins allowed by CORS; empty turns CORS off."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the access logs."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key for the access log group; null uses the AWS-managed key."
  type        = string
  default     = null
}

variable "enable_alarms" {
  description = "Create the alarms (they notify alarm_topic_arn when it is set)."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic notified by the 5xx alarm; null: alarms without notifications."
  type        = string
  default     = null
}

variable "max_5xx_rate" {
  description = "Alarm when more than this fraction of requests answer 5xx over 5 minutes."
  type        = number
  default     = 0.01

  validation {
    condition     = var.max_5xx_rate > 0 && var.max_5xx_rate < 1
    error_message = "max_5xx_rate must be a fraction between 0 and 1."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
