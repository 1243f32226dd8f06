output "name" {
  description = "Bucket name (S3_BUCKET_NAME for jobgate)."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "Bucket ARN; objects are \"<arn>/*\"."
  value       = aws_s3_bucket.this.arn
}
