"""`z0 serve`: opens the registry, bootstraps the account, starts the runtime, and runs the gateway and
the control API until a signal.

Every server runs on one event loop; SIGINT and SIGTERM ask them all to finish their requests and stop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import uvicorn

import z0
from z0.bindings.platform import build_host_ops
from z0.bootstrap import Bootstrap, bootstrap
from z0.control import API_PREFIX, create_control_app
from z0.gateway import Gateway, GatewayConfig, build_gateway
from z0.gateway._protocol import CoalescingHttpProtocol
from z0.gateway.worker import SETTINGS_VARIABLE
from z0.metering import UsageLog, UsageRollup, usage_directory
from z0.observe.metrics import Metrics, MetricsFiles, MetricsReporter, render
from z0.observe.metrics import for_settings as metrics_for
from z0.observe.tail import TailHub, TailReceiver, TailSink
from z0.observe.tracing import Tracing, otlp_endpoint
from z0.registry import Registry
from z0.runtime.limits import Limits
from z0.runtime.supervisor import Runtime, RuntimeConfig
from z0.secrets import SecretBox
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
        self._workers: dict[str, asyncio.subprocess.Process] = {}
        self._workers_ready: dict[int, asyncio.Event] = {}  # gateway worker index → it accepts requests
        self._stopping = False

    def run(self) -> None:
        configure_logging()
        asyncio.run(self.serve())

    @staticmethod
    def _threads() -> None:
        """Threads for the registry (script loads, the view's refresh) and KV: more than asyncio's
        default of CPUs + 4, so that a burst of tenant KV calls does not delay a refresh."""
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="z0")
        )

    def stop(self) -> None:
        self._stopping = True
        for server in self._servers:
            server.should_exit = True
        for process in self._workers.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()

    async def serve(self) -> None:
        settings = self.settings
        if settings.uses_embedded_database:
            try:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ServeError(
                    f"Cannot create the data directory {settings.data_dir}: {exc.strerror}."
                ) from exc
        self._threads()
        registry = await asyncio.to_thread(Registry.open, settings.resolved_database_url)
        workers = settings.workers or _cpu_count()
        executors = settings.executors or _cpu_count()
        # With gateway workers, this process keeps one executor, for upload checks (and traces nothing).
        box = SecretBox.for_data_dir(settings.data_dir, master_key(settings))
        tracing = Tracing.from_environment() if workers == 1 else None
        runtime = Runtime(
            runtime_config(settings, executors=executors if workers == 1 else 1),
            host_ops=build_host_ops(settings, registry, tracing),
        )
        usage = UsageLog(usage_directory(settings.data_dir)) if workers == 1 and settings.metering else None
        rollup = UsageRollup.for_settings(settings, registry.db)
        metrics = metrics_for(settings)
        metrics_files = MetricsFiles.for_data_dir(settings.data_dir)
        metrics_files.clear()
        reporter = MetricsReporter(metrics, metrics_files, runtime, settings.metrics_flush_interval_s)
        tail = TailHub(settings.tail_ring_size)
        try:
            boot = await asyncio.to_thread(bootstrap, registry, settings)
            api_socket = _listen(settings.host, settings.api_port)
            gateway_socket = _listen(settings.host, settings.gateway_port)
            await runtime.start()
            tasks: list[asyncio.Task[None]] = []
            gateway = None
            if workers == 1:
                gateway = serving_gateway(
                    settings, registry, runtime, box, usage, metrics, metrics_files, tail, tracing
                )
                await gateway.view.start()
                gateway_server = make_server(gateway, settings, usage=usage)
                self._servers.append(gateway_server)
                tasks.append(asyncio.create_task(gateway_server.serve(sockets=[gateway_socket])))
            control = create_control_app(
                registry,
                settings,
                runtime,
                rollup=rollup,
                metrics=metrics,
                metrics_files=metrics_files,
                tail=tail,
            )
            api = make_server(control, settings)
            self._servers.append(api)
            tasks.append(asyncio.create_task(api.serve(sockets=[api_socket])))
            if workers > 1:
                per_worker = max(1, executors // workers)
                receiver = TailReceiver(tail)
                tasks += [
                    asyncio.create_task(self._run_worker(index, gateway_socket, per_worker, receiver))
                    for index in range(workers)
                ]
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.stop)
            # The periodic roll-up parses every usage line: in its own process, so that it never holds
            # the GIL of a process serving requests (in a thread beside the gateway, p99 went 6 → 50 ms).
            rolling = asyncio.create_task(self._keep_running("usage roll-up", "z0.metering.worker"))
            reporting = asyncio.create_task(reporter.run())
            try:
                await self._wait_started(tasks, workers)
                self._print_banner(
                    boot, api_socket.getsockname()[1], gateway_socket.getsockname()[1], workers
                )
                await asyncio.gather(*tasks)
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)
                if gateway is not None:
                    await gateway.view.close()
                reporting.cancel()
                self.stop()  # the roll-up process too, whatever ended the servers
                try:
                    await asyncio.wait_for(rolling, 10)
                except TimeoutError:
                    logger.error("the usage roll-up process did not stop within 10 s; killed")
                    if (process := self._workers.get("usage roll-up")) is not None:
                        with contextlib.suppress(ProcessLookupError):
                            process.kill()
        finally:
            await runtime.close()
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)
            if usage is not None:
                usage.close()
            try:
                await rollup.run()  # what was recorded, in the database before z0 stops
            except Exception:
                logger.exception("the last usage roll-up failed; the next start picks the log up")
            registry.close()

    async def _run_worker(self, index: int, sock: socket.socket, executors: int, tail: TailReceiver) -> None:
        """Runs gateway worker `index` until z0 stops, replacing it if it dies. Its tail events come
        over a socket pair of its own."""
        name = f"gateway worker {index}"
        ready = self._workers_ready.setdefault(index, asyncio.Event())
        while not self._stopping:
            ours, theirs = tail.pair()
            ready_read, ready_write = os.pipe()
            try:
                process = await self._start_child(
                    name,
                    "z0.gateway.worker", "--fd", str(sock.fileno()), "--executors", str(executors),
                    "--tail-fd", str(theirs.fileno()), "--ready-fd", str(ready_write),
                    pass_fds=(sock.fileno(), theirs.fileno(), ready_write),
                )  # fmt: skip
            finally:
                theirs.close()  # the worker holds it now: its exit ends our end's stream
                os.close(ready_write)
            receiving = asyncio.create_task(tail.receive(ours))
            waiting = asyncio.create_task(self._note_ready(ready_read, ready))
            code = await process.wait()
            await waiting
            with contextlib.suppress(Exception):
                await asyncio.wait_for(receiving, 5)
            if self._stopping:
                return
            logger.error("%s exited (code %s); starting another", name, code)
            await asyncio.sleep(1)

    @staticmethod
    async def _note_ready(fd: int, ready: asyncio.Event) -> None:
        """A worker writes one byte on its ready pipe once it accepts requests; closed unwritten, it
        died first."""
        try:
            if await asyncio.to_thread(os.read, fd, 1):
                ready.set()
        finally:
            os.close(fd)

    async def _keep_running(self, name: str, module: str, *args: str) -> None:
        """Runs `python -m module` until z0 stops, replacing it if it dies."""
        while not self._stopping:
            process = await self._start_child(name, module, *args)
            code = await process.wait()
            if self._stopping:
                return
            logger.error("%s exited (code %s); starting another", name, code)
            await asyncio.sleep(1)

    async def _start_child(
        self, name: str, module: str, *args: str, pass_fds: tuple[int, ...] = ()
    ) -> asyncio.subprocess.Process:
        """`python -m module` with this process's settings, stopping when this process dies."""
        environment = {
            **os.environ,
            SETTINGS_VARIABLE: self.settings.model_dump_json(exclude={"api_token"}),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, *args, "--parent", str(os.getpid()),
            pass_fds=pass_fds,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self._workers[name] = process
        return process

    async def _wait_started(self, tasks: list[asyncio.Task[None]], workers: int) -> None:
        """Until this process's servers and every gateway worker accept requests (so that the banner
        means what it says)."""
        expected = workers if workers > 1 else 0
        while not (
            all(server.started for server in self._servers)
            and sum(ready.is_set() for ready in self._workers_ready.values()) >= expected
        ):
            done = [task for task in tasks if task.done()]
            if done:
                self.stop()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise ServeError("z0 could not start its servers: see the error above.")
            await asyncio.sleep(0.01)

    def _print_banner(self, boot: Bootstrap, api_port: int, gateway_port: int, workers: int) -> None:
        settings = self.settings
        api_url = f"http://{_url_host(settings.host)}:{api_port}{API_PREFIX}"
        gateway_url = f"http://{_url_host(settings.host)}:{gateway_port}"
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
        lines += [
            f"gateway: {gateway_url} (namespace {settings.namespace}, {_plural(workers, 'worker')})",
            f"control API: {api_url}",
            f"API docs: {api_url}/docs",
        ]
        endpoint = otlp_endpoint()
        if endpoint is not None:
            lines.append(f"traces: OTLP/HTTP to {endpoint}")
        lines += [
            "Press Ctrl-C to stop.",
        ]
        print("\n".join(lines), file=self._out, flush=True)


def configure_logging(level: int = logging.INFO) -> None:
    """z0's logs to stderr, one line each; the control API's access log to stdout (as uvicorn's is)."""
    z0_logger = logging.getLogger("z0")
    if any(getattr(handler, "z0", False) for handler in z0_logger.handlers):
        return
    errors = logging.StreamHandler(sys.stderr)
    errors.setFormatter(logging.Formatter("%(levelname)s:     [%(name)s] %(message)s"))
    errors.z0 = True  # type: ignore[attr-defined]
    z0_logger.addHandler(errors)
    z0_logger.setLevel(level)
    access = logging.getLogger("z0.control.access")
    output = logging.StreamHandler(sys.stdout)
    output.setFormatter(logging.Formatter("INFO:     %(message)s"))
    access.addHandler(output)
    access.propagate = False


def master_key(settings: Settings) -> str | None:
    return settings.master_key.get_secret_value() if settings.master_key else None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _cpu_count() -> int:
    return max(1, os.cpu_count() or 1)


def runtime_config(settings: Settings, *, executors: int | None = None) -> RuntimeConfig:
    return RuntimeConfig(
        executors=executors or settings.executors or _cpu_count(),
        max_isolates=settings.max_isolates,
        max_memory_mb=settings.executor_memory_mb,
        isolates_per_script=settings.isolates_per_script,
        startup_cpu_ms=settings.startup_cpu_ms,
    )


def default_limits(settings: Settings) -> Limits:
    return Limits(
        cpu_ms=settings.default_cpu_ms,
        memory_mb=settings.default_memory_mb,
        subrequests=settings.default_subrequests,
    )


def serving_gateway(
    settings: Settings,
    registry: Registry,
    runtime: Runtime,
    box: SecretBox,
    usage: UsageLog | None,
    metrics: Metrics,
    metrics_files: MetricsFiles,
    tail: TailSink | None,
    tracing: Tracing | None,
) -> Gateway:
    """The gateway as `z0 serve` runs it, in its own process (`--workers 1`) or in a gateway worker."""
    return build_gateway(
        gateway_config(settings),
        registry,
        runtime,
        box,
        usage,
        metrics=metrics,
        tail=tail if settings.tail else None,
        tracing=tracing,
        metrics_page=(lambda: render(metrics_files, metrics)) if settings.gateway_metrics else None,
    )


def gateway_config(settings: Settings) -> GatewayConfig:
    return GatewayConfig(
        namespace=settings.namespace,
        namespaces_by_host=settings.namespaces_by_host,
        strategies=settings.strategies,
        base_domain=settings.base_domain,
        dev_namespace=settings.dev_namespace,
        routes=settings.routes,
        max_request_bytes=settings.max_request_bytes,
        default_limits=default_limits(settings),
    )


def make_server(app: Any, settings: Settings, *, usage: UsageLog | None = None) -> _Server:
    """A uvicorn server for one of z0's apps. uvicorn's access log is off (it is one global logger, so
    it would log every gateway request too): the control API logs its own requests. With the gateway's
    usage log, its pending entries are written before any response bytes are sent."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        proxy_headers=False,
        lifespan="off",
        log_level="info",
        access_log=False,
        server_header=False,
        date_header=False,
        http=CoalescingHttpProtocol.sending_after(usage.flush if usage is not None else None),
    )
    return _Server(config)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound here so that a taken port is one clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # Nagle's algorithm holds each response's second write for a delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
