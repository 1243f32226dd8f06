environment         = "stage"
aws_region          = "us-east-1"
deletion_protection = true
# schedule name => expression, for the @schedule entries of your app
schedules = {}
