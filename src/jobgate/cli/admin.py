"""Operator commands acting on the backend directly: ``users``, ``dlq list|redrive|purge``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
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


def _services(args: argparse.Namespace) -> Any:
    from jobgate.cli.server import services_from as build

    return build(args)


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
