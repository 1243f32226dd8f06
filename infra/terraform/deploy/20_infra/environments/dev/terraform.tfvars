environment         = "dev"
aws_region          = "us-east-1"
deletion_protection = false
state_backend = {
  bucket         = "jobgate-tfstate"
  region         = "us-east-1"
  dynamodb_table = "jobgate-tflock"
  encrypt        = true
}
# schedule name => expression, for the @schedule entries of your app
schedules = {}
