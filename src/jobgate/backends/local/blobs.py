"""Blobs as files, and URLs signed by the API itself.

Writes are atomic: the bytes go to a temporary file in the same directory, are fsynced, renamed
over the target, and the directory is fsynced, so a reader (or a restart after ``kill -9``) sees
no file or the whole file. A URL is ``/blobs/{key}?expires=…&sig=…`` where ``sig`` is an
HMAC-SHA256 over the key and expiry with a secret only the service holds; a changed key, expiry
or signature, or a passed expiry, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from jobgate.backends.fields import check_key
from jobgate.domain.models import BlobRef
from jobgate.errors import Forbidden, NotFound


class UrlSigner:
    """Signs and checks ``(key, expires)`` pairs with HMAC-SHA256."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the URL signing secret must be at least 16 bytes")
        self._secret = secret

    def signature(self, key: str, expires: int, filename: str = "") -> str:
        # surrogatepass: any str a URL path can decode to signs (and then fails to verify),
        # instead of raising on a lone surrogate
        message = f"{key}\n{expires}\n{filename}".encode("utf-8", "surrogatepass")
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, key: str, expires: int, signature: str, filename: str = "") -> bool:
        """True when the signature is ours for this key and expiry, and it has not expired."""
        if not signature.isascii():  # ours are base64url; compare_digest takes ASCII str only
            return False
        expected = self.signature(key, expires, filename)
        return hmac.compare_digest(expected, signature) and expires >= time.time()


class FileBlobStore:
    """:class:`~jobgate.ports.BlobStore` on the filesystem under ``root``."""

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self._root = root
        self.signer = signer
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self._root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> BlobRef:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        sha = hashlib.sha256(data).hexdigest()
        # Content type and digest live beside the blob so a reader can serve it faithfully.
        meta = target.with_name(target.name + ".meta")
        meta.write_text(f"{content_type}\n{sha}\n", encoding="utf-8")
        return BlobRef(key, len(data), sha, content_type)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {key!r}") from exc

    def head(self, key: str) -> BlobRef | None:
        path = self._path(key)
        try:
            size = path.stat().st_size
            content_type, sha = path.with_name(path.name + ".meta").read_text().split("\n")[:2]
        except (FileNotFoundError, ValueError):
            return None
        return BlobRef(key, size, sha, content_type)

    def signed_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        check_key(key)
        expires = int(time.time()) + expires_in
        query = {
            "expires": str(expires),
            "sig": self.signer.signature(key, expires, filename or ""),
        }
        if filename:
            query["filename"] = filename
        return f"/blobs/{quote(key)}?{urlencode(query)}"

    def resolve(
        self, key: str, expires: int, signature: str, filename: str | None
    ) -> tuple[Path, BlobRef]:
        """:class:`~jobgate.ports.SignedBlobServer`: the file a signed URL names."""
        if not self.signer.verify(key, expires, signature, filename or ""):
            raise Forbidden("the link is invalid or has expired; ask for a fresh one")
        ref = self.head(key)
        if ref is None:
            raise NotFound("the file no longer exists")
        return self._path(key), ref
