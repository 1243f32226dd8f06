environment            = "prod"
aws_region             = "us-east-1"
worker_max_concurrency = 50
# at least worker_max_concurrency: Lambda throttles past it, inflating SQS receive counts
worker_reserved_concurrency = 60
state_backend = {
  bucket         = "jobgate-tfstate"
  region         = "us-east-1"
  dynamodb_table = "jobgate-tflock"
  encrypt        = true
}
