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

import struct
from typing import Any

import orjson

__all__ = ["EFFECTFUL_OPS", "MAX_FRAME", "encode_frame", "split_frames"]

_PREFIX = struct.Struct("<II")
MAX_FRAME = 256 * 1024 * 1024

# Host ops whose effects reach past the request: a request that made one is never replayed.
EFFECTFUL_OPS = frozenset({"fetch", "kv.put", "kv.delete", "d1.query", "d1.batch", "d1.exec", "dispatch"})


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = orjson.dumps(header)
    return _PREFIX.pack(len(head), len(payload)) + head + payload


def split_frames(buffer: bytearray) -> list[tuple[dict[str, Any], bytes]]:
    """Takes every complete frame off the front of `buffer` (a partial one stays for the next read)."""
    frames = []
    offset = 0
    size = len(buffer)
    prefix = _PREFIX.size
    while size - offset >= prefix:
        head_length, payload_length = _PREFIX.unpack_from(buffer, offset)
        if head_length + payload_length > MAX_FRAME:
            raise ValueError(f"frame of {head_length + payload_length} bytes is over the limit")
        start = offset + prefix
        end = start + head_length + payload_length
        if end > size:
            break
        frames.append(
            (orjson.loads(buffer[start : start + head_length]), bytes(buffer[start + head_length : end]))
        )
        offset = end
    if offset:
        del buffer[:offset]
    return frames
