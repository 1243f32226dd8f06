"""What the Lambda paths import, in a fresh process built as a cold start builds it: the worker
neither FastAPI nor Mangum nor OpenTelemetry nor prometheus_client, nor pydantic (a quarter of
its cold start; settings are read by ``jobgate.envsettings``); on the API path jobgate's
own code imports neither of the last two (tracing is off; Lambda metrics are EMF lines) —
FastAPI 0.16x imports OpenTelemetry's API by itself when it is installed, which the Lambda
layer does not do unless the otel extra is added to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.processes import ROOT

ENV = {
    "JOBGATE_BACKEND": "aws", "JOBGATE_APP": "jobgate.demo:app", "JOBGATE_LOG_LEVEL": "warning",
    "JOBGATE_ADMIN_KEY": "jg_admin_import_check_0123456789abcdef", "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_EC2_METADATA_DISABLED": "true",
    "JOBS_TABLE_NAME": "jobs", "EVENTS_TABLE_NAME": "events", "USERS_TABLE_NAME": "users",
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
    "JOBS_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dlq",
    "S3_BUCKET_NAME": "blobs",
}  # fmt: skip

WATCHED = ("fastapi", "mangum", "opentelemetry", "prometheus_client", "pydantic",
           "pydantic_settings")  # fmt: skip
PROGRAM = """
import builtins, json, os, sys
API = os.environ["CHECK_API"] == "1"
by_jobgate = set()
real_import = builtins.__import__
def watching(name, globals=None, *args, **kwargs):
    importer = (globals or {}).get("__name__", "")
    if name.split(".")[0] in ("opentelemetry", "prometheus_client") and importer.startswith("jobgate"):
        by_jobgate.add(importer + " -> " + name)
    return real_import(name, globals, *args, **kwargs)
builtins.__import__ = watching
import jobgate.aws_lambda as m
s = m._services(admin=API)
s.backend.jobs._db.meta, s.backend.queue._sqs.meta
if API:
    from mangum import Mangum
    from jobgate.api.app import create_app
    Mangum(create_app(s), lifespan="off")
watched = set(os.environ["CHECK_WATCHED"].split(","))
loaded = sorted({n.split(".")[0] for n in sys.modules} & watched)
print(json.dumps({"loaded": loaded, "by_jobgate": sorted(by_jobgate)}))
"""


def imported(api: bool) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBGATE_", "OTEL_"))}
    env.update(ENV, PYTHONPATH=str(ROOT / "src"), CHECK_API="1" if api else "0",
               CHECK_WATCHED=",".join(WATCHED))  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    found: dict[str, list[str]] = json.loads(done.stdout)
    return found


def test_the_worker_path_imports_no_web_framework_tracing_prometheus_or_pydantic() -> None:
    assert imported(api=False) == {"loaded": [], "by_jobgate": []}


def test_jobgate_imports_neither_tracing_nor_prometheus_on_the_api_path() -> None:
    found = imported(api=True)
    assert {"fastapi", "mangum"} <= set(found["loaded"])
    assert "prometheus_client" not in found["loaded"]
    assert "pydantic_settings" not in found["loaded"]
    assert found["by_jobgate"] == []
