variable "create_kms_key" {
  description = "Create a customer-managed KMS key for logs, secrets, tables, queues, the bucket and topics (else AWS-managed keys)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps logs, for every log group of every layer."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values (1, 3, 5, 7, 14, 30, ... 3653)."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored (0: at once, for throwaway stacks)."
  type        = number
  default     = 30
}

variable "extra_tags" {
  description = "Tags added to the standard ones (Project, Environment, ManagedBy)."
  type        = map(string)
  default     = {}
}
