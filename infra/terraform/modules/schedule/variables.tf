variable "name" {
  description = "Rule name. jobgate's cron handler finds the schedule by the rule name's suffix, so end it with the schedule's name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.name))
    error_message = "name: 1-64 characters of letters, digits, '.', '-' and '_'."
  }
}

variable "schedule_expression" {
  description = "rate(...) or cron(...) in EventBridge's syntax (the same as @schedule's)."
  type        = string

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be rate(...) or cron(...)."
  }
}

variable "description" {
  description = "What the schedule enqueues."
  type        = string
  default     = ""
}

variable "enabled" {
  description = "Whether the rule fires."
  type        = bool
  default     = true
}

variable "target_function_arn" {
  description = "Lambda (jobgate.aws_lambda.cron_handler) the rule invokes; null creates the rule alone, for a later layer to target."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the rule."
  type        = map(string)
  default     = {}
}
