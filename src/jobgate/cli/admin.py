"""Operator commands: ``users`` and ``dlq list|redrive|purge`` act on the backend directly;
``doctor`` checks a deployment's settings."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_commands(sub: Any, server: Callable[..., argparse.ArgumentParser]) -> None:
    users = server("users", "manage users and their API keys", None)
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    p = users_sub.add_parser("create", help="create a user and print their first API key")
    p.add_argument("--name", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--user-id", help="an id of your own (default: generated)")
    p.set_defaults(func=cmd_users_create)
    p = users_sub.add_parser("list", help="list users")
    p.set_defaults(func=cmd_users_list)

    dlq = server("dlq", "inspect and act on the dead-letter queue", None)
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    p = dlq_sub.add_parser("list", help="list dead-lettered messages and their jobs")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_dlq_list)
    p = dlq_sub.add_parser("redrive", help="move messages back to the queue and rerun their jobs")
    p.add_argument("message_ids", nargs="*", help="message ids (default: all)")
    p.set_defaults(func=cmd_dlq_redrive)
    p = dlq_sub.add_parser("purge", help="delete every dead-lettered message")
    p.set_defaults(func=cmd_dlq_purge)

    p = server("outbox", "show the email notices kept locally (no JOBGATE_SMTP_URL set)", None)
    p.add_argument("--limit", type=int, default=20, help="how many, newest first (default 20)")
    p.set_defaults(func=cmd_outbox)

    from jobgate import doctor

    p = sub.add_parser(
        "doctor",
        help="check a deployment's settings against each other and the app's job types",
        description=doctor.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--app", help="your JobGate instance, 'package.module:app' (or JOBGATE_APP)")
    p.add_argument(
        "--env", help="check the shipped Terraform's environment (dev, stage, prod, …) instead"
    )
    p.add_argument(
        "--terraform",
        type=Path,
        default=Path("infra/terraform"),
        help="the Terraform folder (default: infra/terraform)",
    )
    p.set_defaults(func=cmd_doctor)


def cmd_outbox(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        outbox = services.backend.mail_outbox
        if outbox is None:
            print(f"the {services.backend.name} backend keeps no mail outbox", file=sys.stderr)
            return 2
        for at, recipient, subject, text in outbox.read(args.limit):
            print(json.dumps({"at": at, "to": recipient, "subject": subject, "body": text}))
    finally:
        services.close()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from jobgate import doctor
    from jobgate.cli.server import settings_from
    from jobgate.registry import load_app

    settings = settings_from(args)
    app = load_app(settings.app)
    if args.env:
        try:
            deployment = doctor.from_terraform(args.terraform, args.env)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            print(f"doctor: cannot read the Terraform for {args.env!r}: {exc}", file=sys.stderr)
            return 2
    else:
        deployment = doctor.from_settings(settings)
    findings = doctor.check(app, deployment, settings.lambda_settle_margin_seconds)
    print(f"jobgate doctor: {settings.app} against {deployment.source}")
    for finding in findings:
        print(f"  {finding.level.upper()} [{finding.check}] {finding.message}")
        print(f"    fix: {finding.fix}")
    errors = sum(f.level == "error" for f in findings)
    print(f"  {errors} error(s), {len(findings) - errors} warning(s)" if findings else "  all good")
    return 1 if errors else 0


def _services(args: argparse.Namespace) -> Any:
    """The services these commands act on, directly (no API); says which, on stderr."""
    from jobgate.cli.server import services_from as build

    services = build(args)
    settings = services.settings
    if settings.backend == "aws":
        import os

        env = os.environ
        where = f"region {env.get('AWS_REGION', '?')}, table {env.get('JOBS_TABLE_NAME', '?')}"
        if env.get("AWS_ENDPOINT_URL"):
            where += f", at {env['AWS_ENDPOINT_URL']}"
    else:
        where = str(settings.data_dir)
    print(f"jobgate: the {settings.backend} backend ({where})", file=sys.stderr)
    return services


def cmd_users_create(args: argparse.Namespace) -> int:
    from jobgate.api.schemas import valid_email

    try:
        email = valid_email(args.email)
    except ValueError:
        print(f"--email {args.email!r} is not a valid email address")
        return 2
    services = _services(args)
    try:
        user, key = services.users.create_user(args.name, email, args.user_id)
    finally:
        services.close()
    print(
        json.dumps(
            {"user_id": user.user_id, "name": user.name, "email": user.email, "api_key": key},
            indent=2,
        )
    )
    print("store the API key now: it is not shown again")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        for user in services.users.list_users(None, 200).items:
            print(f"{user.user_id}  {user.name}  <{user.email}>")
    finally:
        services.close()
    return 0


def cmd_dlq_list(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        entries = services.dead_letters.entries(args.limit)
    finally:
        services.close()
    for delivery, job in entries:
        if job is None:
            print(f"{delivery.message_id}  (no job)  receives={delivery.receive_count}")
            continue
        error = f"{job.error.type}: {job.error.message}" if job.error else ""
        print(
            f"{delivery.message_id}  job={job.job_id}  type={job.type}  status={job.status.value}"
            f"  attempts={job.attempt}/{job.max_attempts}  {error}"[:200]
        )
    print(f"{len(entries)} dead-lettered message(s)")
    return 0


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        moved = services.dead_letters.redrive(args.message_ids or None)
    finally:
        services.close()
    print(f"redrove {moved} message(s)")
    return 0


def cmd_dlq_purge(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        purged = services.dead_letters.purge()
    finally:
        services.close()
    print(f"purged {purged} message(s)")
    return 0
