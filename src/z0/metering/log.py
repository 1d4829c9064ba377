"""The usage log: each gateway process appends its usage entries, one JSON line per write, to its own
segment files under `{data_dir}/usage/`.

Entries are written with `write(2)` on a file opened with O_APPEND before the response is sent: once
the call returns, the record is in the kernel's page cache and survives the process being killed
(`kill -9`); only losing the machine itself could lose it. The gateway `add`s its entries and the
server's transport calls `flush` before it sends any response bytes (and the event loop's next step
flushes at the latest), so the entries of one loop step go out in one write: py-spy had put the
per-request write at 7% of the gateway process. The writer holds an exclusive `flock` on its
current segment, so the roll-up knows a segment is complete when it can lock it (the writer rotated
past it, stopped or died).

Segment names sort by creation time: `usage-{unix ms:013d}-{pid}-{random}.log`. Consumed segments are
renamed `….log.done` and kept for `retention` (the per-invocation records, for audits), then deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import time
from pathlib import Path

import orjson

from z0.metering.records import Entry, encode_entry

__all__ = ["SEGMENT_GLOB", "UsageLog", "is_complete", "usage_directory"]

logger = logging.getLogger("z0.metering")

SEGMENT_GLOB = "usage-*.log"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


def usage_directory(data_dir: Path) -> Path:
    return data_dir / "usage"


class UsageLog:
    """Appends usage entries for one process. Not thread-safe: the gateway's event loop owns it."""

    def __init__(self, directory: Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._fd = -1
        self._pending: list[bytes] = []
        self._size = 0
        self.path: Path | None = None
        self._failing = False
        directory.mkdir(parents=True, exist_ok=True, mode=0o750)

    def append(self, entry: Entry) -> None:
        """Writes the entry now (with any added before it)."""
        self.add(entry)
        self.flush()

    def add(self, entry: Entry) -> None:
        """Keeps the entry for the next `flush`, which the running event loop makes at its next step at
        the latest; whoever sends the response must flush before it does."""
        if not self._pending:
            with contextlib.suppress(RuntimeError):  # no running loop: the caller flushes
                asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(orjson.dumps(encode_entry(entry)) + b"\n")

    def flush(self) -> None:
        if not self._pending:
            return
        line = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        try:
            if self._fd < 0 or self._size >= self.segment_bytes:
                self._rotate()
            written = os.write(self._fd, line)
            if written != len(line):  # a full disk part-way: the roll-up skips the torn line
                raise OSError(f"short write ({written} of {len(line)} bytes)")
            self._size += written
            self._failing = False
        except OSError as exc:
            # Serving goes on without the record; say so once per failure spell, not per request.
            if not self._failing:
                logger.error("cannot write the usage log in %s: %s", self.directory, exc)
            self._failing = True
            self._close()

    def close(self) -> None:
        self.flush()
        self._close()

    def _rotate(self) -> None:
        self._close()
        name = f"usage-{time.time_ns() // 1_000_000:013d}-{os.getpid()}-{secrets.token_hex(4)}.log"
        path = self.directory / name
        # Locked before it appears under its name, so the roll-up never takes a new one as complete.
        hidden = path.with_suffix(".new")
        fd = os.open(hidden, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(hidden, path)
        self._fd, self._size, self.path = fd, 0, path

    def _close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # releases the lock: the segment is complete
        self._fd = -1


def is_complete(path: Path) -> bool:
    """No writer holds the segment: it will not grow any more."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
