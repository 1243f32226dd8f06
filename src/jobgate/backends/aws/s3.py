"""Blobs on S3: deterministic keys, presigned GET URLs. Translation only.

Objects take the bucket's default encryption: SSE-KMS with the stack's key in the Terraform
deployment (asking for AES256 here would override it), SSE-S3 otherwise (S3 encrypts every new
object at rest).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from jobgate.backends.aws.errors import translated
from jobgate.backends.fields import check_key
from jobgate.domain.models import BlobRef
from jobgate.errors import NotFound

if TYPE_CHECKING:  # the published stubs (dev extra); nothing at run time
    from mypy_boto3_s3 import S3Client


class S3BlobStore:
    """:class:`~jobgate.ports.BlobStore` on one bucket. S3 writes are atomic per object."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> BlobRef:
        check_key(key)
        sha = hashlib.sha256(data).hexdigest()
        with translated("put blob"):
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                Metadata={"sha256": sha},
            )
        return BlobRef(key, len(data), sha, content_type)

    def get(self, key: str) -> bytes:
        with translated(f"get blob {key!r}"):
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=check_key(key))[
                "Body"
            ].read()
        return body

    def head(self, key: str) -> BlobRef | None:
        try:
            with translated("head blob"):
                meta = self._s3.head_object(Bucket=self._bucket, Key=check_key(key))
        except NotFound:
            return None
        return BlobRef(
            key,
            int(meta["ContentLength"]),
            meta.get("Metadata", {}).get("sha256", ""),
            meta.get("ContentType", "application/octet-stream"),
        )

    def signed_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        params: dict[str, str] = {"Bucket": self._bucket, "Key": check_key(key)}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        with translated("presign"):
            url: str = self._s3.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )
        return url
