"""``GET /v1/health``; ``HEAD`` is served by ``HeadAsGetMiddleware``.

The runner's state comes from its last check (the Celery runner connects to
the broker every 10 seconds on a thread of its own), so this endpoint never
waits for the broker. The registry check reads the latest version's
metadata, the alias file and the ``highest_version`` file of every model on
each request, through ``Registry.unreadable`` as the model listing does, and
lists the aliases whose version was deleted. A dangling alias leaves
``status`` as it is: it breaks only the requests by that alias, and the
operator fixes it with a PUT or DELETE of the alias. A Celery worker whose
broker visibility timeout differs from the API's or is unknown leaves
``status`` as it is too, because jobs still run. The response leaves out
the registry's path, because it would show the server's file layout to
every client.
"""

from __future__ import annotations

from fastapi import APIRouter

from models import __version__
from service.deps import RegistryDep
from service.jobs.runner_state import UNAVAILABLE
from service.jobs.views import ManagerDep, iso
from service.schemas import Health, RunnerHealth

router = APIRouter(tags=["health"])


@router.get(
    "/health", response_model=Health, summary="Liveness, registry and job runner state"
)
def health(registry: RegistryDep, manager: ManagerDep) -> Health:
    runner = manager.runner_state()
    names = registry.names()
    unreadable = {}
    dangling = {}
    for name in names:
        reason = registry.unreadable(name)
        if reason is not None:
            unreadable[name] = reason
        aliases = registry.dangling_aliases(name)
        if aliases:
            dangling[name] = aliases
    degraded = runner.status == UNAVAILABLE or bool(unreadable)
    return Health(
        status="degraded" if degraded else "ok",
        version=__version__,
        models=len(names),
        unreadable=unreadable,
        dangling_aliases=dangling,
        runner=RunnerHealth(
            name=runner.name,
            status=runner.status,
            detail=runner.detail,
            checked_at=iso(runner.checked_at),
            mismatched_visibility_timeouts=runner.mismatched_visibility_timeouts,
            unknown_visibility_timeouts=runner.unknown_visibility_timeouts,
            worker_replied_at={
                worker: iso(replied)
                for worker, replied in runner.worker_replied_at.items()
            },
        ),
    )
