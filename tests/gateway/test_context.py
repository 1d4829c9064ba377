"""Request and trace ids: W3C trace context continued or started, and new traces sampled by ratio."""

from __future__ import annotations

import pytest

from z0.gateway import W3CTraceIds

TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def test_an_incoming_trace_keeps_its_sampled_flag_whatever_the_ratio() -> None:
    for ratio in (0.0, 0.5, 1.0):
        ids = W3CTraceIds(ratio)
        for flags, sampled in (("01", True), ("00", False), ("03", True)):
            context = ids.begin(f"00-{TRACE}-{PARENT}-{flags}".encode())
            assert (context.trace_id, context.parent_span_id, context.sampled) == (TRACE, PARENT, sampled)
            assert context.span != context.span.child()
            assert context.span.traceparent == f"00-{TRACE}-{context.span_id}-{'01' if sampled else '00'}"


def test_new_traces_are_sampled_by_ratio_from_their_trace_id() -> None:
    assert all(W3CTraceIds().begin(None).sampled for _ in range(200))
    assert not any(W3CTraceIds(0.0).begin(b"junk").sampled for _ in range(200))
    tenth = [W3CTraceIds(0.1).begin(None) for _ in range(4000)]
    assert 250 < sum(context.sampled for context in tenth) < 550
    for context in tenth:  # decided by the trace id alone, as OpenTelemetry's TraceIdRatioBased
        assert context.sampled == (int(context.trace_id[16:], 16) < 0.1 * 2**64)
    with pytest.raises(ValueError, match="between 0 and 1"):
        W3CTraceIds(1.5)
