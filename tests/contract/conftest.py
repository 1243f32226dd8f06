"""One fixture per backend; every contract test runs against each (litestar's store tests).

The ``aws`` backend runs against moto's server mode over real HTTP on a loopback port, started
once per session; each test gets fresh tables, queues and a bucket (``/moto-api/reset``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobgate.bootstrap import build_backend
from jobgate.ports import Backend
from tests.conftest import make_settings

BACKENDS = ["memory", "local", "aws"]
MAX_RECEIVES = 3
REGION = "us-east-1"


@dataclass(frozen=True)
class Timing:
    """Delays each backend can honour: SQS counts whole seconds."""

    visibility: float
    wait: float


@pytest.fixture
def local_backend(tmp_path: Path) -> Iterator[Backend]:
    backend = build_backend(make_settings(tmp_path, max_receives=MAX_RECEIVES))
    yield backend
    backend.close()


@pytest.fixture
def memory_backend() -> Backend:
    from jobgate.testing.memory import memory_backend

    return memory_backend(max_receives=MAX_RECEIVES)


@pytest.fixture
def aws_backend(moto_endpoint: str) -> Iterator[Backend]:
    import boto3
    import httpx

    from jobgate.backends.aws import build_aws_backend, clients
    from jobgate.backends.aws.provision import provision

    httpx.post(f"{moto_endpoint}/moto-api/reset")
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )
    prefix = f"jg{uuid.uuid4().hex[:8]}"
    from jobgate.backends.aws import AwsResources

    bootstrap = AwsResources(REGION, "", "", "", "", "", "", endpoint_url=moto_endpoint)
    made = provision(clients(bootstrap, session), prefix, REGION, max_receives=MAX_RECEIVES)
    resources = AwsResources(**{**made.__dict__, "endpoint_url": moto_endpoint})
    yield build_aws_backend(resources, session=session)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    built: Backend = request.getfixturevalue(f"{request.param}_backend")
    return built


@pytest.fixture
def timing(backend: Backend) -> Timing:
    return Timing(visibility=1.0, wait=1.6) if backend.name == "aws" else Timing(0.2, 0.3)
