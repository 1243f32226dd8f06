"""jobgate: an asynchronous job API for Python.

from jobgate import JobGate, JobContext, PermanentError

app = JobGate()

@app.job("resize", max_attempts=3, timeout=300)
def resize(payload: dict, ctx: JobContext) -> dict: ...

from jobgate import Client                  # calling a jobgate API from Python

with Client("http://127.0.0.1:8000", api_key) as jobs:
    done = jobs.wait(jobs.submit("resize", {"url": "..."}).job_id)
"""

from typing import TYPE_CHECKING

from jobgate.errors import JobGateError, PermanentError
from jobgate.registry import JobContext, JobGate

if TYPE_CHECKING:
    from jobgate.client import AsyncClient, Client

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "JobContext",
    "JobGate",
    "JobGateError",
    "PermanentError",
    "__version__",
]


def __getattr__(name: str) -> object:
    """``Client`` and ``AsyncClient`` on first use: the runtimes (Lambda) never import them."""
    if name in ("Client", "AsyncClient"):
        from jobgate import client

        return getattr(client, name)
    raise AttributeError(f"module 'jobgate' has no attribute {name!r}")
