"""Server commands: ``serve`` (API + worker + scheduler), ``api``, ``worker``, and the helpers
every command that acts on the backend directly shares (settings from the command line, the
services built by :mod:`jobgate.bootstrap`)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jobgate import __version__


def settings_from(args: argparse.Namespace, **fixed: Any) -> Any:
    """Settings from the environment, with the command line's options (and ``fixed``) on top;
    a wrong value is a ``ConfigurationError`` naming its variable."""
    from jobgate.settings import Settings

    overrides: dict[str, Any] = {}
    for name in (
        "app",
        "data_dir",
        "host",
        "port",
        "worker_concurrency",
        "worker_health_port",
        "backend",
    ):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**{**overrides, **fixed})


def services_from(args: argparse.Namespace, *, create_admin_key: bool = False) -> Any:
    from jobgate import bootstrap, logs

    settings = settings_from(args)
    logs.configure(settings.log_level, settings.log_format)
    return bootstrap.build(settings, create_admin_key=create_admin_key, metrics="prometheus")


def _server(services: Any) -> Any:
    """uvicorn for the API, without its own signal handling: jobgate's handlers stop the server
    and the worker together (uvicorn re-raises a captured SIGTERM once it has stopped, which
    would end the process before the worker's drain)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    settings = services.settings
    _check_port_free(settings.host, settings.port)
    config = uvicorn.Config(
        services.api_app(),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
    )
    return Server(config)


def _check_port_free(host: str, port: int) -> None:
    import socket

    from jobgate.errors import ConfigurationError

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {host}:{port} ({exc.strerror}): is another server there? "
                "choose another with --port or JOBGATE_PORT"
            ) from None


def _on_stop_signals(stop: Callable[[int], None]) -> None:
    """Call ``stop(signum)`` on SIGTERM (systemd, Docker, App Runner) and SIGINT alike."""

    def handler(signum: int, _frame: Any) -> None:
        stop(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _start_worker(services: Any) -> tuple[Any, threading.Thread, Any]:
    worker = services.worker()
    housekeeper = services.housekeeper()
    housekeeper.start()
    mode = services.settings.notifier
    if mode == "process" and services.backend.notices is not None:
        from jobgate.worker.supervised import Supervised

        # links in notices name this server, whatever port the child would assume
        public = {"JOBGATE_PUBLIC_URL": services.notify_settings().public_url or ""}
        child = Supervised(["notifier", *_passed_on(services.settings)], public)
        child.start()
        housekeeper.also_stop(child)
    elif mode == "thread":
        notifier = services.notifier()
        if notifier is not None:
            notifier.start()
            housekeeper.also_stop(notifier)
    thread = threading.Thread(target=worker.run, name="jobgate-poll", daemon=True)
    thread.start()
    return worker, thread, housekeeper


def cmd_serve(args: argparse.Namespace) -> int:
    return serve(services_from(args, create_admin_key=True))


def serve(services: Any) -> int:
    """API + worker + scheduler in this process until SIGTERM or SIGINT; then the worker
    drains (in-flight jobs get the grace period) and the process exits 0."""
    settings = services.settings
    url = f"http://{settings.host}:{settings.port}"
    print(
        f"jobgate {__version__} serving on {url}  (docs: {url}/docs)", file=sys.stderr, flush=True
    )
    print(f"data in {settings.data_dir.resolve()}", file=sys.stderr, flush=True)
    admin_file = settings.admin_key_file or settings.data_dir / "admin_key"
    if (
        settings.admin_key is None
        and settings.backend == "local"
        and not _announced(settings.data_dir)
    ):
        print(f"admin API key: {services.admin_key}", file=sys.stderr)
        print(f"  (kept in {admin_file}; shown only on first run)", file=sys.stderr, flush=True)
    worker, thread, housekeeper = _start_worker(services)
    server = _server(services)

    def stop(signum: int) -> None:
        if server.should_exit:  # a second signal: stop waiting for open connections
            server.force_exit = True
            return
        print(f"signal {signum}: finishing in-flight jobs…", file=sys.stderr, flush=True)
        server.should_exit = True
        worker.stop()

    _on_stop_signals(stop)
    try:
        server.run()
    finally:
        worker.stop()
        thread.join(timeout=settings.shutdown_grace_seconds + 10)
        housekeeper.stop()
        services.close()
    return 0


def _announced(data_dir: Path) -> bool:
    """True when the admin key was already printed once for this data folder."""
    marker = data_dir / ".admin_key_shown"
    if marker.exists():
        return True
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return False


def cmd_api(args: argparse.Namespace) -> int:
    services = services_from(args, create_admin_key=True)
    server = _server(services)

    def stop(_signum: int) -> None:
        server.force_exit = server.should_exit
        server.should_exit = True

    _on_stop_signals(stop)
    try:
        server.run()
    finally:
        services.close()
    return 0


def _passed_on(settings: Any) -> list[str]:
    """The command-line settings a child process needs (the environment carries the rest)."""
    return ["--app", settings.app, "--data-dir", str(settings.data_dir)]


def cmd_notifier(args: argparse.Namespace) -> int:
    services = services_from(args)
    notifier = services.notifier()
    if notifier is None:
        print(f"the {services.backend.name} backend keeps no notifications", file=sys.stderr)
        return 2
    from jobgate.worker.supervised import watch_parent

    done = threading.Event()
    _on_stop_signals(lambda _signum: done.set())
    watch_parent(done.set)  # a child of serve/worker ends with it, even after a kill -9
    notifier.start()
    done.wait()
    notifier.stop()
    services.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    services = services_from(args)
    worker, thread, housekeeper = _start_worker(services)
    settings = services.settings
    if settings.worker_health_port is not None:
        from jobgate.worker.health import HealthServer

        health = HealthServer(
            settings.host,
            settings.worker_health_port,
            thread.is_alive,
            None if services.metrics is None else services.metrics.exposition(),
        )
        health.start()
        housekeeper.also_stop(health)

    def stop(signum: int) -> None:
        print(f"signal {signum}: finishing in-flight jobs…", file=sys.stderr, flush=True)
        worker.stop()

    _on_stop_signals(stop)
    while thread.is_alive():
        thread.join(timeout=0.5)
    housekeeper.stop()
    services.close()
    return 0
