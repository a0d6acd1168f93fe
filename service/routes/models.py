"""``/v1/models``: names, versions, aliases and stored metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from models.evaluation import error_table, skill_summary
from models.registry import Registry, check_name
from service.deps import RegistryDep
from service.etag import NOT_MODIFIED, json_with_etag
from service.schemas import (
    ModelList,
    ModelSummary,
    VersionDetail,
    VersionSummary,
    check_version_path,
)

router = APIRouter(tags=["models"])

NOT_FOUND = {404: {"description": "Unknown model or version"}}


@router.get(
    "/models", response_model=ModelList, responses=NOT_MODIFIED, summary="List models"
)
def list_models(request: Request, registry: RegistryDep) -> Response:
    listing = ModelList(models=[summarize(registry, name) for name in registry.names()])
    return json_with_etag(request, listing.model_dump(mode="json"))


@router.get(
    "/models/{name}/versions/{version}",
    response_model=VersionDetail,
    responses={**NOT_FOUND, **NOT_MODIFIED},
    summary="One version's metadata; version is a number or an alias",
)
def get_version(
    name: str, version: str, request: Request, registry: RegistryDep
) -> Response:
    check_name(name)
    check_version_path(version)
    number = registry.resolve(name, version)
    meta = registry.metadata(name, number)
    aliases = registry.aliases(name)
    meta["aliases"] = sorted(a for a, v in aliases.items() if v == number)
    detail = VersionDetail.model_validate(meta)
    return json_with_etag(request, detail.model_dump(mode="json"))


def summarize(registry: Registry, name: str) -> ModelSummary:
    """Build one listing entry: versions, aliases and the latest version's scores."""
    versions = registry.versions(name)
    meta = registry.metadata(name, versions[-1])
    return ModelSummary(
        name=name,
        versions=versions,
        aliases=registry.aliases(name),
        latest=VersionSummary(
            version=versions[-1],
            created_at=meta.get("created_at"),
            cell=meta.get("spec", {}).get("cell"),
            metrics=meta.get("metrics"),
            **headline_scores(meta),
        ),
    )


def headline_scores(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``skill`` and ``baselines`` fields of a version summary, or none
    when the version stored no test metrics."""
    test = (meta.get("metrics") or {}).get("test")
    if not test:
        return {}
    return {"skill": skill_summary(test), "baselines": error_table(test)}
