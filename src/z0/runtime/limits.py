"""Per-request limits: the platform's defaults, overridden per tenant (and per dispatch)."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_ms: int = 50
    memory_mb: int = 128
    subrequests: int = 1000

    def override(
        self, cpu_ms: int | None = None, memory_mb: int | None = None, subrequests: int | None = None
    ) -> Limits:
        """These limits with the given values (None keeps the current one)."""
        given = {"cpu_ms": cpu_ms, "memory_mb": memory_mb, "subrequests": subrequests}
        return replace(self, **{key: value for key, value in given.items() if value is not None})

    def as_dict(self) -> dict[str, int]:
        return {"cpu_ms": self.cpu_ms, "memory_mb": self.memory_mb, "subrequests": self.subrequests}


DEFAULT_LIMITS = Limits()
