environment         = "stage"
aws_region          = "us-east-1"
deletion_protection = true
state_backend = {
  bucket         = "jobgate-tfstate"
  region         = "us-east-1"
  dynamodb_table = "jobgate-tflock"
  encrypt        = true
}
# schedule name => expression, for the @schedule entries of your app
schedules = {}
