"""``jobgate aws-local``: watch the AWS code path work on a laptop.

Starts moto's server (an AWS emulator) on a loopback port, creates the tables, queues, bucket
and admin-key secret there, and runs ``jobgate serve`` on the ``aws`` backend against it.
Everything lives in this process's memory and is gone when it stops.
"""

from __future__ import annotations

import argparse
import sys
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


def cmd_aws_local(args: argparse.Namespace) -> int:
    try:
        import boto3
        import moto  # noqa: F401 - only to say what is missing before starting anything
    except ImportError:
        print("aws-local needs boto3 and moto: pip install 'jobgate[aws,dev]'", file=sys.stderr)
        return 2
    from jobgate import bootstrap, logs
    from jobgate.aws_settings import AwsSettings, environment_for
    from jobgate.backends.aws import AwsResources, clients
    from jobgate.backends.aws.provision import provision
    from jobgate.cli.server import serve, settings_from
    from jobgate.testing.emulator import start_emulator

    server, endpoint = start_emulator(args.emulator_port)
    session = boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the emulator takes any
        region_name=REGION,
    )
    bare = AwsResources(REGION, "", "", "", "", "", "", endpoint)
    made = provision(clients(bare, session), "jobgate-local", REGION)
    local = settings_from(args, backend="local")
    logs.configure(local.log_level, local.log_format)
    # One admin key for both modes: the one `make serve` made (or JOBGATE_ADMIN_KEY), kept in
    # the emulator's Secrets Manager where the deployed API reads it.
    admin_key = bootstrap.resolve_admin_key(local, create=True)[0] or ""
    secret = session.client("secretsmanager", endpoint_url=endpoint).create_secret(
        Name="jobgate-local-admin-key", SecretString=admin_key
    )
    aws = AwsSettings(
        _env_file=None,
        _environ=environment_for(
            AwsResources(**{**made.__dict__, "endpoint_url": endpoint}), secret["ARN"]
        ),
    )
    settings = settings_from(args, backend="aws", admin_key=None)
    print(f"AWS emulator (moto) on {endpoint}: DynamoDB {made.jobs_table}, "
          f"SQS {made.queue_url}, S3 {made.bucket}", file=sys.stderr)  # fmt: skip
    print("admin API key: the one in .jobgate/admin_key (also in the emulator's Secrets Manager)",
          file=sys.stderr, flush=True)  # fmt: skip
    try:
        services = bootstrap.build(settings, aws=aws, aws_session=session)
        return serve(services)
    finally:
        server.stop()
