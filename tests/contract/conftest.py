"""One fixture per backend; every contract test runs against each (litestar's store tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobgate.backends.local import build_local_backend
from jobgate.ports import Backend

BACKENDS = ["local"]
MAX_RECEIVES = 3


@pytest.fixture
def local_backend(tmp_path: Path) -> Iterator[Backend]:
    backend = build_local_backend(tmp_path, b"contract-signing-secret", max_receives=MAX_RECEIVES)
    yield backend
    backend.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    built: Backend = request.getfixturevalue(f"{request.param}_backend")
    return built
