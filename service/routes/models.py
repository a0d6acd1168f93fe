"""``/v1/models``: names, versions, aliases and stored metadata."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from models.errors import CheckpointError
from models.evaluation import error_table, skill_summary
from models.registry import LATEST, Registry, check_name, dangling
from service.deps import RegistryDep
from service.etag import NOT_MODIFIED, json_with_etag
from service.links import public_data, root_path_of
from service.path_params import ModelNameParam, VersionParam
from service.schemas import (
    ModelList,
    ModelSummary,
    VersionDetail,
    VersionSummary,
    check_version_path,
)

logger = logging.getLogger(__name__)

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
    name: ModelNameParam,
    version: VersionParam,
    request: Request,
    registry: RegistryDep,
) -> Response:
    check_name(name)
    check_version_path(version)
    number = registry.resolve(name, version)
    meta = registry.metadata(name, number)
    if "data" in meta:
        meta["data"] = public_data(meta["data"], root_path_of(request))
    aliases, _ = readable_aliases(registry, name)
    meta["aliases"] = sorted(a for a, v in aliases.items() if v == number)
    try:
        detail = VersionDetail.model_validate(meta)
    except ValidationError as exc:
        raise invalid_metadata(name, number, exc) from exc
    return json_with_etag(request, detail.model_dump(mode="json"))


def summarize(registry: Registry, name: str) -> ModelSummary:
    """Build one listing entry: versions, aliases and the latest version's
    scores. ``error`` is what ``Registry.unreadable`` reports, the reason
    that health gives for the model too."""
    versions = registry.versions(name)
    aliases, _ = readable_aliases(registry, name)
    error = registry.unreadable(name)
    try:
        latest: VersionSummary | None = version_summary(
            name, versions[-1], registry.metadata(name, versions[-1])
        )
    except CheckpointError as exc:
        latest = None
        # metadata that passed the schema in unreadable fails here only when
        # the file changed between the two reads
        error = error or exc.message
    if error:
        logger.warning("model %s listed with errors: %s", name, error)
    return ModelSummary(
        name=name,
        versions=versions,
        aliases=aliases,
        dangling_aliases=dangling(aliases, versions),
        latest=latest,
        error=error,
    )


def readable_aliases(
    registry: Registry, name: str
) -> tuple[dict[str, int], str | None]:
    """Return the aliases of ``name`` and None, or only ``latest`` and the
    reason when the alias file cannot be read."""
    try:
        return registry.aliases(name), None
    except CheckpointError as exc:
        return {LATEST: registry.resolve(name, LATEST)}, exc.message


def version_summary(name: str, version: int, meta: dict[str, Any]) -> VersionSummary:
    """Build the summary of one version from its metadata; raise
    ``CheckpointError`` when a field has the wrong type."""
    spec = meta.get("spec")
    try:
        return VersionSummary(
            version=version,
            created_at=meta.get("created_at"),
            cell=spec.get("cell") if isinstance(spec, dict) else None,
            metrics=meta.get("metrics"),
            **headline_scores(meta),
        )
    except (AttributeError, TypeError, ValidationError) as exc:
        raise invalid_metadata(name, version, exc) from exc


def invalid_metadata(name: str, version: int, exc: Exception) -> CheckpointError:
    """Build the error for metadata that parses as a JSON object but does not
    have the fields and types that the registry writes."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        reason = f"{where}: {first['msg']}"
    else:
        reason = str(exc)
    return CheckpointError(
        f"metadata of {name}:{version} is invalid ({reason}); delete the "
        "version folder or retrain"
    )


def headline_scores(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``skill`` and ``baselines`` fields of a version summary, or none
    when the version stored no test metrics."""
    test = (meta.get("metrics") or {}).get("test")
    if not test:
        return {}
    return {"skill": skill_summary(test), "baselines": error_table(test)}
