variable "function_name" {
  description = "Function name; also names its role, log group and alarms."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,56}$", var.function_name))
    error_message = "function_name: 1-56 characters of letters, digits, '-' and '_' (room for role suffixes)."
  }
}

variable "description" {
  description = "What the function does."
  type        = string
  default     = ""
}

variable "handler" {
  description = "Entry point, e.g. jobgate.aws_lambda.api_handler."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime."
  type        = string
  default     = "python3.11"

  validation {
    condition     = can(regex("^python3\\.(1[1-9])$", var.runtime))
    error_message = "runtime must be python3.11 or later (jobgate needs Python 3.11)."
  }
}

variable "architecture" {
  description = "x86_64 or arm64; the dependency layer must be built for the same one."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "filename" {
  description = "Path of the function's zip (built by `make package`)."
  type        = string
}

variable "layers" {
  description = "Layer version ARNs (the dependency layer)."
  type        = list(string)
  default     = []
}

variable "memory_size" {
  description = "Memory in MB (CPU scales with it)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be within 128..10240."
  }
}

variable "timeout" {
  description = "Seconds before Lambda stops an invocation."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be within 1..900."
  }
}

variable "environment" {
  description = "Environment variables: the settings jobgate reads (see the README's configuration reference)."
  type        = map(string)
  default     = {}
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for (and capped at) this function."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrency >= 0
    error_message = "reserved_concurrency must be 0 or more."
  }
}

variable "policy_statements" {
  description = "What the code may do: IAM statements (sid, actions, resources) for the function's role."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
  default = []
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the function's logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the log group and the environment variables; null uses AWS-managed keys."
  type        = string
  default     = null
}

variable "tracing" {
  description = "\"xray\" (Active X-Ray tracing), \"otel\" (X-Ray plus the ADOT layer in var.otel_layer_arn) or \"off\" (PassThrough)."
  type        = string
  default     = "xray"

  validation {
    condition     = contains(["off", "xray", "otel"], var.tracing)
    error_message = "tracing must be off, xray or otel."
  }
}

variable "otel_layer_arn" {
  description = "ARN of the AWS Distro for OpenTelemetry Python layer, used when tracing = \"otel\"."
  type        = string
  default     = null
}

variable "dead_letter_target_arn" {
  description = "SQS queue or SNS topic for failed asynchronous invocations, or null."
  type        = string
  default     = null
}

variable "sqs_event_source" {
  description = "Consume this SQS queue: partial batch responses (ReportBatchItemFailures) and a concurrency cap. enabled = false keeps the mapping but stops polling (emulators, which cannot run the function)."
  type = object({
    queue_arn               = string
    batch_size              = optional(number, 10)
    batching_window_seconds = optional(number, 0)
    maximum_concurrency     = optional(number, 10)
    enabled                 = optional(bool, true)
  })
  default = null

  validation {
    condition     = var.sqs_event_source == null || try(var.sqs_event_source.maximum_concurrency >= 2 && var.sqs_event_source.maximum_concurrency <= 1000, false)
    error_message = "sqs_event_source.maximum_concurrency must be within 2..1000."
  }
}

variable "enable_alarms" {
  description = "Create the alarms (they notify alarm_topic_arn when it is set)."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic notified by error and throttle alarms; null: alarms without notifications."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
