variable "name" {
  description = "Secret name, e.g. /jobgate/dev/admin-api-key."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.name))
    error_message = "name: 1-512 characters of letters, digits and /_+=.@-."
  }
}

variable "description" {
  description = "What the secret holds."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key; null uses aws/secretsmanager."
  type        = string
  default     = null
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0 deletes at once)."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 or within 7..30."
  }
}

variable "tags" {
  description = "Tags for the secret."
  type        = map(string)
  default     = {}
}
