variable "name" {
  description = "Topic name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}$", var.name))
    error_message = "name: 1-256 characters of letters, digits, '-' and '_'."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the topic; null uses the AWS-managed key alias/aws/sns."
  type        = string
  default     = null
}

variable "allow_cloudwatch_alarms" {
  description = "Let CloudWatch alarms in this account publish to the topic."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the topic."
  type        = map(string)
  default     = {}
}
