"""The gateway: the dispatcher every tenant request passes through (DESIGN.md, "request path")."""

from __future__ import annotations

from collections.abc import Callable

from z0.gateway._app import Gateway, GatewayConfig
from z0.gateway._context import RequestContext, TraceIds, W3CTraceIds
from z0.gateway._scripts import ScriptCache, script_key
from z0.gateway._view import RegistryView, ViewData
from z0.metering import UsageLog
from z0.observe.health import Health
from z0.observe.metrics import Metrics
from z0.observe.tail import TailSink
from z0.observe.tracing import Tracing
from z0.registry import Registry
from z0.runtime.supervisor import Runtime
from z0.secrets import SecretBox

__all__ = [
    "Gateway",
    "GatewayConfig",
    "RegistryView",
    "RequestContext",
    "ScriptCache",
    "TraceIds",
    "ViewData",
    "W3CTraceIds",
    "build_gateway",
]


def build_gateway(
    config: GatewayConfig,
    registry: Registry,
    runtime: Runtime,
    box: SecretBox,
    usage: UsageLog | None = None,
    *,
    metrics: Metrics | None = None,
    tail: TailSink | None = None,
    health: Health | None = None,
    metrics_page: Callable[[], bytes] | None = None,
    tracing: Tracing | None = None,
) -> Gateway:
    """The gateway app over a view of the registry; start `gateway.view` before serving. With a usage
    log, every invocation is recorded there; with a tail sink, published for `z0 tail`; with tracing,
    its spans are exported. `/_z0/readyz` asks `health`; `/_z0/metrics` serves `metrics_page`."""
    view = RegistryView(registry)
    scripts = ScriptCache(registry, box)

    def forget_superseded(old: ViewData, new: ViewData) -> None:
        for place, head in old.heads.items():
            current = new.heads.get(place)
            if current is None or current.version_id != head.version_id:
                scripts.forget(head.version_id)
                runtime.drop(script_key(head))

    view.on_change(forget_superseded)
    trace_ids = W3CTraceIds(tracing.sample_ratio) if tracing is not None else None
    return Gateway(
        config,
        view,
        scripts,
        runtime,
        trace_ids=trace_ids,
        usage=usage,
        metrics=metrics,
        tail=tail,
        health=health or Health(registry, runtime),
        metrics_page=metrics_page,
        tracing=tracing,
    )
