"""Pure domain: records, status transitions, ids, keys, schedule expressions. No I/O."""
