"""`jobgate aws-local`: the AWS code path on a laptop, driven over HTTP like a user would."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.processes import serving

pytestmark = pytest.mark.e2e


def test_aws_local_runs_jobs_through_dynamodb_sqs_and_s3(tmp_path: Path) -> None:
    with serving("aws-local", tmp_path / "data", log_level="info") as (url, process):
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}  # stored in and read from Secrets Manager
        job = httpx.post(
            f"{url}/jobs",
            json={"type": "generate_archive", "payload": {"name": "cloud", "type": "worker"}},
            headers=admin,
        ).json()
        deadline = time.monotonic() + 60
        while (status := httpx.get(f"{url}/jobs/{job['job_id']}", headers=admin).json())[
            "status"
        ] not in ("completed", "failed"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["status"] == "completed", status
        link = httpx.get(f"{url}/jobs/{job['job_id']}/download-url", headers=admin).json()["url"]
        assert "X-Amz-Signature" in link  # an S3 presigned URL, served by the emulator
        archive = zipfile.ZipFile(io.BytesIO(httpx.get(link).content))
        assert "worker.py" in archive.namelist()
        assert "AWS emulator (moto)" in process.log.read_text()
