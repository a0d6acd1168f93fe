"""The state of a job runner, as ``GET /v1/health`` reports it."""

from __future__ import annotations

from dataclasses import dataclass, field

OK = "ok"
UNAVAILABLE = "unavailable"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class RunnerState:
    """Whether a runner can take jobs, as of its last check.

    ``status`` is ``ok``, ``unavailable`` or ``unknown`` (not checked yet).
    ``checked_at`` is the ``time.time()`` of the check, or None for a state
    that the runner reads when asked. ``mismatched_visibility_timeouts``
    contains the Celery workers whose broker visibility timeout differs from the
    API's, with each worker's timeout in seconds, and
    ``unknown_visibility_timeouts`` those whose reply has no valid timeout,
    with the reason. ``worker_replied_at`` contains the ``time.time()`` of
    the last reply of each worker in either map.
    """

    name: str
    status: str
    detail: str | None = None
    checked_at: float | None = None
    mismatched_visibility_timeouts: dict[str, float] = field(default_factory=dict)
    unknown_visibility_timeouts: dict[str, str] = field(default_factory=dict)
    worker_replied_at: dict[str, float] = field(default_factory=dict)
