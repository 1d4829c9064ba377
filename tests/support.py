"""Running `z0 serve` as a real process for tests, and reading what it prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT = 60.0


@dataclass
class LiveServer:
    process: subprocess.Popen[str]
    data_dir: Path
    api_url: str = ""
    gateway_url: str = ""
    account_id: str = ""
    token: str = ""
    lines: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    @property
    def api_base(self) -> str:
        """The base URL a Cloudflare client is given: http://127.0.0.1:PORT/client/v4."""
        return self.api_url

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("z0 serve did not stop within its timeout") from None
        self.close_pipes()
        return self.process.returncode

    def close_pipes(self) -> None:
        for reader in self.readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start_server(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, expect_failure: bool = False
) -> LiveServer:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("Z0_")}
    environment.update(env or {})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "z0",
            "serve",
            "--data-dir",
            str(data_dir),
            "--api-port",
            "0",
            "--gateway-port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    server = LiveServer(process, data_dir)
    ready = threading.Event()

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                ready.set()
        ready.set()

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.stderr_lines.append(line.rstrip("\n"))

    server.readers = [
        threading.Thread(target=read_stdout, daemon=True),
        threading.Thread(target=read_stderr, daemon=True),
    ]
    for reader in server.readers:
        reader.start()
    if not ready.wait(STARTUP_TIMEOUT):
        process.kill()
        process.wait()
        server.close_pipes()
        raise AssertionError("z0 serve did not start:\n" + "\n".join(server.stderr_lines))
    if expect_failure:
        process.wait(STARTUP_TIMEOUT)
        server.close_pipes()
        return server
    if process.poll() is not None:
        raise AssertionError("z0 serve exited:\n" + "\n".join(server.lines + server.stderr_lines))
    for line in server.lines:
        if match := re.match(r"account id: (\w+)", line):
            server.account_id = match[1]
        elif match := re.match(r"operator API token: (\S+)", line):
            server.token = match[1]
        elif match := re.match(r"control API: (\S+)", line):
            server.api_url = match[1]
        elif match := re.match(r"gateway: (\S+)", line):
            server.gateway_url = match[1]
    if "Z0_API_TOKEN" in (env or {}):
        server.token = (env or {})["Z0_API_TOKEN"]
    return server
