"""``GET /v1/health``; ``HEAD`` is served by ``HeadAsGetMiddleware``."""

from __future__ import annotations

from fastapi import APIRouter

from models import __version__
from service.deps import RegistryDep
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness and registry state")
def health(registry: RegistryDep) -> Health:
    return Health(
        status="ok",
        version=__version__,
        registry=str(registry.root),
        models=len(registry.names()),
    )
