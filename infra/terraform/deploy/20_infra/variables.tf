variable "worker_timeout_seconds" {
  description = "The worker Lambda's timeout; the queue's visibility timeout is 6x this (AWS's advice for event source mappings)."
  type        = number
  default     = 150

  validation {
    condition     = var.worker_timeout_seconds >= 10 && var.worker_timeout_seconds <= 900
    error_message = "worker_timeout_seconds must be within 10..900."
  }
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the DLQ (crash backstop; jobgate's max_attempts fails jobs first)."
  type        = number
  default     = 10
}

variable "max_message_age_seconds" {
  description = "Alarm when a job has waited in the queue longer than this."
  type        = number
  default     = 900
}

variable "api_throttling_burst_limit" {
  description = "HTTP API burst limit (429 past it)."
  type        = number
  default     = 200
}

variable "api_throttling_rate_limit" {
  description = "HTTP API steady requests per second."
  type        = number
  default     = 100
}

variable "cors_allow_origins" {
  description = "Origins allowed to call the API from a browser."
  type        = list(string)
  default     = []
}

variable "schedules" {
  description = "EventBridge rules for the app's @schedule entries: schedule name => rate()/cron() expression. The housekeeping rule (reconciler) is always added."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for name in keys(var.schedules) : can(regex("^[A-Za-z0-9._-]{1,40}$", name)) && name != "housekeeping"])
    error_message = "schedules: names of 1-40 letters, digits, '.', '-' or '_'; \"housekeeping\" is reserved."
  }
}

variable "notifications_expression" {
  description = "How often the cron function dispatches notices (SNS, webhooks) and retries due deliveries; with JOBGATE_NOTIFY_LAMBDA_POLL_SECONDS it also bounds a notice's delay."
  type        = string
  default     = "rate(1 minute)"
}

variable "housekeeping_expression" {
  description = "How often the reconciler runs (re-sends stale jobs, expires dead leases)."
  type        = string
  default     = "rate(5 minutes)"
}

variable "deletion_protection" {
  description = "Protect tables from deletion (turn off only for throwaway stacks)."
  type        = bool
  default     = true
}

variable "force_destroy_bucket" {
  description = "Let destroy delete the blob bucket with objects in it (throwaway stacks only)."
  type        = bool
  default     = false
}

variable "enable_redrive_allow_policy" {
  description = "Restrict the DLQ to the jobs queue. Emulator runs turn it off (moto never returns the attribute; see modules/sqs-queue)."
  type        = bool
  default     = true
}

variable "deny_insecure_transport" {
  description = "The blob bucket refuses plain HTTP. Emulator runs over http:// turn it off (see modules/s3-bucket)."
  type        = bool
  default     = true
}
