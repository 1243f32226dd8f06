# 10_core: naming, tags, the optional KMS key and the secrets. Deployed first; the layers
# above read its outputs through remote state.

data "aws_caller_identity" "current" {}

locals {
  name_prefix = "${var.project}-${var.environment}"
  tags = merge(var.extra_tags, {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
  })
  account_id = data.aws_caller_identity.current.account_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111: a key policy's "*" resource is the key itself; account root delegates to IAM as AWS's default key policy does
  #checkov:skip=CKV_AWS_356: same: in a key policy "*" can only mean this key
  #checkov:skip=CKV_AWS_109: same: the account administers its own key, as in AWS's default key policy
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key

    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "ServicesEncrypt"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type = "Service"
      identifiers = [
        "logs.${var.aws_region}.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        "sns.amazonaws.com",
        "sqs.amazonaws.com",
      ]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  count                   = var.create_kms_key ? 1 : 0
  description             = "${local.name_prefix}: logs, secrets, tables, queues, blobs and topics"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  count         = var.create_kms_key ? 1 : 0
  name          = "alias/${local.name_prefix}"
  target_key_id = aws_kms_key.this[0].key_id
}

# The admin API key (jobgate reads it through API_KEY_SECRET_ARN). Terraform creates the secret
# without a value; put one after the first apply:
#   aws secretsmanager put-secret-value --secret-id <api_key_secret_arn> --secret-string "jg_admin_..."
module "admin_api_key" {
  source                  = "../../modules/secret"
  name                    = "/${var.project}/${var.environment}/admin-api-key"
  description             = "jobgate admin API key for ${local.name_prefix}"
  kms_key_arn             = try(aws_kms_key.this[0].arn, null)
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}
