"""`z0 serve`: opens the registry, bootstraps the account, and runs the HTTP servers until a signal.

Every server runs on one event loop; SIGINT and SIGTERM ask them all to finish their requests and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from typing import TextIO

import uvicorn

import z0
from z0.bootstrap import Bootstrap, bootstrap
from z0.control import API_PREFIX, create_control_app
from z0.registry import Registry
from z0.settings import Settings

__all__ = ["ServeError", "Z0Server"]

logger = logging.getLogger("z0.server")


class ServeError(Exception):
    """z0 could not start: a port is taken, the data directory is unusable, and so on."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to Z0Server, which stops every server at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Z0Server:
    def __init__(self, settings: Settings, *, out: TextIO | None = None) -> None:
        self.settings = settings
        self._out = out or sys.stdout
        self._servers: list[_Server] = []

    def run(self) -> None:
        asyncio.run(self.serve())

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True

    async def serve(self) -> None:
        settings = self.settings
        if settings.uses_embedded_database:
            try:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ServeError(
                    f"Cannot create the data directory {settings.data_dir}: {exc.strerror}."
                ) from exc
        registry = await asyncio.to_thread(Registry.open, settings.resolved_database_url)
        try:
            boot = await asyncio.to_thread(bootstrap, registry, settings)
            api = _Server(
                uvicorn.Config(
                    create_control_app(registry, settings),
                    host=settings.host,
                    port=settings.api_port,
                    lifespan="off",
                    log_level="info",
                    server_header=False,
                )
            )
            api_socket = _listen(settings.host, settings.api_port)
            self._servers = [api]
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.stop)
            tasks = [asyncio.create_task(api.serve(sockets=[api_socket]))]
            try:
                await self._wait_started(tasks)
                self._print_banner(boot, api_socket.getsockname()[1])
                await asyncio.gather(*tasks)
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)
        finally:
            registry.close()

    async def _wait_started(self, tasks: list[asyncio.Task[None]]) -> None:
        while not all(server.started for server in self._servers):
            done = [task for task in tasks if task.done()]
            if done:
                self.stop()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise ServeError("z0 could not start its servers: see the error above.")
            await asyncio.sleep(0.01)

    def _print_banner(self, boot: Bootstrap, api_port: int) -> None:
        settings = self.settings
        api_url = f"http://{_url_host(settings.host)}:{api_port}{API_PREFIX}"
        storage = (
            f"SQLite in {settings.data_dir.resolve()}" if settings.uses_embedded_database else "database URL"
        )
        lines = [
            f"z0 {z0.__version__} ({storage})",
            f"account id: {boot.account_id}" + (" (created)" if boot.first_start else ""),
        ]
        if boot.new_token:
            lines.append(f"operator API token: {boot.new_token}")
            lines.append("  (shown once: z0 keeps only its hash; set Z0_API_TOKEN to choose your own)")
        lines += [f"control API: {api_url}", f"API docs: {api_url}/docs", "Press Ctrl-C to stop."]
        print("\n".join(lines), file=self._out, flush=True)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound here so that a taken port is one clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServeError(
            f"z0 could not listen on {host}:{port}: {exc.strerror}. Is another z0 running?"
        ) from exc
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
