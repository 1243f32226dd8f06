# Bootstrap (seed 001): what must exist before the layers can deploy — the Terraform state
# bucket (state is locked by a lock file in it: use_lockfile), GitHub Actions' OIDC provider
# and one deploy role per environment,
# each allowed to manage only "<project>-*" resources.

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  arn        = "arn:aws:%s:${var.aws_region}:${local.account_id}:%s"
  prefix     = var.project
  tags       = { Project = var.project, ManagedBy = "terraform", Layer = "bootstrap" }
  oidc_arn   = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : "arn:aws:iam::${local.account_id}:oidc-provider/token.actions.githubusercontent.com"
}

# --- state --------------------------------------------------------------------------------

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144: state is small and versioned; replicate it only if the account's DR plan asks
  #checkov:skip=CKV2_AWS_62: nothing consumes state-bucket events
  #checkov:skip=CKV_AWS_18: access logging needs a log bucket, which is account-level infrastructure
  #checkov:skip=CKV_AWS_145: SSE-S3 is enough for state; a CMK here would have to exist before bootstrap
  bucket = "${local.prefix}-tfstate-${local.account_id}"
  tags   = local.tags
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Never expire state; only old versions and abandoned uploads.
resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 90
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}


# --- GitHub Actions OIDC ------------------------------------------------------------------

resource "aws_iam_openid_connect_provider" "github" {
  count           = var.create_oidc_provider ? 1 : 0
  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
  tags            = local.tags
}

data "aws_iam_policy_document" "assume" {
  for_each = var.environments

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:${each.value.github_subject}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  for_each             = var.environments
  name                 = "${local.prefix}-github-actions-${each.key}"
  description          = "GitHub Actions deploys ${var.project} ${each.key} with Terraform"
  assume_role_policy   = data.aws_iam_policy_document.assume[each.key].json
  max_session_duration = 3600
  tags                 = merge(local.tags, { Environment = each.key })
}

resource "aws_iam_policy" "management" {
  for_each    = local.management
  name        = "${local.prefix}-${each.key}-management"
  description = "Lets the deploy roles manage ${each.key} resources named ${local.prefix}-*"
  policy      = jsonencode({ Version = "2012-10-17", Statement = each.value })
  tags        = local.tags
}

resource "aws_iam_role_policy_attachment" "management" {
  for_each   = { for pair in setproduct(keys(var.environments), keys(local.management)) : "${pair[0]}/${pair[1]}" => { env = pair[0], policy = pair[1] } }
  role       = aws_iam_role.deploy[each.value.env].name
  policy_arn = aws_iam_policy.management[each.value.policy].arn
}
