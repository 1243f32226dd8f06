"""botocore failures → jobgate errors, at the adapters' edge (botocore never leaks upward)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from jobgate.errors import BackendUnavailable, JobGateError

_TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalServerError",
        "InternalError",
        "RequestThrottled",
        "SlowDown",
        "TransactionInProgressException",
    }
)


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn what botocore raises inside into :class:`BackendUnavailable` (transient or
    unreachable) or a plain :class:`JobGateError` naming the AWS error code."""
    try:
        yield
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code(exc) in _TRANSIENT or int(status or 0) >= 500:
            raise BackendUnavailable(f"{what}: {code(exc)}") from exc
        raise JobGateError(f"{what}: {code(exc)}: {exc}") from exc
    except BotoCoreError as exc:  # connection refused, timeouts, …
        raise BackendUnavailable(f"{what}: {type(exc).__name__}") from exc
