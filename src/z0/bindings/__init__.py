"""Host ops for bindings and platform APIs: what a worker reaches outside its isolate, each checked
against the calling script's own bindings."""

from z0.bindings._router import Handler, HostOpRouter, OpContext

__all__ = ["Handler", "HostOpRouter", "OpContext"]
