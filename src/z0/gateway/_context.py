"""Request and trace ids, and the W3C trace context, behind a small interface.

The gateway continues an incoming `traceparent` when it is valid, else starts a trace; the dispatch
span gets a new id, which the worker sees as `x-z0-span-id` and as the parent in `traceparent`. These
ids are made whether or not spans are exported (observe/tracing.py records them with these ids).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Protocol

from z0.observe.tracing import SpanRef

__all__ = ["RequestContext", "TraceIds", "W3CTraceIds"]

_TRACEPARENT = re.compile(rb"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    trace_id: str
    span_id: str  # the dispatch span
    parent_span_id: str | None
    sampled: bool

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    @property
    def span(self) -> SpanRef:
        """The dispatch span."""
        return SpanRef(self.trace_id, self.span_id, self.sampled)


class TraceIds(Protocol):
    def begin(self, traceparent: bytes | None) -> RequestContext: ...


class W3CTraceIds:
    """`sample_ratio`: the share of new traces that are sampled (as OpenTelemetry's TraceIdRatioBased,
    by the trace id's low 64 bits); a continued trace keeps the sampled flag it came with."""

    def __init__(self, sample_ratio: float = 1.0) -> None:
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError(f"the trace sample ratio must be between 0 and 1, not {sample_ratio}")
        self._bound = round(sample_ratio * (1 << 64))

    def begin(self, traceparent: bytes | None) -> RequestContext:
        trace_id, parent, sampled = None, None, True
        if traceparent:
            match = _TRACEPARENT.match(traceparent.strip().lower())
            if match and match[1] != b"0" * 32 and match[2] != b"0" * 16:
                trace_id, parent = match[1].decode(), match[2].decode()
                sampled = int(match[3], 16) & 1 == 1
        random = bytearray(os.urandom(40))
        random[6] = random[6] & 0x0F | 0x40  # a version 4 UUID: its version and variant bits
        random[8] = random[8] & 0x3F | 0x80
        hexed = random.hex()
        if trace_id is None:
            trace_id = hexed[32:64]
            sampled = self._bound > 0xFFFF_FFFF_FFFF_FFFF or int(hexed[48:64], 16) < self._bound
        return RequestContext(
            request_id=f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:32]}",
            trace_id=trace_id,
            span_id=hexed[64:80],
            parent_span_id=parent,
            sampled=sampled,
        )
