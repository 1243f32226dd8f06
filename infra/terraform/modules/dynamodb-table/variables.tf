variable "name" {
  description = "Table name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "name: 3-255 characters of letters, digits, '_', '-' and '.'."
  }
}

variable "hash_key" {
  description = "Partition key attribute."
  type        = string
}

variable "range_key" {
  description = "Sort key attribute, or null."
  type        = string
  default     = null
}

variable "attributes" {
  description = "Type (S, N or B) of every key attribute of the table and its indexes."
  type        = map(string)

  validation {
    condition     = alltrue([for t in values(var.attributes) : contains(["S", "N", "B"], t)])
    error_message = "attributes: each type must be S, N or B."
  }
}

variable "global_secondary_indexes" {
  description = "GSIs: name, hash key, optional range key, projection (ALL by default; INCLUDE names its non_key_attributes)."
  type = list(object({
    name               = string
    hash_key           = string
    range_key          = optional(string)
    projection_type    = optional(string, "ALL")
    non_key_attributes = optional(list(string))
  }))
  default = []

  validation {
    condition     = alltrue([for i in var.global_secondary_indexes : contains(["ALL", "KEYS_ONLY", "INCLUDE"], i.projection_type) && ((i.projection_type == "INCLUDE") == (i.non_key_attributes != null))])
    error_message = "global_secondary_indexes: projection_type must be ALL, KEYS_ONLY or INCLUDE, and non_key_attributes is given with INCLUDE only."
  }
}

variable "ttl_attribute" {
  description = "Attribute holding the expiry (epoch seconds), or null for no TTL."
  type        = string
  default     = null
}

variable "point_in_time_recovery" {
  description = "Keep continuous backups (35 days of restore points)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for SSE; null uses the AWS-managed key."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse DeleteTable until this is turned off."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}

variable "stream_view_type" {
  description = "Stream the table's writes with this view (NEW_AND_OLD_IMAGES, NEW_IMAGE, OLD_IMAGE, KEYS_ONLY), or null for no stream."
  type        = string
  default     = null

  validation {
    condition     = var.stream_view_type == null || contains(["NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"], coalesce(var.stream_view_type, "KEYS_ONLY"))
    error_message = "stream_view_type: NEW_AND_OLD_IMAGES, NEW_IMAGE, OLD_IMAGE, KEYS_ONLY or null."
  }
}
