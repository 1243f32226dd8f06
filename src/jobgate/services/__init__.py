"""Policy: submit, execute, query, users, schedules, maintenance. Backends only translate."""
