variable "function_zip" {
  description = "The function package (jobgate and your handlers), built by `make package`. Default: build/lambda/function.zip at the repository root."
  type        = string
  default     = null
}

variable "layer_zip" {
  description = "The dependency layer, built by `make package`. Default: build/lambda/layer.zip at the repository root."
  type        = string
  default     = null
}

variable "jobgate_app" {
  description = "JOBGATE_APP: module and JobGate instance with your handlers (packaged in the function zip)."
  type        = string
  default     = "jobgate.demo:app"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$", var.jobgate_app))
    error_message = "jobgate_app must look like package.module:attribute."
  }
}

variable "log_level" {
  description = "JOBGATE_LOG_LEVEL of every function."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warning", "error"], var.log_level)
    error_message = "log_level must be debug, info, warning or error."
  }
}

variable "architecture" {
  description = "x86_64 or arm64 (the layer must be built for it: make package ARCH=...)."
  type        = string
  default     = "x86_64"
}

variable "api_memory_mb" {
  description = "Memory of the API function."
  type        = number
  default     = 1024
}

variable "api_reserved_concurrency" {
  description = "Reserved (and maximum) concurrency of the API function."
  type        = number
  default     = 50
}

variable "worker_memory_mb" {
  description = "Memory of the worker function."
  type        = number
  default     = 1024
}

variable "worker_reserved_concurrency" {
  description = "Reserved concurrency of the worker function; keep it above worker_max_concurrency."
  type        = number
  default     = 20
}

variable "worker_max_concurrency" {
  description = "Most concurrent worker invocations the SQS event source starts (2..1000)."
  type        = number
  default     = 10

  validation {
    condition     = var.worker_max_concurrency >= 2 && var.worker_max_concurrency <= 1000
    error_message = "worker_max_concurrency must be within 2..1000."
  }

  validation {
    condition     = var.worker_max_concurrency <= var.worker_reserved_concurrency
    error_message = "worker_max_concurrency must not exceed worker_reserved_concurrency: Lambda would throttle the event source (see jobgate doctor)."
  }
}

variable "worker_batch_size" {
  description = "SQS records per worker invocation."
  type        = number
  default     = 10
}

variable "tracing" {
  description = "\"xray\", \"otel\" (with otel_layer_arn) or \"off\"."
  type        = string
  default     = "xray"
}

variable "otel_layer_arn" {
  description = "AWS Distro for OpenTelemetry layer, for tracing = \"otel\"."
  type        = string
  default     = null
}

variable "worker_event_source_enabled" {
  description = "Whether the worker polls the jobs queue. Emulator runs turn it off: moto cannot run Lambda code, yet its event source mapping would receive (and count) every message."
  type        = bool
  default     = true
}

variable "compute" {
  description = "Where the API and worker run: \"lambda\" (functions, SQS event source, cron function) or \"apprunner\" (two App Runner services from the container image: for jobs longer than Lambda's 15 minutes)."
  type        = string
  default     = "lambda"

  validation {
    condition     = contains(["lambda", "apprunner"], var.compute)
    error_message = "compute must be \"lambda\" or \"apprunner\"."
  }
}

variable "image_tag" {
  description = "compute = \"apprunner\": the tag of jobgate's image in the ECR repository (make image)."
  type        = string
  default     = "latest"
}

variable "service_max_instances" {
  description = "compute = \"apprunner\": instances each service may scale out to."
  type        = number
  default     = 4
}

variable "force_delete_images" {
  description = "compute = \"apprunner\": let destroy delete the image repository with its images."
  type        = bool
  default     = false
}

variable "failure_rate_threshold" {
  description = "Alarm when more than this share of finished jobs failed (three 5-minute periods in a row)."
  type        = number
  default     = 0.1
}

variable "p95_run_seconds" {
  description = "Alarm when the p95 attempt run time is over this many seconds; null: 80 % of the worker function's timeout."
  type        = number
  default     = null
}
