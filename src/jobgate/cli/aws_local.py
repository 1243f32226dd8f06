"""``jobgate aws-local``: watch the AWS code path work on a laptop.

Starts moto's server (an AWS emulator) on a loopback port, creates the tables, queues, bucket
and admin-key secret there, and runs ``jobgate serve`` on the ``aws`` backend against it.
Everything lives in this process's memory and is gone when it stops.
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import sys
import threading
from typing import Any

REGION = "us-east-1"


def add_command(sub: Any) -> None:
    p = sub.add_parser(
        "aws-local",
        help="run serve on the aws backend against an embedded AWS emulator (moto)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--app", help="your JobGate instance, 'package.module:app'")
    p.add_argument("--host", help="address for the API (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port for the API (default 8000)")
    p.add_argument("--emulator-port", type=int, default=0, help="moto's port (default: free)")
    p.add_argument("--data-dir", help="data folder for the admin key file (default ./.jobgate)")
    p.add_argument("--concurrency", dest="worker_concurrency", type=int)
    p.set_defaults(func=cmd_aws_local)


_patched: list[str] = []  # the moto methods made atomic (once per process)


def atomic_emulator_writes() -> None:
    """Make moto's DynamoDB writes atomic, as DynamoDB's are.

    moto's server answers requests on threads and checks a write's condition, then writes, with
    no lock between: two concurrent compare-and-sets on one item can both succeed (seen in the
    tests as a job claimed twice). jobgate's fencing relies on DynamoDB's guarantee, so the
    emulator gets it too: one lock around item reads and writes. Safe to call more than once.
    """
    from moto.dynamodb.models import DynamoDBBackend

    if _patched:
        return
    lock = threading.RLock()

    def locked(original: Any) -> Any:
        @functools.wraps(original)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return call

    names = ("get_item", "put_item", "update_item", "delete_item", "transact_write_items")
    for name in names:
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    _patched.extend(names)


def start_emulator(port: int = 0) -> tuple[Any, str]:
    """moto's server on loopback (``port`` 0: a free one), with atomic DynamoDB writes.
    Returns the server (``.stop()`` it) and its endpoint URL."""
    from moto.server import ThreadedMotoServer

    atomic_emulator_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


def cmd_aws_local(args: argparse.Namespace) -> int:
    try:
        import boto3
        import moto  # noqa: F401 - only to say what is missing before starting anything
    except ImportError:
        print("aws-local needs boto3 and moto: pip install 'jobgate[aws,dev]'", file=sys.stderr)
        return 2
    from jobgate.aws_settings import environment_for
    from jobgate.backends.aws import AwsResources, clients
    from jobgate.backends.aws.provision import provision
    from jobgate.cli.main import cmd_serve

    server, endpoint = start_emulator(args.emulator_port)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
    }.items():  # fmt: skip
        os.environ[name] = value
    session = boto3.session.Session()
    made = provision(clients(AwsResources(REGION, "", "", "", "", "", "", endpoint), session),
                     "jobgate-local", REGION)  # fmt: skip
    admin_key = os.environ.get("JOBGATE_ADMIN_KEY") or f"jg_admin_{secrets.token_urlsafe(24)}"
    secret = session.client("secretsmanager").create_secret(
        Name="jobgate-local-admin-key", SecretString=admin_key
    )
    os.environ.update(environment_for(made, secret["ARN"]), JOBGATE_BACKEND="aws")
    os.environ.pop("JOBGATE_ADMIN_KEY", None)  # read from Secrets Manager, as deployed
    print(f"AWS emulator (moto) on {endpoint}: DynamoDB {made.jobs_table}, "
          f"SQS {made.queue_url}, S3 {made.bucket}", file=sys.stderr)  # fmt: skip
    print(f"admin API key (in Secrets Manager): {admin_key}", file=sys.stderr, flush=True)
    try:
        return cmd_serve(args)
    finally:
        server.stop()
