"""A bare ASGI hello world on z0's own HTTP server, for bench/peers_bench.py: the Python limit.

    .venv/bin/python bench/bare_server.py PORT PROCESSES [--uvloop]

The server is `z0.server.make_server` (uvicorn with z0's options: httptools, no access log, no lifespan,
no server or date header) on a socket made by z0's own `_listen`, run the way `z0 serve` runs it: under
`asyncio.run` (so asyncio's own event loop: z0 does not install uvloop), in this process for one
process, else in that many forked processes sharing the socket (as z0's gateway workers share theirs).
`--uvloop` runs the same on uvloop instead, to show what the event loop is worth.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from z0.server import _listen, make_server
from z0.settings import Settings

HEADERS = [(b"content-type", b"text/plain")]


async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"hello"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("processes", type=int)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    settings = Settings.model_validate({"host": "127.0.0.1"})
    sock = _listen(settings.host, args.port)

    def serve() -> None:
        server = make_server(app, settings)
        if args.uvloop:
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(server.serve(sockets=[sock]))
        else:
            asyncio.run(server.serve(sockets=[sock]))

    if args.processes == 1:
        serve()
        return
    children = []
    for _ in range(args.processes):
        pid = os.fork()
        if pid == 0:
            try:
                serve()
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:  # the bench stops the whole process group
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
