"""The one error tree of jobgate.

Every error jobgate raises on purpose descends from :class:`JobGateError`. Adapters translate
their library's failures (``sqlite3.OperationalError``, botocore's ``ClientError``) into these at
their edge, and the HTTP layer maps them to ``application/problem+json`` in exactly one place
(:mod:`jobgate.api.problems`) using ``status`` and ``title``.

    JobGateError
    ├── RequestError                      4xx: the caller can fix it
    │   ├── MalformedRequest              400  body is not JSON, or not UTF-8
    │   ├── Unauthorized                  401  missing, unknown or revoked API key
    │   ├── Forbidden                     403  authenticated, but not allowed
    │   ├── NotFound                      404  no such job/user/blob (or it is another owner's)
    │   ├── Conflict                      409  state does not allow the operation
    │   │   ├── IdempotencyConflict       409  same Idempotency-Key, different request
    │   │   └── IllegalTransition         409  the job's state does not allow this verb
    │   ├── PayloadTooLarge               413
    │   ├── UnsupportedMediaType          415
    │   └── ValidationFailed              422  well-formed JSON with wrong content
    ├── TransitionConflict                compare-and-set on a job lost (carries the current job)
    │   └── LeaseLost                     this worker's attempt is no longer the job's current one
    ├── StaleReceipt                      queue receipt no longer current (message re-delivered)
    ├── NotAvailable                      501  this deployment does not offer the feature
    ├── BackendUnavailable                503  storage or queue temporarily unreachable
    │   └── StorageBusy                   503  the write lock was not had in time
    ├── ConfigurationError                start-up: settings missing or wrong
    └── JobFailure                        raised by handlers
        └── PermanentError                fail at once, never retried
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobgate.domain.models import Job


class JobGateError(Exception):
    """Root of every error jobgate raises on purpose."""

    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class RequestError(JobGateError):
    """The caller's mistake; the request changed nothing."""

    status = 400
    title = "Bad request"


class MalformedRequest(RequestError):
    status = 400
    title = "Malformed request"


class Unauthorized(RequestError):
    status = 401
    title = "Unauthorized"


class Forbidden(RequestError):
    status = 403
    title = "Forbidden"


class NotFound(RequestError):
    status = 404
    title = "Not found"


class Conflict(RequestError):
    status = 409
    title = "Conflict"


class IdempotencyConflict(Conflict):
    title = "Idempotency-Key reused with a different request"


class IllegalTransition(Conflict):
    """A domain verb was asked of a job whose state does not allow it (a finished job never
    changes, except by ``redrive``). ``job_status`` says where the job stands."""

    title = "Illegal transition"


class PayloadTooLarge(RequestError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(RequestError):
    status = 415
    title = "Unsupported media type"


class ValidationFailed(RequestError):
    status = 422
    title = "Validation failed"


class TransitionConflict(JobGateError):
    """A compare-and-set on a job found it in another state; ``current`` is what is stored now."""

    status = 409
    title = "Job state changed concurrently"

    def __init__(self, detail: str, current: Job | None) -> None:
        super().__init__(detail)
        self.current = current


class LeaseLost(TransitionConflict):
    """The job moved on without this worker (another attempt claimed it, or it was settled)."""

    title = "Lease lost"


class StaleReceipt(JobGateError):
    """The receipt no longer names the current delivery of its message."""

    status = 409
    title = "Stale queue receipt"


class NotAvailable(JobGateError):
    """The feature exists, but not on this deployment (e.g. its backend has no store for it)."""

    status = 501
    title = "Not available here"


class BackendUnavailable(JobGateError):
    """Storage or queue is temporarily unreachable; retry after ``retry_after`` seconds."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str = "", retry_after: int = 2) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StorageBusy(BackendUnavailable):
    """The storage's write lock was not had in time; raised before any write was made."""

    title = "Storage busy"


class ConfigurationError(JobGateError):
    """Settings are missing or inconsistent; raised at start-up, never per request."""

    title = "Configuration error"


class JobFailure(JobGateError):
    """Base of the errors a handler raises to steer the retry policy."""

    retryable = True


class PermanentError(JobFailure):
    """Raised by a handler: the job fails at once, with no further attempt."""

    retryable = False
