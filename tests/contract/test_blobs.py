"""Contract: blobs (BlobStore)."""

from __future__ import annotations

import hashlib

import pytest

from jobgate.errors import NotFound, ValidationFailed
from jobgate.ports import Backend


def test_put_get_head_records_sha256(backend: Backend) -> None:
    data = b"result bytes" * 100
    ref = backend.blobs.put("alice/J1/result.json", data, "application/json")
    assert ref.size == len(data) and ref.sha256 == hashlib.sha256(data).hexdigest()
    assert backend.blobs.get("alice/J1/result.json") == data
    assert backend.blobs.head("alice/J1/result.json") == ref


def test_overwrite_replaces_whole_blob(backend: Backend) -> None:
    backend.blobs.put("k/a", b"first version", "text/plain")
    backend.blobs.put("k/a", b"2nd", "text/plain")
    assert backend.blobs.get("k/a") == b"2nd"


def test_missing_blob(backend: Backend) -> None:
    assert backend.blobs.head("nope/x") is None
    with pytest.raises(NotFound):
        backend.blobs.get("nope/x")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/path", "a/../../b", "", "a\x00b"])
def test_keys_cannot_escape(backend: Backend, key: str) -> None:
    with pytest.raises(ValidationFailed):
        backend.blobs.put(key, b"x", "text/plain")


def test_signed_url_names_the_blob_and_an_expiry(backend: Backend) -> None:
    backend.blobs.put("alice/J2/artifacts/a.zip", b"zip", "application/zip")
    url = backend.blobs.signed_url("alice/J2/artifacts/a.zip", 60, "a.zip")
    assert "alice/J2/artifacts/a.zip" in url
    assert "expires=" in url.lower() or "x-amz-expires" in url.lower()
