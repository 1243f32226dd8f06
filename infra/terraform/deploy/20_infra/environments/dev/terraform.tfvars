environment         = "dev"
aws_region          = "us-east-1"
deletion_protection = false
# schedule name => expression, for the @schedule entries of your app
schedules = {}
