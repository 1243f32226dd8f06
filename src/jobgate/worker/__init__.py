"""Runtimes that consume the queue: the long-polling worker and the in-process scheduler."""
