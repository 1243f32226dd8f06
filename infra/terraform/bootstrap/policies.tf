# Management policies of seed 001, one per service, scoped to "<project>-*" names. The deploy
# roles create and change the stack; the functions' own (runtime) policies live in 30_app.

locals {
  management = {
    state = [
      {
        Sid    = "StateObjects"
        Effect = "Allow"
        Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
        # the state objects and their .tflock files (use_lockfile)
        Resource = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
      },
    ]
    sqs = [
      {
        Sid    = "Queues"
        Effect = "Allow"
        Action = [
          "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
          "sqs:GetQueueUrl", "sqs:TagQueue", "sqs:UntagQueue", "sqs:ListQueueTags",
          "sqs:ListDeadLetterSourceQueues",
        ]
        Resource = format(local.arn, "sqs", "${local.prefix}-*")
      },
      { Sid = "ListQueues", Effect = "Allow", Action = ["sqs:ListQueues"], Resource = "*" },
    ]
    dynamodb = [
      {
        Sid    = "Tables"
        Effect = "Allow"
        Action = [
          "dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
          "dynamodb:TagResource", "dynamodb:UntagResource", "dynamodb:ListTagsOfResource",
          "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive",
          "dynamodb:DescribeContinuousBackups", "dynamodb:UpdateContinuousBackups",
        ]
        Resource = [format(local.arn, "dynamodb", "table/${local.prefix}-*"), format(local.arn, "dynamodb", "table/${local.prefix}-*/index/*")]
      },
      { Sid = "ListTables", Effect = "Allow", Action = ["dynamodb:ListTables"], Resource = "*" },
    ]
    s3 = [
      {
        Sid    = "Buckets"
        Effect = "Allow"
        Action = [
          "s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:GetBucketLocation",
          "s3:GetBucketVersioning", "s3:PutBucketVersioning", "s3:GetBucketPolicy", "s3:PutBucketPolicy",
          "s3:DeleteBucketPolicy", "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
          "s3:GetBucketTagging", "s3:PutBucketTagging", "s3:GetEncryptionConfiguration",
          "s3:PutEncryptionConfiguration", "s3:GetBucketCORS", "s3:PutBucketCORS", "s3:GetLifecycleConfiguration",
          "s3:PutLifecycleConfiguration", "s3:GetBucketLogging", "s3:PutBucketLogging", "s3:GetBucketOwnershipControls",
          "s3:PutBucketOwnershipControls", "s3:GetBucketAcl", "s3:GetBucketObjectLockConfiguration",
          "s3:GetBucketRequestPayment", "s3:GetBucketWebsite", "s3:GetAccelerateConfiguration",
          "s3:GetReplicationConfiguration",
        ]
        Resource = "arn:aws:s3:::${local.prefix}-*"
      },
      { Sid = "ListBuckets", Effect = "Allow", Action = ["s3:ListAllMyBuckets"], Resource = "*" },
    ]
    sns = [{
      Sid    = "Topics"
      Effect = "Allow"
      Action = [
        "sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
        "sns:TagResource", "sns:UntagResource", "sns:ListTagsForResource", "sns:Subscribe", "sns:Unsubscribe",
      ]
      Resource = format(local.arn, "sns", "${local.prefix}-*")
    }]
    secretsmanager = [{
      Sid    = "Secrets"
      Effect = "Allow"
      Action = [
        "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret",
        "secretsmanager:GetResourcePolicy", "secretsmanager:TagResource", "secretsmanager:UntagResource",
        "secretsmanager:UpdateSecret",
      ]
      Resource = format(local.arn, "secretsmanager", "secret:/${var.project}/*")
    }]
    events = [{
      Sid    = "Rules"
      Effect = "Allow"
      Action = [
        "events:PutRule", "events:DeleteRule", "events:DescribeRule", "events:PutTargets",
        "events:RemoveTargets", "events:ListTargetsByRule", "events:TagResource", "events:UntagResource",
        "events:ListTagsForResource",
      ]
      Resource = format(local.arn, "events", "rule/${local.prefix}-*")
    }]
    lambda = [
      {
        Sid    = "Functions"
        Effect = "Allow"
        Action = [
          "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
          "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:PutFunctionConcurrency",
          "lambda:DeleteFunctionConcurrency", "lambda:GetFunctionCodeSigningConfig", "lambda:ListVersionsByFunction",
          "lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy", "lambda:TagResource",
          "lambda:UntagResource", "lambda:ListTags",
        ]
        Resource = format(local.arn, "lambda", "function:${local.prefix}-*")
      },
      {
        Sid      = "Layers"
        Effect   = "Allow"
        Action   = ["lambda:PublishLayerVersion", "lambda:DeleteLayerVersion", "lambda:GetLayerVersion"]
        Resource = [format(local.arn, "lambda", "layer:${local.prefix}-*"), format(local.arn, "lambda", "layer:${local.prefix}-*:*")]
      },
      {
        # Event source mappings have no name to scope by; their functions are scoped above.
        Sid    = "EventSourceMappings"
        Effect = "Allow"
        Action = [
          "lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping",
          "lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping",
        ]
        Resource = "*"
      },
      {
        Sid       = "PassFunctionRoles"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = "arn:aws:iam::${local.account_id}:role/${local.prefix}-*"
        Condition = { StringEquals = { "iam:PassedToService" = "lambda.amazonaws.com" } }
      },
    ]
    iam = [{
      Sid    = "FunctionRoles"
      Effect = "Allow"
      Action = [
        "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:TagRole", "iam:UntagRole",
        "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy", "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
      ]
      Resource = "arn:aws:iam::${local.account_id}:role/${local.prefix}-*"
    }]
    observability = [
      {
        Sid    = "LogGroups"
        Effect = "Allow"
        Action = [
          "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:AssociateKmsKey",
          "logs:DisassociateKmsKey", "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource",
          "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        ]
        Resource = [
          format(local.arn, "logs", "log-group:/aws/lambda/${local.prefix}-*"),
          format(local.arn, "logs", "log-group:/aws/apigateway/${local.prefix}-*"),
        ]
      },
      { Sid = "DescribeLogGroups", Effect = "Allow", Action = ["logs:DescribeLogGroups"], Resource = "*" },
      {
        Sid    = "Alarms"
        Effect = "Allow"
        Action = [
          "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
          "cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource",
        ]
        Resource = format(local.arn, "cloudwatch", "alarm:${local.prefix}-*")
      },
      {
        Sid    = "HttpApis"
        Effect = "Allow"
        Action = ["apigateway:GET", "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE", "apigateway:TagResource"]
        # API Gateway IDs are generated, so there is no name to scope by here.
        Resource = ["arn:aws:apigateway:${var.aws_region}::/apis", "arn:aws:apigateway:${var.aws_region}::/apis/*", "arn:aws:apigateway:${var.aws_region}::/tags/*"]
      },
    ]
    kms = [
      {
        Sid    = "Keys"
        Effect = "Allow"
        Action = [
          "kms:CreateKey", "kms:TagResource", "kms:UntagResource", "kms:ListAliases",
        ]
        Resource  = "*"
        Condition = { StringEquals = { "aws:RequestTag/Project" = var.project } }
      },
      {
        Sid    = "ProjectKeys"
        Effect = "Allow"
        Action = [
          "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
          "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion", "kms:ListResourceTags", "kms:CreateAlias",
          "kms:DeleteAlias", "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKey",
        ]
        Resource  = "*"
        Condition = { StringEquals = { "aws:ResourceTag/Project" = var.project } }
      },
    ]
  }
}
