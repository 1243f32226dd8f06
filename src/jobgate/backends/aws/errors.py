"""botocore failures → jobgate errors, once, at the adapters' edge.

:func:`translated` wraps every AWS call. What it raises carries what the caller needs, so no
code upstream reads ``__cause__`` or matches message strings:

* :class:`ConditionFailed` — a conditional write (or a transaction's condition) did not hold;
  ``item`` is the stored item when the request asked for it (``ALL_OLD``), already decoded.
  Adapter-internal: each store turns it into the domain's error (``TransitionConflict``,
  ``Conflict``, a False return).
* :class:`~jobgate.errors.NotFound` — no such object (S3's ``NoSuchKey``, a 404 to a HEAD).
* :class:`~jobgate.errors.StaleReceipt` — a queue receipt that no longer names the delivery.
* :class:`~jobgate.errors.BackendUnavailable` — throttling, a 5xx, a connection failure.
* :class:`~jobgate.errors.JobGateError` — anything else, naming the AWS error code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from jobgate.backends.aws.items import from_item
from jobgate.errors import BackendUnavailable, JobGateError, NotFound, StaleReceipt

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
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
_STALE_RECEIPT = frozenset(
    {"ReceiptHandleIsInvalid", "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"}
)


class ConditionFailed(JobGateError):
    """A condition on a write did not hold. ``item`` is the stored item (decoded) when the
    request returned it, else None (also when no item exists)."""

    status = 409
    title = "Condition failed"

    def __init__(self, detail: str, item: dict[str, Any] | None) -> None:
        super().__init__(detail)
        self.item = item


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _condition_failure(exc: ClientError, what: str) -> ConditionFailed | None:
    error = code(exc)
    if error == "ConditionalCheckFailedException":
        stored: Any = exc.response.get("Item")  # ALL_OLD's item, when the request asked
        return ConditionFailed(f"{what}: condition failed", from_item(stored) if stored else None)
    if error == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        failed = [r for r in reasons if r.get("Code") == "ConditionalCheckFailed"]
        if failed:
            stored = failed[0].get("Item")
            return ConditionFailed(
                f"{what}: condition failed", from_item(stored) if stored else None
            )
    return None


@contextmanager
def translated(what: str, *, receipts: bool = False) -> Iterator[None]:
    """Turn what botocore raises inside into jobgate's errors (see the module docstring).
    ``receipts``: the call acts on a queue receipt, so an invalid one is a StaleReceipt."""
    try:
        yield
    except ClientError as exc:
        condition = _condition_failure(exc, what)
        if condition is not None:
            raise condition from exc
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code(exc) in _MISSING:
            raise NotFound(f"{what}: not found") from exc
        if receipts and _stale_receipt(exc):
            raise StaleReceipt(f"{what}: receipt is no longer current ({code(exc)})") from exc
        if code(exc) in _TRANSIENT or int(status or 0) >= 500:
            raise BackendUnavailable(f"{what}: {code(exc)}") from exc
        raise JobGateError(f"{what}: {code(exc)}: {exc}") from exc
    except BotoCoreError as exc:  # connection refused, timeouts, …
        raise BackendUnavailable(f"{what}: {type(exc).__name__}") from exc


def _stale_receipt(exc: ClientError) -> bool:
    # SQS answers a receipt whose message is gone with InvalidParameterValue naming the
    # parameter; the same code also means other things (a visibility past 12 h), hence the
    # look at the message, here at the edge and nowhere else.
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return code(exc) in _STALE_RECEIPT or (
        code(exc) == "InvalidParameterValue" and "ReceiptHandle" in message
    )


def unavailable(what: str, failed: Sequence[Mapping[str, Any]]) -> BackendUnavailable:
    """A batch call that answered but refused some entries (``Failed`` of SendMessageBatch and
    friends): the caller retries later, like for throttling."""
    first = failed[0]
    return BackendUnavailable(
        f"{what}: {len(failed)} entries failed ({first.get('Code')}: {first.get('Message')})"
    )
