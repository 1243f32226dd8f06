environment            = "dev"
aws_region             = "us-east-1"
worker_max_concurrency = 5
state_backend = {
  bucket         = "jobgate-tfstate"
  region         = "us-east-1"
  dynamodb_table = "jobgate-tflock"
  encrypt        = true
}
