"""Frames between the gateway and its executors, over a local stream socket.

A frame is `<u32 header length><u32 payload length><header JSON><payload bytes>`: the header says
what the frame is (`t`), the payload carries bytes (request and response bodies) without encoding.

gateway → executor                              executor → gateway
  load   {key, code}                              need     {rid, key}   (answer with `load`; the fetch waits)
  fetch  {rid, key, meta, limits} + body          ops      {rid, ops}
  result {rid, results}                           response {rid, status, statusText, headers, logs} + body
  check  {rid, key, code, limits}                 done     {rid, outcome, cpu_ms, error, logs, memory}
  cancel {rid}                                    checked  {rid, ok, handlers, startup_ms, error, memory}
  drop   {key}
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

__all__ = ["EFFECTFUL_OPS", "MAX_FRAME", "encode_frame", "read_frame", "write_frame"]

_PREFIX = struct.Struct("<II")
MAX_FRAME = 256 * 1024 * 1024

# Host ops whose effects reach past the request: a request that made one is never replayed.
EFFECTFUL_OPS = frozenset({"fetch", "kv.put", "kv.delete", "sql.exec", "secret.put", "dispatch"})


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return _PREFIX.pack(len(head), len(payload)) + head + payload


async def write_frame(writer: asyncio.StreamWriter, header: dict[str, Any], payload: bytes = b"") -> None:
    writer.write(encode_frame(header, payload))
    await writer.drain()


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes] | None:
    """The next frame, or None at the end of the stream."""
    try:
        prefix = await reader.readexactly(_PREFIX.size)
    except asyncio.IncompleteReadError:
        return None
    head_length, payload_length = _PREFIX.unpack(prefix)
    if head_length + payload_length > MAX_FRAME:
        raise ValueError(f"frame of {head_length + payload_length} bytes is over the limit")
    try:
        head = await reader.readexactly(head_length)
        payload = await reader.readexactly(payload_length) if payload_length else b""
    except asyncio.IncompleteReadError:
        return None
    return json.loads(head), payload
