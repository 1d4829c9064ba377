"""A gateway worker process: `z0 serve --workers N` runs N of these on one listening socket.

Each has its own registry connection and view (so it sees changes within 1 s like any process), its
own runtime (executors), and serves the socket it inherited from `z0 serve`. SIGTERM stops it after
its requests finish; SIGINT is left to the parent, which stops its workers itself.

    python -m z0.gateway.worker --fd N [--tail-fd M]      (settings in Z0_WORKER_SETTINGS, as JSON)

It counts its own metrics and writes their snapshot for the node's /metrics; its invocations' tail
events go to `z0 serve` over `--tail-fd`.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

from z0.registry import Registry, create_registry_engine
from z0.settings import Settings

if TYPE_CHECKING:
    from z0.observe.metrics import MetricsReporter

__all__ = ["SETTINGS_VARIABLE", "main", "serve_gateway", "stop_with_parent"]

SETTINGS_VARIABLE = "Z0_WORKER_SETTINGS"
PR_SET_PDEATHSIG = 1


async def serve_gateway(
    settings: Settings,
    sock: socket.socket,
    executors: int,
    tail_sock: socket.socket | None = None,
    ready_fd: int | None = None,
) -> None:
    from z0.bindings.platform import build_host_ops
    from z0.metering import UsageLog, usage_directory
    from z0.observe.metrics import MetricsFiles, MetricsReporter
    from z0.observe.metrics import for_settings as metrics_for
    from z0.observe.tail import TailSender
    from z0.observe.tracing import Tracing
    from z0.runtime.supervisor import Runtime
    from z0.secrets import SecretBox
    from z0.server import Z0Server, make_server, master_key, runtime_config, serving_gateway

    Z0Server._threads()
    registry = Registry(create_registry_engine(settings.resolved_database_url))
    box = SecretBox.for_data_dir(settings.data_dir, master_key(settings))
    tracing = Tracing.from_environment()
    runtime = Runtime(
        runtime_config(settings, executors=executors), host_ops=build_host_ops(settings, registry, tracing)
    )
    usage = UsageLog(usage_directory(settings.data_dir)) if settings.metering else None
    metrics = metrics_for(settings)
    files = MetricsFiles.for_data_dir(settings.data_dir)
    reporter = MetricsReporter(metrics, files, runtime, settings.metrics_flush_interval_s)
    tail = TailSender(tail_sock) if tail_sock is not None and settings.tail else None
    try:
        await runtime.start()
        if tail is not None:
            await tail.start()
        gateway = serving_gateway(settings, registry, runtime, box, usage, metrics, files, tail, tracing)
        await gateway.view.start()
        server = make_server(gateway, settings, usage=usage)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: setattr(server, "should_exit", True))
        reporting = asyncio.create_task(reporter.run())
        announcing = asyncio.create_task(_announce_ready(server, ready_fd))
        try:
            await server.serve(sockets=[sock])
        finally:
            reporting.cancel()
            announcing.cancel()
            await gateway.view.close()
            await _last_snapshot(reporter)
    finally:
        if tail is not None:
            tail.close()
        await runtime.close()
        if usage is not None:
            usage.close()
        registry.close()
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)


async def _announce_ready(server: Any, ready_fd: int | None) -> None:
    """One byte on `ready_fd` once the server accepts requests: `z0 serve` waits for it."""
    if ready_fd is None:
        return
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
            await asyncio.sleep(0.01)
        os.write(ready_fd, b"r")
    finally:
        os.close(ready_fd)


async def _last_snapshot(reporter: MetricsReporter) -> None:
    """What this process counted stays in the node's totals after it stops."""
    try:
        await reporter.flush()
    except Exception as exc:
        print(f"z0 gateway worker: last metrics snapshot not written: {exc!r}", file=sys.stderr)


def stop_with_parent(parent: int) -> None:
    """A child outliving a killed `z0 serve` would go on (serving the port, say) with nobody watching it:
    Linux sends it SIGTERM when the parent dies (and if that happened already, it stops now)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A z0 gateway worker (started by `z0 serve --workers N`).")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--executors", type=int, default=1)
    parser.add_argument("--tail-fd", type=int, default=None)
    parser.add_argument("--ready-fd", type=int, default=None)
    parser.add_argument("--parent", type=int, default=os.getppid())
    args = parser.parse_args(argv)
    stop_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from z0.server import configure_logging

    configure_logging()
    settings = Settings.model_validate_json(os.environ[SETTINGS_VARIABLE])
    sock = socket.socket(fileno=args.fd)  # the family, type and IPPROTO_TCP come from the descriptor
    tail_sock = socket.socket(fileno=args.tail_fd) if args.tail_fd is not None else None
    asyncio.run(serve_gateway(settings, sock, args.executors, tail_sock, args.ready_fd))


if __name__ == "__main__":
    main()
