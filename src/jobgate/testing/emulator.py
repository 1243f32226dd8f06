"""An AWS emulator for tests and ``jobgate aws-local``: moto's server on loopback, with
DynamoDB's atomic conditional writes restored.

Needs the ``dev`` extra (moto). Nothing in jobgate's runtime imports this module.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

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
    # moto's HTTP server logs a line per request at INFO: keep those for debugging only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


def main(argv: list[str] | None = None) -> int:
    """``python -m jobgate.testing.emulator --port N``: the emulator until SIGTERM/SIGINT
    (what ``make deploy-local`` runs in the background)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="moto's server on loopback, for jobgate")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(argv)
    server, endpoint = start_emulator(args.port)
    print(f"AWS emulator at {endpoint}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
