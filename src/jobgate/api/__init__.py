"""The HTTP contract: a FastAPI app built by :func:`jobgate.api.app.create_app`."""
