output "name" {
  description = "Table name."
  value       = aws_dynamodb_table.this.name
}

output "arn" {
  description = "Table ARN; its indexes are \"<arn>/index/*\"."
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "The table's stream ARN (null without a stream)."
  value       = var.stream_view_type == null ? null : aws_dynamodb_table.this.stream_arn
}
