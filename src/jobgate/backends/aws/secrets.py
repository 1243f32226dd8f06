"""Secrets from Secrets Manager by ARN, cached for a while (seed 004: read at run time).

A Lambda container lives for many invocations: the cache keeps one read per TTL instead of one
per request, and a rotated secret is picked up within the TTL.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from jobgate.backends.aws.errors import translated

_cache: dict[str, tuple[str, float]] = {}
_lock = threading.Lock()


def read_secret(
    arn: str,
    region: str,
    endpoint_url: str | None = None,
    *,
    ttl_seconds: float = 300.0,
    client: Any = None,
) -> str:
    """The secret's string value; raised errors are jobgate errors (503 when transient)."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(arn)
        if cached is not None and cached[1] > now:
            return cached[0]
    if client is None:
        import boto3

        client = boto3.session.Session().client(
            "secretsmanager", region_name=region, endpoint_url=endpoint_url
        )
    with translated("read secret"):
        value = str(client.get_secret_value(SecretId=arn)["SecretString"]).strip()
    with _lock:
        _cache[arn] = (value, now + ttl_seconds)
    return value
