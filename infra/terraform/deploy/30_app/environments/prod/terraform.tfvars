environment            = "prod"
aws_region             = "us-east-1"
worker_max_concurrency = 50
# at least worker_max_concurrency: Lambda throttles past it, inflating SQS receive counts
worker_reserved_concurrency = 60
