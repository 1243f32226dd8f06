"""Adapters that send notices out of jobgate: webhooks over HTTP, email over SMTP or to the
local mail outbox. Translation only: what to send and when is :mod:`jobgate.services.notify`'s."""
