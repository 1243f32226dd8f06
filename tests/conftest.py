"""Shared fixtures: fresh settings and services per test, an AWS emulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobgate import bootstrap, logs
from jobgate.bootstrap import Services
from jobgate.settings import Settings
from tests.apps import app as test_app

logs.configure("warning")

ADMIN_KEY = "jg_admin_test_key_0123456789abcdef"


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_key": ADMIN_KEY,
        "signing_key": "test-signing-key-0123456789abcdef",
        "visibility_timeout": 30.0,
        "retry_base_seconds": 0.01,
        "retry_cap_seconds": 0.02,
        "app": "tests.apps:app",
        "log_level": "warning",
        "access_log": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # no .env file: these values, then JOBGATE_*


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = bootstrap.build(settings, test_app)
    yield built
    built.close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server in this process's threads, listening on a free loopback port."""
    try:
        import moto.server  # noqa: F401
    except ImportError:  # pragma: no cover - the dev extra installs it
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("moto[server] is not installed: pip install -e '.[dev]'")
    from jobgate.testing.emulator import start_emulator

    server, endpoint = start_emulator()  # with DynamoDB's atomic conditional writes
    yield endpoint
    server.stop()
