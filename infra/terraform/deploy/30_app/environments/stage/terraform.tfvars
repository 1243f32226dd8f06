environment            = "stage"
aws_region             = "us-east-1"
worker_max_concurrency = 10
