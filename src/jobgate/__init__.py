"""jobgate: an asynchronous job API for Python.

from jobgate import JobGate, JobContext, PermanentError

app = JobGate()

@app.job("resize", max_attempts=3, timeout=300)
def resize(payload: dict, ctx: JobContext) -> dict: ...
"""

from jobgate.errors import JobGateError, PermanentError
from jobgate.registry import JobContext, JobGate

__version__ = "0.1.0"

__all__ = ["JobContext", "JobGate", "JobGateError", "PermanentError", "__version__"]
