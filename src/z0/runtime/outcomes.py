"""The one closed list of how a request to a user worker ends.

Used for the error body's `error`, the usage record's `outcome` and the metric label `error_type`.
"""

from __future__ import annotations

import enum
import json

__all__ = ["Outcome", "error_body", "error_status"]


class Outcome(enum.StrEnum):
    OK = "ok"
    EXCEPTION = "exception"  # the worker threw (or returned no Response)
    EXCEEDED_CPU = "exceeded_cpu"  # over the CPU budget (engine limit or watchdog)
    EXCEEDED_MEMORY = "exceeded_memory"  # the isolate hit its memory limit
    EXCEEDED_SUBREQUESTS = "exceeded_subrequests"  # more host ops with effects than allowed
    EXECUTOR_RESTARTED = "executor_restarted"  # the process running it died, and it could not be replayed
    CANCELED = "canceled"  # the client went away or the host gave up (wall-clock limit)


_STATUS = {
    Outcome.EXCEPTION: 500,
    Outcome.EXCEEDED_CPU: 503,
    Outcome.EXCEEDED_MEMORY: 503,
    Outcome.EXCEEDED_SUBREQUESTS: 500,
    Outcome.EXECUTOR_RESTARTED: 503,
    Outcome.CANCELED: 503,
}


def error_status(outcome: Outcome) -> int:
    return _STATUS.get(outcome, 500)


def error_body(
    outcome: Outcome, request_id: str, *, message: str | None = None, stack: str | None = None
) -> bytes:
    """The JSON body of a failed request: `{"error", "request_id"}`, plus details where allowed."""
    body: dict[str, str] = {"error": outcome.value, "request_id": request_id}
    if message:
        body["message"] = message
    if stack:
        body["stack"] = stack
    return json.dumps(body).encode()
