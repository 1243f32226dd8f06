variable "name" {
  description = "Bucket name (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for SSE-KMS; null uses the AWS-managed aws/s3 key."
  type        = string
  default     = null
}

variable "glacier_after_days" {
  description = "Move objects to Glacier after this many days."
  type        = number
  default     = 90

  validation {
    condition     = var.glacier_after_days >= 1
    error_message = "glacier_after_days must be at least 1."
  }
}

variable "expire_after_days" {
  description = "Delete objects after this many days (after the Glacier move)."
  type        = number
  default     = 365

  validation {
    condition     = var.expire_after_days >= 1
    error_message = "expire_after_days must be at least 1."
  }

  validation {
    condition     = var.expire_after_days > var.glacier_after_days
    error_message = "expire_after_days must be later than glacier_after_days."
  }
}

variable "abort_incomplete_upload_days" {
  description = "Abort multipart uploads left incomplete this long."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_upload_days >= 1
    error_message = "abort_incomplete_upload_days must be at least 1."
  }
}

variable "noncurrent_version_expire_days" {
  description = "Delete overwritten (noncurrent) versions after this many days."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expire_days >= 1
    error_message = "noncurrent_version_expire_days must be at least 1."
  }
}

variable "access_log_bucket" {
  description = "Bucket that receives server access logs, or null for none."
  type        = string
  default     = null
}

variable "deny_insecure_transport" {
  description = "Bucket policy refusing plain-HTTP requests. Turn off only for emulators reached over http:// (moto enforces the Deny)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let destroy delete a bucket that still holds objects (test stacks only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
