environment            = "stage"
aws_region             = "us-east-1"
worker_max_concurrency = 10
state_backend = {
  bucket         = "jobgate-tfstate"
  region         = "us-east-1"
  dynamodb_table = "jobgate-tflock"
  encrypt        = true
}
