"""``jobgate``: one console script.

Server commands run jobgate: ``serve`` (API + worker + scheduler), ``api``, ``worker``.
Client commands talk to a running API over HTTP: ``submit``, ``status``, ``jobs``.
Operator commands act on the backend directly: ``users``, ``dlq``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobgate import __version__
from jobgate.errors import ConfigurationError

EPILOG = """examples:
  jobgate serve                               API + worker + scheduler on http://127.0.0.1:8000
  jobgate serve --app mypkg.jobs:app          run your own handlers
  jobgate submit echo --payload '{"hi": 1}' --wait
  jobgate status 01JD3Z...
  jobgate users create --name Ada --email ada@example.com
  jobgate dlq list

environment: JOBGATE_* settings (see README), JOBGATE_URL and JOBGATE_API_KEY for client commands.
"""


def build_parser() -> argparse.ArgumentParser:
    from jobgate.cli import admin, aws_local, client
    from jobgate.cli.server import cmd_api, cmd_notifier, cmd_serve, cmd_worker

    parser = argparse.ArgumentParser(
        prog="jobgate",
        description="jobgate: an asynchronous job API. Submit over HTTP, run with retries, "
        "fetch results through signed URLs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jobgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def server(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--app",
            help="your JobGate instance, 'package.module:app' "
            "(default: the demo jobs, or JOBGATE_APP)",
        )
        p.add_argument("--data-dir", type=Path, help="data folder (default ./.jobgate)")
        p.set_defaults(func=func)
        return p

    for name, help_text, func in (
        ("serve", "run the API, a worker and the scheduler in one process", cmd_serve),
        ("api", "run only the HTTP API", cmd_api),
    ):
        p = server(name, help_text, func)
        p.add_argument("--host", help="address to bind (default 127.0.0.1)")
        p.add_argument("--port", type=int, help="port (default 8000)")
        if name == "serve":
            p.add_argument(
                "--concurrency",
                dest="worker_concurrency",
                type=int,
                help="handler threads (default 4)",
            )
    server("notifier", "send notices (webhooks, email) until SIGTERM/SIGINT", cmd_notifier)
    p = server("worker", "run a worker (and the scheduler) until SIGTERM/SIGINT", cmd_worker)
    p.add_argument(
        "--concurrency", dest="worker_concurrency", type=int, help="handler threads (default 4)"
    )
    p.add_argument(
        "--health-port",
        dest="worker_health_port",
        type=int,
        help="answer GET /healthz on this port while the worker runs (containers' probes)",
    )
    p.add_argument("--host", help="address the health port binds (default 127.0.0.1)")
    client.add_commands(sub)
    aws_local.add_command(sub)
    admin.add_commands(sub, server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigurationError as exc:
        # start-up problems are one line with the fix, never a traceback
        print(f"jobgate: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
