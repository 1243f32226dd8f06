variable "name" {
  description = "Queue name; the dead-letter queue is \"<name>-dlq\"."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,76}$", var.name))
    error_message = "name: 1-76 characters of letters, digits, '-' and '_' (80 with the -dlq suffix)."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden; keep it at least 6x the consuming Lambda's timeout."
  type        = number
  default     = 900

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be within 0..43200."
  }
}

variable "message_retention_seconds" {
  description = "How long the queue keeps a message (seeds: 4 days)."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be within 60..1209600 (14 days)."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message; must outlast the queue's retention, or a message could expire there before anyone looks."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be within 60..1209600 (14 days)."
  }

  validation {
    condition     = var.dlq_message_retention_seconds > var.message_retention_seconds
    error_message = "dlq_message_retention_seconds must be longer than message_retention_seconds."
  }
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the DLQ. jobgate fails a job after its own max_attempts; this is the backstop for crashes, so keep it above max_attempts."
  type        = number
  default     = 10

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be within 1..1000."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long polling: how long ReceiveMessage waits for a message."
  type        = number
  default     = 20

  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20
    error_message = "receive_wait_time_seconds must be within 0..20."
  }
}

variable "max_message_size" {
  description = "Largest message in bytes. jobgate's messages are small (payloads live in the ledger or S3)."
  type        = number
  default     = 262144

  validation {
    condition     = var.max_message_size >= 1024 && var.max_message_size <= 262144
    error_message = "max_message_size must be within 1024..262144."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for SSE; null uses SQS-managed keys (SSE-SQS)."
  type        = string
  default     = null
}

variable "enable_redrive_allow_policy" {
  description = "Restrict the DLQ to this queue as its only source. Turn off only for emulators: moto accepts but never returns RedriveAllowPolicy, and the provider waits for it forever."
  type        = bool
  default     = true
}

variable "enable_alarms" {
  description = "Create the alarms (they notify alarm_topic_arn when it is set)."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic notified by the queue's alarms; null: alarms without notifications."
  type        = string
  default     = null
}

variable "max_message_age_seconds" {
  description = "Alarm when the oldest message has waited longer than this."
  type        = number
  default     = 900

  validation {
    condition     = var.max_message_age_seconds > 0
    error_message = "max_message_age_seconds must be positive."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
