"""``GET /v1/health``, and ``HEAD`` for probes that send no GET."""

from __future__ import annotations

from fastapi import APIRouter, Response

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


@router.head("/health", include_in_schema=False)
def health_head() -> Response:
    """Return 200 with no body while the server runs."""
    return Response(status_code=200)
